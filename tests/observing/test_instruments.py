"""Instruments: the hooks the engine calls at each moment of a call's life (virtual time)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from pipeline import Instrument, Phase, Retry, SkillResult, Status, run, skill
from tests.support.vloop import vrun


class Recorder(Instrument):
    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def run_started(self, sized: int | None) -> None:
        self.log.append(("run_started", sized))

    def call_phase(self, call: Any, index: int, phase: Phase, at: float) -> None:
        self.log.append(("phase", call.key, phase.value, at))

    def call_started(self, call: Any, index: int, attempt: int, at: float) -> None:
        self.log.append(("started", call.key, attempt, at))

    def call_item(self, call: Any, index: int, attempt: int, item: Any, at: float) -> None:
        self.log.append(("item", call.key, attempt, item, at))

    def call_retrying(self, call: Any, index: int, attempt: int, error: BaseException, wait: float, at: float) -> None:
        self.log.append(("retrying", call.key, attempt, type(error).__name__, wait, at))

    def call_finished(self, result: SkillResult) -> None:
        self.log.append(("finished", result.key, result.status.value, result.finished_at))

    def call_skipped(self, result: SkillResult) -> None:
        self.log.append(("skipped", result.key, result.error.type if result.error else None))

    def run_deadline(self, at: float) -> None:
        self.log.append(("deadline", at))

    def run_finished(self, at: float, error: BaseException | None) -> None:
        self.log.append(("run_finished", at, type(error).__name__ if error else None))


def test_every_moment_of_every_call_in_order() -> None:
    tries = 0

    @skill(retry=Retry(attempts=3, backoff=0.5))
    async def flaky() -> str:
        nonlocal tries
        tries += 1
        await asyncio.sleep(1)
        if tries < 2:
            raise ConnectionError("down")
        return "up"

    @skill(timeout=2)
    async def hangs() -> None:
        await asyncio.sleep(100)

    @skill
    async def pages(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(1)
            yield i

    @skill
    async def after(x: Any) -> Any:
        return x

    rec = Recorder()

    async def main() -> Any:
        return await run([flaky(), hangs().named("h"), pages(2), after(hangs())], instruments=[rec]).collect()

    results, _ = vrun(main)
    assert [r.status for r in results] == [Status.SUCCESS, Status.TIMEOUT, Status.SUCCESS, Status.TIMEOUT, Status.SKIPPED]
    log = rec.log
    assert log[0] == ("run_started", 4)
    assert log[-1] == ("run_finished", 2.5, None)
    assert ("retrying", "flaky", 1, "ConnectionError", 0.5, 1.0) in log
    assert ("started", "flaky", 2, 1.5) in log and ("finished", "flaky", "success", 2.5) in log
    assert ("item", "pages", 1, 0, 1.0) in log and ("item", "pages", 1, 1, 2.0) in log
    assert ("finished", "h", "timeout", 2.0) in log
    assert ("skipped", "after", "DependencyFailed") in log
    # For each call: started before finished; exactly one finished or skipped.
    for key in ("flaky", "h", "pages", "hangs"):
        first_start = next(i for i, e in enumerate(log) if e[0] == "started" and e[1] == key)
        ends = [i for i, e in enumerate(log) if e[0] in ("finished", "skipped") and e[1] == key]
        assert len(ends) == 1 and first_start < ends[0]
    # Attempt spans are recorded in the result too: two attempts, the backoff between.
    assert results[0].attempt_spans == ((0.0, 1.0), (1.5, 2.5))


def test_the_deadline_and_calls_it_skips_are_reported() -> None:
    @skill
    async def nap(s: float) -> float:
        await asyncio.sleep(s)
        return s

    rec = Recorder()

    async def main() -> Any:
        return await run([nap(1), nap(5), nap(1)], max_concurrency=2, timeout=3, instruments=[rec]).collect()

    results, _ = vrun(main)
    assert [r.status for r in results] == [Status.SUCCESS, Status.TIMEOUT, Status.SUCCESS]
    assert ("deadline", 3.0) in rec.log
    rec2 = Recorder()

    async def main2() -> Any:
        return await run([nap(5), nap(1)], max_concurrency=1, timeout=3, instruments=[rec2]).collect()

    results, _ = vrun(main2)
    assert [r.status for r in results] == [Status.TIMEOUT, Status.SKIPPED]
    assert ("skipped", "nap", "DeadlineExceeded") in rec2.log


def test_a_hook_that_raises_ends_the_run_with_its_exception() -> None:
    class Broken(Instrument):
        def call_started(self, call: Any, index: int, attempt: int, at: float) -> None:
            if index == 1:
                raise RuntimeError("instrument broke")

    @skill
    async def nap(s: float) -> float:
        await asyncio.sleep(s)
        return s

    async def main() -> Any:
        return await run([nap(1), nap(2)], instruments=[Broken()]).collect()

    with pytest.raises(RuntimeError, match="instrument broke"):
        vrun(main)


def test_instruments_must_be_instruments() -> None:
    @skill
    async def nap() -> None: ...

    with pytest.raises(TypeError, match="Instrument"):
        run([nap()], instruments=[object()])  # type: ignore[list-item]


def test_an_early_exit_is_reported_as_the_end_of_the_run() -> None:
    @skill
    async def nap(s: float) -> float:
        await asyncio.sleep(s)
        return s

    rec = Recorder()

    async def main() -> None:
        async with run([nap(1), nap(10)], instruments=[rec]) as stream:
            async for _ in stream:
                break

    vrun(main)
    assert rec.log[-1] == ("run_finished", 1.0, None)
    assert not any(e[0] == "finished" and e[3] == 10 for e in rec.log)


TAG: contextvars.ContextVar[str] = contextvars.ContextVar("TAG", default="loop")


class Tag(Instrument):
    def call_context(self, call: Any, index: int, attempt: int) -> None:
        TAG.set(f"{call.key}#{attempt}")


def test_call_context_sets_what_each_attempt_sees_and_nothing_on_the_loop() -> None:
    @skill(retry=Retry(attempts=2, backoff=0.1, jitter=0))
    async def flaky(seen: list[str]) -> str:
        seen.append(TAG.get())
        if len(seen) == 1:
            raise ConnectionError("down")
        return TAG.get()

    @skill
    def in_thread() -> str:
        return TAG.get()

    async def main() -> Any:
        seen: list[str] = []
        results = await run([flaky(seen), in_thread(), in_thread().named("other")], instruments=[Tag()]).collect()
        return seen, results, TAG.get()

    seen, results, on_loop = asyncio.run(main())
    assert seen == ["flaky#1", "flaky#2"]
    assert results.as_dict() == {"flaky": "flaky#2", "in_thread": "in_thread#1", "other": "other#1"}
    assert on_loop == "loop"


def test_a_call_context_hook_that_raises_ends_the_run_with_its_exception() -> None:
    class Broken(Instrument):
        def call_context(self, call: Any, index: int, attempt: int) -> None:
            raise RuntimeError("context broke")

    @skill
    async def nap() -> None:
        await asyncio.sleep(1)

    async def main() -> Any:
        return await run([nap()], instruments=[Broken()]).collect()

    with pytest.raises(RuntimeError, match="^context broke$"):
        vrun(main)


def test_each_run_calls_the_hooks_of_what_for_run_gives_it_and_a_refusal_ends_only_that_run() -> None:
    class PerRun(Instrument):
        """Keeps a log per run; refuses a third run while two are going on."""

        def __init__(self) -> None:
            self.runs: list[Recorder] = []
            self.active = 0

        def for_run(self) -> Instrument:
            if self.active == 2:
                raise RuntimeError("PerRun serves two runs at once at most")
            self.active += 1
            log = Recorder()
            self.runs.append(log)
            return log

    @skill
    async def nap(s: float) -> float:
        await asyncio.sleep(s)
        return s

    shared = PerRun()
    ran: list[float] = []

    @skill
    async def noted(s: float) -> float:
        ran.append(s)
        return s

    async def main() -> list[Any]:
        first = run([nap(1).named("a")], instruments=[shared]).collect()
        second = run([nap(2).named("b"), nap(1).named("c")], instruments=[shared]).collect()
        third = run([noted(3)], instruments=[shared]).collect()
        return await asyncio.gather(first, second, third, return_exceptions=True)

    (first, second, third), _ = vrun(main)
    assert [r.status for r in first] == [Status.SUCCESS]
    assert [r.status for r in second] == [Status.SUCCESS, Status.SUCCESS]
    assert isinstance(third, RuntimeError) and str(third) == "PerRun serves two runs at once at most"
    assert ran == []  # refused before anything of it ran
    one, two = shared.runs
    assert [e[:2] for e in one.log] == [("run_started", 1), ("started", "a"), ("finished", "a"), ("run_finished", 1.0)]
    assert [e[:2] for e in two.log if e[0] in ("started", "finished")] == [
        ("started", "b"), ("started", "c"), ("finished", "c"), ("finished", "b")
    ]


def test_for_run_must_give_an_instrument() -> None:
    class Wrong(Instrument):
        def for_run(self) -> Instrument:
            return "not one"  # type: ignore[return-value]

    @skill
    async def nap() -> None: ...

    async def main() -> Any:
        return await run([nap()], instruments=[Wrong()]).collect()

    with pytest.raises(TypeError, match=r"^for_run\(\) must return an Instrument, got 'not one'$"):
        vrun(main)
