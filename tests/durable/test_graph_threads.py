"""A graph paused at interrupt() in one process and resumed in another (a real second
process), on a SQLite file and on PostgreSQL (``-m postgres``)."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import START, Command, Journal, StateGraph, interrupt
from tests.support import graph_thread_child, pg_server

CHILD = Path(graph_thread_child.__file__).resolve()
ROOT = CHILD.parents[2]


def _child(*args: str) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(CHILD), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _pause_here_resume_there(store: str, log: Path) -> None:
    [pause] = _child("start", store, str(log))
    assert pause["value"] == "buy lamp?"
    # The first process is gone; a second one resumes the thread from the store.
    state = _child("resume", store, str(log), "yes")
    assert state == {"item": "lamp", "log": ["priced lamp", "in stock", "shipped (yes)"], "approved": "yes"}
    # price and stock ran once (the second process replayed them); approve ran in both.
    assert sorted(log.read_text().splitlines()) == ["approve", "approve", "price", "ship", "stock"]


def test_a_paused_thread_resumes_in_another_process_on_sqlite(tmp_path: Path) -> None:
    _pause_here_resume_there(str(tmp_path / "threads.db"), tmp_path / "log")


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: str


def test_a_journal_keeps_threads_beside_its_runs(tmp_path: Path) -> None:
    graph = StateGraph(State)
    graph.add_node("ask", lambda s: {"answer": interrupt("name?")})
    graph.add_node("greet", lambda s: {"log": [f"hello {s['answer']}"]})
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "greet")
    journal = Journal(tmp_path / "threads.db")
    app = graph.compile(checkpointer=journal)
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": ["start"]}, config)
    assert app.invoke(Command(resume="ann"), config)["log"] == ["start", "hello ann"]
    app.update_state(config, {"log": ["noted"]}, as_node="greet")
    history = list(app.get_state_history(config))
    assert [s.metadata["source"] for s in history if s.metadata] == ["update", "loop", "loop", "loop", "input"]
    assert history[0].values["log"] == ["start", "hello ann", "noted"]
    # A thread's invocations are runs of the journal too (one per invocation).
    assert sorted(r.run_id for r in journal.runs()) == ["t#0"]
    journal.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[pg_server.Server]:
    try:
        server = pg_server.start_server()
    except pg_server.ServerUnavailable as exc:
        pytest.fail(f"cannot start a local PostgreSQL for the postgres tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_a_paused_thread_resumes_in_another_process_on_postgres(
    postgres: pg_server.Server, tmp_path: Path
) -> None:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        _pause_here_resume_there(postgres.url(name), tmp_path / "log")
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
