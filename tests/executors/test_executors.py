"""Sync skills in threads, CPU-bound skills in processes: real time, real workers."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest

from pipeline import Status, run, skill
from tests.support.probes import alive_midway

pytestmark = pytest.mark.slow


@skill
def blocking_sleep(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


@skill(timeout=0.2)
def stuck(seconds: float) -> str:
    time.sleep(seconds)
    return "late"


@skill(executor="process")
def crunch(n: int) -> tuple[int, int]:
    return os.getpid(), sum(i * i for i in range(n))


@skill(executor="process")
def die() -> None:
    os._exit(3)


@skill(executor="process")
def boom() -> None:
    raise ValueError("in the worker")


async def test_sync_skills_run_in_threads_concurrently(loop_errors: list[Any]) -> None:
    start = time.monotonic()
    results = await run([blocking_sleep(0.3) for _ in range(5)]).collect()
    elapsed = time.monotonic() - start
    assert all(r.ok for r in results)
    assert all(r.value.startswith("skillstream") for r in results)  # not the loop's thread
    # Five 0.3 s sleeps one after another would take 1.5 s; in threads about 0.3 s.
    # Generous bound for a loaded 2-core machine.
    assert elapsed < 1.0


async def test_thread_timeout_drops_the_late_result_and_keeps_the_pool_usable(loop_errors: list[Any]) -> None:
    results = await run([stuck(1.0) for _ in range(3)]).collect()
    assert [r.status for r in results] == [Status.TIMEOUT] * 3
    # The stuck threads are still sleeping; later calls still get threads at once.
    start = time.monotonic()
    more = await run([blocking_sleep(0.05) for _ in range(8)]).collect()
    assert all(r.ok for r in more)
    assert time.monotonic() - start < 0.8


async def test_process_skill_runs_in_another_process(loop_errors: list[Any]) -> None:
    results = await run([crunch(10_000), crunch(20_000)]).collect()
    assert [r.value[1] for r in results] == [sum(i * i for i in range(n)) for n in (10_000, 20_000)]
    assert all(r.value[0] != os.getpid() for r in results)


async def test_process_worker_death_is_an_error_and_the_pool_recovers(loop_errors: list[Any]) -> None:
    (dead,) = await run([die()]).collect()
    assert dead.status is Status.ERROR and dead.error and dead.error.type == "BrokenProcessPool"
    assert dead.error.message.startswith("the worker process running die died (exit code 3)")
    (after,) = await run([crunch(100)]).collect()
    assert after.ok and after.value[1] == sum(i * i for i in range(100))


async def test_process_skill_exception_is_an_error_result(loop_errors: list[Any]) -> None:
    (r,) = await run([boom()]).collect()
    assert r.status is Status.ERROR and r.error and (r.error.type, r.error.message) == ("ValueError", "in the worker")


async def test_unpicklable_argument_is_a_clear_error_result(loop_errors: list[Any]) -> None:
    (r,) = await run([crunch(lambda: 1)]).collect()  # type: ignore[arg-type]
    assert r.status is Status.ERROR and r.error is not None
    # What a user relies on, not CPython's wording (it changed in 3.13): an error that
    # says which call's arguments could not travel, and a pool that still works.
    assert r.error.type == "PicklingError"
    assert r.error.message.startswith("the arguments of crunch cannot be sent to a worker process: ")
    (after,) = await run([crunch(10)]).collect()
    assert after.ok


def test_process_skills_that_workers_could_never_import_fail_at_decoration() -> None:
    def local(n: int) -> int:
        return n

    with pytest.raises(TypeError, match=r"skill 'local'.*defined inside another.*top level"):
        skill(executor="process")(local)
    with pytest.raises(TypeError, match=r"skill 'square': executor='process' cannot run a lambda"):
        skill(lambda n: n * n, name="square", executor="process")


def square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


fast_square = skill(square, executor="process")  # the functional form, under another name


async def test_a_process_skill_made_from_a_module_function_under_another_name_runs(
    loop_errors: list[Any],
) -> None:
    (r,) = await run([fast_square(7)]).collect()
    assert r.ok, r.error
    assert r.value[1] == 49 and r.value[0] != os.getpid()


async def test_thread_skill_sees_the_callers_contextvars(loop_errors: list[Any]) -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    @skill
    def read() -> str:
        return request_id.get()

    request_id.set("req-42")
    assert await read() == "req-42"


async def test_async_skill_is_not_blocked_by_sync_siblings(loop_errors: list[Any]) -> None:
    @skill
    async def quick() -> float:
        await asyncio.sleep(0.01)
        return time.monotonic()

    start = time.monotonic()
    order = [r.key async for r in run([blocking_sleep(0.5), quick()])]
    assert order == ["quick", "blocking_sleep"]
    assert time.monotonic() - start < 2


@skill(timeout=5)
def pages(n: int) -> Any:
    for i in range(n):
        yield (threading.current_thread().name, i)


@skill(timeout=0.2)
def endless_pages() -> Any:
    i = 0
    while True:
        time.sleep(0.02)
        yield i
        i += 1


async def test_a_sync_generator_is_consumed_in_its_thread_under_the_timeout(loop_errors: list[Any]) -> None:
    ok, endless = await run([pages(3), endless_pages()]).collect()
    assert ok.status is Status.SUCCESS
    assert [i for _, i in ok.value] == [0, 1, 2]
    assert all(name.startswith("skillstream") for name, _ in ok.value)  # not the loop's thread
    assert endless.status is Status.TIMEOUT  # the timeout applied to the generator's body


def test_a_skill_can_have_a_process_pool_of_its_own_of_a_given_size() -> None:
    # executor= takes an Executor object: here a pool of one worker, whose one process
    # runs every call, one after another (the shared pool has one per CPU).
    from pipeline import ProcessExecutor

    own = ProcessExecutor(max_workers=1)
    try:
        lone = skill(fault_pid, executor=own, name="lone_pid")
        results = asyncio.run(run([lone(0.2) for _ in range(3)], max_concurrency=None).collect())
        assert len({r.value for r in results}) == 1 and all(r.ok for r in results)
        ends = sorted(r.finished_at or 0.0 for r in results)
        assert ends[2] - ends[0] >= 0.35  # serialised by the pool of one
        assert own.workers() == 1
    finally:
        own.close()


def test_a_thread_pool_of_its_own_bounds_its_skill_alone() -> None:
    from pipeline import ThreadExecutor

    own = ThreadExecutor(max_workers=2)
    try:
        sleepy = skill(_sleep_name, executor=own, name="sleepy")
        start = time.monotonic()
        results = asyncio.run(run([sleepy(0.2) for _ in range(4)], max_concurrency=None).collect())
        assert all(r.ok for r in results) and time.monotonic() - start >= 0.38  # two at a time
        assert own.threads() == 2
    finally:
        own.close()


def test_executor_must_be_a_name_or_an_executor() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="executor must be 'auto', 'thread', 'process', 'ray' or an Executor"):
        skill(_sleep_name, executor="gpu")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="executor must be a name or an Executor"):
        skill(_sleep_name, executor=object())  # type: ignore[arg-type]


def _sleep_name(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


from tests.support.fault_skills import plain_pid_after as fault_pid  # noqa: E402


def test_a_finished_thread_job_is_freed_at_once_not_left_to_the_gc() -> None:
    # A thread job and its future point at each other until the job is over; a cycle per
    # call would make large runs of sync skills pay for collections.
    from pipeline._executors._local import _ThreadJob

    @skill(timeout=5)
    def noop(i: int) -> int:
        return i

    alive = asyncio.run(alive_midway([noop(i) for i in range(300)], _ThreadJob, 4))
    assert alive <= 8  # those in flight, at most, not one per finished call
