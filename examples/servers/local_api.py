"""A local stand-in for a finance, news and search API, for the examples.

The examples need something real to talk to over HTTP — real sockets, real latency —
without the network, API keys or rate limits. This module is that something: a small
aiohttp application served in-process on ``127.0.0.1`` on a free port.

Endpoints (all JSON):

==============================  ===========  =============================================
``GET /quote/{symbol}``         ~120 ms      last price of a symbol
``GET /news?q=..&limit=5``      ~300 ms      a list of articles about ``q``
``GET /financials/{symbol}``    ~450 ms      yearly figures of a company
``GET /sentiment/{symbol}``     ~200 ms      flaky: the first ``sentiment_failures`` requests
                                             for each symbol answer 503 (after ~30 ms)
``GET /ratings/{symbol}``       ~10 s        hung: for showing a per-skill timeout
``GET /search?q=..&engine=E``   50–400 ms    8 hits ``{"url", "title", "score", "engine"}``;
                                             the latency depends on the engine only;
                                             engine ``offline`` answers 503
==============================  ===========  =============================================

Everything is deterministic — latencies, prices, hits, scores — so examples print the same
thing on every run and tests can assert on it. Latencies are multiplied by a scale factor
(``latency_scale=``, or the ``SKILLSTREAM_LATENCY_SCALE`` environment variable, default 1.0)
so that the test suite can run the examples five times faster.

Usage::

    async with serve_local_api() as base_url:          # e.g. "http://127.0.0.1:54321"
        async with aiohttp.ClientSession(base_url) as session:
            async with session.get("/quote/AAPL") as resp:
                quote = await resp.json()

Run ``python examples/servers/local_api.py`` to serve it until Ctrl-C and try it with curl.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import math
import os
import random
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "ENGINE_LATENCY_MS",
    "LATENCY_ENV_VAR",
    "LATENCY_MS",
    "UNAVAILABLE_ENGINES",
    "LocalApiConfig",
    "create_app",
    "engine_latency_ms",
    "latency_scale_from_env",
    "search_hits",
    "serve_local_api",
]

LATENCY_ENV_VAR = "SKILLSTREAM_LATENCY_SCALE"
"""Environment variable holding the default latency scale factor (a float >= 0)."""

LATENCY_MS: dict[str, float] = {
    "quote": 120.0,
    "news": 300.0,
    "financials": 450.0,
    "sentiment": 200.0,
    # A failing backend usually answers fast: the 503 comes before the real work.
    "sentiment_unavailable": 30.0,
    # A hung backend: far longer than any sensible skill timeout, at any test scale.
    "ratings": 10_000.0,
}
"""Unscaled latency of each endpoint, in milliseconds."""

ENGINE_LATENCY_MS: dict[str, float] = {
    "web": 120.0,
    "news": 250.0,
    "scholar": 400.0,
    "forum": 50.0,
}
"""Unscaled latency of the named search engines, in milliseconds. Other engine names get a
latency between 50 and 400 ms derived from a hash of the name (see :func:`engine_latency_ms`)."""

UNAVAILABLE_ENGINES = frozenset({"offline"})
"""Search engines that answer 503 (after their latency): a search skill that fails."""

_HITS_PER_SEARCH = 8
# Every engine samples its hits from the same pool of URLs for a query: with 8 of 14, two
# engines share about 4.5 URLs on average — enough overlap for deduplication to matter.
_URL_POOL_SIZE = 14
_DOMAINS = (
    "reuters.example",
    "bloomberg.example",
    "wikipedia.example",
    "arxiv.example",
    "hn.example",
    "blog.example",
    "docs.example",
)


def _seed(*parts: str) -> int:
    """A stable integer seed for ``random.Random``.

    ``hash()`` of a str changes with PYTHONHASHSEED on every interpreter start; sha256
    does not, so the "random" data is the same on every run and every machine.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def engine_latency_ms(engine: str) -> float:
    """Unscaled latency of a search engine, in milliseconds: always within [50, 400].

    Named engines have the fixed latencies of :data:`ENGINE_LATENCY_MS`; any other name
    gets a stable pseudo-random latency, so a test can invent engines freely.
    """
    if engine in ENGINE_LATENCY_MS:
        return ENGINE_LATENCY_MS[engine]
    return float(50 + _seed("latency", engine) % 351)


def search_hits(query: str, engine: str) -> list[dict[str, Any]]:
    """The hits ``GET /search`` returns for ``query`` on ``engine``, best score first.

    Each engine draws ``8`` URLs from one pool of ``14`` URLs per query, and scores each
    hit on its own: the same URL may come back from several engines with different
    scores — which is what ``dedupe_by("url")`` and ``top_k(10, key="score")`` are for.
    """
    slug = "-".join(query.lower().split()) or "empty"
    pool = [
        f"https://{_DOMAINS[i % len(_DOMAINS)]}/{slug}/{i}" for i in range(_URL_POOL_SIZE)
    ]
    rng = random.Random(_seed("hits", engine, query))
    hits: list[dict[str, Any]] = [
        {
            "url": url,
            "title": f"{query} — {url.split('/', 3)[2].split('.')[0]} #{url.rsplit('/', 1)[1]}",
            "score": round(rng.uniform(0.05, 1.0), 3),
            "engine": engine,
        }
        for url in rng.sample(pool, _HITS_PER_SEARCH)
    ]
    hits.sort(key=lambda hit: hit["score"], reverse=True)
    return hits


def latency_scale_from_env() -> float:
    """The latency scale from ``SKILLSTREAM_LATENCY_SCALE``, or 1.0 when it is unset.

    Raises:
        ValueError: if the variable is set to something other than a finite float >= 0.
    """
    raw = os.environ.get(LATENCY_ENV_VAR, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(
            f"{LATENCY_ENV_VAR} must be a finite number >= 0 (1.0 = real latencies), got {raw!r}"
        )
    return scale


@dataclass
class LocalApiConfig:
    """Settings and mutable state of one local API application.

    Attributes:
        latency_scale: Every latency is multiplied by this (1.0 = the documented
            latencies, 0.2 = five times faster, 0 = no sleeping at all).
        sentiment_failures: How many requests for each symbol ``/sentiment`` answers with
            503 before it succeeds. The default, 2, makes a ``Retry(attempts=3)`` skill
            succeed on its last attempt.
        sentiment_requests: Requests seen so far by ``/sentiment``, per symbol. State lives
            here, in the application, not in a module global: every server starts fresh.
    """

    latency_scale: float = 1.0
    sentiment_failures: int = 2
    sentiment_requests: dict[str, int] = field(default_factory=dict)


_CONFIG = web.AppKey("config", LocalApiConfig)


async def _delay(request: web.Request, milliseconds: float) -> None:
    """Sleep for ``milliseconds`` times the application's latency scale."""
    await asyncio.sleep(milliseconds / 1000.0 * request.app[_CONFIG].latency_scale)


def _symbol(request: web.Request) -> str:
    return request.match_info["symbol"].upper()


def _required_query(request: web.Request) -> str:
    query = request.query.get("q", "").strip()
    if not query:
        raise web.HTTPBadRequest(
            text='{"error": "missing query parameter q"}', content_type="application/json"
        )
    return query


async def quote(request: web.Request) -> web.Response:
    """``GET /quote/{symbol}``: ``{"symbol", "price", "currency", "change_pct"}``."""
    symbol = _symbol(request)
    await _delay(request, LATENCY_MS["quote"])
    rng = random.Random(_seed("quote", symbol))
    return web.json_response(
        {
            "symbol": symbol,
            "price": round(rng.uniform(20, 500), 2),
            "currency": "USD",
            "change_pct": round(rng.uniform(-3, 3), 2),
        }
    )


async def news(request: web.Request) -> web.Response:
    """``GET /news?q=..&limit=5``: a list of ``{"title", "source", "url", "published"}``."""
    query = _required_query(request)
    try:
        limit = int(request.query.get("limit", "5"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 20:
        raise web.HTTPBadRequest(
            text='{"error": "limit must be an integer from 1 to 20"}',
            content_type="application/json",
        )
    await _delay(request, LATENCY_MS["news"])
    rng = random.Random(_seed("news", query))
    verbs = ("beats estimates", "unveils new product", "faces probe", "expands in Asia",
             "announces buyback", "cuts costs", "hires new CFO", "wins contract")
    articles = [
        {
            "title": f"{query} {rng.choice(verbs)}",
            "source": rng.choice(_DOMAINS),
            "url": f"https://news.example/{'-'.join(query.lower().split())}/{i}",
            "published": f"2024-06-{28 - i:02d}",
        }
        for i in range(limit)
    ]
    return web.json_response(articles)


async def financials(request: web.Request) -> web.Response:
    """``GET /financials/{symbol}``: ``{"symbol", "fiscal_year", "revenue_bn", "net_income_bn", "pe_ratio"}``."""
    symbol = _symbol(request)
    await _delay(request, LATENCY_MS["financials"])
    rng = random.Random(_seed("financials", symbol))
    revenue = round(rng.uniform(5, 400), 1)
    return web.json_response(
        {
            "symbol": symbol,
            "fiscal_year": 2023,
            "revenue_bn": revenue,
            "net_income_bn": round(revenue * rng.uniform(0.05, 0.3), 1),
            "pe_ratio": round(rng.uniform(8, 45), 1),
        }
    )


async def sentiment(request: web.Request) -> web.Response:
    """``GET /sentiment/{symbol}``: ``{"symbol", "score", "label"}`` — but flaky.

    The first ``sentiment_failures`` requests for each symbol get ``503 Service
    Unavailable``; later ones succeed. A counter rather than a random draw, so that the
    retry in the examples happens on every run, the same way.
    """
    symbol = _symbol(request)
    config = request.app[_CONFIG]
    seen = config.sentiment_requests.get(symbol, 0)
    config.sentiment_requests[symbol] = seen + 1
    if seen < config.sentiment_failures:
        await _delay(request, LATENCY_MS["sentiment_unavailable"])
        return web.json_response(
            {"error": f"sentiment backend overloaded (request {seen + 1} for {symbol})"},
            status=503,
        )
    await _delay(request, LATENCY_MS["sentiment"])
    score = round(random.Random(_seed("sentiment", symbol)).uniform(-1, 1), 2)
    label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
    return web.json_response({"symbol": symbol, "score": score, "label": label})


async def ratings(request: web.Request) -> web.Response:
    """``GET /ratings/{symbol}``: ``{"symbol", "rating", "analysts"}`` — after ~10 s.

    It stands for a backend that hangs, so that an example can show a per-skill timeout
    and its fallback. When the client gives up, the handler is cancelled (see
    ``handler_cancellation`` in :func:`serve_local_api`).
    """
    symbol = _symbol(request)
    await _delay(request, LATENCY_MS["ratings"])
    return web.json_response({"symbol": symbol, "rating": "buy", "analysts": 31})


async def search(request: web.Request) -> web.Response:
    """``GET /search?q=..&engine=NAME``: ``{"url", "title", "score", "engine"}`` hits."""
    query = _required_query(request)
    engine = request.query.get("engine", "web").strip().lower() or "web"
    await _delay(request, engine_latency_ms(engine))
    if engine in UNAVAILABLE_ENGINES:
        return web.json_response({"error": f"search engine {engine!r} is down"}, status=503)
    return web.json_response(search_hits(query, engine))


def create_app(
    *, latency_scale: float | None = None, sentiment_failures: int = 2
) -> web.Application:
    """Build the application (not yet serving: see :func:`serve_local_api`).

    Args:
        latency_scale: Factor for every latency; ``None`` reads ``SKILLSTREAM_LATENCY_SCALE``
            (default 1.0).
        sentiment_failures: 503 answers per symbol before ``/sentiment`` succeeds.

    Raises:
        ValueError: if ``latency_scale`` is negative or not finite, or
            ``sentiment_failures`` is negative.
    """
    scale = latency_scale_from_env() if latency_scale is None else latency_scale
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"latency_scale must be a finite number >= 0, got {scale!r}")
    if sentiment_failures < 0:
        raise ValueError(f"sentiment_failures must be >= 0, got {sentiment_failures!r}")
    app = web.Application()
    app[_CONFIG] = LocalApiConfig(latency_scale=scale, sentiment_failures=sentiment_failures)
    app.router.add_get("/quote/{symbol}", quote)
    app.router.add_get("/news", news)
    app.router.add_get("/financials/{symbol}", financials)
    app.router.add_get("/sentiment/{symbol}", sentiment)
    app.router.add_get("/ratings/{symbol}", ratings)
    app.router.add_get("/search", search)
    return app


@contextlib.asynccontextmanager
async def serve_local_api(
    *, port: int = 0, latency_scale: float | None = None, sentiment_failures: int = 2
) -> AsyncIterator[str]:
    """Serve the local API on ``127.0.0.1`` for the duration of an ``async with`` block.

    Yields the base URL, e.g. ``"http://127.0.0.1:54321"``. On exit the listening socket
    is closed and open connections are shut down before the block returns, so nothing is
    left for the garbage collector to warn about.

    Args:
        port: TCP port; 0 (the default) lets the OS pick a free one, so parallel test
            runs never collide.
        latency_scale: See :func:`create_app`.
        sentiment_failures: See :func:`create_app`.
    """
    app = create_app(latency_scale=latency_scale, sentiment_failures=sentiment_failures)
    runner = web.AppRunner(
        app,
        # A client that gives up (a skill's timeout cancels its request) disconnects: stop
        # the handler too, instead of letting it sleep on for nobody.
        handler_cancellation=True,
        # On shutdown aiohttp waits for in-flight handlers twice (for them to finish, then
        # for them to stop when asked), by default 60 s each. Clients have all left by
        # then in the examples; if one has not, it is cut off within 2 x 0.25 s.
        shutdown_timeout=0.25,
    )
    await runner.setup()
    try:
        # Loopback only: this is a test fixture, never a service for the network.
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host, bound_port = runner.addresses[0][:2]
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()


async def _serve_until_signalled(port: int, latency_scale: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C and SIGTERM both end the block normally, so the server is cleaned up on the
    # way out. (A shell may start background jobs with SIGINT ignored; this works anyway.)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve_local_api(port=port, latency_scale=latency_scale) as base_url:
        print(f"local API on {base_url} — try: curl {base_url}/quote/AAPL (Ctrl-C to stop)")
        await stop.wait()
    print("stopped")


def main() -> None:
    """Serve the local API until Ctrl-C or SIGTERM (for trying endpoints by hand)."""
    parser = argparse.ArgumentParser(description="Serve skillstream's local example API.")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0 = any free port)")
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=None,
        help=f"latency factor (default: ${LATENCY_ENV_VAR} or 1.0)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # show the access log
    asyncio.run(_serve_until_signalled(args.port, args.latency_scale))


if __name__ == "__main__":
    main()
