"""Arguments the model never sees: ``ToolContext`` and ``Annotated[T, Injected]``, filled
per turn; LangChain's injected arguments in a Toolset and in ToolNode.

The round trips use the official ``openai`` and ``anthropic`` clients against the scripted
model on 127.0.0.1 (examples/servers/scripted_model.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import anthropic
import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import InjectedToolArg, InjectedToolCallId, tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import InjectedState, InjectedStore
from langgraph.store.memory import InMemoryStore

from pipeline import (
    Injected,
    InjectionError,
    Status,
    ToolContext,
    ToolNode,
    Toolset,
    run,
    skill,
)
from tests.support.local_api_loader import load_scripted_model

sm = load_scripted_model()
ScriptedCall, ScriptedModel, Turn = sm.ScriptedCall, sm.ScriptedModel, sm.Turn


@dataclass
class Conversation:
    user: str
    notes: list[tuple[str, str]] = field(default_factory=list)


class Database:
    def __init__(self, orders: dict[str, list[str]]) -> None:
        self.orders = orders


@skill
async def remember(fact: str, ctx: ToolContext[Conversation]) -> str:
    """Keep a fact about the user.

    Args:
        fact: what to keep.
    """
    ctx.context.notes.append((ctx.call_id, fact))
    return f"kept for {ctx.context.user}"


@skill
async def orders(status: str, db: Annotated[Database, Injected], *, limit: int = 10) -> list[str]:
    """The user's orders with a status."""
    return db.orders.get(status, [])[:limit]


TOOLS = Toolset([remember, orders])

REMEMBER_SCHEMA = {
    "type": "object",
    "properties": {"fact": {"type": "string", "description": "what to keep."}},
    "required": ["fact"],
    "additionalProperties": False,
}


def chat_message(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
    ]}


# -- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_injected_parameters_are_in_no_provider_schema(strict: bool) -> None:
    schemas = {p: TOOLS.schemas(p, strict=strict) for p in ("openai", "openai-responses", "anthropic", "mcp")}
    params = [
        schemas["openai"][0]["function"]["parameters"], schemas["openai-responses"][0]["parameters"],
        schemas["anthropic"][0]["input_schema"], schemas["mcp"][0]["inputSchema"],
    ]
    for schema in params:
        assert schema == REMEMBER_SCHEMA
    for p, listed in schemas.items():
        order_schema = listed[1].get("input_schema") or listed[1].get("inputSchema") or listed[1].get("parameters") or listed[1]["function"]["parameters"]
        assert list(order_schema["properties"]) == ["status", "limit"], p


def test_a_strict_toolset_takes_injected_parameters_of_any_type() -> None:
    # Database has no JSON form at all: it never reaches the schema, strict or not.
    strict = Toolset([orders], strict=True)
    assert strict.schemas("openai")[0]["function"]["parameters"]["required"] == ["status", "limit"]


def test_a_positional_only_injected_parameter_is_refused() -> None:
    async def tool(db: Annotated[Database, Injected], /, q: str) -> str:
        return q

    with pytest.raises(TypeError, match=r"^tool 'tool': the injected parameter 'db' is filled by name; make it a keyword parameter \(not before /\)$"):
        Toolset([tool])


# -- values per turn ----------------------------------------------------------------------------


async def test_context_and_injected_values_reach_the_tool_with_the_call_id() -> None:
    talk = Conversation("ann")
    db = Database({"open": ["o1", "o2", "o3"]})
    calls = TOOLS.calls(
        chat_message(("c1", "remember", '{"fact": "likes tea"}'), ("c2", "orders", '{"status": "open", "limit": 2}')),
        context=talk, inject={"db": db},
    )
    results = await run(calls).collect()
    assert results["c1"].value == "kept for ann"
    assert results["c2"].value == ["o1", "o2"]
    assert talk.notes == [("c1", "likes tea")]


async def test_one_toolset_serves_conversations_at_once_each_with_its_own_context() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @skill
    async def who(ctx: ToolContext[str]) -> str:
        """Who asks."""
        if ctx.context == "ann":
            started.set()
            await release.wait()  # bob's turn runs while ann's waits
        return f"{ctx.context}:{ctx.call_id}"

    tools = Toolset([who])
    ann = asyncio.ensure_future(run(tools.calls(chat_message(("call_0", "who", "{}")), context="ann")).collect())
    await started.wait()
    bob = await run(tools.calls(chat_message(("call_0", "who", "{}")), context="bob")).collect()
    release.set()
    assert bob["call_0"].value == "bob:call_0"
    assert (await ann)["call_0"].value == "ann:call_0"


async def test_a_model_that_sends_an_injected_argument_gets_the_unknown_argument_refusal() -> None:
    results = await run(TOOLS.calls(
        chat_message(("c1", "orders", '{"status": "open", "db": "x"}'), ("c2", "orders", '{"status": "open", "dbx": "x"}')),
        inject={"db": Database({})},
    )).collect()
    said = {r.key: r.error.message for r in results if r.error is not None}
    assert said["c1"] == said["c2"].replace("dbx", "db") == (
        "Invalid arguments for tool 'orders':\n- db: not an argument of this tool\n"
        "Call 'orders' again with arguments {\"status\": string (required), \"limit\": integer = 10}."
    )
    assert {r.error.type for r in results if r.error is not None} == {"ToolCallError"}


async def test_a_missing_injected_value_ends_the_call_with_an_injection_error() -> None:
    results = await run(TOOLS.calls(
        chat_message(("c1", "orders", '{"status": "open"}'), ("c2", "remember", '{"fact": "f"}')),
        context=Conversation("ann"), inject={"user": "ann"},
    )).collect()
    error = results["c1"].error
    assert results["c1"].status is Status.ERROR and error is not None
    assert error.type == "InjectionError"
    assert error.message == (
        "tool 'orders' needs the injected value 'db', which this turn does not give "
        "(given: 'user'); pass it with calls(..., inject={'db': ...})"
    )
    assert results["c2"].value == "kept for ann"  # the other calls run
    assert issubclass(InjectionError, TypeError)


async def test_call_takes_context_and_injected_values_too() -> None:
    talk = Conversation("cy")
    results = await run([TOOLS.call("x1", "remember", {"fact": "f"}, context=talk)]).collect()
    assert results["x1"].value == "kept for cy" and talk.notes == [("x1", "f")]


async def test_a_call_that_takes_an_earlier_result_gets_its_injected_values() -> None:
    @skill
    async def count(n: int, db: Annotated[Database, Injected]) -> int:
        """How many of the first n open orders exist."""
        return len(db.orders["open"][:n])

    @skill
    async def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    tools = Toolset([double, count], references=True)
    message = chat_message(("c1", "double", '{"x": 1}'), ("c2", "count", '{"n": {"result_of": 1}}'))
    results = await run(tools.calls(message, inject={"db": Database({"open": ["a", "b", "c"]})})).collect()
    assert results["c2"].value == 2


# -- with the SDKs ------------------------------------------------------------------------------


@pytest.fixture
async def model() -> AsyncIterator[tuple[Any, str]]:
    turn = Turn(text="Noting.", calls=[
        ScriptedCall("call_1", "remember", {"fact": "likes tea"}, done_at=0.05),
        ScriptedCall("call_2", "orders", {"status": "open"}, done_at=0.1),
    ])
    scripted = ScriptedModel([turn, Turn(text="Done.")])
    async with scripted.serve() as base_url:
        yield scripted, base_url


async def test_openai_round_trip_with_injected_values(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": "I like tea. My open orders?"}]
        completion = await client.chat.completions.create(
            model="scripted", messages=messages, tools=TOOLS.schemas("openai", strict=True)  # type: ignore[arg-type]
        )
        sent_tools = scripted.requests[0][1]["tools"]
        assert [list(t["function"]["parameters"]["properties"]) for t in sent_tools] == [["fact"], ["status", "limit"]]
        talk = Conversation("ann")
        message = completion.choices[0].message
        results = await run(TOOLS.calls(message, context=talk, inject={"db": Database({"open": ["o1"]})})).collect()
        messages += [message, *TOOLS.replies(results, "openai")]
        answer = await client.chat.completions.create(model="scripted", messages=messages)
        assert answer.choices[0].message.content == "Done."
        assert [m["content"] for m in scripted.requests[1][1]["messages"][2:]] == ["kept for ann", '["o1"]']
        assert talk.notes == [("call_1", "likes tea")]
    finally:
        await client.close()


async def test_anthropic_stream_with_injected_values(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": "I like tea. My open orders?"}]
        stream = await client.messages.create(
            model="scripted", max_tokens=256, messages=messages, tools=TOOLS.schemas("anthropic"),  # type: ignore[arg-type]
            stream=True,
        )
        talk = Conversation("bo")
        calls = TOOLS.calls_from_stream(stream, context=talk, inject={"db": Database({"open": ["o9"]})})
        results = await run(calls, max_concurrency=None).collect()
        messages += [*calls.messages(), *TOOLS.replies(results, "anthropic")]
        await client.messages.create(model="scripted", max_tokens=256, messages=messages)
        blocks = scripted.requests[1][1]["messages"][2]["content"]
        assert [(b["tool_use_id"], b["content"]) for b in blocks] == [("call_1", "kept for bo"), ("call_2", '["o9"]')]
        assert talk.notes == [("call_1", "likes tea")]
    finally:
        await client.close()


# -- LangChain ----------------------------------------------------------------------------------


@tool
def greet(name: str, user: Annotated[str, InjectedToolArg], call: Annotated[str, InjectedToolCallId]) -> str:
    """Greet someone on the user's behalf."""
    return f"{user} greets {name} ({call})"


@tool
def profile(user: Annotated[str, InjectedToolArg]) -> dict[str, str]:
    """The user's profile."""
    return {"user": user}


@tool
def lookup(key: str, store: Annotated[Any, InjectedStore()], state: Annotated[dict[str, Any], InjectedState]) -> str:
    """Look a key up."""
    item = store.get(("notes",), key)
    return f"{item.value['text']} ({len(state['messages'])} messages)"


def test_langchain_injected_arguments_in_a_toolset() -> None:
    tools = Toolset([greet, profile])
    assert [s["input_schema"]["properties"] for s in tools.schemas("anthropic")] == [
        {"name": {"type": "string"}}, {}
    ]

    async def main() -> Any:
        message = chat_message(
            ("c1", "greet", '{"name": "bo"}'), ("c2", "profile", "{}"), ("c3", "profile", '{"user": "mallory"}'),
        )
        return await run(tools.calls(message, inject={"user": "ann"})).collect()

    results = asyncio.run(main())
    assert results["c1"].value == "ann greets bo (c1)"
    assert results["c2"].value == {"user": "ann"}
    error = results["c3"].error
    assert error is not None and error.message.startswith("Invalid arguments for tool 'profile':\n- user: not an argument of this tool")


def test_toolnode_fills_injected_state_and_store_in_a_langgraph_graph() -> None:
    store = InMemoryStore()
    store.put(("notes",), "tea", {"text": "likes tea"})
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([lookup]))
    graph.add_edge(START, "tools")
    app = graph.compile(store=store)
    call = {"name": "lookup", "args": {"key": "tea", "store": "forged"}, "id": "t1", "type": "tool_call"}
    out = app.invoke({"messages": [AIMessage("", tool_calls=[call])]})
    assert out["messages"][-1].content == "likes tea (1 messages)"


def test_toolnode_gives_a_skill_the_graph_state_as_its_context() -> None:
    @skill
    async def count_messages(word: str, ctx: ToolContext[dict[str, Any]]) -> str:
        """Count the conversation's messages."""
        return f"{word}: {len(ctx.context['messages'])} ({ctx.call_id})"

    call = {"name": "count_messages", "args": {"word": "n"}, "id": "t7", "type": "tool_call"}
    out = ToolNode([count_messages]).invoke({"messages": [AIMessage("", tool_calls=[call])]})
    assert out["messages"][-1].content == "n: 1 (t7)"
