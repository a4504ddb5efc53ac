"""A compiled graph's threads: what an invocation with ``{"configurable": {"thread_id":
...}}`` starts from, and the checkpoints it saves (LangGraph's persistence).

A thread is a list of checkpoints in its store (``compile(checkpointer=...)``), oldest
first; each names its parent (the checkpoint it follows: the one before it, or an earlier
one for a fork) and its step. Under the default schedule each invocation saves one when it
starts (status ``running``: the state it starts from) and one when it ends (``done``,
``interrupted`` or ``failed``: the state then). Under ``schedule="supersteps"`` it saves
LangGraph's: one for its input, one when each superstep ends; a failure is recorded on the
checkpoint its superstep started from (a record with ``amends`` replaces the one before it).
``update_state`` and each superstep of ``bulk_update_state`` save one of their own
(``updated``). Each invocation is one journaled run (run id ``"<thread_id>#<n>"``), so
running it again -- a resume, ``invoke(None, config)`` after a crash -- replays the node
runs that finished from the journal and runs the rest. Invoking from an earlier
``checkpoint_id`` forks the thread: a new run, from that checkpoint's state.
A node run that called :func:`interrupt` ended with its interrupt as its value; a resume
gives it its answers, which makes it another call (see ``_CallContext``), so it runs again.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._durable._journal import JournalBinding, journaled_state
from .._durable._threads import (
    checkpoint_config,
    chosen_checkpoint,
    fresh,
    keeps_threads,
    load_checkpoints,
    save_checkpoint,
)
from ._interrupt import Interrupt, PregelTask, StateSnapshot, interrupt_id
from ._invocation import _Invocation
from ._routing import END, START, Command, InvalidUpdateError, Send
from ._stream_modes import task_result

if TYPE_CHECKING:
    from ._builder import CompiledStateGraph

INPUT = "__input__"  # bulk_update_state: an update as the next invocation's input
COPY = "__copy__"  # bulk_update_state: a copy of the checkpoint, as a fork
_RESERVED = ("checkpoint_id", "checkpoint_ns")  # which checkpoint, not what nodes compute


class Plan:
    """One invocation of a thread: what it runs (or the state, if there is nothing to run),
    and how its checkpoints are saved."""

    def __init__(
        self,
        app: CompiledStateGraph[Any],
        thread_id: str | None,
        history: list[dict[str, Any]],
        durability: str | None = None,
    ) -> None:
        self.app = app
        self.thread_id = thread_id
        self.history = history
        self.invocation: _Invocation | None = None
        self.state: Any = None  # nothing to run: this is the result
        self.checkpoint: dict[str, Any] = {}
        self.keeps = thread_id is not None and keeps_threads(app.checkpointer)
        # "exit": only the checkpoint an invocation ends with is kept (LangGraph's).
        self.every_step = durability != "exit"
        self.supersteps = app.schedule == "supersteps"
        self.parent: int | None = len(history) - 1 if history else None  # what the next save follows
        self.fork = False  # invoked from an earlier checkpoint: save a "fork" first
        self.prior: dict[str, Any] = {}  # the values an input checkpoint shows
        self.step_values: Any = None  # supersteps: the state the running superstep started from
        self.input_kept = False  # its input's checkpoint is kept already (bulk_update_state's)
        self.input_update: dict[str, Any] = {}  # what START writes: its task's result
        self.saved_superstep = 0  # supersteps: the last one whose end is kept (a rerun skips them)
        self.anchor = 0  # supersteps: the step of the checkpoint superstep 0 ends with

    def _step(self) -> int:
        return -2 if self.parent is None else int(self.history[self.parent]["step"])

    def _save(self, checkpoint: dict[str, Any], amends: bool = False, step: int | None = None) -> None:
        assert self.thread_id is not None
        checkpoint["created"] = time.time()
        if amends:
            last = self.history[-1]
            checkpoint.update(step=last["step"], parent=last["parent"], amends=True)
        else:
            checkpoint.update(step=self._step() + 1 if step is None else step, parent=self.parent)
        save_checkpoint(self.app.checkpointer, self.thread_id, checkpoint)
        if amends:
            self.history[-1] = checkpoint
        else:
            self.history.append(checkpoint)
            self.parent = len(self.history) - 1

    def _first_saves(self) -> None:
        if self.fork:
            self._save({**self.checkpoint, "source": "fork"})
        if not self.every_step:
            return
        if not self.supersteps:
            self._save(dict(self.checkpoint))
        elif self.checkpoint.get("source") == "input" or self.input_kept:
            # LangGraph's: the input waiting (step -1 on a new thread), then the state with
            # it applied (step 0) as each superstep's end is.
            if not self.input_kept:
                self._save({**self.checkpoint, "values": self.prior, "next": [START]})
            self._save({**self.checkpoint, "source": "loop", "next": _next_of(self.app, self.checkpoint),
                        "produced": [(START, self.input_update)]})

    async def started(self) -> None:
        invocation = self.invocation
        if invocation is not None and self.supersteps and self.keeps:
            self.step_values = fresh(self.checkpoint["start"])
            invocation.on_superstep = self._superstep
        if self.keeps:
            await asyncio.to_thread(self._first_saves)

    def _superstep(self, next_nodes: list[str]) -> None:
        """Supersteps: one ended with more to run; keep the state it ends with."""
        invocation = self.invocation
        assert invocation is not None
        values = fresh(invocation._fold_all())
        self.step_values = values
        if _superstep_of(invocation) <= self.saved_superstep or not self.every_step:  # kept already, or not kept
            return
        self.saved_superstep = _superstep_of(invocation)
        self._save({**self.checkpoint, "source": "loop", "values": values, "next": next_nodes,
                    "superstep": _superstep_of(invocation), "produced": self._produced()})

    def _produced(self) -> list[tuple[str, dict[str, Any]]]:
        """What each run of the superstep that just ended wrote: its task's result."""
        invocation = self.invocation
        assert invocation is not None
        step = _superstep_of(invocation)
        return [(r.node, fresh(task_result(r.update))) for r in invocation.done if r.step == step and r.node != START]

    async def ended(self, failed: bool) -> None:
        invocation = self.invocation
        if invocation is None or not self.keeps:
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
            "superstep": self.saved_superstep,
        }
        if self.supersteps and not failed and not interrupts:
            checkpoint["produced"] = self._produced()
        # Supersteps: a failed or paused superstep writes nothing; as in LangGraph its errors
        # or interrupts are recorded on the checkpoint it started from (this run's latest).
        amends = False
        step: int | None = None
        if self.supersteps:
            # The step LangGraph gives it, whether or not the ones before it were kept.
            step = self.anchor + _superstep_of(invocation)
            if failed or interrupts:
                # Paused too: the superstep's other writes wait for the resume to keep them.
                checkpoint["values"] = self.step_values
                step = max(self.anchor, step - 1)
                last = self.history[-1] if self.history else None
                amends = (
                    last is not None and last.get("run") == self.checkpoint.get("run") and last.get("status") != "done"
                )
                if amends and last is not None:  # the same checkpoint, with what it ran into
                    checkpoint["source"] = last.get("source", "loop")
                    checkpoint["produced"] = last.get("produced")
        await asyncio.to_thread(self._save, checkpoint, amends, step)


def _superstep_of(invocation: _Invocation) -> int:
    """The superstep a schedule="supersteps" invocation is at (0 before the first)."""
    return int(getattr(invocation, "step", 0))


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
    durability: str | None = None,
) -> Plan:
    """What an invocation runs, from its thread's checkpoints (loaded in a thread).

    Raises:
        ValueError: without a thread_id on a graph with a checkpointer (or a Command or
            run_id without one), a resume of a thread not paused, ``None`` as the input of
            a thread with no state, or a ``checkpoint_id`` not of the thread.
    """
    legacy = run_id is not None
    thread_id = thread_of(config, run_id)
    _check_thread(app, thread_id, input, legacy)
    if thread_id is None or app.checkpointer is None:  # without one, a thread_id is config
        result = Plan(app, None, [])
        result.invocation = app._invocation_type(app, app._initial(input), modes, config, multi)
        return result
    store = app.checkpointer
    history = await asyncio.to_thread(load_checkpoints, store, thread_id) if keeps_threads(store) else []
    result = Plan(app, thread_id, history, durability)
    chosen = chosen_checkpoint(config, history) if history else -1
    latest = history[chosen] if history else None
    # Invoked from an earlier checkpoint (time travel): a new run forks the thread there.
    travels = latest is not None and chosen != len(history) - 1
    if history:
        result.parent = chosen
    run = _next_run(thread_id, history)
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
        if travels:
            checkpoint["run"] = run
        if input.update is not None:
            # Folded into the paused invocation's input: the nodes whose input it changes
            # run again (LangGraph applies it before the paused node, keeping the others).
            update = app._schema.check_update("__input__", input.update)
            if update:
                checkpoint["start"] = fresh(checkpoint["start"])
                app._schema.apply(checkpoint["start"], update)
                checkpoint["run"] = run
    elif input is None:
        if latest is None:
            raise ValueError(f"thread {thread_id!r} has no state to continue from; give an input")
        if travels and status not in ("updated", "input"):
            # From an earlier checkpoint: its state, running what it would run next, as a
            # new run (the nodes after it run again).
            nodes = _next_of(app, latest)
            if not nodes:
                result.state = app._output.output(dict(latest["values"]))
                return result
            checkpoint = _new(app, latest, None, run, [])
            checkpoint["goto"] = nodes
            result.fork = True
        elif unfinished:
            checkpoint = _again(latest)
        elif status == "input":
            checkpoint = _new(app, latest, None, run, None)
            checkpoint.update(start=fresh(latest["start"]), values=latest["start"], source="loop")
            result.input_kept = True
            result.input_update = dict(latest.get("input") or {})
        elif status == "updated" and _runs_after(app, latest):
            checkpoint = _new(app, latest, None, run, latest.get("origin") or [])
            checkpoint["goto"] = list(latest.get("goto") or ())
            checkpoint["sends"] = list(latest.get("sends") or ())
        else:  # finished: nothing to run
            result.state = app._output.output(dict(latest["values"]))
            return result
    elif legacy and unfinished and latest is not None:
        # The old run_id= spelling: invoked again, an unfinished run goes on.
        checkpoint = _again(latest)
    else:
        checkpoint = _new(app, latest, input, run, None)
        result.input_update = app._input_update(input)
        result.prior = (
            fresh(latest["values"]) if latest is not None else {k: make() for k, make in app._schema.empty.items()}
        )
    base_step = int(latest["step"]) if latest is not None else -1
    if latest is not None and checkpoint["run"] == latest.get("run"):
        result.saved_superstep = int(latest.get("superstep") or 0)
        result.anchor = base_step - result.saved_superstep
    elif checkpoint["source"] == "input":  # its input's checkpoint, then superstep 0's
        result.anchor = base_step + 2 if latest is not None else 0
    else:  # after an update, an input kept by bulk_update_state, or a fork
        result.anchor = base_step + 1 if result.fork or result.input_kept else base_step
    result.checkpoint = checkpoint
    invocation = app._invocation_type(app, fresh(checkpoint["start"]), modes, config, multi)
    invocation.answers = {k: list(v) for k, v in checkpoint["answers"].items()}
    invocation.scope = checkpoint["run"]
    origin = checkpoint["origin"]
    if isinstance(origin, list):
        invocation.origin = tuple(origin)
    else:
        invocation.origin = None if origin == START else origin
    invocation.goto = tuple(checkpoint.get("goto") or ())
    invocation.sent_first = tuple((node, arg) for node, arg in checkpoint.get("sends") or ())
    if "values" in modes and (isinstance(input, Command) or (input is None and unfinished)):
        # A resume streams the state it goes on from first, not its input again.
        invocation.first_values = latest["values"] if latest is not None else None
    assert app.checkpointer is not None
    invocation.journal = JournalBinding(app.checkpointer, checkpoint["run"], owned=False)
    result.invocation = invocation
    return result


def _runs_after(app: CompiledStateGraph[Any], checkpoint: Mapping[str, Any]) -> bool:
    """Whether an update's checkpoint has nodes to run after it (its routers may name some)."""
    origin = checkpoint.get("origin")
    origins = origin if isinstance(origin, list) else [] if origin is None else [origin]
    return bool(checkpoint.get("next")) or any(
        app._branches.get(o) or app._joins_by_source.get(o) for o in origins
    )


def _next_run(thread_id: str, history: list[dict[str, Any]]) -> str:
    """A run id no checkpoint of the thread has used."""
    last = -1
    prefix = f"{thread_id}#"
    for checkpoint in history:
        run = checkpoint.get("run")
        if isinstance(run, str) and run.startswith(prefix) and run[len(prefix):].isdigit():
            last = max(last, int(run[len(prefix):]))
    return f"{prefix}{last + 1}"


def _base(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "running",
        "source": "loop",
        "run": checkpoint["run"],
        "start": checkpoint["start"],
        "origin": checkpoint.get("origin"),
        "answers": dict(checkpoint.get("answers") or {}),
        "goto": list(checkpoint.get("goto") or ()),
        "sends": list(checkpoint.get("sends") or ()),
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
    app: CompiledStateGraph[Any],
    latest: dict[str, Any] | None,
    input: Any,
    run: str,
    origin: str | list[str] | None,
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
    interrupts = tuple(Interrupt(i["value"], i["id"]) for i in checkpoint.get("interrupts") or ())
    by_node: dict[str, list[Interrupt]] = {}
    for i in checkpoint.get("interrupts") or ():
        by_node.setdefault(i["node"], []).append(Interrupt(i["value"], i["id"]))
    next_ = _next_of(app, checkpoint)
    results = _results(history, index)
    tasks = tuple(
        PregelTask(
            by_node[n][0].id if n in by_node else interrupt_id(checkpoint.get("run") or thread_id, n),
            n,
            ("__pregel_pull", n),
            error=(checkpoint.get("errors") or {}).get(n),
            interrupts=tuple(by_node.get(n, ())),
            result=results.get(n, [None]).pop(0) if results.get(n) else None,
        )
        for n in next_
    )
    created = datetime.datetime.fromtimestamp(checkpoint.get("created", 0.0), datetime.UTC)
    metadata: dict[str, Any] = {"source": checkpoint.get("source", "loop"), "step": checkpoint["step"]}
    if checkpoint.get("status") == "updated":
        origin = checkpoint.get("origin")
        writes = checkpoint.get("writes")
        metadata["writes"] = dict(writes or {}) if isinstance(origin, list) else {origin: writes}
    parent = checkpoint.get("parent")
    return StateSnapshot(
        values=app._output.output(dict(checkpoint["values"])),
        next=tuple(next_),
        config=checkpoint_config(thread_id, index),
        metadata=metadata,
        created_at=created.isoformat(),
        parent_config=None if parent is None else checkpoint_config(thread_id, parent),
        tasks=tasks,
        interrupts=interrupts,
    )


def _results(history: list[dict[str, Any]], index: int) -> dict[str, list[Any]]:
    """What each task of checkpoint ``index`` wrote, per node: read from the first
    checkpoint kept after it (its first child) that says."""
    for later in history[index + 1 :]:
        if later.get("parent") == index and later.get("produced") is not None:
            found: dict[str, list[Any]] = {}
            for node, update in later["produced"]:
                found.setdefault(node, []).append(update)
            return found
    return {}


def _next_of(app: CompiledStateGraph[Any], checkpoint: Mapping[str, Any]) -> list[str]:
    """The nodes a checkpoint runs next (as ``StateSnapshot.next`` lists them)."""
    next_: list[str] = list(checkpoint.get("next") or ())
    if next_:
        return next_
    status = checkpoint.get("status")
    if status not in ("failed", "running"):
        return []
    failed = list(checkpoint.get("errors") or ()) if status == "failed" else []
    return failed or [
        *(node for node, _ in checkpoint.get("sends") or ()),
        *(checkpoint.get("goto") or ()),
        *_first_nodes(app, checkpoint.get("origin")),
    ]


def _first_nodes(app: CompiledStateGraph[Any], origin: str | list[str] | None) -> list[str]:
    """The nodes a run starting from ``origin`` (START if None) goes to by plain edges."""
    origins = origin if isinstance(origin, list) else [origin or START]  # [] for a fork: none
    return list(dict.fromkeys(t for o in origins for t in app._edges.get(o, ()) if t != END))


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
    return snapshot(app, thread_id, history, chosen_checkpoint(config, history))


def get_state_history(app: CompiledStateGraph[Any], config: Mapping[str, Any]) -> list[StateSnapshot]:
    thread_id, history = history_of(app, config)
    return [snapshot(app, thread_id, history, i) for i in reversed(range(len(history)))]


def update_state(
    app: CompiledStateGraph[Any], config: Mapping[str, Any], values: Any, as_node: str | None
) -> dict[str, Any]:
    return bulk_update_state(app, config, [[(values, as_node)]])


def bulk_update_state(
    app: CompiledStateGraph[Any], config: Mapping[str, Any], supersteps: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """Apply each superstep's updates and keep one checkpoint per superstep (blocking)."""
    if isinstance(supersteps, (str, bytes)) or not isinstance(supersteps, Sequence):
        raise TypeError(f"supersteps must be a list of lists of StateUpdate, got {type(supersteps).__name__}")
    if len(supersteps) == 0:
        raise ValueError("No supersteps provided")
    steps: list[list[tuple[Any, str | None]]] = []
    for superstep in supersteps:
        if isinstance(superstep, (str, bytes)) or not isinstance(superstep, Sequence):
            raise TypeError(f"each superstep must be a list of StateUpdate, got {type(superstep).__name__}")
        if len(superstep) == 0:
            raise ValueError("No updates provided")
        steps.append([_as_update(u) for u in superstep])
    thread_id, history = history_of(app, config)
    at: int | None = chosen_checkpoint(config, history) if history else None
    for updates in steps:
        checkpoint, parent = _superstep(app, thread_id, history, at, updates)
        if "step" not in checkpoint:  # after its base's (an input to a new thread: -1)
            base_step = int(history[at]["step"]) if at is not None else -1
            checkpoint["step"] = -1 if at is None and checkpoint["source"] == "input" else base_step + 1
        checkpoint["parent"] = parent
        checkpoint["created"] = time.time()
        assert app.checkpointer is not None
        save_checkpoint(app.checkpointer, thread_id, checkpoint)
        history.append(checkpoint)
        at = len(history) - 1
    return checkpoint_config(thread_id, len(history) - 1)


def _as_update(update: Any) -> tuple[Any, str | None]:
    """A ``StateUpdate`` (or a ``(values, as_node[, task_id])`` tuple) as (values, as_node)."""
    if not isinstance(update, tuple) or not 2 <= len(update) <= 3:
        raise TypeError(f"an update is StateUpdate(values, as_node), got {update!r}")
    values, as_node = update[0], update[1]
    if as_node is not None and not isinstance(as_node, str):
        raise TypeError(f"as_node must be a node's name, got {as_node!r}")
    return values, as_node


def _superstep(
    app: CompiledStateGraph[Any],
    thread_id: str,
    history: list[dict[str, Any]],
    at: int | None,
    updates: list[tuple[Any, str | None]],
) -> tuple[dict[str, Any], int | None]:
    """One superstep of updates on checkpoint ``at``: the checkpoint it makes, and its parent."""
    base = history[at] if at is not None else None
    values, as_node = updates[0]
    current = fresh(base["values"]) if base is not None else app._initial({} if not app._schema.is_root else None)
    if as_node == END and values is None:  # clears what was to run next
        if len(updates) > 1:
            raise InvalidUpdateError("Cannot apply multiple updates when clearing state")
        return _updated(current, None, {}, []), at
    if as_node == INPUT:  # an input, waiting for the next invoke(None, config) to run it
        if len(updates) > 1:
            raise InvalidUpdateError("Cannot apply multiple updates when updating as input")
        if values is None:  # (an empty input is one: LangGraph runs the graph on it)
            raise InvalidUpdateError(f"Received no input writes for {sorted(app._input.fields)}")
        update = app._input_update(values)
        start = fresh(current)
        app._schema.apply(start, update)
        checkpoint = _updated(current, START, {}, [START])
        checkpoint.update(status="input", source="input", start=start, input=update)
        return checkpoint, at
    if as_node == COPY:  # the same checkpoint again, as a sibling (then updates, if listed)
        if len(updates) > 1:
            raise InvalidUpdateError("Cannot copy checkpoint with multiple updates")
        if base is None or at is None:
            raise InvalidUpdateError("Cannot copy a non-existent checkpoint")
        copy = {k: v for k, v in base.items() if k not in ("amends", "created", "produced")}
        copy.update(source="fork", step=int(base["step"]) + 1)
        parent = base.get("parent")
        if isinstance(values, list) and values:
            copy["parent"] = parent
            copy["created"] = time.time()
            assert app.checkpointer is not None
            save_checkpoint(app.checkpointer, thread_id, copy)
            history.append(copy)
            updated, at = _superstep(app, thread_id, history, len(history) - 1, [_as_update(u) for u in values])
            updated["step"] = copy["step"] + 1
            return updated, at
        return copy, parent
    if len(updates) == 1:
        return _single(app, thread_id, history, at, values, as_node), at
    produced: list[tuple[str, Any]] = []
    writes: dict[str, Any] = {}
    gotos: list[str] = []
    sends: list[tuple[str, Any]] = []
    written: dict[str, str] = {}
    for values, as_node in updates:
        if as_node is None:
            raise InvalidUpdateError("as_node is required when applying multiple updates")
        _check_node(app, as_node)
        update, goto, sent = _command(app, as_node, values)
        gotos.extend(goto)
        sends.extend(sent)
        for key in update:
            if key not in app._schema.reducers and key in written:
                raise InvalidUpdateError(
                    f"At key {key!r}: Can receive only one value per step. Use an Annotated key "
                    f"to handle multiple values. ({written[key]!r} and {as_node!r} both wrote it)"
                )
            written[key] = as_node
        app._schema.apply(current, update)
        writes[as_node] = values
        produced.append((as_node, update))
    origins = list(dict.fromkeys(node for _, node in updates if node is not None))
    checkpoint = _updated(current, origins, writes, _next_after(app, origins, gotos, sends))
    checkpoint.update(produced=produced, goto=gotos, sends=sends)
    return checkpoint, at


def _command(app: CompiledStateGraph[Any], as_node: str, values: Any) -> tuple[dict[str, Any], list[str], list[tuple[str, Any]]]:
    """An update's writes, and (for a Command) the nodes its goto names and its Sends."""
    if not isinstance(values, Command):
        return app._schema.check_update(as_node, values) or {}, [], []
    if values.resume is not None:
        raise InvalidUpdateError("an update's Command takes update= and goto=, not resume=")
    update = app._schema.check_update(as_node, values.update) or {}
    goto: list[str] = []
    sends: list[tuple[str, Any]] = []
    targets = values.goto if isinstance(values.goto, (list, tuple)) else [values.goto]
    for target in targets:
        if isinstance(target, Send):
            _check_node(app, target.node)
            sends.append((target.node, target.arg))
        elif isinstance(target, str) and target != END:
            _check_node(app, target)
            goto.append(target)
    return update, goto, sends


def _next_after(app: CompiledStateGraph[Any], origins: list[str], goto: list[str], sends: list[tuple[str, Any]]) -> list[str]:
    """What runs after updates as ``origins``: Sends first, then the nodes by name (LangGraph's order)."""
    pulls = sorted({*_first_nodes(app, origins), *goto}) if origins else []
    return [*(node for node, _ in sends), *pulls]


def _updated(values: dict[str, Any], origin: Any, writes: Any, next_: list[str]) -> dict[str, Any]:
    return {
        "status": "updated",
        "source": "update",
        "run": None,
        "start": values,
        "origin": origin,
        "answers": {},
        "values": values,
        "interrupts": [],
        "next": next_,
        "writes": writes,
    }


def _check_node(app: CompiledStateGraph[Any], as_node: str) -> None:
    if as_node not in app._nodes and as_node != START:
        raise ValueError(f"as_node {as_node!r} is not a node of the graph")


def _single(
    app: CompiledStateGraph[Any],
    thread_id: str,
    history: list[dict[str, Any]],
    at: int | None,
    values: Any,
    as_node: str | None,
) -> dict[str, Any]:
    """``update_state``'s one update."""
    if as_node is not None:
        _check_node(app, as_node)
    latest = history[at] if at is not None else None
    current = fresh(latest["values"]) if latest else app._initial({} if not app._schema.is_root else None)
    goto: list[str] = []
    sends: list[tuple[str, Any]] = []
    update: dict[str, Any] | None
    if isinstance(values, Command) and as_node is not None:
        update, goto, sends = _command(app, as_node, values)
    else:
        update = app._schema.check_update(as_node or "update_state", values)
    if update:
        app._schema.apply(current, update)
    if as_node is None and latest is not None and latest.get("status") in ("running", "failed", "interrupted"):
        # No node named: the unfinished run goes on, from its input with the update folded in.
        checkpoint = _base(latest)
        start = fresh(latest["start"])
        if update:
            app._schema.apply(start, update)
        checkpoint.update(status=latest["status"], start=start, values=current, source="update",
                          interrupts=latest.get("interrupts") or [], next=latest.get("next") or [],
                          run=_next_run(thread_id, history))
        if latest.get("status") == "interrupted":
            checkpoint["status"] = "failed"  # runs again on invoke(None), its pauses too
        return checkpoint
    origin = START if as_node is None and latest is None else as_node
    next_ = _next_after(app, [origin], goto, sends) if origin is not None else []
    checkpoint = _updated(current, origin, update, next_)
    checkpoint.update(goto=goto, sends=sends)
    if as_node is not None:
        checkpoint["produced"] = [(as_node, update or {})]
    return checkpoint
