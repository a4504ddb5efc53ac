"""Policies: what a skill does when its API is slow, flaky, strict or down. No server needed.

Each is an option of ``@skill`` (or of one call, with ``.with_options(...)``):

1. ``timeout``: an attempt that takes too long is cancelled (status ``timeout``);
2. ``retry=Retry(...)``: a failed attempt is tried again, with a backoff;
3. ``fallback``: a value that stands in when the call ends without one;
4. ``rate_limit=RateLimit(...)``: at most so many attempts per second, across runs;
5. ``hedge=Hedge(...)``: a slow attempt races a second copy of itself;
6. ``circuit_breaker=CircuitBreaker(...)``: after repeated failures, fail fast for a while;
7. ``run(..., timeout=...)``: a deadline for the whole run that keeps what finished.

    python examples/04_policies.py
"""

from __future__ import annotations

import asyncio
import itertools
import time

from pipeline import CircuitBreaker, Hedge, RateLimit, Retry, SkillResult, run, skill

tries = itertools.count(1)
copies = itertools.count(1)


@skill(timeout=0.2)
async def slow_report(symbol: str) -> str:
    await asyncio.sleep(5)  # far past its timeout
    return "never"


@skill(timeout=1, retry=Retry(attempts=3, backoff=0.05, jitter=0))
async def flaky_quote(symbol: str) -> float:
    await asyncio.sleep(0.02)
    if next(tries) < 3:  # fails twice, then succeeds
        raise ConnectionError("quote service busy")
    return 187.5


@skill(timeout=1, rate_limit=RateLimit(rate=20, key="strict-api"))  # 20 a second, evenly
async def lookup(n: int) -> int:
    return n


@skill(timeout=2, hedge=Hedge(after=0.1), idempotent=True)
async def search(query: str) -> str:
    copy = next(copies)
    await asyncio.sleep(1.0 if copy == 1 else 0.05)  # the first copy hit a slow server
    return f"hits for {query!r} (copy {copy})"


@skill(timeout=1, circuit_breaker=CircuitBreaker(failures=3, reset_after=10), fallback="no rating")
async def rating(symbol: str) -> str:
    await asyncio.sleep(0.02)
    raise ConnectionError("ratings API down")


def line(r: SkillResult) -> str:
    why = f"  ({r.error.type}: {r.error.message})" if r.error else ""
    value = f" value={r.value!r}" if r.ok or r.fallback_used else ""
    return f"{r.key:<12} {r.status.value:<8} {r.duration or 0.0:.2f}s attempts={r.attempts}{value}{why}"


async def main() -> None:
    print("1. timeout:  " + line((await run([slow_report("AAPL")]).collect())[0]))
    print("2. retry:    " + line((await run([flaky_quote("AAPL")]).collect())[0]))
    call = slow_report("AAPL").with_options(fallback="report unavailable")
    print("3. fallback: " + line((await run([call]).collect())[0]))

    # 4. Ten calls at once, two runs together: the shared limit spaces their starts 50 ms apart.
    started = time.perf_counter()
    await asyncio.gather(
        run([lookup(i) for i in range(5)], max_concurrency=None).collect(),
        run([lookup(i) for i in range(5, 10)], max_concurrency=None).collect(),
    )
    print(f"4. rate limit: 10 calls in {time.perf_counter() - started:.2f}s (20/s allows 0.45s at best)")

    # 5. The first copy is slow; after 0.1 s a second starts and wins: ~0.15 s, not 1 s.
    print("5. hedge:    " + line((await run([search("agents")]).collect())[0]))

    # 6. Three failures open the circuit: the next calls fail at once, without trying.
    print("6. circuit breaker:")
    for r in await run([rating("AAPL").named(f"rating{i}") for i in range(5)], max_concurrency=1).collect():
        print("   " + line(r))

    # 7. The run's deadline: what ended in time is kept, the rest ends as timeout.
    results = await run([flaky_quote("MSFT"), slow_report("MSFT").with_options(timeout=None)], timeout=0.3).collect()
    print("7. run deadline 0.3 s:")
    for r in results:
        print("   " + line(r))


if __name__ == "__main__":
    asyncio.run(main())
