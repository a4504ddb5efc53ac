"""Every benchmark from one command: ``python -m benchmarks``.

    python -m benchmarks --list                           # what there is, and what runs here
    python -m benchmarks --size small                     # every benchmark, smoke size (about a minute)
    python -m benchmarks --size full --results benchmarks/RESULTS.md   # the figures (long)
    python -m benchmarks --size small --only hedge,graph  # some of them
    python -m benchmarks --only overhead,dag              # some workloads of the core benchmark

Each benchmark is also a module that runs alone (``python -m benchmarks.hedge --size
small``). A benchmark whose package or program is missing here is reported in one line and
skipped (``--strict``: a skipped benchmark fails the run). Figures are printed, written to
JSON (``--output``) and, with ``--results``, into that benchmark's section of RESULTS.md,
with the machine and the commit they were taken on; the other sections are kept.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import importlib.util
import json
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/suite.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._figures import SIZE_NAMES, Figures  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_JSON = HERE / "results" / "latest.json"
RESULTS_MD = HERE / "RESULTS.md"

BENCH = "pip install -e '.[bench]'"
HINTS = {
    "ray": "pip install -e '.[ray]'",
    "openai": "pip install -e '.[openai]'",
    "rich": "pip install -e '.[progress]'",
    "nginx": "apt-get install nginx-light",
}


@dataclass(frozen=True)
class Benchmark:
    key: str
    module: str
    measures: str
    #: the implementations its figures name (each must have figures: the smoke test checks)
    peers: tuple[str, ...]
    #: packages it imports
    packages: tuple[str, ...] = ()
    #: programs it starts (on PATH, or in /usr/sbin, /usr/local/sbin)
    programs: tuple[str, ...] = ()
    #: of its packages and programs, those a machine may well lack (ray, nginx): each is a
    #: pytest marker, and the smoke test runs the benchmark only under that marker
    optional: tuple[str, ...] = ()


CORE_PEERS = ("skillstream", "skillstream_stategraph", "asyncio_gather", "asyncio_features",
              "asyncio_taskgroup_timeout", "asyncio_taskgroup", "asyncio_workers",
              "asyncio_workers_notimeout", "asyncio_workers_objects", "aiostream", "reactivex",
              "langgraph")

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "core", "benchmarks.run",
        "per-call overhead, latency efficiency, time to first result, DAG makespan, memory per "
        "call in flight, peak RSS and throughput, against asyncio (gather, semaphore, worker "
        "pool), aiostream, reactivex and LangGraph",
        CORE_PEERS,
    ),
    Benchmark(
        "scale", "benchmarks.scale",
        "10^5 lazy calls suspending once (10^6 at full size), caps 100 and 1,000, on asyncio "
        "and uvloop, with and without a 3e6-object live heap: skillstream without and with a "
        "per-call timeout against Semaphore + TaskGroup and a bounded worker pool, each run in "
        "a fresh process",
        ("skillstream", "skillstream_timeout", "asyncio_taskgroup", "asyncio_workers_notimeout",
         "asyncio_taskgroup_timeout", "asyncio_workers", "asyncio_features"),
    ),
    Benchmark(
        "hedge", "benchmarks.hedge",
        "p50/p99 latency against a server with a slow tail, plain calls against Hedge(after=p95) "
        "with and without budget=0.05, rounds interleaved, and the extra requests hedging sends",
        ("plain", "Hedge(after=p95)", "Hedge(after=p95, budget=0.05)"), packages=("aiohttp",),
    ),
    Benchmark(
        "rate_limit", "benchmarks.rate_limit",
        "achieved rate and 429s against a strict nginx limit_req, at its rate and twice it: "
        "RateLimit (adaptive too) against aiolimiter",
        ("skillstream", "aiolimiter (rate, 1 s)", "aiolimiter (1, 1/rate s)", "skillstream adaptive, 2x rate"),
        packages=("aiohttp", "aiolimiter"), programs=("nginx",), optional=("nginx",),
    ),
    Benchmark(
        "journal", "benchmarks.journal_overhead",
        "what a journal (SQLite, PostgreSQL) adds per call and to memory up to 10^6 calls, what a "
        "resume costs; a journaled StateGraph against LangGraph with its SQLite and Postgres savers",
        ("no journal", "journal (NORMAL)", "journal (FULL, fsync)", "resume (every result replayed)",
         "StateGraph", "StateGraph + journal", "LangGraph", "LangGraph + AsyncSqliteSaver",
         "no journal, at scale", "SQLite journal, at scale", "LangGraph, at scale",
         "LangGraph + AsyncSqliteSaver, at scale"),
        packages=("langgraph", "langgraph.checkpoint.sqlite"),
    ),
    Benchmark(
        "events", "benchmarks.events_overhead",
        "CPU cost of watching a run: plain, collect(), events() and the progress view",
        ("plain async for (nothing listening)", "collect()", "events()", "progress view on"),
        packages=("rich",),
    ),
    Benchmark(
        "ray", "benchmarks.ray_overhead",
        "Ray skills against raw Ray: per-call overhead, a CPU fan-out, a DAG, peak driver memory",
        ("raw_ray", "skillstream", "raw_ray_two_returns", "ray_get_batch"),
        packages=("ray",), optional=("ray",),
    ),
    Benchmark(
        "agent_turn", "benchmarks.agent_turn",
        "an agent turn of 8 streamed tool calls, request to last result, and overhead per tool "
        "call: against LangGraph's ToolNode and pydantic-ai",
        ("skillstream streaming", "skillstream after the whole message", "LangGraph ToolNode", "pydantic-ai"),
        packages=("openai", "langgraph", "langchain_core", "pydantic_ai"),
    ),
    Benchmark(
        "plans", "benchmarks.plans",
        "questions whose tool calls depend on each other (2-way, 8-way, a graph of lookups "
        "feeding arithmetic): one planning turn against a turn per step (skillstream, "
        "LangGraph's ToolNode, pydantic-ai, the OpenAI Agents SDK) and ReAct's turn per call",
        ("skillstream plan", "skillstream, a turn per step", "LangGraph ToolNode", "pydantic-ai",
         "OpenAI Agents SDK", "ReAct"),
        packages=("langgraph", "langchain_core", "pydantic_ai", "agents"),
    ),
    Benchmark(
        "graph", "benchmarks.graph_vs_langgraph",
        "the same StateGraph code on skillstream and on LangGraph: a fan-in, an agent loop, "
        "per-node overhead",
        ("skillstream", "LangGraph"), packages=("langgraph",),
    ),
)


def registry() -> dict[str, Benchmark]:
    return {b.key: b for b in BENCHMARKS}


def _workload_keys() -> list[str]:
    from benchmarks.run import WORKLOAD_KEYS

    return list(WORKLOAD_KEYS)


def _has_package(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _has_program(name: str) -> bool:
    return bool(shutil.which(name)) or any(
        os.access(os.path.join(d, name), os.X_OK) for d in ("/usr/sbin", "/usr/local/sbin"))


def missing(b: Benchmark) -> str | None:
    """Why ``b`` cannot run here (what to install), or None."""
    lacking = [p for p in b.packages if not _has_package(p)]
    lacking += [p for p in b.programs if not _has_program(p)]
    if not lacking:
        return None
    hints = sorted({HINTS.get(p.split(".")[0], BENCH) for p in lacking})
    return f"needs {', '.join(lacking)} ({'; '.join(hints)})"


# --------------------------------------------------------------------------- RESULTS.md

RESULTS_HEADER = """# skillstream benchmarks — results

Each section is written by the run that took its figures (`python -m benchmarks --results
benchmarks/RESULTS.md`), with that run's machine and commit; a run rewrites the sections of
the benchmarks it ran and keeps the others. How to run them: `benchmarks/README.md`.
"""

_SECTION = re.compile(r"<!-- begin: (?P<key>[\w-]+) -->\n(?P<body>.*?)<!-- end: (?P=key) -->\n?", re.S)


def read_sections(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {m["key"]: m["body"] for m in _SECTION.finditer(path.read_text())}


def write_sections(path: Path, new: Mapping[str, str]) -> None:
    """Rewrite ``path`` with ``new`` sections (key -> markdown) replacing those it has, the
    others kept, in the registry's order (unknown keys last)."""
    sections = read_sections(path)
    sections.update({k: v.rstrip("\n") + "\n" for k, v in new.items()})
    order = [b.key for b in BENCHMARKS] + sorted(set(sections) - set(registry()))
    parts = [RESULTS_HEADER]
    for key in order:
        if key in sections:
            parts.append(f"<!-- begin: {key} -->\n{sections[key]}<!-- end: {key} -->\n")
    path.write_text("\n".join(parts))


def section(b: Benchmark, figures: Figures, meta: dict[str, Any], seconds: float) -> str:
    if figures.section is not None:
        return figures.section
    mach = meta["machine"]
    body = figures.text if figures.markdown else f"```\n{figures.text}\n```"
    return (
        f"## {b.key}: {figures.title}\n\n"
        f"`python -m benchmarks --only {b.key} --size {meta['size']}`, {meta['date']}, "
        f"{seconds:.0f} s, at commit `{meta['commit']}`.\n"
        f"**Machine:** {mach['cpu']}, {mach['cores']} cores, {mach['memory']} RAM; "
        f"{mach['python']}; {mach['platform']}.\n\n"
        f"{body}\n"
    )


# --------------------------------------------------------------------------- the run


def _bench(b: Benchmark, size: str, core: dict[str, Any]) -> Figures:
    module = importlib.import_module(b.module)
    figures: Figures = module.bench(size, **core) if b.key == "core" else module.bench(size)
    problems = figures.problems()
    # (the core benchmark names them all when it runs every workload for every peer)
    partial = b.key == "core" and bool(core.get("workloads") or core.get("peers"))
    lacking = [] if partial else [p for p in b.peers if p not in figures.rows]
    if lacking:
        problems.append(f"no figures for {', '.join(lacking)}")
    if problems:
        raise RuntimeError("malformed figures: " + "; ".join(problems))
    return figures


def list_benchmarks() -> str:
    lines = []
    for b in BENCHMARKS:
        why = missing(b)
        state = f"skipped here: {why}" if why else "runs here"
        lines += [f"{b.key:<11} python -m {b.module}  ({state})",
                  f"{'':<11} {b.measures}",
                  f"{'':<11} implementations: {', '.join(b.peers)}"]
    lines.append(f"\ncore workloads (--only selects them too): {', '.join(_workload_keys())}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="benchmarks: " + ", ".join(b.key for b in BENCHMARKS))
    ap.add_argument("--size", choices=SIZE_NAMES, default="full",
                    help="small: smoke sizes, seconds each; full: the figures (default)")
    ap.add_argument("--only", default=None,
                    help="comma-separated benchmarks (--list), or workloads of the core benchmark")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and what they need")
    ap.add_argument("--output", type=Path, default=DEFAULT_JSON, help="JSON output path")
    ap.add_argument("--results", type=Path, default=None, metavar="RESULTS.md",
                    help="write the figures into this markdown file, a section per benchmark")
    ap.add_argument("--write-results-md", action="store_true",
                    help=f"the same as --results {RESULTS_MD.relative_to(ROOT)}")
    ap.add_argument("--strict", action="store_true", help="a benchmark skipped here fails the run")
    ap.add_argument("--peers", default=None, help="core benchmark: comma-separated peer keys")
    ap.add_argument("--reps", type=int, default=None, help="core benchmark: repetitions")
    a = ap.parse_args(argv)
    if a.list:
        print(list_benchmarks())
        return 0
    known = registry()
    workloads = _workload_keys()
    keys = list(known)
    core: dict[str, Any] = {"peers": a.peers.split(",") if a.peers else None, "reps": a.reps}
    if a.only:
        wanted = [k.strip() for k in a.only.split(",") if k.strip()]
        unknown = [k for k in wanted if k not in known and k not in workloads]
        if unknown:
            ap.error(f"unknown benchmarks {unknown}; known: {', '.join(known)} "
                     f"(and the core workloads: {', '.join(workloads)})")
        picked = [k for k in wanted if k in workloads]
        if picked:
            core["workloads"] = picked
        keys = [k for k in known if k in wanted or (k == "core" and picked)]
    results_path = a.results or (RESULTS_MD if a.write_results_md else None)

    from benchmarks.run import _git_rev, machine

    meta: dict[str, Any] = {
        "size": a.size, "machine": machine(), "commit": _git_rev(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    out: dict[str, Any] = {"meta": meta, "benchmarks": {}}
    sections: dict[str, str] = {}
    failed, skipped = [], []
    for key in keys:
        b = known[key]
        why = missing(b)
        if why:
            print(f"{key}: skipped: {why}", flush=True)
            out["benchmarks"][key] = {"skipped": why}
            skipped.append(key)
            continue
        print(f"{key}: running (--size {a.size}) …", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            figures = _bench(b, a.size, core)
        except Exception as e:  # noqa: BLE001 - report it, run the others
            traceback.print_exc()
            print(f"{key}: FAILED: {type(e).__name__}: {e}", flush=True)
            out["benchmarks"][key] = {"error": f"{type(e).__name__}: {e}"}
            failed.append(key)
            continue
        seconds = time.perf_counter() - t0
        print(f"\n## {key}: {figures.title}\n\n{figures.text}\n", flush=True)
        out["benchmarks"][key] = {**figures.to_json(), "seconds": round(seconds, 1)}
        sections[key] = section(b, figures, meta, seconds)
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {a.output}", file=sys.stderr)
    if results_path is not None and sections:
        write_sections(results_path, sections)
        print(f"wrote {results_path} ({', '.join(sections)})", file=sys.stderr)
    ran = len(keys) - len(failed) - len(skipped)
    print(f"{ran} ran, {len(skipped)} skipped, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else ""), flush=True)
    return 1 if failed or (a.strict and skipped) else 0


if __name__ == "__main__":
    raise SystemExit(main())
