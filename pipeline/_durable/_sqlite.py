"""The SQLite journal store: stdlib ``sqlite3``, WAL mode, one writer thread per journal
object, ``BEGIN IMMEDIATE`` so several processes can share the file."""

from __future__ import annotations

import atexit
import os
import queue
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._core._errors import JournalError, RunInProgress
from ._threads import CheckpointTuple, checkpoint_tuple, list_checkpoints

if TYPE_CHECKING:
    pass

from ._store import (
    _FORMAT,
    _VERSION,
    STATE_IDENT,
    JournalRecord,
    RunInfo,
    write_and_wait,
)

__all__ = ["Journal"]

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
CREATE TABLE IF NOT EXISTS skillstream_leases (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
"""
# A StateGraph's threads: made when first written, so journals made before it still open.
_CHECKPOINTS = """CREATE TABLE IF NOT EXISTS skillstream_checkpoints (
    thread_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created REAL NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (thread_id, seq)
)"""
# A graph's node cache (compile(cache=...)): made when first written, like the checkpoints.
_CACHE = """CREATE TABLE IF NOT EXISTS skillstream_cache (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL,
    expiry REAL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID"""
_TABLES = frozenset({"skillstream_meta", "skillstream_runs", "skillstream_results", "skillstream_leases"})

# Runs held by this process, by (journal file, run id): another thread or another
# Journal object on the same file sees them here (the database only knows the pid).
_HELD: set[tuple[str, str]] = set()
_HELD_LOCK = threading.Lock()
_HOST = socket.gethostname()

_Op = Callable[[sqlite3.Connection], None]
_Done = Callable[[BaseException | None], None]
_STOP: Any = object()

# This process's name as a lease owner: host, pid and a random part, so that a process
# with the pid (and host name) of a dead one (pid 1 in a restarted container) is not it.
_OWNER: tuple[int, str] = (0, "")


def _owner() -> str:
    global _OWNER
    pid = os.getpid()
    if _OWNER[0] != pid:  # first use, or a forked child
        _OWNER = (pid, f"{_HOST}:{pid}:{secrets.token_hex(6)}")
    return _OWNER[1]


def _locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _failure(path: str, doing: str, exc: sqlite3.Error, busy_timeout: float) -> JournalError:
    """A JournalError for ``exc``: a lock held too long is named as such."""
    if _locked(exc):
        error = JournalError(
            f"journal {path!r}: the database is locked by another connection (waited "
            f"{busy_timeout:g} s, the busy_timeout, while {doing}); it is usable once "
            f"that connection lets go"
        )
    else:
        error = JournalError(f"journal {path!r}: {doing} failed ({exc})")
    error.__cause__ = exc
    return error


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
            that must exist. ``":memory:"``: a journal for this process only, kept while
            the ``Journal`` object lives (in a temporary file of its own, removed with
            it): runs given the object replay what finished in earlier runs of this
            process, e.g. to resume a run with decisions on its pending calls.
        pickle: store values that are not JSON-able with ``pickle`` (only open journals
            you trust: unpickling runs code).
        synchronous: ``"normal"`` (default) survives a killed process: a committed result
            is on disk in the WAL. ``"full"`` also survives power loss or an OS crash, at
            the cost of an fsync per group commit (a few ms on a laptop SSD, more on
            network disks), which bounds throughput to a few hundred commits a second.
        busy_timeout: seconds to wait for another process's write lock.
        lease: seconds a run's claim holds without renewal. A running run renews it every
            ``lease / 3`` seconds; a run id whose owner stopped renewing (killed, or its
            host gone) is free to resume anywhere once its lease expired. The hosts that
            share the file should agree on the time to well within ``lease``.

    Raises:
        JournalError: if the directory is missing, the file is not a SQLite database, is
            corrupt, is a database but not a journal, is read-only, or stays locked by
            another connection longer than ``busy_timeout``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pickle: bool = False,
        synchronous: Literal["normal", "full"] = "normal",
        busy_timeout: float = 30.0,
        lease: float = 30.0,
    ) -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        if not lease > 0:
            raise ValueError(f"lease must be a positive number of seconds, got {lease!r}")
        self.path = os.fspath(path)
        # The database file: the path, or for ":memory:" a file of this object's own in a
        # temporary folder, removed with the object (a SQLite memory database cannot be
        # shared by the writer thread's connection and this one).
        self._file = self.path
        self._remove: Callable[[], Any] | None = None
        if self.path == ":memory:":
            folder = tempfile.mkdtemp(prefix="skillstream-journal-")
            self._file = os.path.join(folder, "journal.db")
            self._remove = weakref.finalize(self, shutil.rmtree, folder, True)
        self.pickle = pickle
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.lease = float(lease)
        """Seconds a claim holds without renewal."""
        self._lock = threading.Lock()  # guards self._conn (management calls, any thread)
        self._queue: queue.SimpleQueue[tuple[Any, _Done | None]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._conn = self._open()
        self._real = os.path.realpath(self._file)

    def __repr__(self) -> str:
        return f"Journal({self.path!r}, pickle={self.pickle}, lease={self.lease:g})"

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return _connect(self._file, self.synchronous, self.busy_timeout)

    def _open(self) -> sqlite3.Connection:
        path = self._file
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
            if _locked(exc):
                raise _failure(path, "opening it", exc, self.busy_timeout) from exc
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
            # A journal already set up is opened without the write lock (WAL: reading
            # never waits for a writer), so a busy file does not hold its opening up.
            if (
                conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal"
                and conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal"
            ):
                raise JournalError(f"journal {path!r}: cannot use WAL mode on this file system")
            if not _TABLES <= tables:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.executemany(
                        "INSERT OR IGNORE INTO skillstream_meta VALUES (?, ?)",
                        [("format", _FORMAT), ("version", _VERSION)],
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            meta = dict(conn.execute("SELECT name, value FROM skillstream_meta"))
            if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
                raise JournalError(
                    f"journal {path!r}: format {meta.get('format')!r} version "
                    f"{meta.get('version')!r}, this skillstream reads {_FORMAT!r} {_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _locked(exc):
                raise _failure(path, "opening it", exc, self.busy_timeout) from exc
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
                    args=(self._file, self.synchronous, self.busy_timeout, self._queue),
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
        """Take ``run_id`` for a run of this process, with a lease of :attr:`lease` seconds.

        Raises:
            RunInProgress: while a live run holds it: one of this process, or another
                process's whose lease has not expired (a process of this host that is gone
                frees it at once). An expired lease is taken over.
            JournalError: if the file stays locked longer than ``busy_timeout``.
        """
        # A release of this run id still queued (an earlier run of this process that just
        # ended) must not land after this claim and delete its lease.
        self._sync()
        held = (self._real, run_id)
        with _HELD_LOCK:
            if held in _HELD:
                raise RunInProgress(
                    f"run id {run_id!r} is already running in this process "
                    f"(journal {self.path!r}); wait for it to end, or use another run_id"
                )
            with self._lock:
                try:
                    self._claim(run_id)
                except sqlite3.Error as exc:
                    raise _failure(self.path, f"claiming run id {run_id!r}", exc, self.busy_timeout) from exc
            _HELD.add(held)

    def _claim(self, run_id: str) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # the check and the take: one transaction
        try:
            now = time.time()
            me, pid = _owner(), os.getpid()
            lease = conn.execute(
                "SELECT owner, host, pid, expires FROM skillstream_leases WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            if lease is not None:
                owner, host, other, expires = lease
                # Gone: its lease expired (nobody renewed it), or its process on this host
                # no longer exists (killed halfway): the run id is free to resume.
                gone = expires <= now or (host == _HOST and not _pid_alive(other))
                if owner != me and not gone:
                    where = f"process {other}" + ("" if host == _HOST else f" on {host}")
                    raise RunInProgress(
                        f"run id {run_id!r} is already running in {where} "
                        f"(journal {self.path!r}; its lease ends in {expires - now:.1f} s unless "
                        f"renewed); wait for it to end, or use another run_id"
                    )
            else:
                row = conn.execute(
                    "SELECT owner_pid, owner_host FROM skillstream_runs WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                if row is not None and row[0] is not None:
                    # Claimed without a lease (a skillstream before leases): as it judged.
                    other, host = row
                    mine = host == _HOST and other == pid
                    if not mine and (host != _HOST or _pid_alive(other)):
                        where = f"process {other}" + ("" if host == _HOST else f" on {host}")
                        raise RunInProgress(
                            f"run id {run_id!r} is already running in {where} "
                            f"(journal {self.path!r}); wait for it to end, or use another run_id"
                        )
            conn.execute(
                "INSERT INTO skillstream_runs VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET owner_pid = excluded.owner_pid, "
                "owner_host = excluded.owner_host",
                (run_id, now, now, pid, _HOST),
            )
            conn.execute(
                "INSERT OR REPLACE INTO skillstream_leases VALUES (?, ?, ?, ?, ?)",
                (run_id, me, _HOST, pid, now + self.lease),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def renew(self, run_id: str) -> None:
        """Extend this process's lease on ``run_id`` to :attr:`lease` seconds from now.

        Raises:
            RunInProgress: if the lease was lost: it expired and another process took the
                run id over (or it was released).
            JournalError: if the file stays locked longer than ``busy_timeout``.
        """
        try:
            with self._lock:
                cursor = self._conn.execute(
                    "UPDATE skillstream_leases SET expires = ? WHERE run_id = ? AND owner = ?",
                    (time.time() + self.lease, run_id, _owner()),
                )
        except sqlite3.Error as exc:
            raise _failure(self.path, f"renewing the lease of run id {run_id!r}", exc, self.busy_timeout) from exc
        if cursor.rowcount == 0:
            raise _lost(run_id, self.path, self.lease)

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        """Every record of ``run_id``, by ident."""
        self._sync()
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT ident, key, name, status, fallback_used, error_type, error_message, "
                    "attempts, codec, data FROM skillstream_results WHERE run_id = ?",
                    (run_id,),
                ).fetchall()
        except sqlite3.Error as exc:
            raise _failure(self.path, f"loading run id {run_id!r}", exc, self.busy_timeout) from exc
        return {
            r[0]: JournalRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9])
            for r in rows
        }

    def write(self, run_id: str, records: Sequence[JournalRecord], done: _Done) -> None:
        """Queue ``records`` for the writer thread; ``done`` runs on it once committed.

        A run whose lease was lost writes nothing: ``done`` gets :class:`RunInProgress`.
        """
        rows = [
            (run_id, r.ident, r.key, r.name, r.status, r.fallback_used, r.error_type,
             r.error_message, r.attempts, r.codec, r.data)
            for r in records
        ]
        now = time.time()
        me, path, lease = _owner(), self.path, self.lease

        def op(conn: sqlite3.Connection) -> BaseException | None:
            # The fence: only the lease's owner writes (one lookup per group commit).
            owner = conn.execute(
                "SELECT owner FROM skillstream_leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            if owner is None or owner[0] != me:
                return _lost(run_id, path, lease)
            conn.executemany(
                "INSERT OR REPLACE INTO skillstream_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("UPDATE skillstream_runs SET updated = ? WHERE run_id = ?", (now, run_id))
            return None

        self._submit(op, done)

    def release(self, run_id: str) -> None:
        """Give ``run_id`` back once the writes queued before it are committed."""
        held = (self._real, run_id)
        me = _owner()

        def op(conn: sqlite3.Connection) -> None:
            # Only a lease that is still this process's: one taken over stays its owner's.
            conn.execute(
                "UPDATE skillstream_runs SET owner_pid = NULL, owner_host = NULL WHERE run_id = ? "
                "AND EXISTS (SELECT 1 FROM skillstream_leases WHERE run_id = ? AND owner = ?)",
                (run_id, run_id, me),
            )
            conn.execute(
                "DELETE FROM skillstream_leases WHERE run_id = ? AND owner = ?", (run_id, me)
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
                "l.owner, l.host, l.pid, l.expires, "
                "COUNT(s.ident), COALESCE(SUM(s.status = 'success' OR s.fallback_used), 0) "
                "FROM skillstream_runs r LEFT JOIN skillstream_leases l ON l.run_id = r.run_id "
                "LEFT JOIN skillstream_results s ON s.run_id = r.run_id AND s.ident != ? "
                "GROUP BY r.run_id ORDER BY r.created, r.run_id",
                (STATE_IDENT,),
            ).fetchall()
        out = []
        now, me = time.time(), _owner()
        for run_id, created, updated, pid, host, owner, lhost, lpid, expires, calls, succeeded in rows:
            if owner is not None:
                active = expires > now and not (lhost == _HOST and not _pid_alive(lpid))
                if owner == me:
                    with _HELD_LOCK:
                        active = (self._real, run_id) in _HELD
            else:  # claimed without a lease (an older skillstream), or not claimed
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
                conn.execute("DELETE FROM skillstream_leases WHERE run_id = ?", (run_id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return count

    # -- a StateGraph's threads (checkpoints) -------------------------------------------------

    def put_checkpoint(self, thread_id: str, codec: str, data: bytes) -> None:
        """Append a checkpoint of ``thread_id`` (a StateGraph's saved state), committed
        when this returns. The table is made the first time (older journals lack it)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(_CHECKPOINTS)
            conn.execute(
                "INSERT INTO skillstream_checkpoints (thread_id, seq, created, codec, data) "
                "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM skillstream_checkpoints "
                "WHERE thread_id = ?",
                (thread_id, now, codec, data, thread_id),
            )

        write_and_wait(self._submit, op)

    def checkpoints(self, thread_id: str) -> list[tuple[str, bytes]]:
        """Every checkpoint of ``thread_id`` as ``(codec, data)``, oldest first."""
        self._sync()
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT codec, data FROM skillstream_checkpoints WHERE thread_id = ? ORDER BY seq",
                    (thread_id,),
                ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise _failure(self.path, f"loading thread {thread_id!r}", exc, self.busy_timeout) from exc
        return [(r[0], bytes(r[1])) for r in rows]

    def get_tuple(self, config: Mapping[str, Any]) -> CheckpointTuple | None:
        """The checkpoint the config names (its ``checkpoint_id``, or the thread's latest;
        ``None`` if it has none), LangGraph's ``get_tuple``: see
        :meth:`InMemorySaver.get_tuple <pipeline.InMemorySaver.get_tuple>`.

        Examples:
            >>> Journal("runs.db").get_tuple({"configurable": {"thread_id": "t1"}})
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
        first, LangGraph's ``list``: see :meth:`InMemorySaver.list <pipeline.InMemorySaver.list>`.

        Examples:
            >>> [t.metadata["step"] for t in Journal("runs.db").list({"configurable": {"thread_id": "t1"}})]
        """
        threads: list[str] = []
        if config is None:
            self._sync()
            try:
                with self._lock:
                    rows = self._conn.execute(
                        "SELECT DISTINCT thread_id FROM skillstream_checkpoints ORDER BY thread_id"
                    ).fetchall()
                threads = [r[0] for r in rows]
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise _failure(self.path, "listing threads", exc, self.busy_timeout) from exc
        return list_checkpoints(self, threads, config, filter=filter, before=before, limit=limit)

    # -- a StateGraph's node cache -------------------------------------------------------------

    def cache_get(self, keys: Sequence[tuple[str, str]], now: float) -> dict[tuple[str, str], tuple[str, bytes]]:
        """The ``(codec, data)`` of the cache entries among ``keys`` that have not expired at
        ``now``; the expired ones are deleted."""
        if not keys:
            return {}
        self._sync()
        found: dict[tuple[str, str], tuple[str, bytes]] = {}
        expired: list[tuple[str, str]] = []
        try:
            with self._lock:
                for ns, key in keys:
                    row = self._conn.execute(
                        "SELECT codec, data, expiry FROM skillstream_cache WHERE ns = ? AND key = ?",
                        (ns, key),
                    ).fetchone()
                    if row is None:
                        continue
                    if row[2] is None or now < row[2]:
                        found[(ns, key)] = (row[0], bytes(row[1]))
                    else:
                        expired.append((ns, key))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise _failure(self.path, "reading the cache", exc, self.busy_timeout) from exc
        if expired:

            def op(conn: sqlite3.Connection) -> None:
                # Only if still expired: another process may have stored it again since.
                conn.executemany(
                    "DELETE FROM skillstream_cache WHERE ns = ? AND key = ? AND expiry <= ?",
                    [(ns, key, now) for ns, key in expired],
                )

            write_and_wait(self._submit, op)
        return found

    def cache_set(self, entries: Sequence[tuple[str, str, str, bytes, float | None]]) -> None:
        """Store ``(namespace, key, codec, data, expiry)`` cache entries, committed when this
        returns. The table is made the first time."""
        if not entries:
            return
        rows = list(entries)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(_CACHE)
            conn.executemany(
                "INSERT OR REPLACE INTO skillstream_cache (ns, key, codec, data, expiry) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

        write_and_wait(self._submit, op)

    def cache_clear(self, namespaces: Sequence[str] | None = None) -> None:
        """Delete the cache entries of these namespaces (every entry by default)."""
        chosen = None if namespaces is None else list(namespaces)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(_CACHE)
            if chosen is None:
                conn.execute("DELETE FROM skillstream_cache")
            else:
                conn.executemany("DELETE FROM skillstream_cache WHERE ns = ?", [(ns,) for ns in chosen])

        write_and_wait(self._submit, op)

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
        if self._remove is not None:
            self._remove()

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
            # Each job's own outcome: an op may refuse its job alone (a lost lease).
            errors: list[BaseException | None] = [None] * len(batch)
            if any(op is not None and op is not _STOP for op, _ in batch):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for i, (op, _) in enumerate(batch):
                            if op is not None and op is not _STOP:
                                errors[i] = op(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                except Exception as exc:
                    failed = (
                        _failure(path, "writing", exc, busy_timeout)
                        if isinstance(exc, sqlite3.Error)
                        else JournalError(f"journal {path!r}: writing failed ({exc})")
                    )
                    failed.__cause__ = exc
                    errors = [failed] * len(batch)
            for (op, done), outcome in zip(batch, errors):
                if op is _STOP:
                    stop = True
                if done is not None:
                    try:
                        done(outcome)
                    except Exception:  # a closed loop: that run is gone anyway
                        pass
    finally:
        conn.close()


def _lost(run_id: str, path: str, lease: float) -> RunInProgress:
    return RunInProgress(
        f"run id {run_id!r}: this run's lease was lost (journal {path!r}): it went "
        f"{lease:g} s without renewal and another run took the run id over"
    )


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
