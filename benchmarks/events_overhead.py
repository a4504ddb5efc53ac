"""What seeing a run costs: a plain run against one read through ``events()`` and one with
the live progress view on, side by side (the target is <= 1.3x the plain run).

    python -m benchmarks.events_overhead                 # 20,000 skills, cap 100, 5 rounds
    python -m benchmarks.events_overhead --n 5000 --repeat 3
    python -m benchmarks.events_overhead --size small     # a smoke run: 1,000 skills, once

Two workloads: no-op skills (the engine's own cost dominates: the worst case for any
per-call extra) and skills that suspend once (``await asyncio.sleep(0)``, closer to real
I/O). The progress view draws on a terminal that discards its output (rich, forced to
think it is a terminal), refreshing ten times a second as it would on screen. "nothing
listening" is a plain ``async for``, whose run carries no instrument at all; ``collect()``
is shown beside it because it also keeps the run's dependency edges for ``timeline()``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("events")

from benchmarks._figures import Figures, size_option  # noqa: E402
from pipeline import ProgressView, SkillCall, run, skill  # noqa: E402

SIZES = {"small": {"n": 1_000, "repeat": 1}, "full": {"n": 20_000, "repeat": 5}}


@skill
async def noop(i: int) -> int:
    return i


@skill
async def suspend(i: int) -> int:
    await asyncio.sleep(0)
    return i


def _calls(fn: Any, n: int) -> list[SkillCall[int]]:
    return [fn(i) for i in range(n)]


async def plain(calls: list[SkillCall[int]], cap: int) -> int:
    n = 0
    async for _ in run(calls, max_concurrency=cap):
        n += 1
    return n


async def collected(calls: list[SkillCall[int]], cap: int) -> int:
    return len(await run(calls, max_concurrency=cap).collect())


async def events(calls: list[SkillCall[int]], cap: int) -> int:
    n = 0
    async for e in run(calls, max_concurrency=cap).events():
        n += e.kind == "finished"
    return n


async def progress(calls: list[SkillCall[int]], cap: int) -> int:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    n = 0
    async for _ in run(calls, max_concurrency=cap, progress=ProgressView(console=console)):
        n += 1
    return n


VARIANTS: dict[str, Callable[[list[SkillCall[int]], int], Awaitable[int]]] = {
    "plain async for (nothing listening)": plain,
    "collect()": collected,
    "events()": events,
    "progress view on": progress,
}


def measure(fn: Any, n: int, cap: int, kind: Any) -> float:
    calls = _calls(kind, n)
    gc.collect()
    # CPU time of the process (the progress view's drawing thread included), not wall
    # time: on a shared machine other processes' load would swamp a 1.3x question.
    t0 = time.process_time()
    got = asyncio.run(fn(calls, cap))
    elapsed = time.process_time() - t0
    assert got == n, (fn.__name__, got)
    return elapsed / n * 1e6


BASE = "plain async for (nothing listening)"
WORKLOADS = (("no-op skills", noop), ("skills that suspend once", suspend))


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.events_overhead", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--repeat", type=int)
    return size_option(ap, SIZES, argv)


def measure_all(n: int, cap: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """CPU µs per call of every round: ``{workload: {variant: [µs, ...]}}``."""
    for fn in VARIANTS.values():  # imports and warm-up
        measure(fn, 200, cap, noop)
    out = {}
    for label, kind in WORKLOADS:
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for r in range(repeat):
            order = list(VARIANTS.items())
            if r % 2:
                order.reverse()  # alternate, so neither side always runs on a warmer process
            for name, fn in order:
                times[name].append(measure(fn, n, cap, kind))
        out[label] = times
    return out


def ratio(ts: list[float], base: list[float]) -> float:
    # On a shared machine the load changes between runs: the ratio is taken within each
    # round (same moment, same load) and its median reported.
    return statistics.median(t / b for t, b in zip(ts, base))


def render(data: dict[str, dict[str, list[float]]], n: int, cap: int, repeat: int) -> str:
    lines = [f"{n:,} skills, cap {cap}, {repeat} rounds (CPU µs per call; median ratio to the plain run)"]
    for label, times in data.items():
        lines += ["", label]
        for name, ts in times.items():
            lines.append(f"  {name:<38} best {min(ts):6.1f} µs   median {statistics.median(ts):6.1f} µs   "
                         f"{ratio(ts, times[BASE]):5.2f}x")
    return "\n".join(lines)


def bench(size: str) -> Figures:
    a = _args(["--size", size])
    data = measure_all(a.n, a.cap, a.repeat)
    rows: dict[str, dict[str, float]] = {name: {} for name in VARIANTS}
    for label, times in data.items():
        for name, ts in times.items():
            rows[name][f"{label}: CPU µs/call"] = statistics.median(ts)
            rows[name][f"{label}: x plain"] = ratio(ts, times[BASE])
    return Figures(
        title=f"What seeing a run costs: {a.n:,} skills, cap {a.cap}, {a.repeat} round(s)",
        text=render(data, a.n, a.cap, a.repeat), rows=rows, markdown=False,
        params={"n": a.n, "cap": a.cap, "repeat": a.repeat},
    )


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    print(render(measure_all(a.n, a.cap, a.repeat), a.n, a.cap, a.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
