"""Benchmark "agent turn": a model streams 8 tool calls over 1.2 s; how long from the request
to the last tool result?

    pip install -e '.[bench,test]' && python -m benchmarks.agent_turn          # ~2 minutes
    python -m benchmarks.agent_turn --size small    # a smoke run: 3 scenarios, every time a quarter as long
    python -m benchmarks.agent_turn --overhead-only --reps 5 --overhead-calls 200   # the overhead rows alone

Over ``--scenarios`` seeded scenarios (``--seed``): in each, the 8 tools' durations are
drawn at random, uniform in 50-400 ms (``random.Random(seed + scenario)``), and every
implementation runs the same turn once, side by side in one process, order alternating
from scenario to scenario. Figures: medians over the scenarios, and the median and p95 of
the per-scenario ratios (each implementation's time against the ideal, each peer's time
against skillstream streaming's). The implementations:

- skillstream, streaming: ``run(toolset.calls_from_stream(stream))`` over the openai SDK's
  stream from the scripted model (``examples/servers/scripted_model.py``, HTTP on 127.0.0.1);
- skillstream after the whole message: the same stream read to its end, then
  ``run(toolset.calls(message))``;
- LangGraph's ``ToolNode``: the same stream read to its end, the message as an
  ``AIMessage`` with ``tool_calls``, through a LangGraph ``StateGraph`` whose tools node
  is ``langgraph.prebuilt.ToolNode(tools)``;
- skillstream's ``ToolNode`` in LangGraph: the same LangGraph graph with
  ``pipeline.ToolNode(tools)`` as its tools node (the drop-in for LangGraph users);
- pydantic-ai: an ``Agent`` whose ``FunctionModel`` answers the same 8 calls after the
  same 1.2 s, then a text (it runs tools once the model's response is complete).

The arguments of call *i* are complete at ``0.15 * (i + 1)`` s; the tools sleep 50-400 ms,
drawn per scenario (``--time-scale`` multiplies both).
The ideal is each tool starting the moment its arguments are complete:
``max(done_i + duration_i)``; after the whole message it is ``1.2 + max(duration_i)``.

Overhead per tool call: ``--overhead-calls`` no-op tool calls from one complete message,
from the message to the replies (skillstream: ``calls`` + ``run`` + ``replies``; ToolNode:
``ainvoke`` to its ``ToolMessage``s; pydantic-ai: a whole agent run with a
``FunctionModel`` asking for them, minus the same run asking for none), per call.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("agent_turn")

from benchmarks._figures import Figures, size_option  # noqa: E402
from pipeline import Toolset, run, skill  # noqa: E402

SIZES = {
    "small": {"scenarios": 3, "reps": 1, "overhead_calls": 50, "time_scale": 0.25},
    "full": {"scenarios": 30, "reps": 5, "overhead_calls": 500, "time_scale": 1.0},
}
SEED = 20240606
TOOL_RANGE = (0.05, 0.40)  # seconds a tool takes, drawn per scenario

DURATIONS = [0.40, 0.05, 0.30, 0.15, 0.35, 0.10, 0.25, 0.20]
DONE_AT = [0.15 * (i + 1) for i in range(len(DURATIONS))]
IDEAL_STREAMING = max(d + t for d, t in zip(DONE_AT, DURATIONS))
IDEAL_WHOLE = DONE_AT[-1] + max(DURATIONS)
_DURATIONS_1, _DONE_AT_1 = list(DURATIONS), list(DONE_AT)


def scenario_durations(seed: int, scenario: int) -> list[float]:
    """The 8 tools' durations (seconds, unscaled) of one seeded scenario."""
    rng = random.Random(seed + scenario)
    return [round(rng.uniform(*TOOL_RANGE), 3) for _ in range(len(_DURATIONS_1))]


def set_time_scale(factor: float, durations: list[float] | None = None) -> None:
    """Every duration (``durations``, by default the hand-picked ones) and every moment a
    call's arguments are complete, times ``factor``."""
    global IDEAL_STREAMING, IDEAL_WHOLE
    DURATIONS[:] = [d * factor for d in (durations or _DURATIONS_1)]
    DONE_AT[:] = [t * factor for t in _DONE_AT_1]
    IDEAL_STREAMING = max(d + t for d, t in zip(DONE_AT, DURATIONS))
    IDEAL_WHOLE = DONE_AT[-1] + max(DURATIONS)


def _scripted_model() -> ModuleType:
    if "scripted_model" in sys.modules:
        return sys.modules["scripted_model"]
    spec = importlib.util.spec_from_file_location("scripted_model", ROOT / "examples" / "servers" / "scripted_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scripted_model"] = module
    spec.loader.exec_module(module)
    return module


sm = _scripted_model()
ENDS: list[float] = []  # perf_counter() at each tool's end


async def _tool_body(index: int) -> dict[str, Any]:
    await asyncio.sleep(DURATIONS[index])
    ENDS.append(time.perf_counter())
    return {"index": index, "slept": DURATIONS[index]}


@skill(timeout=5)
async def lookup(index: int) -> dict[str, Any]:
    """Look something up (it takes 50-400 ms).

    Args:
        index: which thing.
    """
    return await _tool_body(index)


TOOLS = Toolset([lookup])


def _turn() -> Any:
    calls = [sm.ScriptedCall(f"call_{i}", "lookup", {"index": i}, done_at=DONE_AT[i]) for i in range(len(DONE_AT))]
    return sm.Turn(text="Looking everything up.", calls=calls)


async def _stream(client: Any) -> Any:
    return await client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "go"}], tools=TOOLS.schemas("openai"), stream=True,
    )


def _assemble(chunks: list[Any]) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each call of a whole streamed message."""
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for part in choice.delta.tool_calls or ():
                entry = calls.setdefault(part.index, ["", "", ""])
                entry[0] = part.id or entry[0]
                if part.function is not None:
                    entry[1] += part.function.name or ""
                    entry[2] += part.function.arguments or ""
    return [(i, n, a) for i, n, a in calls.values()]


# -- one turn each ---------------------------------------------------------------------------


def _over_ideal(model: Any) -> float:
    """The last result's lateness against the ideal on the model's own clock: each tool
    starting when the server sent its call's last argument piece."""
    sent = model.streams[-1].call_done
    return max(ENDS) - max(sent[f"call_{i}"] + d for i, d in enumerate(DURATIONS))


async def turn_skillstream_streaming(client: Any) -> float:
    asked = time.perf_counter()
    stream = await _stream(client)
    results = await run(TOOLS.calls_from_stream(stream), max_concurrency=None).collect()
    assert results.ok and len(results) == 8
    return max(ENDS) - asked


async def turn_skillstream_whole(client: Any) -> float:
    asked = time.perf_counter()
    stream = await _stream(client)
    chunks = [chunk async for chunk in stream]
    message = {"role": "assistant", "tool_calls": [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in _assemble(chunks)
    ]}
    results = await run(TOOLS.calls(message), max_concurrency=None).collect()
    assert results.ok and len(results) == 8
    return max(ENDS) - asked


def _langchain_tools() -> list[Any]:
    from langchain_core.tools import tool

    @tool
    async def lookup(index: int) -> dict[str, Any]:
        """Look something up (it takes 50-400 ms)."""
        return await _tool_body(index)

    return [lookup]


async def turn_toolnode(client: Any, node: Any) -> float:
    import json

    from langchain_core.messages import AIMessage

    asked = time.perf_counter()
    stream = await _stream(client)
    chunks = [chunk async for chunk in stream]
    message = AIMessage(content="", tool_calls=[
        {"id": i, "name": n, "args": json.loads(a), "type": "tool_call"} for i, n, a in _assemble(chunks)
    ])
    out = await node.ainvoke({"messages": [message]})
    assert len(out["messages"]) == 9  # the AIMessage and a ToolMessage per call
    return max(ENDS) - asked


def _tool_graph(tools: list[Any], ours: bool = False) -> Any:
    """ToolNode as agents run it: the tools node of LangGraph's graph over ``MessagesState``
    (it needs the graph's runtime; standalone ``ainvoke`` refuses). ``ours``: skillstream's
    ``ToolNode`` in the same LangGraph graph, in place of LangGraph's."""
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode as LangGraphToolNode

    from pipeline import ToolNode

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools) if ours else LangGraphToolNode(tools))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


def _pydantic_ai_agent(calls: int, delay: float, body: Callable[[int], Awaitable[Any]]) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    async def model(messages: list[Any], info: AgentInfo) -> ModelResponse:
        answered = any(isinstance(p, ToolReturnPart) for m in messages for p in getattr(m, "parts", ()))
        if answered or not calls:
            return ModelResponse(parts=[TextPart("done")])
        await asyncio.sleep(delay)  # the same calls, complete after the same time
        return ModelResponse(parts=[
            ToolCallPart("lookup", {"index": i}, tool_call_id=f"call_{i}") for i in range(calls)
        ])

    agent = Agent(FunctionModel(model))

    @agent.tool_plain
    async def lookup(index: int) -> Any:
        """Look something up."""
        return await body(index)

    return agent


async def turn_pydantic_ai(agent: Any) -> float:
    asked = time.perf_counter()
    result = await agent.run("go")
    assert result.output == "done"
    return max(ENDS) - asked


# -- overhead per call -----------------------------------------------------------------------


async def _noop_body(index: int) -> dict[str, int]:
    return {"index": index}


@skill
async def noop(index: int) -> dict[str, int]:
    """Do nothing."""
    return {"index": index}


async def overhead_skillstream(n: int) -> float:
    tools = Toolset([noop])
    message = {"role": "assistant", "tool_calls": [
        {"id": f"c{i}", "type": "function", "function": {"name": "noop", "arguments": f'{{"index": {i}}}'}}
        for i in range(n)
    ]}
    begun = time.perf_counter()
    results = await run(tools.calls(message), max_concurrency=None).collect()
    replies = tools.replies(results, "openai")
    took = time.perf_counter() - begun
    assert len(replies) == n and results.ok
    return took / n


async def overhead_toolnode(n: int, ours: bool = False) -> float:
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    @tool
    async def noop(index: int) -> dict[str, int]:
        """Do nothing."""
        return {"index": index}

    node = _tool_graph([noop], ours)
    message = AIMessage(content="", tool_calls=[
        {"id": f"c{i}", "name": "noop", "args": {"index": i}, "type": "tool_call"} for i in range(n)
    ])
    begun = time.perf_counter()
    out = await node.ainvoke({"messages": [message]})
    took = time.perf_counter() - begun
    assert len(out["messages"]) == n + 1
    return took / n


async def overhead_pydantic_ai(n: int) -> float:
    """A whole agent run with ``n`` calls against one without: the fastest of three of
    each, alternated (a single pair can come out negative on a busy machine)."""
    with_calls = _pydantic_ai_agent(n, 0.0, _noop_body)
    without = _pydantic_ai_agent(0, 0.0, _noop_body)
    took: dict[bool, float] = {True: math.inf, False: math.inf}
    for _ in range(3):
        for calls, agent in ((True, with_calls), (False, without)):
            begun = time.perf_counter()
            await agent.run("go")
            took[calls] = min(took[calls], time.perf_counter() - begun)
    return (took[True] - took[False]) / n


# -- the run ---------------------------------------------------------------------------------


def p95(xs: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


NAMES = ["skillstream streaming", "skillstream after the whole message", "LangGraph ToolNode",
         "skillstream ToolNode in LangGraph", "pydantic-ai"]


async def measure(scenarios: int, reps: int, overhead_calls: int, seed: int = SEED,
                  time_scale: float = 1.0) -> dict[str, dict[str, Any]]:
    """Per implementation: medians over the scenarios (``turn``, ``over``), the median and
    p95 of its per-scenario ratios (``vs_ideal``: turn / ideal streaming; ``vs_skillstream``:
    turn / skillstream streaming's), and the overhead per tool call (median of ``reps``)."""
    import openai

    node = _tool_graph(_langchain_tools())
    our_node = _tool_graph(_langchain_tools(), ours=True)
    agent = _pydantic_ai_agent(len(DURATIONS), DONE_AT[-1], _tool_body)
    model = sm.ScriptedModel([])
    names = NAMES
    turns: dict[str, list[float]] = {name: [] for name in names}
    vs_ideal: dict[str, list[float]] = {name: [] for name in names}
    vs_ss: dict[str, list[float]] = {name: [] for name in names}
    overheads: dict[str, list[float]] = {name: [] for name in names if name != "skillstream after the whole message"}
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        runners: dict[str, Callable[[], Awaitable[float]]] = {
            names[0]: lambda: turn_skillstream_streaming(client),
            names[1]: lambda: turn_skillstream_whole(client),
            names[2]: lambda: turn_toolnode(client, node),
            names[3]: lambda: turn_toolnode(client, our_node),
            names[4]: lambda: turn_pydantic_ai(agent),
        }
        over: dict[str, list[float]] = {name: [] for name in names}
        # Warm-up: imports, the SDKs' validators, pydantic-ai's graph (not measured).
        for name in names:
            model.script.append(_turn())
            ENDS.clear()
            await runners[name]()
        for scenario in range(scenarios):
            set_time_scale(time_scale, scenario_durations(seed, scenario))
            order = names if scenario % 2 == 0 else list(reversed(names))
            took_here: dict[str, float] = {}
            for name in order:
                model.script.append(_turn())
                ENDS.clear()
                streams = len(model.streams)
                took = took_here[name] = await runners[name]()
                turns[name].append(took)
                vs_ideal[name].append(took / IDEAL_STREAMING)
                # pydantic-ai's FunctionModel has no stream: against the nominal ideal.
                over[name].append(
                    _over_ideal(model) if len(model.streams) > streams else took - IDEAL_STREAMING
                )
            for name in names:
                vs_ss[name].append(took_here[name] / took_here[names[0]])
        set_time_scale(time_scale)
        for rep in range(reps):
            overheads["skillstream streaming"].append(await overhead_skillstream(overhead_calls))
            overheads["LangGraph ToolNode"].append(await overhead_toolnode(overhead_calls))
            overheads["skillstream ToolNode in LangGraph"].append(await overhead_toolnode(overhead_calls, ours=True))
            overheads["pydantic-ai"].append(await overhead_pydantic_ai(overhead_calls))
    return {
        name: {
            "turn": statistics.median(turns[name]),
            "over": statistics.median(over[name]),
            "overhead": statistics.median(overheads[name]) if name in overheads else float("nan"),
            "vs_ideal": (statistics.median(vs_ideal[name]), p95(vs_ideal[name])),
            "vs_skillstream": (statistics.median(vs_ss[name]), p95(vs_ss[name])),
        }
        for name in names
    }


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent_turn",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=int, help="seeded scenarios (tool durations drawn per scenario)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--reps", type=int, help="repetitions of the overhead measurement")
    parser.add_argument("--overhead-calls", type=int)
    parser.add_argument("--time-scale", type=float, help="multiplies the stream's and the tools' times")
    parser.add_argument("--overhead-only", action="store_true",
                        help="only the overhead per tool call (no turns): skillstream, both ToolNodes")
    return size_option(parser, SIZES, argv)


def render(figures: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lo, hi = (t * args.time_scale * 1000 for t in TOOL_RANGE)
    lines = [f"agent turn: 8 tool calls streamed over {DONE_AT[-1]:.1f} s, tools {lo:.0f}-{hi:.0f} ms drawn "
             f"per scenario; medians over {args.scenarios} seeded scenarios (seed {args.seed})",
             "",
             "| implementation | request -> last tool result | over the ideal | time / ideal: median, p95 "
             "| time / skillstream streaming: median, p95 | overhead per tool call |",
             "|---|---|---|---|---|---|"]
    for name, row in figures.items():
        overhead = "(same engine)" if row["overhead"] != row["overhead"] else f"{row['overhead'] * 1e6:.1f} µs"
        (im, ip), (sm_, sp) = row["vs_ideal"], row["vs_skillstream"]
        lines.append(f"| {name} | {row['turn'] * 1000:.1f} ms | +{row['over'] * 1000:.1f} ms | "
                     f"{im:.3f}×, {ip:.3f}× | {sm_:.2f}×, {sp:.2f}× | {overhead} |")
    lines += ["",
              "time / ideal: the turn against max(arguments complete + duration) of its scenario;",
              "time / skillstream streaming: the same scenario's turn against skillstream streaming's",
              "over the ideal: the last result against max(arguments sent + duration) on the server's clock",
              "(pydantic-ai, which has no stream here: against the nominal ideal from the request)",
              f"overhead: {args.overhead_calls} no-op tool calls from one complete message, per call"]
    return "\n".join(lines)


def _measured(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    set_time_scale(args.time_scale)
    try:
        return asyncio.run(measure(args.scenarios, args.reps, args.overhead_calls, args.seed,
                                   args.time_scale))
    finally:
        set_time_scale(1.0)


def bench(size: str) -> Figures:
    args = _args(["--size", size])
    figures = _measured(args)
    set_time_scale(args.time_scale)  # the text states the scaled times
    try:
        text = render(figures, args)
    finally:
        set_time_scale(1.0)
    rows = {}
    for name, row in figures.items():
        rows[name] = {"request to last result ms": row["turn"] * 1e3,
                      "time / ideal, median": row["vs_ideal"][0], "time / ideal, p95": row["vs_ideal"][1],
                      "time / skillstream streaming, median": row["vs_skillstream"][0],
                      "time / skillstream streaming, p95": row["vs_skillstream"][1]}
        if row["overhead"] == row["overhead"]:  # not NaN: the same engine shares the first row's
            rows[name]["overhead µs/tool call"] = row["overhead"] * 1e6
    return Figures(
        title=(f"Agent turn: 8 tool calls streamed, times x{args.time_scale:g}, "
               f"{args.scenarios} seeded scenarios"),
        text=text, rows=rows,
        derived={f"{name}: over the ideal ms": row["over"] * 1e3 for name, row in figures.items()},
        params={"scenarios": args.scenarios, "seed": args.seed, "reps": args.reps,
                "overhead_calls": args.overhead_calls, "time_scale": args.time_scale,
                "durations": [scenario_durations(args.seed, i) for i in range(args.scenarios)]},
    )


async def measure_overhead(reps: int, calls: int) -> dict[str, float]:
    """The overhead per tool call alone (median of ``reps``), the three measured
    alternately in one process after a warm-up run each."""
    runners: dict[str, Callable[[], Awaitable[float]]] = {
        "skillstream": lambda: overhead_skillstream(calls),
        "LangGraph ToolNode": lambda: overhead_toolnode(calls),
        "skillstream ToolNode in LangGraph": lambda: overhead_toolnode(calls, ours=True),
    }
    taken: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():
        await runner()
    for _ in range(reps):
        for name, runner in runners.items():
            taken[name].append(await runner())
    return {name: statistics.median(xs) for name, xs in taken.items()}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.overhead_only:
        figures = asyncio.run(measure_overhead(args.reps, args.overhead_calls))
        peer = figures["LangGraph ToolNode"]
        print(f"overhead per tool call: {args.overhead_calls} no-op calls from one message, median of {args.reps}")
        for name, took in figures.items():
            print(f"| {name} | {took * 1e6:.1f} µs | {took / peer:.2f}× LangGraph ToolNode |")
        return 0
    figures = _measured(args)
    set_time_scale(args.time_scale)
    try:
        print(render(figures, args))
    finally:
        set_time_scale(1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
