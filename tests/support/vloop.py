"""A virtual-time asyncio loop: time jumps to the next timer whenever nothing is ready.

The idea is aiostream's ``TimeTrackingTestLoop``, minus its "stuck" heuristic (it advances
time after 100 busy iterations, which a fan-out of thousands of zero-time skills reaches).
Sleeps cost nothing, so a test of ten 1-second skills runs in milliseconds and the times
it observes are exact. Only for async skills: a thread or a socket is not virtual.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _NullSelector:
    def select(self, timeout: float | None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class VirtualLoop(asyncio.BaseEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._vtime = 0.0
        self._selector = _NullSelector()
        self.steps: list[float] = []
        self.errors: list[dict[str, Any]] = []
        self.set_exception_handler(lambda loop, context: self.errors.append(context))

    def time(self) -> float:
        return self._vtime

    def _run_once(self) -> None:  # type: ignore[override]
        scheduled = self._scheduled
        while scheduled and scheduled[0]._cancelled:
            self._timer_cancelled_count -= 1
            heapq.heappop(scheduled)._scheduled = False
        if not self._ready and scheduled:
            when = scheduled[0]._when
            if when > self._vtime:
                self.steps.append(round(when - self._vtime, 9))
                self._vtime = when
        super()._run_once()  # type: ignore[misc]

    def _process_events(self, event_list: Any) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


def vrun(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, VirtualLoop]:
    """Run ``main()`` on a fresh virtual loop; assert it left no task and logged no error."""
    loop = VirtualLoop()
    asyncio.set_event_loop(loop)
    try:
        value = loop.run_until_complete(main())
        # One more turn lets finalizers of dropped streams run, as a real loop would.
        loop.run_until_complete(asyncio.sleep(0))
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        assert not pending, f"tasks left pending: {pending}"
        loop.run_until_complete(loop.shutdown_asyncgens())
        gc.collect()
        assert not loop.errors, f"loop reported errors: {loop.errors}"
        return value, loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()
