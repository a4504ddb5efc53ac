"""Rate-limited APIs: many calls to a strict API, with and without a RateLimit.

Starts a real nginx on 127.0.0.1 that allows 50 requests per second in all and answers
429 beyond that (nginx must be installed: ``apt-get install nginx-light``), then fetches
from it 200 times in parallel, twice: first with no limit (most calls are rejected),
then with ``RateLimit(rate=50, key="strict-api")`` shared by two skills and two runs at
once (none is rejected, and the wall time is the rate's bound). Run it with::

    python examples/rate_limited.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from pipeline import RateLimit, Results, RetryAfter, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.nginx_api import NginxAPI  # noqa: E402

RATE = 50
CALLS = 200
STRICT_API = RateLimit(rate=RATE, key="strict-api")  # one limit for every skill of that API


def skills(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async def get(i: int) -> int:
        async with session.get(url) as response:
            RetryAfter.check(response)  # a 429 or 503 becomes RetryAfter (with its header)
            response.raise_for_status()
            return i

    return {
        "unlimited": skill(get, name="get_unlimited"),
        "search": skill(get, name="search", rate_limit=STRICT_API),
        "lookup": skill(get, name="lookup", rate_limit=STRICT_API),
    }


def tally(results: Results) -> str:
    counts = Counter("ok" if r.ok else f"{r.error.type if r.error else r.status.value}" for r in results)
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))


async def main() -> None:
    with NginxAPI(rate=RATE) as api:
        async with aiohttp.ClientSession() as session:
            s = skills(session, api.url)

            start = time.monotonic()
            results = await run([s["unlimited"](i) for i in range(CALLS)], max_concurrency=None).collect()
            print(f"no limit:   {tally(results)} in {time.monotonic() - start:.2f} s")

            await asyncio.sleep(1.0)  # let nginx's bucket drain
            start = time.monotonic()
            half = CALLS // 2
            first, second = await asyncio.gather(
                run([s["search"](i) for i in range(half)], max_concurrency=None).collect(),
                run([s["lookup"](i) for i in range(half)], max_concurrency=None).collect(),
            )
            elapsed = time.monotonic() - start
            both = Results(list(first) + list(second))
            bound = (CALLS - 1) / RATE
            print(f"RateLimit:  {tally(both)} in {elapsed:.2f} s (the rate allows {bound:.2f} s at best)")


if __name__ == "__main__":
    asyncio.run(main())
