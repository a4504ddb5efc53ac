"""``asyncio.gather``: the seed's idiom. No cap, no timeout, no isolation, all results at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from ..workloads import Dag
from . import Fn, Peer, Work


class AsyncioGatherPeer(Peer):
    key = "asyncio_gather"
    label = "asyncio.gather"
    note = (
        "no cap, no timeout, no isolation (one exception fails the gather); results arrive all "
        "at once; a generator source is materialized; DAG = level-by-level gather"
    )

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        values = await asyncio.gather(*[fn(a) for a in args])
        if on_result is not None:
            for _ in values:
                on_result()
        return len(values)

    async def dag(self, dag: Dag, work: Work) -> int:
        by_id = {n.id: n for n in dag.nodes}
        values: dict[int, Any] = {}
        for layer in dag.layers:
            nodes = [by_id[i] for i in layer]
            out = await asyncio.gather(*[work(n, *[values[d] for d in n.deps]) for n in nodes])
            values.update(zip(layer, out))
        return len(values)
