"""A StateGraph's threads: the checkpoints of each ``thread_id``, kept beside the journal's
runs, and :class:`InMemorySaver`, a store that keeps both in this process's memory."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._core._errors import RunInProgress
from ._codec import decode, encode
from ._store import JournalRecord, RunInfo

__all__ = ["InMemorySaver", "load_checkpoints", "save_checkpoint"]


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
    """Every checkpoint of ``thread_id``, oldest first (blocking: call it in a thread)."""
    found = []
    for codec, data in store.checkpoints(thread_id):
        value = decode(codec, data, None)
        if isinstance(value, dict):
            found.append(value)
    return found


def fresh(values: Any) -> Any:
    """A copy that later folds cannot change (reducers may append in place)."""
    try:
        return copy.deepcopy(values)
    except Exception:  # noqa: BLE001 (a lock, a client: what does not copy is shared as it is)
        return copy.copy(values)
