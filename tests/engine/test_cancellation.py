"""Cancellation: of the consumer at random moments, of skills that refuse it, and races.

Virtual time throughout: ``vrun`` fails a test if a task is left pending or the loop
reported anything ("Task was destroyed but it is pending", "exception was never
retrieved"); both go through the loop's exception handler, which vrun captures.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import Retry, SkillResult, Status, gather, run, skill
from pipeline import CANCEL_GRACE
from tests.support.oracle import (
    PROPERTY_SETTINGS,
    Recorder,
    Scenario,
    build_calls,
    check_against_oracle,
    scenarios,
    source_of,
)
from tests.support.oracle import _frozen_heap as _frozen_heap  # noqa: F401 - autouse fixture
from tests.support.probes import Probe
from tests.support.vloop import vrun

# -- skills that swallow the cancellation and return a value (G8) ------------------------


class Swallower:
    """A skill that catches CancelledError and returns a value: the run must still report
    the call as cut off, never as a success with that value."""

    def __init__(self) -> None:
        self.swallowed: list[str] = []

        @skill(name="swallow")
        async def swallow(tag: str, seconds: float) -> str:
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                self.swallowed.append(tag)
                return f"{tag}: swallowed"
            return f"{tag}: done"

        self.skill = swallow


def test_swallowed_cancellation_at_the_deadline_is_still_a_timeout() -> None:
    s = Swallower()

    async def main() -> Any:
        return await run([s.skill("a", 10), s.skill("b", 1)], timeout=2).collect()

    results, loop = vrun(main)
    assert [(r.status, r.value, r.error.type if r.error else None) for r in results] == [
        (Status.TIMEOUT, None, "DeadlineExceeded"),
        (Status.SUCCESS, "b: done", None),
    ]
    assert s.swallowed == ["a"]
    assert loop.time() == 2


@pytest.mark.parametrize("how", ["break", "aclose", "async-with", "cancel"])
def test_swallowed_cancellation_on_early_exit_is_never_delivered(how: str) -> None:
    s = Swallower()
    got: list[SkillResult] = []

    async def main() -> None:
        calls = [s.skill("fast", 1), s.skill("slow1", 10), s.skill("slow2", 10)]
        stream = run(calls)
        if how == "cancel":

            async def consume() -> None:
                async for r in stream:
                    got.append(r)

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif how == "async-with":
            async with stream:
                async for r in stream:
                    got.append(r)
                    break
        else:
            async for r in stream:
                got.append(r)
                break
            if how == "aclose":
                await stream.aclose()
            else:
                del stream
                await asyncio.sleep(0)
        assert sorted(s.swallowed) == ["slow1", "slow2"]
        await asyncio.sleep(20)  # nothing more arrives, and nothing is logged

    vrun(main)
    assert [r.value for r in got] == ["fast: done"]


# -- skills that swallow the cancellation and keep running (G9) --------------------------


class Stubborn:
    """A skill that ignores its first cancellation and keeps running for ``linger`` s."""

    def __init__(self, linger: float = 60) -> None:
        self.ended: list[tuple[str, float]] = []
        stubborn = self

        @skill(name="stubborn")
        async def work(tag: str, seconds: float) -> str:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                await asyncio.sleep(linger)
            finally:
                stubborn.ended.append((tag, loop.time()))
            return tag

        self.skill = work


GRACE = CANCEL_GRACE


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "skillstream"]


def test_a_skill_that_ignores_its_timeout_cannot_hold_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    s = Stubborn()
    ended_at: list[float] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        results = await run([s.skill("refuses", 10).with_options(timeout=1), s.skill("ok", 0.5)]).collect()
        ended_at.append(loop.time())
        await asyncio.sleep(100)  # let the stubborn task end before vrun checks for pending
        return results

    results, _ = vrun(main)
    assert [(r.status.value, r.finished_at) for r in results] == [("timeout", 1.0), ("success", 0.5)]
    # The stream completed one grace period after its last result, not 60 s later.
    assert ended_at == [1.0 + GRACE]
    assert s.ended == [("ok", 0.5), ("refuses", 61.0)]
    # The warning names the call as the user wrote it.
    assert _warned(caplog) == [
        f"1 call ignored its cancellation for {GRACE:g} s; the run no longer waits for it: "
        "stubborn('refuses', 10)"
    ]


def test_a_skill_that_ignores_the_deadline_cannot_hold_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    s = Stubborn()
    ended_at: list[float] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        results = [r async for r in run([s.skill("refuses", 10), s.skill("ok", 1)], timeout=2)]
        ended_at.append(loop.time())
        await asyncio.sleep(100)
        return results

    results, _ = vrun(main)
    assert [(r.key, r.status.value, r.finished_at) for r in results] == [
        ("stubborn", "success", 1.0),
        ("stubborn", "timeout", 2.0),
    ]
    assert ended_at == [2.0 + GRACE]  # the deadline plus one grace period, once
    assert _warned(caplog) == [
        f"1 call ignored its cancellation for {GRACE:g} s; the run no longer waits for it: "
        "stubborn('refuses', 10)"
    ]


def test_several_stubborn_calls_share_one_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    s = Stubborn(linger=10)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        await run([s.skill("b", 5), s.skill("a", 5), s.skill("ok", 1)], timeout=2).collect()
        ended = loop.time()
        await asyncio.sleep(20)
        return ended

    ended, _ = vrun(main)
    assert ended == 2.0 + GRACE  # one grace period for all of them, not one each
    assert _warned(caplog) == [
        f"2 calls ignored their cancellation for {GRACE:g} s; the run no longer waits for them: "
        "stubborn('a', 5), stubborn('b', 5)"
    ]


@pytest.mark.parametrize("how", ["aclose", "async-with", "cancel"])
def test_early_exit_waits_at_most_the_grace_for_a_stubborn_skill(how: str, caplog: pytest.LogCaptureFixture) -> None:
    s = Stubborn(linger=30)
    left_at: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stream = run([s.skill("fast", 1), s.skill("refuses", 10)])
        if how == "cancel":

            async def consume() -> None:
                async for _ in stream:
                    pass

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif how == "aclose":
            async for _ in stream:
                break
            await stream.aclose()
        else:
            async with stream:
                async for _ in stream:
                    break
        left_at.append(loop.time())
        await asyncio.sleep(100)

    vrun(main)
    left = 2.0 if how == "cancel" else 1.0
    assert left_at == [left + GRACE]
    assert s.ended == [("fast", 1.0), ("refuses", left + 30)]
    assert _warned(caplog) == [
        f"1 call ignored its cancellation for {GRACE:g} s; the run no longer waits for it: "
        "stubborn('refuses', 10)"
    ]


def test_a_well_behaved_cleanup_shorter_than_the_grace_is_awaited(caplog: pytest.LogCaptureFixture) -> None:
    # Catching the cancellation to clean up (closing a connection) and re-raising is
    # correct code: the run waits for it, and says nothing.
    cleaned: list[float] = []

    @skill(timeout=1)
    async def tidy() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(GRACE / 2)
            cleaned.append(asyncio.get_running_loop().time())
            raise

    async def main() -> float:
        await run([tidy()]).collect()
        return asyncio.get_running_loop().time()

    ended, _ = vrun(main)
    assert cleaned == [1 + GRACE / 2]
    assert ended == 1 + GRACE / 2
    assert _warned(caplog) == []


# -- cancelling the consumer: at random moments, twice, through asyncio.timeout ----------


@PROPERTY_SETTINGS
@given(
    scenario=scenarios(max_calls=15),
    cancel_at=st.integers(0, 48),
    turns=st.integers(0, 6),
    second_cancel=st.booleans(),
)
def test_cancelling_the_consumer_at_any_moment_leaves_nothing_behind(
    scenario: Scenario, cancel_at: int, turns: int, second_cancel: bool
) -> None:
    # cancel_at picks the virtual instant (quarter seconds, the durations' grid, so often
    # the very instant calls finish and results are being delivered); turns picks how
    # many loop iterations into that instant, to land between any two callbacks.
    rec = Recorder()
    got: list[SkillResult] = []

    async def main() -> bool:
        stream = run(
            source_of(scenario, build_calls(scenario, rec), rec),
            max_concurrency=scenario.cap,
            timeout=scenario.deadline,
        )

        async def consume() -> None:
            async for r in stream:
                got.append(r)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(cancel_at / 4)
        for _ in range(turns):
            await asyncio.sleep(0)
        was_running = task.cancel()
        if second_cancel:
            await asyncio.sleep(0)
            task.cancel()  # cancelled again while it closes the run
        try:
            await task
        except asyncio.CancelledError:
            assert was_running
        else:
            # Only a consumer that had already finished is not cancelled.
            assert not was_running
        assert task.done()
        assert rec.live == 0  # every attempt has ended when the consumer's task is done
        return was_running

    was_running, _ = vrun(main)
    check_against_oracle(scenario, got, complete=not was_running)


def test_cancellation_arriving_with_a_result_in_the_same_turn_is_never_swallowed() -> None:
    # T4: the skill finishes and the consumer is cancelled in one loop turn. On 3.11 a
    # wait_for layer would swallow the cancellation and return the result instead.
    layers = {
        "plain": {},
        "timeout": {"timeout": 5},
        "retry": {"retry": Retry(attempts=3, backoff=0)},
        "fallback": {"fallback": "fb"},
        "all": {"timeout": 5, "retry": Retry(attempts=3, backoff=0), "fallback": "fb"},
    }
    outcomes: dict[str, list[str]] = {name: [] for name in layers}

    for name, options in layers.items():
        for _ in range(20):
            release = asyncio.Event()

            @skill(**options)
            async def waits() -> str:
                await release.wait()
                return "result"

            async def main() -> str:
                async def consume() -> list[Any]:
                    return [r.value async for r in run([waits()])]

                task = asyncio.ensure_future(consume())
                await asyncio.sleep(1)
                release.set()
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    return "cancelled"
                return "swallowed"

            outcome, _ = vrun(main)
            outcomes[name].append(outcome)
    assert outcomes == {name: ["cancelled"] * 20 for name in layers}


def test_asyncio_timeout_around_the_consumer_cuts_the_run() -> None:
    probe = Probe()
    work = probe.make(retry=Retry(attempts=5, backoff=1))
    got: list[Any] = []

    async def main() -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.5):
                async for r in run([work(i, i) for i in range(5)], max_concurrency=3):
                    got.append(r.value)
        return asyncio.get_running_loop().time()

    ended, _ = vrun(main)
    assert got == [0, 1, 2]
    assert ended == 2.5
    assert sorted(probe.cancelled) == [3, 4]


def test_cancelling_gather_and_an_awaited_call() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> None:
        g = asyncio.ensure_future(gather(work("a", 5), work("b", 10)))
        one = asyncio.ensure_future(work("c", 10))
        await asyncio.sleep(1)
        g.cancel()
        one.cancel()
        for t in (g, one):
            with pytest.raises(asyncio.CancelledError):
                await t

    vrun(main)
    assert sorted(probe.cancelled) == ["a", "b", "c"]


def test_many_runs_cancelled_at_staggered_times_share_nothing() -> None:
    # A storm: 30 concurrent consumers of their own runs, cancelled one after another
    # while others keep going; the survivors' results are untouched.
    probe = Probe()
    work = probe.make(retry=Retry(attempts=2, backoff=0.5), timeout=3)

    async def main() -> list[Any]:
        async def consume(k: int) -> list[Any]:
            return [r.value async for r in run([work((k, i), (i % 3) + 0.5) for i in range(6)], max_concurrency=2)]

        tasks = [asyncio.ensure_future(consume(k)) for k in range(30)]
        for k in range(0, 30, 2):  # cancel every even consumer, 0.25 s apart
            await asyncio.sleep(0.25)
            tasks[k].cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        return outcomes

    outcomes, _ = vrun(main)
    for k, outcome in enumerate(outcomes):
        if k % 2 == 0:
            assert isinstance(outcome, asyncio.CancelledError)
        else:
            assert sorted(outcome) == [(k, i) for i in range(6)]
    assert probe.active == 0


# -- the source is closed when the run stops reading it (T14) ----------------------------


@pytest.mark.parametrize("how", ["async-with", "aclose", "deadline", "error"])
def test_a_generator_source_is_closed_when_the_run_stops_reading_it(how: str) -> None:
    # Before the fix only the garbage collector closed it: its `finally` (closing a
    # file, a cursor) waited for the stream object to be dropped, an async source's
    # did not. A million calls, of which the run must read about 25.
    probe = Probe()
    work = probe.make()
    taken = 0
    closed_at: list[float] = []

    def calls() -> Any:
        nonlocal taken
        try:
            for i in range(1_000_000):
                taken += 1
                yield work(i, 1 if i != 22 else 100)
        finally:
            closed_at.append(asyncio.get_running_loop().time())

    def bad_fallback(exc: BaseException) -> Any:
        raise LookupError("fallback bug")

    async def main() -> float:
        loop = asyncio.get_running_loop()
        if how == "deadline":
            results = await run(calls(), max_concurrency=5, timeout=4.5).collect()
            assert len(results) == taken
        elif how == "error":
            source = (c.with_options(fallback=bad_fallback, timeout=50) if i == 22 else c for i, c in enumerate(calls()))
            with pytest.raises(LookupError, match=r"^fallback bug$"):
                await run(source, max_concurrency=5).collect()
        else:
            stream = run(calls(), max_concurrency=5)
            got = 0
            if how == "async-with":
                async with stream:
                    async for _ in stream:
                        got += 1
                        if got == 20:
                            break
                    assert closed_at == []  # still open inside the block
            else:
                async for _ in stream:
                    got += 1
                    if got == 20:
                        break
                await stream.aclose()
            assert got == 20
        assert closed_at == [loop.time()]  # closed by then, once
        return loop.time()

    ended, _ = vrun(main)
    # error: call 22 starts at t=4 (calls take 1 s, five at a time) and times out at 54.
    expected_end = {"async-with": 4.0, "aclose": 4.0, "deadline": 4.5, "error": 54.0}[how]
    assert ended == expected_end
    # At most cap in flight plus cap results waiting plus the one being taken, per the
    # laziness contract, beyond what was consumed.
    if how == "error":
        assert taken <= 4 * 54 + 2 * 5 + 1  # four 1 s slots for 54 s, then the rest
    else:
        assert taken <= 25 + 5 + 1


@pytest.mark.parametrize("how", ["break", "async-with", "deadline", "timeout"])
def test_a_skill_whose_cleanup_raises_when_cancelled_disturbs_nobody(how: str) -> None:
    # T2: the failure happens in a task the run already gave up on. It must not reach
    # the consumer, nor cancel an unrelated task, nor be logged as "never retrieved".
    cleanups: list[str] = []

    @skill
    async def messy(seconds: float) -> str:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cleanups.append("cancelled")
            raise RuntimeError("cleanup failed") from None
        return "done"

    async def bystander() -> str:
        await asyncio.sleep(30)
        return "untouched"

    async def main() -> list[Any]:
        other = asyncio.ensure_future(bystander())
        calls = [messy(1), messy(10)]
        values: list[Any] = []
        if how == "break":
            async for r in run(calls):
                values.append(r.value)
                break
            await asyncio.sleep(0)
        elif how == "async-with":
            async with run(calls) as stream:
                async for r in stream:
                    values.append(r.value)
                    break
        elif how == "deadline":
            values = [(r.status.value, r.value) for r in await run(calls, timeout=2).collect()]
        else:
            values = [(r.status.value, r.value) for r in await run([c.with_options(timeout=2) for c in calls]).collect()]
        assert await other == "untouched"
        return values

    values, _ = vrun(main)
    assert cleanups == ["cancelled"]
    if how in ("break", "async-with"):
        assert values == ["done"]
    else:
        assert values == [("success", "done"), ("timeout", None)]


# -- a dropped stream caught in a reference cycle (the stateful machine, 3.12+) ----------


def test_a_dropped_stream_in_a_reference_cycle_stops_its_async_source_cleanly() -> None:
    # A stream dropped after a bare break is finalized by refcount, unless something
    # puts it in a reference cycle (on 3.12+ a cancelled consumer's traceback is enough:
    # its frames keep their callers). The cyclic collector then finds the run and its
    # source pump unreachable together: before the fix the pump task was collected
    # while pending ("Task was destroyed but it is pending!"), its coroutine closed by
    # the collector, and the stream's finalizer then cancelled a closed coroutine
    # (RuntimeError('cannot reuse already awaited coroutine')). On any Python version.
    probe = Probe()
    work = probe.make()
    closed: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def source() -> Any:
            try:
                while True:
                    yield await queue.get()
            finally:
                closed.append(loop.time())

        # One call, its result taken: the pump waits on the source, the source on a
        # queue that only the cycle below still holds.
        queue.put_nowait(work(0, 0))
        stream = run(source(), max_concurrency=1)
        iterator = aiter(stream)
        await anext(iterator)
        for _ in range(3):
            await asyncio.sleep(0)
        cycle: list[Any] = [stream, queue]
        cycle.append(cycle)
        del stream, iterator, queue, cycle
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)
        assert closed == [loop.time()]  # the source's finally ran, on the loop

    vrun(main)  # fails on a pending task or anything the loop logged
    assert probe.active == 0


# -- work its executor ends for sure within a bound (a Ray task, killed if need be) --------


def test_work_that_stops_within_a_bound_is_waited_for_past_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    from pipeline._engine._cleanup import Abandoned

    async def ends_at(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        abandoned = Abandoned(GRACE)
        killed = asyncio.ensure_future(ends_at(3))  # past the grace, within its bound
        stuck = asyncio.ensure_future(ends_at(8))  # past its bound too
        plain = asyncio.ensure_future(ends_at(20))  # no bound: the grace
        abandoned.add(killed, "killed", stops_within=5.5)
        abandoned.add(stuck, "stuck", stops_within=5.5)
        abandoned.add(plain, "plain")
        await abandoned.wait(loop, None)
        waited = [loop.time(), float(killed.done()), float(stuck.done())]
        await asyncio.gather(stuck, plain)
        return waited

    waited, _ = vrun(main)
    # Waited for the killed one to end (3 s), then for the stuck one until its bound.
    assert waited == [5.5, 1.0, 0.0]
    assert _warned(caplog) == [
        "2 calls ignored their cancellation for 5.5 s; the run no longer waits for them: plain, stuck"
    ]
