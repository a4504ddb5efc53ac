"""from_async_iterable: an Observable pumped from an async iterable by an asyncio task."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex
from reactivex import abc
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

from operators import _from_async_iterable, from_async_iterable, to_async_iterable


class Recorder(abc.ObserverBase[Any]):
    """Observer that records every signal and lets a test await the terminal one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.errors: list[BaseException] = []
        self.completed = 0
        self.threads: set[int] = set()
        self.ended = asyncio.Event()
        self.got_item = asyncio.Event()

    def on_next(self, value: Any) -> None:
        self.threads.add(threading.get_ident())
        self.items.append(value)
        self.got_item.set()

    def on_error(self, error: BaseException) -> None:
        self.errors.append(error)
        self.ended.set()

    def on_completed(self) -> None:
        self.completed += 1
        self.ended.set()


async def _count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def test_emits_every_item_then_completes(loop_errors: list[Any]) -> None:
    assert await from_async_iterable(_count(5)).pipe(ops.to_list()) == [0, 1, 2, 3, 4]


async def test_nothing_runs_before_subscription(loop_errors: list[Any]) -> None:
    started = False

    async def gen() -> AsyncIterator[int]:
        nonlocal started
        started = True
        yield 1

    xs = from_async_iterable(gen())
    await asyncio.sleep(0)
    assert not started
    assert await xs == 1
    assert started


async def test_error_after_items(loop_errors: list[Any]) -> None:
    boom = LookupError("source broke")

    async def gen() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise boom

    rec = Recorder()
    from_async_iterable(gen()).subscribe(rec)
    await rec.ended.wait()

    assert rec.items == [1, 2]
    assert rec.errors == [boom] and rec.errors[0] is boom
    assert rec.completed == 0


async def test_dispose_cancels_the_task_and_closes_the_generator(
    loop_errors: list[Any],
) -> None:
    closed = asyncio.Event()
    forever = asyncio.Event()

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            await forever.wait()
            yield 2
        finally:
            closed.set()

    rec = Recorder()
    subscription = from_async_iterable(gen()).subscribe(rec)
    await rec.got_item.wait()
    subscription.dispose()
    await closed.wait()
    await asyncio.sleep(0)

    assert rec.items == [1]
    assert rec.errors == [] and rec.completed == 0
    assert not _from_async_iterable._pumps


async def test_task_is_held_until_done_even_if_the_subscription_is_dropped(
    loop_errors: list[Any],
) -> None:
    release = asyncio.Event()

    async def gen() -> AsyncIterator[int]:
        await release.wait()
        yield 1

    rec = Recorder()
    from_async_iterable(gen()).subscribe(rec)  # disposable dropped on purpose
    await asyncio.sleep(0)

    assert len(_from_async_iterable._pumps) == 1
    release.set()
    await rec.ended.wait()
    await asyncio.sleep(0)
    assert rec.items == [1] and rec.completed == 1
    assert not _from_async_iterable._pumps


async def test_cancelled_by_someone_else_signals_cancelled_error(
    loop_errors: list[Any],
) -> None:
    async def gen() -> AsyncIterator[int]:
        await asyncio.Event().wait()
        yield 1

    rec = Recorder()
    from_async_iterable(gen()).subscribe(rec)
    await asyncio.sleep(0)
    (pump,) = _from_async_iterable._pumps
    pump.cancel()  # what loop shutdown does to leftover tasks
    await rec.ended.wait()

    assert len(rec.errors) == 1 and isinstance(rec.errors[0], asyncio.CancelledError)


def test_subscribing_without_a_loop_signals_a_runtime_error() -> None:
    rec_errors: list[BaseException] = []

    from_async_iterable(_count(1)).subscribe(on_error=rec_errors.append)

    assert len(rec_errors) == 1
    assert isinstance(rec_errors[0], RuntimeError)
    assert str(rec_errors[0]).startswith("from_async_iterable needs an asyncio loop")


async def test_subscribing_from_a_worker_thread_with_the_loops_scheduler(
    loop_errors: list[Any],
) -> None:
    loop = asyncio.get_running_loop()
    rec = Recorder()
    xs = from_async_iterable(_count(3))

    await loop.run_in_executor(
        None, lambda: xs.subscribe(rec, scheduler=AsyncIOScheduler(loop))
    )
    await rec.ended.wait()

    assert rec.items == [0, 1, 2] and rec.completed == 1
    assert rec.threads == {threading.get_ident()}


async def test_round_trip_with_early_exit_closes_the_generator(
    loop_errors: list[Any],
) -> None:
    closed = asyncio.Event()
    produced = 0

    async def gen() -> AsyncIterator[int]:
        # Never suspends by itself: the pump must still let the consumer run.
        nonlocal produced
        try:
            for i in range(1_000_000):
                produced += 1
                yield i
        finally:
            closed.set()

    got: list[int] = []
    async with to_async_iterable(from_async_iterable(gen())).stream() as streamer:
        async for x in streamer:
            got.append(x)
            if x == 2:
                break
    await closed.wait()

    assert got == [0, 1, 2]
    assert produced < 10  # stopped right after the consumer left, not after a million


async def test_take_one_stops_the_pump_and_closes_the_generator(
    loop_errors: list[Any],
) -> None:
    closed = asyncio.Event()
    produced = 0

    async def gen() -> AsyncIterator[int]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield produced
        finally:
            closed.set()

    assert await from_async_iterable(gen()).pipe(ops.take(1)) == 1
    await closed.wait()
    assert produced == 1


async def test_composes_with_rx_operators(loop_errors: list[Any]) -> None:
    xs = reactivex.merge(from_async_iterable(_count(3)), from_async_iterable(_count(2)))

    got = await xs.pipe(ops.to_list())

    assert sorted(got) == [0, 0, 1, 1, 2]


async def test_observer_failure_becomes_on_error(loop_errors: list[Any]) -> None:
    broken = ValueError("on_next failed")
    errors: list[BaseException] = []
    ended = asyncio.Event()

    def on_next(_: int) -> None:
        raise broken

    def on_error(error: BaseException) -> None:
        errors.append(error)
        ended.set()

    from_async_iterable(_count(3)).subscribe(on_next, on_error)
    await ended.wait()

    assert errors == [broken]


@pytest.mark.parametrize("n", [0, 1])
async def test_short_iterables(n: int, loop_errors: list[Any]) -> None:
    assert await from_async_iterable(_count(n)).pipe(ops.to_list()) == list(range(n))
