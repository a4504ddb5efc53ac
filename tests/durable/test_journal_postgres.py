"""The PostgreSQL journal against a real local server (``-m postgres``; .ci/run installs it).

A session-scoped server is started with initdb and pg_ctl in a temporary directory (as the
``postgres`` user when root), on 127.0.0.1 and a free port; each test gets a database of
its own. Missing server binaries fail the suite, saying what to install: never a skip.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest

from pipeline import END, START, JournalError, JournalStore, RunInProgress, StateGraph, run, skill
from pipeline._durable._store import JournalRecord
from tests.support import journal_child_pg, pg_server

pytestmark = pytest.mark.postgres

CHILD = Path(journal_child_pg.__file__).resolve()
ROOT = CHILD.parents[2]


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg_server.Server]:
    try:
        server = pg_server.start_server()
    except pg_server.ServerUnavailable as exc:
        pytest.fail(f"cannot start a local PostgreSQL for the postgres tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: pg_server.Server) -> Iterator[str]:
    """A fresh database on the session's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield postgres.url(name)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _journaled(url: str, run_id: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {
            key
            for (key,) in conn.execute(
                "SELECT key FROM skillstream_results WHERE run_id = %s AND status = 'success' "
                "AND key <> ''",
                (run_id,),
            )
        }


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _start(url: str, lease: float, executed: Path, seen: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(CHILD), url, str(lease), str(executed), str(seen)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_started(child: subprocess.Popen[bytes], executed: Path) -> None:
    deadline = time.monotonic() + 60
    while not _lines(executed):  # the run is under way (imports take most of the start)
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never started a call"
        time.sleep(0.002)


executed_here: list[int] = []
failed_once: set[int] = set()


@skill
async def double(i: int) -> int:
    executed_here.append(i)
    await asyncio.sleep(0.001)
    if i == 3 and i not in failed_once:
        failed_once.add(i)
        raise ConnectionError("reset")  # fails the first time only
    return 2 * i


async def test_a_run_journaled_to_postgres_replays_on_rerun(pg_url: str) -> None:
    executed_here.clear()
    failed_once.clear()
    calls = [double(i).named(f"d{i}") for i in range(10)]
    first = await run(calls, journal=pg_url, run_id="r1").collect()
    assert sorted(r.key for r in first) == sorted(f"d{i}" for i in range(10))
    assert not any(r.replayed for r in first)
    assert [r.key for r in first if r.value is None] == ["d3"]

    executed_here.clear()
    url = pg_url.replace("postgresql://", "postgres://")  # the short scheme too
    again = {r.key: r for r in await run(calls, journal=url, run_id="r1").collect()}
    assert executed_here == [3]  # only the failed call ran again
    assert all(again[f"d{i}"].replayed for i in range(10) if i != 3)
    assert not again["d3"].replayed and again["d3"].value == 6
    assert [again[f"d{i}"].value for i in range(10)] == [2 * i for i in range(10)]

    from pipeline._durable._postgres import PostgresJournal

    with PostgresJournal(pg_url) as journal:
        assert isinstance(journal, JournalStore)
        [info] = journal.runs()
        assert (info.run_id, info.calls, info.succeeded, info.active) == ("r1", 10, 10, False)
        assert journal.forget("r1") == 10
        assert journal.runs() == []
        assert journal.load("r1") == {}


async def test_the_journal_command_lists_and_forgets_a_postgres_journal(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.journal import main

    calls = [local(i).named(f"l{i}") for i in range(3)]
    assert [r.value for r in await run(calls, journal=pg_url, run_id="c1").collect()] == [0, 1, 2]
    assert main([pg_url]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == ["c1", "3", "3", "ended"]
    assert main([pg_url, "--forget", "c1"]) == 0
    assert capsys.readouterr().out == "forgot c1 (3 results)\n"
    assert main([pg_url]) == 0
    assert capsys.readouterr().out == "no runs\n"


async def test_a_state_graph_journaled_to_postgres_resumes_its_state(pg_url: str) -> None:
    class State(TypedDict, total=False):
        x: int
        y: int

    ran: list[str] = []

    @skill
    async def first(state: Any) -> dict[str, int]:
        ran.append("first")
        return {"x": state["x"] + 1}

    @skill
    async def second(state: Any) -> dict[str, int]:
        ran.append("second")
        return {"y": state["x"] * 10}

    graph = StateGraph(State)
    graph.add_node("first", first)
    graph.add_node("second", second)
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    app = graph.compile(checkpointer=pg_url)
    config = {"configurable": {"thread_id": "g1"}}
    assert await app.ainvoke({"x": 1}, config) == {"x": 2, "y": 20}
    assert await app.ainvoke(None, config) == {"x": 2, "y": 20}  # finished: nothing to run
    assert ran == ["first", "second"]
    assert app.get_state(config).values == {"x": 2, "y": 20}


@skill
async def local(i: int) -> int:
    return i


async def test_a_second_process_claiming_a_running_run_id_is_refused(pg_url: str, tmp_path: Path) -> None:
    executed, seen = tmp_path / "executed", tmp_path / "seen"
    child = _start(pg_url, 30.0, executed, seen)
    try:
        _wait_started(child, executed)
        with pytest.raises(RunInProgress, match=rf"^run id 'crash' is already running in process {child.pid} "):
            await run([local(1)], journal=pg_url, run_id="crash").collect()
        # Another run id in the same database, while the child writes: both commit.
        mine = await run([local(i).named(f"l{i}") for i in range(50)], journal=pg_url, run_id="mine").collect()
        assert [r.value for r in mine] == list(range(50))
    finally:
        _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    assert len(_journaled(pg_url, "crash")) == journal_child_pg.CALLS
    assert len(_journaled(pg_url, "mine")) == 50


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
async def test_a_worker_killed_with_sigkill_resumes_in_another_process(
    pg_url: str, tmp_path: Path, delay: float
) -> None:
    from pipeline._durable._postgres import PostgresJournal

    lease = 2.0
    executed, seen, seen_again = tmp_path / "executed", tmp_path / "seen", tmp_path / "seen-again"
    child = _start(pg_url, lease, executed, seen)
    _wait_started(child, executed)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL

    seen_before = {line.split()[0] for line in _lines(seen)}
    journaled = _journaled(pg_url, journal_child_pg.RUN_ID)
    assert seen_before <= journaled  # what the consumer saw had been committed first
    assert len(journaled) < journal_child_pg.CALLS  # killed before the end

    # The dead worker's lease still runs: the run id is not free until it expires.
    with PostgresJournal(pg_url, lease=lease) as journal:
        with pytest.raises(RunInProgress, match="lease ends in"):
            journal.claim(journal_child_pg.RUN_ID)
        deadline = time.monotonic() + lease + 10
        while any(i.active for i in journal.runs()):
            assert time.monotonic() < deadline, "the dead worker's lease never expired"
            await asyncio.sleep(0.1)

    resume = _start(pg_url, lease, executed, seen_again)
    _, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err.decode()

    again = _lines(seen_again)
    keys = [line.split()[0] for line in again]
    assert sorted(keys) == sorted(f"w{i}" for i in range(journal_child_pg.CALLS))
    replayed = {line.split()[0] for line in again if line.split()[1] == "1"}
    assert replayed == journaled  # everything committed came back, and nothing else
    runs = Counter(_lines(executed))
    assert set(runs) == {f"w{i}" for i in range(journal_child_pg.CALLS)}
    assert all(runs[key] == 1 for key in journaled)
    twice = [key for key, n in runs.items() if n > 1]
    assert all(runs[key] == 2 for key in twice)
    assert len(twice) <= journal_child_pg.CAP  # in flight, or not yet committed, at the kill


def _record(ident: str, value: int) -> JournalRecord:
    return JournalRecord(ident, ident, "work", "success", False, None, None, 1, "json", str(value).encode())


def _write(journal: Any, run_id: str, records: list[JournalRecord], timeout: float = 30) -> BaseException | None:
    outcome: list[BaseException | None] = []
    finished = threading.Event()

    def done(error: BaseException | None) -> None:
        outcome.append(error)
        finished.set()

    journal.write(run_id, records, done)
    assert finished.wait(timeout), "the write never finished"
    return outcome[0]


def test_an_expired_lease_is_taken_over_and_the_stalled_owner_is_fenced(pg_url: str) -> None:
    from pipeline._durable._postgres import PostgresJournal

    lease = 0.6
    with PostgresJournal(pg_url, lease=lease) as owner, PostgresJournal(pg_url, lease=lease) as other:
        assert owner.lease == lease and PostgresJournal(pg_url).lease == 30.0
        owner.claim("r")
        with pytest.raises(RunInProgress, match="already running in this process"):
            owner.claim("r")
        with pytest.raises(RunInProgress, match=rf"already running in process {os.getpid()} "):
            other.claim("r")
        time.sleep(lease * 1.5)  # the owner's writer thread renews it meanwhile
        with pytest.raises(RunInProgress):
            other.claim("r")
        owner.renew("r")
        assert _write(owner, "r", [_record("a", 1)]) is None

        # The owner stalls: its writer thread is stuck (here, in a callback) past the lease.
        stuck, unstick = threading.Event(), threading.Event()

        def stall(error: BaseException | None) -> None:
            stuck.set()
            unstick.wait(30)

        owner.write("r", [_record("b", 2)], stall)
        assert stuck.wait(30)
        time.sleep(lease * 1.5)
        other.claim("r")  # expired: taken over
        assert [i.active for i in other.runs()] == [True]
        unstick.set()

        # The old owner is fenced: its writes fail and write nothing, its renewal fails.
        error = _write(owner, "r", [_record("c", 3)])
        assert isinstance(error, RunInProgress) and "lease was lost" in str(error)
        with pytest.raises(RunInProgress, match="lease was lost"):
            owner.renew("r")
        assert sorted(other.load("r")) == ["a", "b"]
        assert _write(other, "r", [_record("d", 4)]) is None
        owner.release("r")  # a release by the old owner leaves the new one's claim alone
        owner.load("r")  # (after its queued release)
        assert [i.active for i in other.runs()] == [True]
        with pytest.raises(RunInProgress, match="cannot be forgotten now"):
            owner.forget("r")
        other.release("r")
        assert [i.active for i in other.runs()] == [False]  # (after its queued release)
        assert sorted(owner.load("r")) == ["a", "b", "d"]
        owner.claim("r")  # released: free at once
        owner.release("r")
        assert owner.forget("r") == 3


async def test_an_unreachable_database_fails_at_run_time(postgres: pg_server.Server) -> None:
    url = f"postgresql://{pg_server.USER}:secret@127.0.0.1:{postgres.port}/no_such_database"
    with pytest.raises(JournalError, match=r"cannot connect to PostgreSQL") as info:
        run([local(1)], journal=url, run_id="r")
    assert "secret" not in str(info.value)  # the password is not repeated


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"pip install 'skillstream\[postgres\]'"):
        run([local(1)], journal="postgresql://nobody@127.0.0.1:1/none", run_id="r")
