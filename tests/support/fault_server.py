"""A local HTTP server that misbehaves on request, for fault-injection tests.

An aiohttp application on 127.0.0.1, port 0 (the OS picks a free one). Each path injects
one fault, after toxiproxy's toxics (RELIABILITY.md T23; toxiproxy itself is not
installable here):

==========================  =================================================================
``/ok``                     200 with a small JSON body
``/latency/{ms}``           the same after ``ms`` milliseconds (toxic ``latency``)
``/status/{code}``          an empty response with that status (a 5xx, a 429)
``/reset``                  headers and part of the body, then a TCP reset (``reset_peer``)
``/truncated``              ``Content-Length: 1000``, 10 bytes, then a clean close (``limit_data``)
``/blackhole``              reads the request and never answers (``timeout`` 0)
``/flaky/{name}/{n}``       a reset for the first ``n`` requests on ``name``, then 200
==========================  =================================================================

The server counts requests per path and records when a client gave up on a black-holed
request (its connection closed), so a test can prove a cancelled call closed its socket.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import Counter
from typing import Any

from aiohttp import web


class FaultServer:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.abandoned: list[str] = []  # black-holed requests whose client went away
        self._held: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FaultServer:
        app = web.Application()
        app.router.add_get("/ok", self._ok)
        app.router.add_get("/latency/{ms}", self._latency)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/reset", self._reset)
        app.router.add_get("/reset-before-headers", self._reset_before_headers)
        app.router.add_get("/truncated", self._truncated)
        app.router.add_get("/blackhole", self._blackhole)
        app.router.add_get("/flaky/{name}/{n}", self._flaky)
        # handler_cancellation: a black-holed handler learns that its client left.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers --------------------------------------------------------------------------

    def _count(self, request: web.Request) -> None:
        self.requests[request.path] += 1

    async def _ok(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.json_response({"ok": True, "path": request.path})

    async def _latency(self, request: web.Request) -> web.Response:
        self._count(request)
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.json_response({"ok": True, "path": request.path})

    async def _status(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(status=int(request.match_info["code"]))

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        return await self._reset_midway(request)

    async def _reset_before_headers(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        _reset_connection(request)
        return web.StreamResponse()

    async def _reset_midway(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"partial": ')
        _reset_connection(request)
        return response

    async def _truncated(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        response = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"short": ')
        transport = request.transport
        assert transport is not None
        transport.close()  # a clean FIN, 990 bytes short of what the header promised
        return response

    async def _blackhole(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            self.abandoned.append(request.path)
            raise
        raise AssertionError("unreachable")

    async def _flaky(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        n = int(request.match_info["n"])  # the first n requests to this path are reset
        if self.requests[request.path] <= n:
            return await self._reset_midway(request)
        return web.json_response({"ok": True, "path": request.path})


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    # SO_LINGER with a zero timeout: closing sends RST instead of FIN (a reset peer).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
