"""``asyncio.Semaphore`` + ``asyncio.TaskGroup`` over a lazy source, as an expert writes it.

The loop acquires a slot *before* it takes the next item and creates its task, so at most
``cap`` tasks exist at once and a generator is pulled only as fast as slots free up (memory
O(cap), not O(calls)). Each task runs the call, makes one result tuple
``(ok, index, status, value_or_error)``, hands it to the consumer (counting it, calling
``on_result``) and releases its slot. Results are kept by index when the calls come in a
list (as a run keeps them) and dropped for a generator (as a run forgets them).

Two variants: ``asyncio_taskgroup_timeout`` bounds each call by ``asyncio.timeout``;
``asyncio_taskgroup`` never sets a timeout (the ``timeout`` argument is ignored), the floor
that skillstream declared without a timeout is compared against.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sized
from typing import Any

from . import Fn, Peer


class AsyncioTaskGroupPeer(Peer):
    def __init__(self, timeouts: bool) -> None:
        self.timeouts = timeouts
        self.key = "asyncio_taskgroup_timeout" if timeouts else "asyncio_taskgroup"
        self.label = ("asyncio (Semaphore + TaskGroup, asyncio.timeout)" if timeouts
                      else "asyncio (Semaphore + TaskGroup, no timeout)")
        self.note = (
            "lazy source: acquire Semaphore(cap), then take the next item and tg.create_task; "
            "each task makes a result tuple, hands it to the consumer and releases its slot; "
            + ("asyncio.timeout per call" if timeouts else "no timeout (the timeout argument is ignored)")
        )

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        sem = asyncio.Semaphore(cap) if cap is not None else None
        kept: list[Any] | None = [] if isinstance(args, Sized) else None
        ok = 0
        use_timeout = self.timeouts

        async def one(i: int, a: Any) -> None:
            nonlocal ok
            try:
                try:
                    if use_timeout:
                        async with asyncio.timeout(timeout):
                            r = (True, i, "success", await fn(a))
                    else:
                        r = (True, i, "success", await fn(a))
                except TimeoutError as e:
                    r = (False, i, "timeout", e)
                except Exception as e:  # noqa: BLE001 - isolation is the point
                    r = (False, i, "error", e)
                if r[0]:
                    ok += 1
                if kept is not None:
                    kept.append(r)
                if on_result is not None:
                    on_result()
            finally:
                if sem is not None:
                    sem.release()

        async with asyncio.TaskGroup() as tg:
            for i, a in enumerate(args):
                if sem is not None:
                    await sem.acquire()  # a slot first, then the next item: O(cap) tasks
                tg.create_task(one(i, a))
        return ok
