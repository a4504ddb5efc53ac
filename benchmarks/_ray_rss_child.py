"""Peak driver RSS of one Ray run: ``python -m benchmarks._ray_rss_child N CAP``.

Joins the Ray instance at ``RAY_ADDRESS`` (the benchmark passes its own), runs N no-op Ray
skill calls from a generator at the given cap, reading each result and dropping it, and
prints one JSON line: ``{"ok", "seconds", "maxrss_kb", "baseline_kb"}``. ``maxrss_kb`` is
``VmHWM`` of this fresh process (see ``benchmarks/_rss_child.py`` for why not
``ru_maxrss``); ``baseline_kb`` the same after joining Ray and a warm-up run of 100 calls.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator

import ray

from benchmarks._rss_child import peak_rss_kb
from pipeline import SkillCall, run, skill


def noop(i: int) -> int:
    return i


noop_skill = skill(noop, name="noop", executor="ray")


def calls(n: int) -> Iterator[SkillCall[int]]:
    # Lazy: a call exists only once the run takes it, when a slot frees.
    return (noop_skill(i) for i in range(n))


async def consume(n: int, cap: int) -> int:
    ok = total = 0
    async for result in run(calls(n), max_concurrency=cap):
        if result.ok:
            ok += 1
            total += result.value
    assert total == n * (n - 1) // 2 or ok != n  # every value came back, once
    return ok


def main() -> int:
    n, cap = int(sys.argv[1]), int(sys.argv[2])
    ray.init(log_to_driver=False)  # RAY_ADDRESS: the benchmark's instance
    asyncio.run(consume(100, cap))  # imports, workers, the function exported
    baseline = peak_rss_kb()
    started = time.perf_counter()
    ok = asyncio.run(consume(n, cap))
    seconds = time.perf_counter() - started
    if ok != n:
        print(f"{ok} of {n} calls succeeded", file=sys.stderr)
        return 1
    print(json.dumps({"ok": ok, "seconds": round(seconds, 3), "maxrss_kb": peak_rss_kb(),
                      "baseline_kb": baseline}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
