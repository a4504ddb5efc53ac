"""Hedged calls against a slow tail: p50/p99 latency with and without ``Hedge``.

    python -m benchmarks.hedge                  # 5 rounds of 1,000 calls, cap 100
    python -m benchmarks.hedge --size small     # a smoke run: 2 rounds of 300 calls, a 0.5 s tail

A local aiohttp server on 127.0.0.1 (in a process of its own) answers each request after 50 ms,
except one in fifty (chosen at random, seeded) after 2 s (``--slow``). After a warm-up run, a
plain run (neither counted) sets ``after`` to its p95 latency. Then each round runs the same calls three ways, in an
order that rotates from round to round so that neither mode always runs first: plain,
``Hedge(after=p95)``, and ``Hedge(after=p95, budget=0.05)``, each with a skill of its own (so no
round inherits another's budget). Figures: the median over rounds of p50/p95/p99 per-call latency
(``finished_at - started_at``) and of the requests the server received, and the worst round's
extra requests. Target, for the budgeted hedge: median p99 at least 5x lower than plain's, and
at most 5% extra requests in every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # a package or program missing: one line, not a traceback
    from benchmarks._figures import exit_if_missing

    exit_if_missing("hedge")

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from benchmarks._figures import Figures, rotated, size_option  # noqa: E402
from pipeline import Hedge, run, skill  # noqa: E402

SIZES = {"small": {"calls": 300, "slow": 0.5, "rounds": 2}, "full": {"calls": 1000, "slow": 2.0, "rounds": 5}}
BUDGET = 0.05
MODES = ("plain", "Hedge(after=p95)", f"Hedge(after=p95, budget={BUDGET:g})")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _server_main(seed: int, slow: float, ports: Any) -> None:
    """The slow-tail server, in a process of its own: its latencies are its own, not the
    client's event loop's."""
    rng = random.Random(seed)

    async def answer(request: web.Request) -> web.Response:
        # Counted on arrival: a copy the client gave up on was still a request sent.
        request.app["count"][0] += 1
        await asyncio.sleep(slow if rng.random() < 0.02 else 0.05)
        return web.json_response({"ok": True})

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"requests": request.app["count"][0]})

    async def main() -> None:
        app = web.Application()
        app["count"] = [0]
        app.router.add_get("/item", answer)
        app.router.add_get("/count", count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


class SlowTailServer:
    def __init__(self, seed: int, slow: float = 2.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ports: Any = ctx.Queue()
        self.process = ctx.Process(target=_server_main, args=(seed, slow, self.ports), daemon=True)

    def __enter__(self) -> str:
        self.process.start()
        return f"http://127.0.0.1:{self.ports.get(timeout=30)}"

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(5)


async def measure(base: str, calls: int, cap: int, hedge: Hedge | None, slow: float = 2.0,
                  name: str = "fetch_item") -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def fetch(i: int) -> int:
            async with session.get(f"{base}/item") as response:
                await response.read()
                return i

        async def served() -> int:
            async with session.get(f"{base}/count") as response:
                return int((await response.json())["requests"])

        before = await served()
        item = skill(fetch, name=name, idempotent=True, hedge=hedge, timeout=10)
        results = await run([item(i) for i in range(calls)], max_concurrency=cap).collect()
        requests = await served() - before
        await asyncio.sleep(slow + 0.5)  # the losing copies end on the server before the next run
    latencies = [r.finished_at - r.started_at for r in results if r.ok and r.started_at is not None]
    assert len(latencies) == calls, "every call must succeed"
    return {
        "p50_ms": quantile(latencies, 0.50) * 1e3,
        "p95_ms": quantile(latencies, 0.95) * 1e3,
        "p99_ms": quantile(latencies, 0.99) * 1e3,
        "mean_ms": statistics.fmean(latencies) * 1e3,
        "requests": requests,
    }


def measure_all(calls: int, cap: int, seed: int, slow: float, rounds: int) -> dict[str, Any]:
    with SlowTailServer(seed, slow) as base:
        asyncio.run(measure(base, calls, cap, None, slow, "warm_up"))  # a cold first run is slower
        calibration = asyncio.run(measure(base, calls, cap, None, slow, "calibration"))
        after = round(calibration["p95_ms"] / 1e3, 4)
        hedges = {MODES[0]: None, MODES[1]: Hedge(after=after), MODES[2]: Hedge(after=after, budget=BUDGET)}
        per_round: list[dict[str, Any]] = []
        for r in range(rounds):
            order = rotated(MODES, r)
            figures = {mode: asyncio.run(measure(base, calls, cap, hedges[mode], slow, f"fetch_r{r}_m{MODES.index(mode)}"))
                       for mode in order}
            per_round.append({"order": list(order), **{mode: figures[mode] for mode in MODES}})
    return {"after_s": after, "calibration": calibration, "rounds": per_round, "calls": calls}


def summary(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per mode: the median over rounds of each figure, and the worst round's extra requests."""
    calls, rounds = data["calls"], data["rounds"]
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        figs = [rnd[mode] for rnd in rounds]
        row = {k: statistics.median(f[k] for f in figs) for k in ("p50_ms", "p95_ms", "p99_ms", "requests")}
        extras = [f["requests"] / calls - 1 for f in figs]
        row["extra_median"] = statistics.median(extras)
        row["extra_worst"] = max(extras)
        row["p99_fall_median"] = statistics.median(rnd["plain"]["p99_ms"] / rnd[mode]["p99_ms"] for rnd in rounds)
        row["p99_fall_worst"] = min(rnd["plain"]["p99_ms"] / rnd[mode]["p99_ms"] for rnd in rounds)
        out[mode] = row
    return out


def render(data: dict[str, Any], cap: int, slow: float) -> str:
    calls, rounds = data["calls"], len(data["rounds"])
    s = summary(data)
    budgeted = s[MODES[2]]
    verdict = "PASS" if budgeted["p99_fall_median"] >= 5 and budgeted["extra_worst"] <= 0.05 else "MISS"
    lines = [
        (f"{calls} calls, cap {cap}; 2% of answers take {slow:g} s, the rest 50 ms; "
         f"after = {data['after_s'] * 1e3:.0f} ms (p95 of a plain run before the rounds); "
         f"{rounds} rounds, modes interleaved, medians over rounds"),
        "",
        "| run | p50 | p95 | p99 | p99 lower (median, worst round) | extra requests (median, worst round) |",
        "|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        row = s[mode]
        gain = "—" if mode == "plain" else f"{row['p99_fall_median']:.1f}x, {row['p99_fall_worst']:.1f}x"
        lines.append(
            f"| {mode} | {row['p50_ms']:.0f} ms | {row['p95_ms']:.0f} ms | {row['p99_ms']:.0f} ms | {gain} | "
            f"{row['extra_median']:+.1%}, {row['extra_worst']:+.1%} |"
        )
    lines += [
        "",
        "Extra requests per round, in the order run:",
        *(f"- round {i + 1}: " + ", ".join(f"{m} {rnd[m]['requests'] / calls - 1:+.1%}" for m in rnd["order"])
          for i, rnd in enumerate(data["rounds"])),
        "",
        (f"{MODES[2]}: p99 {budgeted['p99_fall_median']:.1f}x lower (median of rounds), at most "
         f"{budgeted['extra_worst']:.1%} extra requests in any round (target >= 5x, <= 5%): {verdict}"),
    ]
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.hedge", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int)
    ap.add_argument("--rounds", type=int, help="rounds of the three modes, interleaved")
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--slow", type=float, help="seconds the slow answers take")
    ap.add_argument("--output", type=Path, default=None)
    return size_option(ap, SIZES, argv)


def bench(size: str) -> Figures:
    a = _args(["--size", size])
    data = measure_all(a.calls, a.cap, a.seed, a.slow, a.rounds)
    s = summary(data)
    keys = ("p50_ms", "p95_ms", "p99_ms", "requests")
    budgeted = s[MODES[2]]
    return Figures(
        title=f"Hedged calls against a slow tail: {a.rounds} rounds of {a.calls} calls, cap {a.cap}, "
              f"2% take {a.slow:g} s",
        text=render(data, a.cap, a.slow),
        rows={mode: {k: s[mode][k] for k in keys} for mode in MODES},
        derived={"p99_fall_x": budgeted["p99_fall_median"], "p99_fall_worst_x": budgeted["p99_fall_worst"],
                 "extra_requests": budgeted["extra_median"], "extra_requests_worst": budgeted["extra_worst"],
                 "unbudgeted_extra_worst": s[MODES[1]]["extra_worst"], "after_s": data["after_s"]},
        params={"calls": a.calls, "rounds": a.rounds, "cap": a.cap, "seed": a.seed, "slow_s": a.slow,
                "budget": BUDGET},
    )


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    data = measure_all(a.calls, a.cap, a.seed, a.slow, a.rounds)
    print(render(data, a.cap, a.slow))
    if a.output is not None:
        a.output.write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
