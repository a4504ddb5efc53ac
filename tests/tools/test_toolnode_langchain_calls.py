"""LangChain tools called by ``pipeline.ToolNode`` inside LangGraph's own graph give what
LangGraph's ``ToolNode`` gives: the same messages (content, artifact, status), the same
tool runs reported to the callbacks, the config and the call id injected, and an
``interrupt()`` inside a tool pauses and resumes the graph."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

pytest.importorskip("langgraph.prebuilt")

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import InjectedToolCallId, ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode as LangGraphToolNode
from langgraph.types import Command, interrupt

from pipeline import ToolNode


@tool(response_format="content_and_artifact")
async def chart(points: int) -> tuple[str, list[int]]:
    """A chart of some points."""
    return f"{points} points", list(range(points))


@tool
def tagged(word: str, config: RunnableConfig) -> str:
    """The word and the config's tag (a sync function)."""
    return f"{word}:{','.join(config.get('tags') or [])}:{config['metadata'].get('who')}"


@tool
async def echo_id(text: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> ToolMessage:
    """A ToolMessage of its own, with the call's id."""
    return ToolMessage(f"{text} ({tool_call_id})", tool_call_id=tool_call_id, artifact={"id": tool_call_id})


@tool
async def fails(x: int) -> str:
    """Always fails, with a message the tool handles itself."""
    raise ToolException(f"no {x}")


fails.handle_tool_error = True


@tool
async def defaults(x: int, y: int = 7) -> str:
    """Arguments with a default."""
    return f"{x}+{y}={x + y}"


@tool
async def with_callbacks(x: int, callbacks: Any = None) -> str:
    """Takes LangChain's callbacks (called with ainvoke as it is)."""
    return f"cb {x} {callbacks is not None}"


TOOLS = [chart, tagged, echo_id, fails, defaults, with_callbacks]
CALLS = [
    {"name": "chart", "args": {"points": 3}, "id": "c1"},
    {"name": "tagged", "args": {"word": "w"}, "id": "c2"},
    {"name": "echo_id", "args": {"text": "t"}, "id": "c3"},
    {"name": "fails", "args": {"x": 1}, "id": "c4"},
    {"name": "defaults", "args": {"x": 1}, "id": "c5"},
    {"name": "with_callbacks", "args": {"x": 2}, "id": "c6"},
    {"name": "defaults", "args": {"x": "not a number"}, "id": "c7"},
]


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []

    async def on_tool_start(self, serialized: Any, input_str: str, *, run_id: Any, parent_run_id: Any = None,
                            **kwargs: Any) -> None:
        self.events.append(("start", serialized["name"], kwargs.get("inputs")))

    async def on_tool_end(self, output: Any, *, run_id: Any, **kwargs: Any) -> None:
        self.events.append(("end", getattr(output, "tool_call_id", None), getattr(output, "status", None)))

    async def on_tool_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        self.events.append(("error", type(error).__name__, None))


def _graph(node: Any, checkpointer: Any = None) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("tools", node)
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile(checkpointer=checkpointer)


def _shape(message: ToolMessage) -> tuple[Any, ...]:
    return (message.tool_call_id, message.name, message.status, message.content, message.artifact)


async def _run(node: Any) -> tuple[list[tuple[Any, ...]], list[tuple[str, Any, Any]], list[str]]:
    recorder = Recorder()
    config: RunnableConfig = {"callbacks": [recorder], "tags": ["t1"], "metadata": {"who": "me"}}
    out = await _graph(node).ainvoke({"messages": [AIMessage("", tool_calls=CALLS)]}, config)
    kinds = [
        event["event"]
        async for event in _graph(node).astream_events(
            {"messages": [AIMessage("", tool_calls=CALLS[:2])]}, version="v2"
        )
        if event["event"].startswith("on_tool")
    ]
    return [_shape(m) for m in out["messages"][1:]], sorted(recorder.events, key=repr), sorted(kinds)


async def test_the_same_messages_and_tool_runs_as_langgraphs_node() -> None:
    theirs = await _run(LangGraphToolNode(TOOLS))
    ours = await _run(ToolNode(TOOLS))
    # the validation error's text is each node's own (ours tells the model what to fix)
    assert ours[0][:6] == theirs[0][:6]
    assert ours[0][6][:3] == theirs[0][6][:3] == ("c7", "defaults", "error")
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2]
    messages = {m[0]: m for m in ours[0]}
    assert messages["c1"][3:] == ("3 points", [0, 1, 2])
    assert messages["c2"][3] == "w:t1:me"
    assert messages["c3"][3:] == ("t (c3)", {"id": "c3"})
    assert messages["c4"][2:4] == ("error", "no 1")
    assert messages["c5"][3] == "1+7=8"
    assert messages["c6"][3] == "cb 2 True"
    assert ("error", "ValidationError", None) in ours[1]
    assert ours[2].count("on_tool_start") == ours[2].count("on_tool_end") == 2


@pytest.mark.parametrize("kind", ["langgraph", "skillstream"])
async def test_an_interrupt_inside_a_tool_pauses_and_resumes(kind: str) -> None:
    ran: list[str] = []

    @tool
    async def confirm(action: str) -> str:
        """Asks a person first."""
        answer = interrupt({"confirm": action})
        ran.append(answer)
        return f"{action}: {answer}"

    node = LangGraphToolNode([confirm]) if kind == "langgraph" else ToolNode([confirm])
    app = _graph(node, InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": kind}}
    paused = await app.ainvoke({"messages": [AIMessage("", tool_calls=[
        {"name": "confirm", "args": {"action": "deploy"}, "id": "k1"}])]}, config)
    assert [i.value for i in paused["__interrupt__"]] == [{"confirm": "deploy"}]
    assert ran == []
    done = await app.ainvoke(Command(resume="yes"), config)
    assert ran == ["yes"]
    assert done["messages"][-1].content == "deploy: yes"
