"""Pipeable reactivex operators and async-iterator bridges that skillstream is built from.

Each public function here is thin: it lazily imports its implementation from a private
module (one operator per module) and returns the operator, as ``reactivex.operators`` does.
Time-dependent operators take ``scheduler=``; without one they use the subscriber's
scheduler, else the running asyncio loop, and only outside any loop a thread timer.
"""

from __future__ import annotations

import random as _random
from collections.abc import AsyncIterable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from reactivex import Observable, abc

from ._policy import DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MULTIPLIER

if TYPE_CHECKING:
    from aiostream import Stream

_T = TypeVar("_T")
_R = TypeVar("_R")
_A = TypeVar("_A")

__all__ = [
    "catch_result",
    "chain_reducers",
    "concat",
    "dedupe_by",
    "from_async_iterable",
    "merge_bounded",
    "merge_dicts",
    "merge_lazy",
    "retry_backoff",
    "timeout_result",
    "to_async_iterable",
    "top_k",
]


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
        >>> sorted(merge_lazy((reactivex.of(i) for i in range(3)), 2).pipe(
        ...     reactivex.operators.to_list()).run())
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


# -- timeouts, errors, retries ------------------------------------------------------------


def timeout_result(
    seconds: float,
    on_timeout: Callable[[], _R],
    scheduler: abc.SchedulerBase | None = None,
) -> Callable[[Observable[_T]], Observable[_T | _R]]:
    """End the source at a deadline with a value, not an error.

    If the source has not completed ``seconds`` after subscription, it is disposed, and
    ``on_timeout()`` is emitted followed by completion. Items emitted before the deadline
    pass through; a source that ends (completes or fails) by the deadline is left alone.
    Unlike ``reactivex.operators.timeout``, expiry is never a bare ``Exception("Timeout")``.

    .. marble::
        :alt: timeout_result(5, lambda: "t")

        -1-2------------|
        [ timeout_result(5, lambda: "t") ]
        -1-2-(t|)

    Examples:
        >>> import reactivex
        >>> from reactivex import operators as ops
        >>> from operators import timeout_result
        >>> reactivex.never().pipe(timeout_result(0.01, lambda: "too slow")).run()
        'too slow'
        >>> reactivex.of(1, 2).pipe(timeout_result(5, lambda: None), ops.to_list()).run()
        [1, 2]

    Args:
        seconds: Time allowed from subscription to completion, in seconds (ticks on a
            virtual-time scheduler).
        on_timeout: Called at the deadline for the value to emit; if it raises, that
            exception is signalled instead.
        scheduler: Scheduler for the deadline timer; see the module docstring for the
            default.

    Returns:
        An operator from ``Observable[T]`` to ``Observable[T | R]``.

    Raises:
        ValueError: if ``seconds`` is negative or not a number.
        TypeError: if ``on_timeout`` is not callable.
    """
    from ._timeout_result import timeout_result_

    return timeout_result_(seconds, on_timeout, scheduler)


def catch_result(
    handler: Callable[[Exception], _R],
) -> Callable[[Observable[_T]], Observable[_T | _R]]:
    """Turn a source error into one value, then complete.

    Items before the error pass through; the error becomes ``handler(error)``, emitted
    as the last item. ``BaseException``s that are not ``Exception``s (``KeyboardInterrupt``,
    ``asyncio.CancelledError``) are not caught: they are forwarded as they are.

    .. marble::
        :alt: catch_result(lambda e: "f")

        -1-2-#
        [ catch_result(lambda e: "f") ]
        -1-2-(f|)

    Examples:
        >>> import reactivex
        >>> from operators import catch_result
        >>> reactivex.throw(ValueError("boom")).pipe(
        ...     catch_result(lambda exc: f"fallback after {exc}")).run()
        'fallback after boom'

    Args:
        handler: Called with the source's exception; returns the value to emit. If it
            raises, its exception is signalled with ``on_error``.

    Returns:
        An operator from ``Observable[T]`` to ``Observable[T | R]``.

    Raises:
        TypeError: if ``handler`` is not callable.
    """
    from ._catch_result import catch_result_

    return catch_result_(handler)


def retry_backoff(
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    multiplier: float = DEFAULT_MULTIPLIER,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    jitter: float = 0.0,
    on: type[BaseException]
    | tuple[type[BaseException], ...]
    | Callable[[Exception], bool] = (Exception,),
    scheduler: abc.SchedulerBase | None = None,
    random: Callable[[float, float], float] = _random.uniform,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Re-subscribe to the source after a matching error, waiting longer each time.

    The same policy, with the same defaults, as ``pipeline.Retry`` (3 tries, 0.1 s, x2,
    at most 10 s): both compute their waits with one function (``operators._policy``).

    After failed try ``n`` the source is re-subscribed (a fresh subscription) once
    ``min(backoff * multiplier ** (n - 1), max_backoff) + random(0, jitter)`` seconds
    have passed on ``scheduler``. Each subscription to the result has its own count of
    tries. Items emitted by failed tries pass through. The last try's error, an error
    that does not match ``on``, and any ``BaseException`` that is not an ``Exception``
    are forwarded at once. Disposing during a wait cancels the wait.

    .. marble::
        :alt: retry_backoff(3, backoff=2)

        -1-#
        [ retry_backoff(3, backoff=2) ]
        -1---1-----1-#

    Examples:
        >>> import reactivex
        >>> from operators import retry_backoff
        >>> tries = []
        >>> def attempt(_):
        ...     tries.append(1)
        ...     return reactivex.throw(OSError("flaky")) if len(tries) < 3 else reactivex.of("ok")
        >>> reactivex.defer(attempt).pipe(retry_backoff(3, backoff=0.01)).run()
        'ok'
        >>> len(tries)
        3

    Args:
        attempts: Tries made in all, the first included (1 means never retry).
        backoff: Wait before the first retry, in seconds.
        multiplier: Factor applied to the wait after each further failure (>= 1).
        max_backoff: Cap on the exponential part of the wait, in seconds.
        jitter: Upper bound of a uniform random extra wait, in seconds.
        on: Which errors to retry: exception types, or a predicate on the exception. If
            the predicate raises, its exception is signalled.
        scheduler: Scheduler the waits run on; see the module docstring for the default.
            An ``AsyncIOScheduler`` is not thread-safe: with a source that fails on a
            worker thread, move its signals onto the loop first.
        random: ``random(a, b)`` returning a float in ``[a, b]``, for the jitter.

    Returns:
        An operator from ``Observable[T]`` to ``Observable[T]``.

    Raises:
        ValueError: if ``attempts`` < 1, a wait is negative, or ``multiplier`` < 1.
        TypeError: if ``on`` is neither exception types nor a callable.
    """
    from ._retry_backoff import retry_backoff_

    return retry_backoff_(
        attempts, backoff, multiplier, max_backoff, jitter, on, scheduler, random
    )


# -- reducers for scan ------------------------------------------------------------------


def concat(acc: Sequence[Any] | None, item: Any) -> list[Any]:
    """Reducer: append ``item`` to the list ``acc``, or extend it by a list or tuple.

    Never mutates ``acc`` (``None`` counts as ``[]``). A result-like ``item`` (with
    ``ok``, ``fallback_used`` and ``value``, as ``pipeline.SkillResult``) contributes its
    ``value`` when ``ok or fallback_used``; otherwise ``acc`` is returned unchanged.

    .. marble::
        :alt: scan(concat, [])

        -1---(2,3)-----4---------|
        [ scan(concat, []) ]
        -[1]-[1,2,3]---[1,2,3,4]-|

    Examples:
        >>> from operators import concat
        >>> concat([1], 2), concat([1], [2, 3]), concat(None, (4,))
        ([1, 2], [1, 2, 3], [4])

    Args:
        acc: The list so far.
        item: A value, a list or tuple of values, or a result-like object.

    Returns:
        A new list.
    """
    from ._reducers import concat_

    return concat_(acc, item)


def merge_dicts(acc: Mapping[Any, Any] | None, item: Any) -> dict[Any, Any]:
    """Reducer: ``{**acc, **item}``, later keys winning.

    Never mutates ``acc`` (``None`` counts as ``{}``). ``item`` may be a mapping, or an
    iterable of mappings (merged in order) or of key-value pairs (or a mix); ``None`` and
    ``()`` add nothing. A result-like ``item`` contributes
    its ``value`` when ``ok or fallback_used``; otherwise ``acc`` is returned unchanged.

    .. marble::
        :alt: scan(merge_dicts, {})

        -{a:1}---{b:2}---------{a:3}---------|
        [ scan(merge_dicts, {}) ]
        -{a:1}---{a:1,b:2}-----{a:3,b:2}-----|

    Examples:
        >>> from operators import merge_dicts
        >>> merge_dicts({"a": 1, "b": 2}, {"a": 3})
        {'a': 3, 'b': 2}

    Args:
        acc: The dict so far.
        item: A mapping, mappings, pairs, or a result-like object whose value is one.

    Returns:
        A new dict (or ``acc`` itself when nothing is added).

    Raises:
        TypeError: if ``item`` (or one of its elements) is neither a mapping nor a
            key-value pair (a string is neither); the message names ``merge_dicts`` and
            the offending value.
    """
    from ._reducers import merge_dicts_

    return merge_dicts_(acc, item)


def dedupe_by(
    key: str | Callable[[Any], Hashable],
) -> Callable[[Sequence[Any] | None, Any], list[Any]]:
    """Reducer factory: :func:`concat`, then keep the first item seen for each key.

    .. marble::
        :alt: scan(dedupe_by("id"), [])

        -{id:1,v:a}---{id:1,v:b}---{id:2}-------------|
        [ scan(dedupe_by("id"), []) ]
        -[{1,a}]------[{1,a}]------[{1,a},{2}]--------|

    Examples:
        >>> from operators import dedupe_by
        >>> seen = dedupe_by("url")([{"url": "a", "n": 1}], [{"url": "a", "n": 2}, {"url": "b"}])
        >>> seen
        [{'url': 'a', 'n': 1}, {'url': 'b'}]

    Args:
        key: A dict key or attribute name (a ``str``), or a function of the item.

    Returns:
        A reducer ``(acc, item) -> list``.

    Raises:
        TypeError: if ``key`` is neither a ``str`` nor callable. The reducer raises a
            ``KeyError`` (also an ``AttributeError``) for an item without the ``str`` key,
            naming the reducer, the item and the key.
    """
    from ._reducers import dedupe_by_

    return dedupe_by_(key)


def top_k(
    k: int, key: str | Callable[[Any], Any]
) -> Callable[[Sequence[Any] | None, Any], list[Any]]:
    """Reducer factory: :func:`concat`, then keep the ``k`` largest by ``key``.

    The result is sorted by ``key``, largest first; ties keep their arrival order.

    .. marble::
        :alt: scan(top_k(2, key=abs), [])

        -1----(-5)------3---------|
        [ scan(top_k(2, key=abs), []) ]
        -[1]--[-5,1]----[-5,3]----|

    Examples:
        >>> from operators import top_k
        >>> top_k(2, key="score")([{"score": 1}], [{"score": 3}, {"score": 2}])
        [{'score': 3}, {'score': 2}]

    Args:
        k: How many items to keep (>= 1).
        key: A dict key or attribute name (a ``str``), or a function of the item.

    Returns:
        A reducer ``(acc, item) -> list``.

    Raises:
        ValueError: if ``k`` < 1.
        TypeError: if ``key`` is neither a ``str`` nor callable. The reducer raises a
            ``KeyError`` (also an ``AttributeError``) for an item without the ``str`` key,
            and a ``TypeError`` for keys that cannot be ordered, each naming the reducer
            and the offending item or keys.
    """
    from ._reducers import top_k_

    return top_k_(k, key)


def chain_reducers(*reducers: Callable[[_A, Any], _A]) -> Callable[[_A, Any], _A]:
    """Reducer: the first reducer takes the item, each following one tidies the result.

    ``chain_reducers(r1, r2, r3)(acc, item)`` is ``r3(r2(r1(acc, item), ()), ())``: the
    later reducers run with no new item, as a normalization pass.

    Note:
        Each step sees only ``acc``: with ``dedupe_by`` before ``top_k``, an item that
        ``top_k`` has dropped is forgotten, so a later duplicate of it can enter.

    .. marble::
        :alt: scan(chain_reducers(dedupe_by("u"), top_k(1, "s")), [])

        -{u:a,s:1}---{u:a,s:9}---{u:b,s:5}---|
        [ scan(chain_reducers(dedupe_by("u"), top_k(1, "s")), []) ]
        -[{a,1}]-----[{a,1}]-----[{b,5}]-----|

    Examples:
        >>> from operators import chain_reducers, dedupe_by, top_k
        >>> best = chain_reducers(dedupe_by("url"), top_k(1, key="score"))
        >>> best([{"url": "a", "score": 1}], [{"url": "a", "score": 9}, {"url": "b", "score": 5}])
        [{'url': 'b', 'score': 5}]

    Args:
        *reducers: One or more reducers; all but the first must accept ``()`` as item.

    Returns:
        The combined reducer.

    Raises:
        ValueError: if no reducer is given.
        TypeError: if a reducer is not callable.
    """
    from ._reducers import chain_reducers_

    return chain_reducers_(*reducers)


# -- bridges to and from asyncio ---------------------------------------------------------


def to_async_iterable(
    observable: Observable[_T], scheduler: abc.SchedulerBase | None = None
) -> Stream[_T]:
    """Read an Observable with ``async for``: an aiostream ``Stream`` of its items.

    Each iteration subscribes afresh when it starts, yields items as they come, ends when
    the Observable completes, and raises its error after the items before it. Leaving
    ``async with xs.stream()`` early (``break``, an exception, cancellation) disposes the
    subscription before the block is left. The Observable may emit from any thread:
    items hop onto the loop in order. Items are buffered without bound until read.

    .. marble::
        :alt: to_async_iterable

        -1-2-3-|
        [ to_async_iterable ]
        async for: 1, 2, 3

    Examples:
        >>> import asyncio, reactivex
        >>> from operators import to_async_iterable
        >>> async def main():
        ...     xs = to_async_iterable(reactivex.of(1, 2, 3))
        ...     async with xs.stream() as streamer:
        ...         return [x async for x in streamer]
        >>> asyncio.run(main())
        [1, 2, 3]

    Args:
        observable: The source.
        scheduler: Passed to ``subscribe``; defaults to an ``AsyncIOScheduler`` on the
            running loop, so time operators in the source fire on the loop.

    Returns:
        An ``aiostream.Stream``; iterate it inside ``async with xs.stream() as s:``.

    Raises:
        RuntimeError: when iterated outside a running asyncio loop.
    """
    from ._to_async_iterable import to_async_iterable_

    return to_async_iterable_(observable, scheduler)


def from_async_iterable(aiterable: AsyncIterable[_T]) -> Observable[_T]:
    """An Observable of an async iterable's items, pumped by an asyncio task.

    On each subscription a task on the running loop (or on the ``AsyncIOScheduler``'s
    loop given to ``subscribe``) iterates ``aiterable`` and emits every item, then
    completes; an exception from the iterable is signalled with ``on_error``. Disposing
    cancels the task, which closes the iterable (an async generator's ``finally`` runs).
    The task gives the loop one turn after each item, so an iterable that never awaits
    cannot starve the consumer. There is no backpressure: items are pushed as fast as the
    iterable yields them. An async generator can be iterated only once: subscribe once,
    or pass a re-iterable.

    .. marble::
        :alt: from_async_iterable

        async: yield 1, yield 2, return
        [ from_async_iterable ]
        -1-2-|

    Examples:
        >>> import asyncio
        >>> from reactivex import operators as ops
        >>> from operators import from_async_iterable
        >>> async def numbers():
        ...     for i in range(3):
        ...         yield i
        >>> async def main():
        ...     return await from_async_iterable(numbers()).pipe(ops.to_list())
        >>> asyncio.run(main())
        [0, 1, 2]

    Args:
        aiterable: The async iterable to pump.

    Returns:
        A cold Observable.

    Raises:
        RuntimeError: (signalled with ``on_error``) when subscribed with neither a
            running loop nor an ``AsyncIOScheduler``.
    """
    from ._from_async_iterable import from_async_iterable_

    return from_async_iterable_(aiterable)
