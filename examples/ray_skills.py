"""Skills on Ray: the same skills, the same run, every attempt a Ray task.

Needs ``pip install 'skillstream[ray]'``. With no cluster given (``RAY_ADDRESS`` unset and
no ``ray.init()`` call), the first Ray skill starts a local Ray instance (one log line says
so) and it stops at exit. Run: ``python examples/ray_skills.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time

from pipeline import Retry, run, skill


@skill(executor="ray")
def where_am_i() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


@skill(executor="ray", ray_options={"num_cpus": 1})
def count_primes(start: int, stop: int) -> int:
    """CPU-bound: on a cluster, one task per chunk spreads over its machines."""
    return sum(1 for n in range(max(start, 2), stop) if all(n % d for d in range(2, int(n**0.5) + 1)))


@skill(executor="ray")
async def fetch_page(url: str) -> str:
    """An async skill runs on Ray too, in an event loop of its own on the worker."""
    await asyncio.sleep(0.05)
    return f"<html>{url}</html>"


@skill(executor="ray")
def make_blob(mb: int) -> bytes:
    return os.urandom(mb * 2**20)


@skill(executor="ray")
def digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:16]


@skill(executor="ray", timeout=1.0, retry=Retry(attempts=2, backoff=0.1))
def stuck(seconds: float) -> str:
    time.sleep(seconds)  # in C: Ray cannot interrupt it, so its worker is killed
    return "never"


async def main() -> None:
    # 0. The first Ray skill joins Ray, or starts a local instance (a log line says which).
    started = time.perf_counter()
    where = await where_am_i()
    print(f"0. Ray ready in {time.perf_counter() - started:.1f} s; a worker on {where}")

    # 1. A fan-out of CPU-bound chunks, capped, streamed as they finish.
    print("1. primes below 200,000, in 8 chunks on Ray")
    chunks = [count_primes(i * 25_000, (i + 1) * 25_000).named(f"chunk{i}") for i in range(8)]
    started = time.perf_counter()
    total = 0
    async for result in run(chunks, max_concurrency=4):
        total += result.unwrap()
        print(f"   {result.key}: {result.value} primes ({result.duration:.2f} s)")
    print(f"   total {total} in {time.perf_counter() - started:.2f} s")  # 17984

    # 2. A DAG: the 50 MB blob goes from one Ray task to the next through Ray's object
    #    store; the driver gets only the digest (unless it reads the blob itself).
    print("2. a Ray skill feeding a Ray skill")
    results = await run([digest(make_blob(50)), fetch_page("example.org")]).collect()
    print(f"   digest of the 50 MB blob: {results['digest'].value}")
    print(f"   page: {results['fetch_page'].value}")  # <html>example.org</html>

    # 3. A timeout cancels the task on the cluster; skillstream's Retry tries again (Ray
    #    retries nothing itself), then the call ends as a timeout.
    print("3. a stuck Ray skill")
    result = (await run([stuck(60)]).collect())[0]
    print(f"   {result.key}: {result.status} after {result.attempts} attempts")  # timeout, 2


if __name__ == "__main__":
    asyncio.run(main())
