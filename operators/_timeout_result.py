"""``timeout_result``: a deadline that ends the sequence with a value instead of an error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, SingleAssignmentDisposable

from ._policy import check_seconds
from ._scheduling import time_scheduler

__all__ = ["timeout_result_"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def timeout_result_(
    seconds: float,
    on_timeout: Callable[[], _R],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[_T]], Observable[_T | _R]]:
    check_seconds("seconds", seconds)
    if not callable(on_timeout):
        raise TypeError(f"on_timeout must be callable, got {on_timeout!r}")

    def timeout_result(source: Observable[_T]) -> Observable[_T | _R]:
        def subscribe(
            observer: abc.ObserverBase[_T | _R],
            scheduler_: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            timer_scheduler = time_scheduler(scheduler, scheduler_)
            # The timer may fire on another thread than the source emits on: every state
            # change and every emission happens under the lock, so the observer sees one
            # well-formed sequence whichever side wins.
            lock = threading.RLock()
            done = False
            subscription = SingleAssignmentDisposable()
            timer = SingleAssignmentDisposable()

            def on_next(value: _T) -> None:
                with lock:
                    if not done:
                        observer.on_next(value)

            def on_error(error: Exception) -> None:
                nonlocal done
                with lock:
                    if done:
                        return
                    done = True
                    timer.dispose()
                    observer.on_error(error)

            def on_completed() -> None:
                nonlocal done
                with lock:
                    if done:
                        return
                    done = True
                    timer.dispose()
                    observer.on_completed()

            def expire(_: abc.SchedulerBase, __: Any = None) -> None:
                nonlocal done
                with lock:
                    if done:
                        return
                    done = True
                    # Release the source before running user code: a slow on_timeout
                    # must not keep the timed-out work alive.
                    subscription.dispose()
                    try:
                        value = on_timeout()
                    except Exception as exc:
                        observer.on_error(exc)
                        return
                    observer.on_next(value)
                    observer.on_completed()

            # Subscribe first, then start the clock: a source that completes exactly at
            # the deadline (same virtual tick) counts as in time.
            subscription.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler_
            )
            with lock:
                if not done:
                    timer.disposable = timer_scheduler.schedule_relative(seconds, expire)
            return CompositeDisposable(subscription, timer)

        return Observable(subscribe)

    return timeout_result
