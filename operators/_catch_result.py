"""``catch_result``: a source error becomes one value (a fallback, an error record) and the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable, abc

__all__ = ["catch_result_"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def catch_result_(
    handler: Callable[[Exception], _R],
) -> Callable[[Observable[_T]], Observable[_T | _R]]:
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")

    def catch_result(source: Observable[_T]) -> Observable[_T | _R]:
        def subscribe(
            observer: abc.ObserverBase[_T | _R],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            def on_error(error: BaseException) -> None:
                # KeyboardInterrupt, SystemExit and asyncio's CancelledError are not
                # failures of the source: they must keep travelling (DESIGN semantics 2).
                if not isinstance(error, Exception):
                    observer.on_error(error)  # type: ignore[arg-type]
                    return
                try:
                    value = handler(error)
                except Exception as exc:
                    observer.on_error(exc)
                    return
                observer.on_next(value)
                observer.on_completed()

            return source.subscribe(
                observer.on_next, on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return catch_result
