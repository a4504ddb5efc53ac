"""Subgraphs: a compiled graph as a node of another, or invoked inside a node; what
``stream(..., subgraphs=True)`` streams (LangGraph's namespaces and shapes); interrupts
inside a subgraph. Each runs under both schedules; where LangGraph's behaviour is the
point, the same graph is run on LangGraph and compared.
"""

from __future__ import annotations

import asyncio
import operator
import re
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from pipeline import (
    END,
    START,
    Command,
    GraphError,
    InMemorySaver,
    StateGraph,
    get_stream_writer,
    interrupt,
)
from tests.support.vloop import vrun

SCHEDULES = pytest.mark.parametrize("schedule", ["ready", "supersteps"])


class Parent(TypedDict, total=False):
    question: str
    log: Annotated[list[str], operator.add]
    answer: str


class Inner(TypedDict, total=False):
    question: str
    log: Annotated[list[str], operator.add]
    draft: str  # private: the parent has no such key


class InnerOut(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    draft: str


def _ids(value: Any) -> Any:
    """Namespaces with their task ids blanked: ``"sub:<id>"`` -> ``"sub:*"``."""
    if isinstance(value, str):
        return re.sub(r"^(\w+):[0-9a-f-]{36}$", r"\1:*", value)
    if isinstance(value, (list, tuple)):
        return type(value)(_ids(v) for v in value)
    return value


def _build(
    state_graph: Any, start: str, end: str, writer: Callable[[], Any], schedule: str | None
) -> Any:
    """The same graphs on either library: a parent whose node "research" is a compiled
    graph (with a private key, an output schema, a custom chunk), then a sync node that
    invokes a graph and streams it, then an async one invoking a graph that has a subgraph."""
    compile_kw = {} if schedule is None else {"schedule": schedule}

    def draft(state: Inner) -> Inner:
        writer()({"drafting": state["question"]})
        return {"draft": state["question"].upper()}

    def finish(state: Inner) -> Inner:
        return {"log": [f"researched {state['draft']}"]}

    research = (
        state_graph(Inner, output_schema=InnerOut)
        .add_node("draft", draft)
        .add_node("finish", finish)
        .add_edge(start, "draft")
        .add_edge("draft", "finish")
        .add_edge("finish", end)
        .compile(**compile_kw)
    )

    def shout(state: Parent) -> Parent:
        return {"answer": state["question"] + "!"}

    shouter = state_graph(Parent).add_node("shout", shout).add_edge(start, "shout").compile(**compile_kw)

    def review(state: Parent) -> Parent:  # sync: runs in a thread, its graph on a loop of its own
        first = shouter.invoke({"question": state["question"]})
        *_, second = shouter.stream({"question": first["answer"]}, stream_mode="values")
        return {"answer": second["answer"], "log": ["reviewed"]}

    nested = state_graph(Parent).add_node("research", research).add_edge(start, "research").compile(**compile_kw)

    async def deep(state: Parent) -> Parent:
        out = await nested.ainvoke({"question": "deep", "log": []})
        return {"log": out["log"]}

    return (
        state_graph(Parent)
        .add_node("research", research)
        .add_node("review", review)
        .add_node("deep", deep)
        .add_edge(start, "research")
        .add_edge("research", "review")
        .add_edge("review", "deep")
        .add_edge("deep", end)
        .compile(**compile_kw)
    )


@SCHEDULES
def test_streams_and_state_are_langgraph_s_with_and_without_subgraphs(schedule: str) -> None:
    from langgraph.config import get_stream_writer as langgraph_writer
    from langgraph.graph import END as LG_END
    from langgraph.graph import START as LG_START
    from langgraph.graph import StateGraph as LangGraph

    ours = _build(StateGraph, START, END, get_stream_writer, schedule)
    theirs = _build(LangGraph, LG_START, LG_END, langgraph_writer, None)
    given = {"question": "why", "log": ["asked"]}

    async def stream(app: Any, **kwargs: Any) -> list[Any]:
        return [chunk async for chunk in app.astream(given, **kwargs)]

    async def main() -> None:
        assert await ours.ainvoke(given) == await theirs.ainvoke(given)
        for kwargs in (
            {},
            {"subgraphs": True},
            {"subgraphs": True, "stream_mode": "values"},
            {"subgraphs": True, "stream_mode": "custom"},
            {"stream_mode": "custom"},  # nothing of a subgraph without subgraphs=True
            {"subgraphs": True, "stream_mode": ["updates", "custom", "values"]},
        ):
            mine = await stream(ours, **kwargs)
            assert _ids(mine) == _ids(await stream(theirs, **kwargs)), kwargs
            if kwargs.get("subgraphs"):
                assert any(isinstance(c, tuple) and c[0] for c in mine)  # subgraph chunks are there

    asyncio.run(main())
    # The sync API too (LangGraph's sync stream cannot run the async node: compared with
    # its astream).
    mine = list(ours.stream(given, subgraphs=True, stream_mode=["updates"]))
    assert _ids(mine) == _ids(asyncio.run(stream(theirs, subgraphs=True, stream_mode=["updates"])))


@SCHEDULES
def test_the_subgraph_gets_the_parent_state_and_its_output_is_the_node_s_update(schedule: str) -> None:
    seen: list[dict[str, Any]] = []

    def draft(state: Inner) -> Inner:
        seen.append(dict(state))
        return {"draft": state["question"] + "?"}

    def finish(state: Inner) -> Inner:
        return {"log": [state["draft"]]}

    research = (
        StateGraph(Inner, output_schema=InnerOut)
        .add_node("draft", draft)
        .add_node("finish", finish)
        .add_edge(START, "draft")
        .add_edge("draft", "finish")
        .compile(schedule=schedule)
    )
    app = (
        StateGraph(Parent)
        .add_node("research", research)
        .add_node("answer", lambda s: {"answer": " / ".join(s["log"])})
        .add_edge(START, "research")
        .add_edge("research", "answer")
        .compile(schedule=schedule)
    )
    state = app.invoke({"question": "why", "log": ["asked"], "answer": "none yet"})
    # The subgraph's input: the keys of its schema the parent has ("answer" is not one).
    assert seen == [{"question": "why", "log": ["asked"]}]
    # Its output ("log" and its private "draft") folded by the parent's reducer; "draft"
    # is dropped, the parent has no such key. The list is folded with operator.add as
    # LangGraph folds it: the subgraph returns the list it got plus its own item.
    assert state == {"question": "why", "log": ["asked", "asked", "why?"], "answer": "asked / asked / why?"}
    first, *_ = app.stream({"question": "why"})
    assert first == {"research": {"log": ["why?"]}}


@SCHEDULES
def test_a_pydantic_parent_state_is_the_subgraph_s_input(schedule: str) -> None:
    class Ticket(BaseModel):
        question: str
        log: Annotated[list[str], operator.add] = []

    def finish(state: Inner) -> Inner:
        return {"log": [state["question"].upper()]}

    research = StateGraph(Inner).add_node("finish", finish).add_edge(START, "finish").compile(schedule=schedule)
    app = StateGraph(Ticket).add_node("research", research).add_edge(START, "research").compile(schedule=schedule)
    assert app.invoke({"question": "why"}) == {"question": "why", "log": ["WHY"]}


@SCHEDULES
def test_subgraph_chunks_stream_while_its_node_runs_in_virtual_time(schedule: str) -> None:
    async def slow(state: Inner) -> Inner:
        await asyncio.sleep(2)
        return {"draft": "slow"}

    async def quick(state: Inner) -> Inner:
        await asyncio.sleep(1)
        return {"draft": "quick"}

    async def sibling(state: Parent) -> Parent:
        await asyncio.sleep(1.5)
        return {"answer": "sibling"}

    research = (
        StateGraph(Inner)
        .add_node("quick", quick)
        .add_node("slow", slow)
        .add_edge(START, "quick")
        .add_edge("quick", "slow")
        .compile(schedule=schedule)
    )
    app = (
        StateGraph(Parent)
        .add_node("research", research)
        .add_node("sibling", sibling)
        .add_edge(START, "research")
        .add_edge(START, "sibling")
        .compile(schedule=schedule)
    )

    async def main() -> list[tuple[float, Any]]:
        loop = asyncio.get_running_loop()
        return [(loop.time(), _ids(c)) async for c in app.astream({"question": "q"}, subgraphs=True)]

    chunks, _ = vrun(main)
    assert chunks == [
        (1.0, _ids((("research:*",), {"quick": {"draft": "quick"}}))),  # before "research" ends
        (1.5, _ids(((), {"sibling": {"answer": "sibling"}}))),
        (3.0, _ids((("research:*",), {"slow": {"draft": "slow"}}))),
        (3.0, _ids(((), {"research": {"question": "q", "log": []}}))),  # Inner's keys the parent has
    ]


@SCHEDULES
def test_each_run_of_a_subgraph_node_has_its_own_namespace(schedule: str) -> None:
    class Count(TypedDict):
        n: Annotated[int, operator.add]

    inner = StateGraph(Count).add_node("step", lambda s: {"n": 1}).add_edge(START, "step").compile(schedule=schedule)

    def again(state: Count) -> str:
        return "sub" if state["n"] < 6 else END

    app = (
        StateGraph(Count)
        .add_node("sub", inner)
        .add_edge(START, "sub")
        .add_conditional_edges("sub", again, ["sub", END])
        .compile(schedule=schedule)
    )
    chunks = list(app.stream({"n": 0}, subgraphs=True))
    inner_ns = [ns for ns, chunk in chunks if ns]
    assert len(inner_ns) == 3 and len(set(inner_ns)) == 3  # one task id per run
    assert all(re.fullmatch(r"sub:[0-9a-f-]{36}", ns[0]) for ns in inner_ns)
    # Each run's update is the subgraph's output (its input plus 1), added to the parent's n.
    assert [c for ns, c in chunks if not ns] == [{"sub": {"n": 1}}, {"sub": {"n": 2}}, {"sub": {"n": 4}}]
    assert app.invoke({"n": 0}) == {"n": 7}


@SCHEDULES
def test_a_sync_node_s_subgraph_streams_before_the_node_ends(schedule: str) -> None:
    seen = threading.Event()

    def work(state: Inner) -> Inner:
        return {"draft": "done"}

    inner = StateGraph(Inner).add_node("work", work).add_edge(START, "work").compile(schedule=schedule)

    def node(state: Parent) -> Parent:
        inner.invoke({"question": "q"})
        # The parent's consumer has the subgraph's chunk while this node still runs.
        assert seen.wait(10), "the subgraph's chunk did not reach the consumer while the node ran"
        return {"answer": "ok"}

    app = StateGraph(Parent).add_node("node", node).add_edge(START, "node").compile(schedule=schedule)
    chunks = []
    for chunk in app.stream({"question": "q"}, subgraphs=True):
        chunks.append(_ids(chunk))
        if chunk[0]:
            seen.set()
    assert chunks == [
        _ids((("node:*",), {"work": {"draft": "done"}})),
        _ids(((), {"node": {"answer": "ok"}})),
    ]


@SCHEDULES
def test_a_node_s_exception_inside_a_subgraph_is_the_parent_s(schedule: str) -> None:
    def broken(state: Inner) -> Inner:
        raise ValueError("no draft")

    inner = StateGraph(Inner).add_node("broken", broken).add_edge(START, "broken").compile(schedule=schedule)
    app = (
        StateGraph(Parent)
        .add_node("research", inner)
        .add_node("after", lambda s: {"answer": "never"})
        .add_edge(START, "research")
        .add_edge("research", "after")
        .compile(schedule=schedule)
    )
    with pytest.raises(ValueError, match="no draft") as caught:
        app.invoke({"question": "q"})
    assert isinstance(caught.value, GraphError)
    assert {r.key: r.status.value for r in caught.value.results} == {"research": "error"}  # "after" never ran


@SCHEDULES
@pytest.mark.parametrize("how", ["node", "function"])
def test_an_interrupt_inside_a_subgraph_pauses_the_parent_and_a_resume_re_enters_it(
    schedule: str, how: str
) -> None:
    runs: list[str] = []

    def ask(state: Inner) -> Inner:
        runs.append("ask")
        return {"draft": interrupt("first?")}

    def confirm(state: Inner) -> Inner:
        runs.append("confirm")
        return {"log": [state["draft"], interrupt("second?")]}

    inner = (
        StateGraph(Inner, output_schema=InnerOut)
        .add_node("ask", ask)
        .add_node("confirm", confirm)
        .add_edge(START, "ask")
        .add_edge("ask", "confirm")
        .compile(schedule=schedule)
    )

    def call(state: Parent) -> Parent:
        return {"log": inner.invoke({"question": state["question"]})["log"]}

    builder = StateGraph(Parent)
    builder.add_node("research", inner if how == "node" else call)
    app = builder.add_edge(START, "research").compile(checkpointer=InMemorySaver(), schedule=schedule)
    config = {"configurable": {"thread_id": "t"}}

    first = app.invoke({"question": "q"}, config)
    assert [i.value for i in first["__interrupt__"]] == ["first?"]
    assert app.get_state(config).next == ("research",)
    second = list(app.stream(Command(resume="yes"), config, subgraphs=True))
    assert [i.value for i in second[-1][1]["__interrupt__"]] == ["second?"]
    assert _ids(second[0]) == _ids((("research:*",), {"ask": {"draft": "yes"}}))
    state = app.invoke(Command(resume="sure"), config)
    assert state == {"question": "q", "log": ["yes", "sure"]}
    # A resume runs the subgraph again from its start: "ask" gets its answer again.
    assert runs == ["ask", "ask", "confirm", "ask", "confirm"]


def test_subgraphs_must_be_a_bool() -> None:
    app = StateGraph(Parent).add_node("n", lambda s: None).add_edge(START, "n").compile()
    with pytest.raises(TypeError, match="subgraphs must be True or False"):
        app.stream({"question": "q"}, subgraphs="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subgraphs must be True or False"):
        app.astream({"question": "q"}, subgraphs=1)  # type: ignore[arg-type]


@SCHEDULES
def test_a_subgraph_with_a_checkpointer_of_its_own_runs_in_the_parent_s_thread(schedule: str) -> None:
    saver = InMemorySaver()

    def ask(state: Inner) -> Inner:
        return {"draft": interrupt("why?")}

    inner = StateGraph(Inner).add_node("ask", ask).add_edge(START, "ask").compile(checkpointer=saver, schedule=schedule)
    app = (
        StateGraph(Parent)
        .add_node("research", inner)
        .add_node("answer", lambda s: {"answer": "done"})
        .add_edge(START, "research")
        .add_edge("research", "answer")
        .compile(checkpointer=saver, schedule=schedule)
    )
    config = {"configurable": {"thread_id": "t"}}
    assert [i.value for i in app.invoke({"question": "q"}, config)["__interrupt__"]] == ["why?"]
    assert app.invoke(Command(resume="because"), config) == {"question": "q", "log": [], "answer": "done"}
    # Only the parent's checkpoints are in its thread (two per invocation).
    history = list(app.get_state_history(config))
    assert [s.metadata["source"] for s in history] == ["loop", "loop", "loop", "input"]
    assert history[0].values == {"question": "q", "log": [], "answer": "done"}


def _drawn(state_graph: Any, start: str, end: str) -> list[Any]:
    """Graphs with subgraphs, one and two levels deep, with routers and a self-loop."""

    def f(state: Inner) -> Inner:
        return {}

    def route(state: Inner) -> Literal["b", "c"]:
        return "b"

    up = state_graph(Inner).add_node("up", f).add_edge(start, "up").add_edge("up", end).compile()
    branchy = (
        state_graph(Inner)
        .add_node("a", f)
        .add_node("b", f)
        .add_node("c", f)
        .add_edge(start, "a")
        .add_conditional_edges("a", route)
        .add_edge("b", end)
        .add_edge("c", end)
        .compile()
    )
    mid = (
        state_graph(Inner)
        .add_node("x", f)
        .add_node("deep", branchy)
        .add_edge(start, "x")
        .add_edge("x", "deep")
        .add_edge("deep", end)
        .compile()
    )
    nested = (
        state_graph(Inner)
        .add_node("pre", f)
        .add_node("mid", mid)
        .add_node("loop", f)
        .add_edge(start, "pre")
        .add_edge("pre", "mid")
        .add_edge("mid", "loop")
        .add_conditional_edges("loop", lambda s: end, {"again": "loop", "stop": end})
        .compile()
    )
    side_by_side = (
        state_graph(Inner).add_node("one", branchy).add_node("two", up).add_edge(start, "one").add_edge(start, "two").compile()
    )
    return [nested, side_by_side]


def test_get_graph_xray_draws_the_subgraphs_as_langgraph_does() -> None:
    from langgraph.graph import END as LG_END
    from langgraph.graph import START as LG_START
    from langgraph.graph import StateGraph as LangGraph

    for ours, theirs in zip(_drawn(StateGraph, START, END), _drawn(LangGraph, LG_START, LG_END), strict=True):
        for xray in (False, True, 1, 2):
            mine, want = ours.get_graph(xray=xray), theirs.get_graph(xray=xray)
            assert mine.draw_mermaid() == want.draw_mermaid(), xray
            assert mine.draw_mermaid(with_styles=False) == want.draw_mermaid(with_styles=False)
            assert list(mine.nodes) == list(want.nodes)
            assert [(e.source, e.target, e.data, e.conditional) for e in mine.edges] == [
                (e.source, e.target, e.data, e.conditional) for e in want.edges
            ]
    nested = _drawn(StateGraph, START, END)[0]
    assert "mid:deep:a" in nested.get_graph(xray=True).nodes
    assert "mid:deep:a" not in nested.get_graph(xray=1).nodes and "mid:deep" in nested.get_graph(xray=1).nodes
    assert "mid" in nested.get_graph().nodes


# -- "messages", "tasks" and "debug" of subgraphs --------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _blank(value: Any) -> Any:
    """A stream item comparable across libraries: ids blanked, messages as (type, text),
    debug timestamps left out."""
    if isinstance(value, str):
        return _UUID.sub("*", value)
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items() if k != "timestamp"}
    if isinstance(value, (list, tuple)):
        return type(value)(_blank(v) for v in value)
    if hasattr(value, "content"):
        return (type(value).__name__, value.content)
    return value


def _chat_graphs(state_graph: Any, start: str, messages_state: Any, schedule: str | None) -> Any:
    """A parent whose node "research" is a graph with a chat model in its node "search",
    then a sync node "ask" that invokes such a graph (without passing its config)."""
    from langchain_core.language_models import GenericFakeChatModel

    compile_kw = {} if schedule is None else {"schedule": schedule}

    def chat_graph(sync: bool) -> Any:
        model = GenericFakeChatModel(messages=iter(["sunny today"]))

        async def search(state: Any, config: RunnableConfig) -> Any:
            return {"messages": [await model.ainvoke(state["messages"], config)]}

        def search_sync(state: Any, config: RunnableConfig) -> Any:
            return {"messages": [model.invoke(state["messages"], config)]}

        node = search_sync if sync else search
        return state_graph(messages_state).add_node("search", node).add_edge(start, "search").compile(**compile_kw)

    research, inner = chat_graph(False), chat_graph(True)

    def ask(state: Any) -> Any:
        return {"messages": inner.invoke({"messages": state["messages"]})["messages"][-1:]}

    return (
        state_graph(messages_state)
        .add_node("research", research)
        .add_node("ask", ask)
        .add_edge(start, "research")
        .add_edge("research", "ask")
        .compile(**compile_kw)
    )


@SCHEDULES
def test_messages_tasks_and_debug_of_subgraphs_are_langgraph_s(schedule: str) -> None:
    from langgraph.graph import START as LG_START
    from langgraph.graph import MessagesState as LGMessagesState
    from langgraph.graph import StateGraph as LangGraph

    from pipeline import MessagesState

    given = {"messages": [("user", "weather?")]}

    async def stream(app: Any, **kwargs: Any) -> list[Any]:
        return [chunk async for chunk in app.astream(given, **kwargs)]

    async def main() -> None:
        for kwargs in (
            {"stream_mode": "messages", "subgraphs": True},
            {"stream_mode": "messages"},  # the parent's own: a subgraph's tokens are not
            {"stream_mode": ["messages", "tasks", "updates", "values"], "subgraphs": True},
            {"stream_mode": ["debug", "custom", "updates"], "subgraphs": True},
            {"stream_mode": ["tasks", "updates"]},
        ):
            ours = await stream(_chat_graphs(StateGraph, START, MessagesState, schedule), **kwargs)
            theirs = await stream(_chat_graphs(LangGraph, LG_START, LGMessagesState, None), **kwargs)
            assert _blank(ours) == _blank(theirs), kwargs

        # A namespace element is the checkpoint_ns of the node run the subgraph runs in,
        # the id its "tasks" chunk has; a model's langgraph_checkpoint_ns is nested.
        app = _chat_graphs(StateGraph, START, MessagesState, schedule)
        items = await stream(app, stream_mode=["messages", "tasks"], subgraphs=True)
        started = {(ns, c["name"]): c["id"] for ns, mode, c in items if mode == "tasks" and "input" in c}
        tokens = [(ns, c[1]) for ns, mode, c in items if mode == "messages"]
        assert {ns for ns, _ in tokens} == {(f"research:{started[(), 'research']}",), (f"ask:{started[(), 'ask']}",)}
        for ns, meta in tokens:
            search_id = started[ns, "search"]
            assert meta["langgraph_checkpoint_ns"] == f"{ns[0]}|search:{search_id}"
            assert meta["checkpoint_ns"] == ns[0]
        # Each token once; the subgraphs' messages are not streamed again as their nodes' output.
        assert "".join(c[0].content for _, mode, c in items if mode == "messages") == "sunny todaysunny today"

    asyncio.run(main())
