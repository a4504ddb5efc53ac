"""Skills on Ray, against a real local Ray instance (``ray.init(num_cpus=2)`` once here).

Every promise of a run holds for Ray skills: one result per call, the skill's own error,
timeouts and cancellation that stop the task on the cluster (checked with Ray's state API,
with skills that would run for a minute if nothing stopped them), skillstream's retries and
never Ray's, the deadline, leaving early. Between Ray skills the value stays in Ray: a
50 MB intermediate never enters the driver (its peak RSS says so, and a control read shows
the same measure does see it when it does). Workers report what happened to them through
files in ``tmp_path``, as they are other processes.

Marked ``ray``: the fast suite runs ``-m "not ray"``, and without Ray installed the module is
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray  # the ray extra: this module runs only with `-m ray`, which .ci/run installs it for
from ray.util.state import list_tasks

from pipeline import Retry, Status, run, skill  # noqa: E402
from pipeline._executors._local import EXECUTORS  # noqa: E402
from pipeline._core._result import stored_value  # noqa: E402
from pipeline._executors._ray import RayExecutor, RayValue  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("loop_errors")]

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20
# Long enough that a task still "running" at the end of a check was never stopped: every
# check of the cluster gives up long before this.
FOREVER = 90.0


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    # The dashboard serves the state API (ray.util.state) the tests check the cluster with.
    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    # Start four workers now (a new one takes seconds on a busy machine): a test's
    # timeout must find its tasks running, not still waiting for a worker process.
    ray.get([_warm.options(num_cpus=0.5).remote() for _ in range(4)])
    try:
        yield
    finally:
        EXECUTORS.close()
        ray.shutdown()


def _warm() -> None:
    import pipeline._executors._ray  # noqa: F401  # what every Ray skill's task imports first

    time.sleep(0.5)


_warm = ray.remote(_warm)


# -- the cluster's view ----------------------------------------------------------------------


def tasks_named(name: str) -> list[Any]:
    """The state API's tasks of that name on this module's cluster (named by its address:
    other Ray instances may run on the same machine)."""
    address = ray.get_runtime_context().gcs_address
    return list_tasks(address=address, filters=[("name", "=", name)], limit=10_000, raise_on_missing_output=False)


def unfinished(*names: str) -> list[tuple[str, str]]:
    """Tasks of these skills that Ray does not report as finished or failed."""
    left = []
    for name in names:
        for task in tasks_named(name):
            if task.state not in ("FINISHED", "FAILED"):
                left.append((name, task.state))
    return left


async def assert_nothing_left_running(*names: str, within: float = 20.0) -> None:
    """Ray's state API lags its tasks by up to a second or so: poll, well within FOREVER."""
    deadline = time.monotonic() + within
    while True:
        left = unfinished(*names)
        if not left:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"still on the cluster {within:g} s later: {left}")
        await asyncio.sleep(0.25)


def mark(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(text + "\n")


def marks(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# -- skills ----------------------------------------------------------------------------------


@skill(executor="ray")
def where(x: int) -> tuple[int, int]:
    return x * 2, os.getpid()


@skill(executor="ray")
async def where_async(x: int) -> tuple[int, int]:
    await asyncio.sleep(0.01)
    return x * 3, os.getpid()


@skill(executor="ray")
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


@skill(executor="ray")
async def count_up_async(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@skill(executor="ray", ray_options={"num_cpus": 0.5, "name": "renamed"})
def with_options() -> float:
    return float(ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0))


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


@skill(executor="ray")
def values_of_every_size() -> dict[str, Any]:
    return {"small": [1, "two", 3.0], "big": b"x" * (100 * 1024), "object": Point(7)}


@skill(executor="ray")
def pick(values: dict[str, Any], key: str) -> Any:
    return values[key]


@skill(executor="ray")
def fails(message: str) -> int:
    raise ValueError(message)


@skill(executor="ray")
def flaky(counter: str, fail_times: int) -> str:
    mark(counter, "try")
    if len(Path(counter).read_text().split()) <= fail_times:
        raise ConnectionError("not yet")
    return "ok"


@skill(executor="ray")
def crashes(counter: str) -> int:
    mark(counter, "try")
    os._exit(1)


# Half a CPU each: the three run at once on the two CPUs.
@skill(executor="ray", timeout=5.0, ray_options={"num_cpus": 0.5})
def sleeps_in_c(marker: str) -> None:
    mark(marker, "started")
    time.sleep(FOREVER)  # C code: Ray's interrupt cannot reach it, the worker is killed
    mark(marker, "finished")


@skill(executor="ray", timeout=5.0, ray_options={"num_cpus": 0.5})
def spins_in_python(marker: str) -> None:
    mark(marker, "started")
    try:
        end = time.monotonic() + FOREVER
        while time.monotonic() < end:
            pass
    except KeyboardInterrupt:  # what ray.cancel raises in Python code
        mark(marker, "interrupted")
        raise


@skill(executor="ray", timeout=5.0, ray_options={"num_cpus": 0.5})
async def awaits_forever(marker: str) -> None:
    mark(marker, "started")
    try:
        await asyncio.sleep(FOREVER)
    except asyncio.CancelledError:
        mark(marker, "cancelled")
        raise


@skill(executor="ray")
def long_task(marker: str, i: int) -> int:
    mark(marker, f"started-{i}")
    time.sleep(FOREVER)
    return i


@skill(executor="ray", ray_options={"num_cpus": 0})  # never waits behind the long tasks
def quick(x: int) -> int:
    return x


@skill(executor="ray")
def make_blob(mb: int) -> bytes:
    return os.urandom(mb * MiB)  # random: nothing can compress or share its pages


@skill(executor="ray")
def digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@skill(executor="ray")
def total_size(blobs: list[bytes], extra: dict[str, bytes]) -> int:
    return sum(map(len, blobs)) + sum(map(len, extra.values()))


class Agent:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    @skill(executor="ray")
    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"


# -- where they run ----------------------------------------------------------------------------


async def test_sync_async_generator_and_method_skills_run_as_ray_tasks() -> None:
    results = await run(
        [
            where(21),
            where_async(5),
            count_up(3),
            count_up_async(2),
            Agent("hello").greet("ray"),
            Agent("hi").greet("again"),
            skill(lambda s: s.upper(), name="shout", executor="ray")("a lambda"),
        ]
    ).collect()

    assert [r.status for r in results] == [Status.SUCCESS] * 7
    (doubled, pid), (tripled, pid_async) = results["where"].value, results["where_async"].value
    assert (doubled, tripled) == (42, 15)
    assert os.getpid() not in (pid, pid_async)  # Ray workers, not the driver
    assert results["count_up"].value == [0, 1, 2]
    assert results["count_up_async"].value == [0, 1]
    # Each bound copy runs with its own instance, though they share one remote function.
    assert [r.value for r in results if r.key == "greet"] == ["hello, ray", "hi, again"]
    assert results["shout"].value == "A LAMBDA"


async def test_ray_options_reach_the_task() -> None:
    result = (await run([with_options()]).collect())[0]

    assert result.value == 0.5  # num_cpus reached Ray
    # ray_options' name is the task's name on the cluster (the state API shows it late).
    deadline = time.monotonic() + 20
    while not tasks_named("renamed"):
        assert time.monotonic() < deadline, "no task named 'renamed' on the cluster"
        await asyncio.sleep(0.25)


async def test_small_plain_values_come_back_at_once_and_others_stay_in_ray_until_read() -> None:
    everything = values_of_every_size()
    results = await run(
        [pick(everything, "small").named("small"), pick(everything, "big").named("big"), pick(everything, "object").named("object")]
    ).collect()

    small, big, obj = results["small"], results["big"], results["object"]
    assert stored_value(small) == [1, "two", 3.0]  # came back with the completion
    for stays in (results["values_of_every_size"], big, obj):
        assert isinstance(stored_value(stays), RayValue)  # still in Ray, until read:
    assert big.value == b"x" * (100 * 1024)
    assert obj.value.x == 7
    assert obj.value is obj.value  # fetched once
    assert big.model_dump()["value"] == big.value
    assert repr(obj).startswith("SkillResult(") and "<in Ray: ObjectRef(" in repr(obj)


# -- errors and retries --------------------------------------------------------------------


async def test_a_failing_ray_skill_is_an_error_result_with_its_own_type() -> None:
    results = await run(
        [fails("boom"), fails("boom").with_options(fallback=-1).named("with_fallback"), quick(1)]
    ).collect()

    boom, fell_back, ok = results
    assert (boom.status, boom.error and boom.error.type, boom.error and boom.error.message) == (
        Status.ERROR,
        "ValueError",
        "boom",
    )
    assert (fell_back.value, fell_back.fallback_used) == (-1, True)
    assert (ok.status, ok.value) == (Status.SUCCESS, 1)


async def test_retries_are_skillstreams_and_ray_retries_nothing(tmp_path: Path) -> None:
    flaky_counter, crash_counter, retried_crash = (str(tmp_path / n) for n in ("flaky", "crash", "again"))

    results = await run(
        [
            flaky(flaky_counter, 2).with_options(retry=Retry(attempts=3, backoff=0.01)),
            # A worker that dies: Ray's default would re-run the task 3 times by itself.
            crashes(crash_counter),
            crashes(retried_crash).with_options(retry=Retry(attempts=2, backoff=0.01)).named("again"),
        ]
    ).collect()

    flaky_result, crashed, again = results
    assert (flaky_result.status, flaky_result.value, flaky_result.attempts) == (Status.SUCCESS, "ok", 3)
    assert len(marks(Path(flaky_counter))) == 3  # each of our attempts ran once on Ray
    assert crashed.status is Status.ERROR and crashed.attempts == 1
    assert crashed.error is not None and crashed.error.type == "WorkerCrashedError"
    assert len(marks(Path(crash_counter))) == 1  # Ray did not retry it
    assert (again.attempts, len(marks(Path(retried_crash)))) == (2, 2)


# -- timeouts, cancellation, the deadline, leaving early ---------------------------------------


async def test_a_timeout_stops_the_task_on_the_cluster_whatever_it_is_doing(tmp_path: Path) -> None:
    in_c, in_python, in_async = (str(tmp_path / n) for n in ("c", "python", "async"))

    results = await run(
        [sleeps_in_c(in_c), spins_in_python(in_python), awaits_forever(in_async)], cancel_grace=10
    ).collect()

    assert [r.status for r in results] == [Status.TIMEOUT] * 3
    assert marks(Path(in_python)) == ["started", "interrupted"]  # KeyboardInterrupt in Python
    assert marks(Path(in_async)) == ["started", "cancelled"]  # cancelled inside its own loop
    assert marks(Path(in_c)) == ["started"]  # killed: it never got to finish
    await assert_nothing_left_running("sleeps_in_c", "spins_in_python", "awaits_forever")


async def test_the_deadline_ends_ray_calls_and_leaves_nothing_running(tmp_path: Path) -> None:
    marker = str(tmp_path / "deadline")

    results = await run(
        [quick(0), *(long_task(marker, i).named(f"long{i}") for i in range(4))],
        max_concurrency=3,
        timeout=2.0,
        cancel_grace=10,
    ).collect()

    statuses = {r.key: r.status for r in results}
    assert statuses["quick"] is Status.SUCCESS
    # Cap 3: quick and two long ones start, a third long one takes quick's slot; one never starts.
    assert sorted(s.value for k, s in statuses.items() if k != "quick") == ["skipped", "timeout", "timeout", "timeout"]
    await assert_nothing_left_running("long_task")
    assert len(marks(Path(marker))) <= 3  # the skipped call never reached Ray


# Each writes "<pid> in" on entering and (if it gets to) "<pid> out" on leaving: a killed
# worker runs no ``finally``, so the test then checks that its process is gone.
@skill(executor="ray", ray_options={"num_cpus": 0.5})
def sleeps_past_the_deadline(log: str, seconds: float = FOREVER) -> None:
    mark(log, f"{os.getpid()} in")
    try:
        time.sleep(seconds)
    finally:
        mark(log, f"{os.getpid()} out")


@skill(executor="ray", ray_options={"num_cpus": 0.5})
def spins_past_the_deadline(log: str, seconds: float = FOREVER) -> None:
    mark(log, f"{os.getpid()} in")
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    finally:
        mark(log, f"{os.getpid()} out")


@skill(executor="ray", ray_options={"num_cpus": 0.5})
async def awaits_past_the_deadline(log: str, seconds: float = FOREVER) -> None:
    mark(log, f"{os.getpid()} in")
    try:
        await asyncio.sleep(seconds)
    finally:
        mark(log, f"{os.getpid()} out")


# The docs' bound on how long a killed worker's process takes to exit once Ray reported it.
KILLED_EXITS_WITHIN = 0.5


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie runs nothing


def still_inside(log: Path) -> list[int]:
    """The workers that entered the skill, did not leave it, and are still alive."""
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    entered = [int(pid) for pid, what in lines if what == "in"]
    left = {int(pid) for pid, what in lines if what == "out"}
    return [pid for pid in entered if pid not in left and _alive(pid)]


@contextlib.contextmanager
def busy_cores() -> Iterator[None]:
    """Every core busy with another process, as on a shared CI machine."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(_cpus())
    ]
    try:
        time.sleep(0.2)
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
async def test_on_busy_cores_when_the_deadlines_results_are_out_no_task_is_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    skills = {"sleep": sleeps_past_the_deadline, "spin": spins_past_the_deadline, "async": awaits_past_the_deadline}
    logs = {name: tmp_path / name for name in skills}
    # Once each on idle cores, so that the workers have the skills' code before the clock runs.
    warm = await run([s(str(tmp_path / f"warm-{n}"), 0.01) for n, s in skills.items()]).collect()
    assert [r.status for r in warm] == [Status.SUCCESS] * 3

    with busy_cores():
        results = await run([s(str(logs[n])) for n, s in skills.items()], timeout=3.0).collect()
        # Checked at once, with the cores still busy: the promise is about this moment.
        inside = {name: still_inside(log) for name, log in logs.items()}
        # Ray reports a killed task ended as soon as the kill is under way: its process
        # may take a moment more to exit (never the grace it used to outlive).
        killed_at = time.monotonic()
        while still_inside(logs["sleep"]) and time.monotonic() < killed_at + KILLED_EXITS_WITHIN:
            await asyncio.sleep(0.01)
        dying = {name: still_inside(log) for name, log in logs.items()}

    # The run waited for each task until Ray reported it ended: it gave up on none.
    assert not [r.message for r in caplog.records if "ignored" in r.message and "cancellation" in r.message]
    assert {"spin": inside["spin"], "async": inside["async"]} == {"spin": [], "async": []}
    assert dying == {"sleep": [], "spin": [], "async": []}, f"still alive {KILLED_EXITS_WITHIN:g} s later"
    assert not any(line.endswith(" out") for line in logs["sleep"].read_text().splitlines())  # killed
    assert [r.status for r in results] == [Status.TIMEOUT] * 3
    assert all(logs[n].exists() for n in logs), "a task had not started by the deadline"
    await assert_nothing_left_running(
        "sleeps_past_the_deadline", "spins_past_the_deadline", "awaits_past_the_deadline"
    )


@pytest.mark.parametrize("leave", ["aclose", "cancel"])
async def test_leaving_early_cancels_running_and_queued_ray_tasks(tmp_path: Path, leave: str) -> None:
    marker = str(tmp_path / "early")
    # Four long tasks on two CPUs: two run, two wait in Ray's queue.
    calls = [quick(0), *(long_task(marker, i).named(f"long{i}") for i in range(4))]

    if leave == "aclose":
        async with run(calls, cancel_grace=10) as stream:
            async for result in stream:
                assert result.key == "quick"
                break
    else:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(run(calls, cancel_grace=10).collect(), timeout=2.0)

    await assert_nothing_left_running("long_task")
    assert len(marks(Path(marker))) <= 2  # the queued ones were withdrawn, never started



async def test_an_attempt_is_cancelled_once_ray_says_its_task_ended_and_at_once_if_cancelled_again(
    tmp_path: Path,
) -> None:
    # Never killed on its own within the test: only the second cancel can end it.
    executor = RayExecutor(force_after=FOREVER)
    marker = tmp_path / "twice"
    attempt = executor.start(asyncio.get_running_loop(), sleeps_in_c, (str(marker),), {})
    deadline = time.monotonic() + 30
    while marks(marker) != ["started"]:
        assert time.monotonic() < deadline, "the task never started"
        await asyncio.sleep(0.05)

    assert attempt.cancel()
    await asyncio.sleep(1.0)  # blocked in C, it ignores the interrupt: still being stopped
    assert not attempt.done()
    attempt.cancel()  # again: its worker is killed now
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(attempt, timeout=20)
    assert attempt.cancelled() and marks(marker) == ["started"]
    await assert_nothing_left_running("sleeps_in_c")


@skill(executor="ray")
def echo(x: Any) -> Any:
    return x


async def test_an_argument_ray_cannot_ship_fails_that_call_and_no_other() -> None:
    import threading

    results = await run([echo(threading.Lock()).named("lock"), echo(3).named("three")]).collect()

    lock, three = results["lock"], results["three"]
    assert lock.status is Status.ERROR and lock.error is not None
    assert "pickle" in lock.error.message or "serializ" in lock.error.message
    assert (three.status, three.value) == (Status.SUCCESS, 3)

# -- data stays in Ray -------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _peak_rise_mib(action: Any) -> tuple[Any, float]:
    _reset_peak()
    before = _status_kib("VmRSS")
    value = action()
    return value, (_status_kib("VmHWM") - before) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
async def test_a_50_mb_intermediate_between_ray_skills_never_enters_the_driver() -> None:
    blob = make_blob(50)
    done: list[Any] = []

    async def dag() -> None:
        done.append(await run(digest(blob)).collect())

    # The peak RSS of the driver over the whole run: the blob crossing it would add 50 MB.
    _reset_peak()
    before = _status_kib("VmRSS")
    await dag()
    rise = (_status_kib("VmHWM") - before) / 1024
    results = done[0]

    assert [r.status for r in results] == [Status.SUCCESS, Status.SUCCESS]
    assert isinstance(stored_value(results["make_blob"]), RayValue)
    assert rise < 20, f"driver peak RSS rose {rise:.1f} MiB during the DAG"

    # Control: the same measure sees the blob when the user does read it.
    value, read_rise = _peak_rise_mib(lambda: results["make_blob"].value)
    assert len(value) == 50 * MiB and read_rise > 40, read_rise
    assert results["digest"].value == hashlib.sha256(value).hexdigest()


async def test_ray_inputs_inside_lists_and_dicts_are_fetched_by_the_worker() -> None:
    blobs = [make_blob(1).named(f"b{i}") for i in range(3)]
    result = await total_size(blobs, {"x": make_blob(2).named("x")})

    assert result == 5 * MiB


# -- one run across every executor ---------------------------------------------------------------


@skill
async def numbers(n: int) -> list[int]:
    await asyncio.sleep(0.01)
    return list(range(1, n + 1))


@skill(executor="ray")
def squares(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@skill(executor="process")
def sum_in_process(xs: list[int]) -> tuple[int, int]:
    return sum(xs), os.getpid()


@skill(executor="ray")
def halve(total_and_pid: tuple[int, int]) -> float:
    return total_and_pid[0] / 2


@skill
def report(xs: list[int], total_and_pid: tuple[int, int], half: float) -> str:
    return f"{len(xs)} squares sum to {total_and_pid[0]}, half is {half}"


async def test_one_run_mixes_ray_process_thread_and_async_skills() -> None:
    sq = squares(numbers(4))
    total = sum_in_process(sq)
    results = await run([report(sq, total, halve(total))]).collect()

    assert {r.key: r.status for r in results} == dict.fromkeys(
        ["numbers", "squares", "sum_in_process", "halve", "report"], Status.SUCCESS
    )
    assert results["squares"].value == [1, 4, 9, 16]
    assert results["sum_in_process"].value[1] != os.getpid()
    assert results["report"].value == "4 squares sum to 30, half is 15.0"
    assert {n: s.kind for n, s in (("numbers", numbers), ("squares", squares), ("sum", sum_in_process), ("report", report))} == {
        "numbers": "async",
        "squares": "ray",
        "sum": "process",
        "report": "thread",
    }


# -- connecting --------------------------------------------------------------------------------


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=100,
    )


_JOIN = """
import asyncio, ray
from pipeline import skill
@skill(executor="ray")
def node_of(x: int) -> str:
    return ray.get_runtime_context().get_node_id()
async def main() -> str:
    return await node_of(1)
print("VALUE", asyncio.run(main()), ray.get_runtime_context().gcs_address)
"""


def test_with_ray_address_set_a_run_joins_that_cluster() -> None:
    address = ray.get_runtime_context().gcs_address
    proc = _python(_JOIN, RAY_ADDRESS=address)

    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("VALUE"))
    _, node, gcs = line.split()
    assert (node, gcs) == (ray.get_runtime_context().get_node_id(), address)
    assert "starting a local Ray instance" not in proc.stderr


def test_without_a_cluster_the_first_ray_skill_starts_a_local_instance() -> None:
    # The example relies on it; it starts (and at exit stops) a second, private instance.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_skills.py")],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        capture_output=True,
        text=True,
        timeout=100,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    cpus = len(os.sched_getaffinity(0))
    assert f"skillstream: starting a local Ray instance with {cpus} CPUs" in proc.stderr
    assert "digest of the 50 MB blob" in proc.stdout


# -- the benchmark, at smoke size ------------------------------------------------------------------


def test_the_overhead_benchmark_runs_and_writes_its_figures(tmp_path: Path) -> None:
    from benchmarks import ray_overhead

    out = tmp_path / "ray.json"
    ray_overhead.main(["--sections", "overhead", "--calls", "40", "--repeats", "1", "--output", str(out)])

    figures = json.loads(out.read_text())
    assert figures["skillstream_us_per_call"] > 0 and figures["raw_ray_us_per_call"] > 0
    assert figures["ratio"] == pytest.approx(
        figures["skillstream_us_per_call"] / figures["raw_ray_us_per_call"], rel=1e-6
    )
