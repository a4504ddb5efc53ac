"""An agent loop: the official openai client, a model asking for four tools at once in a
stream, skillstream running each tool the moment its arguments are complete.

The model is local: ``examples/servers/scripted_model.py`` serves the Chat Completions API on
127.0.0.1 and plays a script (its first answer streams four tool calls over 0.6 s, then
0.3 s more of stream; its second reads the tool messages and answers). Nothing leaves the
machine and no key is needed. Latencies scale with ``SKILLSTREAM_LATENCY_SCALE``.

    pip install -e '.[examples]' && python examples/08_agent_loop.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import openai

from pipeline import Results, Toolset, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.scripted_model import ScriptedCall, ScriptedModel, Turn  # noqa: E402

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))


async def work(seconds: float) -> None:
    await asyncio.sleep(seconds * SCALE)


@skill(timeout=5)
async def get_quote(symbol: str) -> dict[str, Any]:
    """The last trade of a stock.

    Args:
        symbol: the ticker, e.g. AAPL.
    """
    await work(0.30)
    return {"symbol": symbol, "price": 189.84, "change_pct": 1.2}


@skill(timeout=5)
async def get_news(query: str, limit: int = 3) -> list[str]:
    """Recent headlines about a subject.

    Args:
        query: what the news is about.
        limit: at most this many headlines.
    """
    await work(0.45)
    return [f"{query}: headline {i}" for i in range(1, limit + 1)]


@skill(timeout=5)
async def get_financials(symbol: str, year: int = 2023) -> dict[str, Any]:
    """A company's yearly figures.

    Args:
        symbol: the ticker.
        year: the fiscal year.
    """
    await work(0.35)
    return {"symbol": symbol, "year": year, "revenue_bn": 383.3, "net_income_bn": 97.0}


@skill(timeout=5)
async def get_fx_rate(base: str, quote: str = "EUR") -> float:
    """The exchange rate between two currencies.

    Args:
        base: the currency converted from.
        quote: the currency converted to.
    """
    await work(0.20)
    return 0.92


TOOLS = Toolset([get_quote, get_news, get_financials, get_fx_rate])


def script() -> list[Any]:
    # 1st answer: four calls, their arguments complete at 0.15, 0.3, 0.45 and 0.6 s.
    calls = [
        ScriptedCall("call_quote", "get_quote", {"symbol": "AAPL"}, done_at=0.15 * SCALE),
        ScriptedCall("call_news", "get_news", {"query": "Apple", "limit": 2}, done_at=0.30 * SCALE),
        ScriptedCall("call_fin", "get_financials", {"symbol": "AAPL"}, done_at=0.45 * SCALE),
        ScriptedCall("call_fx", "get_fx_rate", {"base": "USD"}, done_at=0.60 * SCALE),
    ]
    first = Turn(text="Let me gather the figures.", calls=calls, tail=0.3 * SCALE)

    def answer(path: str, body: dict[str, Any]) -> Turn:
        # 2nd answer: made from the tool messages the agent sent back.
        got = {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
        quote = json.loads(got["call_quote"])
        fin = json.loads(got["call_fin"])
        rate = float(got["call_fx"])
        news = json.loads(got["call_news"])
        return Turn(text=(
            f"AAPL trades at {quote['price']} USD ({quote['price'] * rate:.2f} EUR), "
            f"{quote['change_pct']:+}% today; FY{fin['year']} revenue {fin['revenue_bn']}bn. "
            f"Top story: {news[0]}."
        ))

    return [first, answer]


async def main() -> None:
    model = ScriptedModel(script())
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        messages: list[Any] = [{"role": "user", "content": "How is Apple doing, in euros?"}]
        turn = 0
        while True:  # the agent loop: ask, run the tools, answer back, until no tool is asked
            turn += 1
            print(f"turn {turn}: ", end="", flush=True)
            asked = time.perf_counter()
            stream = await client.chat.completions.create(
                model="scripted", messages=messages, tools=TOOLS.schemas("openai"), stream=True,  # type: ignore[arg-type]
            )
            calls = TOOLS.calls_from_stream(stream, on_text=lambda text: print(text, end="", flush=True))
            began = time.perf_counter()
            results = await run(calls, max_concurrency=None).collect()
            print()
            if not calls.calls:
                break
            report(results, model, asked, began)
            messages += calls.messages() + TOOLS.replies(results, "openai")


def report(results: Results, model: ScriptedModel, asked: float, began: float) -> None:
    """Each tool's start and end against the stream's, and the time saved."""
    times = model.streams[-1]
    assert times.ended is not None
    stream_end = times.ended - asked
    print(f"  stream: request at 0.000s, ended at {stream_end:.3f}s")
    ends = []
    for r in results:
        assert r.started_at is not None and r.finished_at is not None
        start, end = began - asked + r.started_at, began - asked + r.finished_at
        ends.append(end)
        complete = times.call_done[r.key] - asked
        print(f"  {r.name:<15} arguments complete {complete:.3f}s  ran {start:.3f}s -> {end:.3f}s  "
              f"{r.status}  {r.value}")
    durations = [r.duration or 0.0 for r in results]
    streaming = max(ends)
    sequential = stream_end + sum(durations)
    after_message = stream_end + max(durations)
    print(f"  last tool result at {streaming:.3f}s; {sum(e < stream_end for e in ends)} of "
          f"{len(ends)} tools finished before the stream ended")
    print(f"  saved {sequential - streaming:.3f}s against sequential calls after the message ({sequential:.3f}s)")
    print(f"  saved {after_message - streaming:.3f}s against parallel calls after the whole message "
          f"({after_message:.3f}s)")


if __name__ == "__main__":
    asyncio.run(main())
