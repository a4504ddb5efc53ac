"""Quickstart: skills, a run, results as they finish, and gather. No server needed."""

from __future__ import annotations

import asyncio

from pipeline import gather, run, skill


@skill(timeout=5)  # an async function becomes a skill; calling it builds a call, runs nothing
async def check_weather(city: str) -> dict[str, str]:
    await asyncio.sleep(0.3)
    return {"city": city, "sky": "sunny"}


@skill(timeout=5)
async def fetch_stock_price(symbol: str) -> float:
    await asyncio.sleep(0.1)
    return 189.5


@skill(timeout=5)
async def check_traffic(route: str) -> str:
    await asyncio.sleep(0.05)
    raise ConnectionError(f"traffic API unreachable for {route!r}")


async def main() -> None:
    # 1. Stream: each result the moment its skill ends; a failure is a result, not a crash.
    stream = run([check_weather("Paris"), fetch_stock_price("AAPL"), check_traffic("A1")], max_concurrency=5)
    async for r in stream:
        outcome = r.value if r.ok else f"{r.error.type}: {r.error.message}" if r.error else ""
        print(f"{r.finished_at:.2f}s  {r.key:<17} {r.status.value:<7} {outcome}")
    # 2. gather: values in argument order, the calls run at once (~0.3 s, not 0.4 s).
    weather, price = await gather(check_weather("Rome"), fetch_stock_price("MSFT"))
    print(f"gather: {weather['city']} is {weather['sky']}, MSFT at {price}")


if __name__ == "__main__":
    asyncio.run(main())
