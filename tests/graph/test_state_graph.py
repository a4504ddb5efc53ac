"""StateGraph: LangGraph's API on the skillstream engine, start-when-ready.

Almost every test runs on tests.support.vloop.VirtualLoop: sleeps are free, times are exact (so
"starts before the slow branch ends" is asserted from start times, not guessed), and
``vrun`` fails the test if a task is left pending or the loop logged an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import (
    END,
    START,
    GraphError,
    GraphRecursionError,
    InvalidGraphError,
    InvalidUpdateError,
    Results,
    Retry,
    Send,
    StateGraph,
    Status,
    skill,
)
from tests.support.vloop import vrun

# -- helpers --------------------------------------------------------------------------------


class Clock:
    """Records, in loop time, when each node run starts and ends (or is cancelled)."""

    def __init__(self) -> None:
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}
        self.cancelled: list[str] = []
        self.active = 0
        self.max_active = 0

    def node(
        self,
        name: str,
        seconds: float,
        update: dict[str, Any] | None = None,
        fail: Exception | None = None,
    ) -> Any:
        """An async node that sleeps ``seconds`` then returns ``update`` (or raises)."""

        async def fn(state: Any) -> dict[str, Any] | None:
            loop = asyncio.get_running_loop()
            self.starts[name] = loop.time()
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
            finally:
                self.active -= 1
                self.ends[name] = loop.time()
            if fail is not None:
                raise fail
            return update

        return fn


class Research(TypedDict, total=False):
    """The seed's ResearchState, with a reducer field that logs who ran."""

    query: str
    stock_data: dict[str, Any]
    news_data: list[str]
    financial_data: dict[str, Any]
    briefing: str
    ran: Annotated[list[str], operator.add]


def research_graph(
    clock: Clock, *, stock_fail: Exception | None = None, **stock_options: Any
) -> StateGraph[Research]:
    """The seed's graph: START fans out to stock (1 s), news (2 s) and financials (3 s);
    summarize (0.5 s) fans in."""
    graph = StateGraph(Research)
    graph.add_node(
        "stock",
        clock.node("stock", 1, {"stock_data": {"price": 190.0}, "ran": ["stock"]}, stock_fail),
        **stock_options,
    )
    graph.add_node("news", clock.node("news", 2, {"news_data": ["Apple beats"], "ran": ["news"]}))
    graph.add_node(
        "financials", clock.node("financials", 3, {"financial_data": {"pe": 29}, "ran": ["financials"]})
    )

    async def summarize(state: Research) -> dict[str, Any]:
        await clock.node("summarize", 0.5)(state)
        return {
            "briefing": f"{state['query']}: {state['stock_data']['price']}, "
            f"{len(state['news_data'])} news, P/E {state['financial_data']['pe']}",
            "ran": ["summarize"],
        }

    graph.add_node("summarize", summarize)
    for name in ("stock", "news", "financials"):
        graph.add_edge(START, name)
        graph.add_edge(name, "summarize")
    graph.add_edge("summarize", END)
    return graph


# -- fan-out / fan-in -----------------------------------------------------------------------


def test_research_graph_fans_out_then_fans_in() -> None:
    clock = Clock()
    app = research_graph(clock).compile(max_concurrency=5)

    async def main() -> Any:
        return await app.ainvoke({"query": "AAPL"})

    state, loop = vrun(main)
    assert state == {
        "query": "AAPL",
        "stock_data": {"price": 190.0},
        "news_data": ["Apple beats"],
        "financial_data": {"pe": 29},
        "briefing": "AAPL: 190.0, 1 news, P/E 29",
        # LangGraph's fold order, not completion order: by step, then node name.
        "ran": ["financials", "news", "stock", "summarize"],
        }
        # The three lookups ran at once; summarize started when the slowest ended.
    assert clock.starts == {"stock": 0, "news": 0, "financials": 0, "summarize": 3}
    assert loop.time() == 3.5  # the critical path, not the sum (6.5)


def test_join_edge_waits_for_all_its_sources() -> None:
    clock = Clock()
    graph = StateGraph(Research)
    graph.add_node("a", clock.node("a", 1, {"ran": ["a"]}))
    graph.add_node("b", clock.node("b", 3, {"ran": ["b"]}))
    graph.add_node("c", clock.node("c", 1, {"ran": ["c"]}))
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    graph.add_edge(["a", "b"], "c")

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert state["ran"] == ["a", "b", "c"]
    assert clock.starts["c"] == 3


# -- start-when-ready -----------------------------------------------------------------------


def test_a_fast_chain_does_not_wait_for_a_slow_sibling() -> None:
    clock = Clock()
    graph = StateGraph(Research)
    graph.add_node("fast1", clock.node("fast1", 1, {"ran": ["fast1"]}))
    graph.add_node("fast2", clock.node("fast2", 1, {"ran": ["fast2"]}))
    graph.add_node("fast3", clock.node("fast3", 1, {"ran": ["fast3"]}))
    graph.add_node("slow", clock.node("slow", 5, {"ran": ["slow"]}))
    graph.add_node("join", clock.node("join", 1, {"ran": ["join"]}))
    graph.add_edge(START, "fast1")
    graph.add_edge("fast1", "fast2")
    graph.add_edge("fast2", "fast3")
    graph.add_edge(START, "slow")
    graph.add_edge(["fast3", "slow"], "join")

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, loop = vrun(main)
    # LangGraph runs fast2 in superstep 2, after slow (superstep 1) ends at 5 s; here the
    # chain runs through while slow is still running.
    assert clock.starts["fast2"] == 1 and clock.starts["fast3"] == 2
    assert clock.starts["fast3"] < clock.ends["slow"] == 5
    assert clock.starts["join"] == 5
    # Folded by step (fast1 and slow are step 1, fast2 step 2, ...), then name, as
    # LangGraph folds them, however the branches finish.
    assert state["ran"] == ["fast1", "slow", "fast2", "fast3", "join"]
    assert loop.time() == 6


def test_a_node_sees_its_ancestors_updates() -> None:
    seen: dict[str, Any] = {}

    async def double(state: dict[str, Any]) -> dict[str, Any]:
        seen["double"] = dict(state)
        await asyncio.sleep(1)
        return {"x": state["x"] * 2}

    async def inc(state: dict[str, Any]) -> dict[str, Any]:
        seen["inc"] = dict(state)
        return {"x": state["x"] + 1}

    class Num(TypedDict, total=False):
        x: int

    graph = StateGraph(Num)
    graph.add_node("double", double)
    graph.add_node("inc", inc)
    graph.add_edge(START, "double")
    graph.add_edge("double", "inc")

    async def main() -> Any:
        return await graph.compile().ainvoke({"x": 5})

    state, _ = vrun(main)
    assert seen == {"double": {"x": 5}, "inc": {"x": 10}}
    assert state == {"x": 11}


def test_the_state_reaches_a_node_as_data_never_as_dependencies() -> None:
    # The engine runs SkillCalls found in a call's arguments as its dependencies; a state
    # (or a Send's input) holding one must reach the node as it is, and is never walked.
    ran: list[str] = []

    @skill
    async def tool(x: int) -> int:
        ran.append("tool")
        return x

    class Plan(TypedDict, total=False):
        calls: list[Any]
        seen: Annotated[list[str], operator.add]

    def look(state: Plan) -> dict[str, Any]:
        return {"seen": [repr(c) for c in state["calls"]]}

    def look_send(arg: list[Any]) -> dict[str, Any]:
        return {"seen": [f"send {arg[0]!r}"]}

    graph = StateGraph(Plan)
    graph.add_node("look", look)
    graph.add_node("look_send", look_send)
    graph.add_edge(START, "look")
    graph.add_conditional_edges("look", lambda state: [Send("look_send", state["calls"])])

    async def main() -> Any:
        return await graph.compile().ainvoke({"calls": [tool(1)]})

    state, _ = vrun(main)
    assert state["seen"] == ["tool(1)", "send tool(1)"]
    assert ran == []


# -- reducers -------------------------------------------------------------------------------


def test_reducer_fields_fold_and_plain_fields_are_overwritten() -> None:
    class State(TypedDict, total=False):
        hits: Annotated[list[str], operator.add]
        total: Annotated[int, operator.add]
        last: str

    clock = Clock()
    graph = StateGraph(State)
    graph.add_node("web", clock.node("web", 1, {"hits": ["w1", "w2"], "total": 2}))
    graph.add_node("news", clock.node("news", 2, {"hits": ["n1"], "total": 1}))
    graph.add_node("forum", clock.node("forum", 3, {"hits": ["f1"], "total": 1}))
    graph.add_node("after", clock.node("after", 1, {"last": "after"}))
    for name in ("web", "news", "forum"):
        graph.add_edge(START, name)
    graph.add_edge("web", "after")

    async def main() -> Any:
        return await graph.compile().ainvoke({"hits": ["seed"], "total": 10, "last": "input"})

    state, _ = vrun(main)
    # The input is folded like any update; updates fold in LangGraph's order (step, then
    # node name), not in completion order (web, news, forum).
    assert state == {"hits": ["seed", "f1", "n1", "w1", "w2"], "total": 14, "last": "after"}


def test_two_plain_writes_in_one_step_raise_invalid_update_error() -> None:
    class State(TypedDict, total=False):
        last: str

    graph = StateGraph(State)
    graph.add_node("web", lambda state: {"last": "web"})
    graph.add_node("news", lambda state: {"last": "news"})
    graph.add_edge(START, "web")
    graph.add_edge(START, "news")
    with pytest.raises(InvalidUpdateError, match=r"^At key 'last': Can receive only one value per step"):
        graph.compile().invoke({})


def test_a_reducer_field_starts_from_its_types_empty_value() -> None:
    def append(items: list[str], item: str) -> list[str]:
        return [*items, item]

    class State(TypedDict, total=False):
        seen: Annotated[list[str], append]

    graph = StateGraph(State)
    graph.add_node("a", lambda state: {"seen": "a"})
    graph.add_node("b", lambda state: {"seen": "b"})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    assert graph.compile().invoke({}) == {"seen": ["a", "b"]}


# -- conditional edges ----------------------------------------------------------------------


class Route(TypedDict, total=False):
    risk: str
    ran: Annotated[list[str], operator.add]


def routed_graph(clock: Clock, risk_seconds: float = 1) -> StateGraph[Route]:
    """START -> prep (0.5 s), START -> risk (1 s) -> route -> {deep (10 s) | quick (1 s)};
    both paths and prep lead to report."""
    graph = StateGraph(Route)
    graph.add_node("prep", clock.node("prep", 0.5, {"ran": ["prep"]}))
    graph.add_node("risk", clock.node("risk", risk_seconds, {"risk": "low", "ran": ["risk"]}))
    graph.add_node("deep", clock.node("deep", 10, {"ran": ["deep"]}))
    graph.add_node("quick", clock.node("quick", 1, {"ran": ["quick"]}))
    graph.add_node("report", clock.node("report", 1, {"ran": ["report"]}))
    graph.add_edge(START, "prep")
    graph.add_edge(START, "risk")
    graph.add_conditional_edges(
        "risk", lambda state: "deep" if state["risk"] == "high" else "quick", ["deep", "quick"]
    )
    for name in ("prep", "deep", "quick"):
        graph.add_edge(name, "report")
    return graph


def test_the_untaken_branch_is_not_waited_for() -> None:
    clock = Clock()
    app = routed_graph(clock).compile()

    async def main() -> Any:
        return await app.ainvoke({})

    state, loop = vrun(main)
    assert state["ran"] == ["prep", "risk", "quick", "report"]
    assert "deep" not in clock.starts
    # report was triggered by prep at 0.5 s but waited for the router to decide (1 s) and
    # for the branch it took (quick, 1 s -> 2 s); not for deep, which never ran.
    assert clock.starts["report"] == 2
    assert loop.time() == 3


def test_router_can_answer_end_a_list_or_a_path_map_key() -> None:
    clock = Clock()
    graph = StateGraph(Route)
    graph.add_node("a", clock.node("a", 1, {"ran": ["a"]}))
    graph.add_node("b", clock.node("b", 1, {"ran": ["b"]}))
    graph.add_node("c", clock.node("c", 1, {"ran": ["c"]}))
    graph.add_node("d", clock.node("d", 1, {"ran": ["d"]}))
    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", lambda state: ["b", "c"], ["b", "c"])
    graph.add_conditional_edges("b", lambda state: END, ["d", END])
    graph.add_conditional_edges("c", lambda state: True, {True: "d", False: END})

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert state["ran"] == ["a", "b", "c", "d"]
    assert clock.starts == {"a": 0, "b": 1, "c": 1, "d": 2}


def test_a_join_with_an_untaken_source_never_fires_but_plain_edges_do() -> None:
    clock = Clock()
    graph = routed_graph(clock)
    # Beside report (plain edges from prep, deep and quick): two nodes after prep and deep.
    graph.add_node("all_of", clock.node("all_of", 1, {"ran": ["all_of"]}))
    graph.add_node("any_of", clock.node("any_of", 1, {"ran": ["any_of"]}))
    graph.add_edge(["prep", "deep"], "all_of")  # join: needs both
    graph.add_edge("prep", "any_of")  # plain edges: either triggers it ...
    graph.add_edge("deep", "any_of")  # ... and it waits for the other only if it will run

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert "all_of" not in clock.starts  # deep never ran, so the join never fired
    assert clock.starts["any_of"] == 1  # once the router had decided against deep
    assert state["ran"] == ["prep", "risk", "any_of", "quick", "report"]


def test_a_literal_return_annotation_declares_the_routes() -> None:
    clock = Clock()
    graph = StateGraph(Route)
    graph.add_node("slow_check", clock.node("slow_check", 3, {"ran": ["slow_check"]}))
    graph.add_node("fast", clock.node("fast", 1, {"ran": ["fast"]}))
    graph.add_node("extra", clock.node("extra", 1, {"ran": ["extra"]}))
    graph.add_node("report", clock.node("report", 1, {"ran": ["report"]}))
    graph.add_edge(START, "slow_check")
    graph.add_edge(START, "fast")
    graph.add_edge("fast", "report")
    graph.add_edge("extra", "report")

    def route(state: Route) -> Literal["extra", "__end__"]:
        return "extra"

    graph.add_conditional_edges("slow_check", route)

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    # Without the annotation report could not know that slow_check may lead to it.
    assert clock.starts["report"] == 4
    assert state["ran"] == ["fast", "slow_check", "extra", "report"]


def test_an_async_router_is_awaited() -> None:
    clock = Clock()
    graph = StateGraph(Route)
    graph.add_node("a", clock.node("a", 1, {"risk": "high"}))
    graph.add_node("deep", clock.node("deep", 1, {"ran": ["deep"]}))

    async def route(state: Route) -> str:
        return "deep" if state["risk"] == "high" else END

    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", route, ["deep", END])

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert state == {"risk": "high", "ran": ["deep"]}


# -- Send: map-reduce -----------------------------------------------------------------------


class MapReduce(TypedDict, total=False):
    topics: list[str]
    findings: Annotated[list[str], operator.add]
    report: str


def test_send_fans_out_one_run_per_item_and_a_reducer_gathers_them() -> None:
    starts: dict[str, float] = {}

    async def plan(state: MapReduce) -> dict[str, Any]:
        await asyncio.sleep(1)
        return {"topics": ["batteries", "chips", "ai", "cars"]}

    async def research(topic: str) -> dict[str, Any]:
        starts[topic] = asyncio.get_running_loop().time()
        await asyncio.sleep(len(topic))  # 9, 5, 2, 4 seconds
        return {"findings": [f"{topic}!"]}

    async def write(state: MapReduce) -> dict[str, Any]:
        starts["write"] = asyncio.get_running_loop().time()
        return {"report": " ".join(sorted(state["findings"]))}

    graph = StateGraph(MapReduce)
    graph.add_node("plan", plan)
    graph.add_node("research", research)
    graph.add_node("write", write)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges(
        "plan", lambda state: [Send("research", t) for t in state["topics"]], ["research"]
    )
    graph.add_edge("research", "write")
    app = graph.compile(max_concurrency=2)

    async def main() -> Any:
        return [u async for u in app.astream({})]

    updates, loop = vrun(main)
    # Two at a time: batteries 1-10, chips 1-6, then ai 6-8, cars 8-12; write after all.
    assert starts == {"batteries": 1, "chips": 1, "ai": 6, "cars": 8, "write": 12}
    assert [next(iter(u)) for u in updates] == ["plan", "research", "research", "research", "research", "write"]
    assert updates[-1] == {"write": {"report": "ai! batteries! cars! chips!"}}
    assert loop.time() == 12


def test_send_runs_are_keyed_by_node_and_number() -> None:
    async def work(topic: str) -> dict[str, Any]:
        if topic == "boom":
            raise ValueError("no such topic")
        return {"findings": [topic]}

    graph = StateGraph(MapReduce)
    graph.add_node("fan", lambda state: None)
    graph.add_node("work", work)
    graph.add_node("write", lambda state: {"report": "never"})
    graph.add_edge(START, "fan")
    graph.add_conditional_edges(
        "fan", lambda state: [Send("work", "x"), Send("work", "boom"), Send("work", "y")]
    )
    graph.add_edge("work", "write")

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await graph.compile().ainvoke({})
        return info.value

    error, _ = vrun(main)
    assert [(r.key, r.status.value) for r in error.results] == [
        ("fan", "success"),
        ("work[0]", "success"),
        ("work[1]", "error"),
        ("work[2]", "success"),
        ("write", "skipped"),
    ]
    assert error.results["work[1]"].error is not None
    assert error.results["work[1]"].error.message == "no such topic"
    assert error.state == {"findings": ["x", "y"]}  # the other runs' updates are kept


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_random_graphs_run_each_triggered_node_once_when_its_ancestors_are_done(
    data: st.DataObject,
) -> None:
    """Random DAGs of plain edges and declared routers (each choosing a fixed subset of its
    path_map). A node runs iff a predecessor that ran triggers it, and starts exactly when
    the last of its ancestors that ran has ended: no level or superstep barrier."""
    size = data.draw(st.integers(1, 9), label="nodes")
    names = [f"n{i}" for i in range(size)]
    seconds = {n: data.draw(st.integers(1, 5), label=f"{n} seconds") for n in names}
    plain: dict[str, list[str]] = {n: [] for n in [START, *names]}
    routes: dict[str, list[str]] = {}  # source -> declared targets
    chosen: dict[str, list[str]] = {}  # source -> what its router answers
    for j, target in enumerate(names):
        sources = [START, *names[:j]]
        picked = data.draw(st.sets(st.sampled_from(sources), min_size=1, max_size=3), label=f"into {target}")
        for source in sorted(picked):
            if source != START and data.draw(st.booleans(), label=f"{source}->{target} routed"):
                routes.setdefault(source, []).append(target)
            else:
                plain[source].append(target)
    for source, targets in routes.items():
        chosen[source] = data.draw(st.lists(st.sampled_from(targets), unique=True), label=f"{source} picks")

    starts: dict[str, float] = {}

    def make(name: str) -> Any:
        async def fn(state: Any) -> dict[str, Any]:
            starts[name] = asyncio.get_running_loop().time()
            await asyncio.sleep(seconds[name])
            return {"ran": [name]}

        return fn

    graph = StateGraph(Route)
    for name in names:
        graph.add_node(name, make(name))
    for source, targets in plain.items():
        for target in targets:
            graph.add_edge(source, target)
    for source, targets in routes.items():
        graph.add_conditional_edges(source, lambda state, s=source: chosen[s], targets)

    async def main() -> Any:
        return await graph.compile(max_concurrency=None).ainvoke({})

    state, loop = vrun(main)

    # The model: walk the nodes in order (every edge goes forward).
    ran: set[str] = {START}
    ancestors: dict[str, set[str]] = {}
    for target in names:
        preds = [p for p in [START, *names] if target in plain[p] or target in routes.get(p, [])]
        ancestors[target] = {p for p in preds if p != START}.union(
            *(ancestors[p] for p in preds if p != START)
        )
        if any(p in ran and (target in plain[p] or target in chosen.get(p, [])) for p in preds):
            ran.add(target)
    expected_start: dict[str, float] = {}
    for name in names:
        if name in ran:
            expected_start[name] = max(
                (expected_start[a] + seconds[a] for a in ancestors[name] if a in ran), default=0
            )
    assert starts == expected_start
    assert sorted(state["ran"]) == sorted(expected_start)  # each ran once
    assert loop.time() == max((expected_start[n] + seconds[n] for n in expected_start), default=0)


# -- failures, fallbacks and the deadline ---------------------------------------------------


def test_a_failed_node_raises_graph_error_with_partial_state_and_results() -> None:
    clock = Clock()
    app = research_graph(clock, stock_fail=ConnectionError("quote API down")).compile()

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await app.ainvoke({"query": "AAPL"})
        return info.value

    error, loop = vrun(main)
    # The node's own exception: its class (an `except ConnectionError` catches it), its
    # message; the graph's summary is a note.
    assert isinstance(error, ConnectionError) and str(error) == "quote API down"
    assert error.__notes__ == [
        "2 of 4 node runs ended without a value: "
        "stock (error: ConnectionError: quote API down); "
        "summarize (skipped: DependencyFailed: dependency 'stock' ended error)"
    ]
    # Siblings were not disturbed; the failed node's dependent never ran.
    assert error.state == {
        "query": "AAPL",
        "news_data": ["Apple beats"],
        "financial_data": {"pe": 29},
        "ran": ["financials", "news"],
    }
    assert isinstance(error.results, Results)
    assert [(r.key, r.status) for r in error.results] == [
        ("stock", Status.ERROR),
        ("news", Status.SUCCESS),
        ("financials", Status.SUCCESS),
        ("summarize", Status.SKIPPED),
    ]
    assert error.result is not None and error.result.key == "stock"
    assert "summarize" not in clock.starts
    assert clock.cancelled == []
    assert loop.time() == 3


def test_astream_yields_what_finished_then_raises() -> None:
    clock = Clock()
    app = research_graph(clock, stock_fail=ConnectionError("quote API down")).compile()

    async def main() -> tuple[list[Any], GraphError]:
        seen: list[Any] = []
        with pytest.raises(GraphError) as info:
            async for update in app.astream({"query": "AAPL"}):
                seen.append(update)
        return seen, info.value

    (seen, error), _ = vrun(main)
    assert seen == [
        {"news": {"news_data": ["Apple beats"], "ran": ["news"]}},
        {"financials": {"financial_data": {"pe": 29}, "ran": ["financials"]}},
    ]
    assert error.results["summarize"].status is Status.SKIPPED


def test_a_fallback_update_flows_on() -> None:
    clock = Clock()
    graph = research_graph(
        clock,
        stock_fail=TimeoutError("slow quote"),
        fallback=lambda exc: {"stock_data": {"price": -1.0}, "ran": [f"fallback:{type(exc).__name__}"]},
    )

    async def main() -> Any:
        return [u async for u in graph.compile().astream({"query": "AAPL"}, stream_mode="values")]

    states, _ = vrun(main)
    assert states[-1]["briefing"] == "AAPL: -1.0, 1 news, P/E 29"
    assert states[-1]["ran"] == ["financials", "news", "fallback:TimeoutError", "summarize"]


def test_node_options_timeout_and_retry_come_from_the_engine() -> None:
    attempts: list[float] = []

    async def flaky(state: Any) -> dict[str, Any]:
        attempts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(5 if len(attempts) < 3 else 1)
        return {"briefing": f"after {len(attempts)} attempts"}

    graph = StateGraph(Research)
    graph.add_node("flaky", flaky, timeout=2, retry=Retry(attempts=3, backoff=0.5, multiplier=1))
    graph.add_edge(START, "flaky")

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert state == {"briefing": "after 3 attempts", "ran": []}
    assert attempts == [0, 2.5, 5]


def test_an_existing_skill_keeps_its_options_unless_replaced() -> None:
    @skill(timeout=1, fallback={"briefing": "fallback"})
    async def slow(state: Any) -> dict[str, Any]:
        await asyncio.sleep(2)
        return {"briefing": "done"}

    graph = StateGraph(Research)
    graph.add_node("kept", slow)
    graph.add_node("replaced", slow, timeout=3)
    graph.add_edge(START, "kept")
    graph.add_edge("kept", "replaced")

    async def main() -> Any:
        return [u async for u in graph.compile().astream({})]

    updates, _ = vrun(main)
    assert updates == [{"kept": {"briefing": "fallback"}}, {"replaced": {"briefing": "done"}}]


def test_the_deadline_ends_the_graph_in_the_middle() -> None:
    clock = Clock()
    app = research_graph(clock).compile(timeout=2.5)

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await app.ainvoke({"query": "AAPL"})
        return info.value

    error, loop = vrun(main)
    assert loop.time() == 2.5
    assert str(error) == (
        "2 of 4 node runs ended without a value: "
        "financials (timeout: DeadlineExceeded: the run's deadline of 2.5 s was reached); "
        "summarize (skipped: DependencyFailed: dependency 'financials' ended timeout)"
    )
    assert error.state["ran"] == ["news", "stock"]  # what finished before is kept
    assert clock.cancelled == ["financials"]
    assert error.results["summarize"].started_at is None


def test_at_the_deadline_a_fallback_is_applied_but_nothing_new_starts() -> None:
    clock = Clock()
    graph = StateGraph(Research)
    graph.add_node("a", clock.node("a", 1, {"ran": ["a"]}))
    graph.add_node("b", clock.node("b", 5, {"ran": ["b"]}), fallback={"ran": ["b:fallback"]})
    graph.add_node("c", clock.node("c", 1, {"ran": ["c"]}))
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await graph.compile(timeout=3).ainvoke({})
        return info.value

    error, _ = vrun(main)
    assert error.state == {"ran": ["a", "b:fallback"]}
    assert [(r.key, r.status.value, r.fallback_used) for r in error.results] == [
        ("a", "success", False),
        ("b", "timeout", True),
        ("c", "skipped", False),
    ]
    assert "c" not in clock.starts


def test_a_bad_update_fails_the_node() -> None:
    graph = StateGraph(Research)
    graph.add_node("listy", lambda state: ["not", "a", "dict"])
    graph.add_node("typo", lambda state: {"breifing": "x"}, fallback={"briefing": "unused"})
    graph.add_edge(START, "listy")
    graph.add_edge(START, "typo")

    with pytest.raises(InvalidUpdateError) as info:
        graph.compile().invoke({})
    # A key that is not a field is dropped, as LangGraph does (it failed the node before
    # issue 16); a list is no update (InvalidUpdateError, as LangGraph's).
    assert [(r.key, r.status.value, r.error and r.error.message) for r in info.value.results] == [
        (
            "listy",
            "error",
            "Expected dict, got ['not', 'a', 'dict']: node 'listy' returned list; "
            "a node returns a dict of Research fields to update, a Command, or None",
        ),
        ("typo", "success", None),
    ]
    assert info.value.state == {"ran": []}


def test_a_router_that_raises_stops_the_graph_with_graph_error() -> None:
    clock = Clock()
    graph = StateGraph(Route)
    graph.add_node("a", clock.node("a", 1, {"risk": "?"}))
    graph.add_node("slow", clock.node("slow", 10, {"ran": ["slow"]}))
    graph.add_node("b", clock.node("b", 1))
    graph.add_edge(START, "a")
    graph.add_edge(START, "slow")
    graph.add_conditional_edges("a", lambda state: {"low": "b"}[state["risk"]], ["b", END])

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await graph.compile().ainvoke({})
        return info.value

    error, loop = vrun(main)
    assert str(error) == "the router of 'a' raised KeyError: '?'"
    assert isinstance(error.__cause__, KeyError)
    assert error.state == {"risk": "?", "ran": []}
    assert clock.cancelled == ["slow"] and loop.time() == 1


# -- astream --------------------------------------------------------------------------------


def test_astream_updates_and_values_modes() -> None:
    clock = Clock()
    app = research_graph(clock).compile()

    async def main() -> tuple[list[Any], list[Any], Any]:
        updates = [u async for u in app.astream({"query": "AAPL"})]
        values = [v async for v in app.astream({"query": "AAPL"}, stream_mode="values")]
        return updates, values, await app.ainvoke({"query": "AAPL"})

    (updates, values, final), _ = vrun(main)
    assert updates == [
        {"stock": {"stock_data": {"price": 190.0}, "ran": ["stock"]}},
        {"news": {"news_data": ["Apple beats"], "ran": ["news"]}},
        {"financials": {"financial_data": {"pe": 29}, "ran": ["financials"]}},
        {"summarize": {"briefing": "AAPL: 190.0, 1 news, P/E 29", "ran": ["summarize"]}},
    ]
    # values: the input first (as LangGraph), then the state after each update, folded
    # in LangGraph's order; the last one final.
    assert [v["ran"] for v in values] == [
        [],
        ["stock"],
        ["news", "stock"],
        ["financials", "news", "stock"],
        ["financials", "news", "stock", "summarize"],
    ]
    assert values[0] == {"query": "AAPL", "ran": []}
    assert values[1] == {"query": "AAPL", "stock_data": {"price": 190.0}, "ran": ["stock"]}
    assert values[-1] == final


def test_leaving_astream_early_cancels_nodes_in_flight() -> None:
    clock = Clock()
    app = research_graph(clock).compile()

    async def main() -> Any:
        async with contextlib.aclosing(app.astream({"query": "AAPL"})) as updates:
            async for update in updates:
                first = update
                break
        # aclosing has cancelled and awaited the slower lookups before returning.
        return first, asyncio.get_running_loop().time()

    (first, left_at), loop = vrun(main)
    assert first == {"stock": {"stock_data": {"price": 190.0}, "ran": ["stock"]}}
    assert left_at == 1
    assert sorted(clock.cancelled) == ["financials", "news"]
    assert clock.ends == {"stock": 1, "news": 1, "financials": 1}
    assert "summarize" not in clock.starts


def test_a_bare_break_cancels_in_flight_nodes_soon_after() -> None:
    clock = Clock()
    app = research_graph(clock).compile()

    async def main() -> None:
        async for _ in app.astream({"query": "AAPL"}):
            break
        # Python closes the dropped generator from the loop's finalizer hook.
        for _ in range(5):
            await asyncio.sleep(0)

    vrun(main)
    assert sorted(clock.cancelled) == ["financials", "news"]


def test_cancelling_ainvoke_cancels_nodes_in_flight() -> None:
    clock = Clock()
    app = research_graph(clock).compile()

    async def main() -> float:
        task = asyncio.ensure_future(app.ainvoke({"query": "AAPL"}))
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return asyncio.get_running_loop().time()

    cancelled_at, _ = vrun(main)
    assert cancelled_at == 1.5
    assert sorted(clock.cancelled) == ["financials", "news"]
    assert "summarize" not in clock.starts


def test_astream_checks_its_mode_at_once() -> None:
    app = research_graph(Clock()).compile()
    with pytest.raises(
        ValueError,
        match=r"^stream_mode must be 'updates', 'values', 'custom', 'messages', 'tasks' or 'debug' \(or a list\), got 'checkpoints'$",
    ):
        app.astream({}, stream_mode="checkpoints")  # type: ignore[call-overload]


# -- concurrency ----------------------------------------------------------------------------


def test_max_concurrency_bounds_node_runs_in_flight() -> None:
    clock = Clock()
    graph = StateGraph(Research)
    for i in range(6):
        graph.add_node(f"n{i}", clock.node(f"n{i}", 1, {"ran": [f"n{i}"]}))
        graph.add_edge(START, f"n{i}")

    async def main() -> Any:
        return await graph.compile(max_concurrency=2).ainvoke({})

    state, loop = vrun(main)
    assert clock.max_active == 2 and loop.time() == 3
    assert sorted(state["ran"]) == [f"n{i}" for i in range(6)]

    async def unbounded() -> Any:
        return await graph.compile(max_concurrency=None).ainvoke({})

    _, loop = vrun(unbounded)
    assert clock.max_active == 6 and loop.time() == 1


# -- bad graphs -----------------------------------------------------------------------------


def _noop(state: Any) -> None:
    return None


def _graph(*nodes: str) -> StateGraph[Research]:
    graph = StateGraph(Research)
    for name in nodes:
        graph.add_node(name, _noop)
    return graph


# Cycles were refused at compile() before loops were supported (issue 16); now a loop
# with no way out ends at the recursion limit, as in LangGraph.


def test_a_cycle_without_an_exit_ends_at_the_recursion_limit() -> None:
    graph = _graph("a", "b", "c")
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")
    graph.add_edge("c", "b")
    with pytest.raises(GraphRecursionError, match=r"^Recursion limit of 6 reached") as info:
        graph.compile().invoke({}, {"recursion_limit": 6})
    # a is step 1, then b, c, b, c (steps 2-5); the next b would be step 6.
    assert [r.key for r in info.value.results] == ["a", "b", "c", "b@1", "c@1"]


def test_a_self_loop_runs_until_the_limit() -> None:
    graph = _graph("a")
    graph.add_edge(START, "a")
    graph.add_edge("a", "a")
    with pytest.raises(GraphRecursionError):
        graph.compile().invoke({})
    with pytest.raises(RecursionError):  # LangGraph's GraphRecursionError is one too
        graph.compile().invoke({}, {"recursion_limit": 3})


def test_a_conditional_edge_back_is_a_loop() -> None:
    class Turns(TypedDict, total=False):
        turns: Annotated[list[str], operator.add]

    graph = StateGraph(Turns)
    graph.add_node("agent", lambda state: {"turns": ["agent"]})
    graph.add_node("tools", lambda state: {"turns": ["tools"]})
    graph.add_edge(START, "agent")
    graph.add_conditional_edges(
        "agent", lambda state: "call" if len(state["turns"]) < 5 else "done", {"call": "tools", "done": END}
    )
    graph.add_edge("tools", "agent")
    assert graph.compile().invoke({}) == {"turns": ["agent", "tools"] * 2 + ["agent"]}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda g: (g.add_edge(START, "a"), g.add_edge("a", "ghost")),
            r"^Found edge ending at unknown node 'ghost': edge 'a' -> 'ghost'$",
            id="edge-to-unknown",
        ),
        pytest.param(
            lambda g: (g.add_edge(START, "a"), g.add_edge("ghost", "a")),
            r"^Found edge starting at unknown node 'ghost': edge 'ghost' -> 'a'$",
            id="edge-from-unknown",
        ),
        pytest.param(
            lambda g: (g.add_edge(START, "a"), g.add_edge(["a", "ghost"], "b")),
            r"^Found edge starting at unknown node 'ghost': edge \['a', 'ghost'\] -> 'b'$",
            id="join-from-unknown",
        ),
        pytest.param(
            lambda g: (g.add_edge(START, "a"), g.add_conditional_edges("a", _noop, ["b", "ghost"])),
            r"^conditional edge from 'a': 'ghost' is not a node$",
            id="path-map-unknown",
        ),
        pytest.param(
            lambda g: (g.add_edge(START, "a"), g.add_conditional_edges("ghost", _noop, ["b"])),
            r"^conditional edge from 'ghost': 'ghost' is not a node$",
            id="router-on-unknown",
        ),
        pytest.param(
            lambda g: (g.add_edge("a", "b"),),
            r"^Graph must have an entrypoint: the graph has no edge from START; add one with add_edge\(START, <first node>\)$",
            id="no-start",
        ),
    ],
)
def test_bad_graphs_fail_at_compile(build: Any, message: str) -> None:
    graph = _graph("a", "b")
    build(graph)
    with pytest.raises(InvalidGraphError, match=message):
        graph.compile()


def test_a_node_unreachable_from_start_compiles_as_in_langgraph() -> None:
    # Refused before issue 16; but any node may go there with Command(goto=...).
    graph = _graph("a", "b")
    graph.add_edge(START, "a")
    assert graph.compile().invoke({}) == {"ran": []}


def test_misuse_fails_where_it_is_written() -> None:
    graph = _graph("a")
    with pytest.raises(InvalidGraphError, match=r"^node 'a' is already in the graph$"):
        graph.add_node("a", _noop)
    with pytest.raises(InvalidGraphError, match=r"^'__start__' is reserved for START; choose another node name$"):
        graph.add_node(START, _noop)
    with pytest.raises(InvalidGraphError, match=r"^'__end__' is reserved for END; choose another node name$"):
        graph.add_node(END, _noop)
    with pytest.raises(InvalidGraphError, match=r"^edge '__end__' -> 'a': END cannot be an edge's start$"):
        graph.add_edge(END, "a")
    with pytest.raises(InvalidGraphError, match=r"^edge 'a' -> '__start__': START cannot be an edge's end$"):
        graph.add_edge("a", START)
    with pytest.raises(InvalidGraphError, match=r"^END cannot be the source of a conditional edge$"):
        graph.add_conditional_edges(END, _noop)
    with pytest.raises(pydantic.ValidationError, match=r"timeout"):
        graph.add_node("b", _noop, timeout=-1)
    with pytest.raises(TypeError, match=r"^StateGraph\(\) takes a TypedDict, a pydantic model or a dataclass, got <class 'dict'>$"):
        StateGraph(dict)
    with pytest.raises(ValueError, match=r"^max_concurrency must be >= 1 or None, got 0$"):
        graph.compile(max_concurrency=0)
    assert isinstance(InvalidGraphError("x"), ValueError)


def test_a_router_naming_an_unknown_node_raises_and_cancels_in_flight() -> None:
    clock = Clock()
    graph = StateGraph(Route)
    graph.add_node("a", clock.node("a", 1))
    graph.add_node("b", clock.node("b", 1))
    graph.add_node("slow", clock.node("slow", 10))
    graph.add_edge(START, "a")
    graph.add_edge(START, "slow")
    # Declared, so that slow need not wait for it (a router that may go anywhere holds
    # back every node it could reach until it has decided).
    graph.add_conditional_edges("a", lambda state: "ghost", {"go": "b"})

    async def main() -> None:
        with pytest.raises(
            InvalidGraphError,
            match=r"^the router of 'a' returned 'ghost', which is not a key of its path_map",
        ):
            await graph.compile().ainvoke({})

    _, loop = vrun(main)
    assert clock.cancelled == ["slow"] and loop.time() == 1
    graph = StateGraph(Route)
    graph.add_node("a", lambda state: None)
    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", lambda state: "ghost")
    with pytest.raises(
        InvalidGraphError,
        match=r"^the router of 'a' returned 'ghost', but 'ghost' is not a node of the graph$",
    ):
        graph.compile().invoke({})


@pytest.mark.parametrize(
    ("answer", "path_map", "message"),
    [
        pytest.param(
            "c", ["b"], r"^the router of 'a' returned 'c', which is not in its path_map \['b'\]$",
            id="not-in-list",
        ),
        pytest.param(
            "maybe", {"yes": "b"},
            r"^the router of 'a' returned 'maybe', which is not a key of its path_map \{'yes': 'b'\}$",
            id="not-a-key",
        ),
        pytest.param(
            Send("ghost", 1), None,
            r"^the router of 'a' returned Send\(node='ghost', arg=1\), but 'ghost' is not a node of the graph$",
            id="send-unknown",
        ),
        pytest.param(
            42, None,
            r"^the router of 'a' returned 42; it must name a node, END, a Send, or a list of them$",
            id="not-a-name",
        ),
    ],
)
def test_bad_router_answers(answer: Any, path_map: Any, message: str) -> None:
    graph = _graph("a", "b", "c")
    graph.add_edge(START, "a")
    graph.add_edge(START, "c")
    graph.add_conditional_edges("a", lambda state: answer, path_map)
    with pytest.raises(InvalidGraphError, match=message):
        graph.compile().invoke({})


def test_an_undeclared_route_back_to_a_node_that_ran_is_a_loop() -> None:
    # Was refused at run time before loops were supported (issue 16): now it runs again.
    graph = _graph("a", "b")
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_conditional_edges("b", lambda state: "a")  # a loop compile() could not see
    with pytest.raises(GraphRecursionError) as info:
        graph.compile().invoke({}, {"recursion_limit": 5})
    assert [r.key for r in info.value.results] == ["a", "b", "a@1", "b@1"]


# -- sync code, pydantic state ----------------------------------------------------------------


def test_invoke_from_sync_code_with_sync_nodes() -> None:
    def fetch(state: Research) -> dict[str, Any]:
        return {"stock_data": {"symbol": state["query"]}, "ran": ["fetch"]}

    def summarize(state: Research) -> dict[str, Any]:
        return {"briefing": f"{state['stock_data']['symbol']} looks fine", "ran": ["summarize"]}

    graph = StateGraph(Research)
    graph.add_node("fetch", fetch)
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "fetch")
    graph.add_edge("fetch", "summarize")
    app = graph.compile()
    assert app.invoke({"query": "MSFT"}) == {
        "query": "MSFT",
        "stock_data": {"symbol": "MSFT"},
        "briefing": "MSFT looks fine",
        "ran": ["fetch", "summarize"],
    }


async def test_invoke_inside_a_running_loop_works_as_in_langgraph() -> None:
    # Was a RuntimeError before issue 16: a notebook's `app.invoke(...)` runs on a loop
    # in a thread of its own.
    app = _graph("a").add_edge(START, "a").compile()
    assert app.invoke({"query": "y"}) == {"query": "y", "ran": []}
    assert await app.ainvoke({"query": "x"}) == {"query": "x", "ran": []}


class Brief(pydantic.BaseModel):
    """A pydantic State: validated input, typed updates, the model back out."""

    query: str
    price: float | None = None
    pages: int = pydantic.Field(default=0, ge=0)
    notes: Annotated[list[str], operator.add] = []
    briefing: str = ""


def test_pydantic_state() -> None:
    seen: list[Any] = []

    async def quote(state: Brief) -> dict[str, Any]:
        seen.append(state)
        return {"price": "190.5", "notes": ["quote"]}  # "190.5" is coerced to a float

    async def summarize(state: Brief) -> dict[str, Any]:
        return {"briefing": f"{state.query} at {state.price:.2f}", "notes": ["summary"]}

    graph = StateGraph(Brief)
    graph.add_node("quote", quote)
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "quote")
    graph.add_edge("quote", "summarize")
    app = graph.compile()

    async def main() -> Any:
        return await app.ainvoke({"query": "AAPL", "notes": ["input"]})

    state, _ = vrun(main)
    assert isinstance(seen[0], Brief) and seen[0].query == "AAPL"
    # A dict of what was set, as given, as LangGraph returns for a pydantic State (it was
    # the validated model before issue 16); each node gets it validated ("190.5" -> 190.5).
    assert state == {"query": "AAPL", "price": "190.5", "notes": ["input", "quote", "summary"], "briefing": "AAPL at 190.50"}
    with pytest.raises(pydantic.ValidationError, match=r"query\n  Field required"):
        app.invoke({})


def test_pydantic_state_rejects_an_invalid_update() -> None:
    graph = StateGraph(Brief)
    graph.add_node("count", lambda state: {"pages": -3})
    graph.add_edge(START, "count")
    with pytest.raises(GraphError) as info:
        graph.compile().invoke({"query": "AAPL"})
    assert isinstance(info.value, ValueError)
    assert str(info.value) == (
        "node 'count' set 'pages' to an invalid value: Input should be greater than or equal "
        "to 0 (got -3)"
    )
    assert info.value.state == {"query": "AAPL", "notes": []}


@skill(executor="process")
def crunch_node(state: dict[str, Any]) -> dict[str, Any]:
    """A CPU-bound node: module level, so that process workers can import it."""
    return {"total": sum(i * i for i in range(state["n"])), "pid": os.getpid()}


class Crunch(TypedDict, total=False):
    n: int
    total: int
    pid: int


@pytest.mark.slow
def test_a_process_skill_as_a_node_runs_in_a_worker() -> None:
    graph = StateGraph(Crunch)
    graph.add_node("crunch", crunch_node, timeout=60)  # options change; the skill is kept
    graph.add_edge(START, "crunch")
    state = graph.compile().invoke({"n": 1000})
    assert state["total"] == 332833500
    assert state["pid"] != os.getpid()


# -- the example --------------------------------------------------------------------------------


@pytest.mark.slow
def test_research_graph_example_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SKILLSTREAM_LATENCY_SCALE": "0.2", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "research_graph.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    finished = [line.split()[1] for line in lines if line.startswith("+")]
    # Quote (120 ms), news (300 ms) and financials (450 ms), scaled by 0.2, finish in
    # that order; summarize last.
    assert finished == ["stock", "news", "financials", "summarize"], done.stdout
    assert any(line.startswith("Briefing for AAPL") for line in lines), done.stdout
    wall = next(line for line in lines if line.startswith("wall time"))
    seconds = float(wall.split()[2])
    # The slowest lookup is 450 ms x 0.2 = 90 ms; sequential would be 174 ms. Generous
    # upper band for a loaded CI machine (process start is not counted).
    assert 0.09 <= seconds < 1.0, done.stdout


import typing_extensions  # noqa: E402  (LangGraph's tests all import TypedDict from here)


class ExtState(typing_extensions.TypedDict):
    topic: str
    hits: Annotated[list[str], operator.add]


def test_a_typing_extensions_typeddict_state_with_a_reducer_runs() -> None:
    # typing.is_typeddict() is False for it before Python 3.13: it used to be refused.
    async def web(state: ExtState) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return {"hits": [f"web:{state['topic']}"]}

    async def news(state: ExtState) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return {"hits": [f"news:{state['topic']}"]}

    graph = StateGraph(ExtState)
    graph.add_node("web", web)
    graph.add_node("news", news)
    graph.add_edge(START, "web")
    graph.add_edge(START, "news")
    graph.add_edge(["web", "news"], END)
    app = graph.compile()

    final, _ = vrun(lambda: app.ainvoke({"topic": "ai", "hits": []}))
    assert sorted(final["hits"]) == ["news:ai", "web:ai"]


# -- the invocation is the engine's feeder ------------------------------------------------


class Ran(TypedDict, total=False):
    ran: Annotated[list[str], operator.add]


def test_an_async_router_deciding_does_not_hold_back_the_other_branches() -> None:
    # a's router takes 5 s to decide; meanwhile b finishes and c (after b) must start at
    # once: the router is awaited beside the run, not by the consumer in its way.
    clock = Clock()
    graph = StateGraph(Ran)
    graph.add_node("a", clock.node("a", 1, {"ran": ["a"]}))
    graph.add_node("b", clock.node("b", 2, {"ran": ["b"]}))
    graph.add_node("c", clock.node("c", 1, {"ran": ["c"]}))
    graph.add_node("d", clock.node("d", 1, {"ran": ["d"]}))
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    graph.add_edge("b", "c")

    async def slow_router(state: Any) -> Literal["d", "__end__"]:
        await asyncio.sleep(5)
        return "d"

    graph.add_conditional_edges("a", slow_router)

    async def main() -> Any:
        return await graph.compile().ainvoke({})

    state, _ = vrun(main)
    assert clock.starts == {"a": 0, "b": 0, "c": 2, "d": 6}
    assert sorted(state["ran"]) == ["a", "b", "c", "d"]


def test_nodes_start_when_their_inputs_exist_however_slowly_the_stream_is_read() -> None:
    # The consumer dawdles 10 s over each update; b starts when a finishes (t=1), not when
    # the consumer reads a's update: the engine tells the invocation of every result.
    clock = Clock()
    graph = StateGraph(Ran)
    graph.add_node("a", clock.node("a", 1, {"ran": ["a"]}))
    graph.add_node("b", clock.node("b", 1, {"ran": ["b"]}))
    graph.add_node("c", clock.node("c", 1, {"ran": ["c"]}))
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")

    async def main() -> list[Any]:
        seen = []
        async with contextlib.aclosing(graph.compile().astream({})) as updates:
            async for update in updates:
                seen.append(update)
                await asyncio.sleep(10)
        return seen

    seen, _ = vrun(main)
    assert clock.starts == {"a": 0, "b": 1, "c": 2}
    assert seen == [{"a": {"ran": ["a"]}}, {"b": {"ran": ["b"]}}, {"c": {"ran": ["c"]}}]


def test_skipped_nodes_are_results_of_the_run_in_the_order_they_happened() -> None:
    clock = Clock()
    graph = StateGraph(Ran)
    graph.add_node("quick", clock.node("quick", 0.5, {"ran": ["quick"]}))
    graph.add_node("fails", clock.node("fails", 1, fail=ValueError("down")))
    graph.add_node("slow", clock.node("slow", 3, {"ran": ["slow"]}))
    graph.add_node("after", clock.node("after", 1, {"ran": ["after"]}))
    graph.add_edge(START, "quick")
    graph.add_edge(START, "fails")
    graph.add_edge(START, "slow")
    graph.add_edge("quick", "after")  # triggered at 0.5, waits for its ancestor "fails"
    graph.add_edge("fails", "after")

    async def main() -> Any:
        with pytest.raises(GraphError) as caught:
            await graph.compile().ainvoke({})
        return caught.value

    error, _ = vrun(main)
    got = [(r.key, r.status, r.index, r.finished_at) for r in error.results]
    # "after" is skipped the moment "fails" fails (t=1), before "slow" ends (t=3): the
    # engine numbered and timed it as one of its own results (results are in run order).
    assert got == [
        ("quick", Status.SUCCESS, 0, 0.5),
        ("fails", Status.ERROR, 1, 1.0),
        ("slow", Status.SUCCESS, 2, 3.0),
        ("after", Status.SKIPPED, 3, 1.0),
    ]
    assert "after" not in clock.starts
    assert error.state["ran"] == ["quick", "slow"]
