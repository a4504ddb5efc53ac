"""A StateGraph's threads: the checkpoints of each ``thread_id``, kept beside the journal's
runs, and :class:`InMemorySaver`, a store that keeps both in this process's memory."""

from __future__ import annotations

import copy
import datetime
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from .._core._errors import RunInProgress
from ._codec import decode, encode
from ._store import JournalRecord, RunInfo

__all__ = ["CheckpointTuple", "InMemorySaver", "load_checkpoints", "save_checkpoint"]


class CheckpointTuple(NamedTuple):
    """One checkpoint of a thread as a checkpointer's ``get_tuple`` and ``list`` return it
    (LangGraph's ``CheckpointTuple``). ``checkpoint`` holds its ``id``, ``ts`` and
    ``channel_values`` (the state's fields); ``metadata`` its ``source`` and ``step``.
    ``pending_writes`` is ``None``: a thread keeps its node runs' results in its journal,
    not on checkpoints.

    Examples:
        >>> saver.get_tuple({"configurable": {"thread_id": "t1"}}).checkpoint["channel_values"]
        {'foo': 'bar'}
    """

    config: dict[str, Any]
    checkpoint: dict[str, Any]
    metadata: dict[str, Any]
    parent_config: dict[str, Any] | None = None
    pending_writes: list[tuple[str, str, Any]] | None = None


class InMemorySaver:
    """A checkpointer that keeps a graph's threads in this process's memory (LangGraph's
    ``InMemorySaver``; ``MemorySaver`` is the same class): for tests and notebooks.

    ``compile(checkpointer=InMemorySaver())`` keeps each ``thread_id``'s state across
    invocations, pauses at ``interrupt()`` and resumes with ``Command(resume=...)``; what
    it keeps goes with the process. For state that outlives it, give a
    :class:`~pipeline.Journal` (SQLite) or a ``postgresql://`` URL instead.

    Examples:
        >>> app = graph.compile(checkpointer=InMemorySaver())
        >>> app.invoke({"messages": ["hi"]}, {"configurable": {"thread_id": "t1"}})
    """

    pickle = True
    lease = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, JournalRecord]] = {}
        self._created: dict[str, tuple[float, float]] = {}
        self._held: set[str] = set()
        self._threads: dict[str, list[tuple[str, bytes]]] = {}

    def __repr__(self) -> str:
        return f"InMemorySaver(threads={len(self._threads)})"

    # -- the JournalStore protocol (a thread's node runs) ----------------------------------

    def claim(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._held:
                raise RunInProgress(f"run id {run_id!r} is already running in this process")
            self._held.add(run_id)
            now = time.time()
            created = self._created.get(run_id, (now, now))[0]
            self._created[run_id] = (created, now)

    def renew(self, run_id: str) -> None:
        """Nothing to renew: a lease in memory lasts as long as the process."""

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        with self._lock:
            return dict(self._records.get(run_id, {}))

    def write(
        self, run_id: str, records: Sequence[JournalRecord], done: Callable[[BaseException | None], None]
    ) -> None:
        with self._lock:
            kept = self._records.setdefault(run_id, {})
            for record in records:
                kept[record.ident] = record
            created = self._created.get(run_id, (time.time(), 0.0))[0]
            self._created[run_id] = (created, time.time())
        done(None)

    def release(self, run_id: str) -> None:
        with self._lock:
            self._held.discard(run_id)

    def runs(self) -> list[RunInfo]:
        with self._lock:
            return [
                RunInfo(
                    run_id,
                    *self._created.get(run_id, (0.0, 0.0)),
                    calls=len(records),
                    succeeded=sum(r.has_value for r in records.values()),
                    active=run_id in self._held,
                )
                for run_id, records in self._records.items()
            ]

    def forget(self, run_id: str) -> int:
        with self._lock:
            self._created.pop(run_id, None)
            return len(self._records.pop(run_id, {}))

    def close(self) -> None:
        """Nothing to close: the memory goes with the object."""

    # -- checkpoints -----------------------------------------------------------------------

    def put_checkpoint(self, thread_id: str, codec: str, data: bytes) -> None:
        """Append a checkpoint of ``thread_id``."""
        with self._lock:
            self._threads.setdefault(thread_id, []).append((codec, data))

    def checkpoints(self, thread_id: str) -> list[tuple[str, bytes]]:
        """Every checkpoint of ``thread_id``, oldest first."""
        with self._lock:
            return list(self._threads.get(thread_id, ()))

    def get_tuple(self, config: Mapping[str, Any]) -> CheckpointTuple | None:
        """The checkpoint the config names (its ``checkpoint_id``, or the thread's latest;
        ``None`` if it has none), LangGraph's ``get_tuple``.

        Examples:
            >>> saver.get_tuple({"configurable": {"thread_id": "t1"}}).metadata["step"]
            2
        """
        return checkpoint_tuple(self, config)

    def list(
        self,
        config: Mapping[str, Any] | None,
        *,
        filter: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """The checkpoints of the config's thread (every thread's, for ``None``), newest
        first (LangGraph's ``list``): only those whose metadata has ``filter``'s items,
        those before the checkpoint ``before`` names, at most ``limit``.

        Examples:
            >>> [t.metadata["source"] for t in saver.list({"configurable": {"thread_id": "t1"}})]
            ['loop', 'loop', 'input']
        """
        with self._lock:
            threads = list(self._threads)
        return list_checkpoints(self, threads, config, filter=filter, before=before, limit=limit)

    def delete_thread(self, thread_id: str) -> None:
        """Forget ``thread_id``: its checkpoints and its invocations' node runs."""
        with self._lock:
            self._threads.pop(thread_id, None)
            prefix = f"{thread_id}#"
            for run_id in [r for r in self._records if r.startswith(prefix)]:
                del self._records[run_id]
                self._created.pop(run_id, None)


def keeps_threads(store: Any) -> bool:
    """Whether ``store`` keeps checkpoints (every store shipped does)."""
    return callable(getattr(store, "put_checkpoint", None)) and callable(getattr(store, "checkpoints", None))


def save_checkpoint(store: Any, thread_id: str, checkpoint: dict[str, Any]) -> None:
    """Append ``checkpoint`` to ``thread_id``'s (blocking: call it in a thread).

    Raises:
        JournalError: if a value in it cannot be stored (not JSON-able and the journal
            does not pickle), or the store cannot be written.
    """
    pickle = bool(getattr(store, "pickle", False))
    codec, data = encode(checkpoint, None, pickle, f"thread {thread_id!r}'s checkpoint")
    assert codec is not None and data is not None
    store.put_checkpoint(thread_id, codec, data)


def load_checkpoints(store: Any, thread_id: str) -> list[dict[str, Any]]:
    """Every checkpoint of ``thread_id``, oldest first, each with its ``step`` and
    ``parent`` (its index; blocking: call it in a thread).

    A record marked ``amends`` is a later version of the checkpoint before it (a store only
    appends): it takes that one's place.
    """
    found: list[dict[str, Any]] = []
    for codec, data in store.checkpoints(thread_id):
        value = decode(codec, data, None)
        if isinstance(value, dict):
            if value.get("amends") and found:
                found[-1] = value
            else:
                found.append(value)
    for index, checkpoint in enumerate(found):
        # Checkpoints kept before steps and forks were recorded follow the one before.
        checkpoint.setdefault("step", index - 1)
        checkpoint.setdefault("parent", index - 1 if index > 0 else None)
    return found


def checkpoint_config(thread_id: str, index: int) -> dict[str, Any]:
    """The config that names checkpoint ``index`` of a thread (its id is ``index + 1``)."""
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": str(index + 1)}}


def chosen_checkpoint(config: Mapping[str, Any], history: Sequence[Any]) -> int:
    """The index of the checkpoint the config's ``checkpoint_id`` names (the latest without).

    Raises:
        ValueError: if the id is not one of the thread's.
    """
    wanted = (config.get("configurable") or {}).get("checkpoint_id")
    if wanted is None:
        return len(history) - 1
    try:
        index = int(wanted) - 1
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(history):
        raise ValueError(f"checkpoint_id {wanted!r} is not a checkpoint of this thread")
    return index


def _tuple(thread_id: str, history: list[dict[str, Any]], index: int) -> CheckpointTuple:
    checkpoint = history[index]
    created = datetime.datetime.fromtimestamp(checkpoint.get("created", 0.0), datetime.UTC)
    metadata: dict[str, Any] = {"source": checkpoint.get("source", "loop"), "step": checkpoint["step"], "parents": {}}
    parent = checkpoint.get("parent")
    return CheckpointTuple(
        config=checkpoint_config(thread_id, index),
        checkpoint={"id": str(index + 1), "ts": created.isoformat(), "channel_values": dict(checkpoint["values"])},
        metadata=metadata,
        parent_config=None if parent is None else checkpoint_config(thread_id, parent),
    )


def checkpoint_tuple(store: Any, config: Mapping[str, Any]) -> CheckpointTuple | None:
    """A store's ``get_tuple`` (blocking)."""
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if thread_id is None:
        raise ValueError("get_tuple() needs a thread: {'configurable': {'thread_id': '1'}}")
    history = load_checkpoints(store, str(thread_id))
    if not history:
        return None
    return _tuple(str(thread_id), history, chosen_checkpoint(config, history))


def list_checkpoints(
    store: Any,
    threads: Sequence[str],
    config: Mapping[str, Any] | None,
    *,
    filter: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> Iterator[CheckpointTuple]:
    """A store's ``list`` (blocking): ``threads`` are those it holds, for ``config=None``."""
    thread_id = None if config is None else (config.get("configurable") or {}).get("thread_id")
    found: list[CheckpointTuple] = []
    for thread in [str(thread_id)] if thread_id is not None else threads:
        history = load_checkpoints(store, thread)
        if not history:
            continue
        last = len(history) - 1
        if config is not None and (config.get("configurable") or {}).get("checkpoint_id") is not None:
            last = chosen_checkpoint(config, history)
            first = last
        else:
            first = 0
        if before is not None:
            last = min(last, chosen_checkpoint(before, history) - 1)
        for index in range(last, first - 1, -1):
            item = _tuple(thread, history, index)
            if filter and any(item.metadata.get(k) != v for k, v in filter.items()):
                continue
            found.append(item)
    return iter(found if limit is None else found[:limit])


def fresh(values: Any) -> Any:
    """A copy that later folds cannot change (reducers may append in place)."""
    try:
        return copy.deepcopy(values)
    except Exception:  # noqa: BLE001 (a lock, a client: what does not copy is shared as it is)
        return copy.copy(values)
