"""Raw reactivex (RxPY 4): one Observable per call, merged with ``merge(max_concurrent=cap)``.

Per call: ``defer(from_future(create_task(fn(a))))`` + ``timeout`` + ``map`` to a result +
``catch`` into an error result, on an ``AsyncIOScheduler``. ``from_iterable`` pushes the
whole source into ``merge`` at subscription, which queues what it cannot start yet in a list
(popped from the front). DAG: one ``AsyncSubject`` per node, fed by
``fork_join(deps) | flat_map(call)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from ..workloads import Dag
from . import Fn, Peer, Work


def _source(loop: asyncio.AbstractEventLoop, index: int, make: Callable[[], Any],
            timeout: float | None) -> Any:
    import reactivex as rx
    from reactivex import operators as ops

    obs = rx.defer(lambda _: rx.from_future(loop.create_task(make())))
    pipeline = []
    if timeout is not None:
        pipeline.append(ops.timeout(timeout))
    pipeline += [
        ops.map(lambda v: {"index": index, "status": "success", "value": v}),
        ops.catch(lambda e, _: rx.of({
            "index": index,
            "status": "timeout" if isinstance(e, (TimeoutError, asyncio.TimeoutError)) else "error",
            "value": None,
            "error": f"{type(e).__name__}: {e}",
        })),
    ]
    return obs.pipe(*pipeline)


class ReactivexPeer(Peer):
    key = "reactivex"
    label = "reactivex"
    note = (
        "defer(from_future(create_task)) + timeout + map + catch per call, merge(max_concurrent=cap) "
        "on AsyncIOScheduler; DAG = AsyncSubject per node fed by fork_join(deps) + flat_map"
    )
    rss_limit = (10**5, "merge() queues every waiting source in a list: 10^5 already takes "
                        "~0.5 GB and ~17 s here, 10^6 would need ~5 GB")

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        import reactivex as rx
        from reactivex import operators as ops
        from reactivex.scheduler.eventloop import AsyncIOScheduler

        loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(loop)
        done: asyncio.Future[None] = loop.create_future()
        ok = 0

        def on_next(r: dict[str, Any]) -> None:
            nonlocal ok
            if r["status"] == "success":
                ok += 1
            if on_result is not None:
                on_result()

        def on_error(e: Exception) -> None:
            if not done.done():
                done.set_exception(e)

        def on_completed() -> None:
            if not done.done():
                done.set_result(None)

        sources = rx.from_iterable(
            _source(loop, i, (lambda a=a: fn(a)), timeout) for i, a in enumerate(args)
        )
        merged = sources.pipe(ops.merge(max_concurrent=cap))
        sub = merged.subscribe(on_next, on_error, on_completed, scheduler=scheduler)
        try:
            await done
        finally:
            sub.dispose()
        return ok

    async def dag(self, dag: Dag, work: Work) -> int:
        import reactivex as rx
        from reactivex import operators as ops
        from reactivex.scheduler.eventloop import AsyncIOScheduler
        from reactivex.subject import AsyncSubject

        loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(loop)
        subjects: dict[int, AsyncSubject[dict[str, Any]]] = {}
        subs = []

        def run_node(node: Any, deps: Any) -> Any:
            deps = list(deps)
            if any(d["status"] != "success" for d in deps):
                return rx.of({"index": node.id, "status": "skipped", "value": None})
            values = [d["value"] for d in deps]
            return _source(loop, node.id, lambda: work(node, *values), 60.0)

        for node in dag.nodes:  # topological order
            subject: AsyncSubject[dict[str, Any]] = AsyncSubject()
            subjects[node.id] = subject
            upstream = (rx.fork_join(*[subjects[d] for d in node.deps]) if node.deps
                        else rx.of(()))
            subs.append(upstream.pipe(ops.flat_map(lambda deps, node=node: run_node(node, deps)))
                        .subscribe(subject, scheduler=scheduler))

        done: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        rx.merge(*subjects.values()).pipe(ops.to_list()).subscribe(
            lambda v: done.done() or done.set_result(v),
            lambda e: done.done() or done.set_exception(e),
            scheduler=scheduler,
        )
        try:
            results = await done
        finally:
            for s in subs:
                s.dispose()
        return sum(1 for r in results if r["status"] == "success")
