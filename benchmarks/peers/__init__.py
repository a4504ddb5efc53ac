"""The implementations compared by the benchmarks: skillstream and its peers.

Each peer is an object with the same two coroutines, so every workload drives every peer
the same way:

* ``map(fn, args, cap, timeout, on_result=None) -> int``: run ``fn(a)`` for every ``a``
  of ``args`` (a list, or a generator to be pulled lazily where the peer can), at most
  ``cap`` at once (``None``: no bound), each bounded by ``timeout`` seconds where the peer
  has per-call timeouts; call ``on_result()`` as each result arrives; return how many
  calls succeeded. The consumer counts results and drops them (it keeps none), so memory
  figures measure the runner, not the consumer.
* ``dag(dag, work) -> int``: run every node of ``dag`` (``await work(node, *dep_values)``),
  each node after its dependencies; return how many nodes succeeded.

A peer that cannot do something raises :class:`NotApplicable` with the reason; a peer whose
optional package is missing reports it through :meth:`Peer.missing`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..workloads import Dag, Node

BENCH_EXTRA_HINT = "n/a (pip install 'skillstream[bench]')"

Fn = Callable[[Any], Awaitable[Any]]
Work = Callable[..., Awaitable[Any]]


class NotApplicable(Exception):
    """This peer has no way to express this workload (the message says why)."""


class Peer:
    key: str = ""
    label: str = ""
    #: what the peer's figures stand for, printed under the table
    note: str = ""
    #: most calls this peer holds in flight in the memory workload (None: the workload's size)
    inflight_limit: int | None = None
    #: largest lazy-source size the peak-RSS workload runs, and why (None: every size)
    rss_limit: tuple[int, str] | None = None

    def missing(self) -> str | None:
        """Why this peer cannot run here (a missing optional package), or None."""
        return None

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        raise NotApplicable("not supported")

    async def dag(self, dag: Dag, work: Work) -> int:
        raise NotApplicable("no dependency-graph primitive")


def wire_state_graph(graph: Any, dag: Dag, work: Work, start: Any, end: Any) -> None:
    """Add the DAG's nodes and edges to a LangGraph-shaped ``StateGraph`` (LangGraph's or
    skillstream's: the builder calls are the same), each node doing ``work`` and appending
    its id to the state's ``done`` reducer field."""

    def make(node: Node) -> Callable[[dict[str, Any]], Any]:
        async def step(state: dict[str, Any]) -> dict[str, Any]:
            await work(node)  # dependency values live in the state, not in arguments
            return {"done": [node.id]}

        step.__name__ = node.name
        return step

    for node in dag.nodes:
        graph.add_node(node.name, make(node))
    by_id = {n.id: n for n in dag.nodes}
    for node in dag.nodes:
        if not node.deps:
            graph.add_edge(start, node.name)
        elif len(node.deps) == 1:
            graph.add_edge(by_id[node.deps[0]].name, node.name)
        else:
            graph.add_edge([by_id[d].name for d in node.deps], node.name)
    for sink in dag.sinks:
        graph.add_edge(sink.name, end)


def all_peers() -> list[Peer]:
    """Every implementation, skillstream first, in the table's order."""
    from .aiostream_peer import AiostreamPeer
    from .asyncio_features import AsyncioFeaturesPeer
    from .asyncio_gather import AsyncioGatherPeer
    from .asyncio_taskgroup import AsyncioTaskGroupPeer
    from .asyncio_workers import AsyncioWorkersNoTimeoutPeer, AsyncioWorkersPeer
    from .asyncio_workers_objects import AsyncioWorkersObjectsPeer
    from .langgraph_peer import LangGraphPeer
    from .reactivex_peer import ReactivexPeer
    from .skillstream_peer import SkillstreamGraphPeer, SkillstreamPeer

    return [
        SkillstreamPeer(),
        SkillstreamGraphPeer(),
        AsyncioGatherPeer(),
        AsyncioFeaturesPeer(),
        AsyncioTaskGroupPeer(timeouts=True),
        AsyncioTaskGroupPeer(timeouts=False),
        AsyncioWorkersPeer(),
        AsyncioWorkersNoTimeoutPeer(),
        AsyncioWorkersObjectsPeer(),
        AiostreamPeer(),
        ReactivexPeer(),
        LangGraphPeer(),
    ]


__all__ = ["BENCH_EXTRA_HINT", "Dag", "Fn", "Node", "NotApplicable", "Peer", "Work", "all_peers"]
