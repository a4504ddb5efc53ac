"""StateGraph: a LangGraph-style graph whose nodes are skills. No server needed.

The builder calls are LangGraph's (``add_node``, ``add_edge``, ``add_conditional_edges``,
``compile``, ``ainvoke``, ``astream``); what changes is how it runs:

- each node can carry a timeout, a retry and a fallback, because a node is a skill;
- a node starts when its own predecessors have ended, not at a superstep boundary;
- ``astream`` gives each node's update the moment that node ends.

START fans out to three lookups; ``summarize`` fans them in; a router after the quote
sends a falling stock to a ``deep_dive`` first.

    python examples/07_state_graph.py
"""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any, Literal, TypedDict

from pipeline import END, START, CompiledStateGraph, StateGraph

QUOTES = {"AAPL": 1.2, "NVDA": -3.4}  # today's change, in percent


class State(TypedDict, total=False):
    symbol: str
    change_pct: float
    news: list[str]
    pe: float
    notes: str
    summary: str
    sources: Annotated[list[str], operator.add]  # a reducer field: updates are added up


async def quote(state: State) -> dict[str, Any]:
    await asyncio.sleep(0.1)
    return {"change_pct": QUOTES[state["symbol"]], "sources": ["quote"]}


async def news(state: State) -> dict[str, Any]:
    await asyncio.sleep(5)  # a hung news API: its timeout cuts it, its fallback stands in
    return {"news": ["never"], "sources": ["news"]}


async def financials(state: State) -> dict[str, Any]:
    await asyncio.sleep(0.3)
    return {"pe": 28.2, "sources": ["financials"]}


async def deep_dive(state: State) -> dict[str, Any]:
    await asyncio.sleep(0.1)
    return {"notes": "falling on export rules", "sources": ["deep_dive"]}


def summarize(state: State) -> dict[str, Any]:  # a sync node: runs in a thread
    notes = f", {state['notes']}" if "notes" in state else ""
    return {"summary": f"{state['symbol']} {state['change_pct']:+}% P/E {state['pe']}, "
                       f"{len(state['news'])} headlines{notes} (from {', '.join(sorted(state['sources']))})"}


def route(state: State) -> Literal["deep_dive", "summarize"]:
    return "deep_dive" if state["change_pct"] < -2 else "summarize"


def build() -> CompiledStateGraph[State]:
    graph = StateGraph(State)
    graph.add_node("quote", quote, timeout=2.0)
    graph.add_node("news", news, timeout=0.2, fallback={"news": [], "sources": ["news (fallback)"]})
    graph.add_node("financials", financials, timeout=2.0)
    graph.add_node("deep_dive", deep_dive)
    graph.add_node("summarize", summarize)
    for lookup in ("quote", "news", "financials"):
        graph.add_edge(START, lookup)  # fan-out
    graph.add_edge(["news", "financials"], "summarize")  # fan-in (with the router's choice)
    graph.add_conditional_edges("quote", route)
    graph.add_edge("deep_dive", "summarize")
    graph.add_edge("summarize", END)
    return graph.compile(max_concurrency=5, timeout=10)


async def main() -> None:
    app = build()
    # 1. astream: each node's update as it ends (quote 0.1 s, news 0.2 s, financials 0.3 s).
    print("1. AAPL, updates as they finish:")
    start = time.perf_counter()
    summary = ""
    async for update in app.astream({"symbol": "AAPL"}):
        for node, value in update.items():
            print(f"   {time.perf_counter() - start:.2f}s  {node:<10} {sorted(value or {})}")
            summary = (value or {}).get("summary", summary)
    print(f"   {summary}")
    # 2. ainvoke: the final state. NVDA fell: the router adds the deep dive.
    final = await app.ainvoke({"symbol": "NVDA"})
    print(f"2. NVDA: {final['summary']}")


if __name__ == "__main__":
    asyncio.run(main())
