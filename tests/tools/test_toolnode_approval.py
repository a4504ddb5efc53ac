"""ToolNode and calls that need a person's approval: the graph pauses with the pending
calls (``interrupt``), and ``Command(resume={tool_call_id: decision})`` runs the accepted
and edited ones and answers the rejected ones, in LangGraph's graph and in skillstream's,
each with its own checkpointer."""

from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from typing_extensions import TypedDict

from pipeline import Approve, Reject, ToolNode, skill, tools_condition

pytest.importorskip("langgraph.graph")

KINDS = ["langgraph", "skillstream"]


def _app(kind: str, ran: list[tuple[str, Any]]) -> Any:
    if kind == "langgraph":
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.graph import START, StateGraph
        from langgraph.graph.message import add_messages
    else:
        from pipeline import START, InMemorySaver, StateGraph, add_messages

    @skill(needs_approval=lambda to, amount: amount > 100)
    async def transfer(to: str, amount: int) -> str:
        """Send money."""
        ran.append(("transfer", (to, amount)))
        return f"sent {amount} to {to}"

    @skill(needs_approval=True)
    async def delete_file(path: str) -> str:
        """Delete a file."""
        ran.append(("delete_file", path))
        return f"deleted {path}"

    @skill
    async def balance() -> int:
        """The balance."""
        ran.append(("balance", None))
        return 1200

    class State(TypedDict):
        messages: Annotated[list, add_messages]

    def model(state: State) -> dict[str, Any]:
        if any(m.type == "tool" for m in state["messages"]):
            return {"messages": [AIMessage("done")]}
        return {"messages": [AIMessage("", tool_calls=[
            {"name": "transfer", "args": {"to": "bob", "amount": 500}, "id": "t1"},
            {"name": "balance", "args": {}, "id": "b1"},
            {"name": "delete_file", "args": {"path": "/tmp/x"}, "id": "d1"},
            {"name": "transfer", "args": {"to": "amy", "amount": 20}, "id": "t2"},
        ])]}

    graph = StateGraph(State)
    graph.add_node("agent", model)
    graph.add_node("tools", ToolNode([transfer, delete_file, balance]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def _command(kind: str, resume: Any) -> Any:
    if kind == "langgraph":
        from langgraph.types import Command
    else:
        from pipeline import Command
    return Command(resume=resume)


def _tool_messages(state: dict[str, Any]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in state["messages"] if isinstance(m, ToolMessage)}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_graph_pauses_with_the_pending_calls_and_nothing_runs(kind: str) -> None:
    ran: list[tuple[str, Any]] = []
    app = _app(kind, ran)
    config = {"configurable": {"thread_id": f"pause-{kind}"}}
    paused = await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    [pause] = paused["__interrupt__"]
    assert pause.value == [
        {"name": "transfer", "args": {"to": "bob", "amount": 500}, "id": "t1"},
        {"name": "delete_file", "args": {"path": "/tmp/x"}, "id": "d1"},
    ]
    assert ran == []  # not even the calls that need no approval: they run with the others
    assert not _tool_messages(paused)
    assert app.get_state(config).next == ("tools",)


@pytest.mark.parametrize("kind", KINDS)
async def test_resume_accepts_edits_and_rejects_per_call(kind: str) -> None:
    ran: list[tuple[str, Any]] = []
    app = _app(kind, ran)
    config = {"configurable": {"thread_id": f"decide-{kind}"}}
    await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    done = await app.ainvoke(_command(kind, {
        "t1": {"type": "edit", "args": {"amount": 90}},
        "d1": {"type": "reject", "reason": "keep it"},
    }), config)
    replies = _tool_messages(done)
    assert list(replies) == ["t1", "b1", "d1", "t2"]  # the model's order
    assert replies["t1"].content == "sent 90 to bob" and replies["t1"].status == "success"
    assert replies["d1"].content == "Rejected: the user did not allow this call: keep it"
    assert replies["d1"].status == "error" and replies["d1"].name == "delete_file"
    assert replies["b1"].content == "1200" and replies["t2"].content == "sent 20 to amy"
    assert sorted(ran, key=repr) == sorted(
        [("transfer", ("bob", 90)), ("balance", None), ("transfer", ("amy", 20))], key=repr
    )
    assert done["messages"][-1].content == "done"
    assert "__interrupt__" not in done


@pytest.mark.parametrize("kind", KINDS)
async def test_pipelines_decisions_and_the_short_forms(kind: str) -> None:
    ran: list[tuple[str, Any]] = []
    app = _app(kind, ran)
    config = {"configurable": {"thread_id": f"short-{kind}"}}
    await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    resume: dict[str, Any] = (
        {"t1": Approve(arguments={"to": "carol"}), "d1": Reject("no")} if kind == "skillstream"
        else {"t1": "accept", "d1": "reject"}
    )
    done = await app.ainvoke(_command(kind, resume), config)
    replies = _tool_messages(done)
    if kind == "skillstream":
        assert replies["t1"].content == "sent 500 to carol"
        assert replies["d1"].content == "Rejected: the user did not allow this call: no"
    else:
        assert replies["t1"].content == "sent 500 to bob"
        assert replies["d1"].content == "Rejected: the user did not allow this call."
    assert ("delete_file", "/tmp/x") not in ran


@pytest.mark.parametrize("kind", KINDS)
async def test_an_edit_that_does_not_fit_is_answered_as_bad_arguments(kind: str) -> None:
    ran: list[tuple[str, Any]] = []
    app = _app(kind, ran)
    config = {"configurable": {"thread_id": f"bad-{kind}"}}
    await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    done = await app.ainvoke(_command(kind, {
        "t1": {"type": "edit", "args": {"amount": "lots"}}, "d1": {"type": "accept"},
    }), config)
    replies = _tool_messages(done)
    assert replies["t1"].status == "error" and "amount" in replies["t1"].content
    assert replies["d1"].content == "deleted /tmp/x"
    assert all(name != "transfer" or args != ("bob", "lots") for name, args in ran)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_missing_or_unknown_decision_is_an_error(kind: str) -> None:
    app = _app(kind, [])
    config = {"configurable": {"thread_id": f"missing-{kind}"}}
    await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    with pytest.raises(ValueError, match="no decision for tool call 'd1'"):
        await app.ainvoke(_command(kind, {"t1": "accept"}), config)
    app = _app(kind, [])
    await app.ainvoke({"messages": [HumanMessage("pay bob")]}, config)
    with pytest.raises(ValueError, match="'approve'"):
        await app.ainvoke(_command(kind, {"t1": "accept", "d1": "approve"}), config)


async def test_outside_a_graph_the_node_says_what_it_needs() -> None:
    @skill(needs_approval=True)
    async def delete_file(path: str) -> str:
        """Delete a file."""
        return "deleted"

    node = ToolNode([delete_file])
    message = AIMessage("", tool_calls=[{"name": "delete_file", "args": {"path": "x"}, "id": "d1"}])
    with pytest.raises(RuntimeError, match="compiled with a checkpointer"):
        await node.ainvoke({"messages": [message]})


@pytest.mark.parametrize("kind", KINDS)
def test_sync_invoke_pauses_and_resumes_too(kind: str) -> None:
    ran: list[tuple[str, Any]] = []
    app = _app(kind, ran)
    config = {"configurable": {"thread_id": f"sync-{kind}"}}
    paused = app.invoke({"messages": [HumanMessage("pay bob")]}, config)
    assert [c["id"] for c in paused["__interrupt__"][0].value] == ["t1", "d1"]
    done = app.invoke(_command(kind, {"t1": "accept", "d1": "accept"}), config)
    assert [m.content for m in _tool_messages(done).values()] == [
        "sent 500 to bob", "1200", "deleted /tmp/x", "sent 20 to amy"
    ]
