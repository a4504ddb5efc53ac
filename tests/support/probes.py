"""Instrumented skills for tests: they record when they start and end, and how many run."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline import skill


class Probe:
    """Counts concurrent runs and remembers every start and end (loop time)."""

    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.starts: dict[Any, float] = {}
        self.ends: dict[Any, float] = {}
        self.cancelled: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def make(self, **options: Any):  # noqa: ANN201 - a Skill
        probe = self

        @skill(name="work", **options)
        async def work(tag: Any, seconds: float = 0.0, fail: BaseException | None = None) -> Any:
            loop = asyncio.get_running_loop()
            probe.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
            probe.active += 1
            probe.max_active = max(probe.max_active, probe.active)
            probe.starts.setdefault(tag, loop.time())
            try:
                await asyncio.sleep(seconds)
                if fail is not None:
                    raise fail
                return tag
            except asyncio.CancelledError:
                probe.cancelled.append(tag)
                raise
            finally:
                probe.active -= 1
                probe.ends[tag] = loop.time()

        return work


async def alive_midway(calls: list[Any], kind: type, cap: int, lazy: bool = False) -> int:
    """How many ``kind`` objects exist (the cycle collector off) once most of ``calls``
    have run with ``cap``: garbage in reference cycles stays until a collection, so a
    cycle per call shows as one object per finished call, not ``cap`` at most. With
    ``lazy`` the calls come from a generator (a run then keeps nothing of finished calls)."""
    import gc

    from pipeline import run

    midway = len(calls) * 4 // 5
    gc.collect()
    gc.disable()
    try:
        alive = 0
        source = (c for c in calls) if lazy else calls
        calls = []  # the run's source holds them (a lazy one lets go of each once read)
        async for r in run(source, max_concurrency=cap):
            if r.index == midway:
                alive = sum(isinstance(o, kind) for o in gc.get_objects())
        return alive
    finally:
        gc.enable()
