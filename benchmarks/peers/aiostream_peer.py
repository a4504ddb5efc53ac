"""aiostream: ``stream.map(source, fn, task_limit=cap, ordered=False)``.

The mapped coroutine carries the same per-call timeout and ``try/except`` into a result
dict as the hand-written asyncio peer (a bare ``stream.map`` would end the whole stream on
the first exception). Sources are pulled lazily by ``stream.iterate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import Fn, NotApplicable, Peer, Work
from .asyncio_features import _guarded
from ..workloads import Dag


class AiostreamPeer(Peer):
    key = "aiostream"
    label = "aiostream"
    note = "stream.map(task_limit=cap, ordered=False) over stream.iterate, timeout + try/except per call"
    # stream.map's task bookkeeping costs O(tasks in flight) per task: 10,000 in flight take
    # ~100 s to start and minutes to drain, so the in-flight memory figure is taken at 2,000
    inflight_limit = 2_000

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        from aiostream import stream

        async def one(item: tuple[int, Any]) -> dict[str, Any]:
            return await _guarded(item[0], fn, item[1], timeout)

        xs = stream.map(stream.iterate(enumerate(args)), one, task_limit=cap, ordered=False)
        ok = 0
        async with xs.stream() as streamer:
            async for r in streamer:
                if r["status"] == "success":
                    ok += 1
                if on_result is not None:
                    on_result()
        return ok

    async def dag(self, dag: Dag, work: Work) -> int:
        raise NotApplicable("n/a (no dependency-graph primitive: only flat map/merge)")
