"""ObserverChannel: the observer an asyncio consumer awaits, fed from any thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from operators._channel import ObserverChannel


async def _drain(channel: ObserverChannel[Any]) -> list[Any]:
    got: list[Any] = []
    while True:
        try:
            got.append(await channel.get())
        except StopAsyncIteration:
            return got


async def test_items_then_end(loop_errors: list[Any]) -> None:
    channel: ObserverChannel[int] = ObserverChannel(asyncio.get_running_loop())
    channel.on_next(1)
    channel.on_next(2)
    channel.on_completed()
    channel.on_next(3)  # after the end: dropped

    assert await _drain(channel) == [1, 2]
    assert channel.finished


async def test_error_after_the_items_then_finished(loop_errors: list[Any]) -> None:
    channel: ObserverChannel[int] = ObserverChannel(asyncio.get_running_loop())
    boom = KeyError("x")
    channel.on_next(1)
    channel.on_error(boom)

    assert await channel.get() == 1
    assert not channel.finished
    with pytest.raises(KeyError) as caught:
        await channel.get()
    assert caught.value is boom
    assert channel.finished


async def test_loop_thread_signals_queue_behind_signals_still_hopping(
    loop_errors: list[Any],
) -> None:
    channel: ObserverChannel[str] = ObserverChannel(asyncio.get_running_loop())
    def produce() -> None:
        for i in range(3):
            channel.on_next(f"w{i}")

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()
    # The worker's items are queued on the loop but not delivered yet.
    channel.on_next("loop")
    channel.on_completed()

    assert await _drain(channel) == ["w0", "w1", "w2", "loop"]


def test_signal_after_the_loop_closed_does_not_fail_the_producer() -> None:
    loop = asyncio.new_event_loop()
    channel: ObserverChannel[int] = ObserverChannel(loop)
    loop.close()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            channel.on_next(1)
            channel.on_completed()
        except BaseException as exc:  # pragma: no cover - the failure being tested
            failures.append(exc)

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()

    assert failures == []
