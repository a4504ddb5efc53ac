"""LangGraph (optional: ``pip install 'skillstream[bench]'``).

Fan-out: a conditional edge from ``START`` returns one ``Send("work", ...)`` per call, to a
single async node whose update goes to an ``Annotated[list, operator.add]`` channel; the cap
is LangGraph's ``max_concurrency`` config. LangGraph has no per-node timeout or isolation (a
node's exception fails the graph). DAG: a ``StateGraph`` with one node per skill and
``add_edge(deps, node)``; LangGraph runs it superstep by superstep.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypedDict

from ..workloads import Dag
from . import BENCH_EXTRA_HINT, Fn, Peer, Work, wire_state_graph


class _FanState(TypedDict):
    results: Annotated[list, operator.add]


class _DagState(TypedDict):
    done: Annotated[list, operator.add]


class LangGraphPeer(Peer):
    key = "langgraph"
    label = "LangGraph"
    note = (
        "Send fan-out to one node with an operator.add reducer, max_concurrency config; "
        "DAG = StateGraph with one node per skill (supersteps)"
    )
    inflight_limit = 2_000  # ~150 µs per call: 10,000 in flight under tracemalloc take minutes

    def missing(self) -> str | None:
        try:
            import langgraph.graph  # noqa: F401
        except ImportError:
            return BENCH_EXTRA_HINT
        return None

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import Send

        items = list(args)

        async def work(inp: dict[str, Any]) -> dict[str, Any]:
            return {"results": [await fn(inp["arg"])]}

        g = StateGraph(_FanState)
        g.add_node("work", work)
        g.add_conditional_edges(START, lambda _s: [Send("work", {"arg": a}) for a in items])
        g.add_edge("work", END)
        app = g.compile()
        config: dict[str, Any] = {"recursion_limit": 10}
        if cap is not None:
            config["max_concurrency"] = cap
        if on_result is None:
            out = await app.ainvoke({"results": []}, config=config)
            return len(out["results"])
        n = 0
        async for chunk in app.astream({"results": []}, config=config, stream_mode="updates"):
            if "work" in chunk:
                n += 1
                on_result()
        return n

    async def dag(self, dag: Dag, work: Work) -> int:
        from langgraph.graph import END, START, StateGraph

        g = StateGraph(_DagState)
        wire_state_graph(g, dag, work, START, END)
        app = g.compile()
        out = await app.ainvoke({"done": []}, config={"recursion_limit": 100})
        return len(out["done"])
