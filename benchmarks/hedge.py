"""Hedged calls against a slow tail: p50/p99 latency with and without ``Hedge``.

    python -m benchmarks.hedge                  # 1,000 calls, cap 100
    python -m benchmarks.hedge --size small     # a smoke run: 300 calls, a 0.5 s tail

A local aiohttp server on 127.0.0.1 (in a process of its own) answers each request after 50 ms, except one in fifty
(chosen at random, seeded) after 2 s (``--slow``). The same calls run twice in one process: plain, then
with ``Hedge(after=p95 of the plain run)``. Figures: p50 and p99 of per-call latency
(``finished_at - started_at``), and the extra requests hedging sent. Target: p99 at least
5x lower, at most 5% extra requests.
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

from benchmarks._figures import Figures, size_option  # noqa: E402
from pipeline import Hedge, run, skill  # noqa: E402

SIZES = {"small": {"calls": 300, "slow": 0.5}, "full": {"calls": 1000, "slow": 2.0}}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _server_main(seed: int, slow: float, ports: Any) -> None:
    """The slow-tail server, in a process of its own: its latencies are its own, not the
    client's event loop's."""
    rng = random.Random(seed)

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(slow if rng.random() < 0.02 else 0.05)
        request.app["count"][0] += 1
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


async def measure(base: str, calls: int, cap: int, hedge: Hedge | None, slow: float = 2.0) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def fetch(i: int) -> int:
            async with session.get(f"{base}/item") as response:
                await response.read()
                return i

        async def served() -> int:
            async with session.get(f"{base}/count") as response:
                return int((await response.json())["requests"])

        before = await served()
        item = skill(fetch, name="fetch_item", idempotent=True, hedge=hedge, timeout=10)
        results = await run([item(i) for i in range(calls)], max_concurrency=cap).collect()
        await asyncio.sleep(slow + 0.5)  # let the losing copies' requests end on the server
        requests = await served() - before
    latencies = [r.finished_at - r.started_at for r in results if r.ok and r.started_at is not None]
    assert len(latencies) == calls, "every call must succeed"
    return {
        "p50_ms": quantile(latencies, 0.50) * 1e3,
        "p95_ms": quantile(latencies, 0.95) * 1e3,
        "p99_ms": quantile(latencies, 0.99) * 1e3,
        "mean_ms": statistics.fmean(latencies) * 1e3,
        "requests": requests,
    }


def measure_all(calls: int, cap: int, seed: int, slow: float) -> dict[str, Any]:
    with SlowTailServer(seed, slow) as base:
        plain = asyncio.run(measure(base, calls, cap, None, slow))
        after = plain["p95_ms"] / 1e3
        hedged = asyncio.run(measure(base, calls, cap, Hedge(after=after), slow))
    return {"plain": plain, "hedged": hedged, "after_s": after}


def render(data: dict[str, Any], calls: int, cap: int, slow: float) -> str:
    plain, hedged, after = data["plain"], data["hedged"], data["after_s"]
    extra = hedged["requests"] / calls - 1
    fall = plain["p99_ms"] / hedged["p99_ms"]
    verdict = "PASS" if fall >= 5 and extra <= 0.05 else "MISS"
    return "\n".join([
        f"{calls} calls, cap {cap}; 2% of answers take {slow:g} s, the rest 50 ms",
        "",
        "| run | p50 | p95 | p99 | requests |",
        "|---|---|---|---|---|",
        f"| plain | {plain['p50_ms']:.0f} ms | {plain['p95_ms']:.0f} ms | {plain['p99_ms']:.0f} ms | {plain['requests']} |",
        f"| Hedge(after={after:.3f}) | {hedged['p50_ms']:.0f} ms | {hedged['p95_ms']:.0f} ms | "
        f"{hedged['p99_ms']:.0f} ms | {hedged['requests']} (+{extra:.1%}) |",
        "",
        f"p99 {fall:.1f}x lower with {extra:.1%} extra requests (target >= 5x, <= 5%): {verdict}",
    ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.hedge", description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--slow", type=float, help="seconds the slow answers take")
    ap.add_argument("--output", type=Path, default=None)
    return size_option(ap, SIZES, argv)


def bench(size: str) -> Figures:
    a = _args(["--size", size])
    data = measure_all(a.calls, a.cap, a.seed, a.slow)
    plain, hedged = data["plain"], data["hedged"]
    keys = ("p50_ms", "p95_ms", "p99_ms", "requests")
    return Figures(
        title=f"Hedged calls against a slow tail: {a.calls} calls, cap {a.cap}, 2% take {a.slow:g} s",
        text=render(data, a.calls, a.cap, a.slow),
        rows={"plain": {k: plain[k] for k in keys}, "Hedge(after=p95)": {k: hedged[k] for k in keys}},
        derived={"p99_fall_x": plain["p99_ms"] / hedged["p99_ms"],
                 "extra_requests": hedged["requests"] / a.calls - 1, "after_s": data["after_s"]},
        params={"calls": a.calls, "cap": a.cap, "seed": a.seed, "slow_s": a.slow},
    )


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    data = measure_all(a.calls, a.cap, a.seed, a.slow)
    print(render(data, a.calls, a.cap, a.slow))
    if a.output is not None:
        a.output.write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
