"""An agent's tool plan, executed as a dependency graph: each call starts when its inputs exist.

A planner (an LLM, in real life) answers with a list of tool calls whose arguments refer
to earlier calls' results by ``"$id"``. Executed level by level (every call of level n
waits for the slowest call of level n-1), a slow lookup holds back unrelated work.
skillstream turns the plan into nested SkillCalls and runs it start-when-ready: a call
starts the moment its own inputs have values. The script prints when each call started
and ended, then the makespan against the critical path (the longest chain of measured
durations, the best any scheduler can do) and against level-by-level execution.

Run it with::

    python examples/plan_dag.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from pipeline import Results, SkillCall, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.local_api import serve_local_api  # noqa: E402

# The plan, as a planner would emit it: ids, tools, and arguments that may refer to
# earlier results as "$id".
PLAN: list[dict[str, Any]] = [
    {"id": "rewrite", "tool": "rewrite_query", "args": {"question": "Is Apple a buy after the CFO change?"}},
    {"id": "web", "tool": "search", "args": {"query": "$rewrite", "engine": "web"}},
    {"id": "news_search", "tool": "search", "args": {"query": "$rewrite", "engine": "news"}},
    {"id": "scholar", "tool": "search", "args": {"query": "$rewrite", "engine": "scholar"}},
    {"id": "quote", "tool": "fetch_quote", "args": {"symbol": "AAPL"}},
    {"id": "financials", "tool": "fetch_financials", "args": {"symbol": "AAPL"}},
    {"id": "ranked", "tool": "rank", "args": {"hit_lists": ["$web", "$news_search", "$scholar"]}},
    {"id": "valuation", "tool": "valuation", "args": {"quote": "$quote", "financials": "$financials"}},
    {"id": "answer", "tool": "write_answer", "args": {"sources": "$ranked", "valuation": "$valuation"}},
]


def make_tools(session: aiohttp.ClientSession) -> dict[str, Any]:
    """The tools the planner may call, as skills over the local API."""

    async def get(path: str, **params: Any) -> Any:
        async with session.get(path, params=params) as response:
            response.raise_for_status()
            return await response.json()

    @skill(timeout=5)
    async def rewrite_query(question: str) -> str:
        await asyncio.sleep(0.05)  # a small model call
        return question.lower().replace("?", "").replace("is apple a buy after", "apple")

    @skill(timeout=5)
    async def search(query: str, engine: str) -> list[dict[str, Any]]:
        return await get("/search", q=query, engine=engine)  # type: ignore[no-any-return]

    @skill(timeout=5)
    async def fetch_quote(symbol: str) -> dict[str, Any]:
        return await get(f"/quote/{symbol}")  # type: ignore[no-any-return]

    @skill(timeout=5)
    async def fetch_financials(symbol: str) -> dict[str, Any]:
        return await get(f"/financials/{symbol}")  # type: ignore[no-any-return]

    @skill
    def rank(hit_lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        best: dict[str, dict[str, Any]] = {}
        for hit in (h for hits in hit_lists for h in hits):
            if hit["url"] not in best or hit["score"] > best[hit["url"]]["score"]:
                best[hit["url"]] = hit
        return sorted(best.values(), key=lambda h: h["score"], reverse=True)[:5]

    @skill
    def valuation(quote: dict[str, Any], financials: dict[str, Any]) -> str:
        return f"{quote['symbol']} at {quote['price']} {quote['currency']}, P/E {financials['pe_ratio']}"

    @skill(timeout=5)
    async def write_answer(sources: list[dict[str, Any]], valuation: str) -> str:
        await asyncio.sleep(0.1)  # the final model call
        return f"{valuation}; top source: {sources[0]['url']}"

    return {f.name: f for f in (rewrite_query, search, fetch_quote, fetch_financials, rank, valuation, write_answer)}


def build(plan: list[dict[str, Any]], tools: dict[str, Any]) -> dict[str, SkillCall[Any]]:
    """Plan steps -> SkillCalls; a "$id" argument becomes that step's call (a dependency)."""
    calls: dict[str, SkillCall[Any]] = {}

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in calls:
                raise ValueError(f"plan refers to {value} before defining it")
            return calls[value[1:]]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    for step in plan:
        if step["tool"] not in tools:
            raise ValueError(f"plan step {step['id']!r} asks for unknown tool {step['tool']!r}")
        args = resolve(step["args"])
        calls[step["id"]] = tools[step["tool"]](**args).named(step["id"])
    return calls


def dependencies(plan: list[dict[str, Any]]) -> dict[str, list[str]]:
    def refs(value: Any) -> list[str]:
        if isinstance(value, str) and value.startswith("$"):
            return [value[1:]]
        if isinstance(value, list):
            return [r for v in value for r in refs(v)]
        if isinstance(value, dict):
            return [r for v in value.values() for r in refs(v)]
        return []

    return {step["id"]: refs(step["args"]) for step in plan}


def critical_path(deps: dict[str, list[str]], duration: dict[str, float]) -> tuple[float, list[str]]:
    """The longest chain of durations through the plan (plan order is topological)."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for node, parents in deps.items():
        before = max(parents, key=lambda p: finish[p], default=None)
        finish[node] = (finish[before] if before else 0.0) + duration[node]
        via[node] = before
    end = max(finish, key=lambda n: finish[n])
    chain: list[str] = []
    node_or_none: str | None = end
    while node_or_none is not None:
        chain.append(node_or_none)
        node_or_none = via[node_or_none]
    return finish[end], chain[::-1]


def level_by_level(deps: dict[str, list[str]], duration: dict[str, float]) -> float:
    """What a superstep scheduler would take: each level waits for the previous one."""
    level: dict[str, int] = {}
    for node, parents in deps.items():
        level[node] = 1 + max((level[p] for p in parents), default=-1)
    return sum(
        max(duration[n] for n in level if level[n] == lv) for lv in range(max(level.values()) + 1)
    )


def gantt(results: Results, width: int = 48) -> str:
    end = max(r.finished_at or 0.0 for r in results) or 1.0
    lines = []
    for r in sorted(results, key=lambda r: (r.started_at or 0.0, r.index)):
        start, stop = r.started_at or 0.0, r.finished_at or 0.0
        a, b = round(start / end * width), max(round(stop / end * width), round(start / end * width) + 1)
        bar = " " * a + "█" * (b - a)
        lines.append(f"  {r.key:<11} {start:5.2f}s → {stop:5.2f}s  |{bar:<{width}}| {r.status}")
    return "\n".join(lines)


async def main() -> None:
    async with serve_local_api() as base_url, aiohttp.ClientSession(base_url) as session:
        calls = build(PLAN, make_tools(session))
        # Running the last step runs the whole plan: every call it needs, each once.
        started = time.perf_counter()
        results = await run(calls["answer"], max_concurrency=5, timeout=30).collect()
        makespan = time.perf_counter() - started

    print(f"Plan of {len(PLAN)} tool calls, run start-when-ready (cap 5):\n")
    print(gantt(results))
    print(f"\nanswer: {results['answer'].value}")

    duration = {r.key: r.duration or 0.0 for r in results}
    deps = dependencies(PLAN)
    path_length, path = critical_path(deps, duration)
    levels = level_by_level(deps, duration)
    print(f"\ncritical path: {' → '.join(path)} = {path_length:.2f}s")
    print(f"makespan:      {makespan:.2f}s  ({makespan / path_length:.2f}x the critical path)")
    print(f"level by level would take {levels:.2f}s ({levels / path_length:.2f}x); sequential {sum(duration.values()):.2f}s")
    # The makespan tracks the critical path: the three searches start the moment rewrite
    # lands (0.05 s), not when financials, the slowest call of the first level, does;
    # level by level they would wait for it.


if __name__ == "__main__":
    asyncio.run(main())
