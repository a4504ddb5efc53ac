"""Hand-written asyncio with skillstream's features.

Per call: ``asyncio.Semaphore(cap)``, an ``asyncio.timeout``, ``try/except`` into a result
dict; results in completion order with ``asyncio.as_completed``. For a generator source it
pulls lazily (acquire a slot, then take the next item), as a careful programmer would.
DAG: start-when-ready, each node a task awaiting its dependencies' tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sized
from typing import Any

from ..workloads import Dag
from . import Fn, Peer, Work


def _result(index: int, status: str, value: Any, error: BaseException | None,
            started: float, finished: float) -> dict[str, Any]:
    return {"index": index, "status": status, "value": value,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "started_at": started, "finished_at": finished}


async def _guarded(index: int, fn: Fn, arg: Any, timeout: float | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(timeout):
            value = await fn(arg)
    except TimeoutError as e:
        return _result(index, "timeout", None, e, started, loop.time())
    except Exception as e:  # noqa: BLE001 - isolation is the point
        return _result(index, "error", None, e, started, loop.time())
    return _result(index, "success", value, None, started, loop.time())


class AsyncioFeaturesPeer(Peer):
    key = "asyncio_features"
    label = "asyncio (same features)"
    note = (
        "Semaphore(cap) + asyncio.timeout + try/except into a result dict + as_completed; "
        "lazy slot-then-pull loop for generator sources; DAG = start-when-ready tasks"
    )

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        if not isinstance(args, Sized):
            return await self._map_lazy(fn, args, cap, timeout, on_result)
        sem = asyncio.Semaphore(cap) if cap is not None else None

        async def one(i: int, a: Any) -> dict[str, Any]:
            if sem is None:
                return await _guarded(i, fn, a, timeout)
            async with sem:
                return await _guarded(i, fn, a, timeout)

        tasks = [asyncio.create_task(one(i, a)) for i, a in enumerate(args)]
        ok = 0
        for fut in asyncio.as_completed(tasks):
            r = await fut
            if r["status"] == "success":
                ok += 1
            if on_result is not None:
                on_result()
        return ok

    async def _map_lazy(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None,
    ) -> int:
        sem = asyncio.Semaphore(cap if cap is not None else 1 << 30)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()
        started = 0
        exhausted = False

        async def one(i: int, a: Any) -> None:
            try:
                r = await _guarded(i, fn, a, timeout)
            finally:
                sem.release()
            queue.put_nowait(r)

        async def feed() -> None:
            nonlocal started, exhausted
            for i, a in enumerate(args):
                await sem.acquire()  # a slot first, then the next item: O(cap) memory
                t = asyncio.create_task(one(i, a))
                running.add(t)
                t.add_done_callback(running.discard)
                started += 1
            exhausted = True
            queue.put_nowait(None)

        feeder = asyncio.create_task(feed())
        ok = seen = 0
        try:
            while not (exhausted and seen == started):
                r = await queue.get()
                if r is None:
                    continue
                seen += 1
                if r["status"] == "success":
                    ok += 1
                if on_result is not None:
                    on_result()
        finally:
            feeder.cancel()
            for t in list(running):
                t.cancel()
        return ok

    async def dag(self, dag: Dag, work: Work) -> int:
        sem = asyncio.Semaphore(100)
        tasks: dict[int, asyncio.Task[dict[str, Any]]] = {}

        async def node_task(node: Any) -> dict[str, Any]:
            deps = [await tasks[d] for d in node.deps]
            loop = asyncio.get_running_loop()
            if any(r["status"] != "success" for r in deps):
                return _result(node.id, "skipped", None, None, loop.time(), loop.time())
            args = [r["value"] for r in deps]
            async with sem:
                return await _guarded(node.id, lambda _: work(node, *args), None, 60.0)

        for node in dag.nodes:  # topological order: deps' tasks exist already
            tasks[node.id] = asyncio.create_task(node_task(node))
        ok = 0
        for fut in asyncio.as_completed(list(tasks.values())):
            if (await fut)["status"] == "success":
                ok += 1
        return ok
