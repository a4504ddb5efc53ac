"""Scale: 10^5 lazy calls (10^6 too at ``--size full``) that suspend once, at caps 100 and
1,000, skillstream against Semaphore + TaskGroup and a bounded worker pool.

    python -m benchmarks.scale                          # asyncio loop, 10^5 and 10^6 calls
    python -m benchmarks.scale --size small             # a smoke run: 10^4 calls
    python -m benchmarks.scale --loop uvloop            # on uvloop (--loop both: each)
    python -m benchmarks.scale --heap                   # also with 3e6 small objects alive

Each measurement runs in a fresh process (``python -m benchmarks._scale_child``): the calls
come from a generator (pulled lazily), each ``await asyncio.sleep(0)`` once, at most ``cap``
in flight; the figure is calls per second over the whole run (the source, the calls, every
result handed to the consumer). Repetitions are interleaved (every implementation once,
then again, order reversed every other time) and figures are medians.

skillstream runs twice: declared without timeout or retry (``@skill``) and with a per-call
timeout (``@skill(timeout=60)``), each against the peers doing the same work:

* no timeout: ``asyncio_taskgroup`` (Semaphore + TaskGroup, no timeout) and
  ``asyncio_workers_notimeout`` (bounded worker pool, no timeout);
* with a timeout: ``asyncio_taskgroup_timeout`` and ``asyncio_workers`` (each call under
  ``asyncio.timeout``), and ``asyncio_features`` (retry loop, fallback, timeout, results kept).

Targets (shown, never asserted): skillstream without timeout ≥ 0.8× Semaphore + TaskGroup
without timeout; with a timeout ≥ 1.2× Semaphore + TaskGroup with ``asyncio.timeout`` and
≥ 0.8× the bounded pool with ``asyncio.timeout``; cap 1,000 within 5% of cap 100 (≥ 0.95×);
the same under uvloop; a live heap of 3e6 small objects (``--heap``) costs at most 8% of
throughput (≥ 0.92× the figure without it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/scale.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._figures import Figures, size_option  # noqa: E402
from benchmarks.workloads import CALL_TIMEOUT  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: implementation -> (peer key, per-call timeout it is given)
IMPLS: dict[str, tuple[str, float | None]] = {
    "skillstream": ("skillstream", None),
    "skillstream_timeout": ("skillstream", CALL_TIMEOUT),
    "asyncio_taskgroup": ("asyncio_taskgroup", None),
    "asyncio_workers_notimeout": ("asyncio_workers_notimeout", None),
    "asyncio_taskgroup_timeout": ("asyncio_taskgroup_timeout", CALL_TIMEOUT),
    "asyncio_workers": ("asyncio_workers", CALL_TIMEOUT),
    "asyncio_features": ("asyncio_features", CALL_TIMEOUT),
}
LABELS = {
    "skillstream": "**skillstream**, no timeout",
    "skillstream_timeout": "**skillstream**, timeout per call",
    "asyncio_taskgroup": "Semaphore + TaskGroup, no timeout",
    "asyncio_workers_notimeout": "bounded worker pool, no timeout",
    "asyncio_taskgroup_timeout": "Semaphore + TaskGroup, asyncio.timeout",
    "asyncio_workers": "bounded worker pool, asyncio.timeout",
    "asyncio_features": "asyncio (same features), lazy and bounded",
}
#: (name, skillstream variant, peer, least ratio skillstream / peer)
TARGETS = (
    ("no timeout vs TaskGroup", "skillstream", "asyncio_taskgroup", 0.8),
    ("timeout vs TaskGroup + asyncio.timeout", "skillstream_timeout", "asyncio_taskgroup_timeout", 1.2),
    ("timeout vs pool + asyncio.timeout", "skillstream_timeout", "asyncio_workers", 0.8),
)
CAP_TARGET = 0.95
HEAP_TARGET = 0.92

SIZES = {
    "small": {"calls": "10000", "caps": "100,1000", "reps": 1, "heap_objects": 300_000,
              "big_reps": 1},
    "full": {"calls": "100000,1000000", "caps": "100,1000", "reps": 5, "heap_objects": 3_000_000,
             "big_reps": 3},
}
CHILD_TIMEOUT = 900


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def _pow(n: int) -> str:
    s = str(n)
    return f"10^{len(s) - 1}" if s.strip("0") == "1" else f"{n:,}"


def child(impl: str, n: int, cap: int, loop: str, heap: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks._scale_child", impl, str(n), str(cap), loop, str(heap)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{impl} n={n} cap={cap} {loop}: did not finish in {CHILD_TIMEOUT} s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"{impl} n={n} cap={cap} {loop}: exit {proc.returncode}: {tail}")
    return json.loads(lines[-1])


def configs(loops: list[str], heap: bool, heap_objects: int) -> list[tuple[str, int]]:
    """(loop, live heap objects) pairs: each loop bare, then each with the heap."""
    out = [(loop, 0) for loop in loops]
    if heap:
        out += [(loop, heap_objects) for loop in loops]
    return out


def cfg_name(loop: str, heap: int) -> str:
    return loop + (f" + {heap / 1e6:g}e6-object heap" if heap else "")


def measure(calls: list[int], caps: list[int], loops: list[str], heap: bool, heap_objects: int,
            reps: int, big_reps: int) -> dict[str, Any]:
    """cell (config, n, cap) -> impl -> list of calls/s. The largest call count (when more
    than one) runs on the bare first loop only, ``big_reps`` times."""
    cells: dict[tuple[str, int, int], dict[str, list[float]]] = {}
    impls = list(IMPLS)
    big = max(calls) if len(calls) > 1 else None
    for loop, heap_n in configs(loops, heap, heap_objects):
        for n in calls:
            if n == big and (heap_n or loop != loops[0]):
                continue
            for cap in caps:
                cell = cells.setdefault((cfg_name(loop, heap_n), n, cap), {k: [] for k in impls})
                for rep in range(big_reps if n == big else reps):
                    for impl in impls if rep % 2 == 0 else impls[::-1]:
                        out = child(impl, n, cap, loop, heap_n)
                        cell[impl].append(out["calls_per_s"])
                        log(f"  scale: {cfg_name(loop, heap_n)} n={n:,} cap={cap} {impl:26s} "
                            f"rep {rep + 1}: {out['calls_per_s']:,.0f} calls/s")
    return {"cells": cells}


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def analyse(cells: dict[tuple[str, int, int], dict[str, list[float]]], caps: list[int],
            heap: bool, loops: list[str]) -> tuple[list[tuple[str, float, str, str]], dict[str, float]]:
    """(check, ratio, target, verdict) rows and the ratios by name."""
    checks: list[tuple[str, float, str, str]] = []
    for (cfg, n, cap), by in cells.items():
        for name, ss, peer, least in TARGETS:
            r = _med(by[ss]) / _med(by[peer])
            checks.append((f"{cfg}, {_pow(n)}, cap {cap}: {name}", r, f"≥ {least}×",
                           "PASS" if r >= least else "MISS"))
    lo, hi = min(caps), max(caps)
    for (cfg, n, cap), by in cells.items():
        if cap != hi or lo == hi:
            continue
        base = cells[(cfg, n, lo)]
        for ss in ("skillstream", "skillstream_timeout"):
            r = _med(by[ss]) / _med(base[ss])
            checks.append((f"{cfg}, {_pow(n)}: {ss} cap {hi:,} / cap {lo}", r,
                           f"≥ {CAP_TARGET}×", "PASS" if r >= CAP_TARGET else "MISS"))
    if heap:
        for (cfg, n, cap), by in cells.items():
            if "heap" not in cfg:
                continue
            bare = cells[(cfg.split(" + ")[0], n, cap)]
            for ss in ("skillstream", "skillstream_timeout"):
                r = _med(by[ss]) / _med(bare[ss])
                checks.append((f"{cfg}, {_pow(n)}, cap {cap}: {ss} with heap / without", r,
                               f"≥ {HEAP_TARGET}×", "PASS" if r >= HEAP_TARGET else "MISS"))
    return checks, {c[0]: c[1] for c in checks}


def render(cells: dict[tuple[str, int, int], dict[str, list[float]]],
           checks: list[tuple[str, float, str, str]], reps_note: str) -> str:
    keys = sorted({(cfg, n) for cfg, n, _ in cells}, key=lambda k: (k[1], k[0]))
    caps = sorted({cap for _, _, cap in cells})
    lines = ["| Run | Implementation | " + " | ".join(f"cap {c:,} (calls/s)" for c in caps) + " |",
             "|---|---|" + "---|" * len(caps)]
    for cfg, n in keys:
        first = True
        for impl in IMPLS:
            vals = []
            for cap in caps:
                by = cells.get((cfg, n, cap))
                vals.append(f"{_med(by[impl]):,.0f}" if by and by[impl] else "—")
            title = f"{_pow(n)} calls, {cfg}" if first else ""
            first = False
            lines.append(f"| {title} | {LABELS[impl]} | " + " | ".join(vals) + " |")
    lines += ["", f"Medians of {reps_note}, each in a fresh process.", "",
              "| Check (skillstream / peer) | Ratio | Target | Verdict |", "|---|---|---|---|"]
    lines += [f"| {name} | {r:.2f}× | {t} | {v} |" for name, r, t, v in checks]
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", help="comma-separated call counts (the largest of several runs "
                    "on the bare first loop only)")
    ap.add_argument("--caps", help="comma-separated caps")
    ap.add_argument("--reps", type=int, help="repetitions per figure")
    ap.add_argument("--big-reps", type=int, help="repetitions at the largest call count")
    ap.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="asyncio",
                    help="event loop (both: each, asyncio first)")
    ap.add_argument("--heap", action="store_true",
                    help="also run with a live heap of --heap-objects small objects")
    ap.add_argument("--heap-objects", type=int)
    ap.add_argument("--output", type=Path, default=None, help="JSON of every repetition")
    return size_option(ap, SIZES, argv)


def run_all(a: argparse.Namespace) -> Figures:
    calls = [int(x) for x in str(a.calls).split(",")]
    caps = [int(x) for x in str(a.caps).split(",")]
    loops = ["asyncio", "uvloop"] if a.loop == "both" else [a.loop]
    if "uvloop" in loops and not has_uvloop():
        log("scale: uvloop is not installed (pip install uvloop): asyncio's loop only")
        loops = [lp for lp in loops if lp != "uvloop"] or ["asyncio"]
    data = measure(calls, caps, loops, a.heap, a.heap_objects, a.reps, a.big_reps)
    cells = data["cells"]
    checks, ratios = analyse(cells, caps, a.heap, loops)
    reps_note = f"{a.reps} interleaved repetition(s)" + (
        f" ({a.big_reps} at {_pow(max(calls))})" if len(calls) > 1 else "")
    rows: dict[str, dict[str, float]] = {}
    for (cfg, n, cap), by in cells.items():
        for impl, xs in by.items():
            rows.setdefault(impl, {})[f"{cfg}, {_pow(n)}, cap {cap}: calls/s"] = _med(xs)
    return Figures(
        title=(f"{', '.join(_pow(n) for n in calls)} lazy calls suspending once, caps "
               f"{', '.join(f'{c:,}' for c in caps)}, on {' and '.join(loops)}"
               + (f", with and without a {a.heap_objects / 1e6:g}e6-object heap" if a.heap else "")),
        text=render(cells, checks, reps_note),
        rows=rows,
        derived=ratios,
        params={"calls": calls, "caps": caps, "loops": loops, "heap_objects": a.heap_objects if a.heap else 0,
                "reps": a.reps, "big_reps": a.big_reps,
                "runs": {f"{cfg} | {n} | {cap}": by for (cfg, n, cap), by in cells.items()}},
    )


def bench(size: str) -> Figures:
    """For ``python -m benchmarks``: every loop here (asyncio, and uvloop when installed),
    with and without the heap."""
    return run_all(_args(["--size", size, "--loop", "both", "--heap"]))


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    figures = run_all(a)
    print(f"## scale: {figures.title}\n\n{figures.text}")
    if a.output is not None:
        a.output.write_text(json.dumps(figures.to_json(), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
