"""A research fan-out, on Ray: for each company, the stock price, the news and the
financials fetched at once, then a briefing made from all three, every step a Ray task.

A research agent fans out three independent lookups and fans them in to a summary.
Here the plan runs for four companies as one DAG on Ray: each briefing starts
the moment its own three lookups end (not when all twelve have), the lookups' values reach
it as ObjectRefs without passing through the driver, and results stream as they finish.
The news API hangs for one company: its 2 s timeout cancels the Ray task (a sleeping one:
its worker is killed) and the fallback stands in, so that briefing still comes out.

The lookups stand in for HTTP calls (they sleep their latency: ``SKILLSTREAM_LATENCY_SCALE``
scales it), so they ask Ray for half a CPU each: four run at once on two cores.

With no cluster given (``RAY_ADDRESS`` unset), the first Ray skill starts a local Ray
instance (one log line says so). Needs ``pip install 'skillstream[ray]'``.
Run: ``python examples/ray_fanout.py``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pipeline import SkillCall, run, shutdown, skill

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))
COMPANIES = {"AAPL": "Apple", "MSFT": "Microsoft", "NVDA": "NVIDIA", "GOOG": "Alphabet"}
HANGING_NEWS = "NVDA"  # the news API never answers for this one
# Seconds each lookup takes, as three real APIs might (before scaling).
LATENCY = {"stock": 0.3, "news": 0.6, "financials": 0.9}
QUOTES = {"AAPL": (189.84, 1.2), "MSFT": (415.10, -0.4), "NVDA": (875.28, 3.1), "GOOG": (151.77, 0.6)}
FINANCIALS = {"AAPL": (383.3, 28.2), "MSFT": (211.9, 35.6), "NVDA": (60.9, 71.4), "GOOG": (307.4, 24.9)}
IO_BOUND = {"num_cpus": 0.5}  # waiting, not computing: two per core


@skill(executor="ray", ray_options=IO_BOUND, timeout=2.0)
def fetch_stock_price(symbol: str) -> dict[str, Any]:
    time.sleep(LATENCY["stock"] * SCALE)
    price, change = QUOTES[symbol]
    return {"symbol": symbol, "price": price, "change_pct": change}


@skill(executor="ray", ray_options=IO_BOUND, timeout=2.0, fallback=[])
def fetch_news(symbol: str, company: str) -> list[dict[str, str]]:
    time.sleep(60 if symbol == HANGING_NEWS else LATENCY["news"] * SCALE)
    return [{"title": f"{company}: headline {i}"} for i in range(1, 4)]


@skill(executor="ray", ray_options=IO_BOUND, timeout=2.0)
def fetch_financials(symbol: str) -> dict[str, Any]:
    time.sleep(LATENCY["financials"] * SCALE)
    revenue, pe = FINANCIALS[symbol]
    return {"symbol": symbol, "revenue_bn": revenue, "pe": pe}


@skill(executor="ray", ray_options=IO_BOUND)
def generate_briefing(stock: dict[str, Any], news: list[dict[str, str]], financials: dict[str, Any]) -> str:
    """The fan-in (an LLM summary, here a format string)."""
    story = news[0]["title"] if news else "no news"
    return (
        f"{stock['symbol']} {stock['price']:.2f} USD ({stock['change_pct']:+.1f}%), "
        f"revenue {financials['revenue_bn']}bn, P/E {financials['pe']}; top story: {story}"
    )


@skill(executor="ray", ray_options=IO_BOUND)
def where_am_i() -> int:
    return os.getpid()


def plan() -> list[SkillCall[Any]]:
    calls: list[SkillCall[Any]] = []
    for symbol, company in COMPANIES.items():
        stock = fetch_stock_price(symbol).named(f"stock_{symbol}")
        news = fetch_news(symbol, company).named(f"news_{symbol}")
        financials = fetch_financials(symbol).named(f"financials_{symbol}")
        calls += [stock, news, financials, generate_briefing(stock, news, financials).named(f"briefing_{symbol}")]
    return calls


async def main() -> None:
    # 0. The first Ray skill starts (or joins) Ray; four at once lease the workers the
    #    fan-out will use, so the timings below are the run's, not Ray's start-up.
    started = time.perf_counter()
    pids = (await run([where_am_i() for _ in range(4)]).collect()).values()
    print(f"0. Ray ready in {time.perf_counter() - started:.1f} s, {len(set(pids))} workers")

    print(f"1. research fan-out: {len(COMPANIES)} companies x (stock, news, financials) -> briefing")
    started = time.perf_counter()
    results = []
    async for result in run(plan(), max_concurrency=8):
        results.append(result)
        note = " (fallback used)" if result.fallback_used else ""
        print(f"   {result.finished_at or 0.0:5.2f}s  {result.key:<18} {result.status.value:<8} "
              f"took {result.duration or 0.0:.2f}s{note}")
    wall = time.perf_counter() - started

    print("2. briefings")
    for result in results:
        if result.key.startswith("briefing_"):
            print(f"   {result.unwrap()}")
    sequential = sum(r.duration or 0.0 for r in results)
    print(f"wall time {wall:.2f}s vs {sequential:.2f}s sequential sum: {sequential / wall:.1f}x faster")
    shutdown()  # stops the local Ray instance skillstream started


if __name__ == "__main__":
    asyncio.run(main())
