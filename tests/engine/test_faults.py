"""Fault injection with real parts: sockets, threads, processes. Real time, marked slow.

HTTP: real aiohttp skills against tests/support/fault_server.py on 127.0.0.1 (latency, 5xx,
connection resets, truncated bodies, a black hole). Executors: threads that outlive their
timeout, process workers that die or send back what cannot be pickled.

Times are asserted as bands with the margin explained: this machine has two cores shared
with other jobs, so an upper bound is generous, a lower bound is exact.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from pipeline import Retry, SkillCall, Status, run, skill
from pipeline._executors import _local as executors
from tests.support import fault_skills
from tests.support.fault_server import FaultServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    srv = await FaultServer().start()
    try:
        yield srv
    finally:
        await srv.close()


def http_skill(session: aiohttp.ClientSession, base: str) -> Any:
    """A real skill: GET a path, fail on an HTTP error status, return the JSON body."""

    @skill(name="get")
    async def get(path: str) -> Any:
        async with session.get(base + path) as response:
            response.raise_for_status()
            return await response.json()

    return get


def call(get: Any, path: str, **options: Any) -> SkillCall[Any]:
    return get(path).named(path).with_options(**options)


async def wait_until(predicate: Any, within: float = 2.0) -> None:
    """Poll for something another task or process does soon (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def no_unclosed_resources() -> None:
    # Unclosed sockets or sessions emit ResourceWarning when collected; pytest turns
    # that (filterwarnings = error) into a failure of this test, not of a later one.
    gc.collect()


# -- HTTP faults -----------------------------------------------------------------------------


async def test_each_http_fault_is_classified(server: FaultServer, loop_errors: list[Any]) -> None:
    async with aiohttp.ClientSession() as session:
        get = http_skill(session, server.url)
        calls = [
            call(get, "/ok"),
            call(get, "/latency/200", timeout=2),
            call(get, "/status/503"),
            call(get, "/status/500"),
            call(get, "/reset"),
            call(get, "/reset-before-headers"),
            call(get, "/truncated"),
            call(get, "/blackhole", timeout=0.5),
        ]
        start = time.monotonic()
        results = await run(calls).collect()
        elapsed = time.monotonic() - start
    url = server.url
    got = {r.key: (r.status.value, r.error.type if r.error else None, r.error.message if r.error else None) for r in results}
    assert got == {
        "/ok": ("success", None, None),
        "/latency/200": ("success", None, None),
        "/status/503": ("error", "ClientResponseError", f"503, message='Service Unavailable', url='{url}/status/503'"),
        "/status/500": ("error", "ClientResponseError", f"500, message='Internal Server Error', url='{url}/status/500'"),
        "/reset": (
            "error",
            "ClientPayloadError",
            "Response payload is not completed: <ContentLengthError: 400, message='Not enough data to "
            "satisfy content length header (received 12 of 1000 bytes).'>. "
            "ConnectionResetError(104, 'Connection reset by peer')",
        ),
        "/reset-before-headers": ("error", "ClientOSError", "[Errno 104] Connection reset by peer"),
        "/truncated": (
            "error",
            "ClientPayloadError",
            "Response payload is not completed: <ContentLengthError: 400, message='Not enough data to "
            "satisfy content length header (received 10 of 1000 bytes).'>",
        ),
        "/blackhole": ("timeout", "SkillTimeout", "attempt 1 exceeded the timeout of 0.5 s"),
    }
    by_key = {r.key: r for r in results}
    assert by_key["/ok"].value == {"ok": True, "path": "/ok"}
    assert by_key["/latency/200"].duration >= 0.2  # type: ignore[operator]
    # The black hole ended at its timeout: >= 0.5 exactly (a loop timer never fires
    # early), and the whole run with it; 1.5 s of slack for a loaded machine.
    assert 0.5 <= by_key["/blackhole"].duration < 2.0  # type: ignore[operator]
    assert elapsed < 2.0
    # The cancelled request closed its connection: the server saw its client leave.
    await wait_until(lambda: server.abandoned == ["/blackhole"])
    no_unclosed_resources()


async def test_resets_are_retried_and_client_errors_are_not(server: FaultServer, loop_errors: list[Any]) -> None:
    def retryable(exc: BaseException) -> bool:
        # Retry transport failures and 5xx, never a 4xx: the request itself is wrong.
        if isinstance(exc, aiohttp.ClientResponseError):
            return exc.status >= 500
        return isinstance(exc, (aiohttp.ClientError, TimeoutError))

    policy = Retry(attempts=3, backoff=0.05, on=retryable)
    async with aiohttp.ClientSession() as session:
        get = http_skill(session, server.url)
        results = await run(
            [
                call(get, "/flaky/a/2", retry=policy),  # reset twice, then 200
                call(get, "/flaky/b/5", retry=policy),  # reset more often than the budget
                call(get, "/status/404", retry=policy),
                call(get, "/status/503", retry=policy),
                call(get, "/blackhole", retry=policy, timeout=0.2),
            ]
        ).collect()
    got = [(r.key, r.status.value, r.attempts) for r in results]
    assert got == [
        ("/flaky/a/2", "success", 3),
        ("/flaky/b/5", "error", 3),
        ("/status/404", "error", 1),
        ("/status/503", "error", 3),
        ("/blackhole", "timeout", 3),
    ]
    assert results[0].value == {"ok": True, "path": "/flaky/a/2"}
    assert server.requests["/flaky/a/2"] == 3 and server.requests["/status/404"] == 1
    await wait_until(lambda: server.abandoned == ["/blackhole"] * 3)
    no_unclosed_resources()


async def test_black_holes_at_the_deadline_and_on_early_exit(server: FaultServer, loop_errors: list[Any]) -> None:
    async with aiohttp.ClientSession() as session:
        get = http_skill(session, server.url)
        start = time.monotonic()
        results = await run([call(get, "/ok"), call(get, "/blackhole"), call(get, "/blackhole").named("bh2")], timeout=0.3).collect()
        elapsed = time.monotonic() - start
        assert [(r.status.value, r.error.type if r.error else None) for r in results] == [
            ("success", None),
            ("timeout", "DeadlineExceeded"),
            ("timeout", "DeadlineExceeded"),
        ]
        assert 0.3 <= elapsed < 1.5  # the deadline, not the (infinite) black hole
        await wait_until(lambda: len(server.abandoned) == 2)

        # Early exit: leave after the first result; every black-holed request is closed
        # before aclose() returns (the server notices a moment later).
        stream = run([call(get, "/latency/50")] + [call(get, "/blackhole").named(f"bh{i}") for i in range(5)])
        async with stream:
            async for r in stream:
                assert r.key == "/latency/50"
                break
        await wait_until(lambda: len(server.abandoned) == 7)
    no_unclosed_resources()


async def test_a_fan_out_of_mixed_faults_never_hangs(server: FaultServer, loop_errors: list[Any]) -> None:
    paths = ["/ok", "/latency/30", "/status/502", "/reset", "/truncated", "/blackhole"]
    expected = {
        "/ok": "success",
        "/latency/30": "success",
        "/status/502": "error",
        "/reset": "error",
        "/truncated": "error",
        "/blackhole": "timeout",
    }
    async with aiohttp.ClientSession() as session:
        get = http_skill(session, server.url)
        calls = [call(get, paths[i % len(paths)], timeout=0.3).named(f"{i}") for i in range(60)]
        start = time.monotonic()
        results = await run(calls, max_concurrency=12).collect()
        elapsed = time.monotonic() - start
    assert [r.status.value for r in results] == [expected[paths[i % len(paths)]] for i in range(60)]
    # 10 black holes at 0.3 s each over 12 slots: about 0.3-0.6 s; generous bound.
    assert elapsed < 5
    await wait_until(lambda: len(server.abandoned) == 10)
    no_unclosed_resources()


# -- threads ----------------------------------------------------------------------------------


def skillstream_threads() -> int:
    return executors.EXECUTORS.get("thread").threads()  # type: ignore[attr-defined]


async def test_stuck_threads_are_abandoned_and_later_runs_still_get_threads(loop_errors: list[Any]) -> None:
    finished: list[str] = []

    @skill(timeout=0.1)
    def stuck(i: int) -> str:
        time.sleep(1.5)
        finished.append(f"stuck {i}")
        if i % 2:
            # A late failure: nobody awaits it, and nothing may log "never retrieved".
            raise RuntimeError("late failure")
        return "late value"

    @skill
    def quick(i: int) -> int:
        time.sleep(0.05)
        return i

    # Debug mode makes the loop refuse non-thread-safe calls from worker threads
    # (asyncio.AbstractEventLoop is not thread-safe): every completion must hop onto the loop.
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    # The pool is shared with earlier tests and never shrinks: start from what exists.
    before = skillstream_threads()
    for round_ in range(3):
        start = time.monotonic()
        results = await run([stuck(i) for i in range(40)], max_concurrency=None).collect()
        assert [r.status for r in results] == [Status.TIMEOUT] * 40
        assert time.monotonic() - start < 1.0  # not held by the threads, which sleep 1.5 s
        # While the 40 strays still sleep, later calls get threads at once: 60 quick
        # calls (0.05 s each) in parallel take ~0.05 s; 1.0 s allows for load.
        start = time.monotonic()
        more = await run([quick(i) for i in range(60)], max_concurrency=None).collect()
        assert [r.value for r in more] == list(range(60))
        assert time.monotonic() - start < 1.0
        # At most 100 calls ever ran at once (40 strays + 60 quick): a round that needs
        # 100 threads finds the previous round's idle ones instead of adding 100 more.
        assert skillstream_threads() <= max(before, 100) <= executors.THREAD_POOL_SIZE
        await wait_until(lambda: len(finished) == 40 * (round_ + 1), within=5)
    loop.set_debug(False)


# -- processes --------------------------------------------------------------------------------


async def test_a_dying_worker_fails_only_its_own_call_and_is_replaced(loop_errors: list[Any]) -> None:
    results = await run(
        [fault_skills.dies_after(0.2)] + [fault_skills.pid_after(0.6).named(f"sibling{i}") for i in range(2)],
        max_concurrency=None,
    ).collect()
    got = [(r.key, r.status.value, r.error.type if r.error else None, r.attempts) for r in results]
    # Each job has a worker of its own: the death fails that job alone (a
    # ProcessPoolExecutor would have failed every sibling with BrokenProcessPool).
    assert got == [
        ("dies_after", "error", "BrokenProcessPool", 1),
        ("sibling0", "success", None, 1),
        ("sibling1", "success", None, 1),
    ]
    assert results[0].error.message == (  # type: ignore[union-attr]
        "the worker process running dies_after died (exit code 7); a new one takes later calls"
    )
    (after,) = await run([fault_skills.double(21)]).collect()
    assert after.value == 42


async def test_values_and_exceptions_that_cannot_travel_back_from_a_worker(loop_errors: list[Any]) -> None:
    def worker_pids() -> set[int]:
        return {w.process.pid for w in executors.EXECUTORS.get("process")._workers}  # type: ignore[attr-defined]

    await run([fault_skills.pid_after(0) for _ in range(5)], max_concurrency=None).collect()
    pids_before = worker_pids()
    results = await run(
        [
            fault_skills.returns_a_lock(),
            fault_skills.raises_two_part(),
            fault_skills.raises_with_a_lock(),
            fault_skills.raises_stop_iteration(),
            fault_skills.pid_after(0.3),  # a sibling in the same pool, running meanwhile
        ],
        max_concurrency=None,
    ).collect()
    got = [(r.key, r.status.value, r.error.type if r.error else None, r.error.message if r.error else None) for r in results]
    assert got == [
        ("returns_a_lock", "error", "TypeError", "cannot pickle '_thread.lock' object"),
        # An exception pickle cannot rebuild in the parent used to kill the pool's result
        # thread: this call and every sibling then failed with BrokenProcessPool. It now
        # comes back as its type name and message.
        ("raises_two_part", "error", "TwoPartError", "503 upstream busy"),
        ("raises_with_a_lock", "error", "CarriesALock", "holding a lock"),
        ("raises_stop_iteration", "error", "RuntimeError", "raises_stop_iteration raised StopIteration"),
        ("pid_after", "success", None, None),
    ]
    # None of it cost a worker.
    assert worker_pids() == pids_before
    (after,) = await run([fault_skills.double(4)]).collect()
    assert after.value == 8


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def _pid_from(path: Any) -> int:
    await wait_until(lambda: path.exists() and path.read_text() != "", within=10)
    return int(path.read_text())


@pytest.mark.parametrize("how", ["timeout", "deadline", "leaving early"])
async def test_a_process_job_given_up_is_stopped_and_its_worker_replaced(
    how: str, tmp_path: Any, loop_errors: list[Any]
) -> None:
    await run([fault_skills.pid_after(0)]).collect()  # a worker started: the timeout is the body's
    pid_file = tmp_path / "pid"
    call = fault_skills.sleeps_after_writing_pid(str(pid_file), 60)
    if how == "timeout":
        (r,) = await run([call.with_options(timeout=1.0)]).collect()
        assert r.status is Status.TIMEOUT
    elif how == "deadline":
        (r,) = await run([call], timeout=1.0).collect()
        assert r.status is Status.TIMEOUT
    else:
        async with run([call, fault_skills.double(1)]) as stream:
            async for first in stream:
                assert first.value == 2
                await _pid_from(pid_file)  # the sleeper is really running
                break
    pid = await _pid_from(pid_file)
    # The worker running the abandoned job is terminated: the body does not run on for
    # a minute holding a CPU (a thread could not be stopped; a process can).
    await wait_until(lambda: _gone(pid), within=10)
    (after,) = await run([fault_skills.pid_after(0)]).collect()
    assert after.ok and after.value != pid
