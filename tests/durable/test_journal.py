"""Durable runs: run(calls, journal=..., run_id=...) against real SQLite files in tmp_path."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pipeline import (
    Journal,
    JournalError,
    JournalRecord,
    JournalStore,
    RunInProgress,
    Status,
    run,
    skill,
)
from pipeline._durable import _session
from pipeline._durable._store import STATE_IDENT
from pipeline.journal import main as journal_main

ran: Counter[Any] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()


@skill
async def double(i: int) -> int:
    ran[("double", i)] += 1
    return i * 2


fail_on: set[int] = set()


@skill
async def flaky(i: int) -> int:
    ran[("flaky", i)] += 1
    if i in fail_on:
        raise ValueError(f"flaky {i}")
    return i


@skill(fallback=-1)
async def broken(i: int) -> int:
    ran[("broken", i)] += 1
    raise RuntimeError("always")


@skill
async def total(xs: list[int]) -> int:
    ran["total"] += 1
    if fail_on:
        raise ValueError("total not yet")
    return sum(xs)


class Quote(BaseModel):
    symbol: str
    price: float


@skill
async def quote(symbol: str) -> Quote:
    ran[("quote", symbol)] += 1
    return Quote(symbol=symbol, price=1.5)


class Opaque:
    """Neither JSON-able nor, here, pickled."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    def __hash__(self) -> int:
        return self.n


@skill
async def make_opaque(n: int) -> Any:
    ran[("opaque", n)] += 1
    return Opaque(n)


@skill
async def pair(n: int) -> Any:
    ran[("pair", n)] += 1
    return (n, "x")


@skill
async def unpicklable(n: int) -> Any:
    ran[("unpicklable", n)] += 1
    return lambda: n


@skill
async def slow(i: int) -> int:
    ran[("slow", i)] += 1
    await asyncio.sleep(0.05 if i else 0.0)
    return i


async def collect(calls: Any, db: Any, run_id: str = "r", **options: Any) -> list[Any]:
    results = await run(calls, journal=db, run_id=run_id, **options).collect()
    return list(results)


# -- replay ---------------------------------------------------------------------------------


async def test_a_rerun_replays_what_succeeded_and_runs_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    fail_on.update({2, 4})
    try:
        first = await collect([flaky(i).named(f"f{i}") for i in range(6)], db)
    finally:
        fail_on.clear()
    assert [r.status for r in first] == ["success", "success", "error", "success", "error", "success"]
    assert not any(r.replayed for r in first)

    second = await collect([flaky(i).named(f"f{i}") for i in range(6)], db)

    assert [r.status for r in second] == ["success"] * 6
    assert [r.value for r in second] == list(range(6))
    assert [r.replayed for r in second] == [True, True, False, True, False, True]
    # Each call that had succeeded ran once in all; the failed ones ran twice.
    assert ran == Counter({("flaky", 0): 1, ("flaky", 1): 1, ("flaky", 2): 2, ("flaky", 3): 1, ("flaky", 4): 2, ("flaky", 5): 1})
    replayed = second[0]
    assert replayed.attempts == 1 and replayed.started_at is None and replayed.attempt_spans == ()


async def test_changed_arguments_run_again_and_run_ids_are_separate(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect([double(1), double(2).named("d2")], db)
    again = await collect([double(1), double(3).named("d2")], db)
    other = await collect([double(1)], db, run_id="other")

    assert [(r.value, r.replayed) for r in again] == [(2, True), (6, False)]
    assert [(r.value, r.replayed) for r in other] == [(2, False)]
    assert ran[("double", 1)] == 2 and ran[("double", 3)] == 1


async def test_equal_calls_are_told_apart_by_occurrence(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect([double(1), double(1)], db)
    again = await collect([double(1), double(1), double(1)], db)

    assert [r.replayed for r in again] == [True, True, False]
    assert ran[("double", 1)] == 3


@pytest.mark.parametrize("bits", [8, 1 << 24])
async def test_equal_calls_past_the_in_memory_index_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int
) -> None:
    # A long run keeps only the first identities in memory, the rest in a temporary file
    # in batches (a filter of 8 bits sends every lookup there): equal calls still count
    # by occurrence.
    monkeypatch.setattr(_session, "_IN_MEMORY", 3)
    monkeypatch.setattr(_session, "_BATCH", 2)
    monkeypatch.setattr(_session, "_BITS", bits)
    db = tmp_path / "runs.db"
    calls = [double(i) for i in range(6)] + [double(1), double(5), double(5)]
    first = await collect(calls, db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        idents = [i for (i,) in conn.execute("SELECT ident FROM skillstream_results WHERE run_id = 'r'")]
    assert len(idents) == 9 and sum(i.endswith("#1") for i in idents) == 2 and sum(i.endswith("#2") for i in idents) == 1
    again = await collect(calls + [double(5), double(0)], db)

    assert [r.replayed for r in sorted(again, key=lambda r: r.index)] == [True] * 9 + [False, False]
    assert [ran[("double", i)] for i in range(6)] == [2, 2, 1, 1, 1, 4]
    assert sorted(r.value for r in first) == sorted(2 * c.args[0] for c in calls)


async def test_a_fallen_back_call_is_replayed_with_its_fallback(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect([broken(1)], db)
    [r] = await collect([broken(1)], db)

    assert (r.status, r.value, r.fallback_used, r.replayed) == (Status.ERROR, -1, True, True)
    assert r.error is not None and (r.error.type, r.error.message) == ("RuntimeError", "always")
    assert ran[("broken", 1)] == 1


async def test_a_replayed_dependency_feeds_its_dependent(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    fail_on.add(99)  # total fails the first time
    try:
        first = await collect([total([double(i).named(f"d{i}") for i in range(3)])], db)
    finally:
        fail_on.clear()
    assert {r.key: r.status for r in first}["total"] == "error"

    second = await collect([total([double(i).named(f"d{i}") for i in range(3)])], db)

    by_key = {r.key: r for r in second}
    assert by_key["total"].value == 6 and not by_key["total"].replayed
    assert all(by_key[f"d{i}"].replayed for i in range(3))
    assert [ran[("double", i)] for i in range(3)] == [1, 1, 1] and ran["total"] == 2
    third = await collect([total([double(i).named(f"d{i}") for i in range(3)])], db)
    assert all(r.replayed for r in third) and ran["total"] == 2


async def test_a_lazy_source_is_journaled_and_replayed(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect((double(i).named(f"d{i}") for i in range(50)), db, max_concurrency=4)
    again = await collect((double(i).named(f"d{i}") for i in range(60)), db, max_concurrency=4)

    assert [r.value for r in again] == [2 * i for i in range(60)]
    assert sum(r.replayed for r in again) == 50
    assert all(ran[("double", i)] == 1 for i in range(60))


async def test_events_mark_replayed_results(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect([double(1)], db)
    async with run([double(1), double(2).named("d2")], journal=db, run_id="r").events() as events:
        finished = {e.key: e for e in [e async for e in events] if e.kind == "finished"}

    assert finished["double"].replayed and finished["double"].result.replayed
    assert not finished["d2"].replayed


# -- what is written, and when --------------------------------------------------------------


async def test_every_result_is_in_the_journal_before_the_consumer_sees_it(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    reader = sqlite3.connect(db)  # another connection: sees only what was committed
    seen = []
    try:
        async for r in run([slow(i).named(f"s{i}") for i in range(20)], journal=db, run_id="r", max_concurrency=5):
            (count,) = reader.execute(
                "SELECT COUNT(*) FROM skillstream_results WHERE run_id = 'r' AND key = ?", (r.key,)
            ).fetchone()
            seen.append(count)
    finally:
        reader.close()
    assert seen == [1] * 20


async def test_leaving_early_still_journals_what_finished(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls = [slow(i).named(f"s{i}") for i in range(10)]
    async with run(calls, journal=db, run_id="r", max_concurrency=2) as stream:
        async for r in stream:
            first = r.key
            break
    again = await collect([slow(i).named(f"s{i}") for i in range(10)], db, max_concurrency=2)

    assert {r.key: r.replayed for r in again}[first] is True
    assert sum(ran.values()) < 20  # the finished ones did not run twice


async def test_timed_out_calls_run_again(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls = [slow(0).named("fast"), slow(1).named("late")]
    first = await collect(calls, db, timeout=0.02)
    assert [r.status for r in first] == ["success", "timeout"]
    again = await collect([slow(0).named("fast"), slow(1).named("late")], db)

    assert [(r.status, r.replayed) for r in again] == [("success", True), ("success", False)]


# -- values ---------------------------------------------------------------------------------


async def test_a_model_comes_back_a_model_through_the_return_annotation(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await collect([quote("AAPL")], db)
    [r] = await collect([quote("AAPL")], db)

    assert r.replayed and r.value == Quote(symbol="AAPL", price=1.5)
    assert isinstance(r.value, Quote)


async def test_a_value_that_is_not_json_able_is_an_error_unless_pickled(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    [r] = await collect([make_opaque(3)], db)
    assert r.status == "error" and r.value is None
    assert r.error is not None and r.error.type == "JournalError"
    assert "Opaque is not JSON-able" in r.error.message and "Journal(path, pickle=True)" in r.error.message

    journal = Journal(tmp_path / "pickled.db", pickle=True)
    try:
        await collect([make_opaque(3), pair(1)], journal)
        replayed = await collect([make_opaque(3), pair(1)], journal)
    finally:
        journal.close()
    assert [r.value for r in replayed] == [Opaque(3), (1, "x")]  # the tuple stays a tuple
    assert all(r.replayed for r in replayed)


async def test_a_value_that_cannot_be_stored_at_all_fails_the_call_and_its_dependents(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "runs.db", pickle=True)
    try:
        results = await collect([total([unpicklable(1)])], journal)
    finally:
        journal.close()
    by_key = {r.key: r for r in results}
    assert by_key["unpicklable"].status == "error"
    assert by_key["unpicklable"].error is not None
    assert "neither JSON-able nor picklable" in by_key["unpicklable"].error.message
    assert by_key["total"].status == "skipped" and ran["total"] == 0


# -- bad input ------------------------------------------------------------------------------


def test_a_journal_in_a_missing_directory_fails_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "runs.db"
    with pytest.raises(JournalError, match=r"the directory .*nope' does not exist$"):
        run([double(1)], journal=path, run_id="r")
    assert not ran


def test_a_corrupt_file_fails_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with Journal(path) as journal:
        journal.write("r", [], lambda e: None)
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # the first page's header and schema
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="not a usable SQLite database|corrupt"):
        run([double(1)], journal=path, run_id="r")


def test_a_file_of_random_bytes_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(JournalError, match=r"not a usable SQLite database \(file is not a database\)$"):
        run([double(1)], journal=path, run_id="r")


def test_another_database_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match=r"not a skillstream journal \(it has tables \['users'\]\)"):
        run([double(1)], journal=path, run_id="r")


def test_a_read_only_file_fails_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    Journal(path).close()
    path.chmod(0o444)
    try:
        with pytest.raises(JournalError, match=r"the file is read-only$"):
            run([double(1)], journal=path, run_id="r")
    finally:
        path.chmod(0o644)


def test_journal_and_run_id_go_together() -> None:
    with pytest.raises(ValueError, match="needs a run_id"):
        run([double(1)], journal="x.db")
    with pytest.raises(ValueError, match="pass journal= too"):
        run([double(1)], run_id="r")
    with pytest.raises(TypeError, match="journal must be a path or a Journal"):
        run([double(1)], journal=42, run_id="r")  # type: ignore[arg-type]


# -- one run id at a time -------------------------------------------------------------------


async def test_the_same_run_id_twice_at_once_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    async with run([slow(1)], journal=db, run_id="r") as stream:
        it = aiter(stream)
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0)
        with pytest.raises(RunInProgress, match=r"^run id 'r' is already running in this process"):
            await run([slow(2)], journal=db, run_id="r").collect()
        other = await collect([slow(3)], db, run_id="other")  # another run id: fine
        assert (await first).value == 1
    assert other[0].value == 3
    assert not ran[("slow", 2)]
    assert (await collect([slow(2)], db))[0].value == 2  # free again once it ended


# -- listing and forgetting -----------------------------------------------------------------


async def test_runs_lists_and_forget_deletes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "runs.db"
    fail_on.add(1)
    try:
        await collect([flaky(i).named(f"f{i}") for i in range(3)], db, run_id="a")
    finally:
        fail_on.clear()
    await collect([double(1)], db, run_id="b")
    with Journal(db) as journal:
        runs = journal.runs()
        assert [(r.run_id, r.calls, r.succeeded, r.active) for r in runs] == [("a", 3, 2, False), ("b", 1, 1, False)]
        assert journal.forget("a") == 3
        assert [r.run_id for r in journal.runs()] == ["b"]

    assert journal_main([str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "id", "calls", "replayable", "state", "updated"]
    assert out[1].split()[:4] == ["b", "1", "1", "ended"]
    assert journal_main([str(tmp_path / "missing.db")]) == 2


async def test_a_running_run_id_cannot_be_forgotten(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    journal = Journal(db)
    try:
        async with run([slow(0), slow(1)], journal=journal, run_id="r") as stream:
            async for _ in stream:
                assert [r.active for r in journal.runs()] == [True]
                with pytest.raises(RunInProgress, match="cannot be forgotten now"):
                    journal.forget("r")
                break
        assert [r.active for r in journal.runs()] == [False]
    finally:
        journal.close()


# -- the protocol ---------------------------------------------------------------------------


class MemoryJournal:
    """A JournalStore in a dict: what a Postgres or Redis journal would implement."""

    pickle = False
    lease = 30.0

    def __init__(self) -> None:
        self.data: dict[str, dict[str, JournalRecord]] = {}
        self.held: set[str] = set()
        self.writes = 0

    def claim(self, run_id: str) -> None:
        if run_id in self.held:
            raise RunInProgress(f"run id {run_id!r} is already running")
        self.held.add(run_id)

    def renew(self, run_id: str) -> None:
        if run_id not in self.held:
            raise RunInProgress(f"run id {run_id!r}: the lease was lost")

    def load(self, run_id: str) -> dict[str, JournalRecord]:
        return dict(self.data.get(run_id, {}))

    def write(self, run_id: str, records: Any, done: Any) -> None:
        self.writes += 1
        self.data.setdefault(run_id, {}).update({r.ident: r for r in records})
        asyncio.get_running_loop().call_soon(done, None)

    def release(self, run_id: str) -> None:
        self.held.discard(run_id)

    def runs(self) -> list[Any]:
        return []

    def forget(self, run_id: str) -> int:
        return len(self.data.pop(run_id, {}))

    def close(self) -> None:
        pass


async def test_a_store_of_its_own_needs_no_engine_change() -> None:
    store = MemoryJournal()
    assert isinstance(store, JournalStore)
    await run([double(i).named(f"d{i}") for i in range(5)], journal=store, run_id="m").collect()
    again = await run([double(i).named(f"d{i}") for i in range(5)], journal=store, run_id="m").collect()

    assert all(r.replayed for r in again) and [r.value for r in again] == [0, 2, 4, 6, 8]
    assert all(ran[("double", i)] == 1 for i in range(5))
    assert STATE_IDENT not in store.data["m"]
    assert store.writes < 5  # results that finish together are written together


# -- the loop never waits for the journal ---------------------------------------------------


def _hold_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_run_whose_journal_is_locked_elsewhere_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    Journal(path).close()  # a journal, set up
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 2.0, taken))
    holder.start()
    taken.wait()
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    stop = False

    async def ticker() -> None:
        while not stop:
            ticks.append(loop.time())
            await asyncio.sleep(0.02)

    ticking = asyncio.ensure_future(ticker())
    try:
        started = loop.time()
        results = await run([double(i).named(f"d{i}") for i in range(3)], journal=path, run_id="r").collect()
        waited = loop.time() - started
    finally:
        stop = True
        await ticking
        holder.join()
    assert [r.value for r in results] == [0, 2, 4]
    assert waited > 1.0  # the claim waited for the lock (in a thread)
    assert len(ticks) > 20  # about one per 20 ms of the 2 s
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.5, max(gaps)  # meanwhile the loop went on


async def test_a_journal_locked_too_long_is_named_locked(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(fresh, 1.5, taken))
    holder.start()
    taken.wait()
    try:
        with pytest.raises(JournalError, match=r"the database is locked by another connection") as info:
            Journal(fresh, busy_timeout=0.2)  # its tables cannot be made while locked
        assert "not a usable SQLite database" not in str(info.value)
    finally:
        holder.join()

    path = tmp_path / "runs.db"
    journal = Journal(path, busy_timeout=0.2)
    taken = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, taken))
    holder.start()
    taken.wait()
    try:
        with pytest.raises(JournalError, match=r"locked by another connection .* claiming run id 'r'"):
            await run([double(1)], journal=journal, run_id="r").collect()
    finally:
        holder.join()
        journal.close()


async def test_a_run_id_run_again_at_once_in_one_process_keeps_its_lease(tmp_path: Path) -> None:
    # The first run's release is written after it ends; the next run's claim must not be
    # undone by it (its writes would then be refused as if its lease were lost).
    journal = Journal(tmp_path / "runs.db")
    calls = 0

    @skill
    async def step(i: int) -> int:
        nonlocal calls
        calls += 1
        if i == 2 and calls < 20:
            raise ConnectionError("not yet")
        return i

    try:
        for _ in range(15):
            results = await run([step(1), step(2)], journal=journal, run_id="again").collect()
            assert [r.status for r in results][0] == "success"
    finally:
        journal.close()
