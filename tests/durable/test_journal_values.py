"""Values and identities through the journal: a replayed value is the value first returned
(same type), or refused when written; a call's identity is what it means, in any process.

The cross-process tests run tests/support/journal_values_child.py twice, the second time
with another PYTHONHASHSEED (a set's order and str hashes change with it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pipeline import Journal, run, skill
from pipeline._durable._codec import decode, encode
from tests.support import journal_values_child

ROOT = Path(__file__).resolve().parents[2]
CHILD = journal_values_child.__file__

ran: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()


def child(mode: str, db: Path, phase: str, seed: int) -> list[list[str]]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, CHILD, mode, str(db), phase],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [line.split(" ", 3) for line in proc.stdout.splitlines()]


async def collect(calls: Any, db: Any, run_id: str = "r") -> list[Any]:
    return list(await run(calls, journal=db, run_id=run_id).collect())


# -- values come back exactly --------------------------------------------------------------


def test_values_come_back_equal_and_of_their_type_in_a_new_process(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = child("values", db, "first", seed=1)
    assert [line[:3] for line in first if line[2] != "ok"] == []
    again = child("values", db, "again", seed=2)
    assert {line[0] for line in again} == set(journal_values_child.expected()) | {"annotated-bytes"}
    not_back = [line for line in again if line[1:3] != ["1", "ok"]]
    assert not_back == []


@skill
async def odd_str(n: int) -> Any:
    class Tag(str):  # a str subclass: JSON would give back a str
        pass

    return {"tags": [Tag("x")]}


@skill
async def opaque_value(n: int) -> Any:
    return {"when": [object()]}


async def test_a_value_that_would_not_come_back_is_refused_when_written(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    results = await collect([odd_str(1).named("tagging"), opaque_value(2).named("opaque")], db)
    by_key = {r.key: r for r in results}
    for key, type_name in (("tagging", "Tag"), ("opaque", "builtins.object")):
        r = by_key[key]
        assert r.status == "error" and r.error is not None and r.error.type == "JournalError"
        assert repr(key) in r.error.message and type_name in r.error.message
    # Nothing was journaled for them: a rerun runs them again (and refuses again).
    again = await collect([odd_str(1).named("tagging")], db)
    assert not again[0].replayed and again[0].status == "error"


def test_old_json_records_still_read() -> None:
    assert decode("json", b'{"a": [1, 2]}', None) == {"a": [1, 2]}
    codec, data = encode({"b": b"\x00"}, None, False)
    assert codec != "json" and decode(codec, data, None) == {"b": b"\x00"}


# -- a value whose type no longer matches is run again --------------------------------------


class Profile(BaseModel):
    name: str
    age: int


async def test_a_value_that_no_longer_matches_the_annotation_runs_again(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def v1(user: str) -> dict[str, Any]:
        ran["v1"] += 1
        return {"name": user, "age": 3}

    async def v2(user: str) -> Profile:
        ran["v2"] += 1
        return Profile(name=user, age=4)

    [first] = await collect([skill(v1, name="profile")("ann")], db)
    assert first.value == {"name": "ann", "age": 3}
    [again] = await collect([skill(v2, name="profile")("ann")], db)  # deployed: it returns a model now
    assert not again.replayed and ran["v2"] == 1
    assert again.value == Profile(name="ann", age=4)
    [third] = await collect([skill(v2, name="profile")("ann")], db)
    assert third.replayed and type(third.value) is Profile and ran["v2"] == 1


async def test_a_value_that_never_matched_its_annotation_still_replays(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    async def loose(n: int) -> int:
        ran["loose"] += 1
        return None  # type: ignore[return-value]

    await collect([skill(loose, name="loose")(1)], db)
    [again] = await collect([skill(loose, name="loose")(1)], db)
    assert again.replayed and again.value is None and ran["loose"] == 1


async def test_pickled_values_are_checked_against_the_annotation_too(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "runs.db", pickle=True)

    async def v1(n: int) -> Any:
        ran["v1"] += 1
        return {"n": n}

    async def v2(n: int) -> Profile:
        ran["v2"] += 1
        return Profile(name="x", age=n)

    try:
        await collect([skill(v1, name="p")(1)], journal)
        [again] = await collect([skill(v2, name="p")(1)], journal)
    finally:
        journal.close()
    assert not again.replayed and type(again.value) is Profile


# -- a journaled chat graph -----------------------------------------------------------------


def test_a_chat_graph_resumes_in_a_new_process_with_message_objects(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    db = tmp_path / "runs.db"
    [first] = child("chat", db, "first", seed=1)
    assert first[:2] == ["ran", "agent,tools"] and "ConnectionError" in first[3]
    [again] = child("chat", db, "again", seed=2)
    # The agent's first turn is replayed (its input messages had no ids), as a message
    # the router can read; then the tool and the agent's second turn run.
    assert again[:3] == ["ran", "tools,agent", "last"], again
    assert again[3].startswith("AIMessage 'the answer is 42'")


# -- identities are stable ------------------------------------------------------------------


def test_sets_and_dicts_in_another_order_replay_in_a_new_process(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    [first] = child("identity", db, "first", seed=1)
    assert first[:3] == ["tagged", "0", "ok"]
    [again] = child("identity", db, "again", seed=2)
    assert again[:3] == ["tagged", "1", "ok"]


async def test_equal_arguments_in_another_order_are_one_call(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"

    @skill
    async def keyed(opts: dict[Any, Any], tags: set[str]) -> int:
        ran["keyed"] += 1
        return len(opts)

    tags = {f"t{i}" for i in range(30)}
    await collect([keyed({1: "a", "b": [2], (3,): {"y": 1, "x": 2}}, tags)], db)
    reordered = set(sorted(tags, reverse=True))  # noqa: C414 (another insertion order)
    [again] = await collect([keyed({(3,): {"x": 2, "y": 1}, "b": [2], 1: "a"}, reordered)], db)
    assert again.replayed and ran["keyed"] == 1
    # And different arguments are a different call: 1 and True and 1.0 are not the same key.
    [other] = await collect([keyed({True: "a", "b": [2], (3,): {"x": 2, "y": 1}}, tags)], db)
    assert not other.replayed and ran["keyed"] == 2


async def test_a_chat_graph_input_without_ids_replays_in_the_same_process(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from typing import Annotated, TypedDict

    from langchain_core.messages import AIMessage, HumanMessage

    from pipeline import END, START, StateGraph, add_messages

    class Chat(TypedDict):
        messages: Annotated[list[Any], add_messages]

    failing = {"after"}

    @skill
    async def agent(state: Chat) -> dict[str, Any]:
        ran["agent"] += 1
        return {"messages": [AIMessage(content=f"seen {len(state['messages'])}")]}

    @skill
    async def after(state: Chat) -> dict[str, Any]:
        ran["after"] += 1
        if failing:
            raise ConnectionError("down")
        assert isinstance(state["messages"][-1], AIMessage)
        return {"messages": [AIMessage(content="done")]}

    graph = StateGraph(Chat)
    graph.add_node("agent", agent)
    graph.add_node("after", after)
    graph.add_edge(START, "agent")
    graph.add_edge("agent", "after")
    graph.add_edge("after", END)
    app = graph.compile(checkpointer=tmp_path / "runs.db")
    thread = {"configurable": {"thread_id": "c"}}
    with pytest.raises(ConnectionError):
        await app.ainvoke({"messages": [HumanMessage(content="hi")]}, thread)
    failing.clear()
    state = await app.ainvoke(None, thread)
    assert ran["agent"] == 1 and ran["after"] == 2
    assert [type(m).__name__ for m in state["messages"]] == ["HumanMessage", "AIMessage", "AIMessage"]
    saved = app.get_state(thread).values
    assert saved and all(not isinstance(m, dict) for m in saved["messages"])


def test_ids_that_add_messages_gave_are_left_out_of_identity_and_others_kept() -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.messages import HumanMessage

    from pipeline import add_messages
    from pipeline._durable._codec import canonical

    def ident(messages: Any) -> bytes:
        return canonical({"messages": add_messages([], messages)}, repr)

    assert ident([HumanMessage("hi")]) == ident([HumanMessage("hi")])
    assert ident([{"role": "user", "content": "hi"}]) == ident([{"role": "user", "content": "hi"}])
    assert ident([HumanMessage("hi")]) != ident([HumanMessage("ho")])
    assert ident([HumanMessage("hi"), HumanMessage("ho")]) != ident([HumanMessage("ho"), HumanMessage("hi")])
    assert ident([HumanMessage("hi", id="a")]) != ident([HumanMessage("hi", id="b")])


async def test_a_node_returning_a_command_with_sends_is_journaled_and_replayed(tmp_path: Path) -> None:
    from typing import Literal, TypedDict

    from pipeline import START, Command, Send, StateGraph

    class S(TypedDict, total=False):
        n: int

    failing = {"b"}

    @skill
    async def a(state: S) -> Command[Literal["b"]]:
        ran["a"] += 1
        return Command(update={"n": 1}, goto=[Send("b", {"n": 5})])

    @skill
    async def b(state: Any) -> dict[str, Any]:
        ran["b"] += 1
        if failing:
            raise ConnectionError("down")
        return {"n": state["n"] + 1}

    graph = StateGraph(S)
    graph.add_node("a", a)
    graph.add_node("b", b)
    graph.add_edge(START, "a")
    app = graph.compile(checkpointer=tmp_path / "runs.db")
    thread = {"configurable": {"thread_id": "c"}}
    with pytest.raises(ConnectionError):
        await app.ainvoke({}, thread)
    failing.clear()
    assert await app.ainvoke(None, thread) == {"n": 6}
    assert ran == Counter({"a": 1, "b": 2})
