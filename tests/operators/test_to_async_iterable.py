"""to_async_iterable: an Observable read with async for, as an aiostream Stream."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import reactivex
from aiostream import Stream
from reactivex import abc
from reactivex import operators as ops
from reactivex.disposable import Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from operators import to_async_iterable


class Probe:
    """A cold source that records its subscriptions and disposals."""

    def __init__(self) -> None:
        self.subscribed = 0
        self.disposed = 0
        self.observers: list[abc.ObserverBase[Any]] = []

    def observable(self) -> reactivex.Observable[Any]:
        def subscribe(observer: abc.ObserverBase[Any], _: Any = None) -> Disposable:
            self.subscribed += 1
            self.observers.append(observer)

            def dispose() -> None:
                self.disposed += 1

            return Disposable(dispose)

        return reactivex.create(subscribe)


async def _read(xs: Stream[Any]) -> list[Any]:
    got: list[Any] = []
    async with xs.stream() as streamer:
        async for x in streamer:
            got.append(x)
    return got


async def test_yields_every_item_then_ends(loop_errors: list[Any]) -> None:
    assert await _read(to_async_iterable(reactivex.of(1, 2, 3))) == [1, 2, 3]


async def test_subscribes_when_iteration_starts_and_again_for_each_iteration(
    loop_errors: list[Any],
) -> None:
    probe = Probe()
    xs = to_async_iterable(probe.observable())
    assert probe.subscribed == 0

    async with xs.stream() as streamer:
        reading = asyncio.ensure_future(streamer.__anext__())
        await asyncio.sleep(0)
        assert probe.subscribed == 1
        probe.observers[0].on_next("a")
        assert await reading == "a"
        probe.observers[0].on_completed()
        assert [x async for x in streamer] == []

    probe.observers.clear()
    async with xs.stream() as streamer:
        reading = asyncio.ensure_future(streamer.__anext__())
        await asyncio.sleep(0)
        probe.observers[0].on_completed()
        with pytest.raises(StopAsyncIteration):
            await reading
    assert probe.subscribed == 2


async def test_error_comes_after_the_items_before_it(loop_errors: list[Any]) -> None:
    boom = ValueError("boom")
    source = reactivex.concat(reactivex.of(1, 2), reactivex.throw(boom))
    got: list[int] = []

    with pytest.raises(ValueError, match=r"^boom$") as caught:
        async with to_async_iterable(source).stream() as streamer:
            async for x in streamer:
                got.append(x)

    assert got == [1, 2]
    assert caught.value is boom


async def test_break_disposes_the_subscription_before_the_block_is_left(
    loop_errors: list[Any],
) -> None:
    subject: Subject[int] = Subject()
    disposed: list[bool] = []
    source = subject.pipe(ops.finally_action(lambda: disposed.append(True)))
    got: list[int] = []

    async with to_async_iterable(source).stream() as streamer:
        feeding = asyncio.get_running_loop().call_soon(subject.on_next, 1)
        async for x in streamer:
            got.append(x)
            break
        assert not disposed  # still inside the block
    feeding.cancel()

    assert got == [1]
    assert disposed == [True]
    assert not subject.observers
    subject.on_next(2)  # nobody is listening any more: must not raise


async def test_exception_in_the_consumer_disposes_the_subscription(
    loop_errors: list[Any],
) -> None:
    probe = Probe()

    with pytest.raises(RuntimeError, match=r"^consumer failed$"):
        async with to_async_iterable(probe.observable()).stream() as streamer:
            reading = asyncio.ensure_future(streamer.__anext__())
            await asyncio.sleep(0)
            probe.observers[0].on_next(1)
            await reading
            raise RuntimeError("consumer failed")

    assert (probe.subscribed, probe.disposed) == (1, 1)


async def test_cancelling_the_consumer_disposes_the_subscription(
    loop_errors: list[Any],
) -> None:
    probe = Probe()
    first = asyncio.Event()

    async def consume() -> None:
        async with to_async_iterable(probe.observable()).stream() as streamer:
            async for _ in streamer:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    probe.observers[0].on_next("x")
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (probe.subscribed, probe.disposed) == (1, 1)


async def test_items_from_a_worker_thread_arrive_in_order(loop_errors: list[Any]) -> None:
    emitted_on: list[int] = []

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> Disposable:
        def work() -> None:
            emitted_on.append(threading.get_ident())
            for i in range(2000):
                observer.on_next(i)
            observer.on_completed()

        threading.Thread(target=work).start()
        return Disposable()

    got = await _read(to_async_iterable(reactivex.create(subscribe)))

    assert got == list(range(2000))
    assert emitted_on and emitted_on[0] != threading.get_ident()


async def test_error_from_a_worker_thread_after_items(loop_errors: list[Any]) -> None:
    boom = OSError("worker failed")

    def subscribe(observer: abc.ObserverBase[int], _: Any = None) -> Disposable:
        def work() -> None:
            observer.on_next(1)
            observer.on_error(boom)

        threading.Thread(target=work).start()
        return Disposable()

    got: list[int] = []
    with pytest.raises(OSError) as caught:
        async with to_async_iterable(reactivex.create(subscribe)).stream() as streamer:
            async for x in streamer:
                got.append(x)

    assert got == [1]
    assert caught.value is boom


async def test_item_from_a_thread_is_not_lost_when_the_loop_completes_first(
    loop_errors: list[Any],
) -> None:
    # One source, two threads: the item is sent from a worker, then the completion from
    # the loop's own thread while the item is still on its way to the loop.
    def subscribe(observer: abc.ObserverBase[str], _: Any = None) -> Disposable:
        worker = threading.Thread(target=observer.on_next, args=("from worker",))
        worker.start()
        worker.join()
        observer.on_completed()
        return Disposable()

    assert await _read(to_async_iterable(reactivex.create(subscribe))) == ["from worker"]


async def test_explicit_scheduler_is_given_to_subscribe(loop_errors: list[Any]) -> None:
    given: list[Any] = []
    mine = AsyncIOScheduler(asyncio.get_running_loop())

    def subscribe(observer: abc.ObserverBase[int], scheduler: Any = None) -> Disposable:
        given.append(scheduler)
        observer.on_completed()
        return Disposable()

    assert await _read(to_async_iterable(reactivex.create(subscribe), scheduler=mine)) == []
    assert given == [mine]


async def test_default_scheduler_is_the_running_loop(loop_errors: list[Any]) -> None:
    fired_on: list[int] = []
    source = reactivex.timer(0).pipe(ops.do_action(lambda _: fired_on.append(threading.get_ident())))

    assert await _read(to_async_iterable(source)) == [0]
    assert fired_on == [threading.get_ident()]
