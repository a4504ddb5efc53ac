"""A child process for the value and identity tests: one journaled run per process, so a
replay happens in a new process (with another ``PYTHONHASHSEED``, set by the test).

    python tests/support/journal_values_child.py values DB PHASE     # skills returning typed values
    python tests/support/journal_values_child.py identity DB PHASE   # calls taking sets and dicts
    python tests/support/journal_values_child.py chat DB PHASE       # a journaled chat graph

PHASE is ``first`` or ``again``; each prints one line per result:
``<key> <replayed 0|1> <ok|bad> <repr of the value and its type>``. The chat graph prints
the nodes that ran and whether its last message is an AIMessage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import math
import sys
import uuid
import zoneinfo
from pathlib import PurePosixPath
from typing import Annotated, Any, NamedTuple, TypedDict

from pydantic import BaseModel

from pipeline import END, START, StateGraph, add_messages, run, skill


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: tuple[int, ...]


class Pair(NamedTuple):
    n: int
    s: str


class Quote(BaseModel):
    symbol: str
    price: decimal.Decimal
    at: datetime.datetime
    tags: frozenset[str] = frozenset()


def expected() -> dict[str, Any]:
    from langchain_core.documents import Document
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    return {
        "bytes": b"\x00\xffdata",
        "tuple": (1, "x", (2.5, None)),
        "intkeys": {1: "a", 2: "b", (3, 4): "c"},
        "datetime": datetime.datetime(2024, 5, 1, 12, 30, 15, 123456),
        "aware": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        "date": datetime.date(2024, 5, 1),
        "timedelta": datetime.timedelta(days=1, microseconds=7),
        "decimal": decimal.Decimal("1.10"),
        "set": {"b", "a", "c", 3},
        "frozenset": frozenset({"x", "y"}),
        "enum": Color.BLUE,
        "intenum": Level.HIGH,
        "dataclass": Point(1, (2, 3)),
        "model": Quote(symbol="AAPL", price=decimal.Decimal("189.5"), at=datetime.datetime(2024, 1, 2),
                       tags=frozenset({"tech"})),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "path": PurePosixPath("/tmp/x"),
        "nan": [float("nan"), float("inf")],
        "dollar": {"$t": "bytes", "v": "not a tag"},
        "messages": [
            HumanMessage(content="hi", id="h1"),
            AIMessage(content="", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}], id="a1"),
            ToolMessage(content="42", tool_call_id="c1"),
        ],
        "document": Document(page_content="p", metadata={"span": (1, 2), "on": datetime.date(2024, 1, 1)}),
        "zoned": datetime.datetime(2024, 3, 10, 1, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        "named": Pair(1, "x"),
        "nested": {"when": [datetime.date(2020, 1, 1)], "raw": bytearray(b"\x01")},
        "bool": True,
        "float": 3.0,
    }


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def values(db: str) -> None:
    table = expected()

    @skill
    async def raw() -> bytes:
        return b"\x00\xffdata"

    @skill
    async def value(name: str) -> Any:
        return expected()[name]

    async def main() -> None:
        calls = [raw().named("annotated-bytes")] + [value(name).named(name) for name in table]
        async for r in run(calls, journal=db, run_id="values"):
            want = b"\x00\xffdata" if r.key == "annotated-bytes" else table[r.key]
            verdict = "ok" if r.status == "success" and same(r.value, want) else "bad"
            print(r.key, int(r.replayed), verdict, f"{r.value!r}:{type(r.value).__name__}:{r.error}")

    asyncio.run(main())


def identity(db: str, phase: str) -> None:
    @skill
    async def tagged(tags: frozenset[str], opts: dict[str, Any], seen: set[int]) -> int:
        return len(tags) + len(opts) + len(seen)

    if phase == "first":
        opts: dict[str, Any] = {"alpha": 1, "beta": {"x": 1, "y": 2}, "gamma": [1, 2]}
    else:  # equal, built in another order
        opts = {"gamma": [1, 2], "beta": {"y": 2, "x": 1}, "alpha": 1}
    tags = frozenset(f"tag{i}" for i in range(20))
    seen = {5, 900, 17, 2**40}

    async def main() -> None:
        calls = [tagged(tags, opts, seen).named("tagged")]
        async for r in run(calls, journal=db, run_id="identity"):
            print(r.key, int(r.replayed), "ok" if r.value == 20 + 3 + 4 else "bad", repr(r.value))

    asyncio.run(main())


def chat(db: str, phase: str) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    class Chat(TypedDict):
        messages: Annotated[list[Any], add_messages]

    ran: list[str] = []

    @skill
    async def agent(state: Chat) -> dict[str, Any]:
        ran.append("agent")
        last = state["messages"][-1]
        if isinstance(last, ToolMessage):
            return {"messages": [AIMessage(content=f"the answer is {last.content}")]}
        return {"messages": [AIMessage(content="", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call-1"}])]}

    @skill
    async def tools(state: Chat) -> dict[str, Any]:
        ran.append("tools")
        if phase == "first":
            raise ConnectionError("the tool is down")
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage(content="42", tool_call_id=call["id"])]}

    def route(state: Chat) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    graph = StateGraph(Chat)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    app = graph.compile(checkpointer=db)
    thread = {"configurable": {"thread_id": "chat"}}
    try:
        if phase == "first":
            state = app.invoke({"messages": [HumanMessage(content="what is x?")]}, thread)
        else:  # the thread goes on where the killed or failed invocation stopped
            state = app.invoke(None, thread)
    except Exception as exc:
        print("ran", ",".join(ran), "error", type(exc).__name__, str(exc).replace("\n", " ")[:300])
        return
    last = state["messages"][-1]
    print("ran", ",".join(ran), "last", type(last).__name__, repr(getattr(last, "content", last)))


def main() -> None:
    mode, db, phase = sys.argv[1:4]
    if mode == "values":
        values(db)
    elif mode == "identity":
        identity(db, phase)
    else:
        chat(db, phase)


if __name__ == "__main__":
    main()
