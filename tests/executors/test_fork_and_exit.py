"""Processes that fork, and interpreters that exit while skill work is still running.

Real subprocesses: a forked child must not inherit its parent's dead pools, and a thread
stuck past its timeout must not keep the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time

import pytest

from pipeline import run, shutdown, skill
from pipeline._executors._local import EXECUTORS, ThreadExecutor

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@skill
def double(x: int) -> int:
    return 2 * x


@skill(executor="process")
def triple(x: int) -> int:
    return 3 * x


def _python(code: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - start


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_thread_and_process_skills_work_in_a_forked_child() -> None:
    # Warm the parent's pools first: the child inherits the pool objects, not their
    # threads, and used to hang forever waiting for them.
    assert [r.value for r in asyncio.run(run([double(1), triple(2)]).collect())] == [2, 6]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if the run worked
        try:
            values = [r.value for r in asyncio.run(run([double(3), triple(4)]).collect())]
            os.write(write, repr(values).encode())
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(write)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung running a thread or process skill")
    out = os.read(read, 1000).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0 and out == "[6, 12]"


def test_a_thread_stuck_past_its_timeout_does_not_hold_the_exit() -> None:
    done, elapsed = _python(
        """
        import asyncio, time
        from pipeline import run, skill

        @skill(timeout=0.1)
        def stuck() -> str:
            time.sleep(10)
            return "late"

        results = asyncio.run(run([stuck()]).collect())
        print(results[0].status.value)
        """,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timeout"
    assert elapsed < 5, f"the interpreter waited {elapsed:.1f} s for the abandoned thread"


def test_a_process_job_still_running_does_not_hold_the_exit() -> None:
    # A job abandoned at its timeout is stopped, and one still running when the program
    # ends (left by an early exit) is stopped at exit: neither keeps the interpreter.
    done, elapsed = _python(
        """
        import asyncio
        from pipeline import run
        from tests.support.fault_skills import double, pid_after

        async def main() -> None:
            (r,) = await run([pid_after(30).with_options(timeout=0.5)]).collect()
            print(r.status.value)
            async with run([pid_after(30), double(2)]) as stream:
                async for first in stream:
                    print(first.value)
                    break

        asyncio.run(main())
        """,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["timeout", "4"]
    assert elapsed < 20, f"the interpreter waited {elapsed:.1f} s for a process job"


def test_a_skills_own_process_pool_does_not_hold_the_exit_either() -> None:
    done, elapsed = _python(
        """
        import asyncio
        from pipeline import ProcessExecutor, run, skill
        from tests.support.fault_skills import plain_pid_after

        own = skill(plain_pid_after, executor=ProcessExecutor(max_workers=1), name="own_pid")

        async def main() -> None:
            (r,) = await run([own(0)]).collect()
            print("ran" if r.ok else r.error)
            async with run([own(30), own(0)], max_concurrency=1) as stream:
                pass  # left at once: the 30 s job was started in the pool's one worker

        asyncio.run(main())
        """,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ran"]
    assert elapsed < 20, f"the interpreter waited {elapsed:.1f} s for a skill's own pool"


def test_shutdown_closes_the_pools_and_later_calls_make_new_ones() -> None:
    asyncio.run(run([double(1)]).collect())
    first = EXECUTORS.get("thread")
    assert isinstance(first, ThreadExecutor) and first.threads() >= 1
    shutdown()
    deadline = time.monotonic() + 5
    while first.threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.threads() == 0  # its workers ended
    assert [r.value for r in asyncio.run(run([double(5)]).collect())] == [10]
    assert EXECUTORS.get("thread") is not first
