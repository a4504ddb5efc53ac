"""``ResultStream.events()``: the same run, read as typed events.

An :class:`~pipeline._observing._events.EventFeed` puts "started", "retrying", "partial"
and "deadline" events on the run's own channel as the engine calls its hooks, and every
result the run emits arrives on the same channel as a "finished" (or "skipped") event.
One channel, in the order things happened, so a call's "started" always comes before its
"finished", and each call's result arrives exactly once (the engine's own guarantee for
results). The cap, the deadline, back-pressure and leaving early are those of plain
iteration (it is a :class:`ResultStream` underneath): only results count toward the
unread buffer that pauses a run for a slow consumer, not the events around them.

A plain ``async for r in run(...)`` has no such instrument: it pays nothing for events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from operators._channel import ObserverChannel

from .._observing._events import RESULT_KINDS, Event, EventFeed, result_event

if TYPE_CHECKING:
    from .._engine._run import RunSpec
    from ._results import ResultStream

__all__ = ["EventStream"]

_put = ObserverChannel.on_next


class _EventChannel(ObserverChannel[Any]):
    """The run's observer: results become "finished"/"skipped" events, queued with the
    feed's events in one FIFO. The run's ``on_take`` hears of results only."""

    __slots__ = ()

    # The feed's events go on the channel as they are; results as their events.
    put = _put

    def on_next(self, value: Any) -> None:
        _put(self, result_event(value))

    def take(self, default: Any) -> Any:
        items = self._items
        if not items:
            return default
        event = items.popleft()
        if self.on_take is not None and event.kind in RESULT_KINDS:
            self.on_take()
        return event

    async def get(self) -> Any:
        on_take, self.on_take = self.on_take, None  # counted below, for results only
        try:
            event = await super().get()
        finally:
            self.on_take = on_take
        if on_take is not None and event.kind in RESULT_KINDS:
            on_take()
        return event


def _event_channel(loop: asyncio.AbstractEventLoop, spec: RunSpec) -> tuple[ObserverChannel[Any], RunSpec]:
    channel = _EventChannel(loop)
    # Hooks run on the loop thread: an event is queued at once (behind any worker
    # thread's signal still on its way, as ordering needs).
    return channel, spec.replace(instruments=(*spec.instruments, EventFeed(channel.put)))


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

    __slots__ = ("_stream",)

    def __init__(self, stream: ResultStream) -> None:
        self._stream = stream.reading_as(_event_channel)

    def __aiter__(self) -> EventStream:
        self._stream.__aiter__()  # raises for a consumed stream
        return self

    def __anext__(self) -> Awaitable[Event]:
        # The stream's own coroutine, not one wrapped in another: no frame more per event.
        return self._stream.__anext__()  # type: ignore[return-value]  # the channel's items are events

    async def aclose(self) -> None:
        """Stop the run: cancel every call in flight and wait until they have ended."""
        await self._stream.aclose()

    def _put(self, item: Any) -> None:
        """Queue ``item`` among the events of a running stream (on the loop): a
        StateGraph's custom chunk wakes its reader so."""
        channel = self._stream._channel
        if channel is not None:
            _put(channel, item)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stream.__aexit__(*exc_info)  # a second reader's misuse closes nothing
