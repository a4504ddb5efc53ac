"""A long fan-out you can interrupt with Ctrl-C and run again: it skips what finished.

Two hundred page fetches (each a fraction of a second, five at a time) with a journal. Press
Ctrl-C halfway: every page whose result was shown is in the journal. Run the same command
again: those pages are replayed from the journal, not fetched, and the script says how many.
Run it with::

    python examples/resumable.py              # Ctrl-C halfway, then the same command again
    python examples/resumable.py --fresh      # forget the earlier run first
    python examples/resumable.py crawl.db     # the journal in a file of your choice

The journal is ``skillstream-resumable.db`` in the system's temporary folder unless you
name a file; ``python -m pipeline.journal <file>`` lists its runs.

Latencies are multiplied by ``SKILLSTREAM_LATENCY_SCALE`` (default 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from pipeline import Journal, run, skill

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))
PAGES = 200


@skill(timeout=5)
async def fetch_page(n: int) -> dict[str, int]:
    await asyncio.sleep((0.05 + (n % 7) * 0.02) * SCALE)
    return {"page": n, "words": 300 + (n * 37) % 500}


async def main(journal: Journal) -> None:
    replayed = ran = words = 0
    # 1. One run id for the whole crawl: a rerun with it resumes.
    stream = run(
        [fetch_page(n).named(f"page-{n}") for n in range(PAGES)],
        max_concurrency=5,
        journal=journal,
        run_id="crawl",
    )
    async for r in stream:
        # 2. Replayed results arrive at once, before the first fetch finishes.
        if r.replayed:
            replayed += 1
        else:
            ran += 1
            print(f"fetched {r.key}: {r.value['words'] if r.ok else r.status} words", flush=True)
        words += r.value["words"] if r.ok else 0
    # 3. Every page, this run or the earlier one: 200 in all.
    print(f"done: {replayed + ran} pages, {words} words; replayed {replayed} from the journal, fetched {ran}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="A resumable fan-out (Ctrl-C, then run again).")
    ap.add_argument("journal", nargs="?", default=str(Path(tempfile.gettempdir()) / "skillstream-resumable.db"))
    ap.add_argument("--fresh", action="store_true", help="forget the earlier run first")
    args = ap.parse_args()
    journal = Journal(args.journal)
    if args.fresh:
        journal.forget("crawl")
    try:
        asyncio.run(main(journal))
    except KeyboardInterrupt:
        # What was shown is in the journal (a result is written before it is shown).
        done = next((i.succeeded for i in journal.runs() if i.run_id == "crawl"), 0)
        print(f"interrupted: {done} pages are in the journal; run again to resume")
    finally:
        journal.close()
