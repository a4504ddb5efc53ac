"""A child process for the PostgreSQL journal tests: a journaled run a test kills with
SIGKILL, or races from another process.

    python tests/support/journal_child_pg.py URL LEASE EXECUTED SEEN

200 calls at cap 8, run id ``crash``, on a ``PostgresJournal(URL, lease=LEASE)``. Every
call appends its key to EXECUTED when it starts; the consumer appends each result it sees
to SEEN (``key replayed``). Both are flushed line by line.
"""

from __future__ import annotations

import asyncio
import sys

from pipeline import run, skill
from pipeline._durable._postgres import PostgresJournal

CALLS = 200
CAP = 8
RUN_ID = "crash"


def main() -> None:
    url, lease, executed_path, seen_path = sys.argv[1:5]
    executed = open(executed_path, "a", buffering=1)
    seen = open(seen_path, "a", buffering=1)

    @skill
    async def work(i: int) -> int:
        executed.write(f"w{i}\n")
        executed.flush()
        await asyncio.sleep(0.02 + (i % 5) * 0.005)
        return i

    async def calls() -> None:
        with PostgresJournal(url, lease=float(lease)) as journal:
            stream = run(
                [work(i).named(f"w{i}") for i in range(CALLS)],
                journal=journal,
                run_id=RUN_ID,
                max_concurrency=CAP,
            )
            async for r in stream:
                assert r.value == int(r.key[1:])
                seen.write(f"{r.key} {int(r.replayed)}\n")
                seen.flush()

    asyncio.run(calls())


if __name__ == "__main__":
    main()
