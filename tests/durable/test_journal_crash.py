"""A real ``kill -9`` halfway through a journaled run, then the rerun (child processes).

Each example starts ``tests/support/journal_child.py``, waits until its run is under way, sleeps a
hypothesis-chosen delay, kills it with SIGKILL, then runs the child again to the end with
the same run id. Executions are counted in a side file the skills append to.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import RunInProgress, run, skill
from tests.support import journal_child
from tests.support.hosts import needs_unshare, on_host

CHILD = Path(journal_child.__file__).resolve()
ROOT = CHILD.parents[2]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _start(mode: str, db: Path, executed: Path, seen: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, str(db), str(executed), str(seen)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill_midway(mode: str, directory: Path, delay: float) -> tuple[Path, Path, int]:
    db, executed, seen = directory / "runs.db", directory / "executed", directory / "seen"
    child = _start(mode, db, executed, seen)
    deadline = time.monotonic() + 60
    while not _lines(executed):  # the run is under way (imports take most of the start)
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never started a call"
        time.sleep(0.002)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.communicate()  # reaped: a zombie would still look alive to the run-id check
    code = child.returncode
    return executed, seen, code


def _journaled(db: Path, run_id: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {
            key
            for (key,) in conn.execute(
                "SELECT key FROM skillstream_results WHERE run_id = ? AND status = 'success' "
                "AND key != ''",
                (run_id,),
            )
        }


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _resume(mode: str, directory: Path) -> list[str]:
    db, executed, seen = directory / "runs.db", directory / "executed", directory / "seen-again"
    child = _start(mode, db, executed, seen)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err.decode()
    return _lines(seen)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delay=st.floats(min_value=0.0, max_value=0.25))  # the run takes about 0.2 s
def test_a_run_killed_at_any_moment_resumes_without_redoing_what_finished(delay: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        executed, seen, code = _kill_midway("calls", directory, delay)
        seen_before = {line.split()[0] for line in _lines(seen)}
        journaled = _journaled(directory / "runs.db", "crash")
        assert seen_before <= journaled  # what the consumer saw had been written first
        assert _integrity(directory / "runs.db") == "ok"

        again = _resume("calls", directory)

        keys = [line.split()[0] for line in again]
        assert sorted(keys) == sorted(f"w{i}" for i in range(journal_child.CALLS))
        replayed = {line.split()[0] for line in again if line.split()[1] == "1"}
        assert replayed == journaled
        runs = Counter(_lines(executed))
        assert set(runs) == {f"w{i}" for i in range(journal_child.CALLS)}
        assert all(runs[key] == 1 for key in journaled)  # seen (or written): ran once
        twice = [key for key, n in runs.items() if n > 1]
        assert all(runs[key] == 2 for key in twice)
        # In flight, or finished and not yet committed, at the kill: each held a slot.
        assert len(twice) <= journal_child.CAP, (code, twice)
        assert _integrity(directory / "runs.db") == "ok"


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delay=st.floats(min_value=0.0, max_value=0.2))
def test_a_state_graph_killed_at_any_moment_resumes_from_its_finished_nodes(delay: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        executed, _, code = _kill_midway("graph", directory, delay)
        journaled = _journaled(directory / "runs.db", "crash-graph")
        assert _integrity(directory / "runs.db") == "ok"

        again = _resume("graph", directory)

        fanout = journal_child.FANOUT
        assert again == [f"state {sum(range(fanout)) + 1}"]
        runs = Counter(_lines(executed))
        nodes = {f"n{i}" for i in range(fanout)} | {"final", "tail"}
        assert set(runs) == nodes
        assert all(runs[key] == 1 for key in journaled)
        twice = [key for key, n in runs.items() if n > 1]
        assert all(runs[key] == 2 for key in twice)
        assert len(twice) <= journal_child.GRAPH_CAP, (code, twice)
        assert _integrity(directory / "runs.db") == "ok"


@skill
async def local(i: int) -> int:
    return i


@pytest.mark.slow
async def test_processes_share_a_journal_but_not_a_run_id(tmp_path: Path) -> None:
    db, executed, seen = tmp_path / "runs.db", tmp_path / "executed", tmp_path / "seen"
    child = _start("calls", db, executed, seen)
    try:
        while not _lines(executed):
            assert child.poll() is None
            time.sleep(0.002)
        with pytest.raises(RunInProgress, match=rf"^run id 'crash' is already running in process {child.pid} "):
            await run([local(1)], journal=db, run_id="crash").collect()
        # Another run id in the same file, while the child writes: both commit.
        mine = await run([local(i).named(f"l{i}") for i in range(50)], journal=db, run_id="mine").collect()
        assert [r.value for r in mine] == list(range(50))
    finally:
        child.communicate(timeout=60)
    assert child.returncode == 0
    assert len(_journaled(db, "crash")) == journal_child.CALLS
    assert len(_journaled(db, "mine")) == 50


# -- leases: a deploy moves the run to another host ---------------------------------------


def _on_host(host: str, db: Path, directory: Path, lease: float, calls: int, seen: str) -> subprocess.Popen[bytes]:
    """The ``lease`` child in a UTS namespace of its own, named ``host`` (a pod)."""
    return on_host(host, [sys.executable, str(CHILD), "lease", str(db), str(directory / "executed"),
                          str(directory / seen), str(lease), str(calls)])


@pytest.mark.slow
@needs_unshare
def test_a_run_killed_on_one_host_resumes_on_another_once_its_lease_expired(tmp_path: Path) -> None:
    lease = 2.0
    db, executed = tmp_path / "runs.db", tmp_path / "executed"
    first = _on_host("pod-a", db, tmp_path, lease, journal_child.LEASE_CALLS, "seen-a")
    deadline = time.monotonic() + 60
    while len(_lines(executed)) < 12:  # under way, some results journaled
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.002)
    first.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    first.communicate()
    journaled = _journaled(db, "lease")
    assert journaled

    # The new pod at once: pod-a's lease is fresh (pod-a may only be slow), so refused.
    early = _on_host("pod-b", db, tmp_path, lease, journal_child.LEASE_CALLS, "seen-b")
    _, err = early.communicate(timeout=60)
    if early.returncode == 0:  # it started slower than the lease: a take-over, legitimately
        assert time.monotonic() - killed_at > lease
    else:
        assert early.returncode == 3, err.decode()
        assert "already running in process" in err.decode() and "on pod-a" in err.decode()
        # Once the lease has expired, pod-b takes the run over and finishes it.
        time.sleep(max(0.0, killed_at + lease + 0.2 - time.monotonic()))
        later = _on_host("pod-b", db, tmp_path, lease, journal_child.LEASE_CALLS, "seen-b")
        _, err = later.communicate(timeout=120)
        assert later.returncode == 0, err.decode()
    again = _lines(tmp_path / "seen-b")
    assert sorted(line.split()[0] for line in again) == sorted(f"w{i}" for i in range(journal_child.LEASE_CALLS))
    assert {line.split()[0] for line in again if line.split()[1] == "1"} == journaled
    runs = Counter(_lines(executed))
    assert all(runs[key] == 1 for key in journaled)  # not redone
    assert _integrity(db) == "ok"


@pytest.mark.slow
@needs_unshare
def test_a_live_owner_that_renews_is_never_taken_over(tmp_path: Path) -> None:
    lease, calls = 1.0, 400  # the run takes about 5 s: five leases
    db, executed = tmp_path / "runs.db", tmp_path / "executed"
    owner = _on_host("pod-a", db, tmp_path, lease, calls, "seen-a")
    try:
        deadline = time.monotonic() + 60
        while not _lines(executed):
            assert owner.poll() is None, owner.stderr.read().decode() if owner.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.002)
        started = time.monotonic()
        refusals = 0
        # Another host keeps trying for more than two leases, while the owner runs.
        while time.monotonic() - started < 2.5 * lease and owner.poll() is None:
            other = _on_host("pod-b", db, tmp_path, lease, calls, f"seen-b{refusals}")
            _, err = other.communicate(timeout=60)
            if owner.poll() is not None:
                break
            assert other.returncode == 3, err.decode()
            assert "on pod-a" in err.decode()
            refusals += 1
        assert refusals >= 2
        assert time.monotonic() - started > lease  # tried after the first lease had run out
    finally:
        _, err = owner.communicate(timeout=120)
    assert owner.returncode == 0, err.decode()  # never lost its lease
    seen = _lines(tmp_path / "seen-a")
    assert sorted(line.split()[0] for line in seen) == sorted(f"w{i}" for i in range(calls))
    assert all(n == 1 for n in Counter(_lines(executed)).values())  # nobody else ran a call
