"""Server push-back and slow tails over real HTTP: an aiohttp server on 127.0.0.1 that
answers 429 with a Retry-After header, and one whose first answer is slow. Real time:
bounds are generous, orderings exact."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pipeline import Hedge, RateLimit, Retry, RetryAfter, Status, run, skill

pytestmark = pytest.mark.slow


class PushBackServer:
    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.retry_after = "1"
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> PushBackServer:
        app = web.Application()
        app.router.add_get("/busy/{name}", self._busy)
        app.router.add_get("/ok/{name}", self._ok)
        app.router.add_get("/tail/{name}", self._tail)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _arrive(self, request: web.Request) -> int:
        name = request.match_info["name"]
        self.arrivals[name].append(time.monotonic())
        return len(self.arrivals[name])

    async def _busy(self, request: web.Request) -> web.Response:
        if self._arrive(request) == 1:  # the first request for a name is turned away
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        return web.json_response({"ok": True})

    async def _ok(self, request: web.Request) -> web.Response:
        self._arrive(request)
        return web.json_response({"ok": True})

    async def _tail(self, request: web.Request) -> web.Response:
        slow = self._arrive(request) == 1  # the first answer for a name is the slow tail
        await asyncio.sleep(2.0 if slow else 0.02)
        return web.json_response({"copy": len(self.arrivals[request.match_info["name"]])})


@pytest.fixture
async def server() -> AsyncIterator[PushBackServer]:
    s = await PushBackServer().start()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def getter(session: aiohttp.ClientSession, base: str, name: str, **options: Any) -> Any:
    async def get(path: str) -> Any:
        async with session.get(f"{base}{path}") as response:
            RetryAfter.check(response)
            response.raise_for_status()
            return await response.json()

    return skill(get, name=name, **options)


async def test_a_429_with_retry_after_pauses_every_call_to_that_api(
    loop_errors: list[Any], server: PushBackServer, session: aiohttp.ClientSession
) -> None:
    api = RateLimit(rate=50, key="test-http-push-back")
    busy = getter(session, server.url, "busy", rate_limit=api, retry=Retry(attempts=3, backoff=0.01))
    other = getter(session, server.url, "other", rate_limit=api)

    async def later() -> Any:
        await asyncio.sleep(0.2)  # asks while the API has said "not for a second"
        return await run([other("/ok/b")]).collect()

    (first,), (second,) = await asyncio.gather(run([busy("/busy/a")]).collect(), later())
    assert (first.status, first.attempts, second.status) == (Status.SUCCESS, 2, Status.SUCCESS)
    a1, a2 = server.arrivals["a"]
    (b1,) = server.arrivals["b"]
    # The retry waited the server's second, not its 10 ms backoff; the other skill's call,
    # made at +0.2 s, reached the server only after the pause too.
    assert 0.95 <= a2 - a1 <= 1.6
    assert 0.95 <= b1 - a1 <= 1.6


async def test_a_retry_after_http_date_is_honoured(
    loop_errors: list[Any], server: PushBackServer, session: aiohttp.ClientSession
) -> None:
    server.retry_after = email.utils.formatdate(time.time() + 2, usegmt=True)
    busy = getter(session, server.url, "dated", retry=Retry(attempts=2, backoff=0.01))
    (result,) = await run([busy("/busy/d")]).collect()
    assert result.ok
    d1, d2 = server.arrivals["d"]
    assert 1.0 <= d2 - d1 <= 3.0  # an HTTP date has one-second precision


async def test_without_a_retry_policy_the_429_is_the_result(
    loop_errors: list[Any], server: PushBackServer, session: aiohttp.ClientSession
) -> None:
    busy = getter(session, server.url, "once")
    (result,) = await run([busy("/busy/e")]).collect()
    assert result.status is Status.ERROR and result.error is not None
    assert (result.error.type, result.error.message) == ("RetryAfter", "HTTP 429: retry after 1 s")


async def test_a_hedged_call_escapes_the_slow_tail(
    loop_errors: list[Any], server: PushBackServer, session: aiohttp.ClientSession
) -> None:
    tail = getter(session, server.url, "tail", hedge=Hedge(after=0.2), idempotent=True, timeout=10)
    start = time.monotonic()
    (result,) = await run([tail("/tail/t")]).collect()
    elapsed = time.monotonic() - start
    assert result.ok and result.value == {"copy": 2}  # the copy answered, not the slow first
    assert elapsed < 1.0  # not the 2 s tail
    assert len(server.arrivals["t"]) == 2
