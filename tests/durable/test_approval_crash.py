"""Approval across a real ``kill -9``: a process reports a call as pending and is killed
while it waits; a second process resumes the run with the person's decision.

The children are ``tests/support/approval_child.py`` on a real SQLite journal. Executions
are counted in a side file every skill appends to when it starts: what finished before the
kill replays and never runs again; the call cut off by the kill runs again; the decided
call runs once (approved) or never (rejected).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support import approval_child

CHILD = Path(approval_child.__file__).resolve()
ROOT = CHILD.parents[2]

pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _start(directory: Path, seen: str, *decision: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(directory / "runs.db"), str(directory / "executed"),
         str(directory / seen), *decision],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _kill_while_waiting(directory: Path) -> list[str]:
    child = _start(directory, "seen-1")
    deadline = time.monotonic() + 60
    while "waiting" not in _lines(directory / "seen-1"):
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never reported the pending call"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.communicate()  # reaped: a zombie would still look alive to the run-id check
    assert child.returncode == -signal.SIGKILL
    return _lines(directory / "seen-1")


def _resume(directory: Path, *decision: str) -> dict[str, tuple[str, bool]]:
    child = _start(directory, "seen-2", *decision)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err.decode()
    out: dict[str, tuple[str, bool]] = {}
    for line in _lines(directory / "seen-2"):
        key, status, replayed = line.split()
        out[key] = (status, replayed == "1")
    return out


def _journaled(directory: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(directory / "runs.db")) as conn:
        return dict(conn.execute("SELECT key, status FROM skillstream_results WHERE run_id = 'pay-1'"))


def test_a_second_process_approves_what_a_killed_one_left_pending(tmp_path: Path) -> None:
    first = _kill_while_waiting(tmp_path)
    assert "transfer pending 0" in first and "receipt skipped 0" in first
    journaled = _journaled(tmp_path)
    assert "transfer" not in journaled and "slow" not in journaled  # pending, and cut off
    assert {k for k in journaled if k.startswith("lookup")} == {f"lookup{i}" for i in range(10)}

    second = _resume(tmp_path, "approve", "120")
    assert {k: v for k, v in second.items() if k.startswith("lookup")} == {
        f"lookup{i}": ("success", True) for i in range(10)
    }
    assert second["slow"] == ("success", False)
    assert second["transfer"] == ("success", False)
    assert second["receipt"] == ("success", False)
    executed = Counter(_lines(tmp_path / "executed"))
    # Each quick lookup ran once, in the first process; the slow one was cut off and ran
    # again; the transfer ran once, approved, with the amount the person set.
    assert {name: n for name, n in executed.items() if name.startswith("lookup") and name != "lookup99"} == {
        f"lookup{i}": 1 for i in range(10)
    }
    assert executed["lookup99"] == 2
    assert executed["transfer bob 120"] == 1 and executed["receipt"] == 1
    assert not any(name.startswith("transfer bob 500") for name in executed)


def test_a_second_process_rejects_what_a_killed_one_left_pending(tmp_path: Path) -> None:
    _kill_while_waiting(tmp_path)
    second = _resume(tmp_path, "reject", "too-much")
    assert second["transfer"] == ("error", False)
    assert second["receipt"] == ("skipped", False)
    assert all(replayed for key, (_, replayed) in second.items() if key.startswith("lookup"))
    executed = _lines(tmp_path / "executed")
    assert not any(name.startswith("transfer") for name in executed)
    assert "receipt" not in executed
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.db")) as conn:
        assert conn.execute(
            "SELECT status, error_type, error_message FROM skillstream_results WHERE key = 'transfer'"
        ).fetchall() == [("error", "Rejected", "too-much")]
