"""The PostgreSQL journal store: psycopg 3 (the ``postgres`` extra), one writer thread per
journal object that commits results in groups, run ids held by leases.

``run(calls, journal="postgresql://user@host/db", run_id=...)`` opens one (also
``postgres://``). Several processes, on several hosts, may share the database.

Claims are leases, kept on the database's clock: a run id is held by one owner (a journal
object: a random token) until ``lease_until``. :meth:`PostgresJournal.claim` takes a free
or expired run id in one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` (the row lock makes
two claimers take turns, so never two owners); the writer thread renews the leases it
holds every ``lease / 3`` seconds, and every write checks, in its transaction and before
it writes, that this owner still holds the run id (*fencing*): an owner that stalled past
its lease and was taken over writes nothing more, its writes fail with
:class:`RunInProgress`. A process killed with a run id held gives it back when its lease
expires (30 s by default).
"""

from __future__ import annotations

import atexit
import importlib
import os
import queue
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .._core._errors import JournalError, RunInProgress
from ._store import (
    _FORMAT,
    _VERSION,
    STATE_IDENT,
    JournalRecord,
    RunInfo,
    write_and_wait,
)

# psycopg is the postgres extra: never imported at module level, not even for typing (the
# library type-checks without it), so its objects are Any here.

__all__ = ["PostgresJournal", "is_postgres_url"]

_SCHEMES = ("postgresql://", "postgres://")

# Taken (per transaction) while the tables are created: two processes opening a new
# database at once would otherwise race in CREATE TABLE IF NOT EXISTS.
_SCHEMA_LOCK = 0x736B696C6C  # "skill"

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS skillstream_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS skillstream_runs (
        run_id TEXT PRIMARY KEY,
        created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        owner TEXT,
        owner_pid INTEGER,
        owner_host TEXT,
        lease_until DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS skillstream_results (
        run_id TEXT NOT NULL,
        ident BYTEA NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        fallback_used BOOLEAN NOT NULL,
        error_type TEXT,
        error_message TEXT,
        attempts INTEGER NOT NULL,
        codec TEXT,
        data BYTEA,
        PRIMARY KEY (run_id, ident)
    )""",
]

# A StateGraph's threads: made when first used, so databases made before it still open.
_CHECKPOINTS = """CREATE TABLE IF NOT EXISTS skillstream_checkpoints (
    thread_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    codec TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (thread_id, seq)
)"""

# A graph's node cache (compile(cache=...)): made when first used, like the checkpoints.
_CACHE = """CREATE TABLE IF NOT EXISTS skillstream_cache (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    codec TEXT NOT NULL,
    data BYTEA NOT NULL,
    expiry DOUBLE PRECISION,
    PRIMARY KEY (ns, key)
)"""

# The database's clock, in seconds since the epoch (leases never compare two hosts' clocks).
_NOW = "extract(epoch from clock_timestamp())::double precision"

_UPSERT = (
    "INSERT INTO skillstream_results VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (run_id, ident) DO UPDATE SET key = excluded.key, name = excluded.name, "
    "status = excluded.status, fallback_used = excluded.fallback_used, "
    "error_type = excluded.error_type, error_message = excluded.error_message, "
    "attempts = excluded.attempts, codec = excluded.codec, data = excluded.data"
)

_HOST = socket.gethostname()


# PostgreSQL's text cannot hold NUL. An ident is kept as its UTF-8 bytes (exact: the state's
# ident starts with NUL, and a key may hold any character); in the other text columns a NUL
# becomes U+FFFD (they are read back as information, never matched).
def _ident(ident: str) -> bytes:
    return ident.encode("utf-8", "surrogatepass")


def _text(value: str | None) -> str | None:
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "\ufffd")
_Done = Callable[[BaseException | None], None]
_STOP: Any = object()


def is_postgres_url(journal: Any) -> bool:
    """Whether ``run(journal=...)`` was given a PostgreSQL URL."""
    return isinstance(journal, str) and journal.startswith(_SCHEMES)


def _psycopg() -> Any:
    try:
        # By name: mypy checks the library the same with or without the extra installed.
        psycopg = importlib.import_module("psycopg")
    except ImportError as exc:
        raise ImportError(
            "a PostgreSQL journal needs psycopg 3: pip install 'skillstream[postgres]'"
        ) from exc
    return psycopg


def _redact(url: str) -> str:
    """The URL without its password (for messages and repr)."""
    return re.sub(r"^([a-z]+://[^:/@]*:)[^@]*@", r"\1***@", url)


class _Shared:
    """What the writer thread needs (not the journal: an unclosed journal can be collected)."""

    __slots__ = ("url", "name", "owner", "lease", "held", "lock")

    def __init__(self, url: str, name: str, owner: str, lease: float) -> None:
        self.url = url
        self.name = name
        self.owner = owner
        self.lease = lease
        self.held: set[str] = set()  # run ids this journal object holds
        self.lock = threading.Lock()


class _LeaseLost(Exception):
    pass


class PostgresJournal:
    """A journal in a PostgreSQL database (``run(journal="postgresql://...")`` opens one).

    Opening connects and creates the tables if missing (``skillstream_meta``,
    ``skillstream_runs``, ``skillstream_results``), so a bad URL fails before any call runs.

    Args:
        url: a ``postgresql://`` (or ``postgres://``) URL, as libpq reads it.
        pickle: store values that are not JSON-able with ``pickle`` (trusted databases only).
        lease: seconds a claim lasts unless renewed (the writer thread renews it every
            ``lease / 3`` s while the run id is held); a killed owner's run id is free
            after it.

    Raises:
        ImportError: if psycopg is missing (``pip install 'skillstream[postgres]'``).
        JournalError: if the database cannot be reached, or holds a journal of another
            format.
    """

    def __init__(self, url: str, *, pickle: bool = False, lease: float = 30.0) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"not a PostgreSQL URL (postgresql://...): {_redact(str(url))!r}")
        if not lease > 0:
            raise ValueError(f"lease must be positive seconds, got {lease!r}")
        self._psycopg = _psycopg()
        self.path = url  # the name Journal uses: a run() reopens an owned store by it
        self.pickle = pickle
        self.lease = float(lease)
        self._name = _redact(url)
        self._shared = _Shared(url, self._name, uuid.uuid4().hex, self.lease)
        self._lock = threading.Lock()  # guards self._conn (management calls, any thread)
        self._checkpoints_ready = False
        self._cache_ready = False
        self._queue: queue.SimpleQueue[tuple[Any, _Done | None]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._conn: Any = self._open()

    def __repr__(self) -> str:
        return f"PostgresJournal({self._name!r}, pickle={self.pickle}, lease={self.lease})"

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> Any:
        name = self._name
        try:
            conn = _connect(self._psycopg, self.path)
        except self._psycopg.Error as exc:
            raise JournalError(f"journal {name!r}: cannot connect to PostgreSQL ({exc})") from exc
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _SCHEMA:
                    conn.execute(statement)
                meta = dict(conn.execute("SELECT name, value FROM skillstream_meta").fetchall())
                if not meta:
                    conn.execute(
                        "INSERT INTO skillstream_meta VALUES (%s, %s), (%s, %s) ON CONFLICT DO NOTHING",
                        ("format", _FORMAT, "version", _VERSION),
                    )
                elif meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
                    raise JournalError(
                        f"journal {name!r}: format {meta.get('format')!r} version "
                        f"{meta.get('version')!r}, this skillstream reads {_FORMAT!r} {_VERSION}"
                    )
        except self._psycopg.Error as exc:
            conn.close()
            raise JournalError(f"journal {name!r}: not a usable database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    # -- the writer --------------------------------------------------------------------------

    def _start_writer(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self._name!r} is closed")
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=_write_loop,
                    args=(self._psycopg, self._shared, self._queue),
                    name=f"skillstream-journal {self._name}",
                    daemon=True,
                )
                self._writer.start()
                _OPEN.add(self)

    def _submit(self, op: Any, done: _Done | None) -> None:
        self._start_writer()
        self._queue.put((op, done))

    def _sync(self) -> None:
        """Wait until every write queued so far is committed."""
        if self._writer is None or self._closed:
            return
        flushed = threading.Event()
        self._submit(None, lambda _: flushed.set())
        flushed.wait()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        psycopg = self._psycopg
        with self._lock:
            try:
                try:
                    rows: list[tuple[Any, ...]] = self._conn.execute(sql, params).fetchall()
                    return rows
                except psycopg.OperationalError:
                    if not self._conn.broken:
                        raise
                    # A dropped connection (a server restart): reconnect once.
                    self._reconnect()
                    rows = self._conn.execute(sql, params).fetchall()
                    return rows
            except psycopg.Error as exc:
                raise JournalError(f"journal {self._name!r}: {exc}") from exc

    def _reconnect(self) -> None:
        try:
            self._conn.close()
        except Exception:
            pass
        try:
            self._conn = _connect(self._psycopg, self.path)
        except self._psycopg.Error as exc:
            raise JournalError(f"journal {self._name!r}: cannot connect to PostgreSQL ({exc})") from exc

    # -- the JournalStore protocol -----------------------------------------------------------

    def claim(self, run_id: str) -> None:
        """Take ``run_id``: free, released, or its lease expired.

        Raises:
            RunInProgress: if another owner's lease on it has not expired, or this journal
                object holds it already.
        """
        shared = self._shared
        with shared.lock:
            if run_id in shared.held:
                raise RunInProgress(
                    f"run id {run_id!r} is already running in this process "
                    f"(journal {self._name!r}); wait for it to end, or use another run_id"
                )
        self._sync()  # a release of it still queued must not undo this claim
        rows = self._query(
            f"INSERT INTO skillstream_runs AS r VALUES (%s, {_NOW}, {_NOW}, %s, %s, %s, {_NOW} + %s) "
            "ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, "
            "owner_pid = excluded.owner_pid, owner_host = excluded.owner_host, "
            "lease_until = excluded.lease_until "
            "WHERE r.owner IS NULL OR r.owner = excluded.owner OR r.lease_until < excluded.created "
            "RETURNING run_id",
            (run_id, shared.owner, os.getpid(), _HOST, self.lease),
        )
        if not rows:
            holder = self._query(
                f"SELECT owner_pid, owner_host, lease_until - {_NOW} FROM skillstream_runs "
                "WHERE run_id = %s",
                (run_id,),
            )
            pid, host, left = holder[0] if holder else (None, None, 0.0)
            where = f"process {pid}" + ("" if host == _HOST else f" on {host}")
            raise RunInProgress(
                f"run id {run_id!r} is already running in {where} (journal {self._name!r}, "
                f"its lease ends in {max(left or 0.0, 0.0):.1f} s unless renewed); "
                "wait for it to end, or use another run_id"
            )
        with shared.lock:
            shared.held.add(run_id)
        self._start_writer()  # it renews the lease

    def renew(self, run_id: str) -> None:
        """Extend this owner's lease on ``run_id`` by :attr:`lease` seconds from now.

        Raises:
            RunInProgress: if the lease was lost (another owner took the run id over).
        """
        rows = self._query(
            f"UPDATE skillstream_runs SET lease_until = {_NOW} + %s "
            "WHERE run_id = %s AND owner = %s RETURNING run_id",
            (self.lease, run_id, self._shared.owner),
        )
        if not rows:
            with self._shared.lock:
                self._shared.held.discard(run_id)
            raise RunInProgress(
                f"run id {run_id!r}: this run's lease was lost (journal {self._name!r}); "
                "another run has taken the run id over"
            )

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        """Every record of ``run_id``, by ident (after this object's queued writes)."""
        self._sync()
        rows = self._query(
            "SELECT ident, key, name, status, fallback_used, error_type, error_message, "
            "attempts, codec, data FROM skillstream_results WHERE run_id = %s",
            (run_id,),
        )
        return {
            bytes(r[0]).decode("utf-8", "surrogatepass"): JournalRecord(
                bytes(r[0]).decode("utf-8", "surrogatepass"), r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8],
                None if r[9] is None else bytes(r[9]),
            )
            for r in rows
        }

    def write(self, run_id: str, records: Sequence[JournalRecord], done: _Done) -> None:
        """Queue ``records`` for the writer thread; ``done`` runs on it once committed (with
        :class:`RunInProgress` if this owner lost ``run_id``: then nothing was written)."""
        rows = [
            (run_id, _ident(r.ident), _text(r.key), _text(r.name), r.status, r.fallback_used,
             _text(r.error_type), _text(r.error_message), r.attempts, r.codec, r.data)
            for r in records
        ]
        owner, lease = self._shared.owner, self.lease

        def op(conn: Any) -> None:
            # Fencing: the run row stays locked until commit, so no one takes it over between.
            fenced = conn.execute(
                f"UPDATE skillstream_runs SET updated = {_NOW}, lease_until = {_NOW} + %s "
                "WHERE run_id = %s AND owner = %s RETURNING run_id",
                (lease, run_id, owner),
            ).fetchone()
            if fenced is None:
                raise _LeaseLost(run_id)
            with conn.cursor() as cursor:
                cursor.executemany(_UPSERT, rows)

        self._submit(op, done)

    def release(self, run_id: str) -> None:
        """Give ``run_id`` back once the writes queued before it are committed."""
        owner = self._shared.owner
        with self._shared.lock:
            self._shared.held.discard(run_id)

        def op(conn: Any) -> None:
            conn.execute(
                "UPDATE skillstream_runs SET owner = NULL, owner_pid = NULL, owner_host = NULL, "
                "lease_until = NULL WHERE run_id = %s AND owner = %s",
                (run_id, owner),
            )

        if self._closed:
            return
        try:
            self._submit(op, None)
        except JournalError:
            pass

    def runs(self) -> list[RunInfo]:
        """Every run id with its counts, oldest first (``active``: its lease is live)."""
        self._sync()
        rows = self._query(
            f"SELECT r.run_id, r.created, r.updated, r.owner IS NOT NULL AND r.lease_until > {_NOW}, "
            "COUNT(s.ident), "
            "COALESCE(SUM(CASE WHEN s.status = 'success' OR s.fallback_used THEN 1 ELSE 0 END), 0) "
            "FROM skillstream_runs r LEFT JOIN skillstream_results s "
            "ON s.run_id = r.run_id AND s.ident <> %s "
            "GROUP BY r.run_id ORDER BY r.created, r.run_id",
            (_ident(STATE_IDENT),),
        )
        return [
            RunInfo(run_id, float(created), float(updated), int(calls), int(succeeded), bool(active))
            for run_id, created, updated, active, calls, succeeded in rows
        ]

    def forget(self, run_id: str) -> int:
        """Delete every record of ``run_id``; returns how many results were deleted.

        Raises:
            RunInProgress: if a live lease holds ``run_id``.
        """
        self._sync()
        with self._lock:
            try:
                return self._forget(run_id)
            except self._psycopg.Error as exc:
                raise JournalError(f"journal {self._name!r}: {exc}") from exc

    def _forget(self, run_id: str) -> int:
        conn = self._conn
        if conn.broken:
            self._reconnect()
            conn = self._conn
        with conn.transaction():
            row = conn.execute(
                f"SELECT owner IS NOT NULL AND lease_until > {_NOW} FROM skillstream_runs "
                "WHERE run_id = %s FOR UPDATE",
                (run_id,),
            ).fetchone()
            if row is not None and row[0]:
                raise RunInProgress(f"run id {run_id!r} is running: it cannot be forgotten now")
            cursor = conn.execute(
                "DELETE FROM skillstream_results WHERE run_id = %s AND ident <> %s",
                (run_id, _ident(STATE_IDENT)),
            )
            count = int(cursor.rowcount)
            conn.execute("DELETE FROM skillstream_results WHERE run_id = %s", (run_id,))
            conn.execute("DELETE FROM skillstream_runs WHERE run_id = %s", (run_id,))
        return count

    # -- a StateGraph's threads (checkpoints) -------------------------------------------------

    def put_checkpoint(self, thread_id: str, codec: str, data: bytes) -> None:
        """Append a checkpoint of ``thread_id`` (a StateGraph's saved state), committed
        when this returns."""
        self._ensure_checkpoints()

        def op(conn: Any) -> None:
            conn.execute(
                "INSERT INTO skillstream_checkpoints (thread_id, seq, created, codec, data) "
                f"SELECT %s, COALESCE(MAX(seq), 0) + 1, {_NOW}, %s, %s FROM skillstream_checkpoints "
                "WHERE thread_id = %s",
                (thread_id, codec, data, thread_id),
            )

        write_and_wait(self._submit, op)

    def checkpoints(self, thread_id: str) -> list[tuple[str, bytes]]:
        """Every checkpoint of ``thread_id`` as ``(codec, data)``, oldest first."""
        self._ensure_checkpoints()
        self._sync()
        rows = self._query(
            "SELECT codec, data FROM skillstream_checkpoints WHERE thread_id = %s ORDER BY seq",
            (thread_id,),
        )
        return [(r[0], bytes(r[1])) for r in rows]

    def _ensure_checkpoints(self) -> None:
        # Made when first used (additive: databases made before it still open).
        if self._checkpoints_ready:
            return
        self._ensure(_CHECKPOINTS)
        self._checkpoints_ready = True

    def _ensure(self, table: str) -> None:
        with self._lock:
            try:
                with self._conn.transaction():
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    self._conn.execute(table)
            except self._psycopg.Error as exc:
                raise JournalError(f"journal {self._name!r}: {exc}") from exc

    # -- a StateGraph's node cache -------------------------------------------------------------

    def _ensure_cache(self) -> None:
        if not self._cache_ready:
            self._ensure(_CACHE)
            self._cache_ready = True

    def cache_get(self, keys: Sequence[tuple[str, str]], now: float) -> dict[tuple[str, str], tuple[str, bytes]]:
        """The ``(codec, data)`` of the cache entries among ``keys`` that have not expired at
        ``now``; the expired ones are deleted."""
        if not keys:
            return {}
        self._ensure_cache()
        self._sync()
        found: dict[tuple[str, str], tuple[str, bytes]] = {}
        expired: list[tuple[str, str, float]] = []
        for ns, key in keys:
            for codec, data, expiry in self._query(
                "SELECT codec, data, expiry FROM skillstream_cache WHERE ns = %s AND key = %s", (ns, key)
            ):
                if expiry is None or now < expiry:
                    found[(ns, key)] = (codec, bytes(data))
                else:
                    expired.append((ns, key, now))
        if expired:

            def op(conn: Any) -> None:
                # Only if still expired: another process may have stored it again since.
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "DELETE FROM skillstream_cache WHERE ns = %s AND key = %s AND expiry <= %s", expired
                    )

            write_and_wait(self._submit, op)
        return found

    def cache_set(self, entries: Sequence[tuple[str, str, str, bytes, float | None]]) -> None:
        """Store ``(namespace, key, codec, data, expiry)`` cache entries, committed when this
        returns."""
        if not entries:
            return
        self._ensure_cache()
        rows = list(entries)

        def op(conn: Any) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO skillstream_cache (ns, key, codec, data, expiry) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (ns, key) DO UPDATE SET codec = excluded.codec, data = excluded.data, "
                    "expiry = excluded.expiry",
                    rows,
                )

        write_and_wait(self._submit, op)

    def cache_clear(self, namespaces: Sequence[str] | None = None) -> None:
        """Delete the cache entries of these namespaces (every entry by default)."""
        self._ensure_cache()
        chosen = None if namespaces is None else list(namespaces)

        def op(conn: Any) -> None:
            if chosen is None:
                conn.execute("DELETE FROM skillstream_cache")
            else:
                conn.execute("DELETE FROM skillstream_cache WHERE ns = ANY(%s)", (chosen,))

        write_and_wait(self._submit, op)

    def close(self) -> None:
        """Commit what is queued, stop the writer thread and disconnect."""
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

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _connect(psycopg: Any, url: str) -> Any:
    return psycopg.connect(url, autocommit=True, application_name="skillstream-journal")


def _write_loop(psycopg: Any, shared: _Shared, jobs: queue.SimpleQueue[tuple[Any, _Done | None]]) -> None:
    """The writer thread: takes every queued job, runs them in one transaction, commits;
    between batches (and at least every ``lease / 3`` s) renews the leases it holds."""
    conn: Any = None
    interval = shared.lease / 3
    next_renewal = time.monotonic() + interval
    stop = False
    try:
        while not stop:
            try:
                batch = [jobs.get(timeout=max(next_renewal - time.monotonic(), 0.0))]
            except queue.Empty:
                batch = []
            # Group commit: everything queued while the last transaction ran goes in one.
            while True:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            errors: list[BaseException | None] = [None] * len(batch)
            ops = []
            for n, (op, _) in enumerate(batch):
                if op is _STOP:
                    stop = True
                elif op is not None:
                    ops.append((n, op))
            if ops:
                try:
                    if conn is None or conn.closed:
                        conn = _connect(psycopg, shared.url)
                    with conn.transaction():
                        for n, op in ops:
                            try:
                                op(conn)
                            except _LeaseLost as lost:
                                # Nothing of it was written; the other jobs commit.
                                errors[n] = RunInProgress(
                                    f"run id {lost.args[0]!r}: this run's lease was lost "
                                    f"(journal {shared.name!r}); another run has taken the "
                                    "run id over, so its results were not written"
                                )
                except Exception as exc:
                    failed = JournalError(f"journal {shared.name!r}: writing failed ({exc})")
                    failed.__cause__ = exc
                    errors = [e if isinstance(e, RunInProgress) else failed for e in errors]
                    if conn is not None and conn.broken:
                        conn.close()
                        conn = None  # reconnected for the next batch
            if time.monotonic() >= next_renewal and not stop:
                conn = _renew(psycopg, conn, shared)
                next_renewal = time.monotonic() + interval
            for (_, done), error in zip(batch, errors):
                if done is not None:
                    try:
                        done(error)
                    except Exception:  # a closed loop: that run is gone anyway
                        pass
    finally:
        if conn is not None:
            conn.close()


def _renew(psycopg: Any, conn: Any, shared: _Shared) -> Any:
    """Extend every lease this journal object holds; forget those it lost."""
    with shared.lock:
        held = list(shared.held)
    if not held:
        return conn
    try:
        if conn is None or conn.closed:
            conn = _connect(psycopg, shared.url)
        kept = {
            row[0]
            for row in conn.execute(
                f"UPDATE skillstream_runs SET lease_until = {_NOW} + %s "
                "WHERE run_id = ANY(%s) AND owner = %s RETURNING run_id",
                (shared.lease, held, shared.owner),
            ).fetchall()
        }
    except Exception:  # unreachable for now: the next batch or renewal tries again
        if conn is not None and conn.broken:
            conn.close()
            conn = None
        return conn
    with shared.lock:
        shared.held.difference_update(set(held) - kept)  # lost: writes to it are fenced
    return conn


# Journals with a writer thread: at exit, what they queued is committed.
_OPEN: weakref.WeakSet[PostgresJournal] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for journal in list(_OPEN):
        try:
            journal.close()
        except Exception:
            pass
