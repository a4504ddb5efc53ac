"""BoundedMerge with sources that are their own inner observer (the ``occupy`` protocol the
pipeline's call attempts use): the same slots, completion and disposal as subscriptions."""

from __future__ import annotations

from typing import Any

from reactivex import abc

from operators._merge_bounded import BoundedMerge, Inner


class Collect(abc.ObserverBase[Any]):
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.completed = False

    def on_next(self, value: Any) -> None:
        self.items.append(value)

    def on_error(self, error: Exception) -> None:
        raise error

    def on_completed(self) -> None:
        self.completed = True


class Slot(Inner[Any]):
    """Occupies a slot until finish() is called (or ends at once with ``sync``)."""

    __slots__ = ("value", "disposed")

    def __init__(self, merge: BoundedMerge[Any], value: Any) -> None:
        super().__init__(merge)
        self.value = value
        self.disposed = False

    def finish(self) -> None:
        self.on_next(self.value)
        self.on_completed()

    def stop(self) -> None:
        self.disposed = True


class Occupant:
    def __init__(self, value: Any, live: list[Slot], sync: bool = False) -> None:
        self.value, self.live, self.sync = value, live, sync

    def occupy(self, merge: BoundedMerge[Any]) -> Slot:
        slot = Slot(merge, self.value)
        self.live.append(slot)
        if self.sync:
            slot.finish()
        return slot


def test_occupants_hold_their_slots_and_pull_the_next_as_they_end() -> None:
    live: list[Slot] = []
    sources = iter([Occupant(i, live) for i in range(5)])
    observer = Collect()
    merge: BoundedMerge[Any] = BoundedMerge(observer, 2, None, lambda: next(sources, None))
    merge.fill()
    assert [s.value for s in live] == [0, 1] and len(merge.inners) == 2
    live[1].finish()
    assert [s.value for s in live] == [0, 1, 2] and observer.items == [1]
    live[0].finish()
    live[2].finish()
    live[3].finish()
    live[4].finish()
    merge.outer_completed()
    assert observer.items == [1, 0, 2, 3, 4] and observer.completed and not merge.inners


def test_occupants_that_end_at_once_run_iteratively_and_leave_no_inner() -> None:
    live: list[Slot] = []
    sources = iter([Occupant(i, live, sync=True) for i in range(5000)])  # deeper than recursion allows
    observer = Collect()
    merge: BoundedMerge[Any] = BoundedMerge(observer, 1, None, lambda: next(sources, None))
    merge.fill()
    merge.outer_completed()
    assert observer.items == list(range(5000)) and observer.completed and not merge.inners


def test_disposing_the_merge_disposes_live_occupants_only() -> None:
    live: list[Slot] = []
    sources = iter([Occupant(i, live) for i in range(3)])
    merge: BoundedMerge[Any] = BoundedMerge(Collect(), 3, None, lambda: next(sources, None))
    merge.fill()
    live[0].finish()
    merge.dispose()
    assert [s.disposed for s in live] == [False, True, True]
    live[1].finish()  # too late: a disposed slot emits nothing
    assert merge.observer.items == [0]  # type: ignore[attr-defined]


def test_an_occupant_started_while_the_merge_stops_is_disposed() -> None:
    merge: BoundedMerge[Any] = BoundedMerge(Collect(), 2, None, None)
    live: list[Slot] = []

    class StopsTheMerge(Occupant):
        def occupy(self, merge: BoundedMerge[Any]) -> Slot:
            slot = super().occupy(merge)
            merge.dispose()  # e.g. the run failed while this call started
            return slot

    merge.push(StopsTheMerge(0, live))  # type: ignore[arg-type]
    assert live[0].disposed and live[0].done and not merge.inners
