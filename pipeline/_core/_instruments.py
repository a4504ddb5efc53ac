"""Instruments: hooks the engine calls at each moment of a call's life.

Events, progress views, timelines, tracing and journals are all instruments. A run with
none pays nothing (the engine tests ``if instruments:`` before dispatching); a run with
some calls every hook on the event loop thread, in the order things happen, synchronously
(an instrument that must do I/O queues the work). An exception raised by a hook ends the
run with that exception, as one raised by a reducer does.

Times are seconds since the run started (``loop.time()`` based, like ``SkillResult``'s).

One hook is not a report but a say in how the attempt runs: :meth:`Instrument.call_context`
is called inside a fresh copy of the loop's context, after ``call_started``, and the
attempt's job starts in that copy (an asyncio task and a thread job copy it in turn, so
what the hook sets is current in the skill's body and nowhere else). Only instruments that
override it cost anything: the engine lists them once per run.

One instrument may be listed by any number of runs, one after another or at once (an
app's ``Tracing`` in every run's ``instruments``). The hooks do not say which run they
report: each run asks each of its instruments :meth:`Instrument.for_run` once, when it
starts, and calls the hooks of the object that returns. By default that is the instrument
itself, right for one that keeps no state about a run (``EventFeed``, a counter); one that
does returns a fresh object per run, sharing what all the runs share (``Tracing``: its
run's span and its call spans by index; ``ProgressView``: its counters, told apart by run).
An instrument that cannot serve two runs at once raises there, with a clear error, and the
second run fails before anything of it runs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import SkillResult
    from ._skill import SkillCall

__all__ = ["Instrument", "Phase", "attempt_context", "contextual"]


class Phase(str, Enum):
    """The named phases of one call, as the attempt state machine moves through them.

    A call holds its concurrency slot in every phase from ``PERMIT`` on: the slot is taken
    first, so a call waiting for a permit (a rate-limit token) keeps others of its run
    from starting, and the run's deadline applies while it waits. The per-attempt
    ``timeout`` starts with ``ATTEMPT``.
    """

    PERMIT = "permit"
    """Waiting for a policy's permit before an attempt (e.g. a rate-limit token)."""
    ATTEMPT = "attempt"
    """An attempt is running on its executor."""
    BACKOFF = "backoff"
    """Waiting after a failed attempt before the next one (``Retry``'s backoff)."""
    SETTLING = "settling"
    """Waiting for an abandoned attempt that cannot be interrupted (a thread past its
    timeout) to end before the next attempt starts, so that bodies running at once never
    exceed the cap."""
    FALLBACK = "fallback"
    """Awaiting an async fallback."""


class Instrument:
    """Override the hooks you need; each default does nothing.

    Examples:
        >>> class Count(Instrument):
        ...     def __init__(self) -> None:
        ...         self.started = 0
        ...     def call_started(self, call, index, attempt, at):
        ...         self.started += 1
        >>> count = Count()
        >>> # async for r in run(calls, instruments=[count]): ...

    Hooks get no run: an instrument that keeps per-run state (a call's index is only unique
    within its run) makes one object per run in :meth:`for_run`.
    """

    def for_run(self) -> Instrument:
        """The object whose hooks one run calls: asked once by each run that lists this
        instrument, when it starts, before :meth:`run_started`. By default ``self``: every
        run calls this instrument's hooks, which suits one that keeps nothing per run.

        An instrument with per-run state returns a fresh object (an :class:`Instrument`)
        per call, so that runs at once never mix theirs; one that cannot serve two runs
        at once raises here (the run then ends with that exception before anything runs).
        Start nothing here: a run refused after it (a journal's run id in use) drops what
        this returned unused; :meth:`run_started` is where a run begins.

        Examples:
            >>> class Timer(Instrument):
            ...     def for_run(self):
            ...         return RunTimer(self)          # this run's start, its own
        """
        return self

    def run_started(self, sized: int | None) -> None:
        """The run began; ``sized`` is the number of calls of a sized source, else None."""

    def call_phase(self, call: SkillCall[Any], index: int, phase: Phase, at: float) -> None:
        """The call entered ``phase`` (``PERMIT``, ``BACKOFF``, ``SETTLING``, ``FALLBACK``);
        ``ATTEMPT`` is reported by :meth:`call_started`."""

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        """Attempt number ``attempt`` (1-based) of the call started."""

    def call_context(self, call: SkillCall[Any], index: int, attempt: int) -> None:
        """Set contextvars for attempt ``attempt``'s body to see: called right after
        :meth:`call_started`, inside the context the attempt's job starts in (a fresh copy
        of the loop's, used by this attempt alone: nothing set here needs resetting).

        Examples:
            >>> REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
            >>> class Tag(Instrument):
            ...     def call_context(self, call, index, attempt):
            ...         REQUEST_ID.set(f"{call.key}#{attempt}")   # seen inside the skill
        """

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        """A streaming skill (a generator) yielded ``item`` during ``attempt``."""

    def call_retrying(
        self,
        call: SkillCall[Any],
        index: int,
        attempt: int,
        error: BaseException,
        wait: float,
        at: float,
    ) -> None:
        """Attempt ``attempt`` failed with ``error``; the next starts after ``wait`` seconds."""

    def call_finished(self, result: SkillResult) -> None:
        """The call ran and ended (any status but ``skipped``): its one result."""

    def call_skipped(self, result: SkillResult) -> None:
        """The call never started (a dependency had no value, or the deadline came)."""

    def run_deadline(self, at: float) -> None:
        """The run's deadline was reached."""

    def run_finished(self, at: float, error: BaseException | None) -> None:
        """The run ended: completed (``error`` None), failed, or was closed early."""


_HOOKS = (
    "run_started",
    "call_phase",
    "call_started",
    "call_item",
    "call_retrying",
    "call_finished",
    "call_skipped",
    "run_deadline",
)


def listeners(instruments: tuple[Instrument, ...]) -> dict[str, tuple[Callable[..., None], ...]]:
    """For each hook, the bound methods of the instruments that override it: a hook that
    no instrument overrides costs no call (an events() run listens to half of them)."""
    hooks: dict[str, tuple[Callable[..., None], ...]] = {}
    for name in _HOOKS:
        base = getattr(Instrument, name)
        found = (getattr(i, name, None) for i in instruments)
        hooks[name] = tuple(f for f in found if f is not None and getattr(f, "__func__", None) is not base)
    return hooks


def contextual(instruments: tuple[Instrument, ...]) -> tuple[Instrument, ...]:
    """The instruments that override :meth:`Instrument.call_context` (usually none)."""
    return tuple(i for i in instruments if type(i).call_context is not Instrument.call_context)


def attempt_context(
    instruments: tuple[Instrument, ...],
    fail: Callable[[Exception], None],
    call: SkillCall[Any],
    index: int,
    attempt: int,
) -> contextvars.Context:
    """A copy of the current context with what the contextual ``instruments`` set for
    this attempt; a hook that raises is given to ``fail`` (it ends the run, as any hook's
    exception does)."""
    context = contextvars.copy_context()
    for instrument in instruments:
        try:
            context.run(instrument.call_context, call, index, attempt)
        except Exception as exc:
            fail(exc)
            break
    return context
