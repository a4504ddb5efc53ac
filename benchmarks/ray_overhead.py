"""Ray skills against raw Ray, side by side in one run: per-call overhead, a fan-out, a DAG,
peak driver memory.

    python -m benchmarks.ray_overhead                       # every section, full size
    python -m benchmarks.ray_overhead --size small          # smoke size (well under 3 min; also --small)
    python -m benchmarks.ray_overhead --sections overhead --calls 200 --repeats 1

Every variant runs on the same Ray instance (``RAY_ADDRESS`` if set, else a local one with
a CPU per core), repetition by repetition with the order reversed on every other one, after
a warm-up; figures are medians.

1. ``overhead`` (``--calls`` no-op calls at ``--cap``; µs per call = wall time / calls):

   - ``raw_ray``: ``await f.remote(i)`` under an ``asyncio.Semaphore(cap)`` (the value is in
     the driver at the end);
   - ``skillstream``: ``run([...], max_concurrency=cap).collect()`` and every ``value`` read
     (the same work: each value reaches the driver);
   - ``raw_ray_two_returns``: ``raw_ray`` with ``num_returns=2``, awaiting the first, as a
     Ray skill's task does (its value stays in Ray): how much of the overhead is Ray's own;
   - ``ray_get_batch``: ``ray.get([f.remote(i) for i in ...])``, no cap, for context.

   The ratio is ``skillstream / raw_ray`` (target <= 1.2).
2. ``fanout``: ``--fanout-calls`` (1,000) calls of a task doing about 1 ms of CPU work, cap
   100: wall time of a Ray skill's run against raw Ray under a semaphore, and their ratio;
   beside them ``raw_ray_two_returns``, raw Ray with the Ray skill's task shape
   (``num_returns=2``, the first awaited): the share of the gap that is Ray's own.
3. ``dag``: a seeded random layered DAG of ``--dag-nodes`` (30) sleeping tasks of known
   durations (``num_cpus=0``: the DAG's shape, not the machine's cores, bounds it); each
   node gets its dependencies' values. The makespan against the critical path (the longest
   chain of durations; target <= 1.05), for Ray skills and for raw Ray passing ObjectRefs.
4. ``memory``: peak driver RSS (``VmHWM``, in a fresh subprocess joined to the same Ray
   instance) while a generator of N Ray calls runs at cap 100 and its results are read and
   dropped, at ``--memory-calls`` (10^5) and ``--memory-baseline-calls`` (10^4): flat when
   the lazy source keeps the driver O(cap).

Prints a markdown table per section, writes JSON (``--output``): the overhead figures at
the top level (as before), the others under ``fanout``, ``dag`` and ``memory``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("ray")

from benchmarks._figures import Figures, size_option  # noqa: E402
from pipeline import run, skill  # noqa: E402

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


# -- 2. fan-out ------------------------------------------------------------------------------

FANOUT_WORK = 20_000  # iterations of busy_work: about 1 ms of CPU here


def busy_work(i: int) -> int:
    acc = i
    for k in range(FANOUT_WORK):
        acc = (acc * 31 + k) % 1_000_003
    return acc


busy_skill = skill(busy_work, name="busy_work", executor="ray")


async def _raw_fanout(f: Any, calls: int, cap: int) -> None:
    sem = asyncio.Semaphore(cap)

    async def one(i: int) -> Any:
        async with sem:
            return await f.remote(i)

    values = await asyncio.gather(*(one(i) for i in range(calls)))
    assert values[-1] == busy_work(calls - 1)


def busy_two(i: int) -> tuple[tuple[int], None]:
    return (busy_work(i),), None


async def _raw_two_fanout(f: Any, calls: int, cap: int) -> None:
    sem = asyncio.Semaphore(cap)

    async def one(i: int) -> Any:
        async with sem:
            done, _ = f.remote(i)
            return (await done)[0]

    values = await asyncio.gather(*(one(i) for i in range(calls)))
    assert values[-1] == busy_work(calls - 1)


async def _skillstream_fanout(calls: int, cap: int) -> None:
    results = await run([busy_skill(i) for i in range(calls)], max_concurrency=cap).collect()
    values = [r.value for r in results]
    assert values[-1] == busy_work(calls - 1)


# -- 3. DAG ----------------------------------------------------------------------------------


def make_dag(nodes: int, seed: int, layers: int = 6) -> tuple[list[float], list[list[int]]]:
    """A layered DAG: ``nodes`` spread over ``layers``; each node after the first layer
    depends on one to three nodes of the layer before and, now and then, one further back.
    Durations 0.2-0.5 s. Returns (durations, dependencies), nodes in topological order."""
    import random

    rng = random.Random(seed)
    layer_of = [i * layers // nodes for i in range(nodes)]
    members: list[list[int]] = [[] for _ in range(layers)]
    for i, layer in enumerate(layer_of):
        members[layer].append(i)
    durations = [round(rng.uniform(0.2, 0.5), 3) for _ in range(nodes)]
    deps: list[list[int]] = []
    for i, layer in enumerate(layer_of):
        if layer == 0:
            deps.append([])
            continue
        before = members[layer - 1]
        chosen = set(rng.sample(before, k=min(len(before), rng.randint(1, 3))))
        if layer >= 2 and rng.random() < 0.3:
            chosen.add(rng.choice(members[rng.randrange(layer - 1)]))
        deps.append(sorted(chosen))
    return durations, deps


def critical_path(durations: Sequence[float], deps: Sequence[Sequence[int]]) -> float:
    finish: list[float] = []
    for i, d in enumerate(durations):  # topological order: every dependency comes first
        finish.append(max((finish[j] for j in deps[i]), default=0.0) + d)
    return max(finish)


def dag_node(seconds: float, *inputs: float) -> float:
    """Sleep ``seconds``; the value is the node's finish on the critical-path clock."""
    time.sleep(seconds)
    return max(inputs, default=0.0) + seconds


# I/O-like (it sleeps): no CPU reserved, so the DAG's width, not the cores, bounds it.
dag_skill = skill(dag_node, name="dag_node", executor="ray", ray_options={"num_cpus": 0})


async def _skillstream_dag(durations: Sequence[float], deps: Sequence[Sequence[int]]) -> None:
    calls: list[Any] = []
    for i, d in enumerate(durations):
        calls.append(dag_skill(d, *(calls[j] for j in deps[i])).named(f"n{i}"))
    results = await run(calls, max_concurrency=None).collect()
    assert max(r.value for r in results) == critical_path(durations, deps)


async def _raw_dag(ray: Any, f: Any, durations: Sequence[float], deps: Sequence[Sequence[int]]) -> None:
    # ObjectRefs as arguments: Ray starts a node when its inputs exist, on the worker side.
    refs: list[Any] = []
    for i, d in enumerate(durations):
        refs.append(f.remote(d, *(refs[j] for j in deps[i])))
    values = await asyncio.gather(*refs)
    assert max(values) == critical_path(durations, deps)


# -- 4. memory -------------------------------------------------------------------------------


def _rss_child(address: str, calls: int, cap: int) -> dict[str, Any]:
    """Run ``benchmarks._ray_rss_child`` in a fresh process joined to ``address``."""
    import subprocess

    env = {**os.environ, "RAY_ADDRESS": address}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks._ray_rss_child", str(calls), str(cap)],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


# -- the run ---------------------------------------------------------------------------------

SECTIONS = ("overhead", "fanout", "dag", "memory")
SIZES = {"small": {"small": True}, "full": {"small": False}}


def _medians(
    variants: dict[str, Callable[[], Awaitable[None]]], repeats: int
) -> dict[str, float]:
    for make in variants.values():  # warm-up: workers leased, functions exported
        _timed(make)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(repeats):
        order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        for name in order:
            seconds[name].append(_timed(variants[name]))
    return {name: statistics.median(s) for name, s in seconds.items()}


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=None, help="overhead: no-op calls (1000; --small 200)")
    parser.add_argument("--cap", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=None, help="medians of (3; --small 1)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--small", action="store_true", help="smoke size: fewer repeats, memory at 10^3 vs 10^4")
    parser.add_argument("--fanout-calls", type=int, default=1000)
    parser.add_argument("--dag-nodes", type=int, default=30)
    parser.add_argument("--dag-seed", type=int, default=14)
    parser.add_argument("--memory-calls", type=int, default=None, help="10^5; --small 10^3")
    parser.add_argument("--memory-baseline-calls", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=DEFAULT_JSON)
    args = size_option(parser, SIZES, argv)
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    calls = args.calls if args.calls is not None else (200 if args.small else 1000)
    repeats = args.repeats if args.repeats is not None else (1 if args.small else 3)
    memory_calls = args.memory_calls if args.memory_calls is not None else (1000 if args.small else 100_000)
    cap = args.cap

    import ray  # type: ignore[import-not-found, unused-ignore]

    started_here = not ray.is_initialized()
    if started_here:
        # RAY_ADDRESS, when set, is read by ray.init(); the CPU count then is the cluster's.
        if os.environ.get("RAY_ADDRESS"):
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    figures: dict[str, Any] = {
        "calls": calls,
        "cap": cap,
        "repeats": repeats,
        "small": args.small,
        "sections": sections,
    }
    print(f"Ray {ray.__version__}, cap {cap}, medians of {repeats}\n")
    try:
        if "overhead" in sections:
            f = ray.remote(max_retries=0)(noop)
            f2 = ray.remote(max_retries=0, num_returns=2)(noop_two)
            variants: dict[str, Callable[[], Awaitable[None]]] = {
                "raw_ray": lambda: _raw(f, calls, cap),
                "skillstream": lambda: _skillstream(calls, cap),
                "raw_ray_two_returns": lambda: _raw_two(f2, calls, cap),
                "ray_get_batch": lambda: _batch(ray, f, calls),
            }
            us = {name: s / calls * 1e6 for name, s in _medians(variants, repeats).items()}
            figures.update({f"{name}_us_per_call": round(v, 2) for name, v in us.items()})
            # The per-call figures are rounded for reading; the ratio is of the rounded ones.
            figures["ratio"] = figures["skillstream_us_per_call"] / figures["raw_ray_us_per_call"]
            figures["target_ratio"] = 1.2
            print(f"1. per-call overhead: {calls} no-op calls")
            _table(["variant", "µs per call"], [(n, f"{figures[f'{n}_us_per_call']:.1f}") for n in variants])
            print(f"ratio skillstream / raw Ray: {figures['ratio']:.2f}x (target <= 1.2x)\n")

        if "fanout" in sections:
            n = args.fanout_calls
            fb = ray.remote(max_retries=0)(busy_work)
            fb2 = ray.remote(max_retries=0, num_returns=2)(busy_two)
            wall = _medians(
                {
                    "raw_ray": lambda: _raw_fanout(fb, n, cap),
                    "skillstream": lambda: _skillstream_fanout(n, cap),
                    "raw_ray_two_returns": lambda: _raw_two_fanout(fb2, n, cap),
                },
                repeats,
            )
            fanout = {
                "calls": n,
                "cap": cap,
                "raw_ray_seconds": round(wall["raw_ray"], 3),
                "skillstream_seconds": round(wall["skillstream"], 3),
                "raw_ray_two_returns_seconds": round(wall["raw_ray_two_returns"], 3),
                "ratio": round(wall["skillstream"] / wall["raw_ray"], 3),
                "two_returns_ratio": round(wall["raw_ray_two_returns"] / wall["raw_ray"], 3),
            }
            figures["fanout"] = fanout
            print(f"2. fan-out: {n} calls of ~1 ms CPU, cap {cap}")
            _table(
                ["raw Ray (s)", "skillstream (s)", "ratio", "raw Ray, two returns (s)", "ratio"],
                [(f"{fanout['raw_ray_seconds']:.2f}", f"{fanout['skillstream_seconds']:.2f}", f"{fanout['ratio']:.2f}x",
                  f"{fanout['raw_ray_two_returns_seconds']:.2f}", f"{fanout['two_returns_ratio']:.2f}x")],
            )

        if "dag" in sections:
            durations, deps = make_dag(args.dag_nodes, args.dag_seed)
            path = critical_path(durations, deps)
            fd = ray.remote(max_retries=0, num_cpus=0)(dag_node)
            makespan = _medians(
                {"raw_ray": lambda: _raw_dag(ray, fd, durations, deps),
                 "skillstream": lambda: _skillstream_dag(durations, deps)},
                repeats,
            )
            dag = {
                "nodes": args.dag_nodes,
                "edges": sum(len(d) for d in deps),
                "seed": args.dag_seed,
                "critical_path_seconds": round(path, 3),
                "raw_ray_makespan_seconds": round(makespan["raw_ray"], 3),
                "skillstream_makespan_seconds": round(makespan["skillstream"], 3),
                "raw_ray_ratio": round(makespan["raw_ray"] / path, 3),
                "skillstream_ratio": round(makespan["skillstream"] / path, 3),
                "target_ratio": 1.05,
            }
            figures["dag"] = dag
            print(f"3. DAG: {dag['nodes']} nodes, {dag['edges']} edges (seed {dag['seed']}), "
                  f"critical path {path:.2f} s")
            _table(
                ["variant", "makespan (s)", "makespan / critical path (target ≤ 1.05)"],
                [("raw Ray (ObjectRefs)", f"{dag['raw_ray_makespan_seconds']:.2f}", f"{dag['raw_ray_ratio']:.3f}"),
                 ("skillstream", f"{dag['skillstream_makespan_seconds']:.2f}", f"{dag['skillstream_ratio']:.3f}")],
            )

        if "memory" in sections:
            address = ray.get_runtime_context().gcs_address
            sizes = sorted({args.memory_baseline_calls, memory_calls})
            runs = [{"calls": size, **_rss_child(address, size, cap)} for size in sizes]
            memory = {
                "cap": cap,
                "runs": runs,
                # Flat: the peak at the larger source minus the peak at the smaller one.
                "growth_kb": runs[-1]["maxrss_kb"] - runs[0]["maxrss_kb"],
            }
            figures["memory"] = memory
            print(f"4. peak driver memory: a generator of Ray calls, cap {cap}, results dropped as read")
            _table(
                ["calls", "seconds", "baseline (MiB)", "peak VmHWM (MiB)"],
                [(f"{r['calls']:,}", f"{r['seconds']:.1f}", f"{r['baseline_kb'] / 1024:.1f}",
                  f"{r['maxrss_kb'] / 1024:.1f}") for r in memory["runs"]],
            )
            print(f"peak at {sizes[-1]:,} minus peak at {sizes[0]:,}: "
                  f"{memory['growth_kb'] / 1024:+.1f} MiB\n")
    finally:
        if started_here:
            ray.shutdown()

    figures.update({
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    })
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


OVERHEAD_VARIANTS = ("raw_ray", "skillstream", "raw_ray_two_returns", "ray_get_batch")


def bench(size: str) -> Figures:
    """``main`` at ``size`` (every section), its figures read back from its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ray.json"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            main(["--size", size, "--output", str(out)])
        f = json.loads(out.read_text())
    rows: dict[str, dict[str, float]] = {
        name: {"overhead µs/call": f[f"{name}_us_per_call"]} for name in OVERHEAD_VARIANTS
    }
    rows["raw_ray_two_returns"]["fan-out s"] = f["fanout"]["raw_ray_two_returns_seconds"]
    for name in ("raw_ray", "skillstream"):
        rows[name]["fan-out s"] = f["fanout"][f"{name}_seconds"]
        rows[name]["DAG makespan s"] = f["dag"][f"{name}_makespan_seconds"]
        rows[name]["DAG makespan / critical path"] = f["dag"][f"{name}_ratio"]
    for r in f["memory"]["runs"]:
        rows["skillstream"][f"peak driver RSS MiB at {r['calls']:,} calls"] = r["maxrss_kb"] / 1024
    return Figures(
        title=f"Ray skills against raw Ray: {f['calls']} no-op calls, cap {f['cap']}, medians of {f['repeats']}",
        text=printed.getvalue().strip(), rows=rows,
        derived={"overhead ratio": f["ratio"], "fan-out ratio": f["fanout"]["ratio"],
                 "memory growth KiB": float(f["memory"]["growth_kb"])},
        params={k: f[k] for k in ("calls", "cap", "repeats", "small", "ray")},
    )


if __name__ == "__main__":
    raise SystemExit(main())
