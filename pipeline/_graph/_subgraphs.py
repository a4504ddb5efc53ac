"""Subgraphs: a compiled graph run as a node of another, or invoked inside a node.

As in LangGraph, a compiled graph is a node like any other (``add_node("sub", app)``):
the parent's state is its input (it keeps the keys its input schema has), and its output
(the keys of its output schema) is the node's update, folded by the parent's reducers
(keys the parent does not have are dropped). A graph invoked inside a node's function
(``await sub.ainvoke(...)``, or ``sub.invoke(...)`` from a sync node) runs the same way.

*Streaming.* Each node run's stream writer is, when something may be streamed from
inside it, a :class:`NodeLink`: it names the run (``"node:<task id>"``, LangGraph's
namespace element) and the invocation it belongs to. A graph invoked inside that run
finds the link (the writer is the node run's context) and passes its chunks up: every
chunk its ancestors want (their modes, when they stream with ``subgraphs=True``; without
it, as in LangGraph, nothing of a subgraph is streamed, "custom" chunks included). Each
invocation keeps, beside its own modes,
what it passes up; a chunk reaches the parent on the parent's loop (hopping from a sync
node's thread, in the order written) and is dropped once the node run it came from has
ended. A graph that streams nothing pays one ``None`` check per chunk.

The element is the run's ``checkpoint_ns`` as LangGraph gives it: a graph run inside the
run gives its own node runs ``"<parent's checkpoint_ns>|node:<task id>"``, so its chat
models' ``langgraph_checkpoint_ns`` is nested as in LangGraph, and its "messages", "tasks"
and "debug" chunks go up like the others (its messages handler shares the top one's set of
messages seen, so a message a subgraph streamed is not streamed again as its node's output).

*Interrupts.* A graph without a checkpointer run inside a node run shares that run's
count of ``interrupt()`` calls and its resume answers; when it pauses, its invocation
raises to the node, which then pauses the parent (whose checkpointer keeps the thread). A
resume runs the node again, and so the subgraph from its start, each ``interrupt()``
getting its answer in the order they were asked.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .._executors._local import with_loop_open

if TYPE_CHECKING:
    from ._builder import CompiledStateGraph
    from ._invocation import _Invocation


class NodeLink:
    """A node run's stream writer that links the graphs invoked inside the run to it."""

    __slots__ = ("element", "invocation", "key", "runs", "write")

    def __init__(self, invocation: _Invocation, key: str, element: str, write: Any) -> None:
        self.invocation = invocation
        self.key = key
        # LangGraph's namespace element, the last part of the run's checkpoint_ns: the
        # node's name and its task's id ("node:<task id>").
        self.element = element
        self.write = write
        self.runs = 0  # graphs invoked inside the run so far

    def enter(self) -> tuple[str, ...]:
        """A graph starts inside the run: its namespace below the run's element. As
        LangGraph numbers them: nothing for the first, then ``"1"``, ``"2"``, ..."""
        count = self.runs
        self.runs += 1
        return (str(count),) if count else ()

    def __call__(self, chunk: Any) -> None:
        self.write(chunk)

    def up(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        """A chunk of a graph run inside this node run, ``ns`` below it: to the parent, on
        its loop."""
        parent = self.invocation
        ns = (self.element, *ns)
        if threading.get_ident() == parent.loop_thread:
            parent._from_child(self.key, ns, mode, chunk)
        else:  # a sync node's thread (its graph runs on a loop of its own there)
            with_loop_open(parent.loop, parent._from_child, self.key, ns, mode, chunk)


def passed_up(link: Any) -> frozenset[str]:
    """The modes whose chunks an invocation run inside ``link``'s node run passes up."""
    if isinstance(link, NodeLink):
        return link.invocation.wanted
    return frozenset()


def wanted(own: tuple[str, ...], subgraphs: bool, up: frozenset[str]) -> frozenset[str]:
    """The modes an invocation takes from the graphs run inside its nodes: its own, with
    ``subgraphs=True``, and whatever it passes up."""
    return (frozenset(own) if subgraphs else frozenset()) | up


def as_input(state: Any) -> Any:
    """The parent's state as a subgraph's input: a dict (a pydantic or dataclass view's
    fields; the subgraph keeps those its input schema has)."""
    if isinstance(state, BaseModel):
        return {k: getattr(state, k) for k in type(state).model_fields}
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    return state


def child_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A node run's config as its subgraph's: the caller's config, without what the
    parent's node run was told of itself (LangGraph's ``langgraph_*`` metadata)."""
    given = dict(config)
    metadata = {k: v for k, v in (given.get("metadata") or {}).items() if not str(k).startswith("langgraph_")}
    if metadata:
        given["metadata"] = metadata
    else:
        given.pop("metadata", None)
    return given


def as_node(graph: CompiledStateGraph[Any]) -> Any:
    """A compiled graph as a node's function: the state in, its output as the update.

    A graph compiled with a checkpointer of its own runs without it here: the parent's
    thread keeps the state, as a LangGraph subgraph inherits its parent's checkpointer
    (with its own, its checkpoints would land in the parent's thread)."""
    if graph.checkpointer is not None:
        graph = copy.copy(graph)
        graph.checkpointer = None

    async def subgraph(state: Any, config: dict[str, Any]) -> Any:
        return await graph.ainvoke(as_input(state), child_config(config))

    subgraph.__name__ = subgraph.__qualname__ = getattr(graph, "name", "subgraph")
    subgraph._skillstream_subgraph = graph  # type: ignore[attr-defined]  # for get_graph(xray=...)
    return subgraph
