"""Which scheduler a time-dependent operator uses when the caller names none."""

from __future__ import annotations

import asyncio

from reactivex import abc
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ["time_scheduler"]


def time_scheduler(
    explicit: abc.SchedulerBase | None, subscribe_scheduler: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """The operator's own scheduler, else the subscriber's, else the running loop's.

    reactivex falls back to ``TimeoutScheduler`` (one thread per timer), so a timer set by
    a subscription made on an asyncio loop would fire on another thread and call into
    loop-only code (RxPY #476). Subscribing from inside a running loop
    therefore defaults to that loop; only outside any loop is a thread timer used.
    """
    if explicit is not None:
        return explicit
    if subscribe_scheduler is not None:
        return subscribe_scheduler
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return TimeoutScheduler.singleton()
    return AsyncIOScheduler(loop)
