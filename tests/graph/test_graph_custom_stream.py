"""StateGraph's ``stream_mode="custom"``: what nodes write (``get_stream_writer()``) and what
generator nodes yield, streamed the moment it exists; and the same chunks as LangGraph.

"The moment it exists" is proved without time: a node writes, then waits for an event the
consumer sets only once it has read that chunk; were chunks held until the node ended,
the test would hang (and the per-test timeout fail it).
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import END, START, Retry, StateGraph, get_stream_writer

StreamWriter = Callable[[Any], None]  # LangGraph's langgraph.types.StreamWriter
from tests.support.vloop import vrun


class State(TypedDict, total=False):
    topic: str
    notes: Annotated[list[str], operator.add]
    answer: str


def test_writes_from_async_and_sync_nodes_stream_before_the_node_ends() -> None:
    seen_async = asyncio.Event()
    seen_sync = threading.Event()

    async def plan(state: State) -> State:
        writer = get_stream_writer()
        writer({"step": "plan", "topic": state["topic"]})
        await seen_async.wait()  # set by the consumer once it has the chunk above
        return {"notes": ["planned"]}

    def search(state: State) -> State:  # runs in a thread: its writes hop onto the loop
        writer = get_stream_writer()
        writer({"step": "search"})
        assert seen_sync.wait(10), "the chunk did not reach the consumer while the node ran"
        writer("done searching")
        return {"notes": ["searched"]}

    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("search", search)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "search")
    graph.add_edge("search", END)
    app = graph.compile()

    async def main() -> list[Any]:
        chunks = []
        async for chunk in app.astream({"topic": "rates"}, stream_mode="custom"):
            chunks.append(chunk)
            if chunk == {"step": "plan", "topic": "rates"}:
                seen_async.set()
            if chunk == {"step": "search"}:
                seen_sync.set()
        return chunks

    chunks = asyncio.run(main())
    assert chunks == [{"step": "plan", "topic": "rates"}, {"step": "search"}, "done searching"]


async def _gated_tokens(gate: asyncio.Event) -> AsyncIterator[str]:
    yield "Hel"
    await gate.wait()
    yield "lo"


def test_a_generator_node_s_items_are_custom_chunks_as_yielded_and_its_last_item_its_update() -> None:
    gate = asyncio.Event()
    seen_sync = threading.Event()

    async def write(state: State) -> AsyncIterator[Any]:
        text = ""
        async for token in _gated_tokens(gate):
            text += token
            yield token  # a custom chunk, now
        yield {"answer": text}  # the last item is the node's update

    def review(state: State) -> Iterator[Any]:  # a sync generator, consumed in its thread
        yield "reviewing"
        assert seen_sync.wait(10), "the item did not reach the consumer while the node ran"
        yield {"notes": [f"reviewed {state['answer']}"]}

    graph = StateGraph(State)
    graph.add_node("write", write)
    graph.add_node("review", review)
    graph.add_edge(START, "write")
    graph.add_edge("write", "review")
    app = graph.compile()

    async def main() -> tuple[list[Any], Any]:
        pairs = []
        async for pair in app.astream({"topic": "t"}, stream_mode=["custom", "updates"]):
            pairs.append(pair)
            if pair == ("custom", "Hel"):
                gate.set()
            if pair == ("custom", "reviewing"):
                seen_sync.set()
        return pairs, await app.ainvoke({"topic": "t"})

    pairs, final = asyncio.run(main())
    assert pairs == [
        ("custom", "Hel"),
        ("custom", "lo"),
        ("custom", {"answer": "Hello"}),
        ("updates", {"write": {"answer": "Hello"}}),
        ("custom", "reviewing"),
        ("custom", {"notes": ["reviewed Hello"]}),
        ("updates", {"review": {"notes": ["reviewed Hello"]}}),
    ]
    assert final == {"topic": "t", "answer": "Hello", "notes": ["reviewed Hello"]}


def test_writes_and_updates_come_in_the_order_they_happened_across_parallel_nodes() -> None:
    async def slow(state: State) -> State:
        get_stream_writer()("slow starts")
        await asyncio.sleep(2)
        get_stream_writer()("slow ends")
        return {"notes": ["slow"]}

    async def fast(state: State) -> State:
        await asyncio.sleep(1)
        get_stream_writer()("fast")
        return {"notes": ["fast"]}

    graph = StateGraph(State)
    graph.add_node("slow", slow)
    graph.add_node("fast", fast)
    graph.add_edge(START, "slow")
    graph.add_edge(START, "fast")
    app = graph.compile()

    async def main() -> list[Any]:
        return [pair async for pair in app.astream({}, stream_mode=["updates", "custom", "values"])]

    pairs, _ = vrun(main)
    assert pairs == [
        ("values", {"notes": []}),
        ("custom", "slow starts"),
        ("custom", "fast"),
        ("updates", {"fast": {"notes": ["fast"]}}),
        ("values", {"notes": ["fast"]}),
        ("custom", "slow ends"),
        ("updates", {"slow": {"notes": ["slow"]}}),
        ("values", {"notes": ["fast", "slow"]}),
    ]


def test_without_custom_mode_the_writer_does_nothing_and_a_writer_parameter_gets_it() -> None:
    writers: list[Any] = []

    async def node(state: State, writer: StreamWriter) -> State:
        writers.append(writer)
        writer("dropped unless streaming custom")
        get_stream_writer()("this one too")
        return {"answer": "ok"}

    graph = StateGraph(State)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    app = graph.compile()

    async def main() -> tuple[Any, list[Any], list[Any]]:
        final = await app.ainvoke({})
        updates = [u async for u in app.astream({})]
        custom = [c async for c in app.astream({}, stream_mode="custom")]
        return final, updates, custom

    (final, updates, custom), _ = vrun(main)
    assert final == {"notes": [], "answer": "ok"}
    assert updates == [{"node": {"answer": "ok"}}]
    assert custom == ["dropped unless streaming custom", "this one too"]
    assert len(writers) == 3


def test_get_stream_writer_outside_a_node_raises() -> None:
    with pytest.raises(RuntimeError, match=r"^get_stream_writer\(\) was called outside a StateGraph node"):
        get_stream_writer()


def test_a_retried_generator_node_streams_each_attempt_s_items_and_updates_with_the_last() -> None:
    tries = 0

    async def flaky(state: State) -> AsyncIterator[Any]:
        nonlocal tries
        tries += 1
        yield f"attempt {tries}"
        if tries == 1:
            raise ConnectionError("stream cut")
        yield {"answer": f"from attempt {tries}"}

    graph = StateGraph(State)
    graph.add_node("flaky", flaky, retry=Retry(attempts=2, backoff=0.5, jitter=0))
    graph.add_edge(START, "flaky")
    app = graph.compile()

    async def main() -> list[Any]:
        return [pair async for pair in app.astream({}, stream_mode=["custom", "updates"])]

    pairs, _ = vrun(main)
    assert pairs == [
        ("custom", "attempt 1"),
        ("custom", "attempt 2"),
        ("custom", {"answer": "from attempt 2"}),
        ("updates", {"flaky": {"answer": "from attempt 2"}}),
    ]


def test_leaving_a_custom_stream_early_cancels_the_node_runs_in_flight() -> None:
    cancelled: list[str] = []

    async def talker(state: State) -> AsyncIterator[str]:
        try:
            for i in range(100):
                yield f"token {i}"
                await asyncio.sleep(1)
        except asyncio.CancelledError:
            cancelled.append("talker")
            raise

    graph = StateGraph(State)
    graph.add_node("talker", talker)
    graph.add_edge(START, "talker")
    app = graph.compile()

    async def main() -> list[Any]:
        got = []
        async with contextlib.aclosing(app.astream({}, stream_mode="custom")) as chunks:
            async for chunk in chunks:
                got.append(chunk)
                if len(got) == 3:
                    break
        return got

    got, _ = vrun(main)
    assert got == ["token 0", "token 1", "token 2"]
    assert cancelled == ["talker"]


def test_stream_from_sync_code_gives_custom_chunks() -> None:
    def node(state: State) -> State:
        get_stream_writer()({"progress": 0.5})
        return {"answer": "done"}

    graph = StateGraph(State)
    graph.add_node("node", node)
    graph.add_edge(START, "node")
    app = graph.compile()
    assert list(app.stream({}, stream_mode=["custom", "updates"])) == [
        ("custom", {"progress": 0.5}),
        ("updates", {"node": {"answer": "done"}}),
    ]


# -- the same graph on LangGraph ---------------------------------------------------------------


def _build(state_graph: Any, start: Any, end: Any, writer_of: Any) -> Any:
    """One graph in LangGraph's API, built with whichever library's names are given."""

    async def plan(state: State) -> State:
        writer_of()({"stage": "plan", "topic": state["topic"]})
        return {"notes": ["plan"]}

    def search(state: State) -> State:
        writer = writer_of()
        for page in (1, 2):
            writer({"stage": "search", "page": page})
        return {"notes": ["search"]}

    async def write(state: State, writer: StreamWriter) -> State:
        writer("writing")
        return {"answer": " + ".join(state["notes"])}

    def gen(state: State) -> Iterator[State]:  # a generator node's update: its last dict
        yield {"answer": "draft"}
        yield {"answer": state["answer"].upper()}

    graph = state_graph(State)
    graph.add_node("plan", plan)
    graph.add_node("search", search)
    graph.add_node("write", write)
    graph.add_node("gen", gen)
    graph.add_edge(start, "plan")
    graph.add_edge("plan", "search")
    graph.add_edge("search", "write")
    graph.add_edge("write", "gen")
    graph.add_edge("gen", end)
    return graph.compile()


def test_the_same_graph_streams_the_same_custom_chunks_as_on_langgraph() -> None:
    from langgraph.config import get_stream_writer as langgraph_writer
    from langgraph.graph import END as LG_END
    from langgraph.graph import START as LG_START
    from langgraph.graph import StateGraph as LangGraph

    ours = _build(StateGraph, START, END, get_stream_writer)
    theirs = _build(LangGraph, LG_START, LG_END, langgraph_writer)

    async def stream(app: Any, mode: Any) -> list[Any]:
        return [chunk async for chunk in app.astream({"topic": "rates"}, stream_mode=mode)]

    async def main() -> None:
        expected_custom = [
            {"stage": "plan", "topic": "rates"},
            {"stage": "search", "page": 1},
            {"stage": "search", "page": 2},
            "writing",
        ]
        # LangGraph streams writes only; a generator node's items are also custom chunks here.
        assert await stream(theirs, "custom") == expected_custom
        assert await stream(ours, "custom") == [*expected_custom, {"answer": "draft"}, {"answer": "PLAN + SEARCH"}]
        want_updates = await stream(theirs, "updates")
        assert await stream(ours, "updates") == want_updates
        gen_items = [("custom", {"answer": "draft"}), ("custom", {"answer": "PLAN + SEARCH"})]
        pairs = await stream(ours, ["custom", "updates"])
        assert [p for p in pairs if p not in gen_items] == await stream(theirs, ["custom", "updates"])
        assert await ours.ainvoke({"topic": "rates"}) == await theirs.ainvoke({"topic": "rates"})

    asyncio.run(main())
