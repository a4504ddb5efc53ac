"""Durable runs: a journal of finished results, so a run killed halfway resumes.

How it works
------------
``run(calls, journal="runs.db", run_id="briefing-42")`` gives the run a
:class:`JournalSession`. When the run starts, the session claims ``run_id`` in the store
(refused with :class:`RunInProgress` while another live run holds it) and loads the
records an earlier run with that id left. Each call the run registers is identified by its
key and a stable hash of its skill's name and its arguments (a dependency stands in by its
own identity, not its value); a call whose identity has a record that has a value
(success, or a fallback) is *replayed*: its result, marked ``replayed=True``, is emitted
at once, and it never runs. Every other call runs, and its result is held back until the
store has committed it (group commit: all the results that finished while the previous
batch was being written go in one transaction), then passed to the consumer. So what the
consumer saw is in the journal, and a run killed at any moment loses at most the calls
that were in flight.

The engine knows the session by three calls: ``replay(node)``, ``write(result)`` and
``close()``. The store below it is the small :class:`JournalStore` protocol (claim, load,
write, release, runs, forget, close): a Postgres or Redis journal implements those and
nothing else. :class:`Journal` is the SQLite store: stdlib ``sqlite3``, WAL mode, one
writer thread per journal object, ``BEGIN IMMEDIATE`` so several processes can share the
file.

Values are stored as JSON through pydantic when they are JSON-able (a replayed value is
validated against the skill's return annotation, so a model comes back a model), else
pickled when the journal allows it (``Journal(path, pickle=True)``); a value that can be
stored neither way makes the call's result an error that says so.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import pickle as pickle_module
import queue
import socket
import sqlite3
import threading
import time
import typing
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import pydantic_core
from pydantic import TypeAdapter
from reactivex import abc

from .._core._errors import JournalError, RunInProgress
from .._core._result import ErrorInfo, SkillResult, Status, new_result

if TYPE_CHECKING:
    from .._engine._run import CallNode, Run
    from .._core._skill import Skill, SkillCall

__all__ = [
    "Journal",
    "JournalBinding",
    "JournalRecord",
    "JournalSession",
    "JournalStore",
    "RunInfo",
    "bind_journal",
]

STATE_IDENT = "\x00state"
"""The ident of a StateGraph invocation's journaled state (not a call)."""

_FORMAT = "skillstream-journal"
_VERSION = "1"


# -- what a store keeps --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One finished call as a store keeps it. Values arrive already encoded.

    Examples:
        >>> JournalRecord("fetch#3f2a", "fetch", "fetch", "success", False, None, None, 1, "json", b"42")
        JournalRecord(ident='fetch#3f2a', ...)
    """

    ident: str
    """The call's identity in its run: key, hash of skill and arguments, occurrence."""
    key: str
    name: str
    """The skill's name."""
    status: str
    """A :class:`Status` value."""
    fallback_used: bool
    error_type: str | None
    error_message: str | None
    attempts: int
    codec: str | None
    """``"json"``, ``"pickle"``, or ``None`` (no value)."""
    data: bytes | None

    @property
    def has_value(self) -> bool:
        """Whether a rerun replays it (it succeeded, or fell back)."""
        return self.status == "success" or self.fallback_used


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run id as :meth:`Journal.runs` lists it.

    Examples:
        >>> [(r.run_id, r.succeeded, r.calls) for r in Journal("runs.db").runs()]
        [('briefing-42', 180, 200)]
    """

    run_id: str
    created: float
    """When the run id was first used (seconds since the epoch)."""
    updated: float
    """When a result of it was last written."""
    calls: int
    """Calls with a record (the last result of each)."""
    succeeded: int
    """Records a rerun replays: succeeded, or fell back."""
    active: bool
    """Whether a live run holds the run id now."""


@runtime_checkable
class JournalStore(Protocol):
    """What a journal must do; :class:`Journal` (SQLite) is the one shipped.

    Every method but :meth:`write` may block (they run when a run starts or ends, and from
    management code). :meth:`write` must not: it queues the records and calls ``done``,
    from any thread, once they are durable (with the exception, if writing failed).

    Examples:
        >>> class RedisJournal:          # sketch: claim with SET NX, write with a pipeline
        ...     pickle = False
        ...     def claim(self, run_id): ...
        ...     def load(self, run_id): ...
        ...     def write(self, run_id, records, done): ...
        ...     def release(self, run_id): ...
        ...     def runs(self): ...
        ...     def forget(self, run_id): ...
        ...     def close(self): ...
    """

    pickle: bool
    """Whether values that are not JSON-able may be pickled."""

    def claim(self, run_id: str) -> None:
        """Take ``run_id`` for this run; raise :class:`RunInProgress` if a live run has it."""
        ...

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        """Every record of ``run_id``, by ident (after this process's pending writes)."""
        ...

    def write(
        self, run_id: str, records: Sequence[JournalRecord], done: Callable[[BaseException | None], None]
    ) -> None:
        """Queue ``records`` (replacing any with the same ident); call ``done`` when durable."""
        ...

    def release(self, run_id: str) -> None:
        """Give ``run_id`` back, after the writes queued before."""
        ...

    def runs(self) -> list[RunInfo]:
        """Every run id the journal holds records of."""
        ...

    def forget(self, run_id: str) -> int:
        """Delete ``run_id``'s records; return how many there were."""
        ...

    def close(self) -> None:
        """Finish the queued writes and let go of the store."""
        ...


# -- the SQLite store ----------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS skillstream_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS skillstream_runs (
    run_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    owner_pid INTEGER,
    owner_host TEXT
);
CREATE TABLE IF NOT EXISTS skillstream_results (
    run_id TEXT NOT NULL,
    ident TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    fallback_used INTEGER NOT NULL,
    error_type TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL,
    codec TEXT,
    data BLOB,
    PRIMARY KEY (run_id, ident)
) WITHOUT ROWID;
"""

# Runs held by this process, by (journal file, run id): another thread or another
# Journal object on the same file sees them here (the database only knows the pid).
_HELD: set[tuple[str, str]] = set()
_HELD_LOCK = threading.Lock()
_HOST = socket.gethostname()

_Op = Callable[[sqlite3.Connection], None]
_Done = Callable[[BaseException | None], None]
_STOP: Any = object()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


class Journal:
    """A journal in a SQLite file: the default store of durable runs.

    Opening checks the file at once (``run(journal=path)`` opens it, so a bad path fails
    before any call runs). Several processes may share the file, each with its own run
    ids; one writer thread per ``Journal`` commits results in groups.

    Examples:
        >>> journal = Journal("runs.db", pickle=True)
        >>> async for r in run(calls, journal=journal, run_id="briefing-42"):
        ...     print(r.key, r.status, r.replayed)
        >>> journal.runs()
        [RunInfo(run_id='briefing-42', ...)]
        >>> journal.forget("briefing-42")
        200

    Args:
        path: the database file; created (with its tables) if missing, in a directory
            that must exist.
        pickle: store values that are not JSON-able with ``pickle`` (only open journals
            you trust: unpickling runs code).
        synchronous: ``"normal"`` (default) survives a killed process: a committed result
            is on disk in the WAL. ``"full"`` also survives power loss or an OS crash, at
            the cost of an fsync per group commit (a few ms on a laptop SSD, more on
            network disks), which bounds throughput to a few hundred commits a second.
        busy_timeout: seconds to wait for another process's write lock.

    Raises:
        JournalError: if the directory is missing, the file is not a SQLite database, is
            corrupt, is a database but not a journal, or is read-only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pickle: bool = False,
        synchronous: Literal["normal", "full"] = "normal",
        busy_timeout: float = 30.0,
    ) -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        self.path = os.fspath(path)
        self.pickle = pickle
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()  # guards self._conn (management calls, any thread)
        self._queue: queue.SimpleQueue[tuple[Any, _Done | None]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._conn = self._open()
        self._real = os.path.realpath(self.path)

    def __repr__(self) -> str:
        return f"Journal({self.path!r}, pickle={self.pickle})"

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return _connect(self.path, self.synchronous, self.busy_timeout)

    def _open(self) -> sqlite3.Connection:
        path = self.path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise JournalError(f"journal {path!r}: the directory {directory!r} does not exist")
        exists = os.path.exists(path)
        if exists and not os.path.isfile(path):
            raise JournalError(f"journal {path!r}: not a file")
        if exists and (not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222):
            raise JournalError(f"journal {path!r}: the file is read-only")
        if not os.access(directory, os.W_OK):
            # WAL mode keeps two files beside the database: the directory must be writable.
            raise JournalError(f"journal {path!r}: the directory {directory!r} is read-only")
        try:
            conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"journal {path!r}: not a usable SQLite database ({exc})") from exc
        try:
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables and "skillstream_meta" not in tables:
                raise JournalError(
                    f"journal {path!r}: a SQLite database, but not a skillstream journal "
                    f"(it has tables {sorted(tables)}); give the journal a file of its own"
                )
            check = conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise JournalError(f"journal {path!r}: the database is corrupt ({check and check[0]})")
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise JournalError(f"journal {path!r}: cannot use WAL mode on this file system")
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            meta = dict(conn.execute("SELECT name, value FROM skillstream_meta"))
            if not meta:
                conn.executemany(
                    "INSERT OR IGNORE INTO skillstream_meta VALUES (?, ?)",
                    [("format", _FORMAT), ("version", _VERSION)],
                )
            elif meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
                raise JournalError(
                    f"journal {path!r}: format {meta.get('format')!r} version "
                    f"{meta.get('version')!r}, this skillstream reads {_FORMAT!r} {_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"journal {path!r}: not a usable SQLite database ({exc})") from exc
        except JournalError:
            conn.close()
            raise
        return conn

    # -- the writer --------------------------------------------------------------------------

    def _submit(self, op: Any, done: _Done | None) -> None:
        if self._closed:
            raise JournalError(f"journal {self.path!r} is closed")
        with self._lock:
            if self._writer is None:
                # The thread holds the queue, not the journal: a journal nobody closed can
                # still be collected (its __del__ stops the thread).
                self._writer = threading.Thread(
                    target=_write_loop,
                    args=(self.path, self.synchronous, self.busy_timeout, self._queue),
                    name=f"skillstream-journal {self.path}",
                    daemon=True,
                )
                self._writer.start()
                _OPEN.add(self)
        self._queue.put((op, done))

    def _sync(self) -> None:
        """Wait until every write queued so far is committed."""
        if self._writer is None or self._closed:
            return
        flushed = threading.Event()
        self._submit(None, lambda _: flushed.set())
        flushed.wait()

    # -- the JournalStore protocol -----------------------------------------------------------

    def claim(self, run_id: str) -> None:
        """Take ``run_id`` for a run of this process.

        Raises:
            RunInProgress: if a live run holds it (here, or a live process on this host;
                one on another host is assumed live).
        """
        held = (self._real, run_id)
        with _HELD_LOCK:
            if held in _HELD:
                raise RunInProgress(
                    f"run id {run_id!r} is already running in this process "
                    f"(journal {self.path!r}); wait for it to end, or use another run_id"
                )
            with self._lock:
                conn = self._conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT owner_pid, owner_host FROM skillstream_runs WHERE run_id = ?",
                        (run_id,),
                    ).fetchone()
                    if row is not None and row[0] is not None:
                        pid, host = row
                        mine = host == _HOST and pid == os.getpid()
                        # A dead owner (killed halfway): its run id is free to resume.
                        live = host != _HOST or _pid_alive(pid)
                        if live and not mine:
                            where = f"process {pid}" + ("" if host == _HOST else f" on {host}")
                            raise RunInProgress(
                                f"run id {run_id!r} is already running in {where} "
                                f"(journal {self.path!r}); wait for it to end, or use another run_id"
                            )
                    now = time.time()
                    conn.execute(
                        "INSERT INTO skillstream_runs VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (run_id) DO UPDATE SET owner_pid = excluded.owner_pid, "
                        "owner_host = excluded.owner_host",
                        (run_id, now, now, os.getpid(), _HOST),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            _HELD.add(held)

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        """Every record of ``run_id``, by ident."""
        self._sync()
        with self._lock:
            rows = self._conn.execute(
                "SELECT ident, key, name, status, fallback_used, error_type, error_message, "
                "attempts, codec, data FROM skillstream_results WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        return {
            r[0]: JournalRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9])
            for r in rows
        }

    def write(self, run_id: str, records: Sequence[JournalRecord], done: _Done) -> None:
        """Queue ``records`` for the writer thread; ``done`` runs on it once committed."""
        rows = [
            (run_id, r.ident, r.key, r.name, r.status, r.fallback_used, r.error_type,
             r.error_message, r.attempts, r.codec, r.data)
            for r in records
        ]
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO skillstream_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("UPDATE skillstream_runs SET updated = ? WHERE run_id = ?", (now, run_id))

        self._submit(op, done)

    def release(self, run_id: str) -> None:
        """Give ``run_id`` back once the writes queued before it are committed."""
        held = (self._real, run_id)
        pid = os.getpid()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE skillstream_runs SET owner_pid = NULL, owner_host = NULL "
                "WHERE run_id = ? AND owner_pid = ? AND owner_host = ?",
                (run_id, pid, _HOST),
            )

        with _HELD_LOCK:
            _HELD.discard(held)
        if self._closed:
            return
        try:
            self._submit(op, None)
        except JournalError:
            pass

    def runs(self) -> list[RunInfo]:
        """Every run id with its counts, oldest first.

        Examples:
            >>> for info in Journal("runs.db").runs():
            ...     print(info.run_id, f"{info.succeeded}/{info.calls}", info.active)
        """
        self._sync()
        with self._lock:
            rows = self._conn.execute(
                "SELECT r.run_id, r.created, r.updated, r.owner_pid, r.owner_host, "
                "COUNT(s.ident), COALESCE(SUM(s.status = 'success' OR s.fallback_used), 0) "
                "FROM skillstream_runs r LEFT JOIN skillstream_results s "
                "ON s.run_id = r.run_id AND s.ident != ? "
                "GROUP BY r.run_id ORDER BY r.created, r.run_id",
                (STATE_IDENT,),
            ).fetchall()
        out = []
        for run_id, created, updated, pid, host, calls, succeeded in rows:
            active = pid is not None and (host != _HOST or _pid_alive(pid))
            with _HELD_LOCK:
                if host == _HOST and pid == os.getpid():
                    active = (self._real, run_id) in _HELD
            out.append(RunInfo(run_id, created, updated, calls, succeeded, active))
        return out

    def forget(self, run_id: str) -> int:
        """Delete every record of ``run_id``; returns how many results were deleted.

        Raises:
            RunInProgress: if a live run holds ``run_id``.
        """
        for info in self.runs():
            if info.run_id == run_id and info.active:
                raise RunInProgress(f"run id {run_id!r} is running: it cannot be forgotten now")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "DELETE FROM skillstream_results WHERE run_id = ? AND ident != ?",
                    (run_id, STATE_IDENT),
                )
                count = cursor.rowcount
                conn.execute("DELETE FROM skillstream_results WHERE run_id = ?", (run_id,))
                conn.execute("DELETE FROM skillstream_runs WHERE run_id = ?", (run_id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return count

    def close(self) -> None:
        """Commit what is queued, stop the writer thread and close the file."""
        if self._closed:
            return
        writer = self._writer
        if writer is not None:
            self._queue.put((_STOP, None))
            if writer is not threading.current_thread():
                writer.join()
        self._closed = True
        _OPEN.discard(self)
        with self._lock:
            self._conn.close()

    def __del__(self) -> None:
        # Not closed (a graph's journal, a run() never iterated): let go quietly.
        if getattr(self, "_closed", True):
            return
        self._closed = True
        if getattr(self, "_writer", None) is not None:
            self._queue.put((_STOP, None))
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _write_loop(
    path: str, synchronous: str, busy_timeout: float, jobs: queue.SimpleQueue[tuple[Any, _Done | None]]
) -> None:
    """The writer thread: takes every queued job, runs them in one transaction, commits."""
    conn = _connect(path, synchronous, busy_timeout)
    get = jobs.get
    get_nowait = jobs.get_nowait
    stop = False
    try:
        while not stop:
            batch = [get()]
            # Group commit: everything queued while the last transaction ran goes in one.
            while True:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            ops = []
            for op, _ in batch:
                if op is _STOP:
                    stop = True
                elif op is not None:
                    ops.append(op)
            error: BaseException | None = None
            if ops:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for op in ops:
                            op(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                except Exception as exc:
                    error = JournalError(f"journal {path!r}: writing failed ({exc})")
                    error.__cause__ = exc
            for _, done in batch:
                if done is not None:
                    try:
                        done(error)
                    except Exception:  # a closed loop: that run is gone anyway
                        pass
    finally:
        conn.close()


def _connect(path: str, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    except BaseException:
        conn.close()
        raise
    return conn


# Journals with a writer thread: at exit, what they queued is committed (the thread is a
# daemon so that a forgotten journal never keeps the interpreter alive).
_OPEN: weakref.WeakSet[Journal] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for journal in list(_OPEN):
        try:
            journal.close()
        except Exception:
            pass


# -- values --------------------------------------------------------------------------------

_PLAIN = (str, int, float, bool, type(None))
_ADAPTERS: weakref.WeakKeyDictionary[Any, TypeAdapter[Any] | None] = weakref.WeakKeyDictionary()


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON gives this value back as it is (so no check by decoding is needed)."""
    if type(value) in _PLAIN:
        return not (type(value) is float and value != value)  # NaN is not equal to itself
    if depth > 8:
        return False
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def _adapter(skill: Skill[Any, Any] | None) -> TypeAdapter[Any] | None:
    """A TypeAdapter for the skill's return annotation (None if it has none to use)."""
    if skill is None:
        return None
    fn = skill.fn
    try:
        return _ADAPTERS[fn]
    except (KeyError, TypeError):
        pass
    adapter: TypeAdapter[Any] | None = None
    if skill.kind != "asyncgen":  # a generator's value is the list of its items
        try:
            hint = typing.get_type_hints(fn).get("return")
            if hint is not None and hint is not Any:
                adapter = TypeAdapter(hint)
        except Exception:  # an annotation that does not resolve: plain JSON then
            adapter = None
    try:
        _ADAPTERS[fn] = adapter
    except TypeError:
        pass
    return adapter


def encode(value: Any, skill: Skill[Any, Any] | None, allow_pickle: bool) -> tuple[str, bytes]:
    """``(codec, data)`` for ``value``.

    Raises:
        JournalError: if it is neither JSON-able nor (with ``allow_pickle``) picklable.
    """
    if _plain(value):
        return "json", pydantic_core.to_json(value)
    try:
        data = pydantic_core.to_json(value, bytes_mode="base64")
    except Exception as json_exc:
        if not allow_pickle:
            raise JournalError(
                f"the journal cannot store this value: a {type(value).__name__} is not "
                f"JSON-able ({json_exc}); open the journal with Journal(path, pickle=True) "
                "to pickle such values"
            ) from json_exc
        return "pickle", _pickle(value)
    if allow_pickle:
        # JSON may give back something else (a tuple comes back a list): pickle keeps it.
        try:
            same = decode("json", data, skill) == value
        except Exception:
            same = False
        if not same:
            try:
                return "pickle", _pickle(value)
            except JournalError:
                pass
    return "json", data


def _pickle(value: Any) -> bytes:
    try:
        return pickle_module.dumps(value, protocol=pickle_module.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise JournalError(
            f"the journal cannot store this value: a {type(value).__name__} is neither "
            f"JSON-able nor picklable ({exc})"
        ) from exc


def decode(codec: str | None, data: bytes | None, skill: Skill[Any, Any] | None) -> Any:
    """The value a record holds, typed by the skill's return annotation when it has one."""
    if codec is None or data is None:
        return None
    if codec == "pickle":
        return pickle_module.loads(data)
    adapter = _adapter(skill)
    if adapter is not None:
        try:
            return adapter.validate_json(data)
        except Exception:  # the annotation does not match what it returned: as stored
            pass
    return json.loads(data)


# -- identity ------------------------------------------------------------------------------


_SCALARS = frozenset({int, str, float, bool, type(None)})


def _describe_unknown(obj: Any) -> Any:
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{obj!r}"


# -- one run's session ---------------------------------------------------------------------


class JournalSession:
    """One run's link to its store: replays what finished, holds results until written.

    Made by :meth:`JournalBinding.open` when the run starts; the engine calls
    :meth:`replay` for each call it registers, :meth:`write` for each result, and
    :meth:`close` when the run ends.
    """

    def __init__(self, binding: JournalBinding, run: Run) -> None:
        self.store = binding.store
        self.run_id = binding.run_id
        self.owned = binding.owned
        self.run = run
        self.loop = run.loop
        self.pickle = bool(getattr(self.store, "pickle", False))
        self.store.claim(self.run_id)
        try:
            self.records = {i: r for i, r in self.store.load(self.run_id).items() if r.has_value}
        except BaseException:
            self.store.release(self.run_id)
            raise
        self.replayed = 0
        self.closed = False
        # Identity of each registered call, and its node until its result is written.
        self.digests: weakref.WeakKeyDictionary[SkillCall[Any], str] = weakref.WeakKeyDictionary()
        self.occurrences: dict[str, int] = {}
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
        body = [call.skill.options.name, args, kwargs]
        if call.after:
            body.append(["after:" + self._digest(c) for c in call.after])
        data = pydantic_core.to_json(
            body, fallback=self._json_fallback, bytes_mode="base64", inf_nan_mode="strings"
        )
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
        n = self.occurrences.get(base, 0)
        self.occurrences[base] = n + 1
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
                codec, data = encode(result.value, node.call.skill, self.pickle)
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
            codec, data = encode(self.state(), None, self.pickle)
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
        self._send(final=True)
        self.store.release(self.run_id)
        if self.owned:
            self.store.close()


# -- what run() keeps ----------------------------------------------------------------------


class JournalBinding:
    """A journal and a run id, as ``run()`` validated them; opens a session per run."""

    __slots__ = ("store", "run_id", "owned")

    def __init__(self, store: JournalStore, run_id: str, owned: bool) -> None:
        self.store = store
        self.run_id = run_id
        self.owned = owned

    def open(self, run: Run) -> JournalSession:
        """Claim the run id and load its records.

        Raises:
            RunInProgress: if a live run holds the run id.
        """
        if self.owned and getattr(self.store, "_closed", False):
            # A run() stream is cold and may be iterated after an earlier run closed it.
            self.store = Journal(self.store.path, pickle=self.store.pickle)  # type: ignore[attr-defined]
        return JournalSession(self, run)


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
    """A journal given as a path opened (now, so a bad file fails at once), else as it is.

    Raises:
        TypeError: if ``journal`` is neither a path nor a :class:`JournalStore`.
        JournalError: if the file cannot be used.
    """
    if journal is None:
        return None
    if isinstance(journal, (str, os.PathLike)):
        return Journal(journal)
    if isinstance(journal, JournalStore):
        return journal
    raise TypeError(f"journal must be a path or a Journal, got {journal!r}")


def graph_binding(store: JournalStore | None, run_id: Any) -> JournalBinding | None:
    """The binding of one StateGraph invocation (the graph keeps its store open)."""
    if store is None:
        if run_id is not None:
            raise ValueError("run_id is for a journaled graph: compile(journal='runs.db')")
        return None
    if run_id is None:
        raise ValueError("a journaled graph needs a run_id: ainvoke(input, run_id='research-1')")
    _check_run_id(run_id)
    return JournalBinding(store, run_id, owned=False)


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
