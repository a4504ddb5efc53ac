"""Durable runs: a briefing whose run fails halfway, then resumes without redoing the rest.

Six company lookups feed one summary. The first run meets a flaky API (one lookup fails,
so the summary is skipped); every result that finished is in the journal. The second run,
with the same ``run_id``, replays the five lookups from the journal (they do not run, and
are not paid for again), runs the failed one, then the summary. Run it with::

    python examples/06_durable_runs.py             # the journal in a temporary folder
    python examples/06_durable_runs.py runs.db     # or in a file of your choice, kept
    python -m pipeline.journal runs.db             # then list the journal's runs

A real crash works the same way: kill the process, run it again with the same run_id.

Latencies are multiplied by ``SKILLSTREAM_LATENCY_SCALE`` (default 1.0).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline import Journal, Results, SkillCall, run, skill
from pipeline.journal import format_runs

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))
REVENUE_BN = {"AAPL": 391.0, "MSFT": 245.1, "NVDA": 130.5, "AMZN": 638.0, "GOOG": 350.0, "META": 164.5}
COMPANIES = list(REVENUE_BN)
paid: Counter[str] = Counter()  # what the (paid) API was asked, this process
flaky = {"NVDA"}  # fails once, then recovers


class Profile(BaseModel):
    symbol: str
    revenue_bn: float


@skill(timeout=5)
async def lookup(symbol: str) -> Profile:
    paid[symbol] += 1
    await asyncio.sleep(0.1 * SCALE)
    if symbol in flaky:
        flaky.discard(symbol)
        raise ConnectionError(f"the API dropped the connection for {symbol}")
    return Profile(symbol=symbol, revenue_bn=REVENUE_BN[symbol])


@skill(timeout=5)
async def summarize(profiles: list[Profile]) -> str:
    paid["summary"] += 1
    await asyncio.sleep(0.05 * SCALE)
    # The replayed ones are Profiles again: the journal kept JSON and the annotation
    # of lookup() turns it back into the model.
    return f"{len(profiles)} companies, {sum(p.revenue_bn for p in profiles):.0f} bn revenue"


def briefing() -> list[SkillCall[str]]:
    # A list of calls is a list of dependencies: summarize gets their values.
    lookups: list[Any] = [lookup(s).named(s) for s in COMPANIES]
    return [summarize(lookups).named("summary")]


def report(label: str, results: Results) -> None:
    replayed = [r.key for r in results if r.replayed]
    ran = [r.key for r in results if not r.replayed and r.status != "skipped"]
    print(f"{label}: {len(replayed)} replayed, {len(ran)} ran, ok={results.ok}")
    for r in results:
        mark = "replayed" if r.replayed else str(r.status)
        print(f"  {r.key:<8} {mark:<9} {r.value if r.ok else (r.error.type if r.error else '')}")


async def main(path: str) -> None:
    journal = Journal(path)
    try:
        journal.forget("briefing-42")  # start afresh each time the example runs
        # 1. The first run: NVDA fails, so the summary is skipped.     -> 5 ran ok, 1 error
        #    (Think of it as a crash halfway: what finished is in the journal.)
        first = await run(briefing(), journal=journal, run_id="briefing-42").collect()
        report("first run", first)
        # 2. Again, same run_id: five lookups replayed, NVDA and the summary run.
        second = await run(briefing(), journal=journal, run_id="briefing-42").collect()
        report("second run", second)
        # 3. Each lookup was paid for once, NVDA twice (it failed once).
        print("API calls:", dict(sorted(paid.items())))
        print(format_runs(journal.runs()))
    finally:
        journal.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:  # removed at the end
            asyncio.run(main(str(Path(folder) / "runs.db")))
