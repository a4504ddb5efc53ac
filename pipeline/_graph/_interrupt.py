"""Pausing a graph for a person: :func:`interrupt`, :class:`Interrupt`, and what
``get_state`` returns (:class:`StateSnapshot`, :class:`PregelTask`)."""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
from typing import Any, NamedTuple

from .._durable._codec import register_type

__all__ = ["Interrupt", "PregelTask", "StateSnapshot", "StateUpdate", "interrupt"]

PAUSED = "\x00interrupt"
"""The key of what a paused node run returns instead of an update: its interrupts. A plain
dict, so that the journal keeps it (as JSON) like any node's value."""


@dataclasses.dataclass(frozen=True)
class Interrupt:
    """A pause asked for by :func:`interrupt`: the value it was given and its id (LangGraph's
    ``langgraph.types.Interrupt``). ``invoke`` returns them under ``"__interrupt__"``.

    Examples:
        >>> state = app.invoke(inputs, config)
        >>> state["__interrupt__"]
        [Interrupt(value='Approve the trade?', id='3f2a...')]
    """

    value: Any
    """What the node passed to ``interrupt()``: the question, shown to a person."""
    id: str
    """Which pause this is: resume it alone with ``Command(resume={id: answer})``."""


register_type(Interrupt, lambda i: {"value": i.value, "id": i.id}, lambda f: Interrupt(f["value"], f["id"]))


class PregelTask(NamedTuple):
    """A node run the thread will run next, as :class:`StateSnapshot` lists it (LangGraph's
    ``PregelTask``)."""

    id: str
    name: str
    path: tuple[str, ...] = ()
    error: Any = None
    """What the node raised, as its ``repr``, when the invocation failed there."""
    interrupts: tuple[Interrupt, ...] = ()
    state: Any = None
    result: Any = None
    """What the node run wrote, once a later checkpoint of the thread follows this one
    (under ``schedule="supersteps"``, and for updates by ``update_state``)."""


class StateUpdate(NamedTuple):
    """One update of :meth:`~pipeline.CompiledStateGraph.bulk_update_state`: ``values`` as
    if node ``as_node`` had returned them (LangGraph's ``StateUpdate``). ``task_id`` is
    taken for LangGraph's code's sake; skillstream's checkpoints do not name node runs.

    Examples:
        >>> app.bulk_update_state(config, [[StateUpdate({"foo": "bar"}, as_node="node_a")]])
    """

    values: Any
    as_node: str | None = None
    task_id: str | None = None


class StateSnapshot(NamedTuple):
    """A thread's state at one checkpoint (LangGraph's ``StateSnapshot``): what
    ``get_state`` and ``get_state_history`` return.

    Examples:
        >>> snapshot = app.get_state({"configurable": {"thread_id": "t1"}})
        >>> snapshot.values["answer"], snapshot.next, snapshot.interrupts
        ('yes', (), ())
    """

    values: Any
    """The state (a dict; for a root State, the value)."""
    next: tuple[str, ...]
    """The nodes the next ``invoke(None, config)`` (or a resume) runs first; ``()``: done."""
    config: dict[str, Any]
    """This checkpoint's config: ``{"configurable": {"thread_id", "checkpoint_id"}}``."""
    metadata: dict[str, Any] | None
    """``source`` ("input", "loop", "update"), ``step``, and ``writes`` for an update."""
    created_at: str | None
    """When it was saved, ISO 8601 in UTC."""
    parent_config: dict[str, Any] | None
    """The config of the checkpoint before it in the thread, if any."""
    tasks: tuple[PregelTask, ...]
    """The node runs in :attr:`next`, with their interrupts."""
    interrupts: tuple[Interrupt, ...] = ()
    """The pauses waiting for an answer."""


class GraphInterrupt(Exception):
    """Raised by :func:`interrupt` to pause its node run (caught by the node's wrapper)."""

    def __init__(self, interrupt: Interrupt, *more: Interrupt) -> None:
        super().__init__(interrupt)
        self.interrupt = interrupt
        self.interrupts = (interrupt, *more)  # a subgraph's, when it paused in several places


class Scratch:
    """One node run's resume answers, and how many ``interrupt()`` calls it has made."""

    __slots__ = ("answers", "key", "scope", "used")

    def __init__(self, answers: list[Any], scope: str, key: str) -> None:
        self.answers = answers
        self.scope = scope
        self.key = key
        self.used = 0

    @property
    def id(self) -> str:
        # Made only when a node pauses: a graph that never does pays nothing for it.
        return interrupt_id(self.scope, self.key)


SCRATCH: contextvars.ContextVar[Scratch | None] = contextvars.ContextVar("skillstream_interrupt", default=None)


def interrupt_id(scope: str, key: str) -> str:
    """A node run's interrupt id: stable across its re-runs (a resume runs it again)."""
    return hashlib.blake2b(f"{scope}\x00{key}".encode(), digest_size=16).hexdigest()


def interrupt(value: Any) -> Any:
    """Pause the graph here for a person's answer (LangGraph's ``interrupt``).

    The first time, the node run stops, ``invoke`` returns the state with
    ``"__interrupt__": [Interrupt(value, id)]`` and the thread saves where it is; branches
    that do not need this node keep running until they do. ``invoke(Command(resume=answer),
    config)`` on the same thread runs the node again from its start, and this call then
    returns ``answer``; nothing that finished runs again. A node that calls ``interrupt()``
    several times gets the answers in order, one resume each. Code before the call runs
    again on resume: keep side effects after it (or in a node of their own).

    Examples:
        >>> def approve(state):
        ...     answer = interrupt({"question": "Buy?", "ticker": state["ticker"]})
        ...     return {"approved": answer == "yes"}
        >>> app = graph.compile(checkpointer=InMemorySaver())
        >>> config = {"configurable": {"thread_id": "t1"}}
        >>> app.invoke({"ticker": "AAPL"}, config)["__interrupt__"][0].value["question"]
        'Buy?'
        >>> app.invoke(Command(resume="yes"), config)["approved"]
        True

    Raises:
        RuntimeError: called outside a StateGraph node run (or in a process or Ray node,
            which run elsewhere).
    """
    scratch = SCRATCH.get()
    if scratch is None:
        raise RuntimeError(
            "interrupt() was called outside a StateGraph node; call it inside a node of a "
            "graph compiled with a checkpointer (compile(checkpointer=InMemorySaver()))"
        )
    index = scratch.used
    scratch.used += 1
    if index < len(scratch.answers):
        return scratch.answers[index]
    raise GraphInterrupt(Interrupt(value, scratch.id))


def paused(exc: GraphInterrupt) -> dict[str, Any]:
    """What a paused node run returns: its interrupt, as data the journal keeps."""
    return {PAUSED: [{"value": i.value, "id": i.id} for i in exc.interrupts]}


def is_paused(value: Any) -> bool:
    return type(value) is dict and PAUSED in value
