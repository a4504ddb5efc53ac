"""What ``run()`` keeps of ``journal=`` and ``run_id=``: a store and a run id, validated
(:class:`JournalBinding`), which opens a :class:`~pipeline._durable._session.JournalSession`
per run."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._engine._run import Run

from ._codec import decode
from ._session import JournalSession, claim_and_load
from ._sqlite import Journal
from ._store import STATE_IDENT, JournalRecord, JournalStore

# -- what run() keeps ----------------------------------------------------------------------


class JournalBinding:
    """A journal and a run id, as ``run()`` validated them; opens a session per run."""

    __slots__ = ("store", "run_id", "owned")

    def __init__(self, store: JournalStore, run_id: str, owned: bool) -> None:
        self.store = store
        self.run_id = run_id
        self.owned = owned

    def open(self, run: Run) -> JournalSession:
        """Claim the run id and load its records, on this thread (it may block: the
        engine uses :meth:`aopen`).

        Raises:
            RunInProgress: if a live run holds the run id.
        """
        return JournalSession(self, run, self._prepare())

    async def aopen(self, run: Run) -> JournalSession:
        """Claim the run id and load its records in a thread, never blocking the loop (a
        file locked by another process waits there); the session opens once they are in.

        Cancelled while it waits, the claim the thread still makes is given back.

        Raises:
            RunInProgress: if a live run holds the run id.
            JournalError: if the journal cannot be used (or stays locked).
        """
        loop = run.loop
        future: asyncio.Future[dict[str, JournalRecord]] = loop.create_future()

        def settle(records: dict[str, JournalRecord] | None, error: BaseException | None) -> None:
            if future.cancelled():
                if error is None:
                    self._undo()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(records or {})

        def work() -> None:
            records: dict[str, JournalRecord] | None = None
            error: BaseException | None = None
            try:
                records = self._prepare()
            except BaseException as exc:
                error = exc
            try:
                loop.call_soon_threadsafe(settle, records, error)
            except RuntimeError:  # the loop is closed
                if error is None:
                    self._undo()

        threading.Thread(target=work, name=f"skillstream-claim {self.run_id}", daemon=True).start()
        records = await future
        return JournalSession(self, run, records)

    def _prepare(self) -> dict[str, JournalRecord]:
        if self.owned and getattr(self.store, "_closed", False):
            # A run() stream is cold and may be iterated after an earlier run closed it.
            store: Any = self.store
            self.store = type(store)(store.path, pickle=store.pickle, lease=store.lease)
        return claim_and_load(self.store, self.run_id)

    def _undo(self) -> None:
        self.store.release(self.run_id)
        if self.owned:
            self.store.close()


def bind_journal(journal: Any, run_id: Any) -> JournalBinding | None:
    """Check ``run(journal=..., run_id=...)`` and open a journal given as a path.

    Raises:
        TypeError: if ``journal`` is neither a path nor a :class:`JournalStore`, or
            ``run_id`` is not a string.
        ValueError: if one is given without the other, or ``run_id`` is empty.
        JournalError: if the journal file cannot be used.
    """
    if journal is None:
        if run_id is not None:
            raise ValueError("run_id is for a journaled run: pass journal= too (e.g. journal='runs.db')")
        return None
    if run_id is None:
        raise ValueError("a journaled run needs a run_id: run(calls, journal=..., run_id='briefing-42')")
    _check_run_id(run_id)
    owned = isinstance(journal, (str, os.PathLike))
    store = open_store(journal)
    assert store is not None
    return JournalBinding(store, run_id, owned=owned)



def open_store(journal: Any) -> JournalStore | None:
    """A journal given as a path or a ``postgresql://`` URL opened (now, so a bad file or
    database fails at once), else as it is.

    Raises:
        TypeError: if ``journal`` is neither a path nor a :class:`JournalStore`.
        ImportError: for a URL, if psycopg is missing (the ``postgres`` extra).
        JournalError: if the file or database cannot be used.
    """
    if journal is None:
        return None
    if isinstance(journal, str) and journal.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresJournal  # psycopg is an extra: imported only for a URL

        return PostgresJournal(journal)
    if isinstance(journal, (str, os.PathLike)):
        return Journal(journal)
    if isinstance(journal, JournalStore):
        return journal
    raise TypeError(f"journal must be a path or a Journal, got {journal!r}")


def journaled_state(store: JournalStore, run_id: str) -> dict[str, Any] | None:
    """The state a StateGraph invocation last journaled, or None."""
    record = store.load(run_id).get(STATE_IDENT)
    if record is None:
        return None
    values = decode(record.codec, record.data, None)
    return values if isinstance(values, dict) else None


def _check_run_id(run_id: Any) -> None:
    if not isinstance(run_id, str):
        raise TypeError(f"run_id must be a str, got {run_id!r}")
    if not run_id or run_id == STATE_IDENT:
        raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
