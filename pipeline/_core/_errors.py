"""Every exception skillstream defines.

    Exception
    ├── SkillError            a call ended without a value (raised by await call, gather, unwrap)
    ├── DependencyFailed      stands in a skipped call's result: a dependency had no value
    ├── Rejected              stands in a rejected call's result: a person said no
    ├── RetryAfter            the API said "not now" (429/503), maybe with how long to wait
    ├── CircuitOpen           the API's circuit breaker is open: the call did not run
    ├── JournalError          a journal cannot be used (bad file) or cannot store a value
    │   └── RunInProgress     the run id is already running (this or another process)
    └── TimeoutError
        ├── SkillTimeout      one attempt ran past the skill's timeout
        └── DeadlineExceeded  the run's deadline came first

Only ``SkillError`` and the journal's errors are raised to the caller; the others describe why a call has no value
(they reach a ``fallback`` callable and ``Retry(on=...)``, and name ``SkillResult.error.type``).
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import Results, SkillResult

__all__ = [
    "CircuitOpen",
    "DeadlineExceeded",
    "DependencyFailed",
    "JournalError",
    "Rejected",
    "RetryAfter",
    "RunInProgress",
    "SkillCancelled",
    "SkillError",
    "SkillTimeout",
    "http_status",
    "parse_retry_after",
    "retry_after_of",
]


class SkillError(Exception):
    """Raised when a call ends without a value: by ``await call``, ``gather`` and
    ``SkillResult.unwrap()``.

    Attributes:
        result: the failed call's result (the first failed one, for ``gather``).
        results: every result of the run, for ``gather``; ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        result: SkillResult | None = None,
        results: Results | None = None,
    ) -> None:
        super().__init__(message)
        self.result = result
        self.results = results


class SkillTimeout(TimeoutError):
    """Raised inside the run when one attempt of a skill exceeds its ``timeout``."""


class SkillCancelled(Exception):
    """A skill's task was cancelled from outside the run (or cancelled itself): the call
    fails with this as its ``error``, like any failure of its own."""


class DeadlineExceeded(TimeoutError):
    """Raised inside the run when the run's ``timeout`` expires while a call is in flight
    or before it started (what a fallback then receives). For a call whose earlier
    attempts failed (the deadline came in a backoff, or during a retry), its
    ``__cause__`` is the last failed attempt's error; otherwise it has none."""


class DependencyFailed(Exception):
    """Raised inside the run for a call whose dependency ended without a value."""


class Rejected(Exception):
    """Stands in the result of a call a person rejected (``Reject(reason)``): the call did
    not run, and ``str()`` is the reason given."""


def dependency_failed(key: str, status: str, index: int | None = None) -> DependencyFailed:
    """The one wording of a skipped call's reason, for runs and graphs alike."""
    where = f" (#{index})" if index is not None else ""
    return DependencyFailed(f"dependency {key!r}{where} ended {status}")


def deadline_exceeded(timeout: float | None) -> DeadlineExceeded:
    """The one wording of the run's deadline, for runs and graphs alike."""
    if timeout is None:
        return DeadlineExceeded("the run ended before this call could start")
    return DeadlineExceeded(f"the run's deadline of {timeout:g} s was reached")


class RetryAfter(Exception):
    """Raised by a skill when the API it calls pushes back (HTTP 429 or 503).

    A retry then waits ``retry_after`` seconds instead of its backoff, and with a keyed
    :class:`RateLimit` every call to that API waits too (the whole bucket pauses). Any
    exception with a numeric ``retry_after`` attribute is read the same way. Use
    :meth:`check` on an aiohttp or httpx response.

    Examples:
        >>> RetryAfter(2.0, status=429).retry_after
        2.0
    """

    def __init__(self, retry_after: float | None = None, *, status: int | None = None, message: str = "") -> None:
        self.retry_after = retry_after
        self.status = status
        wait = f"retry after {retry_after:g} s" if retry_after is not None else "no Retry-After"
        super().__init__(message or f"HTTP {status}: {wait}" if status else message or wait)

    def __reduce__(self) -> tuple[object, ...]:  # pickles back from process workers
        return (_rebuild_retry_after, (self.retry_after, self.status, str(self)))

    @classmethod
    def check(cls, response: object) -> None:
        """Raise RetryAfter if ``response`` (aiohttp or httpx) has status 429 or 503, with
        the seconds of its ``Retry-After`` header (a number or an HTTP date).

        Examples:
            >>> async with session.get(url) as response:  # doctest: +SKIP
            ...     RetryAfter.check(response)
            ...     return await response.json()
        """
        status = getattr(response, "status", None)
        if not isinstance(status, int):
            status = getattr(response, "status_code", None)
        if status not in (429, 503):
            return
        headers = getattr(response, "headers", None)
        raw = headers.get("Retry-After") if headers is not None else None
        raise cls(parse_retry_after(raw), status=status)


def _rebuild_retry_after(retry_after: float | None, status: int | None, message: str) -> RetryAfter:
    return RetryAfter(retry_after, status=status, message=message)


class CircuitOpen(Exception):
    """Stands in the result of a call that did not run because its circuit breaker is open
    (its API failed too often lately). Never retried: failing fast is the point."""


class JournalError(Exception):
    """Raised when a journal cannot be used: its directory is missing, the file is not a
    journal, is corrupt or read-only (at ``run()`` time, before any call runs). Also names
    ``SkillResult.error.type`` of a call whose value the journal could not store."""


class RunInProgress(JournalError):
    """Raised when a run starts with a ``run_id`` that a live run (in this process or
    another) already holds in the same journal."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's seconds: a number, or an HTTP date (seconds from now)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def http_status(exc: BaseException) -> int | None:
    for value in (
        getattr(exc, "status", None),  # aiohttp.ClientResponseError, RetryAfter
        getattr(exc, "status_code", None),  # openai / anthropic APIStatusError
        getattr(getattr(exc, "response", None), "status_code", None),  # httpx.HTTPStatusError
    ):
        if isinstance(value, int):
            return value
    return None


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the API asked to wait: ``exc.retry_after``, else a ``Retry-After`` header
    of the response the exception carries (httpx, openai, anthropic errors), else None."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None)
    if headers is not None and http_status(exc) in (429, 503):
        try:
            return parse_retry_after(headers.get("Retry-After"))
        except Exception:
            return None
    return None
