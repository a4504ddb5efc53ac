"""merge_lazy: sources are pulled from the iterator only when a slot frees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler import ImmediateScheduler
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.mockobserver import MockObserver

from operators import merge_lazy

from tests.support.rx_recordings import error_of

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def test_pulls_next_source_only_when_a_slot_frees() -> None:
    scheduler = TestScheduler()
    colds = [
        scheduler.create_cold_observable(on_next(10, "a"), on_completed(100)),
        scheduler.create_cold_observable(on_next(10, "b"), on_completed(50)),
        scheduler.create_cold_observable(on_next(10, "c"), on_completed(30)),
        scheduler.create_cold_observable(on_next(5, "d"), on_completed(10)),
    ]
    pulls: list[float] = []

    def sources() -> Iterator[Observable[str]]:
        for cold in colds:
            pulls.append(scheduler.clock)
            yield cold
        pulls.append(scheduler.clock)  # the next() that finds the end

    results = scheduler.start(lambda: merge_lazy(sources(), 2))

    assert pulls == [200, 200, 250, 280, 290]
    assert results.messages == [
        on_next(210, "a"),
        on_next(210, "b"),
        on_next(260, "c"),
        on_next(285, "d"),
        on_completed(300),
    ]
    assert [c.subscriptions for c in colds] == [
        [subscribe(200, 300)],
        [subscribe(200, 250)],
        [subscribe(250, 280)],
        [subscribe(280, 290)],
    ]


class _FailsOnThirdPull:
    """An iterator that raises on its third ``next()`` and would go on afterwards."""

    def __init__(self, sources: list[Observable[Any]], error: Exception) -> None:
        self.sources = sources
        self.error = error
        self.calls = 0

    def __iter__(self) -> _FailsOnThirdPull:
        return self

    def __next__(self) -> Observable[Any]:
        self.calls += 1
        if self.calls == 3:
            raise self.error
        return self.sources[self.calls - 1 if self.calls < 3 else 2]


def test_iterator_error_ends_the_merge_after_the_items_so_far() -> None:
    scheduler = TestScheduler()
    boom = RuntimeError("generator broke")
    long = scheduler.create_cold_observable(
        on_next(10, 1), on_next(20, 2), on_next(90, 3), on_completed(300)
    )
    short = scheduler.create_cold_observable(on_next(10, 10), on_completed(50))
    never_used = scheduler.create_cold_observable(on_next(1, 99), on_completed(1))
    iterator = _FailsOnThirdPull([long, short, never_used], boom)

    results = scheduler.start(lambda: merge_lazy(iterator, 2))

    assert results.messages == [
        on_next(210, 1),
        on_next(210, 10),
        on_next(220, 2),
        on_error(250, boom),
    ]
    assert error_of(results.messages[-1]) is boom
    assert long.subscriptions == [subscribe(200, 250)]
    assert short.subscriptions == [subscribe(200, 250)]
    assert never_used.subscriptions == []
    assert iterator.calls == 3


def test_generator_raising_midway() -> None:
    scheduler = TestScheduler()
    boom = ValueError("no more")
    long = scheduler.create_cold_observable(on_next(10, "x"), on_completed(500))
    short = scheduler.create_cold_observable(on_next(5, "y"), on_completed(40))

    def sources() -> Iterator[Observable[str]]:
        yield long
        yield short
        raise boom

    results = scheduler.start(lambda: merge_lazy(sources(), 3))

    # Three free slots: all three pulls happen at subscription, the third one raising.
    assert results.messages == [on_error(200, boom)]
    assert long.subscriptions == [subscribe(200, 200)]
    assert short.subscriptions == [subscribe(200, 200)]


def test_inner_error_disposes_live_sources_and_stops_pulling() -> None:
    scheduler = TestScheduler()
    boom = RuntimeError("inner")
    failing = scheduler.create_cold_observable(on_next(10, 1), on_error(30, boom))
    live = scheduler.create_cold_observable(on_next(50, 2), on_completed(100))
    pulls = 0

    def sources() -> Iterator[Observable[int]]:
        nonlocal pulls
        for xs in [failing, live] + [reactivex.never()] * 10:
            pulls += 1
            yield xs

    results = scheduler.start(lambda: merge_lazy(sources(), 2))

    assert results.messages == [on_next(210, 1), on_error(230, boom)]
    assert live.subscriptions == [subscribe(200, 230)]
    assert pulls == 2


def test_dispose_stops_pulling() -> None:
    scheduler = TestScheduler()
    pulls: list[float] = []
    made: list[Any] = []

    def sources() -> Iterator[Observable[int]]:
        for i in range(100):
            pulls.append(scheduler.clock)
            made.append(scheduler.create_cold_observable(on_next(10, i), on_completed(20)))
            yield made[-1]

    # The disposal at 250 was scheduled before the third source's item at 250: it wins.
    results = scheduler.start(lambda: merge_lazy(sources(), 1), disposed=250)

    assert results.messages == [on_next(210, 0), on_next(230, 1)]
    assert pulls == [200, 220, 240]
    assert [c.subscriptions for c in made] == [
        [subscribe(200, 220)],
        [subscribe(220, 240)],
        [subscribe(240, 250)],
    ]


def test_each_subscription_iterates_afresh() -> None:
    scheduler = TestScheduler()
    a = scheduler.create_cold_observable(on_next(10, "a"), on_completed(10))
    b = scheduler.create_cold_observable(on_next(10, "b"), on_completed(10))
    merged = merge_lazy([a, b], 1)
    second = scheduler.create_observer()
    scheduler.schedule_absolute(400, lambda sch, _: merged.subscribe(second, scheduler=sch))

    first = scheduler.start(lambda: merged)

    assert first.messages == [on_next(210, "a"), on_next(220, "b"), on_completed(220)]
    assert second.messages == [on_next(410, "a"), on_next(420, "b"), on_completed(420)]
    assert a.subscriptions == [subscribe(200, 210), subscribe(400, 410)]


def test_empty_iterable_completes_at_once() -> None:
    scheduler = TestScheduler()

    results: MockObserver[Any] = scheduler.start(lambda: merge_lazy([], 4))

    assert results.messages == [on_completed(200)]


@pytest.mark.parametrize("bound", [1, None])
def test_100k_synchronous_sources_do_not_recurse(bound: int | None) -> None:
    immediate = ImmediateScheduler()
    n = 100_000
    pulled = 0

    def sources() -> Iterator[Observable[int]]:
        nonlocal pulled
        for i in range(n):
            pulled += 1
            yield reactivex.from_iterable([i], scheduler=immediate)

    got = merge_lazy(sources(), bound).pipe(ops.count()).run()

    assert got == n
    assert pulled == n


@pytest.mark.parametrize("bad", [0, -3, 2.0, False])
def test_rejects_bad_bound(bad: Any) -> None:
    # One exception type per kind of mistake: a number below 1 is a ValueError, anything
    # but an int (a bool, a float, a string) a TypeError.
    wrong_type = isinstance(bad, bool) or not isinstance(bad, int)
    expected = (
        rf"^max_concurrent must be an int or None, got {bad!r}$"
        if wrong_type
        else rf"^max_concurrent must be >= 1 or None, got {bad!r}$"
    )
    with pytest.raises(TypeError if wrong_type else ValueError, match=expected):
        merge_lazy([], bad)
