"""A run's moments as typed events, and the instrument that reports them.

:class:`EventFeed` is an :class:`~pipeline.Instrument` that puts "started", "retrying",
"partial" and "deadline" events wherever it is told to (``ResultStream.events()`` gives it
the run's own channel, where results arrive as "finished" or "skipped" events made by
:func:`result_event`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .._core._instruments import Instrument
from .._core._result import ErrorInfo, SkillResult, Status, built

if TYPE_CHECKING:
    from .._core._skill import SkillCall

__all__ = [
    "DeadlineEvent",
    "Event",
    "EventFeed",
    "FinishedEvent",
    "PartialEvent",
    "RetryingEvent",
    "SkippedEvent",
    "StartedEvent",
    "result_event",
]

_CONFIG = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class StartedEvent(BaseModel):
    """An attempt of a call started (``attempt`` is 1-based)."""

    model_config = _CONFIG
    kind: Literal["started"] = "started"
    key: str
    index: int
    attempt: int
    at: float
    """Seconds since the run began."""


class RetryingEvent(BaseModel):
    """Attempt ``attempt`` failed with ``error``; the next starts after ``wait`` seconds."""

    model_config = _CONFIG
    kind: Literal["retrying"] = "retrying"
    key: str
    index: int
    attempt: int
    error: ErrorInfo
    wait: float
    at: float


class PartialEvent(BaseModel):
    """A streaming skill yielded ``item`` during ``attempt``.

    A retry restarts the generator: drop the items of an attempt that was followed by a
    "retrying" event of the same call (same ``index``, same ``attempt``).
    """

    model_config = _CONFIG
    kind: Literal["partial"] = "partial"
    key: str
    index: int
    attempt: int
    item: Any
    at: float


class FinishedEvent(BaseModel):
    """The call ran and ended; ``result`` is its one ``SkillResult`` (any status but skipped)."""

    model_config = _CONFIG
    kind: Literal["finished"] = "finished"
    key: str
    index: int
    result: SkillResult
    at: float
    replayed: bool = False
    """True when ``result`` was replayed from a journal: the call did not run this time."""


class SkippedEvent(BaseModel):
    """The call never ran (a dependency had no value, or the deadline came first)."""

    model_config = _CONFIG
    kind: Literal["skipped"] = "skipped"
    key: str
    index: int
    result: SkillResult
    at: float


class DeadlineEvent(BaseModel):
    """The run's deadline was reached: the calls in flight end ``timeout`` next, then the
    unstarted ones ``skipped``."""

    model_config = _CONFIG
    kind: Literal["deadline"] = "deadline"
    at: float


Event = Annotated[
    Union[StartedEvent, RetryingEvent, PartialEvent, FinishedEvent, SkippedEvent, DeadlineEvent],
    Field(discriminator="kind"),
]
"""One moment of a run, told apart by ``kind`` (a pydantic discriminated union).

Examples:
    >>> async for event in run(calls).events():
    ...     match event.kind:
    ...         case "partial": print(event.key, event.item)
    ...         case "finished": print(event.key, event.result.status)
"""

# Documented as pipeline.Event, like the classes (an Annotated alias is typing's otherwise).
setattr(Event, "__module__", __name__)

RESULT_KINDS = frozenset(("finished", "skipped"))
_STARTED, _RETRYING, _PARTIAL, _FINISHED, _SKIPPED, _DEADLINE = (
    set(cls.model_fields)
    for cls in (StartedEvent, RetryingEvent, PartialEvent, FinishedEvent, SkippedEvent, DeadlineEvent)
)


# The engine already validated everything it reports: events are built as results are,
# with every field given (a frozen model never changes its fields set).


def result_event(result: SkillResult) -> FinishedEvent | SkippedEvent:
    """The "finished" (or "skipped") event that carries ``result``."""
    at = result.finished_at if result.finished_at is not None else 0.0
    if result.status is Status.SKIPPED:
        return built(
            SkippedEvent,
            {"kind": "skipped", "key": result.key, "index": result.index, "result": result, "at": at},
            _SKIPPED,
        )
    return built(
        FinishedEvent,
        {
            "kind": "finished",
            "key": result.key,
            "index": result.index,
            "result": result,
            "at": at,
            "replayed": result.replayed,
        },
        _FINISHED,
    )


class EventFeed(Instrument):
    """Reports the moments between a call's start and its result to ``put``."""

    __slots__ = ("put",)

    def __init__(self, put: Callable[[Any], None]) -> None:
        self.put = put

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        self.put(
            built(
                StartedEvent,
                {"kind": "started", "key": call.key, "index": index, "attempt": attempt, "at": at},
                _STARTED,
            )
        )

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        self.put(
            built(
                PartialEvent,
                {"kind": "partial", "key": call.key, "index": index, "attempt": attempt, "item": item, "at": at},
                _PARTIAL,
            )
        )

    def call_retrying(
        self, call: SkillCall[Any], index: int, attempt: int, error: BaseException, wait: float, at: float
    ) -> None:
        self.put(
            built(
                RetryingEvent,
                {
                    "kind": "retrying",
                    "key": call.key,
                    "index": index,
                    "attempt": attempt,
                    "error": ErrorInfo.of(error),
                    "wait": wait,
                    "at": at,
                },
                _RETRYING,
            )
        )

    def run_deadline(self, at: float) -> None:
        self.put(built(DeadlineEvent, {"kind": "deadline", "at": at}, _DEADLINE))
