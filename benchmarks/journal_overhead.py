"""What a journal costs: the same run with and without ``journal=`` (target: +50 us/call).

    python -m benchmarks.journal_overhead                 # 10,000 calls, cap 100, 3 rounds
    python -m benchmarks.journal_overhead --n 2000 --repeat 2 --no-full

Workloads: no-op skills (the engine's own cost dominates, so every microsecond the journal
adds shows) and skills that sleep 10 ms (an I/O-bound run, where the commit overlaps the
waits). Each journaled round writes a fresh SQLite file in a temporary directory, WAL
mode, ``synchronous=NORMAL`` (survives a killed process) and, unless ``--no-full``,
``synchronous=FULL`` (survives power loss: an fsync per group commit). "resume" is a
rerun of a run whose calls all finished: every result is replayed from the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import Journal, SkillCall, run, skill


@skill
async def noop(i: int) -> int:
    return i


@skill
async def io10ms(i: int) -> int:
    await asyncio.sleep(0.01)
    return i


def _calls(fn: Any, n: int) -> list[SkillCall[int]]:
    return [fn(i).named(f"c{i}") for i in range(n)]


async def _consume(calls: list[SkillCall[int]], cap: int, **journal: Any) -> int:
    count = 0
    async for _ in run(calls, max_concurrency=cap, **journal):
        count += 1
    assert count == len(calls)
    return count


def _time(fn: Any, n: int, cap: int, journal: Journal | None, run_id: str) -> float:
    calls = _calls(fn, n)
    options: dict[str, Any] = {} if journal is None else {"journal": journal, "run_id": run_id}
    gc.collect()
    t0 = time.perf_counter()
    asyncio.run(_consume(calls, cap, **options))
    return time.perf_counter() - t0


def measure(fn: Any, n: int, cap: int, repeat: int, synchronous: str | None) -> float:
    """Median seconds of ``repeat`` runs; ``synchronous`` None means no journal."""
    times = []
    for r in range(repeat):
        if synchronous is None:
            times.append(_time(fn, n, cap, None, ""))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "runs.db", synchronous=synchronous)  # type: ignore[arg-type]
            try:
                times.append(_time(fn, n, cap, journal, f"round-{r}"))
            finally:
                journal.close()
    return statistics.median(times)


def measure_resume(n: int, cap: int, repeat: int) -> tuple[float, float]:
    """(seconds to run ``n`` no-op calls journaled, seconds to resume them all replayed)."""
    firsts, resumes = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "runs.db")
            try:
                firsts.append(_time(noop, n, cap, journal, "resume"))
                resumes.append(_time(noop, n, cap, journal, "resume"))
            finally:
                journal.close()
    return statistics.median(firsts), statistics.median(resumes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-full", action="store_true", help="skip synchronous=FULL")
    a = ap.parse_args()
    _time(noop, 500, a.cap, None, "")  # imports, warm-up
    modes: list[tuple[str, str | None]] = [("no journal", None), ("journal (NORMAL)", "normal")]
    if not a.no_full:
        modes.append(("journal (FULL, fsync)", "full"))
    print(f"{a.n:,} calls, cap {a.cap}, median of {a.repeat}")
    print(f"{'workload':<14} {'variant':<24} {'total s':>8} {'us/call':>9} {'+us/call':>9}")
    for label, fn in (("no-op", noop), ("sleep 10 ms", io10ms)):
        base = None
        for name, synchronous in modes:
            seconds = measure(fn, a.n, a.cap, a.repeat, synchronous)
            per = seconds / a.n * 1e6
            if base is None:
                base = per
            extra = "" if synchronous is None else f"{per - base:+9.1f}"
            print(f"{label:<14} {name:<24} {seconds:8.3f} {per:9.1f} {extra:>9}")
    first, resume = measure_resume(a.n, a.cap, a.repeat)
    print(
        f"resume of {a.n:,} finished calls (all replayed): {resume:.3f} s "
        f"({resume / a.n * 1e6:.1f} us/call; the journaled run took {first:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
