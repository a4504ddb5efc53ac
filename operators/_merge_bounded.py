"""The one scheduling primitive: a merge with at most ``max_concurrent`` live inner subscriptions.

``BoundedMerge`` is shared by :func:`operators.merge_bounded` (inner sources pushed by an
outer Observable, waiting ones kept in a ``deque``) and :func:`operators.merge_lazy` (inner
sources pulled from an iterator only when a slot frees), and by the pipeline's run engine,
which pulls ready calls and DAG nodes through the same slots.

Why not ``reactivex.operators.merge(max_concurrent=n)``: it keeps waiting sources in a list
and takes them with ``list.pop(0)`` (O(n) per dispatch), and it can only be pushed to, so a
generator of a million calls would be drained into that list before the first one finishes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar, Union

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from ._policy import check_cap

__all__ = ["BoundedMerge", "Inner", "merge_bounded_", "merge_lazy_"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class Occupant(Protocol[_T_co]):
    """An inner source that is its own observer (see :class:`Inner`)."""

    def occupy(self, merge: BoundedMerge[Any]) -> Inner[Any]:
        """Start in a slot of ``merge``; return the slot's observer (done if it already ended)."""
        ...


Source = Union[Observable[_T], Occupant[_T]]
Pull = Callable[[], "Source[_T] | None"]


class Inner(abc.ObserverBase[_T]):
    """The observer of one inner source, holding its slot in the merge.

    The merge makes one per subscribed Observable. A source that is its own observer
    (the pipeline's call attempts) subclasses it and is returned by its ``occupy(merge)``
    method: the merge then takes it as the inner directly, with no subscription and no
    observer in between, and it emits through :meth:`on_next` and :meth:`on_completed`
    (or calls ``merge.observer`` and ``merge.inner_completed`` itself, on the merge's
    thread). When the merge stops it calls :meth:`stop` (an occupant overrides it to end
    its work; by default it disposes the ``subscription``).
    """

    __slots__ = ("merge", "subscription", "done")

    def __init__(self, merge: BoundedMerge[_T]) -> None:
        self.merge = merge
        self.subscription: abc.DisposableBase | None = None
        self.done = False

    def on_next(self, value: _T) -> None:
        merge = self.merge
        if not self.done and not merge.stopped:
            with merge.lock:
                merge.observer.on_next(value)

    def on_error(self, error: Exception) -> None:
        if not self.done:
            self.done = True
            self.merge.error(error)

    def on_completed(self) -> None:
        if not self.done:
            self.done = True
            self.merge.inner_completed(self)

    def stop(self) -> None:
        """The merge stopped: end the source of this slot."""
        if self.subscription is not None:
            self.subscription.dispose()


class BoundedMerge(Generic[_T]):
    """State of one subscription to a bounded merge.

    Inner sources arrive by :meth:`push` (queued in a deque while every slot is busy) or are
    taken by ``pull`` when a slot frees: ``pull()`` returns the next inner source, or ``None``
    when nothing is available right now. Whoever feeds the merge calls
    :meth:`outer_completed` once no more sources will come; the merge completes when that
    has happened and no inner source is live or queued.

    Every method must be called on the thread the inner sources emit on (the event loop, in
    the pipeline), or under ``lock``; the lock is re-entrant, as reactivex's merge's is.
    """

    __slots__ = (
        "observer",
        "max_concurrent",
        "scheduler",
        "pull",
        "active",
        "queue",
        "inners",
        "outer_done",
        "stopped",
        "lock",
        "_pending",
        "_subscribing",
    )

    def __init__(
        self,
        observer: abc.ObserverBase[_T],
        max_concurrent: int | None,
        scheduler: abc.SchedulerBase | None = None,
        pull: Pull[_T] | None = None,
    ) -> None:
        self.observer = observer
        self.max_concurrent = max_concurrent
        self.scheduler = scheduler
        self.pull = pull
        self.active = 0
        self.queue: deque[Source[_T]] = deque()
        self.inners: set[Inner[_T]] = set()
        self.outer_done = False
        self.stopped = False
        self.lock = threading.RLock()
        # Subscribing can complete an inner source synchronously, which frees a slot and
        # subscribes the next one: a trampoline keeps that iterative instead of recursive.
        self._pending: deque[Source[_T]] = deque()
        self._subscribing = False

    # -- feeding -------------------------------------------------------------------------

    def has_free_slot(self) -> bool:
        return self.max_concurrent is None or self.active < self.max_concurrent

    def push(self, source: Source[_T]) -> None:
        """Subscribe ``source`` now if a slot is free, else queue it (FIFO)."""
        with self.lock:
            if self.stopped:
                return
            if self.max_concurrent is None or self.active < self.max_concurrent:
                self.active += 1
                self._subscribe(source)
            else:
                self.queue.append(source)

    def fill(self) -> None:
        """Pull sources into every free slot (pull mode)."""
        pull = self.pull
        if pull is None:
            return
        with self.lock:
            while not self.stopped and (
                self.max_concurrent is None or self.active < self.max_concurrent
            ):
                source = pull()
                if source is None or self.stopped:
                    break
                self.active += 1
                self._subscribe(source)
            self._maybe_complete()

    def outer_completed(self) -> None:
        """No more sources will be pushed or pulled."""
        with self.lock:
            self.outer_done = True
            self._maybe_complete()

    def error(self, error: Exception) -> None:
        """Stop: dispose every live inner source, then signal ``error`` downstream."""
        with self.lock:
            if self.stopped:
                return
            self.dispose()
            self.observer.on_error(error)

    def dispose(self) -> None:
        """Dispose every live inner source; queued ones are dropped. Emits nothing."""
        with self.lock:
            self.stopped = True
            inners, self.inners = self.inners, set()
            self.queue.clear()
            self._pending.clear()
        for inner in inners:
            inner.done = True
            inner.stop()

    # -- internals -----------------------------------------------------------------------

    def inner_completed(self, inner: Inner[_T]) -> None:
        with self.lock:
            self.inners.discard(inner)
            if self.stopped:
                return
            if self.queue:
                self._subscribe(self.queue.popleft())
                return
            if self.pull is not None:
                source = self.pull()
                if source is not None and not self.stopped:
                    self._subscribe(source)
                    return
            self.active -= 1
            self._maybe_complete()

    def _maybe_complete(self) -> None:
        if self.outer_done and self.active == 0 and not self.queue and not self.stopped:
            self.stopped = True
            self.observer.on_completed()

    def _subscribe(self, source: Source[_T]) -> None:
        # A source that completes while it is subscribed frees its slot, and the next
        # source is subscribed here, in this loop, not deeper in the stack.
        if self._subscribing:
            self._pending.append(source)
            return
        if self.stopped:
            return
        self._subscribing = True
        try:
            pending = self._pending
            while True:
                occupy = getattr(source, "occupy", None)
                if occupy is not None:  # a source that is its own inner observer
                    inner: Inner[_T] = occupy(self)
                    if not inner.done:
                        if self.stopped:  # stopped while it started: it ends here
                            inner.done = True
                            inner.stop()
                            return
                        self.inners.add(inner)
                else:
                    inner = Inner(self)
                    self.inners.add(inner)
                    try:
                        subscription = source.subscribe(inner, scheduler=self.scheduler)  # type: ignore[union-attr]
                    except Exception as exc:  # a source that fails to subscribe fails the merge
                        inner.done = True
                        self.error(exc)
                        return
                    if inner.done:
                        subscription.dispose()
                    else:
                        inner.subscription = subscription
                if not pending or self.stopped:
                    return
                source = pending.popleft()
        finally:
            self._subscribing = False


def merge_bounded_(
    max_concurrent: int | None,
) -> Callable[[Observable[Observable[_T]]], Observable[_T]]:
    _check_max(max_concurrent)

    def merge_bounded(source: Observable[Observable[_T]]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            merge: BoundedMerge[_T] = BoundedMerge(observer, max_concurrent, scheduler)

            def on_error(error: Exception) -> None:
                merge.error(error)

            outer = source.subscribe(
                merge.push, on_error, merge.outer_completed, scheduler=scheduler
            )

            def dispose() -> None:
                outer.dispose()
                merge.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    return merge_bounded


def merge_lazy_(
    sources: Iterable[Observable[_T]], max_concurrent: int | None
) -> Observable[_T]:
    _check_max(max_concurrent)

    def subscribe(
        observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        # Per-subscription state: every subscription iterates the iterable afresh.
        iterator: Iterator[Observable[_T]] = iter(sources)
        merge: BoundedMerge[_T]

        def pull() -> Observable[_T] | None:
            if merge.outer_done:
                return None
            try:
                return next(iterator)
            except StopIteration:
                merge.outer_done = True
                return None
            except Exception as exc:  # the iterable itself failed: that ends the merge
                merge.error(exc)
                return None

        merge = BoundedMerge(observer, max_concurrent, scheduler, pull)
        merge.fill()
        return Disposable(merge.dispose)

    return Observable(subscribe)


def _check_max(max_concurrent: Any) -> None:
    check_cap("max_concurrent", max_concurrent)
