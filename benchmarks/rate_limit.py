"""Achieved rate against a real nginx limit, skillstream's RateLimit beside aiolimiter.

    python -m benchmarks.rate_limit                 # 500 calls at 100/s, 3 repetitions
    python -m benchmarks.rate_limit --calls 200 --reps 1 --output /tmp/rate.json
    python -m benchmarks.rate_limit --size small    # a smoke run: 50 calls, 1 repetition

nginx (``limit_req``, 429 beyond the rate, 5 requests of leeway for jitter) serves both
peers in turns, with a pause between turns so its bucket drains. Each peer fires every
call at once and lets its limiter space them:

* **skillstream**: ``@skill(rate_limit=RateLimit(rate=R))``, ``run(calls, max_concurrency=None)``.
* **aiolimiter**: the hand-written loop its docs show: ``async with AsyncLimiter(R, 1):``
  around each request, all of them under one ``asyncio.gather``; and the same with
  ``AsyncLimiter(1, 1 / R)``, which spaces requests evenly instead of allowing a burst of R.

The figure is the achieved rate over the allowed one, ``(calls - 1) / elapsed / R`` (the
first call goes at once), with the number of 429s the server sent. Target: at least 0.97
with zero rejections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("rate_limit")

import aiohttp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from servers.nginx_api import NginxAPI  # noqa: E402

from benchmarks._figures import Figures, size_option  # noqa: E402
from pipeline import RateLimit, RetryAfter, run, skill  # noqa: E402

SIZES = {"small": {"calls": 50, "reps": 1}, "full": {"calls": 500, "reps": 3}}


async def _get(session: aiohttp.ClientSession, url: str) -> bool:
    async with session.get(url) as response:
        await response.read()
        return response.status == 200


async def skillstream_peer(url: str, rate: int, calls: int, turn: int) -> tuple[float, int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def get(i: int) -> int:
            async with session.get(url) as response:
                RetryAfter.check(response)
                await response.read()
                return i

        limited = skill(get, name=f"bench_get_{turn}", rate_limit=RateLimit(rate=rate))
        start = time.monotonic()
        results = await run([limited(i) for i in range(calls)], max_concurrency=None).collect()
        elapsed = time.monotonic() - start
    return elapsed, sum(1 for r in results if not r.ok)


async def aiolimiter_peer(url: str, rate: int, calls: int, turn: int, even: bool = False) -> tuple[float, int]:
    from aiolimiter import AsyncLimiter

    # AsyncLimiter(rate, 1) lets a whole second's worth through at once (its bucket holds
    # `rate`); AsyncLimiter(1, 1 / rate) spaces them evenly, as a strict server wants.
    limiter = AsyncLimiter(1, 1 / rate) if even else AsyncLimiter(rate, 1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> bool:
            async with limiter:
                return await _get(session, url)

        start = time.monotonic()
        oks = await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.monotonic() - start
    return elapsed, sum(1 for ok in oks if not ok)


async def aiolimiter_even_peer(url: str, rate: int, calls: int, turn: int) -> tuple[float, int]:
    return await aiolimiter_peer(url, rate, calls, turn, even=True)


PEERS = {
    "skillstream": skillstream_peer,
    "aiolimiter (rate, 1 s)": aiolimiter_peer,
    "aiolimiter (1, 1/rate s)": aiolimiter_even_peer,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rate_limit", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--output", type=Path, default=None)
    a = size_option(ap, SIZES, argv)
    rows: dict[str, dict[str, Any]] = {k: {"ratios": [], "rejected": []} for k in PEERS}
    with NginxAPI(rate=a.rate) as api:
        turn = 0
        for rep in range(a.reps):
            order = list(PEERS) if rep % 2 == 0 else list(PEERS)[::-1]
            for key in order:
                time.sleep(1.0)  # nginx's bucket drains between turns
                turn += 1
                elapsed, rejected = asyncio.run(PEERS[key](api.url, a.rate, a.calls, turn))
                ratio = (a.calls - 1) / elapsed / a.rate
                rows[key]["ratios"].append(ratio)
                rows[key]["rejected"].append(rejected)
                print(f"  {key:26s} rep {rep + 1}: {ratio:.3f} of the allowed rate, {rejected} rejected", file=sys.stderr)
    print(f"\n{a.calls} calls against nginx limit_req at {a.rate}/s, {a.reps} repetition(s), medians\n")
    print("| implementation | achieved / allowed rate | 429s (all repetitions) | target |")
    print("|---|---|---|---|")
    for key, row in rows.items():
        median = statistics.median(row["ratios"])
        rejected = sum(row["rejected"])
        verdict = "PASS" if median >= 0.97 and rejected == 0 else "MISS"
        print(f"| {key} | {median:.3f} | {rejected} | ≥ 0.97, 0 rejected: {verdict} |")
        row["median"] = median
    if a.output is not None:
        a.output.write_text(json.dumps({"calls": a.calls, "rate": a.rate, "reps": a.reps, "rows": rows}, indent=2))
    return 0


def bench(size: str) -> Figures:
    """``main`` at ``size``, its figures read back from its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rate.json"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            main(["--size", size, "--output", str(out)])
        data = json.loads(out.read_text())
    return Figures(
        title=f"Rate limits against nginx: {data['calls']} calls at {data['rate']}/s, {data['reps']} repetition(s)",
        text=printed.getvalue().strip(),
        rows={key: {"achieved_over_allowed": row["median"]} for key, row in data["rows"].items()},
        derived={f"{key} 429s": float(sum(row["rejected"])) for key, row in data["rows"].items()},
        params={"calls": data["calls"], "rate": data["rate"], "reps": data["reps"]},
    )


if __name__ == "__main__":
    raise SystemExit(main())
