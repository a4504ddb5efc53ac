"""timeout_result: a deadline that ends the sequence with a value."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.notification import OnNext
from reactivex.scheduler import ImmediateScheduler
from reactivex.testing import ReactiveTest, TestScheduler

from operators import timeout_result

from tests.support.rx_recordings import error_of

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


class _Late:
    """A value object a caller might emit for a timeout (not an exception)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Late)

    def __hash__(self) -> int:
        return 0


def test_slow_source_is_disposed_and_the_timeout_value_emitted() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(50, 1), on_next(150, 2), on_completed(300))
    calls = 0

    def late() -> _Late:
        nonlocal calls
        calls += 1
        return _Late()

    results = scheduler.start(lambda: xs.pipe(timeout_result(100, late)))

    assert results.messages == [on_next(250, 1), on_next(300, _Late()), on_completed(300)]
    timed_out = results.messages[1].value
    assert isinstance(timed_out, OnNext) and isinstance(timed_out.value, _Late)
    assert xs.subscriptions == [subscribe(200, 300)]
    assert calls == 1


def test_fast_source_passes_through_untouched() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(10, "a"), on_next(20, "b"), on_completed(30))
    calls = 0

    def late() -> str:
        nonlocal calls
        calls += 1
        return "late"

    results = scheduler.start(lambda: xs.pipe(timeout_result(100, late)))

    assert results.messages == [on_next(210, "a"), on_next(220, "b"), on_completed(230)]
    assert xs.subscriptions == [subscribe(200, 230)]
    assert calls == 0


def test_completing_exactly_at_the_deadline_is_in_time() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(100, "v"), on_completed(100))

    results = scheduler.start(lambda: xs.pipe(timeout_result(100, lambda: "late")))

    assert results.messages == [on_next(300, "v"), on_completed(300)]
    assert xs.subscriptions == [subscribe(200, 300)]


def test_hot_source_deadline_counts_from_subscription() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(150, "before"), on_next(240, "x"), on_completed(260)
    )

    results = scheduler.start(lambda: xs.pipe(timeout_result(50, lambda: "late")))

    assert results.messages == [on_next(240, "x"), on_next(250, "late"), on_completed(250)]
    assert xs.subscriptions == [subscribe(200, 250)]


def test_source_error_before_the_deadline_is_forwarded() -> None:
    scheduler = TestScheduler()
    boom = ValueError("boom")
    xs = scheduler.create_cold_observable(on_next(10, 1), on_error(20, boom))
    calls = 0

    def late() -> str:
        nonlocal calls
        calls += 1
        return "late"

    results = scheduler.start(lambda: xs.pipe(timeout_result(100, late)))

    assert results.messages == [on_next(210, 1), on_error(220, boom)]
    assert error_of(results.messages[-1]) is boom
    assert xs.subscriptions == [subscribe(200, 220)]
    assert calls == 0


def test_on_timeout_raising_becomes_the_error() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(10, 1), on_completed(500))
    failure = LookupError("no fallback")

    def late() -> Any:
        raise failure

    results = scheduler.start(lambda: xs.pipe(timeout_result(50, late)))

    assert results.messages == [on_next(210, 1), on_error(250, failure)]
    assert error_of(results.messages[-1]) is failure
    assert xs.subscriptions == [subscribe(200, 250)]


def test_source_is_disposed_before_on_timeout_runs() -> None:
    scheduler = TestScheduler()
    disposed_at: list[float] = []
    seen_at_timeout: list[bool] = []

    def subscribe_never(observer: abc.ObserverBase[Any], _: Any = None) -> Disposable:
        return Disposable(lambda: disposed_at.append(scheduler.clock))

    def late() -> str:
        seen_at_timeout.append(bool(disposed_at))
        return "late"

    results = scheduler.start(
        lambda: reactivex.create(subscribe_never).pipe(timeout_result(30, late))
    )

    assert results.messages == [on_next(230, "late"), on_completed(230)]
    assert disposed_at == [230]
    assert seen_at_timeout == [True]


def test_disposing_before_the_deadline_cancels_the_timer() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(10, 1), on_completed(500))
    calls = 0

    def late() -> str:
        nonlocal calls
        calls += 1
        return "late"

    results = scheduler.start(lambda: xs.pipe(timeout_result(100, late)), disposed=250)

    assert results.messages == [on_next(210, 1)]
    assert xs.subscriptions == [subscribe(200, 250)]
    assert calls == 0


def test_zero_seconds_times_out_at_subscription() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(1, 1), on_completed(2))

    results = scheduler.start(lambda: xs.pipe(timeout_result(0, lambda: "late")))

    assert results.messages == [on_next(200, "late"), on_completed(200)]
    assert xs.subscriptions == [subscribe(200, 200)]


def test_synchronous_source_never_times_out() -> None:
    scheduler = TestScheduler()
    xs = reactivex.from_iterable([1, 2], scheduler=ImmediateScheduler())

    results = scheduler.start(lambda: xs.pipe(timeout_result(0, lambda: "late")))

    assert results.messages == [on_next(200, 1), on_next(200, 2), on_completed(200)]


def test_explicit_scheduler_runs_the_deadline() -> None:
    source_time = TestScheduler()
    deadline_time = TestScheduler()
    xs = source_time.create_cold_observable(on_next(10, 1), on_completed(500))
    seen: list[Any] = []
    xs.pipe(timeout_result(5, lambda: "late", scheduler=deadline_time)).subscribe(
        seen.append, scheduler=source_time
    )

    source_time.advance_to(100)  # far past 5 on the source's clock: not the deadline's
    assert seen == [1]
    deadline_time.advance_to(5)
    assert seen == [1, "late"]


def test_each_subscription_has_its_own_deadline() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_next(70, "v"), on_completed(70))
    ys = xs.pipe(timeout_result(50, lambda: "late"))
    second = scheduler.create_observer()
    scheduler.schedule_absolute(400, lambda sch, _: ys.subscribe(second, scheduler=sch))

    first = scheduler.start(lambda: ys)

    assert first.messages == [on_next(250, "late"), on_completed(250)]
    assert second.messages == [on_next(450, "late"), on_completed(450)]
    assert xs.subscriptions == [subscribe(200, 250), subscribe(400, 450)]


@pytest.mark.parametrize("bad", [-1, float("nan"), True, "5", None])
def test_rejects_bad_seconds(bad: Any) -> None:
    wrong_type = isinstance(bad, bool) or not isinstance(bad, (int, float))
    expected = r"^seconds must be a number of seconds, got " if wrong_type else r"^seconds must be a number of seconds >= 0, got "
    with pytest.raises(TypeError if wrong_type else ValueError, match=expected):
        timeout_result(bad, lambda: None)


def test_rejects_a_value_instead_of_a_callable() -> None:
    with pytest.raises(TypeError, match=r"^on_timeout must be callable, got 'late'$"):
        timeout_result(1, "late")  # type: ignore[arg-type]
