"""``stream_mode`` "messages", "tasks" and "debug": what LangGraph streams beside updates.

An invocation that streams none of them never builds a :class:`_Extra` (nor imports
``langchain_core``); one that does gets one, told by the invocation when each node run
starts (:meth:`_Extra.started`), what it returned (:meth:`_Extra.output`) and how it ended
(:meth:`_Extra.ended`, :meth:`_Extra.paused`).

"messages" works as LangGraph's ``StreamMessagesHandler``: a LangChain callback handler
rides in each node run's ``config["callbacks"]`` (and in LangChain's context, so a chat
model called without the config sees it too). Being a streaming handler, it makes a chat
model called with ``invoke`` stream, and each token is a ``(chunk, metadata)`` pair the
moment it comes; a model's final message is streamed unless its chunks were, and so is
each message a node writes that was neither streamed nor in the node's input (by id).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .._executors._local import with_loop_open

if TYPE_CHECKING:
    from ._interrupt import Interrupt
    from ._invocation import _Invocation, _NodeRun

EXTRA_MODES = frozenset({"messages", "tasks", "debug"})

PROPAGATED = ("thread_id", "checkpoint_id", "checkpoint_ns", "task_id", "run_id", "assistant_id", "graph_id")
"""The ``configurable`` keys LangGraph copies into a run's metadata (where not set)."""

_INTERNAL_METADATA = frozenset(
    {
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "langgraph_step",
        "langgraph_node",
        "langgraph_triggers",
        "langgraph_path",
        "langgraph_checkpoint_ns",
    }
)
"""Metadata a "tasks" event leaves out: it says no more than the event's own fields."""


def check_modes(modes: Sequence[str]) -> None:
    """``"messages"`` needs ``langchain_core``: say so where the mode is given."""
    if "messages" in modes and importlib.util.find_spec("langchain_core") is None:
        raise ImportError(
            "stream_mode='messages' streams LangChain chat models' tokens and needs "
            "langchain-core: pip install 'skillstream[langchain]'"
        )


def with_metadata_defaults(config: dict[str, Any]) -> None:
    """Copy the ``configurable`` keys LangGraph shows in a run's metadata into it."""
    configurable = config.get("configurable") or {}
    found = {key: configurable[key] for key in PROPAGATED if configurable.get(key)}
    if found:
        metadata = dict(config.get("metadata") or {})
        for key, value in found.items():
            metadata.setdefault(key, value)
        config["metadata"] = metadata


def task_id(base: str, key: str) -> str:
    """A node run's id (LangGraph's task id): a UUID made of its invocation and key, so
    a replayed run gets the id it had."""
    digest = hashlib.blake2b(f"{base}\x00task\x00{key}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest))


def make(invocation: _Invocation, modes: Sequence[str]) -> _Extra | None:
    """The invocation's extra streams, or ``None`` when it streams none of them."""
    if EXTRA_MODES.isdisjoint(modes):
        return None
    return _Extra(invocation, modes)


def task_result(writes: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A node run's writes as its task's result, as LangGraph shows them: ``{field: value}``,
    ``{field: {"$writes": [value, ...]}}`` for a field written several times."""
    result: dict[str, Any] = {}
    for field, value in writes:
        if field in result:
            earlier = result[field]
            if isinstance(earlier, dict) and isinstance(earlier.get("$writes"), list):
                earlier["$writes"].append(value)
            else:
                result[field] = {"$writes": [earlier, value]}
        else:
            result[field] = value
    return result


class _Extra:
    """The "messages", "tasks" and "debug" streams of one invocation (on its loop)."""

    def __init__(self, invocation: _Invocation, modes: Sequence[str]) -> None:
        self.invocation = invocation
        self.tasks = "tasks" in modes
        self.debug = "debug" in modes
        self.loop_thread = threading.get_ident()
        self.handler: Any = None
        self.runs: dict[str, str] = {}  # langgraph_checkpoint_ns -> node run key, while it runs
        self.metadata: dict[str, dict[str, Any]] = {}  # node run key -> its metadata
        if "messages" in modes:
            from ._lc_messages import MessagesHandler

            self.handler = MessagesHandler(self)
            link = invocation.link
            parent = link.invocation.extra if link is not None else None
            if parent is not None and parent.handler is not None:
                # A subgraph streaming its messages up: one set of messages seen for the
                # whole stream (LangGraph's one handler), so that a message a subgraph
                # streamed is not streamed again as its node's output in the parent.
                self.handler.seen = parent.handler.seen

    # -- what the invocation tells ------------------------------------------------------------

    def config(self, run: _NodeRun, config: dict[str, Any]) -> dict[str, Any]:
        """The node run's config, with the messages handler among its callbacks."""
        if self.handler is None:
            return config
        callbacks = config.get("callbacks")
        if callbacks is None:
            joined: Any = [self.handler]
        elif isinstance(callbacks, list):
            joined = [*callbacks, self.handler]
        else:  # a LangChain callback manager: a copy, with the handler inherited by children
            joined = callbacks.copy()
            joined.add_handler(self.handler, inherit=True)
        return {**config, "callbacks": joined}

    def started(self, run: _NodeRun, value: Any, config: dict[str, Any] | None) -> None:
        """``run`` is handed to the engine with ``value`` as its input."""
        metadata = dict(config.get("metadata") or {}) if config is not None else {}
        if self.handler is not None and config is not None:
            self.runs[metadata.get("langgraph_checkpoint_ns", "")] = run.key
            self.metadata[run.key] = metadata
            self.handler.saw(value)
        if self.tasks or self.debug:
            payload: dict[str, Any] = {
                "id": self._id(run),
                "name": run.node,
                "input": value,
                "triggers": metadata.get("langgraph_triggers", self.invocation.graph._triggers[run.node]),
            }
            shown = {k: v for k, v in metadata.items() if k not in _INTERNAL_METADATA}
            tags = [t for t in (config or {}).get("tags") or () if not t.startswith("seq:step")]
            if tags:
                shown["tags"] = tags
            if shown:
                payload["metadata"] = shown
            self._task_event(run, "task", payload)

    def output(self, run: _NodeRun, value: Any) -> None:
        """``run`` returned ``value`` (before its update is streamed): its messages."""
        metadata = self.metadata.get(run.key)
        if metadata is None:
            return
        metadata.setdefault("ls_integration", "langgraph")
        seen = self.handler.seen
        for message in self.handler.messages_in(value):
            if message.id in seen:  # streamed already, or in the node's input
                continue
            if message.id is None:
                message.id = str(uuid.uuid4())
            seen.add(message.id)
            # Its run has ended (it is no longer in flight): streamed as its update is.
            self.invocation._emit("messages", (message, metadata))
        self.forget(run)

    def forget(self, run: _NodeRun) -> None:
        """``run`` ended without a value: nothing it wrote is streamed."""
        metadata = self.metadata.pop(run.key, None)
        if metadata is not None:
            self.runs.pop(str(metadata.get("langgraph_checkpoint_ns", "")), None)

    def ended(
        self,
        run: _NodeRun,
        writes: list[tuple[str, Any]] | None,
        error: Any,
    ) -> None:
        """``run`` ended: with ``writes`` (its update), or without a value (``error``)."""
        if not (self.tasks or self.debug):
            return
        result = task_result(writes or ())
        payload = {"id": self._id(run), "name": run.node, "error": error, "result": result, "interrupts": []}
        self._task_event(run, "task_result", payload)

    def paused(self, run: _NodeRun, interrupts: Sequence[Interrupt]) -> None:
        """``run`` paused at ``interrupt()``."""
        self.forget(run)
        if not (self.tasks or self.debug):
            return
        payload: dict[str, Any] = {
            "id": self._id(run),
            "name": run.node,
            "error": None,
            "result": {},
            "interrupts": [asdict(i) for i in interrupts],
        }
        self._task_event(run, "task_result", payload)

    # -- what it streams ----------------------------------------------------------------------

    def _id(self, run: _NodeRun) -> str:
        return self.invocation.task_id(run.key)

    def _task_event(self, run: _NodeRun, kind: str, payload: dict[str, Any]) -> None:
        if self.tasks:
            self.invocation._emit("tasks", payload)
        if self.debug:
            self.invocation._emit(
                "debug",
                {
                    "step": run.step,
                    "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
                    "type": kind,
                    "payload": payload,
                },
            )

    def message(self, namespace: str, message: Any, metadata: dict[str, Any]) -> None:
        """A "messages" chunk of the node run whose namespace is ``namespace``, from any
        thread (a sync node's hops onto the loop, in order)."""
        key = self.runs.get(namespace)
        if key is None:
            return
        live = self.invocation._live
        if threading.get_ident() == self.loop_thread:
            live(key, "messages", (message, metadata))
        else:
            with_loop_open(self.invocation.loop, live, key, "messages", (message, metadata))

    def owns(self, namespace: str) -> bool:
        """Whether a chat model run with this ``langgraph_checkpoint_ns`` is one of this
        invocation's node runs (a graph run inside a node has runs of its own)."""
        return namespace in self.runs
