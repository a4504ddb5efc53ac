"""Watch a run from inside: an Instrument sees every attempt, retry, item and result.

Runs on its own (no server): a flaky lookup that succeeds on its third try, a streaming
skill that yields pages, a slow one that times out, and one that depends on it.

    python examples/instruments.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pipeline import Instrument, Retry, SkillCall, SkillResult, run, skill

tries = 0


@skill(retry=Retry(attempts=3, backoff=0.05))
async def flaky_quote(symbol: str) -> float:
    global tries
    tries += 1
    await asyncio.sleep(0.02)
    if tries < 3:
        raise ConnectionError(f"quote service busy (try {tries})")
    return 187.5


@skill
async def pages(query: str) -> AsyncIterator[str]:
    for page in range(3):
        await asyncio.sleep(0.03)
        yield f"{query} page {page + 1}"


@skill(timeout=0.1)
async def slow_report(symbol: str) -> str:
    await asyncio.sleep(5)
    return "never"


@skill
async def summary(report: str) -> str:
    return report[:40]


class Log(Instrument):
    """Prints each moment of each call, with its time since the run began."""

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        print(f"{at:6.3f}s  start   {call.key} (attempt {attempt})")

    def call_retrying(
        self, call: SkillCall[Any], index: int, attempt: int, error: BaseException, wait: float, at: float
    ) -> None:
        print(f"{at:6.3f}s  retry   {call.key}: {error} -> next try in {wait:.2f}s")

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        print(f"{at:6.3f}s  item    {call.key}: {item!r}")

    def call_finished(self, result: SkillResult) -> None:
        print(f"{result.finished_at:6.3f}s  {result.status.value:<7} {result.key}")

    def call_skipped(self, result: SkillResult) -> None:
        why = result.error.message if result.error else ""
        print(f"{result.finished_at:6.3f}s  skipped {result.key}: {why}")


async def main() -> None:
    calls: list[SkillCall[Any]] = [flaky_quote("AAPL"), pages("apple"), summary(slow_report("AAPL"))]
    results = await run(calls, instruments=[Log()]).collect()
    quote = results["flaky_quote"]
    print(f"\nflaky_quote: {quote.value} after {quote.attempts} attempts, spans "
          + ", ".join(f"{a:.2f}-{b:.2f}s" for a, b in quote.attempt_spans))


if __name__ == "__main__":
    asyncio.run(main())
