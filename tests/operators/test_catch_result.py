"""catch_result: a source error becomes one value, then completion."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex
from reactivex import abc
from reactivex.testing import ReactiveTest, TestScheduler

from operators import catch_result

from tests.support.rx_recordings import error_of

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def test_error_becomes_the_handlers_value_then_completion() -> None:
    scheduler = TestScheduler()
    boom = ValueError("boom")
    xs = scheduler.create_cold_observable(on_next(10, 1), on_next(20, 2), on_error(30, boom))
    seen: list[Exception] = []

    def handler(exc: Exception) -> str:
        seen.append(exc)
        return f"fallback for {exc}"

    results = scheduler.start(lambda: xs.pipe(catch_result(handler)))

    assert results.messages == [
        on_next(210, 1),
        on_next(220, 2),
        on_next(230, "fallback for boom"),
        on_completed(230),
    ]
    assert seen == [boom] and seen[0] is boom
    assert xs.subscriptions == [subscribe(200, 230)]


def test_completing_source_is_untouched() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(10, 1), on_completed(20))
    calls = 0

    def handler(exc: Exception) -> None:
        nonlocal calls
        calls += 1

    results = scheduler.start(lambda: xs.pipe(catch_result(handler)))

    assert results.messages == [on_next(210, 1), on_completed(220)]
    assert xs.subscriptions == [subscribe(200, 220)]
    assert calls == 0


def test_handler_raising_sends_its_exception_to_on_error() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(10, 1), on_error(30, ValueError("first")))
    second = KeyError("handler failed")

    def handler(exc: Exception) -> Any:
        raise second

    results = scheduler.start(lambda: xs.pipe(catch_result(handler)))

    assert results.messages == [on_next(210, 1), on_error(230, second)]
    assert error_of(results.messages[-1]) is second
    assert xs.subscriptions == [subscribe(200, 230)]


@pytest.mark.parametrize(
    "signal", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(3)], ids=type
)
def test_base_exceptions_are_not_caught(signal: BaseException) -> None:
    scheduler = TestScheduler()
    calls = 0

    def fail_at_20(observer: abc.ObserverBase[Any], sch: Any = None) -> abc.DisposableBase:
        return scheduler.schedule_relative(20, lambda *_: observer.on_error(signal))  # type: ignore[arg-type]

    def handler(exc: Exception) -> str:
        nonlocal calls
        calls += 1
        return "swallowed"

    # reactivex's recording observer wraps non-Exceptions in Exception(...): record by hand.
    seen: list[tuple[float, str, Any]] = []
    reactivex.create(fail_at_20).pipe(catch_result(handler)).subscribe(
        lambda v: seen.append((scheduler.clock, "N", v)),
        lambda e: seen.append((scheduler.clock, "E", e)),
        lambda: seen.append((scheduler.clock, "C", None)),
        scheduler=scheduler,
    )
    scheduler.advance_to(100)

    assert seen == [(20, "E", signal)]
    assert seen[0][2] is signal
    assert calls == 0


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"^handler must be callable, got 0$"):
        catch_result(0)  # type: ignore[arg-type]
