"""What a journal store keeps, and the protocol every store implements."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["CacheStore", "JournalRecord", "JournalStore", "RunInfo", "STATE_IDENT"]

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

    Every method but :meth:`write` and :meth:`release` may block: the session calls
    :meth:`claim` and :meth:`load` in a thread of their own when a run starts (awaited
    before the run's first call), :meth:`renew` from its lease thread, and management code
    calls the rest; none of them runs on the event loop. :meth:`write` must not block: it
    queues the records and calls ``done``, from any thread, once they are durable (with
    the exception, if writing failed); nor should :meth:`release` (called on the loop as
    the run ends: it may queue, after the writes queued before).

    Leases: a claim is a lease of :attr:`lease` seconds, held while its owner renews it.
    :meth:`claim` refuses (:class:`RunInProgress`) while another owner's lease is
    unexpired, and takes an expired one over atomically (two live owners never hold one
    run id: the check and the take are one transaction). A session renews its lease every
    ``lease / 3`` seconds from a thread; :meth:`renew` raises :class:`RunInProgress` once
    the lease was lost (taken over after it expired), and the run then ends with that
    error. So a process killed on one host leaves its run id free to resume elsewhere
    ``lease`` seconds later, and a live owner that keeps renewing is never taken over. A
    store should also refuse a write from an owner whose lease was lost (a fence).

    A store may also keep a graph's node cache (``compile(cache=store)``): that takes the
    three methods of :class:`CacheStore` besides these.

    Examples:
        >>> class RedisJournal:          # sketch: claim with SET NX PX, write with a pipeline
        ...     pickle = False
        ...     lease = 30.0
        ...     def claim(self, run_id): ...
        ...     def renew(self, run_id): ...
        ...     def load(self, run_id): ...
        ...     def write(self, run_id, records, done): ...
        ...     def release(self, run_id): ...
        ...     def runs(self): ...
        ...     def forget(self, run_id): ...
        ...     def close(self): ...
    """

    pickle: bool
    """Whether values that are not JSON-able may be pickled."""

    lease: float
    """Seconds a claim holds without renewal (30 by default); renewed every ``lease / 3``."""

    def claim(self, run_id: str) -> None:
        """Take ``run_id`` for this run, with a lease of :attr:`lease` seconds.

        Raises:
            RunInProgress: while another owner holds an unexpired lease on ``run_id`` (an
                expired one is taken over, atomically).
        """
        ...

    def renew(self, run_id: str) -> None:
        """Extend this owner's lease on ``run_id`` to :attr:`lease` seconds from now.

        Raises:
            RunInProgress: if the lease was lost (it expired and another owner took it).
        """
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


@runtime_checkable
class CacheStore(Protocol):
    """A journal store that can also keep a graph's node cache (``compile(cache=...)``):
    entries ``(namespace, key) -> (codec, data, expiry)``, values already encoded.
    :class:`Journal` is one; a store without these methods keeps no cache.

    Expiry is in seconds since the epoch (``None``: never); the caller gives ``now``, so
    the hosts that share a store should agree on the time.
    """

    def cache_get(self, keys: Sequence[tuple[str, str]], now: float) -> dict[tuple[str, str], tuple[str, bytes]]:
        """``(codec, data)`` of those entries that exist and have not expired at ``now``;
        expired ones among ``keys`` are deleted."""
        ...

    def cache_set(self, entries: Sequence[tuple[str, str, str, bytes, float | None]]) -> None:
        """Store ``(namespace, key, codec, data, expiry)`` entries (replacing any with the
        same namespace and key), committed when this returns."""
        ...

    def cache_clear(self, namespaces: Sequence[str] | None = None) -> None:
        """Delete the entries of these namespaces (every entry by default)."""
        ...


def write_and_wait(
    submit: Callable[[Any, Callable[[BaseException | None], None]], None], op: Any
) -> None:
    """Hand ``op`` to a store's writer thread with ``submit`` and return once it is
    committed (raising what it raised): for the writes a caller must see done, such as a
    graph thread's checkpoint."""
    outcome: list[BaseException | None] = []
    written = threading.Event()

    def done(error: BaseException | None) -> None:
        outcome.append(error)
        written.set()

    submit(op, done)
    written.wait()
    if outcome[0] is not None:
        raise outcome[0]
