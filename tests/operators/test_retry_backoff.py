"""retry_backoff: fresh re-subscriptions after matching errors, with exponential waits."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.coldobservable import ColdObservable

from operators import retry_backoff

from tests.support.rx_recordings import error_of

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def _flaky(scheduler: TestScheduler, error: Exception) -> ColdObservable[int]:
    return scheduler.create_cold_observable(on_next(10, 1), on_error(20, error))


def test_waits_grow_exponentially_and_the_last_error_is_forwarded() -> None:
    scheduler = TestScheduler()
    boom = OSError("flaky")
    xs = _flaky(scheduler, boom)

    results = scheduler.start(
        lambda: xs.pipe(retry_backoff(4, backoff=10, multiplier=2, max_backoff=100)), disposed=2000
    )

    # tries at 200, 230 (+10), 270 (+20), 330 (+40); each fails 20 after it starts.
    assert xs.subscriptions == [
        subscribe(200, 220),
        subscribe(230, 250),
        subscribe(270, 290),
        subscribe(330, 350),
    ]
    assert results.messages == [
        on_next(210, 1),
        on_next(240, 1),
        on_next(280, 1),
        on_next(340, 1),
        on_error(350, boom),
    ]
    assert error_of(results.messages[-1]) is boom


def test_success_on_a_later_try_completes() -> None:
    scheduler = TestScheduler()
    tries = [
        _flaky(scheduler, OSError("1")),
        _flaky(scheduler, OSError("2")),
        scheduler.create_cold_observable(on_next(5, "ok"), on_completed(5)),
        scheduler.create_cold_observable(on_next(5, "never used"), on_completed(5)),
    ]
    made = 0

    def next_try(_: Any) -> Observable[Any]:
        nonlocal made
        made += 1
        return tries[made - 1]

    results = scheduler.start(
        lambda: reactivex.defer(next_try).pipe(retry_backoff(5, backoff=100, max_backoff=1000))
    )

    assert results.messages == [
        on_next(210, 1),
        on_next(330, 1),
        on_next(545, "ok"),
        on_completed(545),
    ]
    assert [t.subscriptions for t in tries] == [
        [subscribe(200, 220)],
        [subscribe(320, 340)],
        [subscribe(540, 545)],
        [],
    ]


def test_max_backoff_caps_the_exponential_part() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())

    scheduler.start(
        lambda: xs.pipe(retry_backoff(4, backoff=10, multiplier=10, max_backoff=25)),
        disposed=2000,
    )

    # waits 10, then min(100, 25), then min(1000, 25)
    assert xs.subscriptions == [
        subscribe(200, 220),
        subscribe(230, 250),
        subscribe(275, 295),
        subscribe(320, 340),
    ]


def test_jitter_adds_a_uniform_draw_to_each_wait() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())
    draws: list[tuple[float, float]] = []

    def fake_uniform(a: float, b: float) -> float:
        draws.append((a, b))
        return b - 1  # whole ticks: ColdObservable records disposal times as ints

    scheduler.start(
        lambda: xs.pipe(retry_backoff(3, backoff=10, max_backoff=1000, jitter=5, random=fake_uniform))
    )

    assert draws == [(0.0, 5), (0.0, 5)]
    assert xs.subscriptions == [
        subscribe(200, 220),
        subscribe(234, 254),  # 10 + 4
        subscribe(278, 298),  # 20 + 4
    ]


def test_jitter_alone_without_backoff() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())

    scheduler.start(lambda: xs.pipe(retry_backoff(2, backoff=0, jitter=4, random=lambda a, b: b)))

    assert xs.subscriptions == [subscribe(200, 220), subscribe(224, 244)]


def test_no_backoff_resubscribes_at_once() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())

    results = scheduler.start(lambda: xs.pipe(retry_backoff(3, backoff=0)))

    assert xs.subscriptions == [subscribe(200, 220), subscribe(220, 240), subscribe(240, 260)]
    assert [m.time for m in results.messages] == [210, 230, 250, 260]


def test_one_attempt_never_retries() -> None:
    scheduler = TestScheduler()
    boom = OSError()
    xs = _flaky(scheduler, boom)

    results = scheduler.start(lambda: xs.pipe(retry_backoff(1, backoff=1)))

    assert results.messages == [on_next(210, 1), on_error(220, boom)]
    assert xs.subscriptions == [subscribe(200, 220)]


@pytest.mark.parametrize(
    "on",
    [(KeyError,), KeyError, lambda exc: isinstance(exc, KeyError)],
    ids=["tuple", "type", "predicate"],
)
def test_errors_not_matching_on_are_forwarded_at_once(on: Any) -> None:
    scheduler = TestScheduler()
    boom = ValueError("not retryable")
    xs = _flaky(scheduler, boom)

    results = scheduler.start(lambda: xs.pipe(retry_backoff(5, backoff=1, on=on)))

    assert results.messages == [on_next(210, 1), on_error(220, boom)]
    assert xs.subscriptions == [subscribe(200, 220)]


@pytest.mark.parametrize(
    "on",
    [(KeyError,), KeyError, lambda exc: isinstance(exc, KeyError)],
    ids=["tuple", "type", "predicate"],
)
def test_errors_matching_on_are_retried(on: Any) -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, KeyError("retry me"))

    scheduler.start(lambda: xs.pipe(retry_backoff(2, backoff=1, on=on)))

    assert xs.subscriptions == [subscribe(200, 220), subscribe(221, 241)]


def test_predicate_raising_sends_its_exception() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())
    broken = RuntimeError("predicate broke")

    def on(exc: Exception) -> bool:
        raise broken

    results = scheduler.start(lambda: xs.pipe(retry_backoff(3, backoff=0, on=on)))

    assert results.messages == [on_next(210, 1), on_error(220, broken)]
    assert error_of(results.messages[-1]) is broken
    assert xs.subscriptions == [subscribe(200, 220)]


@pytest.mark.parametrize(
    "signal", [asyncio.CancelledError(), KeyboardInterrupt()], ids=type
)
def test_base_exceptions_are_never_retried(signal: BaseException) -> None:
    scheduler = TestScheduler()
    subscribed: list[float] = []

    def fail_at_20(observer: abc.ObserverBase[Any], _: Any = None) -> abc.DisposableBase:
        subscribed.append(scheduler.clock)
        return scheduler.schedule_relative(20, lambda *_: observer.on_error(signal))  # type: ignore[arg-type]

    errors: list[BaseException] = []
    reactivex.create(fail_at_20).pipe(
        retry_backoff(5, backoff=0, on=(BaseException,))
    ).subscribe(on_error=errors.append, scheduler=scheduler)
    scheduler.advance_to(500)

    assert subscribed == [0]
    assert errors == [signal] and errors[0] is signal


def test_disposing_during_a_wait_cancels_the_retry() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())

    results = scheduler.start(
        lambda: xs.pipe(retry_backoff(3, backoff=100, max_backoff=1000)), disposed=250
    )

    assert results.messages == [on_next(210, 1)]
    assert xs.subscriptions == [subscribe(200, 220)]


def test_disposing_during_a_try_disposes_it() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())

    scheduler.start(lambda: xs.pipe(retry_backoff(3, backoff=10)), disposed=240)

    assert xs.subscriptions == [subscribe(200, 220), subscribe(230, 240)]


def test_every_subscription_gets_its_own_budget() -> None:
    scheduler = TestScheduler()
    xs = _flaky(scheduler, OSError())
    ys = xs.pipe(retry_backoff(2, backoff=10))
    second = scheduler.create_observer()
    scheduler.schedule_absolute(500, lambda sch, _: ys.subscribe(second, scheduler=sch))

    first = scheduler.start(lambda: ys)

    assert [m.time for m in first.messages] == [210, 240, 250]
    assert [m.time for m in second.messages] == [510, 540, 550]
    assert xs.subscriptions == [
        subscribe(200, 220),
        subscribe(230, 250),
        subscribe(500, 520),
        subscribe(530, 550),
    ]


def test_synchronous_failures_without_backoff_do_not_recurse() -> None:
    attempts = 5 * sys.getrecursionlimit()
    tries = 0
    boom = OSError("at once")

    def fail_now(observer: abc.ObserverBase[Any], _: Any = None) -> abc.DisposableBase:
        nonlocal tries
        tries += 1
        observer.on_error(boom)
        return Disposable()

    errors: list[Exception] = []
    reactivex.create(fail_now).pipe(retry_backoff(attempts, backoff=0)).subscribe(
        on_error=errors.append
    )

    assert tries == attempts
    assert errors == [boom]


def test_huge_exponent_is_capped_not_overflowed() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_error(0, OSError()))

    # 2.0 ** 1100 overflows a float; the wait must still be max_backoff.
    results = scheduler.start(
        lambda: xs.pipe(retry_backoff(1200, backoff=1, max_backoff=1)), disposed=10_000
    )

    assert results.messages[-1].time == 200 + 1199
    assert len(xs.subscriptions) == 1200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, r"^attempts must be an int >= 1, got 0$"),
        ({"attempts": True}, r"^attempts must be an int >= 1, got True$"),
        ({"attempts": 2, "backoff": -1}, r"^backoff must be a number of seconds >= 0, got -1$"),
        ({"attempts": 2, "jitter": -0.5}, r"^jitter must be a number of seconds >= 0, got -0.5$"),
        ({"attempts": 2, "max_backoff": -2}, r"^max_backoff must be a number of seconds >= 0, got -2$"),
        ({"attempts": 2, "multiplier": 0.5}, r"^multiplier must be a number >= 1, got 0.5$"),
    ],
)
def test_rejects_bad_numbers(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_backoff(**kwargs)


@pytest.mark.parametrize("on", [(KeyError, "x"), 3, ("KeyError",)])
def test_rejects_bad_on(on: Any) -> None:
    with pytest.raises(TypeError, match=r"^on must "):
        retry_backoff(2, on=on)


def test_the_defaults_and_waits_are_pipeline_retrys() -> None:
    # One policy behind both faces: the same defaults, the same wait for every try
    # (overflow included), the same matching.
    import inspect

    from pipeline import Retry

    params = inspect.signature(retry_backoff).parameters
    r = Retry()
    assert (params["attempts"].default, params["backoff"].default, params["multiplier"].default,
            params["max_backoff"].default, params["jitter"].default) == (
        r.attempts, r.backoff, r.multiplier, r.max_backoff, r.jitter)
    # The operator waits what Retry.delay says (one function computes both).
    scheduler = TestScheduler()
    xs = scheduler.create_cold_observable(on_error(0, OSError("x")))
    scheduler.start(lambda: xs.pipe(retry_backoff(4, backoff=0.5, multiplier=3, max_backoff=7)),
                    created=0, subscribed=0, disposed=10**9)
    starts = [s.subscribe for s in xs.subscriptions]
    policy = Retry(attempts=4, backoff=0.5, multiplier=3, max_backoff=7)
    assert [b - a for a, b in zip(starts, starts[1:])] == [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]
    assert policy.delay(2000) == 7  # overflow-safe: capped
