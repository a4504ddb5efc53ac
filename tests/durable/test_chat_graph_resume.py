"""A chat agent graph killed with SIGKILL resumes in a fresh process, here or on another
host, on SQLite or PostgreSQL: every node that finished is replayed, no model call that
finished is made again, and the conversation ends as an uninterrupted run's does.

The graph (tests/support/chat_graph_child.py): an "llm" node that asks for a tool twice
and then answers, and a "tools" node, over ``MessagesState``; its input message has no id.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import chat_graph_child, pg_server
from tests.support.hosts import ROOT, needs_unshare, on_host

pytestmark = pytest.mark.slow

CHILD = Path(chat_graph_child.__file__).resolve()
LEASE = 2.0
LLM_TURNS = [f"llm {t}" for t in range(chat_graph_child.TOOL_TURNS + 1)]


def _argv(target: str, directory: Path, out: str) -> list[str]:
    return [sys.executable, str(CHILD), target, str(directory / "executed"), str(directory / out), str(LEASE)]


def _start(target: str, directory: Path, out: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(_argv(target, directory, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


def _kill_at(proc: subprocess.Popen[bytes], executed: Path, line: str) -> int:
    """SIGKILL ``proc`` once ``line`` is in EXECUTED; how many lines were there then."""
    deadline = time.monotonic() + 60
    while line not in _lines(executed):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, f"the child never reached {line!r}"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return len(_lines(executed))


def _node_runs(key: str) -> str:
    """A journal key ("llm", "tools@1") as the child marks that node's run ("llm 0", "tools 1")."""
    name, _, step = key.partition("@")
    return f"{name} {step or 0}"


# A thread's first invocation is journaled as the run "<thread id>#0".
FIRST_RUN = f"{chat_graph_child.RUN_ID}#0"


def _sqlite_journaled(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT key FROM skillstream_results WHERE run_id = ? AND status = 'success' AND key != ''",
            (FIRST_RUN,),
        )
        return {_node_runs(key) for (key,) in rows}


def _pg_journaled(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT key FROM skillstream_results WHERE run_id = %s AND status = 'success' AND key <> ''",
            (FIRST_RUN,),
        ).fetchall()
        return {_node_runs(key) for (key,) in rows}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The final state of a run that nobody killed (its own journal)."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    _finish(_start(str(directory / "runs.db"), directory, "out.json"))
    assert Counter(_lines(directory / "executed")) == Counter(
        line for t in LLM_TURNS + [f"tools {t}" for t in range(chat_graph_child.TOOL_TURNS)]
        for line in (t, f"{t} done"))
    state: dict[str, Any] = json.loads((directory / "out.json").read_text())
    return state


def _check_resumed(directory: Path, before: int, journaled: set[str], killed_at: str,
                   uninterrupted: dict[str, Any]) -> None:
    lines = _lines(directory / "executed")
    resumed = lines[before:]
    # Killed after at least one model call had finished and been journaled.
    assert "llm 0" in journaled
    # Every node journaled before the kill is replayed: the resumed process never runs it.
    assert not journaled & set(resumed), (journaled, resumed)
    # Every node that was not journaled runs in the resumed process.
    runs = [line for line in lines if not line.endswith(" done")]
    assert set(runs) - journaled <= set(resumed)
    # No model call that finished is made twice; one the kill cut short is made once more.
    starts = Counter(runs)
    for turn in LLM_TURNS:
        cut_short = turn == killed_at
        assert starts[turn] == (2 if cut_short else 1), (turn, lines)
        assert lines.count(f"{turn} done") == 1, (turn, lines)
    assert json.loads((directory / "out.json").read_text()) == uninterrupted


# A kill during a tool call (one or two model calls finished) and during a model call.
KILL_POINTS = ["tools 0", "tools 1", "llm 1"]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_chat_graph_killed_midway_resumes_in_a_fresh_process(
    tmp_path: Path, kill_at: str, uninterrupted: dict[str, Any]
) -> None:
    db = tmp_path / "runs.db"
    before = _kill_at(_start(str(db), tmp_path, "killed.json"), tmp_path / "executed", kill_at)
    journaled = _sqlite_journaled(db)

    _finish(_start(str(db), tmp_path, "out.json"))  # this host: the dead pid frees the run at once

    assert not (tmp_path / "killed.json").exists()
    _check_resumed(tmp_path, before, journaled, kill_at, uninterrupted)


@needs_unshare
def test_a_chat_graph_killed_on_one_host_resumes_on_another(tmp_path: Path, uninterrupted: dict[str, Any]) -> None:
    db = tmp_path / "runs.db"
    first = on_host("pod-a", _argv(str(db), tmp_path, "killed.json"))
    before = _kill_at(first, tmp_path / "executed", "tools 1")
    killed = time.monotonic()
    journaled = _sqlite_journaled(db)

    # Another host cannot tell a dead owner from a slow one: it waits for the lease.
    early = on_host("pod-b", _argv(str(db), tmp_path, "out.json"))
    _, err = early.communicate(timeout=60)
    if early.returncode != 0:
        assert "RunInProgress" in err.decode() and "on pod-a" in err.decode(), err.decode()
        assert len(_lines(tmp_path / "executed")) == before  # it ran nothing
        time.sleep(max(0.0, killed + LEASE + 0.3 - time.monotonic()))
        _finish(on_host("pod-b", _argv(str(db), tmp_path, "out.json")))
    else:  # it started slower than the lease: a take-over, legitimately
        assert time.monotonic() - killed > LEASE

    _check_resumed(tmp_path, before, journaled, "tools 1", uninterrupted)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with pg_server.fresh_database() as url:
        yield url


@pytest.mark.postgres
def test_a_chat_graph_killed_midway_resumes_on_postgres(
    tmp_path: Path, pg_url: str, uninterrupted: dict[str, Any]
) -> None:
    before = _kill_at(_start(pg_url, tmp_path, "killed.json"), tmp_path / "executed", "tools 1")
    killed = time.monotonic()
    journaled = _pg_journaled(pg_url)

    # PostgreSQL frees a killed owner's run id when its lease (on the database's clock) ends.
    time.sleep(max(0.0, killed + LEASE + 0.3 - time.monotonic()))
    _finish(_start(pg_url, tmp_path, "out.json"))

    _check_resumed(tmp_path, before, journaled, "tools 1", uninterrupted)
