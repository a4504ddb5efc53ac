"""The protocol between the engine and every admission policy.

Before an attempt starts, the engine asks each of the call's policies in turn to
:meth:`Admission.enter`; the :class:`Gate` it gets back is the attempt's hold on that
policy. A gate that is not ``ready`` yet wakes the attempt when it is; a policy that
refuses returns the exception the call then fails with, without running. When the attempt
ends the engine tells every gate it holds how: it succeeded, it failed, it was withdrawn
(deadline, leaving: it tells nothing of the API), or it was abandoned while its body still
runs (a thread past its timeout), which a gate may outlast by keeping what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._core._policies import ADMISSION, CircuitBreaker, RateLimit
from ._breaker import circuit_for
from ._ratelimit import limiter_for

if TYPE_CHECKING:
    from .._core._skill import Skill, SkillOptions

__all__ = ["Admission", "Gate", "admission_for"]


class Gate(Protocol):
    """One policy's hold on one attempt."""

    @property
    def ready(self) -> bool:
        """Whether the attempt may go as far as this policy is concerned."""
        ...

    def succeeded(self) -> None:
        """The attempt succeeded."""
        ...

    def failed(self, exc: BaseException, now: float) -> None:
        """The attempt failed with ``exc`` at loop time ``now``."""
        ...

    def withdrawn(self) -> None:
        """The attempt was given up before it ended: nothing is known of how it went."""
        ...

    def outlived_by(self, work: asyncio.Future[Any]) -> bool:
        """The attempt was abandoned but ``work`` still runs: return True to keep this
        hold until it ends (the gate then releases itself and hears nothing more)."""
        ...


class Admission(Protocol):
    """A policy's state (one per API key, or per skill), where attempts ask to go."""

    def enter(self, loop: asyncio.AbstractEventLoop, now: float, wake: Callable[[], None]) -> Gate | Exception:
        """A gate for one attempt (``wake`` is called on ``loop`` once a gate that was
        not ready is), or the exception that refuses the attempt."""
        ...


def admission_for(skill: Skill[Any, Any], options: SkillOptions) -> tuple[Admission, ...]:
    """The states an attempt of ``skill`` under ``options`` asks, in order."""
    found: list[Admission] = []
    for name in ADMISSION:
        policy = getattr(options, name)
        if policy is not None:
            found.append(_STATE_FOR[type(policy)](skill, policy))
    return tuple(found)


# Each admission policy's state, by the type of its value (one line per policy).
_STATE_FOR: dict[type[Any], Callable[[Skill[Any, Any], Any], Admission]] = {
    CircuitBreaker: circuit_for,
    RateLimit: limiter_for,
}
