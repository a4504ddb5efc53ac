"""Quickstart: the seed's ``run_parallel_skills``, on skillstream. No server needed.

The seed's morning briefing — weather, stock prices, sports scores — as four small async
skills, one of which fails. Run it with::

    python examples/quickstart.py

Latencies are multiplied by ``SKILLSTREAM_LATENCY_SCALE`` (default 1.0), as in every example.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pipeline import Results, SkillError, SkillResult, run, skill

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))


# -- the skills: plain async functions, each made a skill by @skill --------------------------


@skill(timeout=5)
async def check_weather(city: str) -> dict[str, Any]:
    await asyncio.sleep(0.3 * SCALE)
    return {"city": city, "sky": "sunny", "high_c": 24}


@skill(timeout=5)
async def fetch_stock_prices(symbols: list[str]) -> dict[str, float]:
    await asyncio.sleep(0.1 * SCALE)
    return {symbol: price for symbol, price in zip(symbols, (189.5, 411.2, 142.8))}


@skill(timeout=5)
async def fetch_sports_scores(league: str) -> list[str]:
    await asyncio.sleep(0.2 * SCALE)
    return [f"{league}: Lions 3 – 1 Tigers", f"{league}: Bears 0 – 0 Wolves"]


@skill(timeout=5)
async def check_traffic(route: str) -> str:
    await asyncio.sleep(0.05 * SCALE)
    raise ConnectionError(f"traffic API unreachable for {route!r}")


@skill
async def fetch_horoscope(sign: str) -> str:
    await asyncio.sleep(3600)  # a tool that hangs: never answers
    return f"{sign}: a good day for concurrency"


def morning_briefing() -> list[Any]:
    """The calls of one briefing. Lazy: building them runs nothing."""
    return [
        check_weather("Paris"),
        fetch_stock_prices(["AAPL", "MSFT", "GOOG"]),
        fetch_sports_scores("Premier League"),
        check_traffic("A1 north"),
    ]


# -- the seed's function, on skillstream ---------------------------------------------------


async def run_parallel_skills(calls: list[Any], timeout: float = 30.0) -> Results:
    """The seed's ``run_parallel_skills``: run independent skills at once.

    The seed needs a wrapper per skill to turn exceptions into dicts, ``asyncio.gather``
    and ``asyncio.wait_for``; here every call already ends as a ``SkillResult``, and the
    timeout is a deadline that keeps what finished in time.
    """
    return await run(calls, max_concurrency=10, timeout=timeout).collect()


async def seed_run_parallel_skills(skills: list[dict[str, Any]], timeout: float = 30.0) -> list[Any]:
    """The seed's own version, verbatim, for the comparison in step 5."""

    async def execute_one(skill: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await skill["fn"](skill["input"])
            return {"name": skill["name"], "status": "success", "result": result}
        except Exception as e:
            return {"name": skill["name"], "status": "error", "error": str(e)}

    tasks = [execute_one(s) for s in skills]
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=False),
        timeout=timeout,
    )
    return results


def describe(r: SkillResult) -> str:
    """One line per result: when it finished, its key, status and value or error."""
    outcome = r.value if r.ok else f"{r.error.type}: {r.error.message}" if r.error else ""
    finished = f"{r.finished_at:5.2f}s" if r.finished_at is not None else "  -   "
    return f"{finished}  {r.key:<20} {r.status.value:<8} {outcome}"


async def main() -> None:
    # 1. One call alone: awaiting a SkillCall runs it and gives its value.
    #    -> check_weather('Paris') = {'city': 'Paris', 'sky': 'sunny', 'high_c': 24}
    print("1. await one call")
    print(f"   check_weather('Paris') = {await check_weather('Paris')}")
    #    A call that fails raises SkillError, naming the call and the cause.
    #    -> SkillError: check_traffic ended error (ConnectionError: traffic API unreachable ...)
    try:
        print(await check_traffic("A1 north"))  # never printed: the call raises
    except SkillError as exc:
        print(f"   SkillError: {exc}")

    # 2. Stream: each result the moment its skill finishes, in completion order —
    #    check_traffic (error, ~0.05 s), fetch_stock_prices (~0.1 s),
    #    fetch_sports_scores (~0.2 s), check_weather (~0.3 s). The failure is a result
    #    like the others: no exception, and the siblings carry on.
    print("\n2. async for: results as they finish")
    start = time.perf_counter()
    async for result in run(morning_briefing(), max_concurrency=5, timeout=30):
        print("   " + describe(result))
    #    -> all four in ~0.3 s, the slowest skill, not 0.65 s, their sum.
    print(f"   wall time {time.perf_counter() - start:.2f}s")

    # 3. Collect: the same run as one Results, in submission order.
    results = await run_parallel_skills(morning_briefing())
    print("\n3. collect(): submission order")
    for result in results:
        print("   " + describe(result))
    #    -> results["check_weather"].value == {'city': 'Paris', 'sky': 'sunny', 'high_c': 24}
    print(f"   results['check_weather'].value = {results['check_weather'].value}")
    #    -> values() has the three successful keys; errors has check_traffic; ok is False.
    print(f"   values() keys = {sorted(results.values())}")
    print(f"   errors = {[(r.key, r.error.type if r.error else None) for r in results.errors]}")
    print(f"   ok = {results.ok}")

    # 4. A fallback turns a failure into a usable value (fallback_used=True).
    #    -> check_traffic  error  fallback_used=True value='no traffic data'
    with_fallback = check_traffic("A1 north").with_options(fallback="no traffic data")
    (traffic,) = await run_parallel_skills([with_fallback])
    print("\n4. with_options(fallback=...)")
    print(f"   {traffic.key} {traffic.status.value} fallback_used={traffic.fallback_used} value={traffic.value!r}")

    # 5. The pitfall: one skill hangs and the overall timeout fires.
    calls = [*morning_briefing(), fetch_horoscope("Leo")]
    print("\n5. one skill hangs, overall timeout 0.5 s")
    #    The seed's version: asyncio.wait_for cancels the whole gather — the three skills
    #    that finished in time are thrown away with it.
    #    -> seed: TimeoutError, 0 results kept
    seed_skills = [{"name": c.key, "fn": c.skill.fn, "input": c.args[0]} for c in calls]
    try:
        await seed_run_parallel_skills(seed_skills, timeout=0.5)
    except TimeoutError:
        print("   seed:        TimeoutError, 0 results kept")
    #    skillstream's: the timeout is a deadline; what finished in time is kept, the hung
    #    call ends as `timeout`.
    #    -> skillstream: 5 results: 3 success, 1 error, 1 timeout (fetch_horoscope)
    partial = await run_parallel_skills(calls, timeout=0.5)
    counts = {s: sum(1 for r in partial if r.status.value == s) for s in ("success", "error", "timeout")}
    print(
        f"   skillstream: {len(partial)} results: {counts['success']} success, "
        f"{counts['error']} error, {counts['timeout']} timeout "
        f"({', '.join(r.key for r in partial if r.status.value == 'timeout')})"
    )


if __name__ == "__main__":
    asyncio.run(main())
