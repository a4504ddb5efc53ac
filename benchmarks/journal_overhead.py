"""What a journal costs: the same run with and without ``journal=`` (target: +50 us/call,
and memory that follows the concurrency cap, not the number of calls).

    python -m benchmarks.journal_overhead                 # everything below, full size
    python -m benchmarks.journal_overhead --n 2000 --repeat 2 --no-full
    python -m benchmarks.journal_overhead --size small     # a smoke run: seconds
    python -m benchmarks.journal_overhead --calls 10000,100000,1000000 --langgraph-max 10000
    python -m benchmarks.journal_overhead --scale-only --calls 100000   # only the rows at scale
    python -m benchmarks.journal_overhead --pg postgresql://me@127.0.0.1:5432/bench
    python -m benchmarks.journal_overhead --pg none        # no PostgreSQL rows
    python -m benchmarks.journal_overhead --scale-only --calls 10000 --dbos-max 10000

At scale (``--calls``, a ladder of run sizes; default 10^4, 10^5, 10^6): each variant runs
in a fresh child process (:mod:`benchmarks._journal_child`): no-op calls produced lazily by
a generator, cap 100, without a journal, on a SQLite journal (``synchronous=NORMAL``) and
on PostgreSQL; beside them LangGraph's fan-out graph (``Send``) without a checkpointer,
with ``AsyncSqliteSaver`` and with ``AsyncPostgresSaver``, up to ``--langgraph-max`` nodes
(LangGraph holds a fan-out's tasks in memory and takes milliseconds a node: larger sizes
take many minutes); and DBOS (``pip install dbos``), up to ``--dbos-max`` calls: one async
workflow calling ``N`` no-op ``@DBOS.step()`` functions, pulled from a generator, as asyncio
tasks at most 100 at once (a semaphore taken before each call: the steps get their ids in
the generator's order, so a recovery replays them in place; DBOS's ``Queue(concurrency=)``
would instead start a workflow per call, polled from the database), on DBOS's SQLite system
database (as DBOS opens it: SQLite's defaults, a rollback journal and ``synchronous=FULL``, a
commit per step) and on PostgreSQL, beside the same fan-out in plain asyncio. Each row gives the cost per call, what the journal or checkpointer
adds per call (wall clock, and CPU time of the child's threads: the steadier figure on a
busy machine), the child's peak RSS and what the timed run grew it by (beyond a warm-up).
``--scale-repeat`` rounds, each running every variant once in an order that rotates from round
to round: times are the median round's, memory the round that grew the most.
PostgreSQL: ``--pg URL`` uses that database (the benchmark's run ids are forgotten
afterwards), ``--pg start`` starts a throwaway local server (PostgreSQL's ``initdb`` and
``pg_ctl`` on PATH or in /usr/lib/postgresql/*/bin; the default at full size when they are
there), ``--pg none`` leaves the PostgreSQL rows out (the default at small size).

Workloads: no-op skills (the engine's own cost dominates, so every microsecond the journal
adds shows) and skills that sleep 10 ms (an I/O-bound run, where the commit overlaps the
waits). Each journaled round writes a fresh SQLite file in a temporary directory, WAL
mode, ``synchronous=NORMAL`` (survives a killed process) and, unless ``--no-full``,
``synchronous=FULL`` (survives power loss: an fsync per group commit). "resume" is a
rerun of a run whose calls all finished: every result is replayed from the journal.

Beside it, LangGraph's answer to the same need (a checkpointer): one graph fanning out to
``--graph-n`` no-op nodes with ``Send``, cap 100, without and with LangGraph's
``AsyncSqliteSaver``, and the same graph on skillstream's ``StateGraph`` without and with
``compile(checkpointer=...)`` (needs ``pip install 'skillstream[bench]'``; skipped otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("journal")

from benchmarks._figures import Figures, rotated, size_option  # noqa: E402
from pipeline import Journal, Send, SkillCall, StateGraph, run, skill  # noqa: E402

SIZES = {
    "small": {"n": 300, "repeat": 2, "graph_n": 100, "calls": "500", "langgraph_max": 500, "pg": "none",
              "scale_repeat": 2, "dbos_max": 500},
    "full": {"n": 10_000, "repeat": 3, "graph_n": 2_000, "calls": "10000,100000,1000000",
             "langgraph_max": 10_000, "pg": "auto", "scale_repeat": 3, "dbos_max": 10_000},
}


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


def measure_once(fn: Any, n: int, cap: int, synchronous: str | None, r: int) -> float:
    """Seconds of one run; ``synchronous`` None means no journal, else a fresh SQLite file."""
    if synchronous is None:
        return _time(fn, n, cap, None, "")
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "runs.db", synchronous=synchronous)  # type: ignore[arg-type]
        try:
            return _time(fn, n, cap, journal, f"round-{r}")
        finally:
            journal.close()


def measure(fn: Any, n: int, cap: int, repeat: int, modes: list[tuple[str, str | None]]) -> dict[str, float]:
    """Median seconds of each mode over ``repeat`` rounds; a round runs every mode once, in an
    order that rotates from round to round (interleaved, not one mode's runs in a block: a
    machine that slows down for a while slows every mode alike)."""
    times: dict[str, list[float]] = {name: [] for name, _ in modes}
    for r in range(repeat):
        for name, synchronous in rotated(modes, r):
            times[name].append(measure_once(fn, n, cap, synchronous, r))
    return {name: statistics.median(t) for name, t in times.items()}


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


class FanOut(TypedDict, total=False):
    n: int
    done: Annotated[list[int], operator.add]


async def _skillstream_graph(n: int, cap: int, path: Path | None) -> float:
    @skill
    async def work(i: int) -> dict[str, list[int]]:
        return {"done": [i]}

    graph = StateGraph(FanOut)
    graph.add_node("work", work)
    graph.add_conditional_edges("__start__", lambda s: [Send("work", i) for i in range(s["n"])], ["work"])
    app = graph.compile(max_concurrency=cap, checkpointer=path)
    t0 = time.perf_counter()
    if path is None:
        state = await app.ainvoke({"n": n})
    else:
        state = await app.ainvoke({"n": n}, {"configurable": {"thread_id": "fan-out"}})
    elapsed = time.perf_counter() - t0
    assert len(state["done"]) == n
    if app.checkpointer is not None:
        app.checkpointer.close()
    return elapsed


async def _langgraph(n: int, cap: int, path: Path | None) -> float:
    from langgraph.graph import START
    from langgraph.graph import StateGraph as LangGraph
    from langgraph.types import Send as LangSend

    async def work(i: int) -> dict[str, list[int]]:
        return {"done": [i]}

    graph: Any = LangGraph(FanOut)  # (its overloads do not take a Send's plain-int input)
    graph.add_node("work", work)
    graph.add_conditional_edges(START, lambda s: [LangSend("work", i) for i in range(s["n"])], ["work"])
    config: dict[str, Any] = {"max_concurrency": cap, "recursion_limit": 10}
    if path is None:
        app = graph.compile()
        t0 = time.perf_counter()
        state = await app.ainvoke({"n": n}, config)
        elapsed = time.perf_counter() - t0
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            app = graph.compile(checkpointer=saver)
            config["configurable"] = {"thread_id": "fan-out"}
            t0 = time.perf_counter()
            state = await app.ainvoke({"n": n}, config)
            elapsed = time.perf_counter() - t0
    assert len(state["done"]) == n
    return elapsed


def measure_graphs(n: int, cap: int, repeat: int) -> dict[str, float] | None:
    """Median seconds per variant of the fan-out graph over ``repeat`` rounds, the variants
    interleaved (a round runs each once, in a rotating order); None without LangGraph's saver."""
    try:
        import langgraph.checkpoint.sqlite.aio  # noqa: F401
    except ImportError:
        return None
    variants = {
        "LangGraph": (_langgraph, False),
        "LangGraph + AsyncSqliteSaver": (_langgraph, True),
        "StateGraph": (_skillstream_graph, False),
        "StateGraph + journal": (_skillstream_graph, True),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(repeat):
        for name in rotated(list(variants), r):
            fn, saved = variants[name]
            with tempfile.TemporaryDirectory() as tmp:
                gc.collect()
                times[name].append(asyncio.run(fn(n, cap, Path(tmp) / "graph.db" if saved else None)))
    return {name: statistics.median(t) for name, t in times.items()}


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.journal_overhead", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--repeat", type=int)
    ap.add_argument("--no-full", action="store_true", help="skip synchronous=FULL")
    ap.add_argument("--graph-n", type=int, help="nodes of the fan-out graph")
    ap.add_argument("--calls", help="run sizes measured in child processes, comma-separated")
    ap.add_argument("--langgraph-max", type=int, help="largest fan-out run for LangGraph's rows")
    ap.add_argument("--dbos-max", type=int, help="largest run for DBOS's rows (a few ms a step)")
    ap.add_argument("--scale-repeat", type=int, help="rounds of the runs at scale, interleaved (medians)")
    ap.add_argument("--scale-only", action="store_true", help="only the child-process runs at scale")
    ap.add_argument("--pg", help="PostgreSQL: a URL, 'start' (a throwaway local server), "
                                 "'auto' (start one if PostgreSQL is installed) or 'none'")
    return size_option(ap, SIZES, argv)


WORKLOADS = (("no-op", noop), ("sleep 10 ms", io10ms))


def measure_all(a: argparse.Namespace) -> dict[str, Any]:
    """Seconds per call (and per node) of every variant: ``{"runs": {workload: {variant: s}},
    "resume": (first, resumed), "graphs": {variant: s} or None}``."""
    _time(noop, min(500, a.n), a.cap, None, "")  # imports, warm-up
    modes: list[tuple[str, str | None]] = [("no journal", None), ("journal (NORMAL)", "normal")]
    if not a.no_full:
        modes.append(("journal (FULL, fsync)", "full"))
    runs = {label: measure(fn, a.n, a.cap, a.repeat, modes) for label, fn in WORKLOADS}
    return {"runs": runs, "resume": measure_resume(a.n, a.cap, a.repeat),
            "graphs": measure_graphs(a.graph_n, a.cap, a.repeat), "scale": measure_scale(a)}


# -- at scale: one child process per variant and size ---------------------------------------

#: variant of benchmarks._journal_child -> (row name, the row it is compared with)
SCALE_VARIANTS = {
    "plain": ("no journal", None),
    "sqlite": ("SQLite journal", "no journal"),
    "postgres": ("PostgreSQL journal", "no journal"),
    "lg-plain": ("LangGraph", None),
    "lg-sqlite": ("LangGraph + AsyncSqliteSaver", "LangGraph"),
    "lg-postgres": ("LangGraph + AsyncPostgresSaver", "LangGraph"),
    "dbos-plain": ("asyncio fan-out (no DBOS)", None),
    "dbos-sqlite": ("DBOS workflow, SQLite", "asyncio fan-out (no DBOS)"),
    "dbos-postgres": ("DBOS workflow, PostgreSQL", "asyncio fan-out (no DBOS)"),
}


def _child(variant: str, n: int, cap: int, url: str) -> dict[str, float]:
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]))
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "benchmarks._journal_child", variant, str(n), str(cap), tmp]
        done = subprocess.run(argv + ([url] if url else []), cwd=root, env=env, capture_output=True, text=True,
                              check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} at {n:,} calls failed:\n{done.stderr[-2000:]}")
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _postgres(choice: str) -> tuple[str, Any]:
    """(URL, a server to stop or None); URL "" when there is no PostgreSQL to use."""
    if choice == "none":
        return "", None
    if choice not in ("start", "auto"):
        return choice, None
    import importlib.util

    try:
        for package in ("psycopg", "langgraph", "langgraph.checkpoint.postgres"):
            if importlib.util.find_spec(package) is None:
                raise ImportError(f"needs {package}")
        from tests.support import (
            pg_server,  # a throwaway server, as the tests start one
        )
    except ImportError as exc:
        if choice == "start":
            raise SystemExit(f"--pg start: {exc} (pip install 'skillstream[bench,postgres]' in a checkout)") from exc
        return "", None
    try:
        server = pg_server.start_server()
    except pg_server.ServerUnavailable as exc:
        if choice == "start":
            raise SystemExit(f"--pg start: {exc}") from exc
        return "", None
    return server.url(), server


def measure_scale(a: argparse.Namespace) -> dict[str, Any]:
    """``{"sizes": [...], "rows": {row name: {n: child figures}}, "postgres": bool}``."""
    sizes = [int(x) for x in str(a.calls).split(",") if x.strip()]
    import importlib.util

    langgraph = importlib.util.find_spec("langgraph") is not None and importlib.util.find_spec(
        "langgraph.checkpoint.sqlite") is not None
    dbos = importlib.util.find_spec("dbos") is not None
    url, server = _postgres(a.pg)
    def runs_at(n: int, variant: str) -> bool:
        if variant.endswith("postgres") and not url:
            return False
        if variant.startswith("lg-") and (n > a.langgraph_max or not langgraph):
            return False
        return not (variant.startswith("dbos-") and (n > a.dbos_max or not dbos))

    rounds: dict[str, dict[int, list[dict[str, float]]]] = {}
    try:
        # Every round runs each variant once at each size, the variants in an order that
        # rotates from round to round (interleaved, never one variant's rounds in a block).
        for r in range(a.scale_repeat):
            for n in sizes:
                for variant in rotated([v for v in SCALE_VARIANTS if runs_at(n, v)], r):
                    name = SCALE_VARIANTS[variant][0]
                    rounds.setdefault(name, {}).setdefault(n, []).append(_child(variant, n, a.cap, url))
    finally:
        if server is not None:
            server.stop()
    # Times: the median round. Memory: the round whose run grew the most (the bound).
    rows: dict[str, dict[int, dict[str, float]]] = {}
    for name, by_size in rounds.items():
        for n, figures in by_size.items():
            most = max(figures, key=lambda f: f["maxrss_kb"] - f["baseline_kb"])
            rows.setdefault(name, {})[n] = {
                **most, **{k: statistics.median(f[k] for f in figures) for k in ("seconds", "cpu_seconds")}}
    return {"sizes": sizes, "rows": rows, "postgres": bool(url), "dbos": dbos, "dbos_max": a.dbos_max,
            "rounds": a.scale_repeat}


Scaled = tuple[str, int, float, float | None, float, float | None, float, float]


def scale_figures(scale: dict[str, Any]) -> list[Scaled]:
    """(row, calls, wall us/call, + against its base or None, CPU us/call, + or None,
    peak RSS MiB, growth MiB)."""
    out: list[Scaled] = []
    for name, base in SCALE_VARIANTS.values():
        for n, f in scale["rows"].get(name, {}).items():
            wall, cpu = f["seconds"] / n * 1e6, f["cpu_seconds"] / n * 1e6
            extra_wall = extra_cpu = None
            if base is not None and n in scale["rows"].get(base, {}):
                b = scale["rows"][base][n]
                extra_wall, extra_cpu = wall - b["seconds"] / n * 1e6, cpu - b["cpu_seconds"] / n * 1e6
            out.append((name, n, wall, extra_wall, cpu, extra_cpu, f["maxrss_kb"] / 1024,
                        (f["maxrss_kb"] - f["baseline_kb"]) / 1024))
    return out


def render_scale(scale: dict[str, Any], cap: int) -> list[str]:
    lines = [(f"at scale: calls from a generator, cap {cap}, each in a fresh process "
              "(LangGraph: a Send fan-out of as many nodes; DBOS: one workflow of as many steps); "
              f"times: median of {scale.get('rounds', 1)} interleaved rounds, memory: the largest growth"),
             (f"  {'variant':<31} {'calls':>10} {'us/call':>9} {'+us/call':>9} {'cpu us':>9} "
              f"{'+cpu us':>9} {'peak MiB':>9} {'grew MiB':>9}")]
    for name, n, wall, extra_wall, cpu, extra_cpu, rss, growth in scale_figures(scale):
        plus_wall = "" if extra_wall is None else f"{extra_wall:+9.1f}"
        plus_cpu = "" if extra_cpu is None else f"{extra_cpu:+9.1f}"
        lines.append(f"  {name:<31} {n:>10,} {wall:9.1f} {plus_wall:>9} {cpu:9.1f} {plus_cpu:>9} "
                     f"{rss:9.1f} {growth:9.1f}")
    if not scale.get("dbos", True):
        lines.append("  (DBOS rows left out: pip install dbos)")
    elif any(n > scale["dbos_max"] for n in scale["sizes"]):
        lines.append(f"  (DBOS rows only up to --dbos-max {scale['dbos_max']:,} calls: a few ms a step)")
    if not scale["postgres"]:
        lines.append("  (PostgreSQL rows left out: --pg URL, or --pg start with PostgreSQL installed)")
    return lines


def render(data: dict[str, Any], a: argparse.Namespace) -> str:
    lines = [(f"{a.n:,} calls, cap {a.cap}; median of {a.repeat} rounds, each running every variant once, "
              "in an order that rotates from round to round"),
             f"{'workload':<14} {'variant':<24} {'total s':>8} {'us/call':>9} {'+us/call':>9}"]
    for label, variants in data["runs"].items():
        base = None
        for name, seconds in variants.items():
            per = seconds / a.n * 1e6
            if base is None:
                base = per
            extra = "" if name == "no journal" else f"{per - base:+9.1f}"
            lines.append(f"{label:<14} {name:<24} {seconds:8.3f} {per:9.1f} {extra:>9}")
    first, resume = data["resume"]
    lines.append(
        f"resume of {a.n:,} finished calls (all replayed): {resume:.3f} s "
        f"({resume / a.n * 1e6:.1f} us/call; the journaled run took {first:.3f} s)"
    )
    graphs = data["graphs"]
    if graphs is None:
        lines.append("(LangGraph rows skipped: pip install 'skillstream[bench]')")
        return "\n".join(lines + render_scale(data["scale"], a.cap))
    lines.append(f"fan-out graph of {a.graph_n:,} no-op nodes (Send), cap {a.cap}:")
    for base_name, saved_name in GRAPH_PAIRS:
        base, saved = graphs[base_name], graphs[saved_name]
        lines.append(
            f"  {base_name:<12} {base / a.graph_n * 1e6:8.1f} us/node   "
            f"{saved_name:<30} {saved / a.graph_n * 1e6:8.1f} us/node "
            f"({(saved - base) / a.graph_n * 1e6:+.1f} us/node)"
        )
    return "\n".join(lines + render_scale(data["scale"], a.cap))


GRAPH_PAIRS = (("LangGraph", "LangGraph + AsyncSqliteSaver"), ("StateGraph", "StateGraph + journal"))


def bench(size: str) -> Figures:
    a = _args(["--size", size])
    data = measure_all(a)
    rows: dict[str, dict[str, float]] = {}
    for label, variants in data["runs"].items():
        for name, seconds in variants.items():
            rows.setdefault(name, {})[f"{label} us/call"] = seconds / a.n * 1e6
    first, resume = data["resume"]
    rows["resume (every result replayed)"] = {"us/call": resume / a.n * 1e6}
    derived = {f"{label} {name} +us/call": (seconds - variants["no journal"]) / a.n * 1e6
               for label, variants in data["runs"].items() for name, seconds in variants.items()
               if name != "no journal"}
    if data["graphs"] is not None:
        for name, seconds in data["graphs"].items():
            rows[name] = {"us/node": seconds / a.graph_n * 1e6}
        for base_name, saved_name in GRAPH_PAIRS:
            derived[f"{saved_name} +us/node"] = (
                data["graphs"][saved_name] - data["graphs"][base_name]) / a.graph_n * 1e6
    for name, n, wall, extra_wall, cpu, extra_cpu, rss, growth in scale_figures(data["scale"]):
        row = rows.setdefault(f"{name}, at scale", {})
        row[f"us/call, {n:,} calls"] = wall
        row[f"CPU us/call, {n:,} calls"] = cpu
        row[f"peak RSS MiB, {n:,} calls"] = rss
        derived[f"{name}, {n:,} calls: MiB grown"] = growth
        if extra_wall is not None and extra_cpu is not None:
            derived[f"{name}, {n:,} calls: +us/call"] = extra_wall
            derived[f"{name}, {n:,} calls: +CPU us/call"] = extra_cpu
    return Figures(
        title=f"What a journal costs: {a.n:,} calls, cap {a.cap}; a fan-out graph of {a.graph_n:,} nodes",
        text=render(data, a), rows=rows, derived=derived, markdown=False,
        params={"n": a.n, "cap": a.cap, "repeat": a.repeat, "graph_n": a.graph_n, "fsync": not a.no_full,
                "calls": a.calls, "langgraph_max": a.langgraph_max, "dbos_max": a.dbos_max,
                "postgres": data["scale"]["postgres"]},
    )


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if a.scale_only:
        print("\n".join(render_scale(measure_scale(a), a.cap)))
        return 0
    print(render(measure_all(a), a))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
