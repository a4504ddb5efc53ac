"""Achieved rate against a strict nginx limit, skillstream's RateLimit beside aiolimiter.

    python -m benchmarks.rate_limit                 # nginx at 20/s: 200 and 400 calls, 3 repetitions
    python -m benchmarks.rate_limit --calls 100 --reps 1 --output /tmp/rate.json
    python -m benchmarks.rate_limit --size small    # a smoke run: 50 and 100 calls, 1 repetition

nginx (``limit_req`` at ``--rate`` requests/s, **no burst**: each request must arrive at
least ``1/rate`` after the last one it accepted, on its millisecond clock; 429 otherwise)
serves every peer in turns, with a pause between turns so its bucket drains. Each peer
fires every call at once and lets its limiter space them. Two cases:

* **exact**: the client's limit is the server's rate (``--calls`` calls).
  - skillstream: ``@skill(rate_limit=RateLimit(rate=R))``, ``run(calls, max_concurrency=None)``;
  - aiolimiter: the loop its docs show, ``async with AsyncLimiter(R, 1):`` around each
    request under one ``asyncio.gather``; and ``AsyncLimiter(1, 1 / R)``, evenly spaced.
* **2x**: the client's limit is twice the server's (a wrong or changed limit; twice as many
  calls): the same peers at ``2R``, and skillstream with ``RateLimit(rate=2R, adaptive=True)``,
  which must learn the real rate from the 429s.

Figures: successes per second over the server's rate, for the whole turn and for its second
half (after an adaptive limit has converged), and the number of 429s. Targets: exact, at
least 0.85 with zero 429s; 2x adaptive, at least 0.9 in the second half with few 429s
(under 1 in 15 calls).
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

SIZES = {"small": {"calls": 50, "reps": 1}, "full": {"calls": 200, "reps": 3}}

#: one turn's outcome: seconds taken, when each success ended, how many 429s
Turn = tuple[float, list[float], int]


async def _warm(session: aiohttp.ClientSession, url: str) -> None:
    """One open connection before the clock starts (a first connect is slow and uneven)."""
    async with session.get(url.replace("limited", "free")) as response:
        await response.read()


async def skillstream_peer(url: str, rate: int, calls: int, turn: int, adaptive: bool = False) -> Turn:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def get(i: int) -> float:
            async with session.get(url) as response:
                RetryAfter.check(response)
                await response.read()
                return time.monotonic()

        limited = skill(get, name=f"bench_get_{turn}", rate_limit=RateLimit(rate=rate, adaptive=adaptive))
        await _warm(session, url)
        start = time.monotonic()
        results = await run([limited(i) for i in range(calls)], max_concurrency=None).collect()
        elapsed = time.monotonic() - start
    return elapsed, sorted(r.value for r in results if r.ok), sum(1 for r in results if not r.ok)


async def skillstream_adaptive_peer(url: str, rate: int, calls: int, turn: int) -> Turn:
    return await skillstream_peer(url, rate, calls, turn, adaptive=True)


async def aiolimiter_peer(url: str, rate: int, calls: int, turn: int, even: bool = False) -> Turn:
    from aiolimiter import AsyncLimiter

    # AsyncLimiter(rate, 1) lets a whole second's worth through at once (its bucket holds
    # `rate`); AsyncLimiter(1, 1 / rate) spaces them evenly, as a strict server wants.
    limiter = AsyncLimiter(1, 1 / rate) if even else AsyncLimiter(rate, 1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> float | None:
            async with limiter:
                async with session.get(url) as response:
                    await response.read()
                    return time.monotonic() if response.status == 200 else None

        await _warm(session, url)
        start = time.monotonic()
        ends = await asyncio.gather(*(one() for _ in range(calls)))
        elapsed = time.monotonic() - start
    return elapsed, sorted(t for t in ends if t is not None), sum(1 for t in ends if t is None)


async def aiolimiter_even_peer(url: str, rate: int, calls: int, turn: int) -> Turn:
    return await aiolimiter_peer(url, rate, calls, turn, even=True)


PEERS = {
    "skillstream": skillstream_peer,
    "aiolimiter (rate, 1 s)": aiolimiter_peer,
    "aiolimiter (1, 1/rate s)": aiolimiter_even_peer,
}
#: (row, peer, the client's rate over the server's, calls over --calls)
CASES = [
    *((key, key, 1, 1) for key in PEERS),
    ("skillstream adaptive, 2x rate", "skillstream adaptive", 2, 2),
    *((f"{key}, 2x rate", key, 2, 2) for key in PEERS),
]
PEER_FUNCTIONS = {**PEERS, "skillstream adaptive": skillstream_adaptive_peer}


def _figures(turn: Turn, server_rate: int) -> tuple[float, float, int]:
    elapsed, ends, rejected = turn
    overall = len(ends) / elapsed / server_rate
    half = [t for t in ends if t >= ends[0] + (ends[-1] - ends[0]) / 2] if len(ends) > 1 else []
    second = (len(half) - 1) / (half[-1] - half[0]) / server_rate if len(half) > 2 else 0.0
    return overall, second, rejected


def _target(row: str, overall: float, second: float, rejected: int, calls: int) -> str:
    if row == "skillstream":
        ok = overall >= 0.85 and rejected == 0
        return f"≥ 0.85, 0 rejected: {'PASS' if ok else 'MISS'}"
    if row.startswith("skillstream adaptive"):
        ok = second >= 0.9 and rejected * 15 < calls
        return f"2nd half ≥ 0.9, < 1/15 rejected: {'PASS' if ok else 'MISS'}"
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rate_limit", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200, help="calls per turn at the exact rate (twice that at 2x)")
    ap.add_argument("--rate", type=int, default=20, help="the server's rate, requests/s")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--output", type=Path, default=None)
    a = size_option(ap, SIZES, argv)
    rows: dict[str, dict[str, Any]] = {
        row: {"overall": [], "second_half": [], "rejected": [], "calls": a.calls * n} for row, _, _, n in CASES
    }
    with NginxAPI(rate=a.rate, burst=0) as api:
        turn = 0
        for rep in range(a.reps):
            order = CASES if rep % 2 == 0 else CASES[::-1]
            for row, peer, times, n in order:
                time.sleep(1.0)  # nginx's bucket drains between turns
                turn += 1
                outcome = asyncio.run(PEER_FUNCTIONS[peer](api.url, a.rate * times, a.calls * n, turn))
                overall, second, rejected = _figures(outcome, a.rate)
                rows[row]["overall"].append(overall)
                rows[row]["second_half"].append(second)
                rows[row]["rejected"].append(rejected)
                print(f"  {row:34s} rep {rep + 1}: {overall:.3f} of the server's rate "
                      f"({second:.3f} in the 2nd half), {rejected} rejected", file=sys.stderr)
    print(f"\nnginx limit_req at {a.rate}/s without burst; {a.calls} calls at the exact rate, "
          f"{2 * a.calls} at twice it; {a.reps} repetition(s), medians\n")
    print("| client limit | successes/s over the server's rate | 2nd half | 429s (all repetitions) | target |")
    print("|---|---|---|---|---|")
    for row, data in rows.items():
        overall = statistics.median(data["overall"])
        second = statistics.median(data["second_half"])
        rejected = sum(data["rejected"])
        target = _target(row, overall, second, rejected, data["calls"] * a.reps)
        print(f"| {row} | {overall:.3f} | {second:.3f} | {rejected} | {target} |")
        data["median"] = overall
        data["median_second_half"] = second
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
        title=f"Rate limits against a strict nginx at {data['rate']}/s: at its rate and at twice it, "
              f"{data['reps']} repetition(s)",
        text=printed.getvalue().strip(),
        rows={
            key: {"achieved_over_allowed": row["median"], "second_half_over_allowed": row["median_second_half"]}
            for key, row in data["rows"].items()
        },
        derived={f"{key} 429s": float(sum(row["rejected"])) for key, row in data["rows"].items()},
        params={"calls": data["calls"], "rate": data["rate"], "reps": data["reps"]},
    )


if __name__ == "__main__":
    raise SystemExit(main())
