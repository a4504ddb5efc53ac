"""One durable-run measurement in a fresh process:
``python -m benchmarks._journal_child VARIANT N CAP DIR [URL]``.

``VARIANT`` is a key of :data:`VARIANTS`. skillstream variants run ``N`` no-op calls pulled
lazily from a generator at most ``CAP`` in flight, without a journal, on a SQLite journal
in ``DIR`` (``synchronous=NORMAL``) or on the PostgreSQL database at ``URL``. LangGraph
variants run a graph that fans out to ``N`` no-op nodes with ``Send`` (``max_concurrency``
``CAP``), without a checkpointer, with ``AsyncSqliteSaver`` (a file in ``DIR``) or with
``AsyncPostgresSaver`` (``URL``). A warm-up run of 200 comes first (imports, tables).

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

VARIANTS = ("plain", "sqlite", "postgres", "lg-plain", "lg-sqlite", "lg-postgres")


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


def main() -> int:
    variant, n, cap, directory = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    url = sys.argv[5] if len(sys.argv) > 5 else ""
    if variant not in VARIANTS:
        print(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    go = _langgraph if variant.startswith("lg-") else _skillstream
    asyncio.run(go(variant, 200, cap, directory, url))  # imports, tables, warm-up
    baseline = peak_rss_kb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(go(variant, n, cap, directory, url))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "maxrss_kb": peak_rss_kb(),
                      "baseline_kb": baseline}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
