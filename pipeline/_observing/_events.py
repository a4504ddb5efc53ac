"""A run seen as typed events: ``run(...).events()``.

The events are an :class:`~pipeline.Instrument` feeding the run's own result channel: the
instrument puts "started", "retrying", "partial" and "deadline" events on the channel as
the engine calls its hooks, and every result the run emits arrives on the same channel as
a "finished" (or "skipped") event. One channel, in the order things happened, so a call's
"started" always comes before its "finished", and each call's result arrives exactly once
(the engine's own guarantee for results). The cap, the deadline, backpressure and leaving
early are those of plain iteration: only results count toward the unread buffer that
pauses a run for a slow consumer, not the events around them.

A plain ``async for r in run(...)`` has no such instrument: it pays nothing for events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from operators._channel import ObserverChannel

from .._core._instruments import Instrument
from .._core._result import ErrorInfo, SkillResult, Status, built

if TYPE_CHECKING:
    from .._core._skill import SkillCall
    from .._stream._results import ResultStream

__all__ = [
    "DeadlineEvent",
    "Event",
    "EventStream",
    "FinishedEvent",
    "PartialEvent",
    "RetryingEvent",
    "SkippedEvent",
    "StartedEvent",
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

_RESULT_KINDS = frozenset(("finished", "skipped"))
_STARTED, _RETRYING, _PARTIAL, _FINISHED, _SKIPPED, _DEADLINE = (
    set(cls.model_fields)
    for cls in (StartedEvent, RetryingEvent, PartialEvent, FinishedEvent, SkippedEvent, DeadlineEvent)
)


# The engine already validated everything it reports: events are built as results are,
# with every field given (a frozen model never changes its fields set).

_channel_next = ObserverChannel.on_next


class _EventChannel(ObserverChannel[Any]):
    """The run's observer: results become "finished"/"skipped" events, queued with the
    instrument's events in one FIFO. ``resume`` is called as each result's event is
    taken (the run's backpressure counts results only)."""

    __slots__ = ("resume",)

    def __init__(self, loop: Any) -> None:
        super().__init__(loop)
        self.resume: Callable[[], None] | None = None

    def on_next(self, value: Any) -> None:
        result: SkillResult = value
        kind = SkippedEvent if result.status is Status.SKIPPED else FinishedEvent
        fields = {
            "kind": "skipped" if kind is SkippedEvent else "finished",
            "key": result.key,
            "index": result.index,
            "result": result,
            "at": result.finished_at if result.finished_at is not None else 0.0,
        }
        if kind is FinishedEvent:
            fields["replayed"] = result.replayed
        _channel_next(self, built(kind, fields, _FINISHED if kind is FinishedEvent else _SKIPPED))

    # Hooks run on the loop thread: the event is queued at once (behind any worker
    # thread's signal still on its way, as ordering needs).
    put = ObserverChannel.on_next

    async def get(self) -> Any:
        event = await super().get()
        if event.kind in _RESULT_KINDS:
            if self.resume is not None:
                self.resume()
        return event


class _EventFeed(Instrument):
    """Puts the moments between a call's start and its result on the channel."""

    __slots__ = ("channel",)

    def __init__(self, channel: _EventChannel) -> None:
        self.channel = channel

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        self.channel.put(
            built(
                StartedEvent,
                {"kind": "started", "key": call.key, "index": index, "attempt": attempt, "at": at},
                _STARTED,
            )
        )

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        self.channel.put(
            built(
                PartialEvent,
                {"kind": "partial", "key": call.key, "index": index, "attempt": attempt, "item": item, "at": at},
                _PARTIAL,
            )
        )

    def call_retrying(
        self, call: SkillCall[Any], index: int, attempt: int, error: BaseException, wait: float, at: float
    ) -> None:
        self.channel.put(
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
        self.channel.put(built(DeadlineEvent, {"kind": "deadline", "at": at}, _DEADLINE))


class EventStream:
    """``ResultStream.events()``: the run as :data:`Event` s, in the order they happened.

    The same run as the stream it comes from (a stream runs once: iterate either the
    results or the events). Leaving early (``break``, ``aclose()``, the end of ``async
    with``, cancellation) cancels every call in flight, as leaving the results does.

    Examples:
        >>> async with run(calls).events() as events:
        ...     async for event in events:
        ...         if event.kind == "partial":
        ...             print(event.key, event.attempt, event.item)
    """

    __slots__ = ("_stream", "_channel")

    def __init__(self, stream: ResultStream) -> None:
        self._stream = stream
        self._channel: _EventChannel | None = None

    def __aiter__(self) -> EventStream:
        self._stream.__aiter__()  # raises for a consumed stream
        return self

    async def __anext__(self) -> Event:
        stream = self._stream
        if stream._reading:
            raise RuntimeError(
                "this run is already being read by another task; a stream has one consumer"
            )
        channel = self._channel
        if channel is None or stream._channel is None:
            if stream._state != "new":
                raise StopAsyncIteration
            channel = self._start()
        items = channel._items
        if items:
            # The common case: events already queued. Taken without a coroutine for
            # get(), as a run queues several events per result.
            event: Any = items.popleft()
            if event.kind in _RESULT_KINDS:
                if channel.resume is not None:
                    channel.resume()
            return event  # type: ignore[no-any-return]
        stream._reading = True
        try:
            event = await channel.get()
            return event  # type: ignore[no-any-return]
        except BaseException:
            # The end, the run's failure or the consumer's cancellation: in-flight calls
            # are cancelled and awaited before this propagates, as for results.
            stream._state = "consumed"
            await stream._close()
            raise
        finally:
            stream._reading = False

    def _start(self) -> _EventChannel:
        import asyncio

        from .._engine._run import RunSpec

        stream = self._stream
        channel = _EventChannel(asyncio.get_running_loop())
        spec = stream._spec
        fed = RunSpec(
            spec.calls,
            sized=spec.sized,
            is_async=spec.is_async,
            feeder=spec.feeder,
            max_concurrency=spec.max_concurrency,
            timeout=spec.timeout,
            track_roots=spec.track_roots,
            cancel_grace=spec.cancel_grace,
            instruments=(*spec.instruments, _EventFeed(channel)),
            journal=spec.journal,
        )
        run_ = stream._start(channel, fed)
        # The run set the channel's on_take for its backpressure; results alone count.
        channel.resume, channel.on_take = channel.on_take, None
        del run_
        self._channel = channel
        return channel

    async def aclose(self) -> None:
        """Stop the run: cancel every call in flight and wait until they have ended."""
        await self._stream.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
