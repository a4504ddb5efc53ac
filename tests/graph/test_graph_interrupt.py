"""Threads, interrupt() and Command(resume=...), get_state / update_state / get_state_history,
with the in-memory checkpointer."""

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
    InMemorySaver,
    Interrupt,
    MemorySaver,
    StateGraph,
    StateSnapshot,
    interrupt,
)
from tests.support.vloop import vrun


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any
    answers: list[Any]


def _thread(thread_id: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def test_memory_saver_is_langgraphs_other_name() -> None:
    assert MemorySaver is InMemorySaver


def test_a_thread_keeps_its_state_across_invocations_with_the_reducers() -> None:
    ran: Counter[str] = Counter()

    def chat(state: State) -> dict[str, Any]:
        ran["chat"] += 1
        return {"log": [f"reply to {state['log'][-1]}"], "answer": len(state["log"])}

    graph = StateGraph(State)
    graph.add_node("chat", chat)
    graph.add_edge(START, "chat")
    app = graph.compile(checkpointer=InMemorySaver())

    assert app.invoke({"log": ["hi"]}, _thread("a")) == {"log": ["hi", "reply to hi"], "answer": 1}
    second = app.invoke({"log": ["how are you"]}, _thread("a"))
    assert second["log"] == ["hi", "reply to hi", "how are you", "reply to how are you"]
    assert second["answer"] == 3  # the node saw the whole conversation
    # Another thread starts from nothing.
    assert app.invoke({"log": ["yo"]}, _thread("b")) == {"log": ["yo", "reply to yo"], "answer": 1}
    assert ran["chat"] == 3


def _approval_graph(ran: Counter[str]) -> Any:
    def plan(state: State) -> dict[str, Any]:
        ran["plan"] += 1
        return {"log": ["plan"]}

    def approve(state: State) -> dict[str, Any]:
        ran["approve"] += 1  # counts every run: the resume runs it again from its start
        answer = interrupt({"question": "go?", "seen": list(state["log"])})
        return {"log": ["approve"], "answer": answer}

    def act(state: State) -> dict[str, Any]:
        ran["act"] += 1
        return {"log": [f"act:{state['answer']}"]}

    graph = StateGraph(State)
    graph.add_sequence([plan, approve, act])
    graph.add_edge(START, "plan")
    graph.add_edge("act", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_interrupt_pauses_and_command_resume_goes_on_without_running_finished_nodes() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)

    paused = app.invoke({"log": ["in"]}, _thread())
    assert paused["log"] == ["in", "plan"]
    [pause] = paused["__interrupt__"]
    assert isinstance(pause, Interrupt)
    assert pause.value == {"question": "go?", "seen": ["in", "plan"]}
    assert isinstance(pause.id, str) and pause.id
    snapshot = app.get_state(_thread())
    assert isinstance(snapshot, StateSnapshot)
    assert snapshot.next == ("approve",)
    assert snapshot.interrupts == (pause,)
    assert snapshot.tasks[0].name == "approve" and snapshot.tasks[0].interrupts == (pause,)

    done = app.invoke(Command(resume="yes"), _thread())
    assert done == {"log": ["in", "plan", "approve", "act:yes"], "answer": "yes"}
    assert ran == Counter({"plan": 1, "approve": 2, "act": 1})
    assert app.get_state(_thread()).next == ()
    assert app.get_state(_thread()).interrupts == ()


def test_several_interrupts_in_one_node_are_answered_in_order() -> None:
    calls: list[list[Any]] = []

    def ask(state: State) -> dict[str, Any]:
        first = interrupt("first?")
        second = interrupt("second?")
        calls.append([first, second])
        return {"answers": [first, second]}

    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    app = graph.compile(checkpointer=InMemorySaver())

    assert [i.value for i in app.invoke({}, _thread())["__interrupt__"]] == ["first?"]
    assert [i.value for i in app.invoke(Command(resume=1), _thread())["__interrupt__"]] == ["second?"]
    assert app.invoke(Command(resume=2), _thread()) == {"log": [], "answers": [1, 2]}
    assert calls == [[1, 2]]


def _parallel_graph(ran: Counter[str]) -> Any:
    def left(state: State) -> dict[str, Any]:
        ran["left"] += 1
        return {"log": [f"left:{interrupt('left?')}"]}

    def right(state: State) -> dict[str, Any]:
        ran["right"] += 1
        return {"log": [f"right:{interrupt('right?')}"]}

    def both(state: State) -> dict[str, Any]:
        ran["both"] += 1
        return {"answer": sorted(state["log"])}

    graph = StateGraph(State)
    graph.add_node("left", left)
    graph.add_node("right", right)
    graph.add_node("both", both)
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_edge(["left", "right"], "both")
    return graph.compile(checkpointer=InMemorySaver())


def test_parallel_interrupts_are_resumed_by_id() -> None:
    ran: Counter[str] = Counter()
    app = _parallel_graph(ran)
    pauses = {i.value: i for i in app.invoke({}, _thread())["__interrupt__"]}
    assert set(pauses) == {"left?", "right?"}
    assert pauses["left?"].id != pauses["right?"].id
    assert set(app.get_state(_thread()).next) == {"left", "right"}

    with pytest.raises(RuntimeError, match="2 interrupts are waiting; resume them by id"):
        app.invoke(Command(resume="x"), _thread())

    # One answered: the other stays paused, and the answered one does not run again later.
    half = app.invoke(Command(resume={pauses["left?"].id: "L"}), _thread())
    assert [i.value for i in half["__interrupt__"]] == ["right?"]
    assert half["log"] == ["left:L"]
    done = app.invoke(Command(resume={pauses["right?"].id: "R"}), _thread())
    assert done["answer"] == ["left:L", "right:R"]
    # right's pause was replayed from the thread on the first resume (it had no answer yet).
    assert ran == Counter({"left": 2, "right": 2, "both": 1})


def test_both_at_once_by_id() -> None:
    ran: Counter[str] = Counter()
    app = _parallel_graph(ran)
    pauses = app.invoke({}, _thread())["__interrupt__"]
    answers = {i.id: i.value.upper() for i in pauses}
    assert app.invoke(Command(resume=answers), _thread())["answer"] == ["left:LEFT?", "right:RIGHT?"]
    assert ran == Counter({"left": 2, "right": 2, "both": 1})


def test_a_branch_that_does_not_need_the_paused_node_keeps_running() -> None:
    """START -> ask (pauses at once); START -> fetch (2 s) -> digest (3 s); [ask, digest]
    -> report. fetch and digest finish before invoke returns (LangGraph would stop after
    the superstep of ask and fetch, leaving digest for the resume); the resume then runs
    only ask and report."""
    ran: Counter[str] = Counter()
    finished_at: dict[str, float] = {}

    async def ask(state: State) -> dict[str, Any]:
        ran["ask"] += 1
        return {"answer": interrupt("which format?")}

    async def fetch(state: State) -> dict[str, Any]:
        ran["fetch"] += 1
        await asyncio.sleep(2)
        finished_at["fetch"] = asyncio.get_running_loop().time()
        return {"log": ["fetched"]}

    async def digest(state: State) -> dict[str, Any]:
        ran["digest"] += 1
        await asyncio.sleep(3)
        finished_at["digest"] = asyncio.get_running_loop().time()
        return {"log": ["digested"]}

    async def report(state: State) -> dict[str, Any]:
        ran["report"] += 1
        await asyncio.sleep(1)
        return {"log": [f"report as {state['answer']}"]}

    graph = StateGraph(State)
    for node in (ask, fetch, digest, report):
        graph.add_node(node)
    graph.add_edge(START, "ask")
    graph.add_edge(START, "fetch")
    graph.add_edge("fetch", "digest")
    graph.add_edge(["ask", "digest"], "report")
    app = graph.compile(checkpointer=InMemorySaver())

    async def main() -> tuple[Any, float, Any, float]:
        loop = asyncio.get_running_loop()
        paused = await app.ainvoke({}, _thread())
        paused_at = loop.time()
        resumed = await app.ainvoke(Command(resume="pdf"), _thread())
        return paused, paused_at, resumed, loop.time() - paused_at

    (paused, paused_at, resumed, resume_took), _ = vrun(main)
    assert paused["log"] == ["fetched", "digested"]
    assert [i.value for i in paused["__interrupt__"]] == ["which format?"]
    assert finished_at == {"fetch": 2.0, "digest": 5.0}
    assert paused_at == 5.0  # the invocation ran on until the branch needed the paused node
    assert resumed["log"] == ["fetched", "digested", "report as pdf"]
    assert resume_took == 1.0  # only report's second: fetch and digest were replayed
    assert ran == Counter({"ask": 2, "fetch": 1, "digest": 1, "report": 1})


async def test_the_pause_is_streamed_as_an_update() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)
    updates = [u async for u in app.astream({"log": ["in"]}, _thread())]
    assert updates[0] == {"plan": {"log": ["plan"]}}
    assert list(updates[1]) == ["__interrupt__"]
    [pause] = updates[1]["__interrupt__"]
    assert pause.value["question"] == "go?"
    resumed = [u async for u in app.astream(Command(resume="ok"), _thread())]
    assert resumed[-1] == {"act": {"log": ["act:ok"]}}


def test_update_state_as_a_node_goes_on_from_its_edges() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)
    app.invoke({"log": ["in"]}, _thread())  # paused at approve

    # A person edits the state instead of answering: as if approve had written it.
    config = app.update_state(_thread(), {"log": ["edited"], "answer": "manual"}, as_node="approve")
    assert config["configurable"]["thread_id"] == "t1"
    snapshot = app.get_state(_thread())
    assert snapshot.values == {"log": ["in", "plan", "edited"], "answer": "manual"}  # the reducer folded it
    assert snapshot.next == ("act",)
    assert snapshot.metadata is not None and snapshot.metadata["source"] == "update"

    done = app.invoke(None, _thread())
    assert done == {"log": ["in", "plan", "edited", "act:manual"], "answer": "manual"}
    assert ran == Counter({"plan": 1, "approve": 1, "act": 1})


def test_get_state_history_lists_the_checkpoints_newest_first() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)
    app.invoke({"log": ["in"]}, _thread())
    app.invoke(Command(resume="y"), _thread())
    history = list(app.get_state_history(_thread()))
    assert [s.next for s in history] == [(), ("plan",), ("approve",), ("plan",)]
    assert [s.metadata["source"] for s in history if s.metadata] == ["loop", "loop", "loop", "input"]
    assert history[0].values["log"] == ["in", "plan", "approve", "act:y"]
    assert history[-1].values == {"log": ["in"]}
    assert history[0].parent_config == history[1].config
    assert history[-1].parent_config is None
    # An earlier checkpoint is read by its id.
    assert app.get_state(history[2].config).next == ("approve",)


def test_a_resume_needs_a_paused_thread_and_a_checkpointer() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)
    with pytest.raises(ValueError, match="is not paused at an interrupt"):
        app.invoke(Command(resume="y"), _thread("fresh"))
    with pytest.raises(ValueError, match="has no state to continue from"):
        app.invoke(None, _thread("fresh"))

    graph = StateGraph(State)
    graph.add_node("n", lambda s: {"log": ["n"]})
    graph.add_edge(START, "n")
    with pytest.raises(ValueError, match="Command\\(resume=...\\) resumes a thread"):
        graph.compile().invoke(Command(resume="y"))


def test_interrupt_outside_a_node_says_where_it_belongs() -> None:
    with pytest.raises(RuntimeError, match="interrupt\\(\\) was called outside a StateGraph node"):
        interrupt("x")


def test_without_a_checkpointer_a_pause_still_returns_the_interrupt() -> None:
    graph = StateGraph(State)
    graph.add_node("ask", lambda s: {"answer": interrupt("q")})
    graph.add_edge(START, "ask")
    state = graph.compile().invoke({})
    assert [i.value for i in state["__interrupt__"]] == ["q"]


def test_update_state_as_start_is_an_input_the_next_run_starts_from() -> None:
    ran: Counter[str] = Counter()
    app = _approval_graph(ran)
    app.update_state(_thread(), {"log": ["seeded"]}, as_node=START)
    assert app.get_state(_thread()).next == ("plan",)
    paused = app.invoke(None, _thread())
    assert paused["log"] == ["seeded", "plan"] and "__interrupt__" in paused
    with pytest.raises(ValueError, match="as_node 'nope' is not a node"):
        app.update_state(_thread(), {"log": ["x"]}, as_node="nope")
