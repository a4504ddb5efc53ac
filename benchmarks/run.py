"""The core benchmark: overhead, latency, first result, DAG, memory and throughput workloads
for skillstream and each peer; print a markdown table, write JSON.

    python -m benchmarks --only core --size full     # 3 repetitions, full sizes (a few minutes)
    python -m benchmarks.run --size small            # alone: tiny sizes, one repetition
    python -m benchmarks.run --size full --write-results-md   # also rewrite its RESULTS.md section

Every workload runs every peer in this one process (the peak-RSS workload in fresh
subprocesses), repetition by repetition with the peers' order reversed on every other
repetition; figures are medians. Each measurement gets a fresh event loop (``asyncio.run``).
Targets are shown against each figure, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._figures import Figures  # noqa: E402
from benchmarks.peers import BENCH_EXTRA_HINT, NotApplicable, Peer, all_peers  # noqa: E402
from benchmarks.workloads import (  # noqa: E402
    CALL_TIMEOUT,
    SIZES,
    Dag,
    Node,
    Sizes,
    first_result_durations,
    greedy_makespan,
    latency_durations,
    make_dag,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_JSON = HERE / "results" / "core.json"
RESULTS_MD = HERE / "RESULTS.md"
BASELINE = "asyncio_features"  # the feature-equivalent asyncio every ratio is against
LEAN = "asyncio_workers"  # the leanest hand-written equivalent: a pool of cap workers
FLOOR = "asyncio_workers_objects"  # that pool paying for skillstream's per-call objects

WORKLOAD_KEYS = ["overhead", "overhead_suspending", "latency", "first_result", "dag", "memory_inflight",
                 "memory_rss", "throughput"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Row:
    runs: list[float] = field(default_factory=list)
    na: str | None = None
    error: str | None = None
    n: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


def repeat(peers: list[Peer], reps: int, name: str,
           one: Callable[[Peer], float], unit: str = "") -> dict[str, Row]:
    """Run ``one(peer)`` ``reps`` times for every peer, order reversed every other repetition."""
    rows = {p.key: Row() for p in peers}
    for p in peers:
        rows[p.key].na = p.missing()
    for rep in range(reps):
        order = peers if rep % 2 == 0 else peers[::-1]
        for p in order:
            row = rows[p.key]
            if row.na or row.error:
                continue
            try:
                v = one(p)
            except NotApplicable as e:
                row.na = str(e) if str(e).startswith("n/a") else f"n/a ({e})"
                continue
            except ImportError as e:
                row.na = BENCH_EXTRA_HINT if p.key == "langgraph" else f"n/a ({e})"
                continue
            except Exception as e:  # noqa: BLE001 - record, keep benchmarking the others
                row.error = f"{type(e).__name__}: {e}"
                log(f"  {name}: {p.key} FAILED: {row.error}")
                continue
            row.runs.append(v)
            log(f"  {name}: {p.key:24s} rep {rep + 1}/{reps}: {v:,.3f} {unit}")
    return rows


def fresh_loop(coro_fn: Callable[[], Any]) -> Any:
    gc.collect()
    return asyncio.run(coro_fn())


def expect(ok: int, n: int, what: str) -> None:
    if ok != n:
        raise RuntimeError(f"{what}: {ok} of {n} calls succeeded")


async def noop(_: Any) -> None:
    return None


async def noop_suspending(_: Any) -> None:
    await asyncio.sleep(0)  # suspends once, as any skill doing I/O does


async def sleeper(d: float) -> float:
    await asyncio.sleep(d)
    return d


async def dag_work(node: Node, *deps: Any) -> int:
    await asyncio.sleep(node.duration)
    return node.id


# --------------------------------------------------------------------------- workloads


def timed_noops(p: Peer, n: int, cap: int, fn: Callable[[Any], Any] = noop) -> float:
    """Seconds ``p`` takes to run ``n`` no-op skills at ``cap``, on a fresh loop."""
    args = list(range(n))

    async def go() -> float:
        t0 = time.perf_counter()
        ok = await p.map(fn, args, cap, CALL_TIMEOUT)
        dt = time.perf_counter() - t0
        expect(ok, n, p.key)
        return dt

    return fresh_loop(go)


def w_overhead(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    cap = sz.overhead_cap

    def one(p: Peer) -> float:
        n = sz.langgraph_n if p.key == "langgraph" else sz.overhead_n
        return timed_noops(p, n, cap) / n * 1e6

    rows = repeat(peers, reps, "overhead", one, "µs/skill")
    for p in peers:
        rows[p.key].n = sz.langgraph_n if p.key == "langgraph" else sz.overhead_n
    return {"title": f"1. Overhead: {sz.overhead_n:,} no-op skills, cap {cap}",
            "metric": "µs per skill", "lower_is_better": True, "rows": rows,
            "params": {"n": sz.overhead_n, "cap": cap, "langgraph_n": sz.langgraph_n}}


def w_overhead_suspending(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    cap = sz.overhead_cap

    def one(p: Peer) -> float:
        n = sz.langgraph_n if p.key == "langgraph" else sz.overhead_n
        return timed_noops(p, n, cap, noop_suspending) / n * 1e6

    rows = repeat(peers, reps, "overhead_suspending", one, "µs/skill")
    for p in peers:
        rows[p.key].n = sz.langgraph_n if p.key == "langgraph" else sz.overhead_n
    return {"title": f"1b. Overhead: {sz.overhead_n:,} skills that suspend once, cap {cap}",
            "metric": "µs per skill", "lower_is_better": True, "rows": rows,
            "params": {"n": sz.overhead_n, "cap": cap, "langgraph_n": sz.langgraph_n}}


def w_latency(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    ds = latency_durations(sz.latency_n, *sz.latency_range)
    cap = sz.latency_cap

    def one(p: Peer) -> float:
        peer_cap = None if p.key == "asyncio_gather" else cap
        ideal = greedy_makespan(ds, peer_cap)

        async def go() -> float:
            t0 = time.perf_counter()
            ok = await p.map(sleeper, list(ds), cap, CALL_TIMEOUT)
            wall = time.perf_counter() - t0
            expect(ok, len(ds), p.key)
            return wall / ideal

        return fresh_loop(go)

    rows = repeat(peers, reps, "latency", one, "× greedy")
    return {"title": (f"2. Latency efficiency: {sz.latency_n} skills sleeping "
                      f"{sz.latency_range[0] * 1e3:.0f}–{sz.latency_range[1] * 1e3:.0f} ms, cap {cap}"),
            "metric": "wall / greedy makespan", "lower_is_better": True, "rows": rows,
            "params": {"n": sz.latency_n, "cap": cap, "durations": ds,
                       "greedy_makespan_s": greedy_makespan(ds, cap),
                       "uncapped_ideal_s": max(ds)}}


def w_first(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    ds = first_result_durations(sz.first_n, *sz.first_range)
    fastest = min(ds)

    def one(p: Peer) -> float:
        async def go() -> float:
            first: list[float] = []

            def on_result() -> None:
                if not first:
                    first.append(time.perf_counter())

            t0 = time.perf_counter()
            ok = await p.map(sleeper, list(ds), len(ds), CALL_TIMEOUT, on_result)
            expect(ok, len(ds), p.key)
            return (first[0] - t0 - fastest) * 1e3

        return fresh_loop(go)

    rows = repeat(peers, reps, "first_result", one, "ms")
    return {"title": (f"3. Time to first result: {sz.first_n} skills of "
                      f"{sz.first_range[0] * 1e3:.0f} ms–{sz.first_range[1] * 1e3:.0f} ms"),
            "metric": "first result − fastest skill (ms)", "lower_is_better": True, "rows": rows,
            "params": {"durations": ds, "fastest_s": fastest}}


def w_dag(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    dag: Dag = make_dag(sz.dag_n, *sz.dag_range)
    cp = dag.critical_path()

    def one(p: Peer) -> float:
        async def go() -> float:
            t0 = time.perf_counter()
            ok = await p.dag(dag, dag_work)
            wall = time.perf_counter() - t0
            expect(ok, len(dag.nodes), p.key)
            return wall / cp

        return fresh_loop(go)

    rows = repeat(peers, reps, "dag", one, "× critical path")
    return {"title": (f"4. DAG: {sz.dag_n} skills in {len(dag.layers)} layers, "
                      f"{sz.dag_range[0] * 1e3:.0f}–{sz.dag_range[1] * 1e3:.0f} ms, 1–3 deps"),
            "metric": "makespan / critical path", "lower_is_better": True, "rows": rows,
            "params": {"critical_path_s": cp, "level_by_level_s": dag.level_by_level(),
                       "nodes": [{"id": n.id, "layer": n.layer, "duration": n.duration,
                                  "deps": list(n.deps)} for n in dag.nodes]}}


def w_memory(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    def n_for(p: Peer) -> int:
        return min(sz.memory_n, p.inflight_limit or sz.memory_n)

    def one(p: Peer) -> float:
        n = n_for(p)
        args = list(range(n))

        async def go() -> float:
            release = asyncio.Event()
            all_started = asyncio.Event()
            count = 0

            async def waiter(_: Any) -> None:
                nonlocal count
                count += 1
                if count == n:
                    all_started.set()
                await release.wait()

            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                task = asyncio.create_task(p.map(waiter, args, n, CALL_TIMEOUT))
                waiting = asyncio.create_task(all_started.wait())
                await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():  # finished or failed before all started
                    waiting.cancel()
                    task.result()
                    raise RuntimeError(f"only {count} of {n} calls started")
                current = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
                release.set()
            ok = await task
            expect(ok, n, p.key)
            return (current - base) / n

        return fresh_loop(go)

    rows = repeat(peers, reps, "memory_inflight", one, "B/call")
    for p in peers:
        rows[p.key].n = n_for(p)
    return {"title": f"5a. Memory: {sz.memory_n:,} calls in flight (tracemalloc)",
            "metric": "bytes per in-flight call", "lower_is_better": True, "rows": rows,
            "params": {"n": sz.memory_n,
                       "peer_n": {p.key: n_for(p) for p in peers if n_for(p) != sz.memory_n}}}


RSS_CHILD_TIMEOUT = 900


def _pow(n: int) -> str:
    return f"10^{len(str(n)) - 1}"


def rss_child(peer_key: str, n: int, cap: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks._rss_child", peer_key, str(n), str(cap)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=RSS_CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {RSS_CHILD_TIMEOUT} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def w_rss(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    cap = sz.rss_cap
    rows: dict[str, Row] = {}
    usable = []
    for p in peers:
        row = rows[p.key] = Row()
        row.na = p.missing()
        if p.key in ("langgraph", "skillstream_stategraph") and not row.na:
            row.na = ("n/a (no lazy source: the Send list is built whole; 10^4 fan-out "
                      "takes minutes)" if p.key == "langgraph" else "n/a (DAG-only API)")
        if not row.na:
            usable.append(p)
    per_size: dict[str, dict[int, list[float]]] = {p.key: {} for p in usable}
    secs: dict[str, dict[int, list[float]]] = {p.key: {} for p in usable}
    skipped: dict[str, dict[int, str]] = {p.key: {} for p in usable}
    for n in sz.rss_sizes:
        # the 10^6 runs are long: one repetition is enough for a memory high-water mark
        size_reps = reps if n < 10**6 else 1
        for rep in range(size_reps):
            order = usable if rep % 2 == 0 else usable[::-1]
            for p in order:
                row = rows[p.key]
                if row.error:
                    continue
                if p.rss_limit and n > p.rss_limit[0]:
                    skipped[p.key][n] = f"skipped: {p.rss_limit[1]}"
                    continue
                out = rss_child(p.key, n, cap)
                if "error" in out:
                    row.error = f"{_pow(n)}: {out['error']}"
                    log(f"  memory_rss: {p.key} n={n:,} FAILED: {out['error']}")
                    continue
                mb = out["maxrss_kb"] / 1024
                per_size[p.key].setdefault(n, []).append(mb)
                secs[p.key].setdefault(n, []).append(out["seconds"])
                log(f"  memory_rss: {p.key:24s} n={n:>9,} rep {rep + 1}/{size_reps}: "
                    f"{mb:,.1f} MB peak RSS in {out['seconds']:.1f} s")
    lo = min(sz.rss_sizes)
    for p in usable:
        row = rows[p.key]
        med = {n: statistics.median(v) for n, v in per_size[p.key].items()}
        row.extra = {"peak_rss_mb": {str(n): round(v, 1) for n, v in sorted(med.items())},
                     "seconds": {str(n): round(statistics.median(v), 2)
                                 for n, v in sorted(secs[p.key].items())},
                     "skipped": {str(n): why for n, why in skipped[p.key].items()}}
        if lo in med:
            hi = max(med)
            row.extra["delta_to"] = hi
            row.runs = [med[hi] - med[lo]]
    return {"title": (f"5b. Peak RSS, lazy generator source at cap {cap}: "
                      + ", ".join(_pow(n) for n in sz.rss_sizes)
                      + " calls (fresh subprocess each)"),
            "metric": f"peak RSS growth from {_pow(lo)} to {_pow(max(sz.rss_sizes))} calls (MB)",
            "lower_is_better": True, "rows": rows,
            "params": {"sizes": list(sz.rss_sizes), "cap": cap}}


def w_throughput(peers: list[Peer], sz: Sizes, reps: int) -> dict[str, Any]:
    cap = sz.overhead_cap

    def one(p: Peer) -> float:
        n = sz.langgraph_n if p.key == "langgraph" else sz.throughput_n
        return n / timed_noops(p, n, cap)

    rows = repeat(peers, reps, "throughput", one, "calls/s")
    for p in peers:
        rows[p.key].n = sz.langgraph_n if p.key == "langgraph" else sz.throughput_n
    return {"title": f"6. Throughput: {sz.throughput_n:,} no-op calls in one run, cap {cap}",
            "metric": "calls per second", "lower_is_better": False, "rows": rows,
            "params": {"n": sz.throughput_n, "cap": cap, "langgraph_n": sz.langgraph_n}}


WORKLOADS: dict[str, Callable[[list[Peer], Sizes, int], dict[str, Any]]] = {
    "overhead": w_overhead,
    "overhead_suspending": w_overhead_suspending,
    "latency": w_latency,
    "first_result": w_first,
    "dag": w_dag,
    "memory_inflight": w_memory,
    "memory_rss": w_rss,
    "throughput": w_throughput,
}

# --------------------------------------------------------------------------- targets

LIBRARY_PEERS = ("aiostream", "reactivex", "langgraph")


def judge(wkey: str, pkey: str, rows: dict[str, Row], sz: Sizes) -> tuple[str, str | None]:
    """(target text, verdict) for one row; verdict None when the target does not apply."""
    row = rows[pkey]
    v = row.value
    base = rows.get(BASELINE)
    bv = base.value if base else None
    if wkey in ("overhead", "overhead_suspending"):
        if pkey != "skillstream":
            return "", None
        text = "≤ 1.0× asyncio (same features), ≤ 1.5× asyncio (worker pool); < aiostream, reactivex, LangGraph"
        lean = rows.get(LEAN)
        lv = lean.value if lean else None
        if v is None or bv is None or lv is None:
            return text, None
        others = [rows[k].value for k in LIBRARY_PEERS if k in rows and rows[k].value]
        ok = v <= bv and v <= 1.5 * lv and all(v < o for o in others)
        return text, "PASS" if ok else "MISS"
    if wkey in ("latency", "dag"):
        return "≤ 1.03", None if v is None else ("PASS" if v <= 1.03 else "MISS")
    if wkey == "first_result":
        return "≤ 5 ms", None if v is None else ("PASS" if v <= 5.0 else "MISS")
    if wkey == "memory_inflight":
        return "≤ 4,096 B", None if v is None else ("PASS" if v <= 4096 else "MISS")
    if wkey == "memory_rss":
        text = "10^6 within 50 MB of 10^4"
        if v is None:
            return text, None
        if v > 50:
            return text, "MISS"  # already grown past the bound at a smaller size
        if row.extra.get("delta_to") != 10**6:
            return text, ("n/a (10^6 runs with --size full)" if 10**6 not in sz.rss_sizes
                          else "n/a (10^6 skipped)")
        return text, "PASS"
    if wkey == "throughput":
        text = "≥ 0.67× asyncio (same features) (= the 1.5× overhead target)"
        if v is None or bv is None:
            return text, None
        return text, "PASS" if v >= bv / 1.5 else "MISS"
    return "", None


# --------------------------------------------------------------------------- rendering


def fmt_value(wkey: str, row: Row, wl: dict[str, Any], pkey: str) -> str:
    if row.error:
        return f"ERROR: {row.error}"
    if row.na or row.value is None:
        return row.na or "n/a"
    v = row.value
    n_note = ""
    if row.n is not None and row.n != wl["params"].get("n"):
        n_note = f" ({row.n:,} calls)"
    if wkey in ("overhead", "overhead_suspending"):
        lean = wl["rows"].get(LEAN)
        vs_lean = f"; {v / lean.value:.2f}× worker pool" if lean and lean.value and pkey == "skillstream" else ""
        floor = wl["rows"].get(FLOOR)
        if floor and floor.value and pkey == "skillstream":
            vs_lean += f", {v / floor.value:.2f}× pool with its objects"
        return f"{v:,.1f} µs/skill{n_note}{vs_lean}"
    if wkey == "latency":
        s = f"{v:.3f}"
        return s + (" (no cap: vs longest job)" if pkey == "asyncio_gather" else "")
    if wkey == "first_result":
        return f"{v:,.1f} ms"
    if wkey == "dag":
        cp = wl["params"]["critical_path_s"]
        return f"{v:.3f} ({v * cp * 1e3:,.0f} ms / {cp * 1e3:,.0f} ms)"
    if wkey == "memory_inflight":
        return f"{v:,.0f} B/call{n_note}"
    if wkey == "memory_rss":
        peaks = row.extra.get("peak_rss_mb", {})
        parts = [f"{_pow(int(k))}: {mb:,.0f} MB" for k, mb in peaks.items()]
        parts += [f"{_pow(int(k))}: skipped†" for k in row.extra.get("skipped", {})]
        return f"Δ {v:+,.1f} MB to {_pow(row.extra['delta_to'])} ({', '.join(parts)})"
    if wkey == "throughput":
        return f"{v:,.0f} calls/s{n_note}"
    return f"{v}"


def fmt_ratio(wkey: str, rows: dict[str, Row], pkey: str) -> str:
    if wkey not in ("overhead", "overhead_suspending", "throughput", "memory_inflight"):
        return ""
    v, b = rows[pkey].value, rows[BASELINE].value if BASELINE in rows else None
    if v is None or not b:
        return ""
    return f"{v / b:.2f}×"


def render(report: dict[str, Any], peers: list[Peer], sz: Sizes) -> str:
    lines = ["| Workload | Implementation | Result | vs asyncio (same features) | Target | Verdict |",
             "|---|---|---|---|---|---|"]
    for wkey, wl in report["workloads"].items():
        rows = wl["rows"]
        first = True
        for p in peers:
            if p.key not in rows:
                continue
            row = rows[p.key]
            if p.key == "skillstream_stategraph" and wkey != "dag":
                continue
            target, verdict = judge(wkey, p.key, rows, sz)
            title = f"{wl['title']} — *{wl['metric']}*" if first else ""
            first = False
            lines.append(f"| {title} | {p.label} | {fmt_value(wkey, row, wl, p.key)} | "
                         f"{fmt_ratio(wkey, rows, p.key)} | {target} | {verdict or '—'} |")
    return "\n".join(lines)


def to_json(report: dict[str, Any], peers: list[Peer], sz: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {"meta": report["meta"], "peers": {}, "workloads": {}}
    for p in peers:
        out["peers"][p.key] = {"label": p.label.strip("*"), "note": p.note}
    for wkey, wl in report["workloads"].items():
        rows = {}
        for p in peers:
            row = wl["rows"][p.key]
            target, verdict = judge(wkey, p.key, wl["rows"], sz)
            rows[p.key] = {
                "value": row.value, "runs": row.runs, "n": row.n, "na": row.na,
                "error": row.error, "target": target, "verdict": verdict,
                "ratio_to_asyncio_features": (
                    row.value / wl["rows"][BASELINE].value
                    if row.value is not None and wl["rows"].get(BASELINE)
                    and wl["rows"][BASELINE].value else None),
                **row.extra,
            }
        out["workloads"][wkey] = {"title": wl["title"], "metric": wl["metric"],
                                  "lower_is_better": wl["lower_is_better"],
                                  "params": wl["params"], "rows": rows}
    return out


# --------------------------------------------------------------------------- machine


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _git_rev() -> str | None:
    """The commit the figures were taken at, with ``+dirty`` when pipeline/ or operators/
    have uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipeline", "operators"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty.strip() else "")) or None


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": cores, "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in
                     ("skillstream", "reactivex", "aiostream", "pydantic", "langgraph",
                      "langchain-core")},
    }


# --------------------------------------------------------------------------- main


def warm_up(peers: list[Peer], sz: Sizes) -> None:
    for p in peers:
        if p.missing():
            continue
        try:
            fresh_loop(lambda p=p: p.map(noop, list(range(sz.warmup_n)), 100, CALL_TIMEOUT))
        except Exception:  # noqa: BLE001 - warm-up only; the workloads report errors
            pass


def results_section(report: dict[str, Any], table: str, peers: list[Peer]) -> str:
    """The core benchmark's section of RESULTS.md."""
    m = report["meta"]
    mach = m["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in mach["packages"].items())
    notes = "\n".join(f"- **{p.label.strip('*')}**: {p.note}" for p in peers)
    footnotes = []
    for wkey, wl in report["workloads"].items():
        for p in peers:
            row = wl["rows"][p.key]
            for n, why in (row.extra.get("skipped") or {}).items():
                footnotes.append(f"† {p.label.strip('*')}, {_pow(int(n))} calls: {why}.")
    foot = ("\n".join(footnotes) + "\n\n") if footnotes else ""
    return f"""## core: skillstream against asyncio, aiostream, reactivex and LangGraph

Latest `--size {m['size']}` run ({m['reps']} repetition(s) per figure, medians; peers' order
reversed on every other repetition), {m['date']}, {m['duration_s']:.0f} s in all, at commit
`{m['commit']}`.

**Machine:** {mach['cpu']}, {mach['cores']} cores, {mach['memory']} RAM; {mach['python']};
{mach['platform']}. 1-minute load average {m['loadavg_1m']['before']} before the run,
{m['loadavg_1m']['after']} after (a shared machine: absolute µs move with the load, the
ratios measured side by side much less).
**Packages:** {pk}.

{table}

{foot}Targets are skillstream's design targets (throughput's is derived from the overhead
target); they are shown, never asserted. "vs asyncio (same features)" is the row's figure
divided by the hand-written asyncio's.

### How each figure is taken

1. **Overhead**: wall time of building the calls, running them and consuming every result,
   divided by the number of calls (LangGraph runs 2,000: it is ~10× slower per call).
   skillstream's target also asks it to beat every library peer (aiostream, reactivex,
   LangGraph); `asyncio.gather` is the featureless floor (no cap, timeout or isolation).
2. **Latency efficiency**: wall time / the greedy list-scheduling makespan computed
   analytically (each job, in submission order, to the earliest-free of `cap` machines).
   `asyncio.gather` has no cap, so its ideal is the longest job.
3. **Time to first result**: arrival of the first result, measured from the start of the
   run, minus the fastest skill's duration. The fastest skill is not submitted first.
4. **DAG**: makespan / critical path of a seeded random layered DAG (durations and edges
   in the JSON). `asyncio.gather` runs it level by level.
5. **Memory in flight**: `tracemalloc` bytes allocated between before the run and the moment
   the last of N calls has started (all awaiting one `Event`), divided by N. The consumer
   keeps no results. aiostream and LangGraph are measured at 2,000 in flight (aiostream's
   `task_limit` bookkeeping is quadratic in tasks in flight: 10,000 take minutes).
   **Peak RSS**: each size in a fresh subprocess (`python -m benchmarks._rss_child`), the
   calls from a generator at cap 100, peak RSS read from `VmHWM` in `/proc/self/status`
   (`ru_maxrss` is also recorded, but on Linux it carries the parent's high-water mark
   across fork + exec, which would hide the growth). One repetition at 10^6.
6. **Throughput**: as overhead, with 100,000 calls in one run.

### The implementations

{notes}

### Rerun

```
pip install -e '.[bench]'                             # langgraph, aiohttp, ...
python -m benchmarks --only core --size full --results benchmarks/RESULTS.md   # about {max(1, round(m['duration_s'] / 60))} min here
```

Every repetition and the seeded inputs go to the JSON (`--output`, not committed).
`--only overhead,dag` runs some workloads, `--peers skillstream,asyncio_features` some
implementations, `--reps N` overrides the repetition count.
"""


def measure(size: str, reps: int | None = None, workloads: list[str] | None = None,
            peer_keys: list[str] | None = None, command: str = "") -> tuple[dict[str, Any], list[Peer]]:
    """Run the workloads (all by default) for the peers (all by default): the report and the
    peers it covers. Unknown workload or peer keys raise ValueError."""
    sz = SIZES[size]
    reps = reps or sz.reps
    peers = all_peers()
    if peer_keys:
        unknown = set(peer_keys) - {p.key for p in peers}
        if unknown:
            raise ValueError(f"unknown peers {sorted(unknown)}; known: {[p.key for p in peers]}")
        peers = [p for p in peers if p.key in peer_keys]
    wkeys = workloads or WORKLOAD_KEYS
    unknown = set(wkeys) - set(WORKLOAD_KEYS)
    if unknown:
        raise ValueError(f"unknown workloads {sorted(unknown)}; known: {WORKLOAD_KEYS}")

    t_start = time.perf_counter()
    load_before = _loadavg()
    log(f"skillstream benchmarks: --size {sz.name}, {reps} repetition(s)")
    for p in peers:
        if p.missing():
            log(f"  {p.label.strip('*')}: {p.missing()}")
    warm_up(peers, sz)
    report: dict[str, Any] = {"workloads": {}}
    elapsed: dict[str, float] = {}
    for wkey in wkeys:
        log(f"{wkey} …")
        t_w = time.perf_counter()
        report["workloads"][wkey] = WORKLOADS[wkey](peers, sz, reps)
        elapsed[wkey] = round(time.perf_counter() - t_w, 1)
        log(f"{wkey}: {elapsed[wkey]:.0f} s")
    report["meta"] = {
        "size": sz.name, "reps": reps, "machine": machine(), "commit": _git_rev(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.perf_counter() - t_start, 1),
        "workload_s": elapsed,
        "loadavg_1m": {"before": load_before, "after": _loadavg()},
        "command": command,
    }
    return report, peers


def errors(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(w, k, r.error) for w, wl in report["workloads"].items()
            for k, r in wl["rows"].items() if r.error]


def bench(size: str, workloads: list[str] | None = None, peers: list[str] | None = None,
          reps: int | None = None) -> Figures:
    """The core benchmark for ``python -m benchmarks``: a failed cell raises RuntimeError."""
    report, ps = measure(size, reps, workloads, peers, "python -m benchmarks --only core")
    sz = SIZES[size]
    table = render(report, ps, sz)
    failed = errors(report)
    if failed:
        raise RuntimeError("; ".join(f"{w} / {k}: {e}" for w, k, e in failed))
    rows: dict[str, dict[str, float]] = {}
    derived: dict[str, float] = {}
    for wkey, wl in report["workloads"].items():
        for p in ps:
            row = wl["rows"][p.key]
            if row.value is None:
                continue
            if wkey == "memory_rss":  # the growth may be 0 or negative: the peaks are the figures
                derived[f"{p.key}: peak RSS growth MB"] = row.value
                for n, mb in row.extra["peak_rss_mb"].items():
                    rows.setdefault(p.key, {})[f"memory_rss: peak MB at {_pow(int(n))}"] = mb
                continue
            rows.setdefault(p.key, {})[wkey] = row.value
    data = to_json(report, ps, sz)
    return Figures(
        title=f"core: {len(report['workloads'])} workloads, {len(ps)} implementations",
        text=table, rows=rows, derived=derived, params=data,
        section=results_section(report, table, ps),
    )


def main(argv: list[str] | None = None) -> int:
    """The core benchmark alone (``python -m benchmarks --only core`` runs it with the others)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default: 3 full, 1 small)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {WORKLOAD_KEYS}")
    ap.add_argument("--peers", default=None, help="comma-separated subset of peer keys")
    ap.add_argument("--output", type=Path, default=DEFAULT_JSON, help="JSON output path")
    ap.add_argument("--write-results-md", action="store_true",
                    help=f"also rewrite the core section of {RESULTS_MD.relative_to(ROOT)}")
    a = ap.parse_args(argv)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        report, peers = measure(a.size, a.reps, a.only.split(",") if a.only else None,
                                a.peers.split(",") if a.peers else None, command)
    except ValueError as e:
        ap.error(str(e))
    sz = SIZES[a.size]
    table = render(report, peers, sz)
    print(table)
    data = to_json(report, peers, sz)
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {a.output} ({report['meta']['duration_s']:.0f} s)")
    if a.write_results_md:
        from benchmarks.suite import write_sections

        write_sections(RESULTS_MD, {"core": results_section(report, table, peers)})
        log(f"wrote {RESULTS_MD}")
    failed = errors(report)
    for w, k, e in failed:
        log(f"ERROR in {w} / {k}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
