"""The leanest hand-written equivalent: a pool of ``cap`` worker tasks.

``cap`` workers pull calls lazily from one iterator, run each under ``asyncio.timeout``
with ``try/except`` into a result tuple, and put results on a queue the consumer reads in
completion order. No task per call: this is the floor a library's per-call cost is
measured against. With no cap there is no pool to size, so each call gets a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import Fn, Peer

_DONE = object()


class AsyncioWorkersPeer(Peer):
    key = "asyncio_workers"
    label = "asyncio (worker pool)"
    note = (
        "cap worker tasks pulling lazily from one iterator, asyncio.timeout per call, "
        "try/except into a result, results through an asyncio.Queue; no task per call"
    )

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        async def guarded(i: int, a: Any) -> tuple[bool, int, str, Any]:
            try:
                async with asyncio.timeout(timeout):
                    return True, i, "success", await fn(a)
            except TimeoutError as e:
                return False, i, "timeout", e
            except Exception as e:  # noqa: BLE001 - isolation is the point
                return False, i, "error", e

        return await drive_pool(guarded, args, cap, on_result)


async def drive_pool(
    guarded: Callable[[int, Any], Awaitable[Any]],
    args: Iterable[Any],
    cap: int | None,
    on_result: Callable[[], None] | None = None,
    succeeded: Callable[[Any], bool] | None = None,
) -> int:
    """``cap`` workers pulling ``guarded(i, a)`` lazily from one iterator, results through
    a queue read in completion order (a task per call with no cap); returns how many
    results ``succeeded`` (by default: a tuple whose first item says whether it did,
    checked without a call)."""
    items = iter(enumerate(args))
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def worker() -> None:
        for i, a in items:  # one shared iterator: each worker takes the next call
            queue.put_nowait(await guarded(i, a))
        queue.put_nowait(_DONE)

    async def one(i: int, a: Any) -> None:
        queue.put_nowait(await guarded(i, a))

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
            if on_result is not None:
                on_result()
    finally:
        for t in tasks:
            t.cancel()
    return ok
