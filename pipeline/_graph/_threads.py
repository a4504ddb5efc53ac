"""A compiled graph's threads: what an invocation with ``{"configurable": {"thread_id":
...}}`` starts from, and the checkpoints it saves (LangGraph's persistence).

A thread is a list of checkpoints in its store (``compile(checkpointer=...)``), oldest
first. Each invocation saves one when it starts (status ``running``: the state it starts
from) and one when it ends (``done``, ``interrupted`` or ``failed``: the state then);
``update_state`` saves one of its own (``updated``). Each invocation is one journaled run
(run id ``"<thread_id>#<n>"``), so running it again -- a resume, ``invoke(None, config)``
after a crash -- replays the node runs that finished from the journal and runs the rest.
A node run that called :func:`interrupt` ended with its interrupt as its value; a resume
gives it its answers, which makes it another call (see ``_CallContext``), so it runs again.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._durable._journal import JournalBinding, journaled_state
from .._durable._threads import fresh, keeps_threads, load_checkpoints, save_checkpoint
from ._interrupt import Interrupt, PregelTask, StateSnapshot, interrupt_id
from ._invocation import _Invocation
from ._routing import END, START, Command

if TYPE_CHECKING:
    from ._builder import CompiledStateGraph

_RESERVED = ("checkpoint_id", "checkpoint_ns")  # which checkpoint, not what nodes compute


class Plan:
    """One invocation of a thread: what it runs (or the state, if there is nothing to run),
    and how its checkpoints are saved."""

    def __init__(self, app: CompiledStateGraph[Any], thread_id: str | None, history: list[dict[str, Any]]) -> None:
        self.app = app
        self.thread_id = thread_id
        self.history = history
        self.invocation: _Invocation | None = None
        self.state: Any = None  # nothing to run: this is the result
        self.checkpoint: dict[str, Any] = {}

    def _save(self, checkpoint: dict[str, Any]) -> None:
        assert self.thread_id is not None
        checkpoint["created"] = time.time()
        save_checkpoint(self.app.checkpointer, self.thread_id, checkpoint)
        self.history.append(checkpoint)

    async def started(self) -> None:
        if self.thread_id is not None and keeps_threads(self.app.checkpointer):
            await asyncio.to_thread(self._save, dict(self.checkpoint))

    async def ended(self, failed: bool) -> None:
        invocation = self.invocation
        if self.thread_id is None or invocation is None or not keeps_threads(self.app.checkpointer):
            return
        interrupts = [
            {"key": key, "node": node, "value": i.value, "id": i.id} for key, node, i in invocation.interrupts
        ]
        status = "failed" if failed else "interrupted" if interrupts else "done"
        errors: dict[str, str] = {}
        if failed:  # what each failed node raised, for its task in get_state()
            for key, exc in invocation.errors.items():
                node = key.split("@")[0].split("[")[0]
                errors.setdefault(node, repr(exc))
        checkpoint = {
            **self.checkpoint,
            "errors": errors,
            "status": status,
            "source": "loop",
            "values": fresh(invocation._fold_all()),
            "interrupts": interrupts,
            "next": list(dict.fromkeys(i["node"] for i in interrupts)),
        }
        await asyncio.to_thread(self._save, checkpoint)


def thread_of(config: Mapping[str, Any], run_id: str | None) -> str | None:
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if run_id is not None:
        warnings.warn(
            "run_id= is deprecated: pass {'configurable': {'thread_id': ...}} as the config",
            DeprecationWarning,
            stacklevel=4,
        )
        if thread_id is not None and str(thread_id) != run_id:
            raise ValueError(f"run_id {run_id!r} and thread_id {thread_id!r} differ; give only thread_id")
        return run_id
    return None if thread_id is None else str(thread_id)


def _check_thread(app: CompiledStateGraph[Any], thread_id: str | None, input: Any, legacy: bool) -> None:
    if app.checkpointer is None:
        if thread_id is not None and legacy:
            raise ValueError("run_id is for a journaled graph: compile(journal='runs.db')")
        if isinstance(input, Command):
            raise ValueError(
                "Command(resume=...) resumes a thread: compile the graph with a checkpointer "
                "(compile(checkpointer=InMemorySaver())) and pass the thread's config"
            )
        return
    if thread_id is None:
        raise ValueError(
            "a graph compiled with a checkpointer needs a thread_id: "
            "invoke(input, {'configurable': {'thread_id': '1'}})"
        )
    if not thread_id or "\x00" in thread_id:
        raise ValueError(f"thread_id must be a non-empty string without NUL, got {thread_id!r}")


def thread_of_checked(app: CompiledStateGraph[Any], config: dict[str, Any], run_id: str | None, input: Any) -> None:
    """Check an invocation's thread now (astream and stream check before running)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # warned once, when it runs
        thread_id = thread_of(config, run_id)
    _check_thread(app, thread_id, input, run_id is not None)


async def plan(
    app: CompiledStateGraph[Any],
    input: Any,
    config: dict[str, Any],
    run_id: str | None,
    modes: tuple[str, ...],
    multi: bool,
) -> Plan:
    """What an invocation runs, from its thread's checkpoints (loaded in a thread).

    Raises:
        ValueError: without a thread_id on a graph with a checkpointer (or a Command or
            run_id without one), a resume of a thread not paused, or ``None`` as the
            input of a thread with no state.
    """
    legacy = run_id is not None
    thread_id = thread_of(config, run_id)
    _check_thread(app, thread_id, input, legacy)
    if thread_id is None or app.checkpointer is None:  # a thread_id is only for a checkpointer
        result = Plan(app, None, [])
        result.invocation = app._invocation_type(app, app._initial(input), modes, config, multi)
        return result
    store = app.checkpointer
    history = await asyncio.to_thread(load_checkpoints, store, thread_id) if keeps_threads(store) else []
    result = Plan(app, thread_id, history)
    latest = history[-1] if history else None
    runs = sum(1 for c in history if c.get("status") == "running")
    config = {**config, "configurable": {k: v for k, v in config["configurable"].items() if k not in _RESERVED}}
    if legacy:
        config["configurable"].setdefault("thread_id", thread_id)
    status = latest.get("status") if latest else None
    unfinished = status in ("running", "failed", "interrupted")

    if isinstance(input, Command):
        if input.goto not in ((), None) or input.resume is None:
            raise ValueError(
                "an invocation takes Command(resume=...) (with update=... if you like); to go "
                "on from a node use update_state(config, values, as_node=...)"
            )
        if latest is None or status != "interrupted":
            raise ValueError(f"thread {thread_id!r} is not paused at an interrupt(): nothing to resume")
        checkpoint = _resumed(latest, input.resume)
        if input.update is not None:
            # Folded into the paused invocation's input: the nodes whose input it changes
            # run again (LangGraph applies it before the paused node, keeping the others).
            update = app._schema.check_update("__input__", input.update)
            if update:
                checkpoint["start"] = fresh(checkpoint["start"])
                app._schema.apply(checkpoint["start"], update)
                checkpoint["run"] = f"{thread_id}#{runs}"
    elif input is None:
        if latest is None:
            raise ValueError(f"thread {thread_id!r} has no state to continue from; give an input")
        if unfinished:
            checkpoint = _again(latest)
        elif status == "updated" and latest.get("origin") is not None:
            checkpoint = _new(app, latest, None, f"{thread_id}#{runs}", latest["origin"])
        else:  # finished: nothing to run
            result.state = app._output.output(dict(latest["values"]))
            return result
    elif legacy and unfinished and latest is not None:
        # The old run_id= spelling: invoked again, an unfinished run goes on.
        checkpoint = _again(latest)
    else:
        checkpoint = _new(app, latest, input, f"{thread_id}#{runs}", None)
    result.checkpoint = checkpoint
    invocation = app._invocation_type(app, fresh(checkpoint["start"]), modes, config, multi)
    invocation.answers = {k: list(v) for k, v in checkpoint["answers"].items()}
    invocation.scope = checkpoint["run"]
    invocation.origin = None if checkpoint["origin"] == START else checkpoint["origin"]
    if "values" in modes and (isinstance(input, Command) or (input is None and unfinished)):
        # A resume streams the state it goes on from first, not its input again.
        invocation.first_values = latest["values"] if latest is not None else None
    assert app.checkpointer is not None
    invocation.journal = JournalBinding(app.checkpointer, checkpoint["run"], owned=False)
    result.invocation = invocation
    return result


def _base(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "running",
        "source": "loop",
        "run": checkpoint["run"],
        "start": checkpoint["start"],
        "origin": checkpoint.get("origin"),
        "answers": dict(checkpoint.get("answers") or {}),
        "values": checkpoint["start"],
        "interrupts": [],
        "next": [],
    }


def _again(latest: dict[str, Any]) -> dict[str, Any]:
    return _base(latest)


def _resumed(latest: dict[str, Any], resume: Any) -> dict[str, Any]:
    pending = latest.get("interrupts") or []
    answers: dict[str, list[Any]] = {k: list(v) for k, v in (latest.get("answers") or {}).items()}
    by_id = {i["id"]: i for i in pending}
    if isinstance(resume, Mapping) and resume and all(k in by_id for k in resume):
        given = dict(resume)
    elif len(pending) == 1:
        given = {pending[0]["id"]: resume}
    else:
        raise RuntimeError(
            "When there are multiple pending interrupts, you must specify the interrupt id "
            f"when resuming. {len(pending)} interrupts are waiting; resume them by id: "
            f"Command(resume={{interrupt_id: answer, ...}}) with ids {sorted(by_id)}"
        )
    for id_, answer in given.items():
        answers.setdefault(by_id[id_]["key"], []).append(answer)
    checkpoint = _base(latest)
    checkpoint["answers"] = answers
    return checkpoint


def _new(
    app: CompiledStateGraph[Any], latest: dict[str, Any] | None, input: Any, run: str, origin: str | None
) -> dict[str, Any]:
    if latest is None:
        start = app._initial(input)
    else:
        start = fresh(latest["values"])
        if input is not None:
            app._schema.apply(start, app._input_update(input))
    return {
        "status": "running",
        "source": "input" if input is not None else "loop",
        "run": run,
        "start": start,
        "origin": origin,
        "answers": {},
        "values": start,
        "interrupts": [],
        "next": [],
    }


# -- reading and writing a thread ----------------------------------------------------------


def history_of(app: CompiledStateGraph[Any], config: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The thread's id and checkpoints (blocking).

    Raises:
        ValueError: if the graph has no checkpointer, or the config no thread_id.
    """
    if app.checkpointer is None:
        raise ValueError("get_state() needs a checkpointer: compile(checkpointer=InMemorySaver())")
    thread_id = thread_of(config, None)
    if thread_id is None:
        raise ValueError("get_state() needs a thread: {'configurable': {'thread_id': '1'}}")
    if not keeps_threads(app.checkpointer):
        raise ValueError(f"{app.checkpointer!r} keeps no threads; use InMemorySaver, Journal or PostgreSQL")
    return thread_id, load_checkpoints(app.checkpointer, thread_id)


def snapshot(
    app: CompiledStateGraph[Any], thread_id: str, history: list[dict[str, Any]], index: int
) -> StateSnapshot:
    checkpoint = history[index]

    def config_of(i: int) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": str(i + 1)}}

    interrupts = tuple(Interrupt(i["value"], i["id"]) for i in checkpoint.get("interrupts") or ())
    by_node: dict[str, list[Interrupt]] = {}
    for i in checkpoint.get("interrupts") or ():
        by_node.setdefault(i["node"], []).append(Interrupt(i["value"], i["id"]))
    status = checkpoint.get("status")
    next_: list[str] = list(checkpoint.get("next") or ())
    if status == "failed" and not next_:
        failed = list(checkpoint.get("errors") or ())
        next_ = failed or _first_nodes(app, checkpoint.get("origin"))
    elif status == "running" and not next_:
        next_ = _first_nodes(app, checkpoint.get("origin"))
    tasks = tuple(
        PregelTask(
            by_node[n][0].id if n in by_node else interrupt_id(checkpoint.get("run") or thread_id, n),
            n,
            ("__pregel_pull", n),
            error=(checkpoint.get("errors") or {}).get(n),
            interrupts=tuple(by_node.get(n, ())),
        )
        for n in next_
    )
    created = datetime.datetime.fromtimestamp(checkpoint.get("created", 0.0), datetime.UTC)
    metadata: dict[str, Any] = {"source": checkpoint.get("source", "loop"), "step": index - 1}
    if status == "updated":
        metadata["writes"] = {checkpoint.get("origin"): checkpoint.get("writes")}
    return StateSnapshot(
        values=app._output.output(dict(checkpoint["values"])),
        next=tuple(next_),
        config=config_of(index),
        metadata=metadata,
        created_at=created.isoformat(),
        parent_config=config_of(index - 1) if index > 0 else None,
        tasks=tasks,
        interrupts=interrupts,
    )


def _first_nodes(app: CompiledStateGraph[Any], origin: str | None) -> list[str]:
    """The nodes a run starting from ``origin`` (START if None) goes to by plain edges."""
    return [t for t in app._edges.get(origin or START, ()) if t != END]


def get_state(app: CompiledStateGraph[Any], config: Any) -> Any:
    if isinstance(config, str):  # the old get_state(run_id): the state alone
        warnings.warn(
            "get_state(run_id) is deprecated: get_state({'configurable': {'thread_id': run_id}}).values",
            DeprecationWarning,
            stacklevel=3,
        )
        if app.checkpointer is None:
            raise ValueError("get_state() needs a journal: compile(journal='runs.db')")
        if keeps_threads(app.checkpointer):
            checkpoints = load_checkpoints(app.checkpointer, config)
            if checkpoints:
                return app._output.output(dict(checkpoints[-1]["values"]))
        values = journaled_state(app.checkpointer, config)
        return None if values is None else app._output.output(values)
    thread_id, history = history_of(app, config)
    if not history:
        return StateSnapshot(
            values={},
            next=(),
            config={"configurable": {"thread_id": thread_id}},
            metadata=None,
            created_at=None,
            parent_config=None,
            tasks=(),
        )
    return snapshot(app, thread_id, history, _chosen(config, history))


def _chosen(config: Mapping[str, Any], history: list[dict[str, Any]]) -> int:
    wanted = (config.get("configurable") or {}).get("checkpoint_id")
    if wanted is None:
        return len(history) - 1
    index = int(wanted) - 1
    if not 0 <= index < len(history):
        raise ValueError(f"checkpoint_id {wanted!r} is not a checkpoint of this thread")
    return index


def get_state_history(app: CompiledStateGraph[Any], config: Mapping[str, Any]) -> list[StateSnapshot]:
    thread_id, history = history_of(app, config)
    return [snapshot(app, thread_id, history, i) for i in reversed(range(len(history)))]


def update_state(
    app: CompiledStateGraph[Any], config: Mapping[str, Any], values: Any, as_node: str | None
) -> dict[str, Any]:
    thread_id, history = history_of(app, config)
    if as_node is not None and as_node not in app._nodes and as_node != START:
        raise ValueError(f"as_node {as_node!r} is not a node of the graph")
    latest = history[-1] if history else None
    current = fresh(latest["values"]) if latest else app._initial({} if not app._schema.is_root else None)
    update = app._schema.check_update(as_node or "update_state", values)
    if update:
        app._schema.apply(current, update)
    runs = sum(1 for c in history if c.get("status") == "running")
    if as_node is None and latest is not None and latest.get("status") in ("running", "failed", "interrupted"):
        # No node named: the unfinished run goes on, from its input with the update folded in.
        checkpoint = _base(latest)
        start = fresh(latest["start"])
        if update:
            app._schema.apply(start, update)
        checkpoint.update(status=latest["status"], start=start, values=current, source="update",
                          interrupts=latest.get("interrupts") or [], next=latest.get("next") or [],
                          run=f"{thread_id}#{runs}")
        if latest.get("status") == "interrupted":
            checkpoint["status"] = "failed"  # runs again on invoke(None), its pauses too
    else:
        origin = START if as_node is None and latest is None else as_node
        checkpoint = {
            "status": "updated",
            "source": "update",
            "run": None,
            "start": current,
            "origin": origin,
            "answers": {},
            "values": current,
            "interrupts": [],
            "next": [t for t in app._edges.get(origin, ())] if origin is not None else [],
            "writes": update,
        }
    checkpoint["created"] = time.time()
    assert app.checkpointer is not None
    save_checkpoint(app.checkpointer, thread_id, checkpoint)
    return {
        "configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": str(len(history) + 1)}
    }
