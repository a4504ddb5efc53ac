"""Marble cases for bounded merges, as data, so one case can run against several operators.

The ``mergeconcat_*`` cases are RxPY's own (ReactiveX/RxPY
``tests/test_observable/test_merge.py``); the last few are edge cases that RxPY does not
cover (queued sources dropped on error, synchronous inners, the unbounded form).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.coldobservable import ColdObservable
from reactivex.testing.hotobservable import HotObservable
from reactivex.testing.recorded import Recorded
from reactivex.testing.subscription import Subscription

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


@dataclass(frozen=True)
class MergeCase:
    """An outer hot Observable of cold inner Observables, described by its messages."""

    name: str
    max_concurrent: int | None
    #: (absolute time the inner source arrives, its cold messages with relative times)
    inners: tuple[tuple[int, tuple[Recorded[Any], ...]], ...]
    #: the outer's terminal message, or None for an outer that never ends
    outer_end: Recorded[Any] | None
    disposed: int = 1000
    expected: tuple[Recorded[Any], ...] | None = None
    expected_outer: tuple[Subscription, ...] | None = None
    expected_inner: tuple[tuple[Subscription, ...], ...] | None = field(default=None)


def build(
    scheduler: TestScheduler, case: MergeCase
) -> tuple[HotObservable[Observable[Any]], list[ColdObservable[Any]]]:
    colds = [scheduler.create_cold_observable(*msgs) for _, msgs in case.inners]
    messages: list[Recorded[Any]] = [
        on_next(time, cold) for (time, _), cold in zip(case.inners, colds)
    ]
    if case.outer_end is not None:
        messages.append(case.outer_end)
    return scheduler.create_hot_observable(*messages), colds


Operator = Callable[[Observable[Observable[Any]]], Observable[Any]]


def run_case(
    case: MergeCase, operator: Operator
) -> tuple[list[Recorded[Any]], list[Subscription], list[list[Subscription]]]:
    """Messages seen, outer subscriptions and each inner's subscriptions."""
    scheduler = TestScheduler()
    xs, colds = build(scheduler, case)
    results = scheduler.start(lambda: xs.pipe(operator), disposed=case.disposed)
    return (
        results.messages,
        xs.subscriptions,
        [cold.subscriptions for cold in colds],
    )


def _rx_basic(third: tuple[Recorded[Any], ...]) -> Any:
    """The four inner sources of RxPY's ``mergeconcat_basic``, with its third one given."""
    return (
        (210, (on_next(50, 1), on_next(100, 2), on_next(120, 3), on_completed(140))),
        (260, (on_next(20, 4), on_next(70, 5), on_completed(200))),
        (270, third),
        (320, (on_next(210, 9), on_next(240, 10), on_completed(300))),
    )


_INNER3 = (on_next(10, 6), on_next(90, 7), on_next(110, 8), on_completed(130))
_EX = "ex"

CASES: tuple[MergeCase, ...] = (
    MergeCase(
        name="basic",
        max_concurrent=2,
        inners=_rx_basic(_INNER3),
        outer_end=on_completed(400),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 6),
            on_next(440, 7),
            on_next(460, 8),
            on_next(670, 9),
            on_next(700, 10),
            on_completed(760),
        ),
        expected_outer=(subscribe(200, 400),),
        # The third source waits for the first to end (350); the fourth for the second (460).
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 460),),
            (subscribe(350, 480),),
            (subscribe(460, 760),),
        ),
    ),
    MergeCase(
        name="basic_long",
        max_concurrent=2,
        inners=(
            (210, (on_next(50, 1), on_next(100, 2), on_next(120, 3), on_completed(140))),
            (260, (on_next(20, 4), on_next(70, 5), on_completed(300))),
            (270, _INNER3),
            (320, (on_next(210, 9), on_next(240, 10), on_completed(300))),
        ),
        outer_end=on_completed(400),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 6),
            on_next(440, 7),
            on_next(460, 8),
            on_next(690, 9),
            on_next(720, 10),
            on_completed(780),
        ),
        expected_outer=(subscribe(200, 400),),
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 560),),
            (subscribe(350, 480),),
            (subscribe(480, 780),),
        ),
    ),
    MergeCase(
        name="basic_wide",
        max_concurrent=3,
        inners=(
            (210, (on_next(50, 1), on_next(100, 2), on_next(120, 3), on_completed(140))),
            (260, (on_next(20, 4), on_next(70, 5), on_completed(300))),
            (270, _INNER3),
            (420, (on_next(210, 9), on_next(240, 10), on_completed(300))),
        ),
        outer_end=on_completed(450),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(280, 6),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 7),
            on_next(380, 8),
            on_next(630, 9),
            on_next(660, 10),
            on_completed(720),
        ),
        expected_outer=(subscribe(200, 450),),
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 560),),
            (subscribe(270, 400),),
            (subscribe(420, 720),),
        ),
    ),
    MergeCase(
        name="basic_late",
        max_concurrent=3,
        inners=(
            (210, (on_next(50, 1), on_next(100, 2), on_next(120, 3), on_completed(140))),
            (260, (on_next(20, 4), on_next(70, 5), on_completed(300))),
            (270, _INNER3),
            (420, (on_next(210, 9), on_next(240, 10), on_completed(300))),
        ),
        outer_end=on_completed(750),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(280, 6),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 7),
            on_next(380, 8),
            on_next(630, 9),
            on_next(660, 10),
            on_completed(750),
        ),
        expected_outer=(subscribe(200, 750),),
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 560),),
            (subscribe(270, 400),),
            (subscribe(420, 720),),
        ),
    ),
    MergeCase(
        name="disposed",
        max_concurrent=2,
        inners=_rx_basic(_INNER3),
        outer_end=on_completed(400),
        disposed=450,
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 6),
            on_next(440, 7),
        ),
        expected_outer=(subscribe(200, 400),),
        # Disposing the merge at 450 disposes both live sources; the queued fourth never starts.
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 450),),
            (subscribe(350, 450),),
            (),
        ),
    ),
    MergeCase(
        name="outer_error",
        max_concurrent=2,
        inners=_rx_basic(_INNER3),
        outer_end=on_error(400, _EX),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 6),
            on_error(400, _EX),
        ),
        expected_outer=(subscribe(200, 400),),
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 400),),
            (subscribe(350, 400),),
            (),
        ),
    ),
    MergeCase(
        name="inner_error",
        max_concurrent=2,
        inners=_rx_basic(
            (on_next(10, 6), on_next(90, 7), on_next(110, 8), on_error(140, _EX))
        ),
        outer_end=on_completed(400),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 6),
            on_next(440, 7),
            on_next(460, 8),
            on_error(490, _EX),
        ),
        expected_outer=(subscribe(200, 400),),
        # The error at 490 disposes the fourth source, started at 460.
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 460),),
            (subscribe(350, 490),),
            (subscribe(460, 490),),
        ),
    ),
    MergeCase(
        name="inner_error_drops_queue",
        max_concurrent=1,
        inners=(
            (210, (on_next(10, 1), on_error(20, _EX))),
            (220, (on_next(10, 2), on_completed(20))),
            (225, (on_next(10, 3), on_completed(20))),
        ),
        outer_end=on_completed(300),
        expected=(on_next(220, 1), on_error(230, _EX)),
        expected_outer=(subscribe(200, 230),),
        expected_inner=((subscribe(210, 230),), (), ()),
    ),
    MergeCase(
        name="outer_never_completes",
        max_concurrent=1,
        inners=(
            (210, (on_next(10, 1), on_completed(20))),
            (215, (on_next(10, 2), on_completed(20))),
        ),
        outer_end=None,
        expected=(on_next(220, 1), on_next(240, 2)),
        expected_outer=(subscribe(200, 1000),),
        expected_inner=((subscribe(210, 230),), (subscribe(230, 250),)),
    ),
    MergeCase(
        name="same_tick_inners",
        max_concurrent=1,
        inners=(
            (210, (on_completed(0),)),
            (210, (on_next(0, 1), on_completed(0))),
            (210, (on_next(5, 2), on_completed(5))),
        ),
        outer_end=on_completed(210),
        expected=(on_next(210, 1), on_next(215, 2), on_completed(215)),
        expected_outer=(subscribe(200, 210),),
        expected_inner=(
            (subscribe(210, 210),),
            (subscribe(210, 210),),
            (subscribe(210, 215),),
        ),
    ),
    MergeCase(
        name="unbounded",
        max_concurrent=None,
        inners=_rx_basic(_INNER3),
        outer_end=on_completed(400),
        expected=(
            on_next(260, 1),
            on_next(280, 4),
            on_next(280, 6),
            on_next(310, 2),
            on_next(330, 3),
            on_next(330, 5),
            on_next(360, 7),
            on_next(380, 8),
            on_next(530, 9),
            on_next(560, 10),
            on_completed(620),
        ),
        expected_outer=(subscribe(200, 400),),
        expected_inner=(
            (subscribe(210, 350),),
            (subscribe(260, 460),),
            (subscribe(270, 400),),
            (subscribe(320, 620),),
        ),
    ),
)


def reference(max_concurrent: int | None) -> Operator:
    """reactivex's own operator for the same bound.

    ``ops.merge(max_concurrent=None)`` is not the unbounded merge in reactivex 6.1 (it
    merges the outer Observable with no other source, emitting the inner Observables
    themselves), so the unbounded reference is ``merge_all``.
    """
    from reactivex import operators as ops

    if max_concurrent is None:
        return ops.merge_all()
    return ops.merge(max_concurrent=max_concurrent)


__all__ = ["CASES", "MergeCase", "build", "reference", "run_case"]
