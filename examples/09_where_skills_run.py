"""Where skills run: on the event loop, in threads, in processes, on Ray.

Where a skill runs is its ``executor``. By default (``"auto"``) an async function runs on
the event loop and a plain function in a thread, which suits I/O: waiting on the network.
Pure-Python CPU work holds the GIL, so threads take turns; worker processes
(``executor="process"`` or a ``ProcessExecutor``) and Ray tasks (``executor="ray"``) each
run in a process of their own and use every core.

1. Where each kind of skill ran: the process and thread it saw.
2. One CPU-bound function, ``count_primes``, on two threads, on two processes and (if Ray
   is installed: ``pip install 'skillstream[ray]'``) on a local Ray instance with two
   CPUs, each timed. ``parallelism`` (CPU time / wall time) shows how many cores worked
   at once: at most 1 under the GIL.

    python examples/09_where_skills_run.py            # with Ray when it is installed
    python examples/09_where_skills_run.py --no-ray   # threads and processes only

A script whose skills run in processes needs ``if __name__ == "__main__":`` (the workers
import it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import threading
import time
from typing import Any, NamedTuple

from pipeline import ProcessExecutor, SkillCall, ThreadExecutor, run, shutdown, skill

WORKERS = 2  # each executor gets as many
LIMIT = 300_000  # count the primes below this ...
CHUNKS = 8  # ... in this many calls


def here() -> str:
    return f"pid {os.getpid()}, thread {threading.current_thread().name}"


class Chunk(NamedTuple):
    primes: int
    cpu_seconds: float  # this call's own CPU time (its thread's), whatever else runs
    pid: int


def count_primes(start: int, stop: int) -> Chunk:
    began = time.thread_time()
    primes = sum(1 for n in range(max(start, 2), stop) if all(n % d for d in range(2, int(n**0.5) + 1)))
    return Chunk(primes, time.thread_time() - began, os.getpid())


async def where_async() -> str:
    return here()


# A process skill's function must be importable by the workers: skill(...) of a
# module-level function is, under any name. A skill's own pool is closed by its owner.
PROCESS_POOL = ProcessExecutor(max_workers=WORKERS)
on_loop = skill(where_async, name="async_def")  # async: on the loop
in_thread = skill(here, name="plain_def")  # sync: in a thread
in_process = skill(here, name="process", executor=PROCESS_POOL)

on_threads = skill(count_primes, name="threads", executor=ThreadExecutor(max_workers=WORKERS))
on_processes = skill(count_primes, name="processes", executor=PROCESS_POOL)


def chunks(make: Any) -> list[SkillCall[Chunk]]:
    step = LIMIT // CHUNKS
    calls: list[SkillCall[Chunk]] = [
        make(i * step, LIMIT if i == CHUNKS - 1 else (i + 1) * step).named(f"chunk{i}") for i in range(CHUNKS)
    ]
    return calls


async def main(use_ray: bool) -> None:
    where: list[Any] = [on_loop, in_thread, in_process]
    makers: list[Any] = [on_threads, on_processes]
    if use_ray:  # Ray skills can be made only where Ray is installed
        import ray

        # A local Ray instance sized for this example, unless RAY_ADDRESS names a cluster.
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False)
        else:
            ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
        where.append(skill(here, name="ray", executor="ray"))
        makers.append(skill(count_primes, name="ray", executor="ray", ray_options={"num_cpus": 1}))

    # 1. Where each ran. The driver is this process, on its main thread.
    print(f"1. the driver: {here()}")
    for r in await run([make() for make in where]).collect():
        print(f"   {r.key:<10} {r.value}")

    # 2. The CPU-bound table. Each executor is warmed up first (its workers started), so
    #    the table times the run only.
    for make in makers:
        await run([make(0, 10).named(f"warm{i}") for i in range(WORKERS)], max_concurrency=WORKERS).collect()
    print(f"\n2. primes below {LIMIT:,} in {CHUNKS} chunks, {WORKERS} workers each")
    print("| executor | wall (s) | CPU in the skill (s) | parallelism | processes | primes |")
    print("|---|---|---|---|---|---|")
    for make in makers:
        started = time.perf_counter()
        parts = [r.unwrap() for r in await run(chunks(make), max_concurrency=WORKERS).collect()]
        wall = time.perf_counter() - started
        cpu = sum(p.cpu_seconds for p in parts)
        pids = {p.pid for p in parts}
        ran_in = "the driver" if pids == {os.getpid()} else f"{len(pids)} workers"
        print(f"| {make.name} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {ran_in} | {sum(p.primes for p in parts)} |")
    if not use_ray:
        print("(Ray is not installed, or --no-ray: pip install 'skillstream[ray]' adds a row)")

    # shutdown() closes the shared pools (and a local Ray instance skillstream started);
    # a skill's own pool is closed by its owner, else its idle workers would hold the exit.
    PROCESS_POOL.close()
    shutdown()
    if use_ray:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="where skills run: loop, threads, processes, Ray")
    ap.add_argument("--no-ray", action="store_true", help="leave Ray out even if it is installed")
    args = ap.parse_args()
    asyncio.run(main(use_ray=not args.no_ray and importlib.util.find_spec("ray") is not None))
