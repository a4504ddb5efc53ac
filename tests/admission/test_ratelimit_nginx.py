"""RateLimit against a real nginx that rejects with 429 beyond its limit_req rate.

Real time, real sockets: run with ``pytest -m nginx`` (``.ci/run`` installs nginx and
runs them). Bounds are generous for a loaded 2-core machine; what is asserted exactly is
the server's count of rejections: zero under the limit, many without it.

Two servers: ``api`` allows a burst of 5 (a forgiving API); ``strict`` allows none, so
every request must arrive at least ``1/rate`` after the last one it accepted (on nginx's
millisecond clock): a limit set exactly at its rate gets no 429 only thanks to the margin,
and an adaptive limit set at twice its rate must learn the real one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from pipeline import RateLimit, RetryAfter, Status, run, skill
from pipeline._admission._ratelimit import MARGIN
from tests.support.local_api_loader import load_nginx_api

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

RATE = 100  # requests per second nginx allows, every client together
CALLS = 500
STRICT_RATE = 20  # the strict server's rate (no burst)


@pytest.fixture(scope="module")
def api() -> Iterator[Any]:
    with load_nginx_api().NginxAPI(rate=RATE) as server:
        yield server


@pytest.fixture(scope="module")
def strict() -> Iterator[Any]:
    with load_nginx_api().NginxAPI(rate=STRICT_RATE, burst=0) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        yield s


def make_skills(session: aiohttp.ClientSession, url: str) -> tuple[Any, Any]:
    async def get(i: int) -> int:
        async with session.get(url) as response:
            RetryAfter.check(response)
            response.raise_for_status()
            return i

    limited = skill(get, name="limited_get", rate_limit=RateLimit(rate=RATE, key="test-nginx"))
    unlimited = skill(get, name="unlimited_get")
    return limited, unlimited


def statuses(results: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        label = r.status.value if r.ok else f"{r.status.value}:{r.error.message if r.error else ''}"
        counts[label] = counts.get(label, 0) + 1
    return counts


async def test_calls_under_the_limit_get_no_rejections_and_go_at_the_rate(
    api: Any, session: aiohttp.ClientSession
) -> None:
    limited, _ = make_skills(session, api.url)
    await asyncio.sleep(1.0)  # a fresh bucket on nginx's side
    start = time.monotonic()
    results = await run([limited(i) for i in range(CALLS)], max_concurrency=None).collect()
    elapsed = time.monotonic() - start
    assert statuses(results) == {"success": CALLS}
    bound = (CALLS - 1) * (1 + MARGIN) / RATE  # the first goes at once; then the margin
    assert bound * 0.95 <= elapsed <= bound * 1.10, f"{elapsed:.2f} s for a {bound:.2f} s bound"


async def test_two_runs_at_once_sharing_the_key_get_no_rejections(api: Any, session: aiohttp.ClientSession) -> None:
    limited, _ = make_skills(session, api.url)
    await asyncio.sleep(1.0)
    half = CALLS // 2
    first, second = await asyncio.gather(
        run([limited(i) for i in range(half)], max_concurrency=50).collect(),
        run([limited(i) for i in range(half)], max_concurrency=50).collect(),
    )
    assert statuses(list(first) + list(second)) == {"success": CALLS}


async def test_the_same_calls_without_the_limit_are_rejected(api: Any, session: aiohttp.ClientSession) -> None:
    # The server really is strict: without the limit most of the same calls get a 429.
    _, unlimited = make_skills(session, api.url)
    await asyncio.sleep(1.0)
    results = await run([unlimited(i) for i in range(CALLS)], max_concurrency=None).collect()
    rejected = [r for r in results if r.status is Status.ERROR and r.error and r.error.type == "RetryAfter"]
    assert len(rejected) > CALLS // 2
    assert rejected[0].error is not None and rejected[0].error.message.startswith("HTTP 429")


async def calls_to(session: aiohttp.ClientSession, url: str, limit: RateLimit, name: str, n: int) -> tuple[
    list[float], int, float
]:
    """``n`` calls under ``limit``: when each success ended, the number of 429s, the time taken."""
    async def get(i: int) -> float:
        async with session.get(url) as response:
            RetryAfter.check(response)
            response.raise_for_status()
            await response.read()
            return time.monotonic()

    limited = skill(get, name=name, rate_limit=limit)
    async with session.get(url.replace("limited", "free")) as warm:  # one open connection
        await warm.read()
    await asyncio.sleep(1.0)  # a fresh bucket on nginx's side
    start = time.monotonic()
    results = await run([limited(i) for i in range(n)], max_concurrency=None).collect()
    elapsed = time.monotonic() - start
    rejected = [r for r in results if not r.ok]
    assert all(r.error and r.error.message.startswith("HTTP 429") for r in rejected), statuses(results)
    return sorted(r.value for r in results if r.ok), len(rejected), elapsed


async def test_a_limit_at_the_strict_servers_exact_rate_gets_no_rejections(
    strict: Any, session: aiohttp.ClientSession
) -> None:
    n = 100  # 5.5 s
    ends, rejected, elapsed = await calls_to(
        session, strict.url, RateLimit(rate=STRICT_RATE), "exact_rate_get", n
    )
    assert rejected == 0
    achieved = (n - 1) / elapsed
    assert 0.85 * STRICT_RATE <= achieved <= STRICT_RATE, f"{achieved:.2f}/s"


async def test_an_adaptive_limit_at_twice_the_rate_learns_the_real_one(
    strict: Any, session: aiohttp.ClientSession
) -> None:
    n = 300  # about 16 s
    ends, rejected, elapsed = await calls_to(
        session, strict.url, RateLimit(rate=2 * STRICT_RATE, adaptive=True), "adaptive_rate_get", n
    )
    # After convergence (the second half of the run), successes come at nearly the real
    # rate; without adapting, half the calls would be rejected (4 calls/s were measured).
    half = [t for t in ends if t >= ends[0] + (ends[-1] - ends[0]) / 2]
    achieved = (len(half) - 1) / (half[-1] - half[0])
    assert achieved >= 0.85 * STRICT_RATE, f"{achieved:.2f}/s, {rejected} rejected"
    assert rejected <= n // 15, f"{rejected} rejected, {achieved:.2f}/s"
    print(f"adaptive at 2x: {achieved:.2f}/s after convergence, {rejected} of {n} rejected")
