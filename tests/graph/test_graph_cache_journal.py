"""A graph's node cache kept in a journal's store: ``compile(cache=Journal | path | URL)``,
hits from another compiled graph and from a real second process, ttl, values the journal
cannot store, ``clear_cache`` (on a SQLite file; on PostgreSQL with ``-m postgres``)."""

from __future__ import annotations

import contextlib
import datetime
import json
import operator
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import END, START, CachePolicy, Journal, StateGraph
from pipeline._durable._cache import JournalCache
from tests.support import graph_cache_child, pg_server

CHILD = Path(graph_cache_child.__file__).resolve()
ROOT = CHILD.parents[2]


class Query(TypedDict, total=False):
    q: str
    log: Annotated[list[str], operator.add]
    found: Any


def _graph(runs: list[str], policy: CachePolicy[Any] | None = None, result: Any = None) -> StateGraph[Query]:
    def search(state: Query) -> dict[str, Any]:
        runs.append(state["q"])
        update: dict[str, Any] = {"log": [f"{state['q']}#{len(runs)}"]}
        if result is not None:
            update["found"] = result
        return update

    def other(state: Query) -> dict[str, Any]:
        runs.append(f"other:{state['q']}")
        return {"log": [f"other:{state['q']}"]}

    graph = StateGraph(Query)
    graph.add_node("search", search, cache_policy=policy or CachePolicy(ttl=600))
    # Keyed by the log alone: "found" may hold what the default key cannot pickle.
    graph.add_node("other", other, cache_policy=CachePolicy(key_func=lambda s: json.dumps(s["log"])))
    graph.add_edge(START, "search")
    graph.add_edge("search", "other")
    graph.add_edge("other", END)
    return graph


def _rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM skillstream_cache").fetchone()[0]
        return count


def test_a_second_graph_on_the_same_file_gets_the_hits(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    runs: list[str] = []
    first = _graph(runs).compile(cache=str(path))
    assert first.invoke({"q": "a", "log": []}) == {"q": "a", "log": ["a#1", "other:a"]}
    # Another compiled graph (another Journal object on the file): the cached updates.
    second = _graph(runs).compile(cache=Journal(path))
    chunks = list(second.stream({"q": "a", "log": []}))
    assert chunks == [
        {"search": {"log": ["a#1"]}, "__metadata__": {"cached": True}},
        {"other": {"log": ["other:a"]}, "__metadata__": {"cached": True}},
    ]
    assert second.invoke({"q": "b", "log": []}) == {"q": "b", "log": ["b#3", "other:b"]}
    assert runs == ["a", "other:a", "b", "other:b"]
    assert _rows(path) == 4


def test_a_second_process_gets_the_hit(tmp_path: Path) -> None:
    store = str(tmp_path / "cache.db")
    _hit_in_a_second_process(store)


def _hit_in_a_second_process(store: str) -> None:
    first = _child(store, "lamp")
    second = _child(store, "lamp")
    assert first["pid"] != second["pid"]
    assert (first["cached"], second["cached"]) == (False, True)
    # The second process's update is the one the first process's node returned.
    assert second["state"] == first["state"] == {"log": [f"lamp@{first['pid']}"]}
    assert _child(store, "desk")["cached"] is False


def _child(*args: str) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(CHILD), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_entry_past_its_ttl_is_not_returned_and_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    now = [1_000_000.0]
    runs: list[str] = []
    app = _graph(runs, CachePolicy(ttl=60)).compile(cache=JournalCache(Journal(path), clock=lambda: now[0]))
    app.invoke({"q": "a", "log": []})
    now[0] += 59.9
    assert app.invoke({"q": "a", "log": []})["log"] == ["a#1", "other:a"]
    assert _rows(path) == 2
    now[0] += 0.2  # 60.1 s after it was stored: search runs again
    assert app.invoke({"q": "a", "log": []})["log"] == ["a#3", "other:a"]
    assert runs == ["a", "other:a", "a", "other:a"]  # other's input changed ("a#3")
    # search's entry was stored again with a new expiry (replaced, not kept beside it).
    with contextlib.closing(sqlite3.connect(path)) as conn:
        expiries = sorted(r[0] or 0 for r in conn.execute("SELECT expiry FROM skillstream_cache"))
    assert expiries == [0, 0, now[0] + 60]


def test_an_expired_entry_asked_for_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    now = [1_000_000.0]
    cache = JournalCache(Journal(path), clock=lambda: now[0])
    entry = (("ns", "node"), "k")
    cache.set({entry: ({"x": 1}, 10), (("ns", "node"), "forever"): ({"y": 2}, None)})
    assert cache.get([entry]) == {entry: {"x": 1}}
    now[0] += 11
    assert cache.get([entry, (("ns", "node"), "forever")]) == {(("ns", "node"), "forever"): {"y": 2}}
    assert _rows(path) == 1


def test_values_come_back_with_their_types(tmp_path: Path) -> None:
    value = {"when": datetime.date(2026, 1, 2), "pair": (1, "a"), "tags": {"x", "y"}, "raw": b"\x00"}
    runs: list[str] = []
    _graph(runs, result=value).compile(cache=tmp_path / "runs.db").invoke({"q": "a", "log": []})
    again = _graph(runs, result=value).compile(cache=tmp_path / "runs.db").invoke({"q": "a", "log": []})
    assert again["found"] == value
    assert type(again["found"]["pair"]) is tuple and type(again["found"]["tags"]) is set
    assert runs.count("a") == 1  # the second update came from the cache


class _Opaque:  # a class the journal does not know (and a lock: not picklable either)
    def __init__(self) -> None:
        self.lock = threading.Lock()


def test_a_value_the_journal_cannot_store_is_not_cached_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    runs: list[str] = []
    opaque = _Opaque()
    for pickle in (False, True):  # pickle=True cannot store a lock either
        app = _graph(runs, result=opaque).compile(cache=Journal(path, pickle=pickle))
        state = app.invoke({"q": "a", "log": []})
        assert state["found"] is opaque
    # search ran both times (never cached); other's updates (one per log) were cached.
    assert runs == ["a", "other:a", "a", "other:a"]
    assert _rows(path) == 2


def test_pickle_true_caches_what_json_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    runs: list[str] = []
    value = uuid.UUID(int=7), complex(1, 2)
    for pickle in (False, False, True, True):
        _graph(runs, result=value).compile(cache=Journal(path, pickle=pickle)).invoke({"q": "a", "log": []})
    # Not JSON-able (a complex): run twice without pickle, then pickled once and hit once.
    assert runs.count("a") == 3


def test_clear_cache_deletes_the_entries(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    runs: list[str] = []
    app = _graph(runs).compile(cache=path)
    app.invoke({"q": "a", "log": []})
    app.invoke({"q": "b", "log": []})
    assert _rows(path) == 4
    app.clear_cache(["other"])
    assert _rows(path) == 2
    # Another graph on the file sees it: search is cached, other runs again.
    _graph(runs).compile(cache=path).invoke({"q": "a", "log": []})
    assert runs[-1:] == ["other:a"] and runs.count("a") == 1
    app.clear_cache()
    assert _rows(path) == 0
    app.invoke({"q": "a", "log": []})
    assert runs.count("a") == 2


def test_bad_cache_arguments_are_refused(tmp_path: Path) -> None:
    runs: list[str] = []
    with pytest.raises(TypeError, match="cache must be an InMemoryCache, a Journal, a SQLite path"):
        _graph(runs).compile(cache=42)

    class NoCacheStore:  # a journal store without the cache methods
        pickle = False
        lease = 30.0

        def claim(self, run_id: str) -> None: ...
        def renew(self, run_id: str) -> None: ...
        def load(self, run_id: str) -> dict[str, Any]: ...
        def write(self, run_id: str, records: Any, done: Any) -> None: ...
        def release(self, run_id: str) -> None: ...
        def runs(self) -> list[Any]: ...
        def forget(self, run_id: str) -> int: ...
        def close(self) -> None: ...

    with pytest.raises(TypeError, match="cannot keep a cache"):
        _graph(runs).compile(cache=NoCacheStore())
    with pytest.raises(Exception, match="does not exist"):
        _graph(runs).compile(cache=tmp_path / "missing" / "runs.db")


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with pg_server.fresh_database() as url:
        yield url


@pytest.mark.postgres
def test_a_second_process_gets_the_hit_on_postgres(pg_url: str) -> None:
    _hit_in_a_second_process(pg_url)


@pytest.mark.postgres
def test_ttl_and_clear_on_postgres(pg_url: str) -> None:
    from pipeline._durable._postgres import PostgresJournal

    now = [1_000_000.0]
    runs: list[str] = []
    store = PostgresJournal(pg_url)
    app = _graph(runs, CachePolicy(ttl=60)).compile(cache=JournalCache(store, clock=lambda: now[0]))
    app.invoke({"q": "pg", "log": []})
    now[0] += 59.9
    assert app.invoke({"q": "pg", "log": []})["log"] == ["pg#1", "other:pg"]
    now[0] += 0.2
    assert app.invoke({"q": "pg", "log": []})["log"] == ["pg#3", "other:pg"]
    assert runs.count("pg") == 2
    # Graphs given the URL share the entries, until they are cleared.
    _graph(runs).compile(cache=pg_url).invoke({"q": "x", "log": []})
    again = _graph(runs).compile(cache=pg_url)
    assert [c.get("__metadata__") for c in again.stream({"q": "x", "log": []})] == [{"cached": True}] * 2
    assert runs.count("x") == 1
    app.clear_cache()
    again.invoke({"q": "x", "log": []})
    assert runs.count("x") == 2 and runs.count("other:x") == 2
    store.close()
