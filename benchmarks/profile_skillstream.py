"""Profile skillstream on one benchmark workload with cProfile.

    python -m benchmarks.profile_skillstream            # 20,000 no-op skills, cap 100
    python -m benchmarks.profile_skillstream --n 100000 --lazy --top 25

Prints the top of the profile sorted by cumulative time (and by own time with --tottime).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

from benchmarks.peers.skillstream_peer import SkillstreamPeer
from benchmarks.workloads import CALL_TIMEOUT


async def noop(_: object) -> None:
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--lazy", action="store_true", help="feed a generator instead of a list")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--tottime", action="store_true", help="also sort by own time")
    a = ap.parse_args()
    peer = SkillstreamPeer()
    asyncio.run(peer.map(noop, list(range(200)), a.cap, CALL_TIMEOUT))  # imports, warm-up

    def args() -> object:
        return (i for i in range(a.n)) if a.lazy else list(range(a.n))

    t0 = time.perf_counter()
    asyncio.run(peer.map(noop, args(), a.cap, CALL_TIMEOUT))
    plain = time.perf_counter() - t0
    prof = cProfile.Profile()
    src = args()
    prof.enable()
    asyncio.run(peer.map(noop, src, a.cap, CALL_TIMEOUT))
    prof.disable()
    print(f"{a.n:,} no-op skills, cap {a.cap}: {plain / a.n * 1e6:.1f} µs/skill without the profiler")
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("cumulative").print_stats(a.top)
    if a.tottime:
        stats.sort_stats("tottime").print_stats(a.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
