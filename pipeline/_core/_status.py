"""How a call ended: a value the results, their renderings and the events all name."""

from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(str, Enum):
    """How a call ended (or, for ``pending``, why it has not run yet)."""

    SUCCESS = "success"
    """The skill returned a value."""
    ERROR = "error"
    """The skill raised (after its retries); ``value`` is the fallback if it has one."""
    TIMEOUT = "timeout"
    """The last attempt hit the skill's timeout, or the run's deadline came first."""
    SKIPPED = "skipped"
    """Never started: a dependency had no value, or the run's deadline came first."""
    PENDING = "pending"
    """Did not run: it needs a person's approval (``@skill(needs_approval=...)``). Its
    ``value`` holds the call's arguments by parameter name, what the person decides on;
    resume the run with a decision for its key (``run(..., decisions={key: Approve()})``)."""

    def __str__(self) -> str:
        return self.value
