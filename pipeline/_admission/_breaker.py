"""Circuit breakers: stop calling an API that keeps failing, and try again later.

A :class:`CircuitBreaker` is a frozen value given to ``@skill(circuit_breaker=...)``;
skills whose breakers share a ``key`` share one :class:`Circuit` across every run in the
process (no key: the skill's own). The circuit is *closed* while attempts succeed; after
``failures`` consecutive failed attempts it *opens*: calls then fail at once, as ``error``
with :class:`CircuitOpen`, without running (their fallback applies). ``reset_after``
seconds later it lets one trial attempt through (*half-open*): if it succeeds the circuit
closes, if it fails it opens again for another ``reset_after``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from .._core._errors import CircuitOpen
from ._keyed import Keyed

if TYPE_CHECKING:
    from .._core._skill import Skill

__all__ = ["Circuit", "CircuitBreaker", "circuit_for"]


class CircuitBreaker(BaseModel):
    """After ``failures`` consecutive failed attempts, fail fast for ``reset_after`` seconds.

    Examples:
        >>> PAYMENTS = CircuitBreaker(failures=5, reset_after=30, key="payments")
        >>> @skill(circuit_breaker=PAYMENTS, fallback=None)  # doctest: +SKIP
        ... async def charge(order_id: str) -> dict: ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: int = Field(default=5, ge=1)
    """Consecutive failed attempts that open the circuit. Default 5."""
    reset_after: float = Field(default=30.0, gt=0)
    """Seconds the circuit stays open before one trial attempt. Default 30."""
    key: str | None = Field(default=None, min_length=1)
    """The API's name: skills with the same key share the circuit. Default: the skill's own."""


class Circuit:
    """One key's state: closed, open until a time, or half-open with one trial out."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.failed = 0  # consecutive failed attempts
        self.open_until: float | None = None  # None: closed
        self.trial = False  # a half-open trial attempt is out

    def admit(self, now: float) -> CircuitOpen | None:
        """None if an attempt may go now (it may be the trial); else why not."""
        until = self.open_until
        if until is None:
            return None
        if now >= until and not self.trial:
            self.trial = True
            return None
        key = f" {self.breaker.key!r}" if self.breaker.key else ""
        wait = max(0.0, until - now)
        return CircuitOpen(
            f"circuit{key} is open after {self.breaker.failures} consecutive failures; "
            + (f"a trial call may go in {wait:.3g} s" if wait else "a trial call is under way")
        )

    def succeeded(self) -> None:
        self.failed = 0
        self.open_until = None
        self.trial = False

    def failed_at(self, now: float) -> None:
        self.failed += 1
        if self.trial or self.failed >= self.breaker.failures:
            self.open_until = now + self.breaker.reset_after
        self.trial = False

    def withdrawn(self) -> None:
        """The attempt was given up (deadline, leaving): it tells nothing of the API."""
        self.trial = False


_CIRCUITS: Keyed[CircuitBreaker, Circuit] = Keyed(Circuit, "circuit breaker")
check_key = _CIRCUITS.check


def circuit_for(skill: Skill[Any, Any], breaker: CircuitBreaker) -> Circuit:
    """The circuit an attempt of ``skill`` under ``breaker`` goes through."""
    return _CIRCUITS.get(skill, breaker)
