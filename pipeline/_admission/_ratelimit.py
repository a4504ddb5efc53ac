"""Rate limits: a property of the API a skill calls, enforced across every run in the process.

A ``RateLimit`` is a frozen value given to ``@skill(rate_limit=...)``. Skills whose
limits share a ``key`` share one :class:`Limiter` (one token bucket and one optional
concurrency limit) for as long as the process lives; a limit without a key is its skill's
own. Before each attempt, a call asks its limiter for a permit (a concurrency slot if the
limit has one, then a token) and waits in the ``PERMIT`` phase until it has one.

The bucket is GCRA (the "virtual scheduling" form of a token bucket): each permit reserves
the next time the rate allows, so waiters are served in order, no timer runs while nobody
waits, and the bucket's clock is the asking loop's (virtual time in tests, real time
otherwise; every asyncio loop's clock is ``time.monotonic`` by default).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core._errors import RetryAfter, SkillTimeout, http_status, retry_after_of
from .._core._policies import RateLimit
from ._keyed import Keyed

if TYPE_CHECKING:
    from .._core._skill import Skill

__all__ = ["Limiter", "Permit", "limiter_for", "overloaded"]

#: Permits go this much wider apart than the rate says. A server that checks the spacing
#: of arrivals (nginx's ``limit_req`` without a burst: each request at least ``1/rate``
#: after the last one it accepted, on its millisecond clock) rejects a request that network
#: and event-loop jitter brought a little early; this much slack absorbs that jitter.
MARGIN = 0.1
#: How much of a late grant the next one may make up, as a fraction of the interval (a
#: loop that is a little late each time must not slow the rate down, but making up more
#: than the margin would bring two requests closer than the server's rate).
CATCH_UP = 0.02
#: Adaptive rate (AIMD). On push-back the rate is multiplied by DECREASE; by the deeper
#: DECREASE_SOON when this push-back and the one before both came soon after the decrease
#: before them (after fewer successes than a quarter of the rate's ``per``'s worth): a rate
#: far too high converges fast, while an isolated 429 (network jitter at a server that
#: checks every arrival's spacing) only nudges it. After each success the rate grows
#: by PROBE of the configured rate per its current rate's worth of successes (PROBE *
#: rate per ``per`` seconds), never beyond the configured rate.
DECREASE = 0.97
DECREASE_SOON = 0.85
PROBE = 0.005


class Permit:
    """One attempt's place at a limiter: waiting, then granted, then released (its
    :class:`~pipeline._admission._gate.Gate`)."""

    __slots__ = ("limiter", "loop", "on_grant", "granted", "slot", "done", "epoch")

    def __init__(self, limiter: Limiter, loop: asyncio.AbstractEventLoop, on_grant: Callable[[], None]) -> None:
        self.limiter = limiter
        self.loop = loop
        self.on_grant = on_grant
        self.granted = False
        self.slot = False  # holds one of the limiter's concurrency slots
        self.done = False
        self.epoch = 0  # the limiter's rate epoch when this permit was granted

    def release(self, failure: BaseException | None = None) -> None:
        """The attempt ended (``failure``: how, if it failed): free the slot, feed AIMD."""
        if self.done:
            return
        self.done = True
        self.limiter._release(self, failure)

    def cancel(self) -> None:
        """Withdraw: the call ended before or while it held this permit."""
        if self.done:
            return
        self.done = True
        self.limiter._withdraw(self)

    # -- the Gate protocol -----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.granted

    def succeeded(self) -> None:
        self.release()

    def failed(self, exc: BaseException, now: float) -> None:
        self.release(exc)
        retry_after = retry_after_of(exc)
        if retry_after is not None:
            # The API said when: every call to it waits that long, not only this one.
            self.limiter.pause(retry_after, self.loop)

    withdrawn = cancel

    def outlived_by(self, work: asyncio.Future[Any]) -> bool:
        # An abandoned thread still calls the API: it keeps its concurrency slot until
        # it returns, and counts as timed out for the adaptive limit.
        work.add_done_callback(lambda _: self.release(SkillTimeout("abandoned")))
        return True


class Limiter:
    """One key's token bucket and concurrency limit (see :class:`RateLimit`).

    Waiters queue in order, first for a concurrency slot, then for a token; only the
    first waiter for a token has a timer. A waiter that leaves (its call timed out, hit
    the deadline, or its run was left) takes nothing with it: nobody reserved time for it.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.fastest = limit.interval * (1 + MARGIN)  # the configured rate, with the margin
        self.interval = self.fastest  # moves under AIMD when adaptive
        self.slowest = self.fastest * 100  # an adaptive rate never drops below 1% of the limit
        self.epoch = 0  # rate decreases so far
        self.good = 0  # successes granted since the last decrease
        self.quick = 0  # decreases in a row that came soon after the one before
        self.tolerance = (limit.burst - 1) * self.interval
        self.tat = -math.inf  # GCRA's theoretical arrival time of the next token
        self.paused_until = -math.inf
        self.cap = limit.max_concurrency
        self.current_limit = limit.max_concurrency  # moves under AIMD
        self.active = 0
        self.successes = 0
        self.slots: deque[Permit] = deque()  # waiting for a concurrency slot
        self.tokens: deque[Permit] = deque()  # waiting for a token
        self.timer: asyncio.TimerHandle | None = None

    # -- asking ------------------------------------------------------------------------------

    def enter(self, loop: asyncio.AbstractEventLoop, now: float, wake: Callable[[], None]) -> Permit:
        """The admission protocol's name for :meth:`request`."""
        return self.request(loop, wake)

    def request(self, loop: asyncio.AbstractEventLoop, on_grant: Callable[[], None]) -> Permit:
        """A permit for one attempt. If it is ``granted`` at once, ``on_grant`` is not
        called; else it is called (on ``loop``) when the permit is granted."""
        permit = Permit(self, loop, on_grant)
        if self.current_limit is not None:
            if self.active >= self.current_limit or self.slots:
                self.slots.append(permit)
                return permit
            self.active += 1
            permit.slot = True
        self._want_token(permit, at_once=True)
        return permit

    def _start(self, loop: asyncio.AbstractEventLoop) -> tuple[float, float]:
        """(now, the earliest time the next token may go) on ``loop``'s clock."""
        now = loop.time()
        return now, max(now, self.tat - self.tolerance, self.paused_until)

    def _want_token(self, permit: Permit, at_once: bool = False) -> None:
        if not self.tokens:
            now, start = self._start(permit.loop)
            if start <= now:
                self.tat = max(self.tat, start) + self.interval
                permit.granted = True
                permit.epoch = self.epoch
                if not at_once:
                    permit.on_grant()
                return
        self.tokens.append(permit)
        if self.timer is None:
            self._arm()

    def _arm(self) -> None:
        head = self.tokens[0]
        _, start = self._start(head.loop)
        try:
            self.timer = head.loop.call_at(start, self._due)
        except RuntimeError:  # its loop is closed: its run is gone
            self.tokens.popleft()
            if self.tokens:
                self._arm()

    def _due(self) -> None:
        self.timer = None
        while self.tokens:
            head = self.tokens[0]
            now, start = self._start(head.loop)
            if start > now:  # the bucket was paused meanwhile
                self._arm()
                return
            self.tokens.popleft()
            # From the time the token was due, not from when the timer ran: a loop that is
            # a little late each time must not slow the rate down. Only CATCH_UP of an
            # interval is made up, so two permits are never closer than the margin allows
            # and a stalled loop cannot burst.
            due = max(self.tat - self.tolerance, self.paused_until, now - CATCH_UP * self.interval)
            self.tat = max(self.tat, due) + self.interval
            head.granted = True
            head.epoch = self.epoch
            head.on_grant()

    # -- the API pushed back -----------------------------------------------------------------

    def pause(self, seconds: float, loop: asyncio.AbstractEventLoop) -> None:
        """No token for ``seconds`` (a Retry-After for the whole API), then one at a time."""
        until = loop.time() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.tat = max(self.tat, until + self.tolerance)
            if self.timer is not None:
                self.timer.cancel()
                self._arm()

    # -- ending ------------------------------------------------------------------------------

    def _release(self, permit: Permit, failure: BaseException | None) -> None:
        if self.limit.adaptive and permit.granted:
            self._adapt_rate(permit, failure)
        if self.limit.adaptive and self.current_limit is not None and self.cap is not None:
            if failure is not None and overloaded(failure):
                self.current_limit = max(1, self.current_limit // 2)
                self.successes = 0
            elif failure is None:
                self.successes += 1
                if self.successes >= self.current_limit:
                    self.successes = 0
                    self.current_limit = min(self.cap, self.current_limit + 1)
        self._free_slot(permit)

    @property
    def rate(self) -> float:
        """The rate permits go at now, in attempts per ``limit.per`` seconds (the configured
        rate less the margin, or lower while an adaptive limit has backed off)."""
        return self.limit.per / self.interval

    def _adapt_rate(self, permit: Permit, failure: BaseException | None) -> None:
        """AIMD on the rate: down by DECREASE on push-back, up by a little per success."""
        if failure is not None and overloaded(failure):
            # Push-back on a permit granted before the last decrease says nothing new: its
            # request went at the old rate (as in TCP, one decrease per round of losses).
            if permit.epoch == self.epoch:
                self.quick = self.quick + 1 if self.good < self.rate / 4 else 0
                factor = DECREASE_SOON if self.quick >= 2 else DECREASE
                self.epoch += 1
                self.good = 0
                self.interval = min(self.slowest, self.interval / factor)
            return
        if failure is not None:
            return
        if permit.epoch == self.epoch:
            self.good += 1
        if self.interval > self.fastest:
            # By PROBE of the configured rate for each current rate's worth of successes.
            rate = self.rate
            rate += PROBE * self.limit.rate / rate
            self.interval = max(self.fastest, self.limit.per / rate)

    def _withdraw(self, permit: Permit) -> None:
        if not permit.granted:
            if self.tokens and self.tokens[0] is permit:
                self.tokens.popleft()
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                if self.tokens:
                    self._arm()
            else:
                for queue in (self.tokens, self.slots):
                    try:
                        queue.remove(permit)
                    except ValueError:
                        pass
        self._free_slot(permit)

    def _free_slot(self, permit: Permit) -> None:
        if not permit.slot:
            return
        permit.slot = False
        self.active -= 1
        limit = self.current_limit
        while self.slots and limit is not None and self.active < limit:
            waiting = self.slots.popleft()
            self.active += 1
            waiting.slot = True
            self._want_token(waiting)


# -- the process's limiters ----------------------------------------------------------------

_LIMITERS: Keyed[RateLimit, Limiter] = Keyed(Limiter)


def limiter_for(skill: Skill[Any, Any], limit: RateLimit) -> Limiter:
    """The limiter an attempt of ``skill`` under ``limit`` asks for a permit."""
    return _LIMITERS.get(skill, limit)


# -- reading the API's push-back ----------------------------------------------------------


def overloaded(exc: BaseException) -> bool:
    """Whether ``exc`` says the API is overloaded: 429/503, a Retry-After, a timeout."""
    return (
        isinstance(exc, (SkillTimeout, RetryAfter))
        or retry_after_of(exc) is not None
        or http_status(exc) in (429, 503)
    )
