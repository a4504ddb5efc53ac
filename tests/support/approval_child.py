"""A child process for the approval crash tests: a journaled run with a call that needs approval.

    python tests/support/approval_child.py DB EXECUTED SEEN                 # no decision: waits
    python tests/support/approval_child.py DB EXECUTED SEEN approve [AMOUNT]  # resumes, approved
    python tests/support/approval_child.py DB EXECUTED SEEN reject REASON     # resumes, rejected

DB is a SQLite file, or a ``postgresql://`` URL (a journal with a lease of ``LEASE`` s).

The run: ten quick lookups, one that takes 60 s (0.05 s when resumed), ``transfer`` (needs approval) and
``receipt`` (depends on it). Every skill appends its name to EXECUTED when it starts; the
consumer appends ``key status replayed`` for each result to SEEN. Without a decision, once
the run has reported the pending call and the quick lookups, the child writes ``waiting``
to SEEN and keeps running (the slow lookup, then a person's answer that never comes): the
test kills it there.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from pipeline import Approve, Decision, Reject, run, skill

QUICK = 10
LEASE = 1.0  # seconds, for a PostgreSQL journal (DB given as a postgresql:// URL)


def main() -> None:
    db, executed_path, seen_path, *rest = sys.argv[1:]
    executed = open(executed_path, "a", buffering=1)
    seen = open(seen_path, "a", buffering=1)

    def mark(name: str) -> None:
        executed.write(f"{name}\n")
        executed.flush()

    @skill
    async def lookup(i: int, seconds: float = 0.01) -> int:
        mark(f"lookup{i}")
        await asyncio.sleep(seconds)
        return i

    @skill(needs_approval=lambda to, amount: amount > 100)
    async def transfer(to: str, amount: int) -> str:
        mark(f"transfer {to} {amount}")
        return f"sent {amount} to {to}"

    @skill
    async def receipt(text: str) -> str:
        mark("receipt")
        return f"receipt: {text}"

    pay = transfer("bob", 500)
    # Killed while it runs in the first process; quick when resumed (it had not finished,
    # so it runs again either way).
    slow = 60 if not rest else 0.05
    calls = [*(lookup(i).named(f"lookup{i}") for i in range(QUICK)), lookup(99, slow).named("slow"), pay, receipt(pay)]
    decisions: dict[str, Decision] | None = None
    if rest and rest[0] == "approve":
        decisions = {"transfer": Approve(arguments={"amount": int(rest[1])} if len(rest) > 1 else None)}
    elif rest and rest[0] == "reject":
        decisions = {"transfer": Reject(rest[1])}

    journal: Any = db
    if db.startswith("postgresql://"):
        from pipeline._durable._postgres import PostgresJournal

        # A short lease: a killed process's run id is free once it expires.
        journal = PostgresJournal(db, lease=LEASE)

    async def go() -> None:
        quick_seen = 0
        pending = False
        async for r in run(calls, journal=journal, run_id="pay-1", decisions=decisions, max_concurrency=4):
            seen.write(f"{r.key} {r.status.value} {int(r.replayed)}\n")
            quick_seen += r.key.startswith("lookup")
            pending = pending or r.status.value == "pending"
            if decisions is None and pending and quick_seen == QUICK:
                seen.write("waiting\n")  # the slow lookup is still running: kill me here

    asyncio.run(go())
    if not isinstance(journal, str):
        journal.close()


if __name__ == "__main__":
    main()
