"""Dependencies: a call that takes calls as arguments starts when their values exist.

Pass a ``SkillCall`` where a skill expects a value and the run gets a dependency graph:
each call starts the moment its own inputs have values, not when a whole "level" is done.
A list (or dict) of calls is a dependency too. If an input fails, its dependents are
skipped (status ``skipped``, ``DependencyFailed``) while unrelated calls carry on.
No server needed.

    python examples/03_dependencies.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline import SkillCall, run, skill


@skill(timeout=5)
async def rewrite_query(question: str) -> str:
    await asyncio.sleep(0.05)  # a small model call
    return question.lower().rstrip("?")


@skill(timeout=5)
async def search(query: str, engine: str) -> list[str]:
    await asyncio.sleep({"web": 0.1, "news": 0.2, "scholar": 0.3}[engine])
    return [f"{engine}: {query} ({i})" for i in (1, 2)]


@skill(timeout=5)
async def fetch_financials(symbol: str) -> dict[str, float]:
    await asyncio.sleep(0.45)  # the slowest lookup
    return {"pe": 28.2}


@skill(timeout=5)
async def fetch_quote(symbol: str) -> float:
    await asyncio.sleep(0.1)
    if symbol == "XYZ":
        raise LookupError(f"unknown symbol {symbol}")
    return 189.5


@skill
def valuation(price: float, financials: dict[str, float]) -> str:  # a sync skill: a thread
    return f"{price} USD at P/E {financials['pe']}"


@skill(timeout=5)
async def write_answer(sources: list[list[str]], valuation: str) -> str:
    await asyncio.sleep(0.1)  # the final model call
    return f"{valuation}; {sum(len(s) for s in sources)} sources"


def plan(symbol: str) -> SkillCall[str]:
    query = rewrite_query("How is Apple doing?")
    # The searches take the rewrite's value: they start when it lands (~0.05 s), while
    # fetch_financials is still running. A list of calls is one argument: their values.
    sources: list[Any] = [search(query, engine).named(engine) for engine in ("web", "news", "scholar")]
    value = valuation(fetch_quote(symbol), fetch_financials(symbol))
    return write_answer(sources, value).named("answer")


async def main() -> None:
    # 1. Run the last call: every call it needs runs too, each once, start-when-ready.
    results = await run(plan("AAPL"), max_concurrency=10).collect()
    print("1. one plan, each call started when its inputs existed")
    for r in sorted(results, key=lambda r: (r.started_at or 0.0, r.index)):
        print(f"   {r.key:<16} {r.started_at or 0.0:.2f}s -> {r.finished_at or 0.0:.2f}s  {r.status}")
    print(f"   answer: {results['answer'].value}")
    # -> about 0.55 s: financials (0.45 s) then the answer (0.1 s), the longest chain.

    # 2. A failed input: its dependents are skipped; the searches still ran.
    results = await run(plan("XYZ"), max_concurrency=10).collect()
    print("\n2. the quote fails")
    for r in results:
        why = f"  ({r.error.type}: {r.error.message})" if r.error else ""
        print(f"   {r.key:<16} {r.status}{why}")


if __name__ == "__main__":
    asyncio.run(main())
