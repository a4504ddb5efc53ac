"""Every exception skillstream defines.

    Exception
    ├── SkillError            a call ended without a value (raised by await call, gather, unwrap)
    ├── DependencyFailed      stands in a skipped call's result: a dependency had no value
    └── TimeoutError
        ├── SkillTimeout      one attempt ran past the skill's timeout
        └── DeadlineExceeded  the run's deadline came first

Only ``SkillError`` is raised to the caller; the others describe why a call has no value
(they reach a ``fallback`` callable and ``Retry(on=...)``, and name ``SkillResult.error.type``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import Results, SkillResult

__all__ = ["DeadlineExceeded", "DependencyFailed", "SkillError", "SkillTimeout"]


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


class DeadlineExceeded(TimeoutError):
    """Raised inside the run when the run's ``timeout`` expires while a call is in flight
    or before it started."""


class DependencyFailed(Exception):
    """Raised inside the run for a call whose dependency ended without a value."""
