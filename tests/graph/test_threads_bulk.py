"""A thread's history: bulk_update_state, time travel and forks, the checkpoints kept under
schedule="supersteps", durability="exit", and the checkpointer's get_tuple/list."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import (
    END,
    START,
    CheckpointTuple,
    Command,
    InMemorySaver,
    InvalidUpdateError,
    Journal,
    Send,
    StateGraph,
    StateUpdate,
)


class Chain(TypedDict):
    total: Annotated[int, operator.add]
    path: Annotated[list[str], operator.add]


def _chain(calls: list[str], fail_at: str | None = None) -> StateGraph[Any]:
    """START -> a -> b -> c; each adds to total and records its name (``fail_at`` raises)."""

    def node(name: str, amount: int) -> Any:
        def run(state: Chain) -> dict[str, Any]:
            calls.append(name)
            if name == fail_at:
                raise RuntimeError(f"{name} failed")
            return {"total": amount, "path": [name]}

        return run

    graph = StateGraph(Chain)
    graph.add_node("a", node("a", 1))
    graph.add_node("b", node("b", 10))
    graph.add_node("c", node("c", 100))
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")
    return graph


def _shape(app: Any, config: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (s.values["total"], s.next, s.metadata["step"], s.metadata["source"]) for s in app.get_state_history(config)
    ]


# -- bulk_update_state -----------------------------------------------------------------------


def test_each_superstep_is_one_checkpoint_with_its_updates_folded_together() -> None:
    app = _chain([]).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    returned = app.bulk_update_state(
        config,
        [
            [StateUpdate({"total": 1, "path": ["a"]}, as_node="a")],
            [StateUpdate({"total": 10, "path": ["b"]}, "b"), StateUpdate({"total": 5, "path": ["x"]}, "a")],
        ],
    )
    history = list(app.get_state_history(config))
    assert len(history) == 2
    latest = history[0]
    assert latest.values == {"total": 16, "path": ["a", "b", "x"]}
    assert latest.config == returned
    assert latest.next == ("b", "c")  # after b: c; after a: b (by name)
    assert latest.metadata["source"] == "update"
    assert latest.metadata["writes"] == {"b": {"total": 10, "path": ["b"]}, "a": {"total": 5, "path": ["x"]}}
    assert latest.parent_config == history[1].config
    assert [s.metadata["step"] for s in history] == [1, 0]
    # What each update wrote is its task's result, on the checkpoint it was applied to.
    assert [(t.name, t.result) for t in history[1].tasks] == [("b", {"total": 10, "path": ["b"]})]


def test_bulk_update_state_refuses_what_langgraph_refuses() -> None:
    app = _chain([]).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ValueError, match="No supersteps provided"):
        app.bulk_update_state(config, [])
    with pytest.raises(ValueError, match="No updates provided"):
        app.bulk_update_state(config, [[StateUpdate({"total": 1}, "a")], []])
    with pytest.raises(InvalidUpdateError, match="as_node is required"):
        app.bulk_update_state(config, [[StateUpdate({"total": 1}, None), StateUpdate({"total": 2}, "a")]])
    with pytest.raises(InvalidUpdateError, match="multiple updates when updating as input"):
        app.bulk_update_state(config, [[StateUpdate({"total": 1}, "__input__"), StateUpdate({"total": 2}, "a")]])
    with pytest.raises(InvalidUpdateError, match="copy a non-existent checkpoint"):
        app.bulk_update_state(config, [[StateUpdate(None, "__copy__")]])
    with pytest.raises(TypeError, match="StateUpdate"):
        app.bulk_update_state(config, [[{"total": 1}]])
    assert list(app.get_state_history(config)) == []  # nothing was kept by a refused call


def test_two_updates_of_one_field_without_reducer_in_one_superstep_raise() -> None:
    class Plain(TypedDict):
        name: str

    graph = StateGraph(Plain)
    graph.add_node("x", lambda s: {})
    graph.add_node("y", lambda s: {})
    graph.add_edge(START, "x")
    graph.add_edge(START, "y")
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(InvalidUpdateError, match="one value per step"):
        app.bulk_update_state(config, [[StateUpdate({"name": "1"}, "x"), StateUpdate({"name": "2"}, "y")]])


@pytest.mark.parametrize("schedule", ["ready", "supersteps"])
def test_an_input_kept_by_bulk_update_state_is_run_by_the_next_invoke(schedule: Any) -> None:
    calls: list[str] = []
    app = _chain(calls).compile(checkpointer=InMemorySaver(), schedule=schedule)
    config = {"configurable": {"thread_id": "t"}}
    app.bulk_update_state(config, [[StateUpdate({"total": 1000, "path": ["in"]}, "__input__")]])
    waiting = app.get_state(config)
    assert waiting.next == ("__start__",) and waiting.values == {"total": 0, "path": []}
    assert waiting.metadata == {"source": "input", "step": -1}
    assert app.invoke(None, config) == {"total": 1111, "path": ["in", "a", "b", "c"]}
    assert calls == ["a", "b", "c"]


@pytest.mark.parametrize("schedule", ["ready", "supersteps"])
def test_a_command_update_with_sends_runs_them_on_the_next_invoke(schedule: Any) -> None:
    class Fan(TypedDict):
        done: Annotated[list[int], operator.add]

    graph = StateGraph(Fan)
    graph.add_node("plan", lambda s: {})
    graph.add_node("work", lambda arg: {"done": [arg["n"] * 2]})
    graph.add_edge(START, "plan")
    app = graph.compile(checkpointer=InMemorySaver(), schedule=schedule)
    config = {"configurable": {"thread_id": "t"}}
    app.update_state(config, Command(goto=[Send("work", {"n": 1}), Send("work", {"n": 2})]), as_node="plan")
    assert app.get_state(config).next == ("work", "work")
    assert sorted(app.invoke(None, config)["done"]) == [2, 4]


def test_end_clears_what_was_to_run() -> None:
    calls: list[str] = []
    app = _chain(calls).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    app.update_state(config, {"total": 1, "path": ["a"]}, as_node="a")
    assert app.get_state(config).next == ("b",)
    app.bulk_update_state(config, [[StateUpdate(None, END)]])
    assert app.get_state(config).next == ()
    assert app.invoke(None, config) == {"total": 1, "path": ["a"]}
    assert calls == []


# -- time travel and forks -------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["ready", "supersteps"])
def test_invoking_from_an_earlier_checkpoint_forks_and_runs_what_came_after_again(schedule: Any) -> None:
    calls: list[str] = []
    app = _chain(calls).compile(checkpointer=InMemorySaver(), schedule=schedule)
    config = {"configurable": {"thread_id": "t"}}
    assert app.invoke({"total": 0}, config)["total"] == 111
    before = list(app.get_state_history(config))
    start = next(s for s in before if s.next == ("a",))
    calls.clear()

    again = app.invoke(None, start.config)
    assert again == {"total": 111, "path": ["a", "b", "c"]}
    assert calls == ["a", "b", "c"]  # a new run: nothing of the old branch is replayed
    after = list(app.get_state_history(config))
    assert after[len(after) - len(before) :] == before  # the old branch is kept as it was
    fork = next(s for s in after if s.metadata["source"] == "fork")
    assert fork.parent_config == start.config and fork.values == start.values
    assert app.get_state(config).values == again


def test_update_state_on_an_earlier_checkpoint_forks_there() -> None:
    calls: list[str] = []
    app = _chain(calls).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"total": 0}, config)
    start = next(s for s in app.get_state_history(config) if s.next == ("a",))
    calls.clear()
    fork = app.update_state(start.config, {"total": 5, "path": ["A"]}, as_node="a")
    forked = app.get_state(fork)
    assert forked.parent_config == start.config and forked.next == ("b",)
    assert app.invoke(None, fork) == {"total": 115, "path": ["A", "b", "c"]}
    assert calls == ["b", "c"]


def test_a_checkpoint_id_not_of_the_thread_is_refused() -> None:
    app = _chain([]).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"total": 0}, config)
    with pytest.raises(ValueError, match="not a checkpoint of this thread"):
        app.invoke(None, {"configurable": {"thread_id": "t", "checkpoint_id": "99"}})


# -- schedule="supersteps": LangGraph's checkpoints ------------------------------------------


def test_supersteps_keep_one_checkpoint_per_superstep_with_task_results() -> None:
    app = _chain([]).compile(checkpointer=InMemorySaver(), schedule="supersteps")
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"total": 0}, config)
    assert _shape(app, config) == [
        (111, (), 3, "loop"),
        (11, ("c",), 2, "loop"),
        (1, ("b",), 1, "loop"),
        (0, ("a",), 0, "loop"),
        (0, ("__start__",), -1, "input"),
    ]
    history = list(app.get_state_history(config))
    assert [(t.name, t.result) for t in history[3].tasks] == [("a", {"total": 1, "path": ["a"]})]
    assert [(t.name, t.result) for t in history[4].tasks] == [("__start__", {"total": 0})]
    # The default schedule keeps fewer: one when the invocation starts, one when it ends.
    ready = _chain([]).compile(checkpointer=InMemorySaver())
    ready.invoke({"total": 0}, config)
    assert [s.metadata["step"] for s in ready.get_state_history(config)] == [0, -1]


def test_a_failed_superstep_is_recorded_on_its_checkpoint_and_a_rerun_adds_only_what_is_new(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    path = str(tmp_path / "threads.db")
    app = _chain(calls, fail_at="b").compile(checkpointer=Journal(path), schedule="supersteps")
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(RuntimeError, match="b failed"):
        app.invoke({"total": 0}, config)
    failed = app.get_state(config)
    assert failed.next == ("b",) and failed.values["total"] == 1 and failed.metadata["step"] == 1
    assert "b failed" in failed.tasks[0].error
    assert len(list(app.get_state_history(config))) == 3  # input, step 0, step 1 (with the error)

    # Another process reads the same file: the same history; it goes on from the failure.
    calls.clear()
    fixed = _chain(calls).compile(checkpointer=Journal(path), schedule="supersteps")
    assert fixed.invoke(None, config)["total"] == 111
    assert calls == ["b", "c"]  # a's result is replayed from the journal
    assert _shape(fixed, config) == [
        (111, (), 3, "loop"),
        (11, ("c",), 2, "loop"),
        (1, ("b",), 1, "loop"),
        (0, ("a",), 0, "loop"),
        (0, ("__start__",), -1, "input"),
    ]


@pytest.mark.parametrize("schedule", ["ready", "supersteps"])
def test_durability_exit_keeps_only_the_checkpoint_each_invocation_ends_with(schedule: Any) -> None:
    app = _chain([]).compile(checkpointer=InMemorySaver(), schedule=schedule)
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"total": 0}, config, durability="exit")
    app.invoke({"total": 0}, config, durability="exit")
    history = list(app.get_state_history(config))
    assert [s.values["total"] for s in history] == [222, 111]
    assert history[0].parent_config == history[1].config


# -- the checkpointer's read side ------------------------------------------------------------


def test_get_tuple_and_list_read_a_thread_as_langgraph_checkpointers_do() -> None:
    saver = InMemorySaver()
    app = _chain([]).compile(checkpointer=saver, schedule="supersteps")
    config = {"configurable": {"thread_id": "t"}}
    assert saver.get_tuple(config) is None
    app.invoke({"total": 0}, config)
    app.invoke({"total": 0}, {"configurable": {"thread_id": "other"}})

    latest = saver.get_tuple(config)
    assert isinstance(latest, CheckpointTuple)
    assert latest.checkpoint["channel_values"] == {"total": 111, "path": ["a", "b", "c"]}
    assert latest.metadata["step"] == 3 and latest.metadata["source"] == "loop"
    assert latest.config == app.get_state(config).config
    assert latest.parent_config == app.get_state(config).parent_config
    assert latest.pending_writes is None

    listed = list(saver.list(config))
    assert [t.config for t in listed] == [s.config for s in app.get_state_history(config)]
    assert [t.metadata["step"] for t in saver.list(config, limit=2)] == [3, 2]
    assert [t.metadata["step"] for t in saver.list(config, before=listed[1].config)] == [1, 0, -1]
    assert [t.metadata["step"] for t in saver.list(config, filter={"source": "input"})] == [-1]
    assert len(list(saver.list(None))) == 10  # both threads
    earlier = saver.get_tuple(listed[2].config)
    assert earlier is not None and earlier.checkpoint["channel_values"]["total"] == 1

    saver.delete_thread("t")
    assert saver.get_tuple(config) is None and list(saver.list(config)) == []


def test_a_journal_reads_its_threads_as_langgraph_checkpointers_do(tmp_path: Path) -> None:
    path = str(tmp_path / "threads.db")
    assert list(Journal(path).list(None)) == []  # a new file: no threads yet
    app = _chain([]).compile(checkpointer=Journal(path))
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"total": 0}, config)
    app.bulk_update_state(config, [[StateUpdate({"total": 5}, "c")]])

    reader = Journal(path)  # another store on the same file
    latest = reader.get_tuple(config)
    assert latest is not None and latest.checkpoint["channel_values"]["total"] == 116
    assert latest.metadata == {"source": "update", "step": 1, "parents": {}}
    assert [t.config for t in reader.list(config)] == [s.config for s in app.get_state_history(config)]
    assert [t.config["configurable"]["thread_id"] for t in reader.list(None)] == ["t", "t", "t"]
    assert reader.get_tuple({"configurable": {"thread_id": "none"}}) is None
