"""Soak: many runs in one process leave nothing behind; one run carries 100,000 calls.

Real loop and real (short) time, marked slow. Growth is measured after a warm-up, so
one-off costs (thread pool threads, imports, caches) are not counted as leaks.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline import Retry, SkillCall, Status, run, skill
from pipeline._engine import _cleanup

pytestmark = pytest.mark.slow


@skill
async def instant(i: int) -> int:
    return i


@skill
async def nap(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i


@skill
async def fails(i: int) -> int:
    raise ValueError(f"bad {i}")


@skill(timeout=0.002)
async def hangs(i: int) -> int:
    await asyncio.sleep(3600)
    return i


@skill(retry=Retry(attempts=2, backoff=0), fallback=-1)
async def always_fails(i: int) -> int:
    raise ConnectionError("down")


@skill
def in_thread(i: int) -> int:
    return i * 2


@skill
async def combine(*parts: int) -> int:
    return sum(parts)


async def one_run(k: int) -> None:
    """A varied run: successes, errors, timeouts, retries with fallback, threads, a small
    DAG, and every third run a deadline or an early exit."""
    calls: list[SkillCall[Any]] = [
        instant(k),
        nap(k, 0.001),
        fails(k),
        hangs(k),
        always_fails(k),
        in_thread(k),
    ]
    calls.append(combine(instant(k), nap(k, 0.001), in_thread(k)))
    mode = k % 3
    if mode == 0:
        results = await run(calls, max_concurrency=4).collect()
        assert [r.status for r in results][:7] == [
            Status.SUCCESS,
            Status.SUCCESS,
            Status.ERROR,
            Status.TIMEOUT,
            Status.ERROR,
            Status.SUCCESS,
            Status.SUCCESS,  # the DAG's first input
        ]
        assert results[-1].value == k + k + 2 * k
    elif mode == 1:
        results = await run(calls + [nap(k, 3600)], timeout=0.005).collect()
        assert results[-1].status is Status.TIMEOUT
    else:
        async with run(calls + [nap(k, 3600)]) as stream:
            async for _ in stream:
                break


def measure() -> tuple[int, int, int]:
    gc.collect()
    current = asyncio.current_task()
    tasks = sum(1 for t in asyncio.all_tasks() if t is not current)
    return tasks, threading.active_count(), tracemalloc.get_traced_memory()[0]


async def test_a_thousand_runs_leave_no_tasks_threads_or_memory_behind(loop_errors: list[Any]) -> None:
    for k in range(100):  # warm-up: thread pool threads, caches, interned strings
        await one_run(k)
    tracemalloc.start()
    try:
        await asyncio.sleep(0.01)
        tasks0, threads0, memory0 = measure()
        start = time.monotonic()
        for k in range(1000):
            await one_run(k)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.01)
        tasks1, threads1, memory1 = measure()
    finally:
        tracemalloc.stop()
    print(
        f"\n1000 runs in {elapsed:.1f} s: tasks {tasks0} -> {tasks1}, threads {threads0} -> {threads1}, "
        f"traced memory {memory0 / 1024:.0f} KiB -> {memory1 / 1024:.0f} KiB ({(memory1 - memory0) / 1000:+.0f} B/run)"
    )
    assert tasks1 == tasks0 == 0  # not a single task of any run is left
    # Threads are reused, never added per run: two thread calls overlap per run, so a
    # pool that grew per run would have 1000s. The pool does grow (once) when a run's
    # thread work overlaps the next's on a loaded machine: a few threads, never more
    # than the calls that can be in flight at once across two runs (2 x 2 thread calls,
    # plus the abandoned ones of an early exit).
    assert threads1 <= threads0 + 8
    assert _cleanup.alive() == 0  # every cancelled task ended and was let go
    # A leak of one small object per call (8 calls a run) would be >= 8 * 1000 * 56 B
    # = 448 KB; allow 256 KB for allocator and cache noise.
    assert memory1 - memory0 < 256 * 1024


async def test_a_hundred_thousand_calls_through_one_run(loop_errors: list[Any]) -> None:
    taken = 0

    def calls() -> Iterator[SkillCall[Any]]:
        nonlocal taken
        for i in range(100_000):
            taken += 1
            yield instant(i)

    seen = bytearray(100_000)  # one flag per call: every result exactly once
    tracemalloc.start()
    try:
        start = time.monotonic()
        count = 0
        async for r in run(calls(), max_concurrency=100):
            assert r.status is Status.SUCCESS and seen[r.value] == 0
            seen[r.value] = 1
            count += 1
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n100,000 calls in one run: {elapsed:.1f} s (tracemalloc on), peak {peak / 2**20:.1f} MiB")
    assert count == taken == 100_000 and all(seen)
    # A lazy source at cap 100 holds ~100 calls at a time; materialising 100,000 calls
    # and results would take well over 100 MB. 20 MiB covers the 100 KB flag array,
    # the engine and tracemalloc's own bookkeeping.
    assert peak < 20 * 2**20
    assert elapsed < 30
