"""Benchmark "plans": questions whose tool calls depend on each other, answered with one
planning turn (``Toolset(references=True)``) against one model turn per step.

    python -m benchmarks.plans                  # the figures (~2 minutes)
    python -m benchmarks.plans --size small     # a smoke run: 2 scenarios a shape, times x0.1

Three shapes of question, as in the LLMCompiler paper's benchmarks, drawn per scenario from
one seed (``random.Random(seed + scenario)``):

- ``hotpotqa``: 2 lookups, independent (compare two things);
- ``movie``: 8 lookups, independent (rank 8 films);
- ``parallelqa``: 2 to 5 lookups feeding 1 or 2 arithmetic steps (the second takes the
  first's result): a graph of depth 2 or 3.

A lookup takes a lognormal time (median 300 ms, sigma 0.6); an arithmetic step 10 ms. A
model turn takes a lognormal time to its first token (median 500 ms, sigma 0.3), drawn per
turn, then 80 ms per tool call it writes. Every implementation sees the same draws. The
figure is the time from the first request to the last tool result (the answer's inputs; the
final answer's turn is the same for all and left out).

- ``skillstream plan``: one turn writes the whole plan, later calls taking earlier calls'
  results (``{"result_of": N}``); ``run(toolset.calls_from_stream(stream))`` starts each
  call when its arguments are complete and its inputs have values.
- ``skillstream, a turn per step``: parallel tool calls, streamed, one turn per level of the
  graph (the model reads the results before it writes the next level).
- ``LangGraph ToolNode``, ``pydantic-ai`` and ``OpenAI Agents SDK`` (``Runner.run`` with a
  scripted ``Model``): parallel tool calls after the whole message, one turn per level.
- ``ReAct``: one tool call per model turn, as in the paper's baseline.

The ideal of the plan: each call starting when both its arguments are complete and its
inputs have ended. The model's stream is simulated in this process (OpenAI Chat Completions
chunks as dicts, on the event loop's clock), so only scheduling is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if __name__ == "__main__":  # a package missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("plans")

from benchmarks._figures import Figures, size_option
from pipeline import Toolset, run, skill

SIZES = {
    "small": {"scenarios": 2, "time_scale": 0.1},
    "full": {"scenarios": 20, "time_scale": 1.0},
}
SEED = 20240701
SHAPES = ("hotpotqa", "movie", "parallelqa")
LOOKUP_MEDIAN, LOOKUP_SIGMA = 0.30, 0.6
CALC = 0.01
TTFT_MEDIAN, TTFT_SIGMA = 0.50, 0.3
PER_CALL = 0.08  # seconds the model takes to write one tool call

# -- scenarios -------------------------------------------------------------------------------


@dataclass
class Node:
    """One tool call of a question's graph."""

    kind: Literal["lookup", "combine"]
    duration: float
    entity: str = ""
    op: str = "sum"
    inputs: list[int] = field(default_factory=list)  # 0-based indexes of earlier nodes

    def level(self, nodes: list[Node]) -> int:
        return 1 + max((nodes[i].level(nodes) for i in self.inputs), default=0)


@dataclass
class Scenario:
    shape: str
    nodes: list[Node]
    ttft: list[float]  # the time to first token of turn 1, 2, ...

    def levels(self) -> list[list[int]]:
        depth = max(n.level(self.nodes) for n in self.nodes)
        return [[i for i, n in enumerate(self.nodes) if n.level(self.nodes) == d] for d in range(1, depth + 1)]


def scenario(shape: str, seed: int, index: int, scale: float) -> Scenario:
    rng = random.Random(f"{seed}-{shape}-{index}")

    def lookup(i: int) -> Node:
        return Node("lookup", scale * rng.lognormvariate(math.log(LOOKUP_MEDIAN), LOOKUP_SIGMA), f"{shape}-{index}-{i}")

    if shape == "hotpotqa":
        nodes = [lookup(i) for i in range(2)]
    elif shape == "movie":
        nodes = [lookup(i) for i in range(8)]
    else:
        k = rng.randint(2, 5)
        nodes = [lookup(i) for i in range(k)]
        first = sorted(rng.sample(range(k), min(k, 2)))
        nodes.append(Node("combine", scale * CALC, op=rng.choice(["sum", "product", "max"]), inputs=first))
        rest = [i for i in range(k) if i not in first]
        if rest or rng.random() < 0.5:  # a second step, taking the first's result
            nodes.append(Node("combine", scale * CALC, op=rng.choice(["sum", "max", "min"]), inputs=[k, *rest]))
    ttft = [scale * rng.lognormvariate(math.log(TTFT_MEDIAN), TTFT_SIGMA) for _ in range(16)]
    return Scenario(shape, nodes, ttft)


def values_of(s: Scenario) -> list[float]:
    """Each node's value (what every implementation must get)."""
    out: list[float] = []
    for n in s.nodes:
        out.append(_value(n.entity) if n.kind == "lookup" else _combine(n.op, [out[i] for i in n.inputs]))
    return out


def _value(entity: str) -> float:
    return float(sum(map(ord, entity)) % 97 + 1)


def _combine(op: str, values: list[float]) -> float:
    if op == "sum":
        return sum(values)
    if op == "product":
        return math.prod(values)
    return max(values) if op == "max" else min(values)


def ideal_plan(s: Scenario, per_call: float) -> float:
    """Each call starting when its arguments are complete and its inputs have ended."""
    ends: list[float] = []
    for i, n in enumerate(s.nodes):
        done = s.ttft[0] + (i + 1) * per_call
        ends.append(max([done, *(ends[j] for j in n.inputs)]) + n.duration)
    return max(ends)


# -- the tools -------------------------------------------------------------------------------

DURATION: dict[str, float] = {}  # entity -> seconds
ENDS: list[float] = []
CALC_TIME = [CALC]


@skill(timeout=30)
async def lookup(entity: str) -> dict[str, Any]:
    """Look an entity up: its facts, among them a number ``value``.

    Args:
        entity: the entity's name.
    """
    await asyncio.sleep(DURATION[entity])
    ENDS.append(time.perf_counter())
    return {"entity": entity, "value": _value(entity)}


@skill(timeout=30)
async def combine(op: Literal["sum", "product", "max", "min"], values: list[float]) -> float:
    """Arithmetic on some numbers.

    Args:
        op: what to compute.
        values: the numbers.
    """
    await asyncio.sleep(CALC_TIME[0])
    ENDS.append(time.perf_counter())
    return _combine(op, values)


PLANS = Toolset([lookup, combine], references=True)
PARALLEL = Toolset([lookup, combine])


def _plan_arguments(s: Scenario, n: Node) -> dict[str, Any]:
    if n.kind == "lookup":
        return {"entity": n.entity}
    return {"op": n.op, "values": [
        {"result_of": i + 1, "path": "value"} if s.nodes[i].kind == "lookup" else {"result_of": i + 1}
        for i in n.inputs
    ]}


def _literal_arguments(n: Node, values: list[float]) -> dict[str, Any]:
    if n.kind == "lookup":
        return {"entity": n.entity}
    return {"op": n.op, "values": [values[i] for i in n.inputs]}


async def _chunks(calls: Sequence[tuple[str, str, dict[str, Any]]], ttft: float, per_call: float,
                  ) -> AsyncIterator[dict[str, Any]]:
    """A Chat Completions stream writing ``calls``: call i's arguments complete at
    ``ttft + (i + 1) * per_call`` after the request, in three pieces."""
    loop = asyncio.get_running_loop()
    begun = loop.time()

    async def until(t: float) -> None:
        await asyncio.sleep(max(0.0, begun + t - loop.time()))

    def chunk(tool_calls: list[dict[str, Any]] | None, finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}, "finish_reason": finish}]}

    await until(ttft)
    for i, (id_, name, args) in enumerate(calls):
        text = json.dumps(args)
        start = ttft + i * per_call
        yield chunk([{"index": i, "id": id_, "type": "function", "function": {"name": name, "arguments": ""}}])
        third = max(1, len(text) // 3)
        pieces = [text[:third], text[third:2 * third], text[2 * third:]]
        for k, piece in enumerate(pieces):
            await until(start + per_call * (k + 1) / 3)
            yield chunk([{"index": i, "function": {"arguments": piece}}])
    yield chunk(None, "tool_calls")


# -- the implementations ---------------------------------------------------------------------


def _set(s: Scenario) -> None:
    DURATION.clear()
    DURATION.update({n.entity: n.duration for n in s.nodes if n.kind == "lookup"})
    CALC_TIME[0] = next((n.duration for n in s.nodes if n.kind == "combine"), CALC)
    ENDS.clear()


async def skillstream_plan(s: Scenario, per_call: float) -> float:
    asked = time.perf_counter()
    calls = [(f"call_{i}", n.kind, _plan_arguments(s, n)) for i, n in enumerate(s.nodes)]
    stream = PLANS.calls_from_stream(_chunks(calls, s.ttft[0], per_call))
    results = await run(stream, max_concurrency=None).collect()
    assert results.ok, [r.error for r in results if not r.ok]
    last = results[f"call_{len(s.nodes) - 1}"].value
    assert (last["value"] if isinstance(last, dict) else last) == values_of(s)[-1]
    return max(ENDS) - asked


async def skillstream_per_step(s: Scenario, per_call: float) -> float:
    asked = time.perf_counter()
    values: dict[int, float] = {}
    for turn, level in enumerate(s.levels()):
        known = [values.get(i, 0.0) for i in range(len(s.nodes))]
        calls = [(f"call_{i}", s.nodes[i].kind, _literal_arguments(s.nodes[i], known)) for i in level]
        results = await run(PARALLEL.calls_from_stream(_chunks(calls, s.ttft[turn], per_call)),
                            max_concurrency=None).collect()
        assert results.ok
        for i in level:
            value = results[f"call_{i}"].value
            values[i] = value["value"] if isinstance(value, dict) else value
    assert values[len(s.nodes) - 1] == values_of(s)[-1]
    return max(ENDS) - asked


async def react(s: Scenario, per_call: float) -> float:
    """One tool call per model turn: write it, run it, read its result."""
    asked = time.perf_counter()
    values: dict[int, float] = {}
    for turn, i in enumerate(sorted(range(len(s.nodes)), key=lambda i: s.nodes[i].level(s.nodes))):
        await asyncio.sleep(s.ttft[turn % len(s.ttft)] + per_call)
        known = [values.get(j, 0.0) for j in range(len(s.nodes))]
        message = {"role": "assistant", "tool_calls": [{"id": f"call_{i}", "type": "function", "function": {
            "name": s.nodes[i].kind, "arguments": json.dumps(_literal_arguments(s.nodes[i], known))}}]}
        results = await run(PARALLEL.calls(message)).collect()
        value = results[f"call_{i}"].value
        values[i] = value["value"] if isinstance(value, dict) else value
    assert values[len(s.nodes) - 1] == values_of(s)[-1]
    return max(ENDS) - asked


def _langchain_tools() -> list[Any]:
    from langchain_core.tools import tool

    @tool("lookup")
    async def lc_lookup(entity: str) -> dict[str, Any]:
        """Look an entity up."""
        return await lookup.fn(entity)  # type: ignore[no-any-return]

    @tool("combine")
    async def lc_combine(op: Literal["sum", "product", "max", "min"], values: list[float]) -> float:
        """Arithmetic on some numbers."""
        return await combine.fn(op, values)  # type: ignore[no-any-return]

    return [lc_lookup, lc_combine]


def _tool_graph() -> Any:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(_langchain_tools()))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile()


async def toolnode(s: Scenario, per_call: float, graph: Any) -> float:
    from langchain_core.messages import AIMessage

    asked = time.perf_counter()
    values: dict[int, float] = {}
    for turn, level in enumerate(s.levels()):
        await asyncio.sleep(s.ttft[turn] + len(level) * per_call)  # the whole message
        known = [values.get(i, 0.0) for i in range(len(s.nodes))]
        message = AIMessage(content="", tool_calls=[
            {"id": f"call_{i}", "name": s.nodes[i].kind, "args": _literal_arguments(s.nodes[i], known),
             "type": "tool_call"} for i in level
        ])
        out = await graph.ainvoke({"messages": [message]})
        for reply in out["messages"][1:]:
            data = json.loads(reply.content)
            values[int(reply.tool_call_id.removeprefix("call_"))] = data["value"] if isinstance(data, dict) else data
    assert values[len(s.nodes) - 1] == values_of(s)[-1]
    return max(ENDS) - asked


def _pydantic_ai_agent(box: list[Scenario], per_call: float) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    async def model(messages: list[Any], info: AgentInfo) -> ModelResponse:
        s = box[0]
        returned = [p for m in messages for p in getattr(m, "parts", ()) if isinstance(p, ToolReturnPart)]
        values: dict[int, Any] = {}
        for part in returned:
            content = part.content
            values[int(part.tool_call_id.removeprefix("call_"))] = content["value"] if isinstance(content, dict) else content
        levels = s.levels()
        turn = sum(1 for level in levels if all(i in values for i in level))
        if turn == len(levels):
            return ModelResponse(parts=[TextPart(json.dumps(values[len(s.nodes) - 1]))])
        level = levels[turn]
        await asyncio.sleep(s.ttft[turn] + len(level) * per_call)
        known = [values.get(i, 0.0) for i in range(len(s.nodes))]
        return ModelResponse(parts=[
            ToolCallPart(s.nodes[i].kind, _literal_arguments(s.nodes[i], known), tool_call_id=f"call_{i}")
            for i in level
        ])

    agent = Agent(FunctionModel(model))

    @agent.tool_plain(name="lookup")
    async def pa_lookup(entity: str) -> dict[str, Any]:
        """Look an entity up."""
        return await lookup.fn(entity)  # type: ignore[no-any-return]

    @agent.tool_plain(name="combine")
    async def pa_combine(op: Literal["sum", "product", "max", "min"], values: list[float]) -> float:
        """Arithmetic on some numbers."""
        return await combine.fn(op, values)  # type: ignore[no-any-return]

    return agent


async def pydantic_ai(s: Scenario, agent: Any, box: list[Scenario]) -> float:
    box[:] = [s]
    asked = time.perf_counter()
    result = await agent.run("go")
    assert float(result.output) == values_of(s)[-1]
    return max(ENDS) - asked


def _agents_sdk_agent(box: list[Scenario], per_call: float) -> Any:
    from agents import Agent, function_tool, set_tracing_disabled
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    set_tracing_disabled(True)

    class Scripted(Model):
        """Parallel tool calls after the whole message, one turn per level (the model reads
        the results, as ``function_call_output`` items, before it writes the next level)."""

        async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any,
                               ) -> ModelResponse:
            s = box[0]
            values: dict[int, Any] = {}
            for item in input if isinstance(input, list) else []:
                if isinstance(item, dict) and item.get("type") == "function_call_output":
                    data = json.loads(item["output"])
                    values[int(item["call_id"].removeprefix("call_"))] = (
                        data["value"] if isinstance(data, dict) else data)
            levels = s.levels()
            turn = sum(1 for level in levels if all(i in values for i in level))
            if turn == len(levels):
                text = ResponseOutputText(text=json.dumps(values[len(s.nodes) - 1]), type="output_text",
                                          annotations=[])
                return ModelResponse(output=[ResponseOutputMessage(
                    id="msg", type="message", role="assistant", status="completed", content=[text],
                )], usage=Usage(), response_id=None)
            level = levels[turn]
            await asyncio.sleep(s.ttft[turn] + len(level) * per_call)
            known = [values.get(i, 0.0) for i in range(len(s.nodes))]
            return ModelResponse(output=[
                ResponseFunctionToolCall(type="function_call", call_id=f"call_{i}", name=s.nodes[i].kind,
                                         arguments=json.dumps(_literal_arguments(s.nodes[i], known)))
                for i in level
            ], usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            raise NotImplementedError("Runner.run asks for whole responses")

    @function_tool(name_override="lookup")
    async def sdk_lookup(entity: str) -> str:
        """Look an entity up."""
        return json.dumps(await lookup.fn(entity))

    @function_tool(name_override="combine")
    async def sdk_combine(op: Literal["sum", "product", "max", "min"], values: list[float]) -> str:
        """Arithmetic on some numbers."""
        return json.dumps(await combine.fn(op, values))

    return Agent(name="plans", model=Scripted(), tools=[sdk_lookup, sdk_combine])


async def agents_sdk(s: Scenario, agent: Any, box: list[Scenario]) -> float:
    from agents import Runner

    box[:] = [s]
    asked = time.perf_counter()
    result = await Runner.run(agent, "go")
    assert float(result.final_output) == values_of(s)[-1]
    return max(ENDS) - asked


# -- the run ---------------------------------------------------------------------------------

PLAN = "skillstream plan"
PER_STEP = "skillstream, a turn per step"
NAMES = [PLAN, PER_STEP, "LangGraph ToolNode", "pydantic-ai", "OpenAI Agents SDK", "ReAct"]
PEERS = NAMES[1:5]


def p95(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def measure(scenarios: int, seed: int, time_scale: float) -> dict[str, dict[str, dict[str, float]]]:
    """Per shape and implementation: median and p95 of the time to the last result, and of
    the plan's distance from its ideal."""
    per_call = PER_CALL * time_scale
    graph = _tool_graph()
    box: list[Scenario] = []
    agent = _pydantic_ai_agent(box, per_call)
    sdk_agent = _agents_sdk_agent(box, per_call)
    runners: dict[str, Callable[[Scenario], Awaitable[float]]] = {
        PLAN: lambda s: skillstream_plan(s, per_call),
        PER_STEP: lambda s: skillstream_per_step(s, per_call),
        "LangGraph ToolNode": lambda s: toolnode(s, per_call, graph),
        "pydantic-ai": lambda s: pydantic_ai(s, agent, box),
        "OpenAI Agents SDK": lambda s: agents_sdk(s, sdk_agent, box),
        "ReAct": lambda s: react(s, per_call),
    }
    warm = scenario("parallelqa", seed, -1, time_scale * 0.2)
    for name in NAMES:  # imports, validators, graphs: not measured
        _set(warm)
        await runners[name](warm)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for shape in SHAPES:
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        over: list[float] = []
        for index in range(scenarios):
            s = scenario(shape, seed, index, time_scale)
            order = NAMES if index % 2 == 0 else list(reversed(NAMES))
            for name in order:
                _set(s)
                took = await runners[name](s)
                times[name].append(took)
                if name == PLAN:
                    over.append(took - ideal_plan(s, per_call))
        out[shape] = {name: {"median": statistics.median(t), "p95": p95(t)} for name, t in times.items()}
        out[shape][PLAN]["over_ideal_median"] = statistics.median(over)
        out[shape][PLAN]["over_ideal_p95"] = p95(over)
    return out


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plans",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=int, help="seeded scenarios per shape")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--time-scale", type=float, help="multiplies every model and tool time")
    return size_option(parser, SIZES, argv)


def render(figures: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [(f"plans: request to last tool result, {args.scenarios} seeded scenarios a shape (seed {args.seed}), "
              f"times x{args.time_scale:g}; median (p95)"), "",
             "| shape | " + " | ".join(NAMES) + " | plan vs ReAct | plan vs best peer | plan over its ideal |",
             "|---" * (len(NAMES) + 4) + "|"]
    for shape, row in figures.items():
        best = min(row[name]["median"] for name in PEERS)
        cells = [f"{row[name]['median'] * 1000:.0f} ms ({row[name]['p95'] * 1000:.0f})" for name in NAMES]
        plan = row[PLAN]
        lines.append(
            f"| {shape} | " + " | ".join(cells)
            + f" | {row['ReAct']['median'] / plan['median']:.2f}x | {best / plan['median']:.2f}x"
            f" | +{plan['over_ideal_median'] * 1000:.1f} ms (p95 +{plan['over_ideal_p95'] * 1000:.1f}) |"
        )
    lines += ["", ("plan vs ReAct, plan vs best peer: ratios of medians (the best peer: the fastest of "
                   "the turn-per-step implementations)"),
              "plan over its ideal: each call starting when its arguments are complete and its inputs have ended"]
    return "\n".join(lines)


def _measured(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    return asyncio.run(measure(args.scenarios, args.seed, args.time_scale))


def bench(size: str) -> Figures:
    args = _args(["--size", size])
    figures = _measured(args)
    rows: dict[str, dict[str, float]] = {name: {} for name in NAMES}
    derived: dict[str, float] = {}
    for shape, row in figures.items():
        for name in NAMES:
            rows[name][f"{shape}: median ms"] = row[name]["median"] * 1e3
            rows[name][f"{shape}: p95 ms"] = row[name]["p95"] * 1e3
        best = min(row[name]["median"] for name in PEERS)
        rows[PLAN][f"{shape}: speed-up over ReAct"] = row["ReAct"]["median"] / row[PLAN]["median"]
        rows[PLAN][f"{shape}: speed-up over the best peer"] = best / row[PLAN]["median"]
        derived[f"{shape}: plan over its ideal, median ms"] = row[PLAN]["over_ideal_median"] * 1e3
        derived[f"{shape}: plan over its ideal, p95 ms"] = row[PLAN]["over_ideal_p95"] * 1e3
    return Figures(
        title=f"Plans: dependent tool calls in one turn, {args.scenarios} scenarios a shape, times x{args.time_scale:g}",
        text=render(figures, args), rows=rows, derived=derived,
        params={"scenarios": args.scenarios, "seed": args.seed, "time_scale": args.time_scale},
    )


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    print(render(_measured(args), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
