"""Which scheduler time-dependent operators use when none is given."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import reactivex
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import TestScheduler

from operators import retry_backoff, timeout_result
from operators._scheduling import time_scheduler


async def _first(xs: reactivex.Observable[Any]) -> Any:
    """The first item, subscribing with no scheduler; the future is resolved
    thread-safely so that a wrong (thread) scheduler shows as a thread mismatch, not a hang."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any = None, error: BaseException | None = None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def on_next(value: Any) -> None:
        loop.call_soon_threadsafe(settle, value)

    def on_error(error: Exception) -> None:
        loop.call_soon_threadsafe(settle, None, error)

    subscription = xs.subscribe(on_next, on_error)
    try:
        return await future
    finally:
        subscription.dispose()


def test_explicit_then_subscriber_scheduler() -> None:
    mine, theirs = TestScheduler(), TestScheduler()

    assert time_scheduler(mine, theirs) is mine
    assert time_scheduler(None, theirs) is theirs


def test_outside_a_loop_falls_back_to_thread_timers() -> None:
    assert time_scheduler(None, None) is TimeoutScheduler.singleton()


async def test_inside_a_loop_defaults_to_that_loop() -> None:
    chosen = time_scheduler(None, None)

    assert isinstance(chosen, AsyncIOScheduler)
    assert chosen._loop is asyncio.get_running_loop()


async def test_timeout_result_fires_on_the_loop_thread_by_default(
    loop_errors: list[Any],
) -> None:
    fired_on: list[int] = []

    def late() -> str:
        fired_on.append(threading.get_ident())
        return "late"

    # Subscribed with no scheduler at all (awaiting an Observable would pass one).
    assert await _first(reactivex.never().pipe(timeout_result(0, late))) == "late"
    assert fired_on == [threading.get_ident()]


async def test_retry_backoff_waits_on_the_loop_by_default(loop_errors: list[Any]) -> None:
    tried_on: list[int] = []

    def attempt(_: Any) -> reactivex.Observable[str]:
        tried_on.append(threading.get_ident())
        if len(tried_on) < 3:
            return reactivex.throw(OSError("again"))
        return reactivex.of("ok")

    # A nanosecond backoff: the retries go through loop timers without waiting.
    got = await _first(reactivex.defer(attempt).pipe(retry_backoff(3, backoff=1e-9)))

    assert got == "ok"
    assert tried_on == [threading.get_ident()] * 3
