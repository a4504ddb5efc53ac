"""LangGraph's ToolNode behaviour, checked against ``pipeline.ToolNode``.

Modelled on langchain-ai/langgraph ``libs/prebuilt/tests/test_tool_node.py`` (the test
each one follows is named in its docstring): the same tools, inputs and assertions,
written here. As in ``tests/graph/test_langgraph_compat.py``, only the import differs:
with ``SKILLSTREAM_COMPAT=langgraph`` in the environment this file runs against
``langgraph.prebuilt.ToolNode`` itself, which shows the assertions are LangGraph's.

Intended differences are strict xfails (they must keep failing, for the reason given).
"""

import json
import os
from functools import partial
from typing import Annotated, Any, NoReturn

import pytest

pytest.importorskip("langgraph.prebuilt")

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import ToolException
from langchain_core.tools import tool as dec_tool
from langchain_core.tools.base import InjectedToolCallId
from langgraph.errors import GraphBubbleUp
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import InjectedState
from langgraph.types import Command
from typing_extensions import TypedDict

ON_LANGGRAPH = os.environ.get("SKILLSTREAM_COMPAT") == "langgraph"
if ON_LANGGRAPH:
    from langgraph.prebuilt import ToolNode
    from langgraph.prebuilt.tool_node import (
        TOOL_CALL_ERROR_TEMPLATE,
        ToolInvocationError,
        tools_condition,
    )
else:
    from pipeline import ToolNode, tools_condition
    from pipeline._tools._toolnode import TOOL_CALL_ERROR_TEMPLATE
    from pipeline._tools._toolset import ToolCallError as ToolInvocationError


def _config() -> dict[str, Any]:
    """LangGraph's ToolNode called outside a graph wants a Runtime in its config (its tests
    make a mock one, as here); skillstream's takes the same config and needs none."""
    from unittest.mock import Mock

    runtime = Mock(store=None, context=None, stream_writer=lambda *args, **kwargs: None)
    return {"configurable": {"__pregel_runtime": runtime}}


DIFFERENT = partial(pytest.mark.xfail, not ON_LANGGRAPH, strict=True)


def tool1(some_val: int, some_other_val: str) -> str:
    """Tool 1 docstring."""
    if some_val == 0:
        raise ValueError("Test error")
    return f"{some_val} - {some_other_val}"


async def tool2(some_val: int, some_other_val: str) -> str:
    """Tool 2 docstring."""
    if some_val == 0:
        raise ToolException("Test error")
    return f"tool2: {some_val} - {some_other_val}"


async def tool3(some_val: int, some_other_val: str) -> Any:
    """Tool 3 docstring."""
    return [{"key_1": some_val, "key_2": "foo"}, {"key_1": some_other_val, "key_2": "baz"}]


async def tool4(some_val: int, some_other_val: str) -> Any:
    """Tool 4 docstring."""
    return [{"type": "image_url", "image_url": {"url": "abdc"}}]


@dec_tool
def tool5(some_val: int) -> NoReturn:
    """Tool 5 docstring."""
    raise ToolException("Test error")


tool5.handle_tool_error = "foo"


def _ai(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage("hi?", tool_calls=list(calls))


def _call(name: str, args: dict[str, Any], id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": id}


async def test_tool_node() -> None:
    """test_tool_node: sync and async, a string, JSON, content blocks."""
    result = ToolNode([tool1]).invoke(config=_config(), input={"messages": [_ai(_call("tool1", {"some_val": 1, "some_other_val": "foo"}, "some 0"))]})
    message = result["messages"][-1]
    assert message.type == "tool"
    assert message.content == "1 - foo"
    assert message.tool_call_id == "some 0"

    result = await ToolNode([tool2]).ainvoke(config=_config(), input={"messages": [_ai(_call("tool2", {"some_val": 2, "some_other_val": "bar"}, "some 1"))]})
    assert result["messages"][-1].content == "tool2: 2 - bar"

    result = await ToolNode([tool3]).ainvoke(config=_config(), input={"messages": [_ai(_call("tool3", {"some_val": 2, "some_other_val": "bar"}, "some 2"))]})
    message = result["messages"][-1]
    assert message.content == '[{"key_1": 2, "key_2": "foo"}, {"key_1": "bar", "key_2": "baz"}]'
    assert message.tool_call_id == "some 2"

    result = await ToolNode([tool4]).ainvoke(config=_config(), input={"messages": [_ai(_call("tool4", {"some_val": 2, "some_other_val": "bar"}, "some 3"))]})
    message = result["messages"][-1]
    assert message.content == [{"type": "image_url", "image_url": {"url": "abdc"}}]
    assert message.tool_call_id == "some 3"


def test_tool_node_tool_call_input() -> None:
    """test_tool_node_tool_call_input: a list of tool calls in, the messages out."""
    first = {**_call("tool1", {"some_val": 1, "some_other_val": "foo"}, "some 0"), "type": "tool_call"}
    second = {**_call("tool1", {"some_val": 2, "some_other_val": "bar"}, "some 1"), "type": "tool_call"}
    assert ToolNode([tool1]).invoke(config=_config(), input=[first])["messages"] == [
        ToolMessage(content="1 - foo", tool_call_id="some 0", name="tool1")
    ]
    assert ToolNode([tool1]).invoke(config=_config(), input=[first, second])["messages"] == [
        ToolMessage(content="1 - foo", tool_call_id="some 0", name="tool1"),
        ToolMessage(content="2 - bar", tool_call_id="some 1", name="tool1"),
    ]
    unknown = {**first, "name": "tool2"}
    assert ToolNode([tool1]).invoke(config=_config(), input=[first, unknown])["messages"] == [
        ToolMessage(content="1 - foo", tool_call_id="some 0", name="tool1"),
        ToolMessage(
            content="Error: tool2 is not a valid tool, try one of [tool1].",
            name="tool2",
            tool_call_id="some 0",
            status="error",
        ),
    ]


@DIFFERENT(reason="intended difference: arguments that do not fit get the Toolset's message for the model (what is wrong, the arguments to send), not LangGraph's 'Error invoking tool ... with kwargs'")
def test_tool_node_error_handling_default_invocation() -> None:
    """test_tool_node_error_handling_default_invocation."""
    result = ToolNode([tool1]).invoke(config=_config(), input={"messages": [_ai(_call("tool1", {"invalid": 0, "args": "foo"}, "some id"))]})
    assert all(m.type == "tool" and m.status == "error" for m in result["messages"])
    assert "Error invoking tool 'tool1' with kwargs {'invalid': 0, 'args': 'foo'} with error:\n" in result["messages"][0].content


@DIFFERENT(reason="intended difference: handle_tool_errors defaults to True (a tool's exception is an error ToolMessage for the model); LangGraph's default raises every error but invalid arguments")
def test_tool_node_error_handling_default_exception() -> None:
    """test_tool_node_error_handling_default_exception."""
    with pytest.raises(ValueError):
        ToolNode([tool1]).invoke(config=_config(), input={"messages": [_ai(_call("tool1", {"some_val": 0, "some_other_val": "foo"}, "some id"))]})


async def test_tool_node_error_handling() -> None:
    """test_tool_node_error_handling: True, a tuple of types, a handler of them all."""

    def handle_all(e: ValueError | ToolException | ToolInvocationError) -> str:
        return TOOL_CALL_ERROR_TEMPLATE.format(error=repr(e))

    for handle_tool_errors in (True, (ValueError, ToolException, ToolInvocationError), handle_all):
        result = await ToolNode([tool1, tool2, tool3], handle_tool_errors=handle_tool_errors).ainvoke(config=_config(), input=
            {
                "messages": [
                    _ai(
                        _call("tool1", {"some_val": 0, "some_other_val": "foo"}, "some id"),
                        _call("tool2", {"some_val": 0, "some_other_val": "bar"}, "some other id"),
                        _call("tool3", {"some_val": 0}, "another id"),
                    )
                ]
            }
        )
        messages = result["messages"]
        assert all(m.type == "tool" and m.status == "error" for m in messages)
        assert messages[0].content == f"Error: {ValueError('Test error')!r}\n Please fix your mistakes."
        assert messages[1].content == f"Error: {ToolException('Test error')!r}\n Please fix your mistakes."
        assert "some_other_val" in messages[2].content
        assert [m.tool_call_id for m in messages] == ["some id", "some other id", "another id"]


async def test_tool_node_error_handling_callable() -> None:
    """test_tool_node_error_handling_callable: a str, a handler; unhandled types raise."""

    def handle_value_error(e: ValueError) -> str:
        return "Value error"

    def handle_tool_exception(e: ToolException) -> str:
        return "Tool exception"

    failing = {"messages": [_ai(_call("tool1", {"some_val": 0, "some_other_val": "foo"}, "some id"))]}
    for handle_tool_errors in ("Value error", handle_value_error):
        message = (await ToolNode([tool1], handle_tool_errors=handle_tool_errors).ainvoke(config=_config(), input=failing))["messages"][-1]
        assert message.type == "tool"
        assert message.status == "error"
        assert message.content == "Value error"

    both = {
        "messages": [
            _ai(
                _call("tool1", {"some_val": 0, "some_other_val": "foo"}, "some id"),
                _call("tool2", {"some_val": 0, "some_other_val": "bar"}, "some other id"),
            )
        ]
    }
    for handle_tool_errors in ((ValueError,), handle_value_error):
        with pytest.raises(ToolException) as raised:
            await ToolNode([tool1, tool2], handle_tool_errors=handle_tool_errors).ainvoke(config=_config(), input=both)
        assert str(raised.value) == "Test error"
    for handle_tool_errors in ((ToolException,), handle_tool_exception):
        with pytest.raises(ValueError) as raised_value:
            await ToolNode([tool1, tool2], handle_tool_errors=handle_tool_errors).ainvoke(config=_config(), input=both)
        assert str(raised_value.value) == "Test error"


async def test_tool_node_handle_tool_errors_false() -> None:
    """test_tool_node_handle_tool_errors_false: the tool's own exception is raised."""
    with pytest.raises(ValueError) as raised:
        ToolNode([tool1], handle_tool_errors=False).invoke(config=_config(), input=
            {"messages": [_ai(_call("tool1", {"some_val": 0, "some_other_val": "foo"}, "some id"))]}
        )
    assert str(raised.value) == "Test error"
    with pytest.raises(ToolException):
        await ToolNode([tool2], handle_tool_errors=False).ainvoke(config=_config(), input=
            {"messages": [_ai(_call("tool2", {"some_val": 0, "some_other_val": "bar"}, "some id"))]}
        )
    with pytest.raises(ToolInvocationError):
        ToolNode([tool1], handle_tool_errors=False).invoke(config=_config(), input=
            {"messages": [_ai(_call("tool1", {"some_val": 0}, "some id"))]}
        )


def test_tool_node_individual_tool_error_handling() -> None:
    """test_tool_node_individual_tool_error_handling: a LangChain tool's own handler wins."""
    result = ToolNode([tool5], handle_tool_errors="bar").invoke(config=_config(), input={"messages": [_ai(_call("tool5", {"some_val": 0}, "some 0"))]})
    message = result["messages"][-1]
    assert message.type == "tool"
    assert message.status == "error"
    assert message.content == "foo"
    assert message.tool_call_id == "some 0"


def test_tool_node_incorrect_tool_name() -> None:
    """test_tool_node_incorrect_tool_name."""
    result = ToolNode([tool1, tool2]).invoke(config=_config(), input={"messages": [_ai(_call("tool3", {"some_val": 1, "some_other_val": "foo"}, "some 0"))]})
    message = result["messages"][-1]
    assert message.status == "error"
    assert message.content == "Error: tool3 is not a valid tool, try one of [tool1, tool2]."
    assert message.tool_call_id == "some 0"


def test_tool_node_node_interrupt() -> None:
    """test_tool_node_node_interrupt: LangGraph's interrupts are never handled."""

    def tool_interrupt(some_val: int) -> None:
        """Tool docstring."""
        raise GraphBubbleUp("foo")

    def handle(e: GraphBubbleUp) -> str:
        return "handled"

    for handle_tool_errors in (True, (GraphBubbleUp,), "handled", handle, False):
        node = ToolNode([tool_interrupt], handle_tool_errors=handle_tool_errors)
        with pytest.raises(GraphBubbleUp):
            node.invoke(config=_config(), input={"messages": [_ai(_call("tool_interrupt", {"some_val": 0}, "some 0"))]})


def test_tool_node_command_mixed() -> None:
    """test_tool_node_command (its first part): a Command to the parent beside a value."""
    @dec_tool
    def transfer_to_bob(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Transfer to Bob"""
        return Command(
            update={"messages": [ToolMessage(content="Transferred to Bob", tool_call_id=tool_call_id)]},
            goto="bob",
            graph=Command.PARENT,
        )

    def add(a: int, b: int) -> int:
        """Add two numbers"""
        return a + b

    calls = [
        {"args": {"a": 1, "b": 2}, "id": "1", "name": "add", "type": "tool_call"},
        {"args": {}, "id": "2", "name": "transfer_to_bob", "type": "tool_call"},
    ]
    for input_ in ({"messages": [AIMessage("", tool_calls=calls)]}, calls):
        assert ToolNode([add, transfer_to_bob]).invoke(config=_config(), input=input_) == [
            {"messages": [ToolMessage(content="3", tool_call_id="1", name="add")]},
            Command(
                update={"messages": [ToolMessage(content="Transferred to Bob", tool_call_id="2", name="transfer_to_bob")]},
                goto="bob",
                graph=Command.PARENT,
            ),
        ]


def test_tool_node_command_validation() -> None:
    """test_tool_node_command (its validation part)."""

    @dec_tool
    def no_update_tool() -> Command:
        """My tool"""
        return Command(update={"messages": []})

    with pytest.raises(ValueError):
        ToolNode([no_update_tool]).invoke(config=_config(), input={"messages": [AIMessage("", tool_calls=[{"args": {}, "id": "1", "name": "no_update_tool"}])]})


def test_tool_node_inject_state() -> None:
    """test_tool_node_inject_state (one field)."""

    @dec_tool
    def tool_state(some_val: int, foo: Annotated[str, InjectedState("foo")]) -> str:
        """Tool docstring."""
        return foo

    result = ToolNode([tool_state]).invoke(config=_config(), input=
        {"messages": [_ai(_call("tool_state", {"some_val": 1}, "some 0"))], "foo": "bar"}
    )
    assert result["messages"][-1].content == "bar"


def test_tool_node_ensure_utf8() -> None:
    """test_tool_node_ensure_utf8: a list input gives a list; JSON keeps the text."""

    @dec_tool
    def get_day_list(days: list[str]) -> list[str]:
        """choose days"""
        return days

    data = ["星期一", "水曜日", "목요일", "Friday"]
    outputs = ToolNode([get_day_list]).invoke(config=_config(), input=
        [AIMessage(content="", tool_calls=[ToolCall(name="get_day_list", args={"days": data}, id="test_id")])]
    )
    assert outputs[0].content == json.dumps(data, ensure_ascii=False)


def test_tool_node_ensure_utf8_plain_function() -> None:
    """test_tool_node_ensure_utf8, with the tool a plain function."""

    def get_day_list(days: list[str]) -> list[str]:
        """choose days"""
        return days

    data = ["星期一", "水曜日", "목요일", "Friday"]
    outputs = ToolNode([get_day_list]).invoke(config=_config(), input=
        [AIMessage(content="", tool_calls=[ToolCall(name="get_day_list", args={"days": data}, id="test_id")])]
    )
    assert outputs[0].content == json.dumps(data, ensure_ascii=False)


def test_tool_node_messages_key() -> None:
    """test_tool_node_messages_key: another key, in LangGraph's StateGraph."""

    @dec_tool
    def add(a: int, b: int) -> int:
        """Adds a and b."""
        return a + b

    class State(TypedDict):
        subgraph_messages: Annotated[list[AnyMessage], add_messages]

    def call_model(state: State) -> dict[str, Any]:
        if any(m.type == "tool" for m in state["subgraph_messages"]):
            return {"subgraph_messages": AIMessage(content="hi-hi-3", id="1")}
        call = ToolCall(name="add", args={"a": 1, "b": 2}, id="test_id")
        return {"subgraph_messages": AIMessage(content="hi", id="0", tool_calls=[call])}

    builder = StateGraph(State)
    builder.add_node("agent", call_model)
    builder.add_node("tools", ToolNode([add], messages_key="subgraph_messages"))
    builder.add_conditional_edges("agent", partial(tools_condition, messages_key="subgraph_messages"))
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    result = builder.compile().invoke({"subgraph_messages": [HumanMessage(content="hi", id="h")]})
    assert result["subgraph_messages"] == [
        HumanMessage(content="hi", id="h"),
        AIMessage(content="hi", id="0", tool_calls=[ToolCall(name="add", args={"a": 1, "b": 2}, id="test_id")]),
        ToolMessage(content="3", name="add", tool_call_id="test_id", id=result["subgraph_messages"][2].id),
        AIMessage(content="hi-hi-3", id="1"),
    ]


def test_tools_condition() -> None:
    """tools_condition: "tools" for an AI message with tool calls, else "__end__"."""
    with_calls = AIMessage("", tool_calls=[ToolCall(name="add", args={}, id="1")])
    assert tools_condition({"messages": [HumanMessage("hi"), with_calls]}) == "tools"
    assert tools_condition([with_calls]) == "tools"
    assert tools_condition({"messages": [AIMessage("done")]}) == "__end__"
    with pytest.raises(ValueError):
        tools_condition({"messages": []})
