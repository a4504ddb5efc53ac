"""StateGraph's ``stream_mode`` "messages", "tasks" and "debug".

"messages" is tested with LangChain's own fake chat models (real LangChain components, no
network): tokens of a model called in a node, in LangGraph's ``(chunk, metadata)`` shape,
the moment they come; messages a node writes without streaming them, once (by id). "Live"
is proved without time, as in test_graph_custom_stream.py: the node waits for an event the
consumer sets once it has read a token; were tokens held until the node ended, the test
would hang (and the per-test timeout fail it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import operator
import subprocess
import sys
import textwrap
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableConfig

from pipeline import (
    END,
    START,
    Command,
    GraphError,
    InMemorySaver,
    MessagesState,
    Send,
    StateGraph,
    interrupt,
)

SCHEDULES = pytest.mark.parametrize("schedule", ["ready", "supersteps"])


def chat_graph(node: Any, schedule: str = "ready", **compile: Any) -> Any:
    return StateGraph(MessagesState).add_node("chat", node).add_edge(START, "chat").compile(schedule=schedule, **compile)


async def collect(app: Any, input: Any, config: Any = None, **kwargs: Any) -> list[Any]:
    return [item async for item in app.astream(input, config, **kwargs)]


# -- "messages" -----------------------------------------------------------------------------


@SCHEDULES
async def test_an_async_nodes_model_tokens_stream_while_the_node_runs(schedule: str) -> None:
    model = GenericFakeChatModel(messages=iter(["sunny and warm"]))
    read_a_token = asyncio.Event()

    async def chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        reply = await model.ainvoke(state["messages"], config)
        await read_a_token.wait()  # set by the consumer once it has a token
        return {"messages": [reply]}

    app = chat_graph(chat, schedule)
    items = []
    async with contextlib.aclosing(
        app.astream({"messages": [("user", "weather?")]}, stream_mode=["messages", "updates"])
    ) as stream:
        async for mode, chunk in stream:
            items.append((mode, chunk))
            if mode == "messages":
                read_a_token.set()
    modes = [mode for mode, _ in items]
    assert modes == ["messages"] * 5 + ["updates"]  # "sunny", " ", "and", " ", "warm"
    tokens = [chunk for mode, (chunk, _) in items[:5]]
    assert all(isinstance(t, AIMessageChunk) for t in tokens)
    assert "".join(t.content for t in tokens) == "sunny and warm"
    assert len({t.id for t in tokens}) == 1  # one message's chunks
    reply = items[-1][1]["chat"]["messages"][0]
    assert reply.content == "sunny and warm" and reply.id == tokens[0].id  # not streamed again


@SCHEDULES
def test_a_sync_nodes_model_streams_without_being_given_the_config(schedule: str) -> None:
    # As in a LangGraph node: the run's config is LangChain's current one while it runs.
    model = GenericFakeChatModel(messages=iter(["hello there"]), tags=["greeter"])
    model_thread: list[int] = []

    def chat(state: MessagesState) -> dict[str, Any]:
        model_thread.append(threading.get_ident())
        return {"messages": model.invoke(state["messages"])}

    app = chat_graph(chat, schedule)
    pairs = list(app.stream({"messages": "hi"}, stream_mode="messages"))
    assert [chunk.content for chunk, _ in pairs] == ["hello", " ", "there"]
    assert model_thread[0] != threading.get_ident()  # it ran in a worker thread
    _, metadata = pairs[0]
    namespace = metadata["langgraph_checkpoint_ns"]
    assert namespace.startswith("chat:")
    assert metadata == {
        "langgraph_step": 1,
        "langgraph_node": "chat",
        "langgraph_triggers": ("branch:to:chat",),
        "langgraph_path": ("__pregel_pull", "chat"),
        "langgraph_checkpoint_ns": namespace,
        "checkpoint_ns": namespace,
        "ls_provider": "genericfakechatmodel",
        "ls_model_type": "chat",
        "ls_integration": "langchain_chat_model",
        "lc_versions": metadata["lc_versions"],
        "tags": ["greeter"],
    }


@SCHEDULES
async def test_messages_a_node_writes_are_streamed_once_and_its_input_never(schedule: str) -> None:
    async def greet(state: MessagesState) -> dict[str, Any]:
        # The whole conversation back, plus two new messages (one given an id).
        return {"messages": [*state["messages"], AIMessage("hello", id="a1"), AIMessage("how can I help?")]}

    async def check(state: MessagesState) -> Command[Any]:
        return Command(update={"messages": [AIMessage("hello again", id="a1")]})  # replaces a1

    app = (
        StateGraph(MessagesState)
        .add_node(greet)
        .add_node(check)
        .add_edge(START, "greet")
        .add_edge("greet", "check")
        .compile(schedule=schedule)
    )
    pairs = await collect(app, {"messages": [HumanMessage("hi", id="h1")]}, stream_mode="messages")
    assert [(m.content, meta["langgraph_node"]) for m, meta in pairs] == [
        ("hello", "greet"),
        ("how can I help?", "greet"),
    ]  # not h1 (the input), and a1's replacement has an id already streamed
    assert pairs[1][0].id is not None  # given one, as LangGraph does
    assert pairs[0][1]["ls_integration"] == "langgraph"
    assert pairs[0][1]["langgraph_step"] == 1
    state = await app.ainvoke({"messages": [HumanMessage("hi", id="h1")]})
    assert [m.content for m in state["messages"]] == ["hi", "hello again", "how can I help?"]


async def test_a_model_that_does_not_stream_gives_its_final_message_once() -> None:
    model = FakeListChatModel(responses=["forty-two"], disable_streaming=True)

    async def chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    pairs = await collect(chat_graph(chat), {"messages": "question"}, stream_mode="messages")
    assert [(type(m).__name__, m.content) for m, _ in pairs] == [("AIMessage", "forty-two")]
    assert pairs[0][1]["ls_provider"] == "fakelistchatmodel"  # the model run's metadata


async def test_a_nostream_model_is_not_streamed_but_its_message_is_once_written() -> None:
    model = GenericFakeChatModel(messages=iter(["quiet answer"]), tags=["nostream"])

    async def chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    pairs = await collect(chat_graph(chat), {"messages": "question"}, stream_mode="messages")
    assert [(type(m).__name__, m.content) for m, _ in pairs] == [("AIMessage", "quiet answer")]
    assert pairs[0][1]["ls_integration"] == "langgraph"  # the node's metadata, not the model's


async def test_the_callers_callbacks_and_metadata_are_kept() -> None:
    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

    recorder = Recorder()
    model = GenericFakeChatModel(messages=iter(["a b"]))

    async def chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    config = {"callbacks": [recorder], "metadata": {"user": "ann"}, "configurable": {"thread_id": "t-1"}}
    pairs = await collect(chat_graph(chat), {"messages": "q"}, config, stream_mode="messages")
    assert [m.content for m, _ in pairs] == ["a", " ", "b"]
    assert recorder.tokens == ["a", " ", "b"]
    assert pairs[0][1]["user"] == "ann"
    assert pairs[0][1]["thread_id"] == "t-1"  # LangGraph shows a few configurable keys


async def test_a_graph_run_inside_a_node_streams_to_its_own_caller_only() -> None:
    model = GenericFakeChatModel(messages=iter(["inner words"]))

    async def inner_chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"], config)]}

    inner = chat_graph(inner_chat)
    inner_pairs: list[Any] = []

    async def outer(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        async for pair in inner.astream({"messages": "q"}, config, stream_mode="messages"):
            inner_pairs.append(pair)
        return {"messages": [AIMessage("outer done", id="o1")]}

    pairs = await collect(chat_graph(outer), {"messages": "hi"}, stream_mode="messages")
    assert [m.content for m, _ in inner_pairs] == ["inner", " ", "words"]
    assert {meta["langgraph_node"] for _, meta in inner_pairs} == {"chat"}
    assert [m.content for m, _ in pairs] == ["outer done"]  # the inner tokens are not the outer's


async def test_a_failed_node_streams_its_tokens_but_not_its_messages() -> None:
    model = GenericFakeChatModel(messages=iter(["partial"]))

    async def chat(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        await model.ainvoke(state["messages"], config)
        raise RuntimeError("the tool broke")

    items = []
    with pytest.raises(RuntimeError, match="the tool broke"):
        async for item in chat_graph(chat).astream({"messages": "q"}, stream_mode="messages"):
            items.append(item)
    assert [m.content for m, _ in items] == ["partial"]


def test_messages_needs_langchain_core_and_other_modes_do_not_import_it() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["langchain_core"] = None  # as if not installed
        from typing import TypedDict
        from pipeline import START, StateGraph

        class S(TypedDict):
            n: int

        app = StateGraph(S).add_node("inc", lambda s: {"n": s["n"] + 1}).add_edge(START, "inc").compile()
        kinds = [c[1]["type"] for c in app.stream({"n": 1}, stream_mode=["debug"])]
        assert kinds == ["task", "task_result"], kinds
        assert [t["name"] for t in app.stream({"n": 1}, stream_mode="tasks")] == ["inc", "inc"]
        try:
            app.stream({"n": 1}, stream_mode="messages")
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "pip install 'skillstream[langchain]'" in done.stdout


# -- "tasks" and "debug" ----------------------------------------------------------------------


class Work(TypedDict, total=False):
    topic: str
    notes: Annotated[list[str], operator.add]


def fan_out(state: Work) -> list[Send]:
    return [Send("note", {"topic": t}) for t in ("a", "b")]


@SCHEDULES
async def test_tasks_stream_each_node_run_as_it_starts_and_ends(schedule: str) -> None:
    def plan(state: Work) -> Work:
        return {"notes": ["planned"]}

    def note(arg: dict[str, Any]) -> Work:
        return {"notes": [f"note {arg['topic']}"]}

    app = (
        StateGraph(Work)
        .add_node(plan)
        .add_node(note)
        .add_edge(START, "plan")
        .add_conditional_edges("plan", fan_out, ["note"])
        .compile(schedule=schedule)
    )
    events = await collect(app, {"topic": "x"}, stream_mode="tasks")
    starts = [e for e in events if "input" in e]
    ends = [e for e in events if "result" in e]
    assert starts[0] == {
        "id": starts[0]["id"],
        "name": "plan",
        "input": {"topic": "x", "notes": []},
        "triggers": ("branch:to:plan",),
    }
    assert ends[0] == {"id": starts[0]["id"], "name": "plan", "error": None, "result": {"notes": ["planned"]}, "interrupts": []}
    assert [(e["name"], e["input"], e["triggers"]) for e in starts[1:]] == [
        ("note", {"topic": "a"}, ("__pregel_push",)),
        ("note", {"topic": "b"}, ("__pregel_push",)),
    ]
    assert sorted(e["result"]["notes"][0] for e in ends[1:]) == ["note a", "note b"]
    ids = [e["id"] for e in starts]
    assert len(set(ids)) == 3 and {e["id"] for e in ends} == set(ids)
    for event in ends:  # each run's end comes after its start
        assert events.index(event) > next(i for i, e in enumerate(events) if e["id"] == event["id"])


async def test_a_task_id_is_the_one_in_the_nodes_namespace() -> None:
    seen: list[str] = []

    def plan(state: Work, config: RunnableConfig) -> Work:
        seen.append(config["metadata"]["langgraph_checkpoint_ns"])
        assert config["configurable"]["checkpoint_ns"] == seen[-1]
        return {"notes": ["planned"]}

    app = StateGraph(Work).add_node(plan).add_edge(START, "plan").compile()
    events = await collect(app, {"topic": "x"}, stream_mode="tasks")
    assert seen == [f"plan:{events[0]['id']}"]


async def test_a_failed_node_ends_with_its_exception_and_a_paused_one_with_its_interrupt() -> None:
    def broken(state: Work) -> Work:
        raise ValueError("no notes")

    app = StateGraph(Work).add_node(broken).add_edge(START, "broken").compile()
    events = []
    with pytest.raises(ValueError, match="no notes"):
        async for event in app.astream({"topic": "x"}, stream_mode="tasks"):
            events.append(event)
    assert [e["name"] for e in events] == ["broken", "broken"]
    assert isinstance(events[1]["error"], ValueError) and events[1]["result"] == {}

    def ask(state: Work) -> Work:
        return {"notes": [interrupt("which topic?")]}

    app = StateGraph(Work).add_node(ask).add_edge(START, "ask").add_edge("ask", END).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    events = await collect(app, {"topic": "x"}, config, stream_mode="tasks")
    assert events[1]["result"] == {} and events[1]["error"] is None
    assert events[1]["interrupts"] == [{"value": "which topic?", "id": events[1]["interrupts"][0]["id"]}]
    events = await collect(app, Command(resume="rates"), config, stream_mode="tasks")
    assert events[-1]["result"] == {"notes": ["rates"]}


async def test_a_node_that_fails_over_to_its_fallback_ends_with_the_fallback() -> None:
    def flaky(state: Work) -> Work:
        raise TimeoutError("slow source")

    app = StateGraph(Work).add_node("flaky", flaky, fallback={"notes": ["cached"]}).add_edge(START, "flaky").compile()
    events = await collect(app, {"topic": "x"}, stream_mode="tasks")
    assert events[1]["error"] is None and events[1]["result"] == {"notes": ["cached"]}


@SCHEDULES
async def test_debug_wraps_each_task_event_with_its_step_and_time(schedule: str) -> None:
    def first(state: Work) -> Work:
        return {"notes": ["1"]}

    def second(state: Work) -> Work:
        return {"notes": ["2"]}

    app = (
        StateGraph(Work)
        .add_node(first)
        .add_node(second)
        .add_edge(START, "first")
        .add_edge("first", "second")
        .compile(schedule=schedule)
    )
    before = datetime.datetime.now(datetime.UTC)
    pairs = await collect(app, {"topic": "x"}, stream_mode=["debug", "tasks"])
    after = datetime.datetime.now(datetime.UTC)
    debug = [chunk for mode, chunk in pairs if mode == "debug"]
    tasks = [chunk for mode, chunk in pairs if mode == "tasks"]
    assert [(d["type"], d["step"], d["payload"]["name"]) for d in debug] == [
        ("task", 1, "first"),
        ("task_result", 1, "first"),
        ("task", 2, "second"),
        ("task_result", 2, "second"),
    ]
    assert [d["payload"] for d in debug] == tasks  # the same events, wrapped
    for d in debug:
        assert before <= datetime.datetime.fromisoformat(d["timestamp"]) <= after


async def test_a_cached_node_run_starts_but_streams_no_result() -> None:
    from pipeline import CachePolicy, InMemoryCache

    def slow(state: Work) -> Work:
        return {"notes": ["computed"]}

    app = StateGraph(Work).add_node("slow", slow, cache_policy=CachePolicy()).add_edge(START, "slow").compile(cache=InMemoryCache())
    first = await collect(app, {"topic": "x"}, stream_mode="tasks")
    again = await collect(app, {"topic": "x"}, stream_mode=["tasks", "updates"])
    assert [("result" in e) for e in first] == [False, True]
    assert [mode for mode, _ in again] == ["tasks", "updates"]  # as LangGraph: no result for a cache hit
    assert again[1][1] == {"slow": {"notes": ["computed"]}, "__metadata__": {"cached": True}}


def test_unknown_modes_fail_where_given() -> None:
    app = StateGraph(Work).add_node("n", lambda s: {}).add_edge(START, "n").compile()
    with pytest.raises(ValueError, match="got 'checkpoints'"):
        app.stream({}, stream_mode=["tasks", "checkpoints"])  # type: ignore[list-item]
    with pytest.raises(GraphError):  # a real failure still raises after its events
        list(
            StateGraph(Work)
            .add_node("n", lambda s: 1 / 0)
            .add_edge(START, "n")
            .compile()
            .stream({}, stream_mode="debug")
        )


async def test_a_node_writing_a_field_twice_shows_both_writes() -> None:
    class Joined(TypedDict):
        text: Annotated[str, lambda a, b: f"{a}+{b}" if a else b]

    def twice(state: Joined) -> Command[Any]:
        return Command(update=[("text", "one"), ("text", "two")])

    app = StateGraph(Joined).add_node(twice).add_edge(START, "twice").compile()
    pairs = await collect(app, {"text": ""}, stream_mode=["updates", "tasks"])
    assert pairs[1] == ("updates", {"twice": [{"text": "one"}, {"text": "two"}]})
    assert pairs[2][1]["result"] == {"text": {"$writes": ["one", "two"]}}  # as LangGraph shows them
    assert await app.ainvoke({"text": ""}) == {"text": "one+two"}  # both folded, in order
