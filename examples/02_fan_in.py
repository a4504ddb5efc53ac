"""Fan-in: three ways to bring many results back together. No server needed.

Four search engines answer the same query at different speeds, and one of them is down.

1. ``collect()``: wait for every result, then look them up (submission order, by key).
2. ``gather(...)``: the values in argument order, typed, or a ``SkillError`` if one failed.
3. ``scan(reducer, start)``: a running aggregate, updated the moment each result lands;
   ``reduce`` is the same fold, giving only the final value.

    python examples/02_fan_in.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from operators import chain_reducers, dedupe_by, top_k
from pipeline import SkillCall, SkillError, gather, run, skill

# Each engine's latency and hits (url, score); two engines find docs.example/skills.
LATENCY = {"web": 0.12, "news": 0.25, "forum": 0.05, "down": 0.08}
HITS = {
    "web": [("docs.example/skills", 0.92), ("blog.example/fan-in", 0.64)],
    "news": [("news.example/agents", 0.81), ("docs.example/skills", 0.92)],
    "forum": [("forum.example/q/42", 0.55), ("blog.example/fan-in", 0.64)],
}


@skill(timeout=2)
async def search(query: str, engine: str) -> list[dict[str, Any]]:
    await asyncio.sleep(LATENCY[engine])
    if engine == "down":
        raise ConnectionError("search engine 'down' answered 503")
    return [{"url": url, "score": score, "engine": engine} for url, score in HITS[engine]]


def searches() -> list[SkillCall[list[dict[str, Any]]]]:
    return [search("skills", engine).named(engine) for engine in LATENCY]


async def main() -> None:
    # 1. collect(): one Results, in submission order, whatever order the calls ended in.
    results = await run(searches()).collect()
    print("1. collect()")
    print(f"   keys in order: {[r.key for r in results]}")
    print(f"   finished in order: {[r.key for r in sorted(results, key=lambda r: r.finished_at or 0)]}")
    print(f"   results['web'].value[0] = {results['web'].value[0]}")
    print(f"   as_dict() keys: {sorted(results.as_dict())}   (the failed one has no value)")
    print(f"   values(): {len(results.values())} lists of hits, in submission order")
    print(f"   errors: {[(r.key, r.error.type if r.error else '') for r in results.errors]}, ok={results.ok}")

    # 2. gather(): like asyncio.gather, but each call keeps its own timeout and retries.
    web, news = await gather(search("skills", "web"), search("skills", "news"))
    print(f"\n2. gather(): web {len(web)} hits, news {len(news)} hits")
    try:
        await gather(search("skills", "web"), search("skills", "down"))
    except SkillError as exc:  # raised once the others have ended, naming the call
        print(f"   with the engine that is down: SkillError: {exc}")

    # 3. scan(): the top 3 unique URLs so far, after each result (forum, down, web, news).
    #    The reducers come from operators: they fold in a result's value and skip a result
    #    without one, so the engine that is down changes nothing.
    top3 = chain_reducers(dedupe_by("url"), top_k(3, key="score"))
    print("\n3. scan(): the running top 3")
    start: list[dict[str, Any]] = []
    step = 0
    async for top in run(searches()).scan(top3, start):
        step += 1
        print(f"   after result {step}: " + ", ".join(f"{hit['url']} {hit['score']}" for hit in top))
    final = await run(searches()).reduce(top3, start)
    print(f"   reduce(): {[hit['url'] for hit in final]}")


if __name__ == "__main__":
    asyncio.run(main())
