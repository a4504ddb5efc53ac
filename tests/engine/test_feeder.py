"""The Feeder hook: a source the engine pulls from directly and tells about every result
(StateGraph's invocation is to move onto it). Virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline import DependencyFailed, ResultStream, SkillCall, SkillResult, Status, skill
from pipeline._engine._run import Run
from tests.support.vloop import vrun


@skill
async def step(tag: str, seconds: float, fail: bool = False) -> str:
    await asyncio.sleep(seconds)
    if fail:
        raise ValueError(tag)
    return tag


class Waves:
    """Wave n+1 becomes available when every call of wave n has a result; a failure in a
    wave makes the next wave's calls reported as skipped without running."""

    def __init__(self, waves: list[list[SkillCall[Any]]]) -> None:
        self.waves = waves
        self.ready: list[SkillCall[Any]] = []
        self.outstanding = 0
        self.seen: list[str] = []
        self.failed = False
        self.run: Run | None = None

    def attach(self, run: Run) -> None:
        self.run = run
        self._next_wave()

    def _next_wave(self) -> None:
        assert self.run is not None
        if not self.waves:
            self.run.feeder_done()
            return
        wave = self.waves.pop(0)
        if self.failed:
            for call in wave:
                self.run.skipped(call, DependencyFailed("an earlier wave failed"))
            self._next_wave()
            return
        self.ready.extend(wave)
        self.outstanding = len(wave)
        self.run.wake()

    def pull(self) -> SkillCall[Any] | None:
        return self.ready.pop(0) if self.ready else None

    def on_result(self, result: SkillResult) -> None:
        self.seen.append(result.key)
        if result.status is Status.SKIPPED:
            return
        self.failed = self.failed or not result.ok
        self.outstanding -= 1
        if self.outstanding == 0:
            self._next_wave()


def test_the_engine_pulls_from_a_feeder_and_tells_it_each_result_first() -> None:
    feeder = Waves(
        [
            [step("a", 1).named("a"), step("b", 2).named("b")],
            [step("c", 1).named("c")],
            [step("d", 1, fail=True).named("d"), step("e", 3).named("e")],
            [step("f", 1).named("f")],
        ]
    )

    async def main() -> Any:
        out = []
        loop = asyncio.get_running_loop()
        async for r in ResultStream._fed(lambda: feeder, max_concurrency=10, timeout=None):
            out.append((r.key, r.status.value, loop.time()))
        return out

    out, loop = vrun(main)
    assert out == [
        ("a", "success", 1),
        ("b", "success", 2),
        ("c", "success", 3),  # started the moment wave 1 was done
        ("d", "error", 4),
        ("e", "success", 6),
        ("f", "skipped", 6),  # reported without running
    ]
    assert feeder.seen == [key for key, _, _ in out]  # the feeder saw each result, in order


def test_a_feeder_run_keeps_the_cap_and_the_deadline() -> None:
    feeder = Waves([[step(f"x{i}", 1).named(f"x{i}") for i in range(4)], [step("late", 1).named("late")]])

    async def main() -> Any:
        stream = ResultStream._fed(lambda: feeder, max_concurrency=2, timeout=1.5)
        return [(r.key, r.status.value) async for r in stream]

    out, loop = vrun(main)
    # Calls the feeder still held at the deadline are reported as skipped.
    assert out[:2] == [("x0", "success"), ("x1", "success")]
    assert sorted(out[2:4]) == [("x2", "timeout"), ("x3", "timeout")]  # in flight at 1.5
    assert out[4:] == [("late", "skipped")]
    assert loop.time() == 1.5
