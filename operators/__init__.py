"""Pipeable reactivex operators and async-iterator bridges that skillstream is built from.

Each public function here is thin: it lazily imports its implementation from a private
module (one operator per module) and returns the operator, as ``reactivex.operators`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from reactivex import Observable

_T = TypeVar("_T")

__all__ = ["merge_bounded", "merge_lazy"]


def merge_bounded(
    max_concurrent: int | None,
) -> Callable[[Observable[Observable[_T]]], Observable[_T]]:
    """Merge an Observable of Observables, at most ``max_concurrent`` subscribed at once.

    Emits exactly what ``reactivex.operators.merge(max_concurrent=n)`` emits, at the same
    times, with the same subscriptions and disposals, but waiting sources sit in a deque:
    O(1) work per dispatch instead of ``list.pop(0)``.

    .. marble::
        :alt: merge_bounded(1)

        ---a---b---|
        -1-2-|
        --3-|
        [ merge_bounded(1) ]
        ----1-2--3-|

    Concurrency: at most ``max_concurrent`` inner sources are subscribed; the others wait
    in arrival order. Order: items in the order they are emitted. An error from any source
    disposes every other live source and is forwarded; queued sources are dropped.

    Examples:
        >>> import reactivex
        >>> from operators import merge_bounded
        >>> xs = reactivex.of(reactivex.of(1, 2), reactivex.of(3))
        >>> xs.pipe(merge_bounded(1)).run()
        3

    Args:
        max_concurrent: Most inner sources subscribed at once; ``None`` for no bound.

    Returns:
        An operator from ``Observable[Observable[T]]`` to ``Observable[T]``.

    Raises:
        ValueError: if ``max_concurrent`` is not ``None`` nor an int >= 1.
    """
    from ._merge_bounded import merge_bounded_

    return merge_bounded_(max_concurrent)


def merge_lazy(
    sources: Iterable[Observable[_T]], max_concurrent: int | None
) -> Observable[_T]:
    """Merge sources taken from an iterable only when a slot frees.

    The lazy form of :func:`merge_bounded`: ``next()`` is called on the iterator only when
    fewer than ``max_concurrent`` sources are live, so a generator of a million sources is
    merged in memory proportional to ``max_concurrent``. Each subscription iterates
    ``sources`` afresh.

    Concurrency: at most ``max_concurrent`` live sources. Order: items as emitted. An
    error from a source, or from the iterator itself, disposes the live sources and is
    forwarded; the iterator is not advanced further.

    Examples:
        >>> import reactivex
        >>> from operators import merge_lazy
        >>> merge_lazy((reactivex.of(i) for i in range(3)), 2).pipe(
        ...     reactivex.operators.to_list()).run()
        [0, 1, 2]

    Args:
        sources: Iterable of inner Observables, consumed lazily.
        max_concurrent: Most sources subscribed at once; ``None`` for no bound.

    Returns:
        The merged Observable.

    Raises:
        ValueError: if ``max_concurrent`` is not ``None`` nor an int >= 1.
    """
    from ._merge_bounded import merge_lazy_

    return merge_lazy_(sources, max_concurrent)
