"""The policy pieces the pipeline's engine and the operators share: one place each.

``pipeline.Retry`` and :func:`operators.retry_backoff` wait the same :func:`backoff_wait`
with the same defaults and retry what the same :func:`error_matcher` says; a fallback is
applied by :func:`apply_fallback` (``catch_result``'s handlers and the engine's
``fallback=``); an exception is described by :func:`safe_str`. ``pipeline`` imports these,
never the reverse.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from typing import Any

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MULTIPLIER",
    "NO_FALLBACK",
    "apply_fallback",
    "backoff_wait",
    "error_matcher",
    "safe_str",
]

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.1
DEFAULT_MULTIPLIER = 2.0
DEFAULT_MAX_BACKOFF = 10.0


def backoff_wait(failed_attempt: int, backoff: float, multiplier: float, max_backoff: float) -> float:
    """Seconds to wait after try number ``failed_attempt`` (1-based) failed, before jitter:
    ``min(backoff * multiplier ** (n - 1), max_backoff)``, overflow-safe."""
    if not backoff:
        return 0.0
    try:
        grown = backoff * multiplier ** (failed_attempt - 1)
    except OverflowError:  # float ** overflows after ~1000 doublings: long capped
        return max_backoff
    return min(grown, max_backoff)


def error_matcher(on: Any) -> Callable[[BaseException], bool]:
    """What to retry: an exception type, a tuple of them, or a predicate. Never a
    ``BaseException`` that is not an ``Exception`` (cancellation, KeyboardInterrupt).

    Raises:
        TypeError: if ``on`` is none of those.
    """
    if isinstance(on, type) and issubclass(on, BaseException):
        on = (on,)
    if isinstance(on, tuple):
        types: tuple[type[BaseException], ...] = on
        for kind in types:
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise TypeError(f"on must hold exception types, got {kind!r}")
        return lambda error: isinstance(error, Exception) and isinstance(error, types)
    if callable(on):
        predicate: Callable[[BaseException], Any] = on
        return lambda error: isinstance(error, Exception) and bool(predicate(error))
    raise TypeError(f"on must be an exception type, a tuple of them, or a predicate, got {on!r}")


class _NoFallback:
    """Marks "no fallback": ``None`` is a legitimate fallback value."""

    _instance: _NoFallback | None = None

    def __new__(cls) -> _NoFallback:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_FALLBACK"

    def __reduce__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Any = _NoFallback()


def apply_fallback(fallback: Any, error: BaseException) -> Any:
    """The fallback for ``error``: ``fallback(error)`` when it is callable, else itself.

    May return an awaitable (an async fallback): the engine awaits it, bounded by the
    call's timeout. Exceptions raised by the fallback propagate: they are the user's bug.
    """
    return fallback(error) if callable(fallback) else fallback


def safe_str(error: BaseException) -> str:
    """``str(error)``, or a placeholder when its ``__str__`` fails (traceback's wording):
    a broken ``__str__`` must not lose a result."""
    try:
        return str(error)
    except Exception:
        return "<exception str() failed>"


def check_seconds(name: str, value: Any, *, zero: bool = True) -> None:
    """One rule for every duration in skillstream: ``TypeError`` if ``value`` is not a
    number (a bool is not one), ``ValueError`` if it is NaN or negative (or zero, unless
    ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or not (value >= 0 if zero else value > 0):
        raise ValueError(f"{name} must be a number of seconds {'>=' if zero else '>'} 0, got {value!r}")


def check_cap(name: str, value: Any) -> None:
    """One rule for every concurrency cap: ``None`` (no bound) or an int >= 1;
    ``TypeError`` for another type, ``ValueError`` for a number below 1."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1 or None, got {value!r}")
