"""The retry policy: a frozen value object, validated once when a skill is defined."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from operators._policy import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MULTIPLIER,
    backoff_wait,
    error_matcher,
)

__all__ = ["Retry"]

RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


class Retry(BaseModel):
    """Retry failed attempts with exponential backoff.

    Attempt ``n`` (1-based) that fails with an exception matching ``on`` is followed, after
    ``min(backoff * multiplier ** (n - 1), max_backoff) + uniform(0, jitter)`` seconds, by
    attempt ``n + 1``, until ``attempts`` tries have been made. A timed-out attempt fails
    with ``SkillTimeout``, a ``TimeoutError``, so the default ``on`` retries timeouts too.
    Cancellation is never retried. The waits count as in flight (they hold a slot).

    Examples:
        >>> Retry(attempts=3, backoff=0.1).delay(2, rand=lambda: 0.0)
        0.2
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    attempts: int = Field(default=DEFAULT_ATTEMPTS, ge=1)
    """Tries made in all, the first one included. Default 3."""
    backoff: float = Field(default=DEFAULT_BACKOFF, ge=0)
    """Seconds to wait before the second try. Default 0.1."""
    multiplier: float = Field(default=DEFAULT_MULTIPLIER, ge=1)
    """Factor applied to the wait after each further failure. Default 2."""
    max_backoff: float = Field(default=DEFAULT_MAX_BACKOFF, ge=0)
    """Longest wait in seconds, before jitter. Default 10."""
    jitter: float = Field(default=0.0, ge=0)
    """Most seconds of uniform random delay added to each wait. Default 0."""
    on: Any = (Exception,)
    """Exception types to retry (a tuple), or a predicate taking the exception.
    Default: every ``Exception``."""

    @field_validator("on")
    @classmethod
    def _check_on(cls, value: Any) -> RetryOn:
        if isinstance(value, type) and issubclass(value, BaseException):
            return (value,)
        if isinstance(value, tuple) and all(
            isinstance(t, type) and issubclass(t, BaseException) for t in value
        ):
            return value
        if callable(value):
            return value  # type: ignore[no-any-return]
        raise ValueError("on must be an exception type, a tuple of them, or a predicate")

    def matches(self, exc: BaseException) -> bool:
        """Whether ``exc`` should be retried (``Exception``s only, never cancellation)."""
        return error_matcher(self.on)(exc)

    def delay(self, failed_attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after try number ``failed_attempt`` (1-based) failed."""
        base = backoff_wait(failed_attempt, self.backoff, self.multiplier, self.max_backoff)
        return base + self.jitter * rand() if self.jitter else base

    def next_wait(self, exc: BaseException, failed_attempt: int) -> float | None:
        """Seconds to wait before the next try after try ``failed_attempt`` failed with
        ``exc``, or ``None`` to give up. A policy whose limits depend on the exception
        (LangGraph's list of :class:`RetryPolicy`) overrides this."""
        if failed_attempt < self.attempts and self.matches(exc):
            return self.delay(failed_attempt)
        return None
