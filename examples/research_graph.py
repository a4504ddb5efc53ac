"""A LangGraph-style research graph, on skillstream's StateGraph.

A research graph as one would build it with LangGraph's ``StateGraph(ResearchState)``:
START fans out to three lookups (stock, news, financials) and a ``merge_and_summarize``
node fans them in. The same builder calls here fetch over HTTP from the local API
(``examples/servers/local_api.py``, started by this script on 127.0.0.1). What changes:

- each node carries its own timeout (and news a fallback), because a node is a skill;
- ``astream`` prints each node's update the moment it finishes: quote first (~120 ms),
  then news (~300 ms), then financials (~450 ms), then the summary;
- summarize starts when its last predecessor ends, not at a superstep boundary.

Run it with::

    python examples/research_graph.py

``SKILLSTREAM_LATENCY_SCALE=0.2`` makes the API five times faster (the tests use it).
"""

from __future__ import annotations

import asyncio
import operator
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import aiohttp

from pipeline import END, START, CompiledStateGraph, StateGraph

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.local_api import LATENCY_MS, latency_scale_from_env, serve_local_api  # noqa: E402

SYMBOL = "AAPL"


class ResearchState(TypedDict, total=False):
    """The research state, plus ``sources``: a reducer field every lookup appends to."""

    query: str
    stock_data: dict[str, Any]
    news_data: list[dict[str, Any]]
    financial_data: dict[str, Any]
    briefing: str
    sources: Annotated[list[str], operator.add]  # folded with +, not overwritten


async def _get_json(session: aiohttp.ClientSession, path: str, **params: Any) -> Any:
    async with session.get(path, params=params) as response:
        response.raise_for_status()
        return await response.json()


def build_graph(session: aiohttp.ClientSession) -> CompiledStateGraph[ResearchState]:
    """The graph: the nodes close over one shared HTTP session."""

    async def fetch_stock_node(state: ResearchState) -> dict[str, Any]:
        """Fetch the stock price -- runs in parallel."""
        quote = await _get_json(session, f"/quote/{state['query']}")
        return {"stock_data": quote, "sources": ["quote"]}

    async def fetch_news_node(state: ResearchState) -> dict[str, Any]:
        """Fetch news -- runs in parallel."""
        articles = await _get_json(session, "/news", q=state["query"], limit=5)
        return {"news_data": articles, "sources": ["news"]}

    async def fetch_financials_node(state: ResearchState) -> dict[str, Any]:
        """Fetch financials -- runs in parallel."""
        figures = await _get_json(session, f"/financials/{state['query']}")
        return {"financial_data": figures, "sources": ["financials"]}

    def merge_and_summarize(state: ResearchState) -> dict[str, Any]:
        """Fan-in: every lookup's update is in the state. (An LLM would write it.)"""
        quote, fin = state["stock_data"], state["financial_data"]
        headlines = "; ".join(a["title"] for a in state["news_data"][:3]) or "no news"
        briefing = "\n".join(
            [
                f"Briefing for {quote['symbol']}, from {', '.join(state['sources'])}:",
                f"  price {quote['price']:.2f} {quote['currency']} ({quote['change_pct']:+.2f}% today)",
                f"  FY{fin['fiscal_year']}: revenue {fin['revenue_bn']}bn, "
                f"net income {fin['net_income_bn']}bn, P/E {fin['pe_ratio']}",
                f"  headlines: {headlines}",
            ]
        )
        return {"briefing": briefing}

    # Build the graph with fan-out / fan-in: LangGraph's calls, plus per-node options.
    graph = StateGraph(ResearchState)
    graph.add_node("stock", fetch_stock_node, timeout=2.0)
    graph.add_node("news", fetch_news_node, timeout=2.0, fallback={"news_data": []})
    graph.add_node("financials", fetch_financials_node, timeout=2.0)
    graph.add_node("summarize", merge_and_summarize)  # sync: runs in a thread

    # Fan-out: START feeds three parallel nodes.
    graph.add_edge(START, "stock")
    graph.add_edge(START, "news")
    graph.add_edge(START, "financials")

    # Fan-in: all three feed into summarize.
    graph.add_edge(["stock", "news", "financials"], "summarize")
    graph.add_edge("summarize", END)

    # At most 5 node runs at once; the whole invocation gets 10 s.
    return graph.compile(max_concurrency=5, timeout=10)


def describe(node: str, update: dict[str, Any] | None) -> str:
    """One short line per update."""
    if not update:
        return "(no update)"
    if "stock_data" in update:
        q = update["stock_data"]
        return f"{q['symbol']} {q['price']:.2f} {q['currency']}"
    if "news_data" in update:
        return f"{len(update['news_data'])} articles"
    if "financial_data" in update:
        return f"FY{update['financial_data']['fiscal_year']} P/E {update['financial_data']['pe_ratio']}"
    return f"briefing of {len(update.get('briefing', ''))} characters"


async def main() -> None:
    async with serve_local_api() as base_url, aiohttp.ClientSession(base_url) as session:
        app = build_graph(session)
        print(f"Research graph on {SYMBOL} against {base_url}; updates as they finish:")

        # 1. Each node's update the moment it finishes (completion order). At scale 1.0:
        #    -> + stock       at  0.12 s  AAPL 63.38 USD
        #    -> + news        at  0.30 s  5 articles
        #    -> + financials  at  0.45 s  FY2023 P/E 28.2
        #    -> + summarize   at  0.46 s  briefing of 203 characters
        start = time.perf_counter()
        briefing = ""
        async for update in app.astream({"query": SYMBOL}):
            for node, value in update.items():
                print(f"+ {node:<11} at {time.perf_counter() - start:5.2f} s  {describe(node, value)}")
                if value and "briefing" in value:
                    briefing = value["briefing"]
        wall = time.perf_counter() - start

        # 2. The final briefing (the summarize node's update).
        #    -> Briefing for AAPL, from financials, news, quote:  (LangGraph's fold order)
        #         price 63.38 USD (+2.71% today)
        #         FY2023: revenue 155.4bn, net income 17.4bn, P/E 28.2
        #         headlines: AAPL hires new CFO; AAPL cuts costs; AAPL faces probe
        print("\n" + briefing)

        # 3. Wall time: the slowest lookup plus the summary, not the sum of the lookups.
        #    -> wall time 0.46 s (the three lookups one after another: about 0.87 s)
        scale = latency_scale_from_env()
        sequential = sum(LATENCY_MS[k] for k in ("quote", "news", "financials")) * scale / 1000
        print(f"\nwall time {wall:.3f} s (the three lookups one after another: about {sequential:.2f} s)")


if __name__ == "__main__":
    asyncio.run(main())
