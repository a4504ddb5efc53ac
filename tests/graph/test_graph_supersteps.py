"""``compile(schedule="supersteps")``: LangGraph's superstep model, on the engine.

Node timings run on the virtual loop (tests/support/vloop.py), so "b finishes first"
is exact, and start times are read from the loop's clock.
"""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import (
    END,
    START,
    Command,
    GraphError,
    GraphRecursionError,
    InMemorySaver,
    InvalidGraphError,
    InvalidUpdateError,
    Send,
    StateGraph,
    interrupt,
)
from tests.support.vloop import vrun


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    seen: list[str]
    x: int


def _node(name: str, delay: float, starts: dict[str, float] | None = None, record: bool = False) -> Any:
    async def run(state: State) -> dict[str, Any]:
        if starts is not None:
            starts[name] = asyncio.get_running_loop().time()
        await asyncio.sleep(delay)
        update: dict[str, Any] = {"log": [name]}
        if record:
            update["seen"] = list(state["log"])
        return update

    run.__name__ = name
    return run


def _uneven(starts: dict[str, float] | None = None) -> StateGraph[State]:
    """START -> a (2 s), START -> b (1 s), a -> c: branches of different lengths."""
    graph = StateGraph(State)
    graph.add_node("a", _node("a", 2, starts))
    graph.add_node("b", _node("b", 1, starts))
    graph.add_node("c", _node("c", 1, starts, record=True))
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    graph.add_edge("a", "c")
    return graph


def test_c_sees_b_under_supersteps_and_not_under_the_default() -> None:
    starts: dict[str, float] = {}
    state, _ = vrun(lambda: _uneven(starts).compile(schedule="supersteps").ainvoke({"log": []}))
    # a and b ran in superstep 1; c (superstep 2) sees both, although nothing joins b to c.
    assert state == {"log": ["a", "b", "c"], "seen": ["a", "b"]}
    assert starts == {"a": 0, "b": 0, "c": 2}

    starts.clear()
    state, _ = vrun(lambda: _uneven(starts).compile().ainvoke({"log": []}))
    # The default starts c when a is done; b finished first, yet c never sees it.
    assert state == {"log": ["a", "b", "c"], "seen": ["a"]}
    assert starts == {"a": 0, "b": 0, "c": 2}
    assert _uneven().compile().schedule == "ready"


def test_a_superstep_starts_when_the_slowest_node_of_the_last_one_is_done() -> None:
    starts: dict[str, float] = {}
    graph = StateGraph(State)
    graph.add_node("fast", _node("fast", 1, starts))
    graph.add_node("slow", _node("slow", 5, starts))
    graph.add_node("next", _node("next", 1, starts, record=True))
    graph.add_edge(START, "fast")
    graph.add_edge(START, "slow")
    graph.add_edge("fast", "next")
    state, loop = vrun(lambda: graph.compile(schedule="supersteps").ainvoke({"log": []}))
    assert starts == {"fast": 0, "slow": 0, "next": 5}
    assert loop.time() == 6
    assert state["seen"] == ["fast", "slow"]  # folded by name, not by finishing order


def test_values_stream_once_per_superstep_and_updates_per_node() -> None:
    app = _uneven().compile(schedule="supersteps")

    async def main() -> list[Any]:
        return [c async for c in app.astream({"log": []}, stream_mode=["values", "updates"])]

    chunks, _ = vrun(main)
    assert chunks == [
        ("values", {"log": []}),
        ("updates", {"b": {"log": ["b"]}}),  # as each node finishes
        ("updates", {"a": {"log": ["a"]}}),
        ("values", {"log": ["a", "b"]}),  # superstep 1, its writes folded by name
        ("updates", {"c": {"log": ["c"], "seen": ["a", "b"]}}),
        ("values", {"log": ["a", "b", "c"], "seen": ["a", "b"]}),
    ]


def test_a_waiting_edge_runs_its_target_once_after_every_source() -> None:
    steps: list[tuple[str, int]] = []

    def node(name: str) -> Any:
        def run(state: State, config: dict[str, Any]) -> dict[str, Any]:
            steps.append((name, config["metadata"]["langgraph_step"]))
            return {"log": [name]}

        return run

    graph = StateGraph(State)
    for name in ("a", "a2", "b", "join"):
        graph.add_node(name, node(name))
    graph.add_edge(START, "a")
    graph.add_edge("a", "a2")
    graph.add_edge(START, "b")
    graph.add_edge(["a2", "b"], "join")
    graph.add_edge("join", END)
    state = graph.compile(schedule="supersteps").invoke({"log": []})
    assert state["log"] == ["a", "b", "a2", "join"]
    assert sorted(steps) == [("a", 1), ("a2", 2), ("b", 1), ("join", 3)]


def test_sends_run_in_the_next_superstep_and_fold_in_the_order_sent() -> None:
    starts: dict[str, float] = {}

    async def work(item: dict[str, Any]) -> dict[str, Any]:
        starts.setdefault(item["id"], asyncio.get_running_loop().time())
        await asyncio.sleep(item["delay"])  # the first sent finishes last
        return {"log": [item["id"]]}

    graph = StateGraph(State)
    graph.add_node("plan", _node("plan", 1))
    graph.add_node("side", _node("side", 3))
    graph.add_node("work", work)
    graph.add_edge(START, "plan")
    graph.add_edge(START, "side")
    graph.add_conditional_edges(
        "plan", lambda s: [Send("work", {"id": f"w{i}", "delay": 3 - i}) for i in range(3)], ["work"]
    )
    state, _ = vrun(lambda: graph.compile(schedule="supersteps").ainvoke({"log": []}))
    assert state["log"] == ["plan", "side", "w0", "w1", "w2"]
    assert starts == {"w0": 3, "w1": 3, "w2": 3}  # after side, though plan was done at 1


def test_the_recursion_limit_counts_supersteps_as_langgraph_does() -> None:
    ran: Counter[str] = Counter()

    def step(state: State) -> dict[str, Any]:
        ran["loop"] += 1
        return {"log": ["loop"]}

    graph = StateGraph(State)
    graph.add_node("loop", step)
    graph.add_edge(START, "loop")
    graph.add_conditional_edges("loop", lambda s: "loop", ["loop"])
    app = graph.compile(schedule="supersteps")
    with pytest.raises(GraphRecursionError) as caught:
        app.invoke({"log": []}, {"recursion_limit": 4})
    assert ran["loop"] == 4  # four supersteps ran; the fifth would pass the limit
    assert caught.value.state["log"] == ["loop"] * 4


def test_a_deferred_node_runs_once_nothing_else_is_left() -> None:
    starts: dict[str, float] = {}
    graph = StateGraph(State)
    graph.add_node("short", _node("short", 1, starts))
    graph.add_node("long1", _node("long1", 1, starts))
    graph.add_node("long2", _node("long2", 1, starts))
    graph.add_node("total", _node("total", 1, starts, record=True), defer=True)
    graph.add_edge(START, "short")
    graph.add_edge(START, "long1")
    graph.add_edge("long1", "long2")
    graph.add_edge("short", "total")
    graph.add_edge("long2", "total")
    state, _ = vrun(lambda: graph.compile(schedule="supersteps").ainvoke({"log": []}))
    # Triggered by short in superstep 1 and by long2 in superstep 2, it runs once, last.
    assert state == {"log": ["long1", "short", "long2", "total"], "seen": ["long1", "short", "long2"]}
    assert starts["total"] == 2


def test_defer_needs_supersteps_and_schedule_is_checked() -> None:
    graph = StateGraph(State)
    graph.add_node("a", _node("a", 0), defer=True)
    graph.add_edge(START, "a")
    with pytest.raises(InvalidGraphError, match="defer=True.*schedule='supersteps'"):
        graph.compile()
    with pytest.raises(ValueError, match="schedule must be"):
        graph.compile(schedule="pregel")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="defer"):
        graph.add_node("b", _node("b", 0), defer="yes")  # type: ignore[arg-type]


def test_two_writes_of_a_plain_field_in_one_superstep_are_refused() -> None:
    graph = StateGraph(State)
    graph.add_node("a", lambda s: {"x": 1})
    graph.add_node("b", lambda s: {"x": 2})
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    with pytest.raises(InvalidUpdateError, match="x"):
        graph.compile(schedule="supersteps").invoke({"log": []})


def test_a_command_goto_runs_in_the_next_superstep() -> None:
    graph = StateGraph(State)
    graph.add_node("a", lambda s: Command(update={"log": ["a"]}, goto="c"))
    graph.add_node("b", lambda s: {"log": ["b"]})
    graph.add_node("c", lambda s: {"seen": list(s["log"])})
    graph.add_edge(START, "a")
    graph.add_edge(START, "b")
    state = graph.compile(schedule="supersteps").invoke({"log": []})
    assert state == {"log": ["a", "b"], "seen": ["a", "b"]}


def test_an_interrupt_ends_the_invocation_after_its_superstep_and_resumes() -> None:
    ran: Counter[str] = Counter()

    def counted(name: str, body: Any) -> Any:
        def run(state: State) -> dict[str, Any]:
            ran[name] += 1
            return body(state)  # type: ignore[no-any-return]

        return run

    graph = StateGraph(State)
    graph.add_node("ask", counted("ask", lambda s: {"log": [f"ask:{interrupt('go?')}"]}))
    graph.add_node("side", counted("side", lambda s: {"log": ["side"]}))
    graph.add_node("after", counted("after", lambda s: {"seen": list(s["log"])}))
    graph.add_edge(START, "ask")
    graph.add_edge(START, "side")
    graph.add_edge("side", "after")
    app = graph.compile(schedule="supersteps", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}

    paused = app.invoke({"log": []}, config)
    assert paused["log"] == ["side"]  # side's superstep finished; after waits for the resume
    assert [i.value for i in paused["__interrupt__"]] == ["go?"]
    assert ran == Counter({"ask": 1, "side": 1})

    done = app.invoke(Command(resume="yes"), config)
    assert done == {"log": ["ask:yes", "side"], "seen": ["ask:yes", "side"]}
    assert ran == Counter({"ask": 2, "side": 1, "after": 1})


def test_a_node_triggered_in_two_supersteps_runs_in_both() -> None:
    steps: list[int] = []

    def c(state: State, config: dict[str, Any]) -> dict[str, Any]:
        steps.append(config["metadata"]["langgraph_step"])
        return {"log": ["c"]}

    graph = StateGraph(State)
    graph.add_node("a", lambda s: {"log": ["a"]})
    graph.add_node("b", lambda s: {"log": ["b"]})
    graph.add_node("c", c)
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("a", "c")
    graph.add_edge("b", "c")
    assert graph.compile(schedule="supersteps").invoke({"log": []})["log"] == ["a", "b", "c", "c"]
    assert steps == [2, 3]
    steps.clear()
    assert graph.compile().invoke({"log": []})["log"] == ["a", "b", "c"]  # the default: once


def test_at_the_deadline_the_next_superstep_ends_skipped() -> None:
    graph = StateGraph(State)
    graph.add_node("plan", _node("plan", 1))
    graph.add_node("slow", _node("slow", 10))
    graph.add_node("work", _node("work", 1))
    graph.add_node("last", _node("last", 1), defer=True)
    graph.add_edge(START, "plan")
    graph.add_edge(START, "slow")
    graph.add_edge("plan", "last")
    graph.add_conditional_edges("plan", lambda s: [Send("work", s)], ["work"])
    app = graph.compile(schedule="supersteps", timeout=3)

    async def main() -> GraphError:
        with pytest.raises(GraphError) as info:
            await app.ainvoke({"log": []})
        return info.value

    error, loop = vrun(main)
    assert loop.time() == 3  # slow holds superstep 1 open until the deadline
    assert {r.key: r.status.value for r in error.results} == {
        "plan": "success",
        "slow": "timeout",
        "work[0]": "skipped",
        "last": "skipped",
    }
    assert error.state["log"] == ["plan"]


def test_a_failed_node_blocks_what_it_reaches_and_the_rest_runs_on() -> None:
    def bad(state: State) -> dict[str, Any]:
        raise ValueError("no data")

    graph = StateGraph(State)
    graph.add_node("bad", bad)
    graph.add_node("after_bad", lambda s: {"log": ["after_bad"]})
    graph.add_node("good", lambda s: {"log": ["good"]})
    graph.add_node("after_good", lambda s: {"log": ["after_good"]})
    graph.add_edge(START, "bad")
    graph.add_edge("bad", "after_bad")
    graph.add_edge(START, "good")
    graph.add_edge("good", "after_good")
    with pytest.raises(ValueError, match="no data") as caught:
        graph.compile(schedule="supersteps").invoke({"log": []})
    assert isinstance(caught.value, GraphError)
    assert caught.value.state["log"] == ["good", "after_good"]
    # after_bad was never triggered: bad wrote nothing; good's branch ran to its end.
    assert sorted(r.key for r in caught.value.results) == ["after_good", "bad", "good"]
