"""One durable-run measurement in a fresh process:
``python -m benchmarks._journal_child VARIANT N CAP DIR [URL]``.

``VARIANT`` is a key of :data:`VARIANTS`. skillstream variants run ``N`` no-op calls pulled
lazily from a generator at most ``CAP`` in flight, without a journal, on a SQLite journal
in ``DIR`` (``synchronous=NORMAL``) or on the PostgreSQL database at ``URL``. LangGraph
variants run a graph that fans out to ``N`` no-op nodes with ``Send`` (``max_concurrency``
``CAP``), without a checkpointer, with ``AsyncSqliteSaver`` (a file in ``DIR``) or with
``AsyncPostgresSaver`` (``URL``). DBOS variants run one async workflow
(``@DBOS.workflow()``) that calls ``N`` no-op ``@DBOS.step()`` functions, pulled from a
generator, as asyncio tasks at most ``CAP`` at once (a semaphore taken before each call,
so the steps get their ids in the generator's order and a recovery replays them in
place): on DBOS's SQLite system database (a file in ``DIR``) or on PostgreSQL (``URL``);
"dbos-plain" is the same fan-out without DBOS (plain asyncio, the functions undecorated).
A warm-up run of 200 calls (20 for DBOS: a few ms a step) comes first (imports, tables).

Prints one JSON line: ``{"seconds", "cpu_seconds", "maxrss_kb", "baseline_kb"}``: the timed
run's wall-clock seconds and CPU seconds (of every thread of this process: a journal's
writer thread counts, a database server does not), the peak RSS of this process (``VmHWM``, see :mod:`benchmarks._rss_child`) after it, and the
same figure after the warm-up: the difference is what the run itself grew.
"""

from __future__ import annotations

import asyncio
import json
import operator
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

from benchmarks._rss_child import peak_rss_kb
from pipeline import Journal, run, skill

VARIANTS = ("plain", "sqlite", "postgres", "lg-plain", "lg-sqlite", "lg-postgres", "dbos-plain", "dbos-sqlite",
            "dbos-postgres")


@skill
async def noop(i: int) -> int:
    return i


async def _skillstream(variant: str, n: int, cap: int, directory: Path, url: str) -> None:
    journal: Any = None
    options: dict[str, Any] = {}
    run_id = f"bench-{uuid.uuid4().hex[:12]}"
    if variant == "sqlite":
        journal = Journal(directory / "runs.db", synchronous="normal")
    elif variant == "postgres":
        from pipeline._durable._postgres import (
            PostgresJournal,  # what journal=URL opens
        )

        journal = PostgresJournal(url)
    if journal is not None:
        options = {"journal": journal, "run_id": run_id}
    count = 0
    try:
        async for _ in run((noop(i).named(f"c{i}") for i in range(n)), max_concurrency=cap, **options):
            count += 1
    finally:
        if journal is not None:
            if variant == "postgres":  # a database that outlives the benchmark: leave it clean
                journal.forget(run_id)
            journal.close()
    assert count == n, (count, n)


class FanOut(TypedDict, total=False):
    n: int
    done: Annotated[list[int], operator.add]


async def _langgraph(variant: str, n: int, cap: int, directory: Path, url: str) -> None:
    from langgraph.graph import START
    from langgraph.graph import StateGraph as LangGraph
    from langgraph.types import Send as LangSend

    async def work(i: int) -> dict[str, list[int]]:
        return {"done": [i]}

    graph: Any = LangGraph(FanOut)  # (its overloads do not take a Send's plain-int input)
    graph.add_node("work", work)
    graph.add_conditional_edges(START, lambda s: [LangSend("work", i) for i in range(s["n"])], ["work"])
    config: dict[str, Any] = {"max_concurrency": cap, "recursion_limit": 10,
                              "configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:12]}"}}
    if variant == "lg-plain":
        state = await graph.compile().ainvoke({"n": n}, config)
    elif variant == "lg-sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(str(directory / "graph.db")) as saver:
            state = await graph.compile(checkpointer=saver).ainvoke({"n": n}, config)
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(url) as pg_saver:
            await pg_saver.setup()
            state = await graph.compile(checkpointer=pg_saver).ainvoke({"n": n}, config)
    assert len(state["done"]) == n


async def _noop(i: int) -> int:
    return i


async def _fan_out(step: Any, n: int, cap: int) -> int:
    """Call ``step`` on 0..n-1 (a generator), at most ``cap`` at once; the count of results.

    Each call starts in the generator's order (a DBOS step takes its id when called), and
    the semaphore is taken before the call: at most ``cap`` in flight, the rest not yet
    pulled from the generator."""
    slots = asyncio.Semaphore(cap)
    done = 0

    async def one(call: Any) -> None:
        nonlocal done
        try:
            await call
            done += 1
        finally:
            slots.release()

    tasks: set[asyncio.Task[None]] = set()
    for i in (i for i in range(n)):
        await slots.acquire()
        task = asyncio.create_task(one(step(i)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for _ in range(cap):  # every call finished
        await slots.acquire()
    return done


_dbos_workflow: Any = None


def _launch_dbos(variant: str, directory: Path, url: str) -> Any:
    """DBOS launched on its SQLite or PostgreSQL system database; the fan-out workflow."""
    global _dbos_workflow
    if _dbos_workflow is not None:
        return _dbos_workflow
    import logging

    from dbos import DBOS, DBOSConfig

    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    database = f"sqlite:///{directory / 'dbos.sqlite'}" if variant == "dbos-sqlite" else url
    config: DBOSConfig = {"name": "journal-bench", "system_database_url": database, "log_level": "WARNING"}
    DBOS(config=config)

    @DBOS.step()
    async def noop_step(i: int) -> int:
        return i

    @DBOS.workflow()
    async def fan_out(n: int, cap: int) -> int:
        return await _fan_out(noop_step, n, cap)

    DBOS.launch()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    _dbos_workflow = fan_out
    return fan_out


async def _dbos(variant: str, n: int, cap: int, directory: Path, url: str) -> None:
    if variant == "dbos-plain":
        count = await _fan_out(_noop, n, cap)
    else:
        from dbos import DBOS, SetWorkflowID

        workflow = _launch_dbos(variant, directory, url)
        workflow_id = f"bench-{uuid.uuid4().hex[:12]}"
        with SetWorkflowID(workflow_id):
            count = await workflow(n, cap)
        if variant == "dbos-postgres":  # a database that outlives the benchmark: leave it clean
            await DBOS.delete_workflow_async(workflow_id)
    assert count == n, (count, n)


def main() -> int:
    variant, n, cap, directory = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    url = sys.argv[5] if len(sys.argv) > 5 else ""
    if variant not in VARIANTS:
        print(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    go = _langgraph if variant.startswith("lg-") else _dbos if variant.startswith("dbos-") else _skillstream
    asyncio.run(go(variant, 20 if variant.startswith("dbos-") else 200, cap, directory, url))  # imports, tables
    baseline = peak_rss_kb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(go(variant, n, cap, directory, url))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "maxrss_kb": peak_rss_kb(),
                      "baseline_kb": baseline}))
    if _dbos_workflow is not None:
        from dbos import DBOS

        DBOS.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
