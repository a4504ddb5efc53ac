"""skillstream itself: ``@skill`` + ``run(calls, max_concurrency=cap)``; DAGs as nested calls.

Written against the public contract only (``from pipeline import skill, run``), exactly as
an application would use it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sized
from typing import Annotated, Any, TypedDict

from ..workloads import Dag
from . import Fn, NotApplicable, Peer, Work, wire_state_graph


def _pipeline_missing(*names: str) -> str | None:
    try:
        import pipeline
    except ImportError as e:
        return f"n/a (pipeline not importable: {e})"
    absent = [n for n in names if not hasattr(pipeline, n)]
    if absent:
        return f"n/a (pipeline has no {', '.join(absent)} yet)"
    return None


def skill_calls(fn: Fn, args: Iterable[Any], timeout: float | None) -> Iterable[Any]:
    """``fn`` as a skill with ``timeout``, called once per argument, as an application
    would: a list for a list, a generator (pulled lazily) for anything unsized."""
    from pipeline import skill

    sk = skill(timeout=timeout)(fn) if timeout is not None else skill(fn)
    if isinstance(args, Sized):
        return [sk(a) for a in args]
    return (sk(a) for a in args)


class SkillstreamPeer(Peer):
    key = "skillstream"
    label = "**skillstream**"
    note = ("@skill(timeout=...) + run(calls, max_concurrency=cap), each result counted as it arrives; "
            "DAG = nested SkillCalls, run(sinks)")

    def missing(self) -> str | None:
        return _pipeline_missing("skill", "run")

    async def map(
        self,
        fn: Fn,
        args: Iterable[Any],
        cap: int | None,
        timeout: float | None,
        on_result: Callable[[], None] | None = None,
    ) -> int:
        from pipeline import run

        calls = skill_calls(fn, args, timeout)
        ok = 0
        async for r in run(calls, max_concurrency=cap):
            if r.ok:
                ok += 1
            if on_result is not None:
                on_result()
        return ok

    async def dag(self, dag: Dag, work: Work) -> int:
        from pipeline import run, skill

        by_id = {n.id: n for n in dag.nodes}

        @skill(timeout=60.0)
        async def step(node_id: int, *deps: Any) -> Any:
            return await work(by_id[node_id], *deps)

        calls: dict[int, Any] = {}
        for node in dag.nodes:  # topological order
            calls[node.id] = step(node.id, *[calls[d] for d in node.deps]).named(node.name)
        ok = 0
        async for r in run([calls[s.id] for s in dag.sinks], max_concurrency=100):
            if r.ok:
                ok += 1
        return ok


class _DagState(TypedDict):
    done: Annotated[list, operator.add]


def _graph_api() -> tuple[Any, Any, Any]:
    from pipeline import END, START, StateGraph

    return StateGraph, START, END


class SkillstreamGraphPeer(Peer):
    key = "skillstream_stategraph"
    label = "**skillstream StateGraph**"
    note = "pipeline.StateGraph with one node per skill and add_edge(deps, node) (DAG only)"

    def missing(self) -> str | None:
        return _pipeline_missing("StateGraph")

    async def map(self, fn: Fn, args: Iterable[Any], cap: int | None, timeout: float | None,
                  on_result: Callable[[], None] | None = None) -> int:
        raise NotApplicable("n/a (graph API: DAG workload only)")

    async def dag(self, dag: Dag, work: Work) -> int:
        StateGraph, START, END = _graph_api()
        g = StateGraph(_DagState)
        wire_state_graph(g, dag, work, START, END)
        app = g.compile(max_concurrency=100)
        out = await app.ainvoke({"done": []})
        return len(out["done"])
