"""Approval across a real ``kill -9`` with the PostgreSQL journal (``-m postgres``).

The same children as the SQLite test (``tests/support/approval_child.py``), given a
``postgresql://`` URL: the first reports the pending transfer and is killed while it
waits; the second resumes the run with the approval. A session-scoped server is started
with initdb and pg_ctl (see ``tests/support/pg_server.py``); missing binaries fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import approval_child, pg_server

pytestmark = pytest.mark.postgres

CHILD = Path(approval_child.__file__).resolve()
ROOT = CHILD.parents[2]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with pg_server.fresh_database() as url:
        yield url


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _start(url: str, directory: Path, seen: str, *decision: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(CHILD), url, str(directory / "executed"), str(directory / seen), *decision],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_a_second_process_approves_what_a_killed_one_left_pending(pg_url: str, tmp_path: Path) -> None:
    import psycopg

    child = _start(pg_url, tmp_path, "seen-1")
    deadline = time.monotonic() + 60
    while "waiting" not in _lines(tmp_path / "seen-1"):
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never reported the pending call"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert "transfer pending 0" in _lines(tmp_path / "seen-1")
    with psycopg.connect(pg_url) as conn:
        journaled = {k for (k,) in conn.execute("SELECT key FROM skillstream_results WHERE run_id = 'pay-1'")}
    assert "transfer" not in journaled and {f"lookup{i}" for i in range(10)} <= journaled

    # The killed process's lease runs out (LEASE s); then the second resumes the run.
    deadline = time.monotonic() + approval_child.LEASE + 30
    while True:
        second = _start(pg_url, tmp_path, "seen-2", "approve")
        _, err = second.communicate(timeout=120)
        if second.returncode == 0 or b"RunInProgress" not in err:
            break
        assert time.monotonic() < deadline, "the killed process's lease never expired"
        (tmp_path / "seen-2").unlink(missing_ok=True)
        time.sleep(0.2)
    assert second.returncode == 0, err.decode()
    seen = dict(line.split(" ", 1) for line in _lines(tmp_path / "seen-2"))
    assert seen["transfer"] == "success 0" and seen["receipt"] == "success 0"
    assert all(seen[f"lookup{i}"] == "success 1" for i in range(10))  # replayed
    executed = Counter(_lines(tmp_path / "executed"))
    assert all(executed[f"lookup{i}"] == 1 for i in range(10))
    assert executed["transfer bob 500"] == 1 and executed["receipt"] == 1
