"""One run's link to its store: the identity of each call, replay, and results held until
written (group commit). It is the engine's :class:`~pipeline._engine._recorder.Recorder`."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reactivex import abc

from .._core._errors import JournalError, RunInProgress
from .._core._result import ErrorInfo, SkillResult, Status, new_result

if TYPE_CHECKING:
    from .._core._skill import SkillCall
    from .._engine._run import CallNode, Run
    from ._journal import JournalBinding

from ._codec import canonical, decode, encode
from ._store import STATE_IDENT, JournalRecord, JournalStore

__all__ = ["JournalSession"]

# -- identity ------------------------------------------------------------------------------


_SCALARS = frozenset({int, str, float, bool, type(None)})


def _describe_unknown(obj: Any) -> Any:
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{obj!r}"


def _describe_call(call: SkillCall[Any]) -> str:
    return f"call {call.key!r} (skill {call.skill.options.name!r})"


# -- one run's session ---------------------------------------------------------------------


class JournalSession:
    """One run's link to its store: replays what finished, holds results until written.

    Made by :meth:`JournalBinding.aopen` when the run starts, with the records that
    :func:`claim_and_load` read in a thread; the engine calls :meth:`replay` for each call
    it registers, :meth:`write` for each result, and :meth:`close` when the run ends.
    While it is open a thread of its own renews the run's lease every ``lease / 3``
    seconds; a lease lost ends the run with :class:`RunInProgress`.
    """

    def __init__(
        self, binding: JournalBinding, run: Run, records: dict[str, JournalRecord] | None = None
    ) -> None:
        self.store = binding.store
        self.run_id = binding.run_id
        self.owned = binding.owned
        self.run = run
        self.loop = run.loop
        self.pickle = bool(getattr(self.store, "pickle", False))
        if records is None:  # opened on the loop (Run.start() without astart())
            records = claim_and_load(self.store, self.run_id)
        self.records = {i: r for i, r in records.items() if r.has_value}
        self.replayed = 0
        self.closed = False
        # Identity of each registered call, and its node until its result is written.
        self.digests: weakref.WeakKeyDictionary[SkillCall[Any], str] = weakref.WeakKeyDictionary()
        self.occurrences = _Occurrences()
        self.pending: dict[int, tuple[str, CallNode]] = {}
        # Results waiting for the next write (this loop turn), then for their commit.
        self.outgoing: list[tuple[SkillResult, JournalRecord]] = []
        self.outgoing_slots: list[abc.ObserverBase[SkillResult]] = []
        self.in_write = 0
        self.committed: list[tuple[list[SkillResult], list[abc.ObserverBase[SkillResult]]]] = []
        self.lock = threading.Lock()
        self.scheduled = False
        # A StateGraph invocation's running state: journaled with each batch and at the end.
        self.state: Callable[[], Any] | None = None
        self.heartbeat = _Heartbeat(self) if callable(getattr(self.store, "renew", None)) else None

    # -- identity ------------------------------------------------------------------------

    def _digest(self, call: SkillCall[Any]) -> str:
        args, kwargs = call.args, call.kwargs
        if (
            not call.after
            and all(type(a) in _SCALARS for a in args)
            and (not kwargs or all(type(v) in _SCALARS for v in kwargs.values()))
        ):
            # Most calls take a few scalars: their repr is stable across processes and
            # cheaper to build than JSON (the same call always takes the same path).
            shape = (call.skill.options.name, args, sorted(kwargs.items()) if kwargs else ())
            return hashlib.blake2b(repr(shape).encode(), digest_size=10).hexdigest()
        known = self.digests.get(call)
        if known is not None:
            return known
        body: list[Any] = [call.skill.options.name, list(args), kwargs]
        if call.after:
            body.append(["after:" + self._digest(c) for c in call.after])
        # What the arguments mean, the same in every process: dict keys and set items
        # sorted, random message ids left out (see _codec.canonical).
        data = canonical(body, self._json_fallback)
        digest = hashlib.blake2b(data, digest_size=10).hexdigest()
        self.digests[call] = digest
        return digest

    def _json_fallback(self, obj: Any) -> Any:
        from .._core._skill import SkillCall

        if isinstance(obj, SkillCall):  # a dependency stands in by its own identity
            return "call:" + self._digest(obj)
        return _describe_unknown(obj)

    # -- the engine's calls ----------------------------------------------------------------

    def replay(self, node: CallNode) -> bool:
        """Register ``node``'s identity; if the journal has its value, end it with it."""
        call = node.call
        base = f"{call.key}#{self._digest(call)}"
        n = self.occurrences.next(base)
        ident = base if n == 0 else f"{base}#{n}"
        record = self.records.pop(ident, None)
        if record is None:
            self.pending[node.index] = (ident, node)
            return False
        run = self.run
        try:
            value = decode(record.codec, record.data, call.skill)
        except Exception as exc:  # unreadable: run it again (its new result replaces it)
            del exc
            self.pending[node.index] = (ident, node)
            return False
        error = None
        if record.error_type is not None:
            error = ErrorInfo(type=record.error_type, message=record.error_message or "")
        result = new_result(
            name=call.skill.options.name,
            key=call.key,
            index=node.index,
            status=Status(record.status),
            value=value,
            error=error,
            fallback_used=record.fallback_used,
            attempts=record.attempts,
            started_at=None,
            finished_at=run.loop.time() - run.t0,
            replayed=True,
        )
        self.replayed += 1
        run.replayed(node, result)
        return True

    def write(self, result: SkillResult) -> None:
        """Hold ``result`` until the store has it; then the run delivers it."""
        entry = self.pending.pop(result.index, None)
        if entry is None:  # not registered through replay() (cannot happen): deliver as is
            self.run.deliver(result)
            return
        ident, node = entry
        codec = data = None
        if result.has_value:
            try:
                codec, data = encode(result.value, node.call.skill, self.pickle, _describe_call(node.call))
            except JournalError as exc:
                # The value is not lost silently: the call fails, saying why.
                result = result.model_copy(
                    update={"status": Status.ERROR, "value": None, "fallback_used": False,
                            "error": ErrorInfo.of(exc)}
                )
                node.result = result
            except Exception as exc:  # reading a deferred value failed
                result = result.model_copy(
                    update={"status": Status.ERROR, "value": None, "fallback_used": False,
                            "error": ErrorInfo.of(exc)}
                )
                node.result = result
        error = result.error
        record = JournalRecord(
            ident,
            result.key,
            result.name,
            result.status.value,
            result.fallback_used,
            error.type if error is not None else None,
            error.message if error is not None else None,
            result.attempts,
            codec,
            data,
        )
        outgoing = self.outgoing
        outgoing.append((result, record))
        if len(outgoing) == 1:
            # One write per loop turn: the results that finish together go together.
            self.loop.call_soon(self._send)

    def complete_after_write(self, slot: abc.ObserverBase[SkillResult]) -> None:
        """Complete ``slot`` (a call's place in the merge) once its result is written."""
        if self.outgoing and not self.closed:
            self.outgoing_slots.append(slot)
        else:
            slot.on_completed()

    def _send(self, final: bool = False) -> None:
        outgoing, self.outgoing = self.outgoing, []
        slots, self.outgoing_slots = self.outgoing_slots, []
        if not outgoing and not (final and self.state is not None):
            for slot in slots:
                slot.on_completed()
            return
        results = [r for r, _ in outgoing]
        records = [rec for _, rec in outgoing]
        if self.state is not None:
            state = self._state_record()
            if state is not None:
                records.append(state)
        self.in_write += 1
        try:
            self.store.write(self.run_id, records, lambda error: self._committed(results, slots, error))
        except Exception as exc:
            self.in_write -= 1
            self.run.fail(exc)

    def _committed(
        self,
        results: list[SkillResult],
        slots: list[abc.ObserverBase[SkillResult]],
        error: BaseException | None,
    ) -> None:
        # On the store's thread: hop to the loop once for however many batches are done.
        if error is not None:
            try:
                self.loop.call_soon_threadsafe(self._failed, error)
            except RuntimeError:  # the loop is closed
                pass
            return
        with self.lock:
            self.committed.append((results, slots))
            if self.scheduled:
                return
            self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:
            pass

    def _state_record(self) -> JournalRecord | None:
        assert self.state is not None
        try:
            codec, data = encode(self.state(), None, self.pickle, check=False)
        except Exception:  # not storable: get_state() keeps the last state that was
            return None
        return JournalRecord(STATE_IDENT, "", "", "success", False, None, None, 0, codec, data)

    def _failed(self, error: BaseException) -> None:
        self.in_write -= 1
        self.run.fail(error if isinstance(error, Exception) else JournalError(str(error)))

    def _deliver(self) -> None:
        with self.lock:
            batches, self.committed = self.committed, []
            self.scheduled = False
        run = self.run
        for results, slots in batches:
            self.in_write -= 1
            for result in results:
                run.deliver(result)
            for slot in slots:  # after the results: a freed slot may start the next call
                slot.on_completed()

    def close(self) -> None:
        """The run ended: queue what is left, then give the run id back.

        The store releases it after the writes queued before, so the next run with this
        id (here or elsewhere) loads every record, including those of a run left early
        (what finished is journaled, though it was not delivered).
        """
        if self.closed:
            return
        self.closed = True
        self.occurrences.close()
        if self.heartbeat is not None:
            self.heartbeat.stop.set()
        self._send(final=True)
        self.store.release(self.run_id)
        if self.owned:
            self.store.close()

    def lease_lost(self, error: Exception) -> None:
        """On the loop: the lease could not be renewed; the run ends with ``error``."""
        if not self.closed:
            self.run.fail(error)


class _Occurrences:
    """How many times each call identity was registered in this run, in bounded memory.

    Equal calls are told apart by their order of registration, so every identity a run
    registered is remembered for the run's life. The first :data:`_IN_MEMORY` stay in a
    dict; the rest go, in batches, to a private temporary SQLite database (on disk,
    deleted when closed, its page cache capped), with a fixed-size Bloom filter in front
    so that an identity never seen (nearly all of them) is not looked up there. A run of
    millions of calls holds a few MiB, not an entry per call; a run of a few thousand
    pays only the dict.
    """

    __slots__ = ("bits", "counts", "db", "fresh")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.fresh: dict[str, int] = {}  # counts not yet in the database
        self.bits: bytearray | None = None
        self.db: sqlite3.Connection | None = None

    def next(self, base: str) -> int:
        """How many times ``base`` was registered before (0: the first), counting this one."""
        counts = self.counts
        n = counts.get(base)
        if n is not None:
            counts[base] = n + 1
            return n
        if len(counts) < _IN_MEMORY:
            counts[base] = 1
            return 0
        return self._spilled(base)

    def _spilled(self, base: str) -> int:
        fresh = self.fresh
        n = fresh.get(base)
        if n is None:
            bits = self.bits
            if bits is None:
                bits = self.bits = bytearray(_BITS >> 3)
                self.db = _spill_database()
            # Two probes from the two halves of the string's hash (stable within a process).
            h = hash(base)
            i, j = h & (_BITS - 1), (h >> 32) & (_BITS - 1)
            if bits[i >> 3] >> (i & 7) & bits[j >> 3] >> (j & 7) & 1:
                assert self.db is not None
                row = self.db.execute("SELECT n FROM seen WHERE base = ?", (base,)).fetchone()
                n = 0 if row is None else int(row[0])
            else:
                bits[i >> 3] |= 1 << (i & 7)
                bits[j >> 3] |= 1 << (j & 7)
                n = 0
        fresh[base] = n + 1
        if len(fresh) >= _BATCH:
            self._flush()
        return n

    def _flush(self) -> None:
        assert self.db is not None
        self.db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?)", self.fresh.items())
        self.fresh.clear()

    def close(self) -> None:
        db, self.db = self.db, None
        self.bits = None
        if db is not None:
            db.close()


# Identities kept in a dict per run before the rest go to disk (about 120 bytes each), the
# batch they go in, and the Bloom filter's size in bits (a power of two: 2 MiB, under 2%
# false positives at a million identities, each costing one lookup).
_IN_MEMORY = 10_000
_BATCH = 1_000
_BITS = 1 << 24


def _spill_database() -> sqlite3.Connection:
    # "": a temporary database on disk, private to this connection and deleted with it
    # (also when the process is killed: SQLite unlinks it once open). Nothing in it needs
    # to survive a crash, so no rollback journal and no fsync; one transaction for its
    # life, so pages reach the file only when the capped cache is full.
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2048")  # KiB
    db.execute("CREATE TABLE seen (base TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("BEGIN")
    return db


def claim_and_load(store: JournalStore, run_id: str) -> dict[str, JournalRecord]:
    """Claim ``run_id`` and load its records (blocking: the session runs it in a thread).

    Raises:
        RunInProgress: if another live owner holds ``run_id``.
    """
    store.claim(run_id)
    try:
        return store.load(run_id)
    except BaseException:
        store.release(run_id)
        raise


class _Heartbeat:
    """The thread that renews a session's lease every ``lease / 3`` seconds.

    It holds the session weakly and ends when the session closes (``stop``). A renewal
    that fails for a reason other than a lost lease (a lock held a while) is retried until
    a whole lease went by without one; then, or at once when the lease is lost, the run
    ends with the error, on its loop.
    """

    def __init__(self, session: JournalSession) -> None:
        self.stop = threading.Event()
        lease = float(getattr(session.store, "lease", 30.0))
        self.thread = threading.Thread(
            target=_renew_loop,
            args=(session.store, session.run_id, lease, self.stop, weakref.ref(session), session.loop),
            name=f"skillstream-lease {session.run_id}",
            daemon=True,
        )
        self.thread.start()


def _renew_loop(
    store: JournalStore,
    run_id: str,
    lease: float,
    stop: threading.Event,
    session: weakref.ref[JournalSession],
    loop: Any,
) -> None:
    renewed = time.monotonic()
    error: Exception | None = None
    while not stop.wait(lease / 3):
        try:
            store.renew(run_id)
            renewed = time.monotonic()
        except RunInProgress as exc:
            error = exc
        except Exception as exc:
            if time.monotonic() - renewed < lease:
                continue  # retried: the lease still holds
            error = exc
        if error is not None:
            break
    if error is None or stop.is_set():
        return
    owner = session()
    if owner is not None:
        try:
            loop.call_soon_threadsafe(owner.lease_lost, error)
        except RuntimeError:  # the loop is closed: the run is gone
            pass
