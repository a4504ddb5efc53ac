"""``from_async_iterable``: an Observable that pumps an async iterable from an asyncio task."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterable
from typing import Any, TypeVar

from aiostream import stream
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ["from_async_iterable_"]

_T = TypeVar("_T")

# The event loop keeps only weak references to tasks, and a caller
# may drop the subscription's disposable (``xs.subscribe(print)``): the pump tasks are
# owned here until they finish.
_pumps: set[asyncio.Task[None] | concurrent.futures.Future[None]] = set()


def from_async_iterable_(aiterable: AsyncIterable[_T]) -> Observable[_T]:
    def subscribe(
        observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        loop = _target_loop(scheduler)
        disposed = False

        async def pump() -> None:
            try:
                # aiostream's context closes the async iterator (an async generator's
                # ``finally`` runs) however the loop below is left.
                async with stream.iterate(aiterable).stream() as streamer:
                    async for item in streamer:
                        if disposed:
                            return
                        observer.on_next(item)
                        # An async iterable that never suspends would otherwise push all
                        # its items before any other task runs: the consumer could not
                        # even dispose. One loop turn per item keeps the loop fair.
                        await asyncio.sleep(0)
            except asyncio.CancelledError as exc:
                if not disposed:
                    # Cancelled by someone else (loop shutdown): an observer waiting for
                    # a terminal signal must not wait forever.
                    observer.on_error(exc)  # type: ignore[arg-type]
                raise
            except Exception as exc:
                if not disposed:
                    observer.on_error(exc)
            else:
                if not disposed:
                    observer.on_completed()

        pump_task: asyncio.Task[None] | concurrent.futures.Future[None]
        if _running_loop() is loop:
            pump_task = loop.create_task(pump())
        else:
            pump_task = asyncio.run_coroutine_threadsafe(pump(), loop)
        _pumps.add(pump_task)
        pump_task.add_done_callback(_pumps.discard)

        def dispose() -> None:
            nonlocal disposed
            disposed = True
            if isinstance(pump_task, concurrent.futures.Future):
                pump_task.cancel()  # thread-safe: it hops to the loop itself
            elif _running_loop() is loop:
                pump_task.cancel()
            else:
                try:
                    loop.call_soon_threadsafe(pump_task.cancel)
                except RuntimeError:  # loop closed: the task is gone with it
                    pass

        return Disposable(dispose)

    return Observable(subscribe)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _target_loop(scheduler: Any) -> asyncio.AbstractEventLoop:
    if isinstance(scheduler, AsyncIOScheduler):
        loop: asyncio.AbstractEventLoop = scheduler._loop  # no public accessor in 6.1
        return loop
    loop_ = _running_loop()
    if loop_ is None:
        raise RuntimeError(
            "from_async_iterable needs an asyncio loop: subscribe from inside a running "
            "loop, or pass scheduler=AsyncIOScheduler(loop) to subscribe()"
        )
    return loop_
