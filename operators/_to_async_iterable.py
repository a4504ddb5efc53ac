"""``to_async_iterable``: read an Observable with ``async for``, as an aiostream ``Stream``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from aiostream import operator
from reactivex import Observable, abc
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ._channel import ObserverChannel

__all__ = ["to_async_iterable_"]

_T = TypeVar("_T")


@operator
async def to_async_iterable_(
    source: Observable[_T], scheduler: abc.SchedulerBase | None = None
) -> AsyncIterator[_T]:
    # An aiostream operator: the body runs when iteration starts, once per iteration, so
    # the Observable stays cold until someone reads, and ``async with xs.stream()`` runs
    # the ``finally`` below before the block is left.
    loop = asyncio.get_running_loop()
    channel: ObserverChannel[_T] = ObserverChannel(loop)
    subscription = source.subscribe(
        channel.on_next,
        channel.on_error,
        channel.on_completed,
        scheduler=scheduler if scheduler is not None else AsyncIOScheduler(loop),
    )
    try:
        while True:
            try:
                item = await channel.get()
            except StopAsyncIteration:
                return
            yield item
    finally:
        # Early exit (break, aclose, cancellation, an error in the consumer) must release
        # the source, or it keeps producing for nobody (rxjs #5492, cyclotron #1).
        subscription.dispose()
