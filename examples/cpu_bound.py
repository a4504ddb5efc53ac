"""A CPU-bound skill on threads, on processes and on Ray: the same function, all timed.

asyncio and threads help I/O-bound skills only: pure-Python CPU work holds the GIL, so
threads take turns and finish in about the sum of the work. Worker processes
(``executor="process"``) and Ray tasks (``executor="ray"``) each run in a process of their
own and use every core. The three skills below are one function, ``count_primes``, run on
two workers each (two cores here): threads of the skill's own pool, a process pool of two,
and a local Ray instance with two CPUs (or the cluster at ``RAY_ADDRESS``).

Every executor is warmed up first (pool started, Ray workers leased); the table times the
run only. Each chunk reports the CPU time it used, so ``parallelism`` (CPU time / wall
time) shows how many cores worked at once: at most 1 under the GIL.

Needs ``pip install 'skillstream[ray]'``. Run: ``python examples/cpu_bound.py``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, NamedTuple

import ray

from pipeline import ProcessExecutor, SkillCall, ThreadExecutor, run, shutdown, skill

WORKERS = 2  # this machine's cores; each executor gets as many
LIMIT = 700_000  # count the primes below this ...
CHUNKS = 8  # ... in this many calls


class Chunk(NamedTuple):
    primes: int
    cpu_seconds: float  # this call's own CPU time (its thread's), whatever else runs
    pid: int


def count_primes(start: int, stop: int) -> Chunk:
    began = time.thread_time()
    primes = sum(1 for n in range(max(start, 2), stop) if all(n % d for d in range(2, int(n**0.5) + 1)))
    return Chunk(primes, time.thread_time() - began, os.getpid())


# One function, three executors. A process skill's function must be importable by the
# workers: skill(...) of a module-level function is, under any name.
PROCESS_POOL = ProcessExecutor(max_workers=WORKERS)
on_threads = skill(count_primes, name="threads", executor=ThreadExecutor(max_workers=WORKERS))
on_processes = skill(count_primes, name="processes", executor=PROCESS_POOL)
on_ray = skill(count_primes, name="ray", executor="ray", ray_options={"num_cpus": 1})


def chunks(make: Any) -> list[SkillCall[Chunk]]:
    step = LIMIT // CHUNKS
    calls: list[SkillCall[Chunk]] = [
        make(i * step, LIMIT if i == CHUNKS - 1 else (i + 1) * step).named(f"chunk{i}") for i in range(CHUNKS)
    ]
    return calls


async def timed(make: Any) -> tuple[float, list[Chunk]]:
    started = time.perf_counter()
    results = await run(chunks(make), max_concurrency=WORKERS).collect()
    wall = time.perf_counter() - started
    return wall, [r.unwrap() for r in results]


async def main() -> None:
    # A local Ray instance sized for this machine, unless RAY_ADDRESS names a cluster.
    started = time.perf_counter()
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray_ready = time.perf_counter() - started

    # Warm-up, not timed in the table: the process pool starts its workers, Ray leases its
    # workers and imports the function there.
    warm = {}
    for make in (on_threads, on_processes, on_ray):
        started = time.perf_counter()
        await run([make(0, 10).named(f"warm{i}") for i in range(WORKERS)], max_concurrency=WORKERS).collect()
        warm[make.name] = time.perf_counter() - started

    print(f"CPU-bound skill: primes below {LIMIT:,} in {CHUNKS} chunks, {WORKERS} workers each")
    print(
        f"warm-up (not in the table): Ray ready in {ray_ready:.1f} s, process pool "
        f"{warm['processes']:.2f} s, Ray workers {warm['ray']:.2f} s"
    )
    print()
    print("| executor | wall (s) | CPU in the skill (s) | parallelism | processes | primes |")
    print("|---|---|---|---|---|---|")
    walls = {}
    for make in (on_threads, on_processes, on_ray):
        wall, parts = await timed(make)
        walls[make.name] = wall
        cpu = sum(p.cpu_seconds for p in parts)
        pids = {p.pid for p in parts}
        where = "the driver" if pids == {os.getpid()} else f"{len(pids)} workers"
        primes = sum(p.primes for p in parts)
        print(f"| {make.name} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {where} | {primes} |")
    print()
    print(
        f"processes {walls['threads'] / walls['processes']:.1f}x and Ray "
        f"{walls['threads'] / walls['ray']:.1f}x the speed of threads"
    )
    # shutdown() closes the shared pools only: a skill's own pool is closed by its owner,
    # else its idle worker processes would hold the interpreter's exit.
    PROCESS_POOL.close()
    shutdown()
    ray.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
