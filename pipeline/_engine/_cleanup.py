"""Work a run gave up on: cancelled tasks and jobs that have not ended yet.

The loop holds tasks weakly, so a pending task that nobody references is garbage collected
and logs "Task was destroyed but it is pending". Everything a run cancels therefore stays
referenced here until it ends. Closing a run waits for the work that *can* stop (tasks,
process jobs) at most a grace period; work that cannot be interrupted (a thread) is never
waited for at close, only kept referenced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["CANCEL_GRACE", "Abandoned", "keep_until_done", "retrieve_when_done"]

CANCEL_GRACE = 1.0
"""Default seconds closing a run waits for its cancelled calls to end (``run(...,
cancel_grace=...)`` sets it per run). A call still running after that ignored its
cancellation: the run stops waiting for it, logs a warning naming it, and leaves it
running, still referenced until it ends. Work its executor ends for sure within a bound (a
Ray task, whose worker is killed if it ignores its interrupt) is waited for up to that
bound when it is longer."""

_log = logging.getLogger("skillstream")

# Every future given up on by any run, until it ends (see the module docstring).
_ALIVE: set[asyncio.Future[Any]] = set()


def _reap(future: asyncio.Future[Any]) -> None:
    _ALIVE.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved, so a late failure is not logged as never retrieved


def keep_until_done(future: asyncio.Future[Any]) -> None:
    """Reference ``future`` until it ends, and retrieve its outcome then."""
    if future.done():
        _reap(future)
    elif future not in _ALIVE:
        _ALIVE.add(future)
        future.add_done_callback(_reap)


def retrieve_when_done(future: asyncio.Future[Any]) -> None:
    """Retrieve ``future``'s outcome when it ends, so a late failure is not logged as
    never retrieved. For work the loop does not own (a thread's future is referenced by
    its job until the body returns, and may never resolve if the loop closes first)."""
    future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def alive() -> int:
    """How many given-up futures have not ended yet (tests, soak)."""
    return len(_ALIVE)


class Abandoned:
    """One run's cancelled work that has not ended: what closing the run waits for."""

    __slots__ = ("futures", "grace", "longer", "quiet_by", "warned")

    def __init__(self, grace: float) -> None:
        # future -> what it ran (a call, or "the source"); a call's repr is taken only for
        # the warning, as its arguments may be large.
        self.futures: dict[asyncio.Future[Any], object] = {}
        self.grace = grace
        # future -> (seconds, loop time): work whose executor ends it for sure within
        # ``seconds`` of the cancel (a Ray task, killed if it ignores its interrupt) is
        # waited for until then, even past the grace.
        self.longer: dict[asyncio.Future[Any], tuple[float, float]] = {}
        self.quiet_by: float | None = None
        self.warned = False

    def add(self, future: asyncio.Future[Any], label: object, stops_within: float | None = None) -> None:
        """Wait for ``future`` at close (it was asked to stop and will end soon): at most
        the grace, or ``stops_within`` seconds from now if that is later (the executor
        ends the work for sure by then: a Ray task's worker is killed)."""
        keep_until_done(future)
        if not future.done():
            self.futures[future] = label
            if stops_within is not None and stops_within > self.grace:
                self.longer[future] = (stops_within, future.get_loop().time() + stops_within)
            future.add_done_callback(self._forget)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self.futures.pop(future, None)
        self.longer.pop(future, None)

    async def wait(
        self,
        loop: asyncio.AbstractEventLoop,
        extra: asyncio.Future[Any] | None,
        helpers: Callable[[], Iterable[asyncio.Future[Any]]] | None = None,
    ) -> None:
        """Wait until every abandoned future (and ``extra``, and what ``helpers()``
        returns: the run's own tasks that end once their work has) has ended, or until
        ``grace`` seconds after the first call, whichever comes first; then warn once,
        naming the abandoned work (a helper only waits for it)."""
        if self.quiet_by is None:
            self.quiet_by = loop.time() + self.grace
        while True:
            pending = [f for f in self.futures if not f.done()]
            if extra is not None and not extra.done() and extra not in self.futures:
                pending.append(extra)
            named = len(pending)
            if helpers is not None:
                pending.extend(helpers())
            if not pending:
                return
            now = loop.time()
            left = self.quiet_by - now
            if left <= 0:
                # Past the grace: work its executor is sure to end soon is waited for
                # until its own bound.
                bounds = [self.longer[f][1] for f in pending[:named] if f in self.longer]
                later = [b for b in bounds if b > now]
                if later:
                    await asyncio.wait(
                        [f for f in pending[:named] if self.longer.get(f, (0.0, now))[1] > now],
                        timeout=min(later) - now,
                    )
                    continue
                if named < len(pending):
                    # Past the grace (or with none): a helper that ends within a turn of
                    # the loop (a parked worker woken at close) still gets that turn.
                    await asyncio.sleep(0)
                pending = [f for f in pending[:named] if not f.done()]
                if pending and not self.warned:
                    self.warned = True
                    one = len(pending) == 1
                    waited = max([self.grace, *(self.longer[f][0] for f in pending if f in self.longer)])
                    _log.warning(
                        "%d call%s ignored %s cancellation for %g s; the run no longer waits "
                        "for %s: %s",
                        len(pending),
                        "" if one else "s",
                        "its" if one else "their",
                        waited,
                        "it" if one else "them",
                        ", ".join(sorted(_label(self.futures.get(f, "the source")) for f in pending)),
                    )
                return
            await asyncio.wait(pending, timeout=left)


def _label(what: object) -> str:
    return what if isinstance(what, str) else repr(what)
