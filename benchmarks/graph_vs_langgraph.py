"""Benchmark: the same StateGraph code on LangGraph and on skillstream, in one run.

    pip install -e '.[bench,test]' && python -m benchmarks.graph_vs_langgraph        # ~1 minute
    python -m benchmarks.graph_vs_langgraph --size small    # a smoke run: once, every sleep a quarter as long

Each graph below is built by one function that takes the library's names (``StateGraph``,
``START``, ``END``, ``Send``, ``Command``): the code a LangGraph user has, with only the
import switched. Both libraries run it side by side in one process, alternating which goes
first, medians of ``--reps``; the final states are checked to be equal. ``--time-scale``
multiplies every sleep below.

- research graph: stock (0.10 s), news (0.20 s), financials (0.30 s) at once from START,
  then summarize (0.05 s). Ideal: 0.35 s. Both libraries reach it.
- agent loop: 3 turns of an agent (0.05 s, then once more to finish) that calls 4 tools at once (``Send``); each
  tool (0.05-0.20 s) hands its output to a parse step (0.20-0.05 s, the slower tool's the
  quicker) with ``Command(goto=Send("parse", ...))``; the parses go back to the agent.
  LangGraph runs all tools in one superstep and all parses in the next: per turn
  ``max(tool) + max(parse)`` = 0.40 s. Start-when-ready runs each parse when its tool is
  done: ``max(tool_i + parse_i)`` = 0.25 s. Ideal: 3 x (0.05 + 0.25) + 0.05 = 0.95 s;
  LangGraph's supersteps: 3 x (0.05 + 0.40) + 0.05 = 1.40 s.
- interrupt and resume: ``ask`` pauses at ``interrupt()`` at once, beside a chain fetch ->
  digest -> index (0.20 s each); ``report`` (0.05 s) joins ``ask`` and ``index``. Timed:
  from the answer (``invoke(Command(resume=...))``, in-memory checkpointer) to the final
  state. Start-when-ready ran the chain while the graph waited for the person, so only
  report is left: 0.05 s. LangGraph stops after the superstep of ask and fetch, so digest,
  index and report run after the answer: 0.45 s.
- overhead: no-op async nodes, per node run: a chain of 100 nodes, and a map of 500
  ``Send``s folded by a reducer.
- random graphs: ``--graphs`` seeded random layered DAGs (``workloads.make_dag`` with seed
  ``--seed + i``: 30 nodes in 3-8 layers, 10-100 ms each, 1-3 dependencies; fan-ins as
  ``add_edge([deps], node)``), each run once by each library, order alternating from graph
  to graph, with the final states checked equal. Figures: the median and p95 over the
  graphs of skillstream's time / LangGraph's, and of each library's time / the graph's
  critical path (the ideal).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import operator
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from typing_extensions import TypedDict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("graph")

from benchmarks._figures import Figures, size_option  # noqa: E402

SIZES = {"small": {"reps": 1, "time_scale": 0.25, "graphs": 4},
         "full": {"reps": 15, "time_scale": 1.0, "graphs": 40}}
SEED = 20240606
GRAPH_NODES = 30
GRAPH_RANGE = (0.010, 0.100)  # seconds a node takes

Names = tuple[Any, Any, Any, Any, Any]  # StateGraph, START, END, Send, Command

TOOL = [0.05, 0.10, 0.15, 0.20]
PARSE = [0.20, 0.15, 0.10, 0.05]
AGENT = 0.05
TURNS = 3
IDEAL_RESEARCH = 0.35
CHAIN = 0.20  # each of fetch, digest, index in the interrupt graph
REPORT = 0.05
IDEAL_RESUME = REPORT
LANGGRAPH_RESUME = 2 * CHAIN + REPORT
IDEAL_AGENT = TURNS * (AGENT + max(t + p for t, p in zip(TOOL, PARSE))) + AGENT
LANGGRAPH_AGENT = TURNS * (AGENT + max(TOOL) + max(PARSE)) + AGENT
_scale = 1.0  # every sleep times this (measure's time_scale)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds * _scale)


def libraries() -> dict[str, Names]:
    from pipeline import END, START, Command, Send, StateGraph

    libs: dict[str, Names] = {"skillstream": (StateGraph, START, END, Send, Command)}
    try:
        from langgraph.graph import END as LEND
        from langgraph.graph import START as LSTART
        from langgraph.graph import StateGraph as LStateGraph
        from langgraph.types import Command as LCommand
        from langgraph.types import Send as LSend
    except ImportError:
        print("LangGraph is not installed: pip install -e '.[bench]'", file=sys.stderr)
    else:
        libs["LangGraph"] = (LStateGraph, LSTART, LEND, LSend, LCommand)
    return libs


# -- the graphs: LangGraph user code, names passed in --------------------------------------


class Research(TypedDict, total=False):
    query: str
    stock_data: dict[str, Any]
    news_data: list[str]
    financial_data: dict[str, Any]
    briefing: str


def research_graph(names: Names) -> Any:
    StateGraph, START, END, Send, Command = names

    async def fetch_stock(state: Research) -> dict[str, Any]:
        await _sleep(0.10)
        return {"stock_data": {"symbol": state["query"], "price": 190.5}}

    async def fetch_news(state: Research) -> dict[str, Any]:
        await _sleep(0.20)
        return {"news_data": [f"{state['query']} beats estimates"]}

    async def fetch_financials(state: Research) -> dict[str, Any]:
        await _sleep(0.30)
        return {"financial_data": {"pe": 29}}

    async def summarize(state: Research) -> dict[str, Any]:
        await _sleep(0.05)
        return {"briefing": f"{state['query']}: {state['stock_data']['price']}, P/E {state['financial_data']['pe']}"}

    graph = StateGraph(Research)
    graph.add_node("stock", fetch_stock)
    graph.add_node("news", fetch_news)
    graph.add_node("financials", fetch_financials)
    graph.add_node("summarize", summarize)
    for name in ("stock", "news", "financials"):
        graph.add_edge(START, name)
    graph.add_edge(["stock", "news", "financials"], "summarize")
    graph.add_edge("summarize", END)
    return graph.compile()


class Agent(TypedDict):
    turn: int
    log: Annotated[list[str], operator.add]


def agent_graph(names: Names) -> Any:
    StateGraph, START, END, Send, Command = names

    async def agent(state: Agent) -> dict[str, Any]:
        await _sleep(AGENT)
        return {"turn": state["turn"] + 1, "log": [f"agent{state['turn']}"]}

    def route(state: Agent) -> Any:
        return [Send("tool", i) for i in range(len(TOOL))] if state["turn"] <= TURNS else END

    async def tool(i: int) -> Any:
        await _sleep(TOOL[i])
        return Command(update={"log": [f"tool{i}"]}, goto=Send("parse", i))

    async def parse(i: int) -> dict[str, Any]:
        await _sleep(PARSE[i])
        return {"log": [f"parse{i}"]}

    graph = StateGraph(Agent)
    graph.add_node("agent", agent)
    graph.add_node("tool", tool)
    graph.add_node("parse", parse)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route)
    graph.add_edge("parse", "agent")
    return graph.compile()


class Count(TypedDict):
    n: int
    seen: Annotated[list[int], operator.add]


class Review(TypedDict, total=False):
    answer: str
    log: Annotated[list[str], operator.add]


def interrupt_graph(names: Names, interrupt: Any, checkpointer: Any) -> Any:
    StateGraph, START, END = names[:3]

    async def ask(state: Review) -> dict[str, Any]:
        return {"answer": interrupt("Which format?")}

    def step(name: str, seconds: float) -> Any:
        async def run(state: Review) -> dict[str, Any]:
            await _sleep(seconds)
            return {"log": [name if name != "report" else f"report as {state['answer']}"]}

        return run

    graph = StateGraph(Review)
    graph.add_node("ask", ask)
    for name in ("fetch", "digest", "index"):
        graph.add_node(name, step(name, CHAIN))
    graph.add_node("report", step("report", REPORT))
    graph.add_edge(START, "ask")
    graph.add_edge(START, "fetch")
    graph.add_edge("fetch", "digest")
    graph.add_edge("digest", "index")
    graph.add_edge(["ask", "index"], "report")
    graph.add_edge("report", END)
    return graph.compile(checkpointer=checkpointer)


def _interrupt_names() -> dict[str, tuple[Any, Any, Any]]:
    """Each library's ``interrupt``, ``Command`` and in-memory checkpointer class."""
    from pipeline import Command, InMemorySaver, interrupt

    found: dict[str, tuple[Any, Any, Any]] = {"skillstream": (interrupt, Command, InMemorySaver)}
    try:
        from langgraph.checkpoint.memory import InMemorySaver as LSaver
        from langgraph.types import Command as LCommand
        from langgraph.types import interrupt as linterrupt
    except ImportError:
        pass
    else:
        found["LangGraph"] = (linterrupt, LCommand, LSaver)
    return found


async def _interrupt_case(libs: dict[str, Names], reps: int) -> dict[str, float]:
    """Median seconds from the answer to the final state, per library."""
    extra = _interrupt_names()
    times: dict[str, list[float]] = {name: [] for name in libs if name in extra}
    outs: dict[str, Any] = {}
    for rep in range(reps + 1):  # the first round warms up
        order = list(times) if rep % 2 == 0 else list(reversed(times))
        for name in order:
            interrupt, command, saver = extra[name]
            app = interrupt_graph(libs[name], interrupt, saver())
            config = {"configurable": {"thread_id": f"review-{rep}"}}
            paused = await app.ainvoke({"log": []}, config)
            assert "__interrupt__" in paused, paused
            t0 = time.perf_counter()
            outs[name] = await app.ainvoke(command(resume="pdf"), config)
            if rep:
                times[name].append(time.perf_counter() - t0)
    first = next(iter(outs.values()))
    row = {name: statistics.median(ts) for name, ts in times.items()}
    row["same final state"] = float(all(out == first for out in outs.values()))
    return row


def chain_graph(names: Names, length: int = 100) -> Any:
    StateGraph, START, END, Send, Command = names

    async def step(state: Count) -> dict[str, Any]:
        return {"n": state["n"] + 1}

    graph = StateGraph(Count)
    for i in range(length):
        graph.add_node(f"s{i}", step)
        graph.add_edge(START if i == 0 else f"s{i - 1}", f"s{i}")
    return graph.compile()


def map_graph(names: Names, width: int = 500) -> Any:
    StateGraph, START, END, Send, Command = names

    async def work(i: int) -> dict[str, Any]:
        return {"seen": [i]}

    graph = StateGraph(Count)
    graph.add_node("work", work)
    graph.add_conditional_edges(START, lambda state: [Send("work", i) for i in range(width)])
    return graph.compile()


class DagState(TypedDict):
    done: Annotated[list[int], operator.add]


def random_dag(seed: int) -> Any:
    """One seeded random layered DAG (``benchmarks.workloads.Dag``), durations unscaled."""
    from benchmarks.workloads import make_dag

    layers = random.Random(seed).randint(3, 8)
    return make_dag(GRAPH_NODES, *GRAPH_RANGE, seed=seed, n_layers=layers)


def dag_graph(names: Names, dag: Any) -> Any:
    """The DAG as a StateGraph (one node per DAG node, fan-ins as ``add_edge([deps], n)``),
    each node sleeping its duration and appending its id to ``done``."""
    from benchmarks.peers import wire_state_graph

    StateGraph, START, END, Send, Command = names

    async def work(node: Any, *deps: Any) -> None:
        await _sleep(node.duration)

    graph = StateGraph(DagState)
    wire_state_graph(graph, dag, work, START, END)
    return graph.compile()


def p95(xs: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def measure_random(graphs: int, seed: int = SEED, time_scale: float = 1.0) -> dict[str, Any]:
    """Each library on ``graphs`` seeded random DAGs: per library, the median and p95 of
    time / critical path; skillstream / LangGraph likewise; whether every final state
    matched."""
    global _scale
    _scale = time_scale
    try:
        libs = libraries()
        vs_cp: dict[str, list[float]] = {name: [] for name in libs}
        ratio: list[float] = []
        same = True
        warm = random_dag(seed - 1)
        for name, names in libs.items():  # warm-up: imports, first compile
            await timed(dag_graph(names, warm), {"done": []})
        for g in range(graphs):
            dag = random_dag(seed + g)
            cp = dag.critical_path() * time_scale
            order = list(libs) if g % 2 == 0 else list(reversed(libs))
            took: dict[str, float] = {}
            outs: dict[str, Any] = {}
            for name in order:
                app = dag_graph(libs[name], dag)
                took[name], out = await timed(app, {"done": []})
                outs[name] = sorted(out["done"])
                vs_cp[name].append(took[name] / cp)
            same = same and all(o == sorted(n.id for n in dag.nodes) for o in outs.values())
            if "LangGraph" in took:
                ratio.append(took["skillstream"] / took["LangGraph"])
        out: dict[str, Any] = {"vs_critical_path": {name: (statistics.median(v), p95(v))
                                                    for name, v in vs_cp.items()},
                               "same final state": same, "graphs": graphs, "seed": seed}
        if ratio:
            out["skillstream / LangGraph"] = (statistics.median(ratio), p95(ratio))
        return out
    finally:
        _scale = 1.0


# -- measuring ----------------------------------------------------------------------------


async def timed(app: Any, state: dict[str, Any]) -> tuple[float, Any]:
    config = {"recursion_limit": 1000}
    t0 = time.perf_counter()
    out = await app.ainvoke(state, config)
    return time.perf_counter() - t0, out


async def measure(reps: int, time_scale: float = 1.0) -> dict[str, dict[str, float]]:
    global _scale
    _scale = time_scale
    try:
        return await _measure(reps)
    finally:
        _scale = 1.0


async def _measure(reps: int) -> dict[str, dict[str, float]]:
    libs = libraries()
    cases: list[tuple[str, Callable[[Names], Any], dict[str, Any], float]] = [
        ("research graph", research_graph, {"query": "AAPL"}, 1),
        ("agent loop", agent_graph, {"turn": 0, "log": []}, 1),
        ("chain of 100 (µs/node)", chain_graph, {"n": 0, "seen": []}, 100),
        ("map of 500 Sends (µs/node)", map_graph, {"n": 0, "seen": []}, 500),
    ]
    table: dict[str, dict[str, float]] = {}
    for case, build, state, per in cases:
        apps = {name: build(names) for name, names in libs.items()}
        times: dict[str, list[float]] = {name: [] for name in apps}
        outs: dict[str, Any] = {}
        for rep in range(reps + 1):  # the first round warms up
            order = list(apps) if rep % 2 == 0 else list(reversed(apps))
            for name in order:
                elapsed, out = await timed(apps[name], state)
                outs[name] = out
                if rep:
                    times[name].append(elapsed)
        first = next(iter(outs.values()))
        same = all(out == first for out in outs.values())
        row = {name: statistics.median(ts) / per * (1e6 if per > 1 else 1) for name, ts in times.items()}
        row["same final state"] = float(same)
        table[case] = row
    table["interrupt: answer to end"] = await _interrupt_case(libs, reps)
    return table


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.graph_vs_langgraph",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int)
    parser.add_argument("--time-scale", type=float, help="multiplies every sleep")
    parser.add_argument("--graphs", type=int, help="seeded random graphs")
    parser.add_argument("--seed", type=int, default=SEED)
    return size_option(parser, SIZES, argv)


def render(table: dict[str, dict[str, float]], reps: int, scale: float) -> str:
    libs = [name for name in next(iter(table.values())) if name != "same final state"]
    lines = [f"{'':30}" + "".join(f"{name:>14}" for name in libs) + f"{'ideal':>10}  same state"]
    ideals = {"research graph": IDEAL_RESEARCH * scale, "agent loop": IDEAL_AGENT * scale,
              "interrupt: answer to end": IDEAL_RESUME * scale}
    for case, row in table.items():
        fmt = "{:>11.1f} µs" if "µs" in case else "{:>12.3f} s"
        cells = "".join(fmt.format(row[name]) for name in libs)
        ideal = f"{ideals[case]:>8.2f} s" if case in ideals else f"{'':>10}"
        lines.append(f"{case:30}{cells}{ideal}  {'yes' if row['same final state'] else 'NO'}")
    lines.append(f"(LangGraph's supersteps give the agent loop {LANGGRAPH_AGENT * scale:.2f} s and the resume "
                 f"{LANGGRAPH_RESUME * scale:.2f} s; medians of {reps}"
                 + (f"; every sleep x{scale:g})" if scale != 1 else ")"))
    return "\n".join(lines)


def render_random(r: dict[str, Any], scale: float) -> str:
    lo, hi = (t * scale * 1e3 for t in GRAPH_RANGE)
    lines = [f"random graphs: {r['graphs']} seeded DAGs (seed {r['seed']}), {GRAPH_NODES} nodes in 3-8 layers, "
             f"{lo:g}-{hi:g} ms each; median, p95 over the graphs"]
    for name, (med, top) in r["vs_critical_path"].items():
        lines.append(f"  {name + ': time / critical path':44}{med:>8.3f}x {top:>8.3f}x")
    if "skillstream / LangGraph" in r:
        med, top = r["skillstream / LangGraph"]
        lines.append(f"  {'skillstream time / LangGraph time':44}{med:>8.3f}x {top:>8.3f}x")
    lines.append(f"  same final states: {'yes' if r['same final state'] else 'NO'}")
    return "\n".join(lines)


def _random_figures(r: dict[str, Any]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    rows = {name: {"random graphs: time / critical path, median": med,
                   "random graphs: time / critical path, p95": top}
            for name, (med, top) in r["vs_critical_path"].items()}
    derived = {"random graphs: same final state": float(r["same final state"])}
    if "skillstream / LangGraph" in r:
        med, top = r["skillstream / LangGraph"]
        rows["skillstream"]["random graphs: skillstream / LangGraph, median"] = med
        rows["skillstream"]["random graphs: skillstream / LangGraph, p95"] = top
    return rows, derived


def bench(size: str) -> Figures:
    args = _args(["--size", size])
    table = asyncio.run(measure(args.reps, args.time_scale))
    rand = asyncio.run(measure_random(args.graphs, args.seed, args.time_scale))
    libs = [name for name in next(iter(table.values())) if name != "same final state"]
    units = {case: ("µs/node" if "µs" in case else "s") for case in table}
    rows = {lib: {f"{case.split(' (')[0]} {units[case]}": table[case][lib] for case in table} for lib in libs}
    rrows, rderived = _random_figures(rand)
    for lib, values in rrows.items():
        rows.setdefault(lib, {}).update(values)
    return Figures(
        title=(f"The same StateGraph code on skillstream and LangGraph: medians of {args.reps}, "
               f"{args.graphs} seeded random graphs, sleeps x{args.time_scale:g}"),
        text=render(table, args.reps, args.time_scale) + "\n\n" + render_random(rand, args.time_scale),
        markdown=False, rows=rows,
        derived={**{f"{case}: same final state": table[case]["same final state"] for case in table}, **rderived},
        params={"reps": args.reps, "time_scale": args.time_scale, "graphs": args.graphs, "seed": args.seed},
    )


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    table = asyncio.run(measure(args.reps, args.time_scale))
    print(render(table, args.reps, args.time_scale))
    print()
    print(render_random(asyncio.run(measure_random(args.graphs, args.seed, args.time_scale)), args.time_scale))


if __name__ == "__main__":
    main()
