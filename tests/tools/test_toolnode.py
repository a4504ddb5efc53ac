"""ToolNode in LangGraph's StateGraph and in skillstream's: the agent loop, concurrency,
handle_tool_errors, and a skill's own timeout, retry and fallback inside the node."""

import asyncio
import time
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel
from typing_extensions import TypedDict

from pipeline import Retry, SkillTimeout, ToolNode, skill, tools_condition

pytest.importorskip("langgraph.graph")


async def double(x: int) -> int:
    """Twice x."""
    await asyncio.sleep(0.3)
    return 2 * x


def _model(state: Any) -> dict[str, Any]:
    """A model stub: five tool calls, then an answer once the tools have replied."""
    if any(m.type == "tool" for m in state["messages"]):
        return {"messages": [AIMessage("done")]}
    calls = [{"name": "double", "args": {"x": i}, "id": f"c{i}"} for i in range(5)]
    return {"messages": [AIMessage("", tool_calls=calls)]}


def _graph(kind: str) -> Any:
    if kind == "langgraph":
        from langgraph.graph import START, StateGraph
        from langgraph.graph.message import add_messages
    else:
        from pipeline import START, StateGraph, add_messages

    class State(TypedDict):
        messages: Annotated[list, add_messages]

    graph = StateGraph(State)
    graph.add_node("agent", _model)
    graph.add_node("tools", ToolNode([double]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


@pytest.mark.parametrize("kind", ["langgraph", "skillstream"])
async def test_agent_loop_async(kind: str) -> None:
    app = _graph(kind)
    started = time.perf_counter()
    out = await app.ainvoke({"messages": [HumanMessage("hi")]})
    elapsed = time.perf_counter() - started
    contents = [m.content for m in out["messages"]]
    assert contents == ["hi", "", "0", "2", "4", "6", "8", "done"]
    tools = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tools] == [f"c{i}" for i in range(5)]
    assert all(m.name == "double" and m.status == "success" for m in tools)
    assert elapsed < 1.2  # five calls of 0.3 s at once (in turn: 1.5 s)


@pytest.mark.parametrize("kind", ["langgraph", "skillstream"])
def test_agent_loop_sync(kind: str) -> None:
    app = _graph(kind)
    started = time.perf_counter()
    out = app.invoke({"messages": [HumanMessage("hi")]})
    assert [m.content for m in out["messages"]][2:] == ["0", "2", "4", "6", "8", "done"]
    assert time.perf_counter() - started < 1.2


async def test_max_concurrency_caps_the_calls() -> None:
    in_flight = peak = 0

    async def probe(i: int) -> int:
        """Counts the calls in flight."""
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return i

    calls = [{"name": "probe", "args": {"i": i}, "id": f"p{i}"} for i in range(6)]
    out = await ToolNode([probe], max_concurrency=2).ainvoke({"messages": [AIMessage("", tool_calls=calls)]})
    assert [m.content for m in out["messages"]] == [str(i) for i in range(6)]
    assert peak == 2


async def test_list_input_gives_a_list_and_pydantic_state() -> None:
    def echo(text: str) -> str:
        """Echo."""
        return text

    message = AIMessage("", tool_calls=[{"name": "echo", "args": {"text": "a"}, "id": "1"}])
    out = await ToolNode([echo]).ainvoke([HumanMessage("hi"), message])
    assert out == [ToolMessage("a", name="echo", tool_call_id="1")]

    class State(BaseModel):
        messages: list[Any]

    out = await ToolNode([echo]).ainvoke(State(messages=[message]))
    assert out == {"messages": [ToolMessage("a", name="echo", tool_call_id="1")]}


async def test_skill_timeout_fallback_and_retry_inside_the_node() -> None:
    tries = 0

    @skill(timeout=0.1, fallback="no forecast")
    async def forecast(city: str) -> str:
        """The forecast."""
        await asyncio.sleep(5)
        return "sun"

    @skill(timeout=0.1)
    async def stuck(city: str) -> str:
        """Never answers."""
        await asyncio.sleep(5)
        return "never"

    @skill(retry=Retry(attempts=3, backoff=0.0))
    async def flaky(city: str) -> str:
        """Fails twice."""
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionError("try again")
        return f"{city}: ok"

    calls = [
        {"name": "forecast", "args": {"city": "Paris"}, "id": "f"},
        {"name": "stuck", "args": {"city": "Paris"}, "id": "s"},
        {"name": "flaky", "args": {"city": "Paris"}, "id": "r"},
    ]
    started = time.perf_counter()
    out = await ToolNode([forecast, stuck, flaky]).ainvoke({"messages": [AIMessage("", tool_calls=calls)]})
    assert time.perf_counter() - started < 2
    f, s, r = out["messages"]
    assert (f.content, f.status) == ("no forecast", "success")
    assert s.status == "error" and "SkillTimeout" in s.content
    assert (r.content, r.status, tries) == ("Paris: ok", "success", 3)

    with pytest.raises(SkillTimeout):
        await ToolNode([stuck], handle_tool_errors=False).ainvoke({"messages": [AIMessage("", tool_calls=calls[1:2])]})


async def test_node_timeout_is_a_deadline_for_all_calls() -> None:
    async def slow(x: int) -> int:
        """Slow."""
        await asyncio.sleep(5)
        return x

    calls = [{"name": "slow", "args": {"x": i}, "id": f"s{i}"} for i in range(3)]
    started = time.perf_counter()
    out = await ToolNode([slow], timeout=0.1).ainvoke({"messages": [AIMessage("", tool_calls=calls)]})
    assert time.perf_counter() - started < 2
    assert [m.status for m in out["messages"]] == ["error"] * 3


async def test_handle_tool_errors_modes() -> None:
    def boom(x: int) -> int:
        """Fails."""
        raise KeyError("missing")

    state = {"messages": [AIMessage("", tool_calls=[{"name": "boom", "args": {"x": 1}, "id": "b"}])]}
    message = (await ToolNode([boom]).ainvoke(state))["messages"][0]
    assert message.status == "error"
    assert message.content == "Error: KeyError('missing')\n Please fix your mistakes."
    assert (await ToolNode([boom], handle_tool_errors="sorry").ainvoke(state))["messages"][0].content == "sorry"

    def on_key(e: KeyError) -> str:
        return f"no key {e}"

    assert (await ToolNode([boom], handle_tool_errors=on_key).ainvoke(state))["messages"][0].content == "no key 'missing'"
    assert (await ToolNode([boom], handle_tool_errors=(KeyError,)).ainvoke(state))["messages"][0].status == "error"
    with pytest.raises(KeyError):
        await ToolNode([boom], handle_tool_errors=(ValueError,)).ainvoke(state)
    with pytest.raises(KeyError):
        await ToolNode([boom], handle_tool_errors=False).ainvoke(state)

    bad = {"messages": [AIMessage("", tool_calls=[{"name": "boom", "args": {"x": "one"}, "id": "b"}])]}
    message = (await ToolNode([boom]).ainvoke(bad))["messages"][0]
    assert message.status == "error" and "x" in message.content and "integer" in message.content


def test_no_messages() -> None:
    with pytest.raises(ValueError, match="No message"):
        ToolNode([double]).invoke({"messages": []})
    with pytest.raises(ValueError, match="No AIMessage"):
        ToolNode([double]).invoke({"messages": [HumanMessage("hi")]})
