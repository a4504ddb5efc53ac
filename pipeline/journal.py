"""Print a journal's runs: ``python -m pipeline.journal runs.db``.

    $ python -m pipeline.journal runs.db
    run id        calls  replayable  state    updated
    briefing-42     200         187  ended    2026-12-03 12:41:07
    nightly-7        40          40  running  2026-12-03 12:44:51

    $ python -m pipeline.journal runs.db --forget briefing-42
    forgot briefing-42 (200 results)

    $ python -m pipeline.journal postgresql://app@db.internal/jobs     # a PostgreSQL journal

The journal itself is :class:`pipeline.Journal`; this module is its command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from ._core._errors import JournalError
from ._durable._sqlite import Journal
from ._durable._store import RunInfo

__all__ = ["format_runs", "main"]


def format_runs(runs: Sequence[RunInfo]) -> str:
    """The runs as a text table, one line per run id (oldest first).

    Examples:
        >>> print(format_runs(Journal("runs.db").runs()))
        run id        calls  replayable  state    updated
        briefing-42     200         187  ended    2026-12-03 12:41:07
    """
    if not runs:
        return "no runs"
    width = max(len("run id"), *(len(r.run_id) for r in runs))
    lines = [f"{'run id':<{width}}  {'calls':>6}  {'replayable':>10}  {'state':<7}  updated"]
    for r in runs:
        updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.updated))
        state = "running" if r.active else "ended"
        lines.append(f"{r.run_id:<{width}}  {r.calls:>6}  {r.succeeded:>10}  {state:<7}  {updated}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command: print the runs of a journal, or forget one. Returns the exit status.

    Examples:
        >>> main(["runs.db"])
        0
    """
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.journal", description="List the runs of a skillstream journal."
    )
    parser.add_argument("path", help="the journal's SQLite file, or a postgresql:// URL")
    parser.add_argument("--forget", metavar="RUN_ID", help="delete the records of RUN_ID")
    args = parser.parse_args(argv)
    postgres = args.path.startswith(("postgresql://", "postgres://"))
    if not postgres and not os.path.exists(args.path):  # listing must not create an empty journal
        print(f"error: journal {args.path!r} does not exist", file=sys.stderr)
        return 2
    try:
        if postgres:
            from ._durable._postgres import PostgresJournal

            store: Journal | PostgresJournal = PostgresJournal(args.path)
        else:
            store = Journal(args.path)
        with store as journal:
            if args.forget is not None:
                count = journal.forget(args.forget)
                print(f"forgot {args.forget} ({count} results)")
            else:
                print(format_runs(journal.runs()))
    except (JournalError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
