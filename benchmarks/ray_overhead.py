"""Per-call overhead of a Ray skill against raw Ray, side by side in one process.

    python -m benchmarks.ray_overhead                       # 1,000 no-op calls, cap 100, medians of 3
    python -m benchmarks.ray_overhead --calls 200 --repeats 1

Every variant runs the same no-op function on the same Ray instance (``RAY_ADDRESS`` if set,
else a local one with a CPU per core), repetition by repetition with the order reversed on
every other one, after a warm-up; figures are medians of wall time / calls:

- ``raw_ray``: ``await f.remote(i)`` under an ``asyncio.Semaphore(cap)`` (the value is in
  the driver at the end);
- ``skillstream``: ``run([...], max_concurrency=cap).collect()`` and every ``value`` read
  (the same work: each value reaches the driver);
- ``raw_ray_two_returns``: ``raw_ray`` with ``num_returns=2``, awaiting the first, as a
  Ray skill's task does (its value stays in Ray): how much of the overhead is Ray's own;
- ``ray_get_batch``: ``ray.get([f.remote(i) for i in ...])``, no cap, for context.

The ratio is ``skillstream / raw_ray`` (target <= 1.2). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline import run, skill

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "ray_overhead.json"


def noop(i: int) -> int:
    return i


noop_skill = skill(noop, name="noop", executor="ray")


async def _raw(f: Any, calls: int, cap: int) -> None:
    sem = asyncio.Semaphore(cap)

    async def one(i: int) -> Any:
        async with sem:
            return await f.remote(i)

    values = await asyncio.gather(*(one(i) for i in range(calls)))
    assert values[-1] == calls - 1


def noop_two(i: int) -> tuple[tuple[int], None]:
    return (i,), None


async def _raw_two(f: Any, calls: int, cap: int) -> None:
    sem = asyncio.Semaphore(cap)

    async def one(i: int) -> Any:
        async with sem:
            done, _ = f.remote(i)
            return (await done)[0]

    values = await asyncio.gather(*(one(i) for i in range(calls)))
    assert values[-1] == calls - 1


async def _skillstream(calls: int, cap: int) -> None:
    results = await run([noop_skill(i) for i in range(calls)], max_concurrency=cap).collect()
    values = [r.value for r in results]
    assert values[-1] == calls - 1


async def _batch(ray: Any, f: Any, calls: int) -> None:
    values = ray.get([f.remote(i) for i in range(calls)])
    assert values[-1] == calls - 1


def _timed(make: Callable[[], Awaitable[None]]) -> float:
    async def once() -> float:
        started = time.perf_counter()
        await make()
        return time.perf_counter() - started

    return asyncio.run(once())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--cap", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)

    import ray  # type: ignore[import-not-found, unused-ignore]

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        f = ray.remote(max_retries=0)(noop)
        f2 = ray.remote(max_retries=0, num_returns=2)(noop_two)
        calls, cap = args.calls, args.cap
        variants: dict[str, Callable[[], Awaitable[None]]] = {
            "raw_ray": lambda: _raw(f, calls, cap),
            "skillstream": lambda: _skillstream(calls, cap),
            "raw_ray_two_returns": lambda: _raw_two(f2, calls, cap),
            "ray_get_batch": lambda: _batch(ray, f, calls),
        }
        for make in variants.values():  # warm-up: workers leased, functions exported
            _timed(make)
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
            for name in order:
                seconds[name].append(_timed(variants[name]))
        us = {name: statistics.median(s) / calls * 1e6 for name, s in seconds.items()}
    finally:
        if started_here:
            ray.shutdown()

    figures = {
        "calls": calls,
        "cap": cap,
        "repeats": args.repeats,
        **{f"{name}_us_per_call": round(v, 2) for name, v in us.items()},
        "ratio": 0.0,
        "target_ratio": 1.2,
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    # The per-call figures are rounded for reading; the ratio is of the rounded ones.
    figures["ratio"] = figures["skillstream_us_per_call"] / figures["raw_ray_us_per_call"]

    print(f"Ray {ray.__version__}, {calls} no-op calls, cap {cap}, median of {args.repeats}")
    print("| variant | µs per call |")
    print("|---|---|")
    for name in variants:
        print(f"| {name} | {figures[f'{name}_us_per_call']:.1f} |")
    print(f"ratio skillstream / raw Ray: {figures['ratio']:.2f}x (target <= 1.2x)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
