"""The leanest hand-written equivalent: a bounded pool of ``cap`` worker tasks.

``cap`` workers pull calls lazily from one shared iterator, run each (under
``asyncio.timeout`` in the ``asyncio_workers`` variant, with no timeout at all in
``asyncio_workers_notimeout``) with ``try/except`` into a result tuple, and put results on
an ``asyncio.Queue(maxsize=cap)`` the consumer reads in completion order: a worker whose
result the consumer has not taken yet waits, so neither the source nor the results pile up
(memory O(cap)). Results are kept by index when the calls come in a list (as a run keeps
them) and dropped for a generator. No task per call: this is the floor a library's per-call
cost is measured against. With no cap there is no pool to size, so each call gets a task.

(Before: the result queue was unbounded, and nothing was kept for a list.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sized
from typing import Any

from . import Fn, Peer

_DONE = object()


class AsyncioWorkersPeer(Peer):
    key = "asyncio_workers"
    label = "asyncio (worker pool)"
    note = (
        "cap worker tasks pulling lazily from one iterator, asyncio.timeout per call, "
        "try/except into a result, results through an asyncio.Queue(maxsize=cap); no task per call"
    )
    timeouts = True

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        if self.timeouts:
            async def guarded(i: int, a: Any) -> tuple[bool, int, str, Any]:
                try:
                    async with asyncio.timeout(timeout):
                        return True, i, "success", await fn(a)
                except TimeoutError as e:
                    return False, i, "timeout", e
                except Exception as e:  # noqa: BLE001 - isolation is the point
                    return False, i, "error", e
        else:
            async def guarded(i: int, a: Any) -> tuple[bool, int, str, Any]:
                try:
                    return True, i, "success", await fn(a)
                except Exception as e:  # noqa: BLE001 - isolation is the point
                    return False, i, "error", e

        return await drive_pool(guarded, args, cap, on_result)


class AsyncioWorkersNoTimeoutPeer(AsyncioWorkersPeer):
    key = "asyncio_workers_notimeout"
    label = "asyncio (worker pool, no timeout)"
    note = ("the bounded worker pool without asyncio.timeout (the timeout argument is "
            "ignored): the floor for skillstream declared without a timeout")
    timeouts = False


async def drive_pool(
    guarded: Callable[[int, Any], Awaitable[Any]],
    args: Iterable[Any],
    cap: int | None,
    on_result: Callable[[], None] | None = None,
    succeeded: Callable[[Any], bool] | None = None,
    keep: bool = True,
) -> int:
    """``cap`` workers pulling ``guarded(i, a)`` lazily from one iterator, results through
    a queue of ``cap`` read in completion order (a task per call with no cap); returns how
    many results ``succeeded`` (by default: a tuple whose first item says whether it did,
    checked without a call). With ``keep``, a list's results are kept to the end."""
    kept: list[Any] | None = [] if keep and isinstance(args, Sized) else None
    items = iter(enumerate(args))
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=cap or 0)

    async def worker() -> None:
        for i, a in items:  # one shared iterator: each worker takes the next call
            await queue.put(await guarded(i, a))
        await queue.put(_DONE)

    async def one(i: int, a: Any) -> None:
        await queue.put(await guarded(i, a))

    ok = 0
    if cap is None:
        tasks = [asyncio.create_task(one(i, a)) for i, a in items]
        pending = len(tasks)
    else:
        tasks = [asyncio.create_task(worker()) for _ in range(cap)]
        pending = -1
    workers_left = cap or 0
    try:
        while pending != 0 and (cap is None or workers_left):
            r = await queue.get()
            if r is _DONE:
                workers_left -= 1
                continue
            pending -= 1
            if (r[0] if succeeded is None else succeeded(r)):
                ok += 1
            if kept is not None:
                kept.append(r)
            if on_result is not None:
                on_result()
    finally:
        for t in tasks:
            t.cancel()
    return ok
