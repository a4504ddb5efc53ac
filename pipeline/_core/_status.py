"""How a call ended: a value the results, their renderings and the events all name."""

from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(str, Enum):
    """How a call ended."""

    SUCCESS = "success"
    """The skill returned a value."""
    ERROR = "error"
    """The skill raised (after its retries); ``value`` is the fallback if it has one."""
    TIMEOUT = "timeout"
    """The last attempt hit the skill's timeout, or the run's deadline came first."""
    SKIPPED = "skipped"
    """Never started: a dependency had no value, or the run's deadline came first."""

    def __str__(self) -> str:
        return self.value
