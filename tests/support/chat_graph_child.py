"""A child process for the chat-graph resume tests: a chat agent graph on a journal, that a
test kills with SIGKILL and resumes in a fresh process (maybe on another "host").

    python tests/support/chat_graph_child.py JOURNAL EXECUTED OUT [LEASE]

JOURNAL is a SQLite file or a ``postgresql://`` URL (lease LEASE seconds, default 30). The
graph: an "llm" node (a scripted model: it asks for a tool twice, then answers) and a
"tools" node, in a loop, over ``MessagesState``; the input is a user message without an
id. Each node appends ``NAME TURN`` to EXECUTED when it starts and ``NAME TURN done``
when it returns (flushed line by line: SIGKILL loses what is in the process, not what was
written to the kernel). The final state goes to OUT as JSON, its messages without their
ids (``add_messages`` draws those at random in each process).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from pipeline import END, START, Journal, MessagesState, StateGraph, skill

RUN_ID = "chat-1"
TOOL_TURNS = 2  # the model asks for a tool this many times, then answers
STEP = 0.25  # seconds each node takes: a kill lands between nodes or inside one


def build(mark: Any) -> StateGraph[Any]:
    @skill
    async def llm(state: MessagesState) -> dict[str, Any]:
        turn = sum(isinstance(m, AIMessage) for m in state["messages"])
        mark(f"llm {turn}")
        await asyncio.sleep(STEP)
        if turn < TOOL_TURNS:
            reply = AIMessage(content="", tool_calls=[
                {"name": "lookup", "args": {"q": f"question {turn}"}, "id": f"call_{turn}"}])
        else:
            seen = [m.content for m in state["messages"] if isinstance(m, ToolMessage)]
            reply = AIMessage(content=f"answer from {len(seen)} lookups: {'; '.join(map(str, seen))}")
        mark(f"llm {turn} done")
        return {"messages": [reply]}

    @skill
    async def tools(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        turn = sum(isinstance(m, ToolMessage) for m in state["messages"])
        mark(f"tools {turn}")
        await asyncio.sleep(STEP)
        out = [ToolMessage(content=f"found {c['args']['q']}", tool_call_id=c["id"]) for c in last.tool_calls]
        mark(f"tools {turn} done")
        return {"messages": out}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("llm", llm)
    graph.add_node("tools", tools)
    graph.add_edge(START, "llm")
    graph.add_conditional_edges("llm", route, ["tools", END])
    graph.add_edge("tools", "llm")
    return graph


async def run_journaled(graph: StateGraph[Any], journal: Any, messages: list[Any]) -> Any:
    """The journaled invocation: the one place that names the graph's durable API."""
    app = graph.compile(checkpointer=journal)
    config = {"configurable": {"thread_id": RUN_ID}}
    if (await app.aget_state(config)).next:  # a killed invocation: go on where it stopped
        return await app.ainvoke(None, config)
    return await app.ainvoke({"messages": messages}, config)


def plain(message: BaseMessage) -> dict[str, Any]:
    """A message as the tests compare it: everything but its id."""
    return {"type": message.type, "content": message.content,
            "tool_calls": [{k: c[k] for k in ("name", "args", "id")} for c in getattr(message, "tool_calls", [])],
            "tool_call_id": getattr(message, "tool_call_id", None)}


def main() -> None:
    target, executed_path, out_path = sys.argv[1:4]
    lease = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    def mark(line: str) -> None:
        with open(executed_path, "a") as executed:  # on disk before the next step
            executed.write(line + "\n")

    if target.startswith("postgresql://"):
        from pipeline._durable._postgres import (
            PostgresJournal,  # what journal=URL opens
        )

        journal: Any = PostgresJournal(target, lease=lease)
    else:
        journal = Journal(target, lease=lease)
    try:
        state = asyncio.run(run_journaled(build(mark), journal, [HumanMessage(content="what is new?")]))
    finally:
        journal.close()
    with open(out_path, "w") as out:
        json.dump({"messages": [plain(m) for m in state["messages"]]}, out)


if __name__ == "__main__":
    main()
