"""Multi-source search: several engines at once, merged into one running top 10.

The usual way concatenates every engine's hits, dedupes them by URL and keeps the ten
best — once, after the slowest engine has answered. Here the same
fold is a ``scan`` over the run: the top list is updated the moment each search finishes,
so an agent could show (or act on) the best hits while slower engines are still working.

The reducer is ``chain_reducers(dedupe_by("url"), top_k(10, key="score"))`` from
``operators``: given a ``SkillResult`` it folds in the result's value (the list of hits) and
skips a result without one, so a failed search changes nothing. Among the hits in
the list the first seen for a URL is the one kept; only the top 10 is remembered, so a URL pushed out of it can come back with a later engine's score.
Run it with::

    python examples/multi_search.py

It starts the local API (``examples/servers/local_api.py``) on 127.0.0.1; engine latencies are
50–400 ms, times ``SKILLSTREAM_LATENCY_SCALE`` (default 1.0).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from operators import chain_reducers, dedupe_by, top_k
from pipeline import SkillCall, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.local_api import serve_local_api  # noqa: E402

QUERY = "parallel skill execution"
# Latencies at scale 1.0: forum 50 ms, offline 89 ms (then 503), web 120 ms,
# news 250 ms, scholar 400 ms.
ENGINES = ["web", "news", "scholar", "forum", "offline"]


@skill(timeout=2.0)
async def search(session: aiohttp.ClientSession, query: str, engine: str) -> list[dict[str, Any]]:
    """One engine's hits for ``query``: ``[{"url", "title", "score", "engine"}, ...]``."""
    async with session.get("/search", params={"q": query, "engine": engine}) as response:
        response.raise_for_status()  # the offline engine's 503 becomes an error result
        hits: list[dict[str, Any]] = await response.json()
        return hits


def show(step: int, elapsed: float, top: list[dict[str, Any]], previous: list[dict[str, Any]]) -> None:
    """Print the running top list after one result."""
    if top == previous:
        print(f"after result {step} ({elapsed:.2f}s): unchanged (a search without hits)")
        return
    print(f"after result {step} ({elapsed:.2f}s): top {len(top)}")
    for rank, hit in enumerate(top, 1):
        print(f"  {rank:2}. {hit['score']:.3f}  {hit['url']:<52} {hit['engine']}")


async def main() -> None:
    async with serve_local_api() as base_url, aiohttp.ClientSession(base_url) as session:
        # One call per engine, each with its own key, so results can be told apart.
        searches: list[SkillCall[Any]] = [
            search(session, QUERY, engine).named(f"search[{engine}]") for engine in ENGINES
        ]
        # Dedupe by URL first (the first hit seen for a URL wins), then keep the 10 best.
        top10 = chain_reducers(dedupe_by("url"), top_k(10, key="score"))

        print(f"Searching {len(ENGINES)} engines for {QUERY!r} on {base_url}")
        start = time.perf_counter()
        previous: list[dict[str, Any]] = []  # the scan's starting value: nothing yet
        step = 0
        # The running aggregate after every result, in completion order (scale 1.0):
        #   -> after result 1 (0.08s): top 8      forum's 8 hits
        #   -> after result 2 (0.11s): unchanged  offline: 503, skipped by the reducers
        #   -> after result 3 (0.15s): top 10     + web: blog/12 (0.933) first; 5 of web's
        #                                         8 URLs were seen already: forum's hits stay
        #   -> after result 4 (0.27s): top 10     + news: hn/4 (0.673), reuters/7 (0.617)
        #   -> after result 5 (0.43s): top 10     + scholar: reuters/0 (0.750), arxiv/3, docs/13
        # Only the top 10 is carried from one result to the next: forum's reuters/0 (0.121)
        # dropped out at result 4, so scholar's reuters/0 (0.750) is new at result 5.
        async for top in run(searches, max_concurrency=5, timeout=10).scan(top10, previous):
            step += 1
            show(step, time.perf_counter() - start, top, previous)
            previous = top

        # The final list: at most 10 hits, no URL twice, best score first.
        #   -> final: 10 unique URLs, best 0.933 (https://blog.example/parallel-skill-execution/12)
        urls = [hit["url"] for hit in previous]
        assert len(urls) == len(set(urls)) <= 10
        print(f"\nfinal: {len(urls)} unique URLs, best {previous[0]['score']:.3f} ({previous[0]['url']})")


if __name__ == "__main__":
    asyncio.run(main())
