"""DESIGN.md "Semantics every test can rely on", 1-8, in virtual time.

Each test runs on tests.support.vloop.VirtualLoop: sleeps are free and times exact, and ``vrun``
fails the test if a task is left pending or the loop logged an error.
"""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Any

import pytest

from pipeline import NO_FALLBACK, Retry, Status, run, skill
from tests.support.probes import Probe
from tests.support.vloop import vrun

# -- 1. exactly one result per call -------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "tuple", "generator", "async-generator"])
def test_one_result_per_call_for_every_source_shape(shape: str) -> None:
    probe = Probe()
    work = probe.make()
    tags = list(range(25))

    def source() -> Any:
        calls = [work(t, seconds=(t * 7) % 5 / 10) for t in tags]
        if shape == "list":
            return calls
        if shape == "tuple":
            return tuple(calls)
        if shape == "generator":
            return iter(calls)

        async def agen() -> Any:
            for c in calls:
                yield c

        return agen()

    async def main() -> list[Any]:
        return [r async for r in run(source(), max_concurrency=4)]

    results, _ = vrun(main)
    assert sorted(r.value for r in results) == tags
    assert sorted(r.index for r in results) == tags
    assert all(r.status is Status.SUCCESS for r in results)


def test_the_same_call_object_twice_runs_once() -> None:
    probe = Probe()
    work = probe.make()
    call = work("x", 1)

    async def main() -> Any:
        return await run([call, call, work("y", 1)]).collect()

    results, _ = vrun(main)
    assert [r.value for r in results] == ["x", "y"]


# -- 2. failures become results ----------------------------------------------------------


def test_exception_becomes_error_result_and_siblings_continue() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> Any:
        return await run(
            [work("a", 1), work("boom", 0.5, fail=ValueError("bad input")), work("c", 2)]
        ).collect()

    results, _ = vrun(main)
    assert [r.status for r in results] == [Status.SUCCESS, Status.ERROR, Status.SUCCESS]
    failed = results[1]
    assert failed.error is not None
    assert (failed.error.type, failed.error.message) == ("ValueError", "bad input")
    assert failed.value is None and not failed.fallback_used and not failed.ok
    assert probe.cancelled == []  # the failure disposed no sibling


def test_fallback_value_and_fallback_callable() -> None:
    seen: list[BaseException] = []

    @skill(fallback={"price": None})
    async def quote(symbol: str) -> dict[str, Any]:
        raise ConnectionError("down")

    @skill(fallback=lambda exc: seen.append(exc) or f"fallback for {type(exc).__name__}")
    async def news(q: str) -> str:
        raise KeyError(q)

    @skill(fallback=None)  # None is a real fallback value, not "no fallback"
    async def maybe() -> int:
        raise RuntimeError("x")

    async def main() -> Any:
        return await run([quote("A"), news("B"), maybe()]).collect()

    results, _ = vrun(main)
    assert [(r.status, r.value, r.fallback_used) for r in results] == [
        (Status.ERROR, {"price": None}, True),
        (Status.ERROR, "fallback for KeyError", True),
        (Status.ERROR, None, True),
    ]
    assert [r.unwrap() for r in results] == [{"price": None}, "fallback for KeyError", None]
    assert isinstance(seen[0], KeyError)
    assert quote.options.fallback == {"price": None}
    assert skill(lambda: 1).options.fallback is NO_FALLBACK


def test_keyboard_interrupt_is_not_turned_into_a_result() -> None:
    @skill
    async def interrupt() -> None:
        raise KeyboardInterrupt

    async def main() -> Any:
        return await run([interrupt()]).collect()

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit], ids=lambda t: t.__name__)
@pytest.mark.parametrize("hedged", [False, True], ids=["worker", "task"])
def test_keyboard_interrupt_and_system_exit_propagate_without_a_never_retrieved_log(
    signal: type[BaseException], hedged: bool
) -> None:
    from pipeline import Hedge
    from pipeline._executors import _local

    async def body() -> None:
        await asyncio.sleep(0)
        raise signal

    interrupt = skill(body, hedge=Hedge(after=5), idempotent=True) if hedged else skill(body)

    errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        return await run([interrupt()]).collect()

    with pytest.raises(signal):
        asyncio.run(main())
    # What the loop would have dropped by now: a task that kept the exception logs it once
    # collected ("Task exception was never retrieved").
    _local._WORKER_TASKS.difference_update([t for t in _local._WORKER_TASKS if t.done()])
    gc.collect()
    assert [c["message"] for c in errors] == []


# -- 3. per-skill timeout ------------------------------------------------------------------


def test_timeout_cancels_the_attempt_and_reports_timeout() -> None:
    probe = Probe()
    work = probe.make(timeout=1.0)

    async def main() -> Any:
        return await run([work("slow", 5), work("fast", 0.5)]).collect()

    results, loop = vrun(main)
    slow, fast = results
    assert slow.status is Status.TIMEOUT and slow.error and slow.error.type == "SkillTimeout"
    assert slow.finished_at == pytest.approx(1.0)
    assert probe.cancelled == ["slow"]
    assert fast.status is Status.SUCCESS
    assert loop.time() == pytest.approx(1.0)  # nothing waited for the 5 s sleep


def test_skill_that_swallows_cancellation_still_times_out() -> None:
    @skill(timeout=1)
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "I refuse"
        return "done"

    async def main() -> Any:
        return await run([stubborn()]).collect()

    (result,), _ = vrun(main)
    assert result.status is Status.TIMEOUT
    assert result.value is None
    assert result.finished_at == pytest.approx(1.0)


def test_timeout_applies_to_each_attempt_and_retries_timeouts() -> None:
    durations = iter([5.0, 5.0, 0.2])

    @skill(timeout=1, retry=Retry(attempts=3, backoff=0.5, multiplier=2))
    async def sometimes_slow() -> str:
        await asyncio.sleep(next(durations))
        return "ok"

    async def main() -> Any:
        return await run([sometimes_slow()]).collect()

    (result,), _ = vrun(main)
    assert (result.status, result.value, result.attempts) == (Status.SUCCESS, "ok", 3)
    # 1 s timeout + 0.5 s wait + 1 s timeout + 1 s wait + 0.2 s
    assert result.finished_at == pytest.approx(3.7)


def test_consumer_cancellation_is_never_swallowed() -> None:
    probe = Probe()
    work = probe.make(retry=Retry(attempts=5, backoff=0.1))

    async def consume() -> None:
        async for _ in run([work(i, 10) for i in range(3)]):
            pass

    async def main() -> Any:
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task

    task, _ = vrun(main)
    assert task.cancelled()
    assert sorted(probe.cancelled) == [0, 1, 2]
    assert all(t.done() for t in probe.tasks)


# -- 4. retry with backoff -----------------------------------------------------------------


def test_retry_counts_attempts_and_waits_exponentially() -> None:
    calls: list[float] = []

    @skill(retry=Retry(attempts=4, backoff=1, multiplier=3, max_backoff=5))
    async def flaky() -> str:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 4:
            raise ConnectionError("reset")
        return "ok"

    async def main() -> Any:
        return await run([flaky()]).collect()

    (result,), _ = vrun(main)
    assert (result.status, result.attempts) == (Status.SUCCESS, 4)
    assert calls == pytest.approx([0, 1, 4, 9])  # waits 1, 3, then 9 capped at 5


def test_retry_gives_up_after_attempts_with_the_last_error() -> None:
    count = 0

    @skill(retry=Retry(attempts=3, backoff=0))
    async def broken() -> None:
        nonlocal count
        count += 1
        raise ConnectionError(f"try {count}")

    async def main() -> Any:
        return await run([broken()]).collect()

    (result,), _ = vrun(main)
    assert (result.status, result.attempts, count) == (Status.ERROR, 3, 3)
    assert result.error and result.error.message == "try 3"


def test_retry_only_what_matches_on() -> None:
    count = 0

    @skill(retry=Retry(attempts=5, backoff=0, on=(ConnectionError,)))
    async def bad_request() -> None:
        nonlocal count
        count += 1
        raise ValueError("not retryable")

    async def main() -> Any:
        return await run([bad_request()]).collect()

    (result,), _ = vrun(main)
    assert (result.status, result.attempts, count) == (Status.ERROR, 1, 1)


def test_retry_predicate_and_jitter_bounds() -> None:
    policy = Retry(attempts=3, backoff=1, jitter=0.5, on=lambda e: "retry" in str(e))
    assert policy.matches(ValueError("please retry")) and not policy.matches(ValueError("no"))
    assert not policy.matches(asyncio.CancelledError())
    rng = random.Random(7)
    delays = [policy.delay(1, rng.random) for _ in range(200)]
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert max(delays) - min(delays) > 0.3  # jitter actually varies


# -- 5. the concurrency cap, and lazy sources ----------------------------------------------


def test_never_more_in_flight_than_the_cap_retries_and_backoff_included() -> None:
    in_flight = 0
    peak = 0
    tries: dict[int, int] = {}

    @skill(retry=Retry(attempts=3, backoff=0.3))
    async def sometimes(i: int) -> int:
        nonlocal in_flight, peak
        tries[i] = tries.get(i, 0) + 1
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.1 * (i % 4))
            if tries[i] == 1 and i % 3 == 0:
                raise ConnectionError("first try fails")
            return i
        finally:
            in_flight -= 1

    slots_busy = 0
    slots_peak = 0

    async def main() -> Any:
        nonlocal slots_busy, slots_peak
        stream = run([sometimes(i) for i in range(60)], max_concurrency=5)
        results = []
        async for r in stream:
            results.append(r)
            slots_busy = stream._run.merge.active  # type: ignore[union-attr]
            slots_peak = max(slots_peak, slots_busy)
        return results

    results, _ = vrun(main)
    assert len(results) == 60 and all(r.ok for r in results)
    assert peak <= 5 and slots_peak <= 5
    assert peak == 5  # the cap is used, not just respected


def test_generator_source_is_pulled_only_when_a_slot_frees() -> None:
    probe = Probe()
    work = probe.make()
    taken = 0
    finished = 0
    lead: list[int] = []

    def calls() -> Any:
        nonlocal taken
        for i in range(1000):
            taken += 1
            lead.append(taken - finished)
            yield work(i, 0.01 * (i % 7))

    async def main() -> int:
        nonlocal finished
        async for _ in run(calls(), max_concurrency=8):
            finished += 1
        return finished

    count, _ = vrun(main)
    assert count == 1000
    # Taken but not yet consumed: at most 8 in flight plus 8 results waiting for the
    # consumer (backpressure), plus the one being taken.
    assert max(lead) <= 2 * 8 + 1


# -- 6. the run's deadline -----------------------------------------------------------------


def test_deadline_keeps_finished_times_out_in_flight_and_skips_the_rest() -> None:
    probe = Probe()
    work = probe.make()
    fb = probe.make(fallback="late")

    async def main() -> Any:
        calls = [work("quick", 1), fb("slow-with-fallback", 10), work("slow", 10)]
        calls += [work(f"queued{i}", 1) for i in range(3)]
        return await run(calls, max_concurrency=3, timeout=2.5).collect()

    results, loop = vrun(main)
    assert [(r.key, r.status.value) for r in results] == [
        ("work", "success"),
        ("work", "timeout"),
        ("work", "timeout"),
        ("work", "success"),  # queued0 took quick's slot at t=1, done at t=2
        ("work", "timeout"),  # queued1 started at 2, in flight at 2.5
        ("work", "skipped"),
    ]
    assert results[1].value == "late" and results[1].fallback_used
    assert results[2].error and results[2].error.type == "DeadlineExceeded"
    assert results[5].started_at is None and results[5].error.type == "DeadlineExceeded"  # type: ignore[union-attr]
    assert all(r.finished_at is not None and r.finished_at <= 2.5 + 1e-9 for r in results)
    assert loop.time() == pytest.approx(2.5)


@pytest.mark.parametrize("deadline", [1.2, 2.5], ids=["in backoff", "in an attempt"])
def test_a_fallback_reached_at_the_deadline_after_failed_attempts_sees_the_last_failure(
    deadline: float,
) -> None:
    from pipeline import DeadlineExceeded

    seen: list[BaseException] = []
    tries: dict[str, int] = {}

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "fallback"

    @skill(retry=Retry(attempts=5, backoff=1, multiplier=1), fallback=fallback)
    async def flaky(name: str) -> None:
        tries[name] = n = tries.get(name, 0) + 1
        await asyncio.sleep(0.5 if n < 3 else 10)
        raise ValueError(f"{name}: failure {n}")

    # Attempts fail at 0.5 and 2 (each then waits 1 s): 1.2 is in a backoff after the
    # first failure, 2.5 in the third attempt after the second.
    async def main() -> Any:
        return await run([flaky("a"), flaky("b")], timeout=deadline).collect()

    results, _ = vrun(main)
    assert [(r.status, r.value, r.fallback_used) for r in results] == [(Status.TIMEOUT, "fallback", True)] * 2
    assert all(r.error and r.error.type == "DeadlineExceeded" for r in results)
    assert len(seen) == 2 and all(isinstance(e, DeadlineExceeded) for e in seen)
    causes = [e.__cause__ for e in seen]
    last = 1 if deadline < 2 else 2
    assert sorted(str(c) for c in causes) == [f"a: failure {last}", f"b: failure {last}"]
    assert all(isinstance(c, ValueError) for c in causes)
    # Each call's own last failure, not one shared DeadlineExceeded.
    assert causes[0] is not causes[1] and seen[0] is not seen[1]
    assert str(seen[0]) == f"the run's deadline of {deadline:g} s was reached"


def test_a_call_that_never_failed_gets_a_deadline_exceeded_without_a_cause() -> None:
    seen: list[BaseException] = []

    def fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "fallback"

    @skill(fallback=fallback)
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> Any:
        return await run([slow()], timeout=1).collect()

    results, _ = vrun(main)
    assert results[0].value == "fallback" and seen[0].__cause__ is None


def test_deadline_does_not_advance_a_generator() -> None:
    probe = Probe()
    work = probe.make()
    taken = 0

    def calls() -> Any:
        nonlocal taken
        for i in range(100):
            taken += 1
            yield work(i, 1)

    async def main() -> Any:
        return await run(calls(), max_concurrency=2, timeout=2.5).collect()

    results, _ = vrun(main)
    assert taken == 6  # 2 + 2 finished, 2 in flight at the deadline
    assert [r.status.value for r in results].count("timeout") == 2
    assert len(results) == 6


# -- 7. leaving early ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["break", "aclose", "async-with", "cancel"])
def test_leaving_early_cancels_and_awaits_every_call(how: str) -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> list[Any]:
        calls = [work(i, 1 + i) for i in range(10)]
        got: list[Any] = []
        if how == "break":
            async for r in run(calls, max_concurrency=4):
                got.append(r.value)
                break
            await asyncio.sleep(0)  # the dropped iterator is finalized within a turn
        elif how == "aclose":
            stream = run(calls, max_concurrency=4)
            async for r in stream:
                got.append(r.value)
                break
            await stream.aclose()
            assert all(t.done() for t in probe.tasks)  # done before aclose returned
        elif how == "async-with":
            async with run(calls, max_concurrency=4) as stream:
                async for r in stream:
                    got.append(r.value)
                    break
            assert all(t.done() for t in probe.tasks)
        else:

            async def consume() -> None:
                async for r in run(calls, max_concurrency=4):
                    got.append(r.value)

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(1.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert all(t.done() for t in probe.tasks)
        return got

    got, loop = vrun(main)
    assert got == [0]
    # Calls 1-3 were running and saw the cancellation; call 4 (started when 0 finished)
    # may have been cancelled before its first step, which never runs its body at all.
    assert {1, 2, 3} <= set(probe.cancelled)
    assert set(probe.ends) - set(probe.cancelled) == {0}
    assert loop.time() < 3  # nobody waited for the long calls


# -- 8. results stream the moment they exist -----------------------------------------------


def test_results_arrive_in_completion_order_at_their_finish_time() -> None:
    probe = Probe()
    work = probe.make()
    arrivals: list[tuple[Any, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async for r in run([work("c", 3), work("a", 1), work("b", 2)]):
            arrivals.append((r.value, loop.time()))

    vrun(main)
    assert arrivals == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


def test_collect_returns_submission_order() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> Any:
        return await run([work(t, 10 - t) for t in range(10)], max_concurrency=3).collect()

    results, _ = vrun(main)
    assert [r.value for r in results] == list(range(10))
    assert [r.index for r in results] == list(range(10))


# -- regressions (defects issue) ------------------------------------------------------------


def test_unbounded_runs_still_read_a_generator_lazily_and_keep_the_deadline() -> None:
    # max_concurrency=None used to drain the whole generator before anything ran (200k
    # calls: first result at 10 s, 1.1 GB; itertools.count(): never). Real time: the
    # engine gives the loop back between batches, which a virtual clock never sees idle.
    import itertools
    import time

    taken = 0

    @skill
    async def instant(i: int) -> int:
        return i

    def endless() -> Any:
        nonlocal taken
        for i in itertools.count():
            taken += 1
            yield instant(i)

    async def main() -> Any:
        first_at = None
        count = 0
        start = time.monotonic()
        async for _ in run(endless(), max_concurrency=None, timeout=1.0):
            if first_at is None:
                first_at = time.monotonic() - start
            count += 1
        return first_at, count, time.monotonic() - start

    first_at, count, elapsed = asyncio.run(main())
    # Results flow before the deadline: a run that drained the endless generator first
    # would have none before the deadline ended it (1 s: room for a loaded machine).
    assert first_at is not None and first_at < 1.0
    assert elapsed < 5  # the deadline ended an endless source (generous on a loaded machine)
    assert count == taken > 0  # every call taken has its result, and nothing more was read


def test_async_fallbacks_are_awaited_and_bounded_by_the_timeout() -> None:
    async def slow_default(exc: BaseException) -> str:
        await asyncio.sleep(0.5)
        return f"default after {type(exc).__name__}"

    async def stuck_default(exc: BaseException) -> str:
        await asyncio.sleep(100)
        return "never"

    @skill(fallback=slow_default, timeout=1)
    async def flaky() -> str:
        raise ConnectionError("down")

    @skill(fallback=stuck_default, timeout=1)
    async def flaky_stuck() -> str:
        raise ConnectionError("down")

    async def main() -> Any:
        return await run([flaky(), flaky_stuck()]).collect()

    results, loop = vrun(main)
    ok, stuck = results
    assert (ok.status, ok.value, ok.fallback_used, ok.finished_at) == (
        Status.ERROR, "default after ConnectionError", True, 0.5
    )
    # The fallback itself ran past the call's timeout: no value, the original error kept.
    assert (stuck.status, stuck.value, stuck.fallback_used) == (Status.ERROR, None, False)
    assert stuck.error is not None and stuck.error.type == "ConnectionError"
    assert stuck.finished_at == 1


def test_awaitables_are_awaited_whatever_makes_them() -> None:
    class Adder:
        async def __call__(self, x: int) -> int:
            await asyncio.sleep(0.1)
            return x + 1

    class Tools:
        @skill
        @staticmethod
        async def double(x: int) -> int:
            return 2 * x

    async def coro(x: int) -> int:
        await asyncio.sleep(0.1)
        return x * 3

    add = skill(Adder(), name="add")
    triple = skill(lambda x: coro(x), name="triple")  # sync callable returning a coroutine

    async def main() -> Any:
        return await run([add(1), Tools.double(2), Tools().double(3), triple(4)]).collect()

    results, _ = vrun(main)
    assert [r.value for r in results] == [2, 4, 6, 12]
    assert add.kind == "async"


def test_timed_out_thread_attempts_count_toward_the_cap() -> None:
    # At cap 1, timeout 0.05, three attempts, four calls of a 0.3 s blocking body, ten
    # bodies used to run at once: abandoned threads did not hold their slot.
    import threading
    import time

    lock = threading.Lock()
    running = 0
    most = 0

    @skill(timeout=0.05, retry=Retry(attempts=3, backoff=0))
    def blocking(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.3)
        finally:
            with lock:
                running -= 1
        return i

    async def main() -> Any:
        return await run([blocking(i) for i in range(4)], max_concurrency=1).collect()

    started = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == [Status.TIMEOUT] * 4
    assert [r.attempts for r in results] == [3] * 4
    assert most == 1
    # Each attempt waited for the one before it to end: 12 bodies of 0.3 s one at a time.
    assert elapsed >= 12 * 0.3 * 0.9
