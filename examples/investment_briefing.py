"""An investment briefing: stock price, news and financials fetched in parallel.

A research agent fans out three HTTP lookups (with ``asyncio.gather``, usually) and fans
the answers in for a summary. Here the lookups are skills against a local HTTP API
(``examples/servers/local_api.py``, started by this script on 127.0.0.1), plus two that go
wrong the way real APIs do:

- ``fetch_sentiment`` answers 503 twice before it succeeds: ``Retry(attempts=3)`` gets
  through on the third try;
- ``fetch_analyst_rating`` hangs: its 0.5 s timeout cancels it and its fallback stands in.

Each result is printed the moment it arrives; then the fan-in, the summary, and the wall
time against what the same calls would take one after another. Run it with::

    python examples/investment_briefing.py

``SKILLSTREAM_LATENCY_SCALE=0.2`` makes the API five times faster (the tests use it).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from pipeline import Results, Retry, SkillCall, SkillResult, gather, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.local_api import serve_local_api  # noqa: E402

SYMBOL, COMPANY = "AAPL", "Apple"

# One skill per API. Each takes the shared session: one connection pool for the whole
# briefing, opened and closed once by main(), rather than a ClientSession per request.
# The session's base_url makes every path relative to the local API.


async def _get_json(session: aiohttp.ClientSession, path: str, **params: Any) -> Any:
    async with session.get(path, params=params) as response:
        response.raise_for_status()  # a 503 becomes an exception: retried, or the result
        return await response.json()


@skill(timeout=2.0)
async def fetch_stock_price(session: aiohttp.ClientSession, symbol: str) -> dict[str, Any]:
    quote: dict[str, Any] = await _get_json(session, f"/quote/{symbol}")
    return quote


@skill(timeout=2.0)
async def fetch_news(session: aiohttp.ClientSession, query: str) -> list[dict[str, Any]]:
    articles: list[dict[str, Any]] = await _get_json(session, "/news", q=query, limit=5)
    return articles


@skill(timeout=2.0)
async def fetch_financials(session: aiohttp.ClientSession, symbol: str) -> dict[str, Any]:
    figures: dict[str, Any] = await _get_json(session, f"/financials/{symbol}")
    return figures


# The sentiment API is flaky (503, 503, then 200): retry it, 0.05 s then 0.1 s apart.
@skill(timeout=1.0, retry=Retry(attempts=3, backoff=0.05))
async def fetch_sentiment(session: aiohttp.ClientSession, symbol: str) -> dict[str, Any]:
    sentiment: dict[str, Any] = await _get_json(session, f"/sentiment/{symbol}")
    return sentiment


# The ratings API hangs: give up after 0.5 s and brief without it.
@skill(timeout=0.5, fallback={"rating": "unavailable"})
async def fetch_analyst_rating(session: aiohttp.ClientSession, symbol: str) -> dict[str, Any]:
    rating: dict[str, Any] = await _get_json(session, f"/ratings/{symbol}")
    return rating


def summarize(briefing: dict[str, Any]) -> str:
    """Fan-in: the briefing as text. A plain function — no skill needed for pure code.

    It stands for the LLM call that would write the summary.
    """
    quote, fin = briefing["fetch_stock_price"], briefing["fetch_financials"]
    sentiment, rating = briefing["fetch_sentiment"], briefing["fetch_analyst_rating"]
    headlines = "; ".join(article["title"] for article in briefing["fetch_news"][:3])
    return "\n".join(
        [
            f"{quote['symbol']} {quote['price']:.2f} {quote['currency']} ({quote['change_pct']:+.2f}%)",
            f"FY{fin['fiscal_year']}: revenue {fin['revenue_bn']}bn, net income "
            f"{fin['net_income_bn']}bn, P/E {fin['pe_ratio']}",
            f"sentiment {sentiment['label']} ({sentiment['score']:+.2f}), "
            f"analyst rating {rating['rating']}",
            f"headlines: {headlines}",
        ]
    )


def describe(r: SkillResult) -> str:
    """One line per result: name, status, duration, attempts, and why it has no value."""
    line = (
        f"{r.key:<22} {r.status.value:<8} {r.duration or 0.0:5.2f}s"
        f"  attempts={r.attempts}"
    )
    if r.fallback_used:
        line += "  fallback used"
    if r.error is not None:
        line += f"  ({r.error.type}: {r.error.message})"
    return line


async def main() -> None:
    async with serve_local_api() as base_url, aiohttp.ClientSession(base_url) as session:
        calls: list[SkillCall[Any]] = [
            fetch_stock_price(session, SYMBOL),
            fetch_news(session, COMPANY),
            fetch_financials(session, SYMBOL),
            fetch_sentiment(session, SYMBOL),
            fetch_analyst_rating(session, SYMBOL),
        ]

        # 1. Fan-out, streamed: each result the moment it exists. At scale 1.0:
        #    -> fetch_stock_price     success   0.15s  attempts=1
        #    -> fetch_news            success   0.33s  attempts=1
        #    -> fetch_sentiment       success   0.45s  attempts=3   (503, 503, then 200)
        #    -> fetch_financials      success   0.47s  attempts=1
        #    -> fetch_analyst_rating  timeout   0.50s  attempts=1  fallback used  (SkillTimeout: ...)
        #    (At scale 0.2 sentiment comes fourth: its backoff waits are not scaled.)
        print(f"Briefing on {SYMBOL} from {base_url}, results as they arrive:")
        streamed: list[SkillResult] = []
        start = time.perf_counter()
        async with run(calls, max_concurrency=5, timeout=10) as stream:
            async for result in stream:
                print("  " + describe(result))
                streamed.append(result)
        wall = time.perf_counter() - start

        # 2. Fan-in: the results in submission order; as_dict() has every value, the
        #    fallback included, keyed by skill name.
        #    -> ok=False (the rating timed out); errors: fetch_analyst_rating (timeout)
        results = Results(streamed)
        print(f"\nFan-in: ok={results.ok}, errors: "
              + ", ".join(f"{r.key} ({r.status.value})" for r in results.errors))
        briefing = results.as_dict()
        print(f"as_dict(): {', '.join(briefing)}")

        # 3. The summary, from the values: a plain function call.
        #    -> AAPL 63.38 USD (+2.71%) / FY2023: revenue 155.4bn ... / sentiment ... /
        #       analyst rating unavailable / headlines: ...
        print("\n" + summarize(briefing))

        # 4. Wall time against the sequential sum of the durations.
        #    -> wall time 0.50s (parallel) vs 1.90s (sequential sum): 3.8x faster (scale 1.0)
        sequential = sum(r.duration or 0.0 for r in results)
        print(
            f"\nwall time {wall:.2f}s (parallel) vs {sequential:.2f}s (sequential sum): "
            f"{sequential / wall:.1f}x faster"
        )

        # 5. `stock, news, financials = await asyncio.gather(...)`, skillstream's way: a zip
        #    fan-in: the values in argument order — or, if a call ends without a value,
        #    a SkillError naming it, raised after the others have finished.
        #    -> gather: AAPL 63.38, 5 articles, P/E 28.2
        stock, news, financials = await gather(
            fetch_stock_price(session, SYMBOL),
            fetch_news(session, COMPANY),
            fetch_financials(session, SYMBOL),
        )
        print(
            f"\ngather: {stock['symbol']} {stock['price']}, {len(news)} articles, "
            f"P/E {financials['pe_ratio']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
