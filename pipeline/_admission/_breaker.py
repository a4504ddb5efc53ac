"""Circuit breakers: stop calling an API that keeps failing, and try again later.

A ``CircuitBreaker`` is a frozen value given to ``@skill(circuit_breaker=...)``;
skills whose breakers share a ``key`` share one :class:`Circuit` across every run in the
process (no key: the skill's own). The circuit is *closed* while attempts succeed; after
``failures`` consecutive failed attempts it *opens*: calls then fail at once, as ``error``
with :class:`CircuitOpen`, without running (their fallback applies). ``reset_after``
seconds later it lets one trial attempt through (*half-open*): if it succeeds the circuit
closes, if it fails it opens again for another ``reset_after``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncio
from collections.abc import Callable

from .._core._errors import CircuitOpen
from .._core._policies import CircuitBreaker
from ._keyed import Keyed

if TYPE_CHECKING:
    from .._core._skill import Skill

__all__ = ["Circuit", "circuit_for"]


class Circuit:
    """One key's state: closed, open until a time, or half-open with one trial out.

    It is its own :class:`~pipeline._admission._gate.Gate`: an attempt holds nothing of
    it but the right to report how it went.
    """

    ready = True

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.failures = 0  # consecutive failed attempts
        self.open_until: float | None = None  # None: closed
        self.trial = False  # a half-open trial attempt is out

    def enter(self, loop: asyncio.AbstractEventLoop, now: float, wake: Callable[[], None]) -> Circuit | CircuitOpen:
        """The circuit itself if an attempt may go now (it may be the trial); else why not."""
        until = self.open_until
        if until is None:
            return self
        if now >= until and not self.trial:
            self.trial = True
            return self
        key = f" {self.breaker.key!r}" if self.breaker.key else ""
        wait = max(0.0, until - now)
        return CircuitOpen(
            f"circuit{key} is open after {self.breaker.failures} consecutive failures; "
            + (f"a trial call may go in {wait:.3g} s" if wait else "a trial call is under way")
        )

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = None
        self.trial = False

    def failed(self, exc: BaseException, now: float) -> None:
        self.failures += 1
        if self.trial or self.failures >= self.breaker.failures:
            self.open_until = now + self.breaker.reset_after
        self.trial = False

    def withdrawn(self) -> None:
        """The attempt was given up (deadline, leaving): it tells nothing of the API."""
        self.trial = False

    def outlived_by(self, work: asyncio.Future[Any]) -> bool:
        return False  # the abandoned attempt is reported as failed (it timed out)


_CIRCUITS: Keyed[CircuitBreaker, Circuit] = Keyed(Circuit)


def circuit_for(skill: Skill[Any, Any], breaker: CircuitBreaker) -> Circuit:
    """The circuit an attempt of ``skill`` under ``breaker`` goes through."""
    return _CIRCUITS.get(skill, breaker)
