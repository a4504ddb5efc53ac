"""merge_bounded: RxPY's merge(max_concurrent=n) marble tests, and equivalence with it."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.scheduler import ImmediateScheduler
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from operators import merge_bounded

from tests.support.merge_cases import CASES, MergeCase, reference, run_case
from tests.support.rx_recordings import error_of


on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_marbles(case: MergeCase) -> None:
    messages, outer, inners = run_case(case, merge_bounded(case.max_concurrent))

    assert messages == list(case.expected or ())
    assert outer == list(case.expected_outer or ())
    assert inners == [list(subs) for subs in case.expected_inner or ()]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_as_reactivex_merge(case: MergeCase) -> None:
    ours = run_case(case, merge_bounded(case.max_concurrent))
    theirs = run_case(case, reference(case.max_concurrent))

    assert ours == theirs


# -- random cold observables --------------------------------------------------------------

_value = st.integers(min_value=0, max_value=99)
# Mostly completing sources arriving close together, so that sources queue up often;
# errors and never-ending sources are rarer, as each one ends or blocks the whole merge.
_inner = st.tuples(
    st.lists(st.tuples(st.integers(0, 100), _value), max_size=4),
    st.sampled_from(["completed"] * 6 + ["error", "never"]),
    st.integers(0, 120),
)


def _messages(spec: Any, index: int) -> tuple[Recorded[Any], ...]:
    items, end, end_at = spec
    msgs = [on_next(at, value) for at, value in sorted(items, key=lambda x: x[0])]
    last = max([at for at, _ in items], default=0)
    if end == "completed":
        msgs.append(on_completed(max(end_at, last)))
    elif end == "error":
        msgs.append(on_error(max(end_at, last), f"inner {index}"))
    return tuple(msgs)


@st.composite
def _cases(draw: st.DrawFn) -> MergeCase:
    arrivals = draw(st.lists(st.integers(190, 330), max_size=8))
    specs = draw(st.lists(_inner, min_size=len(arrivals), max_size=len(arrivals)))
    inners = tuple(
        (at, _messages(spec, i))
        for i, (at, spec) in enumerate(zip(sorted(arrivals), specs))
    )
    end = draw(st.sampled_from(["completed"] * 4 + ["error", "never"]))
    end_at = draw(st.integers(max(arrivals, default=200), 500))
    outer_end = {
        "completed": on_completed(end_at),
        "error": on_error(end_at, "outer"),
        "never": None,
    }[end]
    return MergeCase(
        name="random",
        max_concurrent=draw(st.sampled_from([None, 1, 2, 3])),
        inners=inners,
        outer_end=outer_end,
        disposed=draw(st.sampled_from([1000, draw(st.integers(201, 700))])),
    )


@settings(max_examples=250, deadline=None, database=None)
@given(_cases())
def test_same_as_reactivex_merge_on_random_sources(case: MergeCase) -> None:
    ours = run_case(case, merge_bounded(case.max_concurrent))
    theirs = run_case(case, reference(case.max_concurrent))

    assert ours == theirs


# -- beyond the marbles -------------------------------------------------------------------


def test_inner_error_is_forwarded_as_is() -> None:
    scheduler = TestScheduler()
    boom = KeyError("boom")
    xs = scheduler.create_hot_observable(
        on_next(210, scheduler.create_cold_observable(on_error(10, boom))),
        on_completed(300),
    )

    results = scheduler.start(lambda: xs.pipe(merge_bounded(1)))

    assert results.messages == [on_error(220, boom)]
    assert error_of(results.messages[0]) is boom


@pytest.mark.parametrize("bound", [1, 2, None])
def test_synchronous_inners_mixed_with_timed_ones_match_reactivex(bound: int | None) -> None:
    def run(operator: Any) -> tuple[list[Recorded[Any]], list[Any]]:
        scheduler = TestScheduler()
        immediate = ImmediateScheduler()
        slow = scheduler.create_cold_observable(on_next(10, "s1"), on_completed(30))
        later = scheduler.create_cold_observable(on_next(5, "l1"), on_completed(5))
        xs = scheduler.create_hot_observable(
            on_next(210, slow),
            on_next(215, reactivex.from_iterable(["i1", "i2"], scheduler=immediate)),
            on_next(215, reactivex.empty(scheduler=immediate)),
            on_next(220, later),
            on_next(220, reactivex.from_iterable(["i3"], scheduler=immediate)),
            on_completed(225),
        )
        results = scheduler.start(lambda: xs.pipe(operator))
        return results.messages, [slow.subscriptions, later.subscriptions, xs.subscriptions]

    assert run(merge_bounded(bound)) == run(reference(bound))


def test_many_synchronous_sources_do_not_recurse() -> None:
    immediate = ImmediateScheduler()
    n = 30_000
    # Every inner source completes inside subscribe, which frees its slot and starts the
    # next one from within that call: recursion would blow the stack long before n.
    sources = reactivex.from_iterable(
        [reactivex.from_iterable([i], scheduler=immediate) for i in range(n)],
        scheduler=immediate,
    )

    got = sources.pipe(merge_bounded(1), ops.to_list()).run()

    assert got == list(range(n))


def test_queued_sources_start_in_arrival_order() -> None:
    scheduler = TestScheduler()
    colds = [
        scheduler.create_cold_observable(on_next(10, i), on_completed(10))
        for i in range(5)
    ]
    xs = scheduler.create_hot_observable(
        *[on_next(210, cold) for cold in colds], on_completed(210)
    )

    results = scheduler.start(lambda: xs.pipe(merge_bounded(2)))

    assert results.messages == [
        on_next(220, 0),
        on_next(220, 1),
        on_next(230, 2),
        on_next(230, 3),
        on_next(240, 4),
        on_completed(240),
    ]
    assert [c.subscriptions for c in colds] == [
        [subscribe(210, 220)],
        [subscribe(210, 220)],
        [subscribe(220, 230)],
        [subscribe(220, 230)],
        [subscribe(230, 240)],
    ]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
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
        merge_bounded(bad)
