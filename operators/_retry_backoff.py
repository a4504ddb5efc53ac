"""``retry_backoff``: re-subscribe after a matching error, waiting an exponential backoff.

reactivex's own ``retry(n)`` re-subscribes at once and has no ``retry_when``.
The try counter lives inside ``subscribe``, so every subscription
gets its own budget (the shared-budget bug of RxPY 4, #765).
"""

from __future__ import annotations

import random as _random
import threading
from collections.abc import Callable
from typing import Any, TypeVar, Union

from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from ._policy import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MULTIPLIER,
    backoff_wait,
    error_matcher,
)
from ._scheduling import time_scheduler
from ._policy import check_seconds

__all__ = ["retry_backoff_", "RetryOn"]

_T = TypeVar("_T")

RetryOn = Union[
    type[BaseException],
    tuple[type[BaseException], ...],
    Callable[[Exception], bool],
]


def retry_backoff_(
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    multiplier: float = DEFAULT_MULTIPLIER,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    jitter: float = 0.0,
    on: RetryOn = (Exception,),
    scheduler: abc.SchedulerBase | None = None,
    random: Callable[[float, float], float] = _random.uniform,
) -> Callable[[Observable[_T]], Observable[_T]]:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be an int >= 1, got {attempts!r}")
    check_seconds("backoff", backoff)
    check_seconds("jitter", jitter)
    check_seconds("max_backoff", max_backoff)
    if (
        isinstance(multiplier, bool)
        or not isinstance(multiplier, (int, float))
        or not multiplier >= 1
    ):
        raise ValueError(f"multiplier must be a number >= 1, got {multiplier!r}")
    matches = _matcher(on)

    def delay_after(failures: int) -> float:
        wait = backoff_wait(failures, backoff, multiplier, max_backoff)
        if jitter > 0:
            wait += random(0.0, jitter)
        return wait

    def retry_backoff(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T],
            scheduler_: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            wait_scheduler = time_scheduler(scheduler, scheduler_)
            tries = 0
            current = SerialDisposable()
            lock = threading.RLock()
            # A source that fails synchronously inside subscribe, retried without delay,
            # would otherwise recurse once per try: a trampoline keeps it a loop.
            subscribing = False
            again = False

            def attempt() -> None:
                nonlocal subscribing, again, tries
                with lock:
                    if subscribing:
                        again = True
                        return
                    subscribing = True
                    try:
                        again = True
                        while again and not current.is_disposed:
                            again = False
                            tries += 1
                            inner = SingleAssignmentDisposable()
                            current.disposable = inner
                            inner.disposable = source.subscribe(
                                observer.on_next,
                                on_error,
                                observer.on_completed,
                                scheduler=scheduler_,
                            )
                    finally:
                        subscribing = False

            def on_error(error: BaseException) -> None:
                if not isinstance(error, Exception) or tries >= attempts:
                    observer.on_error(error)  # type: ignore[arg-type]
                    return
                try:
                    retry = matches(error)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if not retry:
                    observer.on_error(error)
                    return
                try:
                    wait = delay_after(tries)
                except Exception as exc:  # a user-supplied random() failed
                    observer.on_error(exc)
                    return
                if wait <= 0:
                    attempt()
                else:
                    current.disposable = wait_scheduler.schedule_relative(wait, retry_now)

            def retry_now(_: abc.SchedulerBase, __: Any = None) -> None:
                attempt()

            attempt()
            return current

        return Observable(subscribe)

    return retry_backoff


def _matcher(on: Any) -> Callable[[Exception], bool]:
    return error_matcher(on)
