"""User code that misbehaves: callbacks that raise, odd exceptions, broken sources.

A run must turn a skill's misbehaviour into that call's result, end the run with the
exception when the user's own callback (fallback, retry predicate, reducer, source)
fails, and in every case end: no hang, no task left pending, nothing logged by the loop
(``vrun`` checks the last two after every test). Virtual time unless said otherwise.
Reducer and fallback failures during a normal run are in test_consuming.py; this file
covers the other paths.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pipeline import Retry, SkillResult, Status, run, skill
from tests.support.probes import Probe
from tests.support.vloop import vrun


@skill
async def after(seconds: float, value: Any) -> Any:
    await asyncio.sleep(seconds)
    return value


# -- callbacks the user gives the run ------------------------------------------------------


def test_retry_predicate_that_raises_ends_the_run_with_its_exception() -> None:
    # Before the fix the exception escaped a done-callback: the loop logged it and the
    # run waited forever for a result that never came.
    probe = Probe()
    work = probe.make()

    def on(exc: BaseException) -> bool:
        raise LookupError(f"predicate bug on {type(exc).__name__}")

    @skill(retry=Retry(attempts=3, backoff=0, on=on))
    async def flaky() -> None:
        await asyncio.sleep(1)
        raise ConnectionError("reset")

    seen: list[Any] = []

    async def main() -> float:
        with pytest.raises(LookupError, match=r"^predicate bug on ConnectionError$"):
            async for r in run([work("quick", 0.5), flaky(), work("slow", 10)]):
                seen.append(r.value)
        return asyncio.get_running_loop().time()

    ended, _ = vrun(main)
    assert seen == ["quick"]  # what finished before the failure is delivered first
    assert probe.cancelled == ["slow"]  # in-flight siblings are cancelled, not orphaned
    assert ended == 1.0


def test_retry_predicate_that_raises_on_a_timeout_ends_the_run() -> None:
    @skill(timeout=1, retry=Retry(attempts=2, on=lambda exc: 1 / 0))
    async def hangs() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        with pytest.raises(ZeroDivisionError, match=r"^division by zero$"):
            await run([hangs()]).collect()

    vrun(main)


def test_fallback_that_raises_at_the_deadline_ends_the_run() -> None:
    probe = Probe()
    work = probe.make()

    def fallback(exc: BaseException) -> Any:
        raise LookupError(f"fallback bug on {type(exc).__name__}")

    @skill(fallback=fallback)
    async def slow() -> None:
        await asyncio.sleep(10)

    seen: list[Any] = []

    async def main() -> float:
        with pytest.raises(LookupError, match=r"^fallback bug on DeadlineExceeded$"):
            async for r in run([work("quick", 1), slow(), work("slow", 10)], timeout=2):
                seen.append(r.value)
        return asyncio.get_running_loop().time()

    ended, _ = vrun(main)
    assert seen[0] == "quick"
    assert ended == 2.0
    assert "slow" in probe.cancelled


def test_fallback_that_raises_for_a_skipped_call_ends_the_run() -> None:
    @skill
    async def broken() -> int:
        await asyncio.sleep(1)
        raise ValueError("no")

    def fallback(exc: BaseException) -> Any:
        raise LookupError(f"fallback bug on {type(exc).__name__}: {exc}")

    @skill(fallback=fallback)
    async def dependent(x: int) -> int:
        return x

    seen: list[SkillResult] = []

    async def main() -> None:
        with pytest.raises(
            LookupError, match=r"^fallback bug on DependencyFailed: dependency 'broken' \(#0\) ended error$"
        ):
            async for r in run([dependent(broken()), after(5, "other")]):
                seen.append(r)

    vrun(main)
    assert [(r.key, r.status.value) for r in seen] == [("broken", "error")]


def test_reducer_that_raises_in_reduce_cancels_in_flight_and_raises() -> None:
    probe = Probe()
    work = probe.make()

    def reducer(acc: list[Any], r: SkillResult) -> list[Any]:
        if len(acc) == 2:
            raise ArithmeticError(f"reducer bug at {r.value}")
        return acc + [r.value]

    async def main() -> None:
        with pytest.raises(ArithmeticError, match=r"^reducer bug at 3$"):
            await run([work(i, i) for i in range(1, 7)]).reduce(reducer, [])

    vrun(main)
    assert sorted(probe.cancelled) == [4, 5, 6]


def test_reducer_that_raises_on_the_first_result() -> None:
    probe = Probe()
    work = probe.make()

    def reducer(acc: int, r: SkillResult) -> int:
        raise TypeError(f"cannot add {r.value!r}")

    async def main() -> None:
        with pytest.raises(TypeError, match=r"^cannot add 'a'$"):
            async for _ in run([work("a", 0), work("b", 5)]).scan(reducer, 0):
                pass

    vrun(main)
    assert probe.cancelled == ["b"]


# -- odd things a skill can raise or return -----------------------------------------------


class Abort(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


def test_a_skill_raising_another_base_exception_ends_the_run_with_it() -> None:
    # Such an exception is not a skill failure (semantics 2), so it is not a result; but
    # raising it inside the loop's callback only got it logged, and the run hung.
    probe = Probe()
    work = probe.make()

    @skill
    async def aborts() -> None:
        await asyncio.sleep(1)
        raise Abort("stop everything")

    seen: list[Any] = []

    async def main() -> None:
        with pytest.raises(Abort, match=r"^stop everything$"):
            async for r in run([work("quick", 0.5), aborts(), work("slow", 10)]):
                seen.append(r.value)

    vrun(main)
    assert seen == ["quick"]
    assert probe.cancelled == ["slow"]


def test_an_exception_whose_str_fails_is_still_a_result() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    @skill
    async def raises_unprintable() -> None:
        raise Unprintable

    async def main() -> Any:
        return await run([raises_unprintable(), after(1, "ok")]).collect()

    (bad, good), _ = vrun(main)
    assert bad.status is Status.ERROR and bad.error is not None
    assert (bad.error.type, bad.error.message) == ("Unprintable", "<exception str() failed>")
    assert good.value == "ok"


def test_stop_iteration_from_an_async_skill_is_an_error_result() -> None:
    @skill
    async def first(items: list[int]) -> int:
        return next(iter(items))

    async def main() -> Any:
        return await run([first([]), first([7])]).collect()

    (empty, seven), _ = vrun(main)
    assert (empty.status, empty.error.type, empty.error.message) == (  # type: ignore[union-attr]
        Status.ERROR,
        "RuntimeError",
        "coroutine raised StopIteration",
    )
    assert seven.value == 7


async def test_stop_iteration_from_a_sync_skill_is_an_error_result(loop_errors: list[Any]) -> None:
    # Real loop (threads are not virtual). asyncio futures refuse StopIteration: the
    # thread's exception could not be copied onto the loop's future, the loop logged a
    # TypeError, and the call never ended.
    @skill
    def first(items: list[int]) -> int:
        return next(iter(items))

    results = await asyncio.wait_for(run([first([]), first([7])]).collect(), 10)
    empty, seven = results
    assert empty.status is Status.ERROR and empty.error is not None
    assert (empty.error.type, empty.error.message) == ("RuntimeError", "first raised StopIteration")
    assert seven.value == 7


async def test_unserialisable_values_are_fine_for_thread_and_async_skills(loop_errors: list[Any]) -> None:
    # Values never leave the process for these executors: a lock or a lambda is a value.
    lock = threading.Lock()

    @skill
    def returns_a_lock() -> threading.Lock:
        return lock

    @skill
    async def returns_a_function() -> Any:
        return lambda: "called"

    got_lock, got_function = (await run([returns_a_lock(), returns_a_function()]).collect())
    assert got_lock.value is lock
    assert got_function.value() == "called"


def test_huge_retry_budgets_do_not_overflow_the_backoff() -> None:
    # multiplier ** attempts overflows a float after ~1000 attempts at multiplier 2:
    # the OverflowError escaped the loop's callback and the call never ended.
    tries = 0

    @skill(retry=Retry(attempts=1100, backoff=0.001, multiplier=2, max_backoff=0.5))
    async def polls() -> str:
        nonlocal tries
        tries += 1
        if tries < 1100:
            raise ConnectionError("not yet")
        return "ready"

    async def main() -> Any:
        return await run([polls()]).collect()

    (result,), loop = vrun(main)
    assert (result.status, result.value, result.attempts) == (Status.SUCCESS, "ready", 1100)
    # Waits 0.001 * 2**k until they reach the 0.5 cap (after 9 doublings), then 0.5 each.
    expected = sum(min(0.001 * 2 ** min(k, 20), 0.5) for k in range(1099))
    assert loop.time() == pytest.approx(expected)
    assert Retry(attempts=5000, backoff=1, multiplier=10, max_backoff=3).delay(4000) == 3
    assert Retry(attempts=5000, backoff=0, multiplier=10).delay(4000) == 0


# -- sources that break --------------------------------------------------------------------


def test_async_generator_source_raising_midway_keeps_results_then_raises() -> None:
    probe = Probe()
    work = probe.make()
    closed: list[bool] = []

    async def calls() -> AsyncIterator[Any]:
        try:
            yield work("a", 1)
            yield work("b", 5)
            await asyncio.sleep(2)
            raise OSError("feed broke")
        finally:
            closed.append(True)

    seen: list[Any] = []

    async def main() -> float:
        with pytest.raises(OSError, match=r"^feed broke$"):
            async for r in run(calls(), max_concurrency=4):
                seen.append(r.value)
        return asyncio.get_running_loop().time()

    ended, _ = vrun(main)
    assert seen == ["a"]
    assert probe.cancelled == ["b"]
    assert closed == [True]
    assert ended == 2.0  # the error ends the run when it happens, not when b would end


def test_async_generator_source_raising_before_its_first_call() -> None:
    async def calls() -> AsyncIterator[Any]:
        raise PermissionError("no access to the queue")
        yield  # pragma: no cover - makes this an async generator

    async def main() -> None:
        with pytest.raises(PermissionError, match=r"^no access to the queue$"):
            await run(calls()).collect()

    vrun(main)


def test_generator_source_raising_on_its_first_call() -> None:
    def calls() -> Iterator[Any]:
        raise FileNotFoundError("calls.json")
        yield  # pragma: no cover - makes this a generator

    async def main() -> None:
        with pytest.raises(FileNotFoundError, match=r"^calls.json$"):
            await run(calls()).collect()

    vrun(main)


def test_async_generator_source_that_hangs_is_cut_by_the_deadline() -> None:
    closed: list[bool] = []

    async def calls() -> AsyncIterator[Any]:
        try:
            yield after(1, "first")
            await asyncio.sleep(3600)  # the queue never delivers the next call
            yield after(1, "never")
        finally:
            closed.append(True)

    async def main() -> Any:
        return await run(calls(), timeout=5).collect()

    results, loop = vrun(main)
    assert [(r.value, r.status.value) for r in results] == [("first", "success")]
    assert closed == [True]
    assert loop.time() == 5
