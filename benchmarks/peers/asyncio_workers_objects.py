"""The worker pool of ``asyncio_workers``, paying for skillstream's objects per call.

The same ``cap`` workers, ``asyncio.timeout`` and queue, but each call is a ``SkillCall``
(made by the caller, as with skillstream) and each outcome a ``SkillResult`` with its
timings, built the engine's cheapest way, and kept by call until the end when the calls
come in a list (as a run keeps them, so that a later call can take an earlier one's value;
a generator's are dropped, as a run forgets them). No engine: no dependency
graph, retries, deadline, fallbacks or backpressure. What this costs above the plain pool
is the price of the contract's data model; what skillstream costs above this is its engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from . import Fn, Peer
from .asyncio_workers import drive_pool
from .skillstream_peer import skill_calls


class AsyncioWorkersObjectsPeer(Peer):
    key = "asyncio_workers_objects"
    label = "asyncio (worker pool, skillstream's objects)"
    note = (
        "the worker pool, plus a SkillCall per call and a SkillResult per outcome (with its "
        "timings) kept by call: the data model's floor, without skillstream's engine"
    )

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        from pipeline import ErrorInfo, Status
        from pipeline._core._result import new_result  # no public name: the engine's own constructor

        calls = skill_calls(fn, args, timeout)  # made as the skillstream peer makes them
        sized = isinstance(calls, list)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        kept: dict[Any, Any] = {}

        async def guarded(i: int, call: Any) -> Any:
            started = loop.time()
            status, value, error = Status.SUCCESS, None, None
            try:
                async with asyncio.timeout(timeout):
                    value = await call.skill.fn(*call.args, **call.kwargs)
            except TimeoutError as e:
                status, error = Status.TIMEOUT, ErrorInfo.of(e)
            except Exception as e:  # noqa: BLE001 - isolation is the point
                status, error = Status.ERROR, ErrorInfo.of(e)
            finished = loop.time()
            result = new_result(
                call.skill.options.name, call.key, i, status, value, error, False, 1,
                started - t0, finished - t0, ((started - t0, finished - t0),),
            )
            if sized:
                kept[call] = result
            return result

        return await drive_pool(guarded, calls, cap, on_result, lambda r: r.ok, keep=False)
