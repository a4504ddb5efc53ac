"""StateGraph: LangGraph's state-graph API, run start-when-ready on the skillstream engine.

This describes the default schedule, ``compile(schedule="ready")``; ``"supersteps"``
(LangGraph's own model) is described in ``_supersteps.py`` and shares everything but
when a triggered run starts and what it sees.

Execution model
---------------
An invocation keeps every node run that finished with its update, and a small coordinator
that decides which nodes run and when. Nothing waits for a superstep; the order in which
updates are folded is nevertheless LangGraph's, so results never depend on timing.

*When a node is triggered.* START is finished from the outset. When a node run finishes
with a value (its own update, or its fallback's), its plain edges trigger their targets, a
join edge ``add_edge([a, b], c)`` triggers ``c`` once every one of its sources has finished
since it last fired, each of its routers is called and triggers the nodes it names (or
starts one extra run per ``Send``, which gets the Send's input instead of the state), and a
returned ``Command`` does the same with its ``goto``.

*Rounds.* compile() finds the edges back (those that close a loop, in a depth-first search
from START over edges in the order added); a trigger along an edge back is for the next
round of its target, any other for its source's round. A node runs at most once per round:
triggers that come before its run of that round starts are merged into it, and one that
comes after is for the next round.

*When a triggered run starts.* When nothing it waits for is live (running, triggered and
waiting, or a router still deciding): in its own round, its ancestors over forward edges;
in earlier rounds, any run of a node that can reach it, its own earlier run included.
Declared conditional edges (``path_map``, ``Literal`` annotations, ``Command[Literal[...]]``)
count as edges; a router or Command whose targets are unknown counts as an edge to every
node. Send runs start at once. So inside a round a node waits for every predecessor that
will run, and for nothing else (an untaken branch, once decided, is not waited for).

*What it sees, and the fold order.* A run's step is one more than the steps of the runs
that triggered it (START's nodes are step 1). Updates are folded by step, then node name,
then Sends in the order they were sent, as LangGraph's supersteps fold them. A run sees the
input plus the updates of the runs it waited for (and of those its triggers saw), folded in
that order; the final state folds every update. ``recursion_limit`` bounds the steps.

*Where it runs.* Every node run is a :class:`SkillCall` of the node's skill (its timeout,
retry, fallback and executor), keyed by the node's name (``name[i]`` for the i-th Send).
The coordinator is the engine's feeder (:class:`pipeline._engine._run.Feeder`) for one run:
the engine pulls released node runs from it whenever a slot is free, and tells it each
result the moment it exists, so a node starts when its inputs exist however slowly the
stream is read, and an async router decides beside the run, holding back only the nodes
after it. So the concurrency cap, the deadline, per-node timeouts and retries, failure
isolation, cancellation and clean-up all come from the engine; this module only decides
what to start next (and reports to the engine, as skipped, what never will).

*Failures.* A node run that ends without a value (an error or timeout without fallback)
contributes no update; the nodes it can reach do not run (each one that was triggered is
reported ``skipped`` with ``DependencyFailed``), the rest of the graph runs on, and the
invocation then raises :class:`GraphError` with the partial state and every result --
an instance of the node's own exception's class too, when a node raised. The run's deadline (``compile(timeout=...)``) works as in :func:`pipeline.run`:
nodes in flight end ``timeout`` (with their fallback if any), nodes not started end
``skipped``, nothing new starts, and the invocation raises :class:`GraphError` if anything
ended without a value. A router that names an unknown node raises
:class:`InvalidGraphError` at once, cancelling what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import os
import queue
import sys
import threading
import typing
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, overload

from pydantic import BaseModel

from ._invocation import _WRITER, STREAM_MODES, StreamMode, _as_config, _CallContext, _Invocation
from ._supersteps import _SuperstepInvocation
from ._stream_modes import check_modes
from ._routing import (
    END,
    START,
    Command,
    GraphError,
    GraphRecursionError,
    InvalidGraphError,
    InvalidUpdateError,
    Send,
    _Branch,
    _command_targets,
    _literal_targets,
    _takes_config,
    _takes_writer,
)
from ._interrupt import SCRATCH, GraphInterrupt, paused
from ._state import _is_typeddict, _Schema
from ._policies import CachePolicy, InMemoryCache, RetryPolicy, _as_retry, cache_namespace
from ._drawing import DrawableGraph, draw
from . import _subgraphs, _threads
from ._interrupt import StateSnapshot, StateUpdate
from .._durable._cache import JournalCache
from .._durable._journal import open_store
from .._durable._store import JournalStore
from .._core._retry import Retry
from .._core._skill import _UNSET, Executor, Skill, SkillOptions, _is_generator_function
from .._stream._results import check_run_options

__all__ = [
    "END",
    "START",
    "Command",
    "CompiledStateGraph",
    "GraphError",
    "GraphRecursionError",
    "InvalidGraphError",
    "InvalidUpdateError",
    "Send",
    "StateGraph",
]

S = TypeVar("S")

# -- the builder ---------------------------------------------------------------------------


class StateGraph(Generic[S]):
    """A graph of nodes over a shared state, in LangGraph's shape, run start-when-ready.

    Each node is a function (sync, async, or an existing :class:`Skill`) that takes the
    state and returns a dict update. Fields annotated with a reducer
    (``Annotated[list, operator.add]``) fold updates with it; the others are overwritten.
    Compile it, then ``await app.ainvoke(input)`` for the final state, or iterate
    ``app.astream(input)`` for each node's update as it finishes.

    By default there are no supersteps: a node starts the moment every predecessor that
    will run has finished; updates are still folded in LangGraph's order. Loops (an agent
    and its tools) run in rounds, bounded by ``recursion_limit``. ``compile(schedule=
    "supersteps")`` runs LangGraph's supersteps instead (see :meth:`compile`).

    Examples:
        >>> class Research(TypedDict):
        ...     query: str
        ...     stock: dict
        ...     news: list
        ...     briefing: str
        >>> graph = StateGraph(Research)
        >>> graph.add_node("stock", fetch_stock, timeout=5)
        >>> graph.add_node("news", fetch_news, fallback={"news": []})
        >>> graph.add_node("summarize", summarize)
        >>> graph.add_edge(START, "stock")
        >>> graph.add_edge(START, "news")
        >>> graph.add_edge(["stock", "news"], "summarize")
        >>> graph.add_edge("summarize", END)
        >>> app = graph.compile(max_concurrency=5, timeout=30)
        >>> state = await app.ainvoke({"query": "AAPL"})

    As in LangGraph, a node whose first parameter is annotated with another schema (a
    ``TypedDict``, model or dataclass) gets that schema's fields, and may write them
    although the State has none of them (private state between nodes); ``input_schema``
    says what ``invoke`` takes, ``output_schema`` what it returns (default: the State).

    Args:
        state_schema: a ``TypedDict``, a pydantic model or a dataclass (or, as in
            LangGraph, one annotated value: ``Annotated[list, operator.add]``).
        input_schema: the fields an invocation's input may set (``input`` is the older
            spelling).
        output_schema: the fields an invocation returns (``output`` is the older spelling).

    Raises:
        TypeError: if a schema is none of these, or both spellings are given.
        ValueError: if a field's reducer does not take two arguments.
    """

    def __init__(
        self,
        state_schema: type[S],
        *,
        input_schema: type[Any] | None = None,
        output_schema: type[Any] | None = None,
        input: type[Any] | None = None,
        output: type[Any] | None = None,
    ) -> None:
        localns = sys._getframe(1).f_locals
        self._schema = _Schema(state_schema, localns)
        if input is not None and input_schema is not None or output is not None and output_schema is not None:
            raise TypeError("give input_schema or input (output_schema or output), not both")
        input_schema = input_schema if input is None else input
        output_schema = output_schema if output is None else output
        self._input_schema = None if input_schema is None else _Schema(input_schema, localns)
        self._output_schema = None if output_schema is None else _Schema(output_schema, localns)
        self._node_schemas: dict[str, _Schema] = {}  # nodes whose input is another schema
        self._nodes: dict[str, Skill[Any, Any]] = {}
        self._options: dict[str, SkillOptions] = {}  # per node: timeout, retry, fallback
        self._edges: dict[str, list[str]] = {}  # source -> targets, in the order added
        self._joins: list[tuple[tuple[str, ...], str]] = []
        self._branches: dict[str, list[_Branch]] = {}
        self._deferred: set[str] = set()  # add_node(defer=True)
        self._cache_policies: dict[str, CachePolicy[Any]] = {}

    @overload
    def add_node(
        self,
        name: str,
        fn: Callable[..., Any] | CompiledStateGraph[Any],
        *,
        timeout: float | None = ...,
        retry: Retry | None = ...,
        fallback: Any = ...,
        executor: Executor = ...,
        defer: bool = ...,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = ...,
        cache_policy: CachePolicy[Any] | None = ...,
    ) -> StateGraph[S]: ...
    @overload
    def add_node(
        self,
        name: Callable[..., Any],
        fn: None = None,
        *,
        timeout: float | None = ...,
        retry: Retry | None = ...,
        fallback: Any = ...,
        executor: Executor = ...,
        defer: bool = ...,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = ...,
        cache_policy: CachePolicy[Any] | None = ...,
    ) -> StateGraph[S]: ...
    def add_node(
        self,
        name: str | Callable[..., Any],
        fn: Callable[..., Any] | CompiledStateGraph[Any] | None = None,
        *,
        timeout: float | None = _UNSET,
        retry: Retry | None = _UNSET,
        fallback: Any = _UNSET,
        executor: Executor = _UNSET,
        defer: bool = False,
        retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
        cache_policy: CachePolicy[Any] | None = None,
    ) -> StateGraph[S]:
        """Add a node: ``fn(state) -> dict update | Command | None``, run as a skill.

        ``add_node(fn)`` names the node after the function (or the Skill). The function
        may take ``config`` too (``def node(state, config)``): it gets the invocation's
        config dict; and ``writer``: the node run's stream writer (see
        :func:`get_stream_writer`). The options are those of :func:`skill`; for an
        existing Skill, the ones given replace its own. A node whose function fails (after
        its retries) with a ``fallback`` contributes the fallback as its update and the
        graph flows on; one that returns something that is not an update fails, fallback
        or not.

        A compiled graph is a node too (a subgraph, as in LangGraph): it gets the state
        (keeping the keys of its own input schema) and its output (its output schema's
        keys that this graph has) is the node's update, folded by this graph's reducers.
        ``stream(..., subgraphs=True)`` streams its chunks as well.

        Examples:
            >>> graph.add_node("stock", fetch_stock, timeout=5, retry=Retry(attempts=3))
            >>> graph.add_node(summarize)                  # the node "summarize"
            >>> graph.add_node("fetch", fetch, retry_policy=RetryPolicy(max_attempts=5))
            >>> graph.add_node("research", research_graph.compile())   # a subgraph

        Args:
            name: the node's name (also the key of its :class:`SkillResult`), or the
                function itself.
            fn: a sync or async function taking the state (or a Send's input), a Skill,
                or a compiled graph; a generator (sync or async) streams its items as
                "custom" chunks and updates with its last item. A function may take
                ``config`` and ``writer``.
            timeout: seconds each attempt may take; ``None``: no limit.
            retry: a :class:`Retry` policy; ``None``: one attempt.
            fallback: an update to use when the node fails, or a callable taking the
                exception and returning one.
            executor: ``"auto"``, ``"thread"`` or ``"process"``. A process node must be
                a module-level ``@skill(executor="process")`` function, passed as it is
                (workers import it by name; the state and its update must pickle).
            defer: as in LangGraph, run the node only once nothing else is left to run
                (a join that waits for branches of different lengths); it needs
                ``compile(schedule="supersteps")``.
            retry_policy: LangGraph's :class:`RetryPolicy` (or a list of them: each
                failure is handled by the first that retries it), run as the node's
                ``retry``; give one or the other.
            cache_policy: a :class:`CachePolicy`: with ``compile(cache=...)``, a run whose
                input was seen within the policy's ttl is not run again.

        Returns:
            The graph, so that calls can be chained.

        Raises:
            InvalidGraphError: if ``name`` is taken, or is START or END.
            TypeError: if ``name`` is not a non-empty str, or ``fn`` is not callable, or
                both ``retry`` and ``retry_policy`` are given.
            pydantic.ValidationError: if an option is invalid (the error names the field).
        """
        if fn is None and callable(name) and not isinstance(name, str):
            fn = name
            name = fn.name if isinstance(fn, Skill) else getattr(fn, "__name__", "")
        if isinstance(fn, CompiledStateGraph):  # a subgraph: see _subgraphs
            fn = _subgraphs.as_node(fn)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a node's name must be a non-empty str, got {name!r}")
        if name in (START, END):
            which = "START" if name == START else "END"
            raise InvalidGraphError(f"{name!r} is reserved for {which}; choose another node name")
        if name in self._nodes:
            raise InvalidGraphError(f"node {name!r} is already in the graph")
        if not callable(fn):
            raise TypeError(f"node {name!r} needs a function or a Skill, got {fn!r}")
        if not isinstance(defer, bool):
            raise TypeError(f"defer must be True or False, got {defer!r}")
        if retry_policy is not None:
            if retry is not _UNSET:
                raise TypeError(f"node {name!r}: give retry or retry_policy, not both")
            retry = _as_retry(retry_policy)
        if cache_policy is not None and not isinstance(cache_policy, CachePolicy):
            raise TypeError(f"node {name!r}: cache_policy must be a CachePolicy, got {cache_policy!r}")
        given: dict[str, Any] = {
            key: value
            for key, value in (
                ("timeout", timeout),
                ("retry", retry),
                ("fallback", fallback),
                ("executor", executor),
            )
            if value is not _UNSET
        }
        # Keep the user's Skill itself: a process skill pickles by reference to its module
        # attribute, which a copy would not be. Options travel with each call.
        if isinstance(fn, Skill):
            options = SkillOptions(**{**dict(fn.options), **given})
            self._nodes[name] = fn
        else:
            options = SkillOptions(name=name, **given)
            self._nodes[name] = Skill(fn, options)
        self._options[name] = options
        if defer:
            self._deferred.add(name)
        if cache_policy is not None:
            self._cache_policies[name] = cache_policy
        own = _input_schema_of(self._nodes[name].fn, self._schema.type)
        if own is not None:
            self._node_schemas[name] = _Schema(own)
        return self

    def add_sequence(
        self, nodes: Sequence[Callable[..., Any] | tuple[str, Callable[..., Any]]]
    ) -> StateGraph[S]:
        """Add nodes that run one after the other: an edge from each to the next.

        Examples:
            >>> graph.add_sequence([plan, ("search", search), write])
            >>> graph.add_edge(START, "plan")

        Args:
            nodes: functions (named after themselves) or ``(name, function)`` pairs.

        Raises:
            ValueError: if ``nodes`` is empty.
            InvalidGraphError, TypeError: as :meth:`add_node`.
        """
        if not nodes:
            raise ValueError("add_sequence() needs at least one node")
        previous: str | None = None
        for item in nodes:
            if isinstance(item, tuple):
                name, fn = item
                self.add_node(name, fn)
            else:
                name = item.name if isinstance(item, Skill) else getattr(item, "__name__", "")
                self.add_node(item)
            if previous is not None:
                self.add_edge(previous, name)
            previous = name
        return self

    def set_entry_point(self, key: str) -> StateGraph[S]:
        """The node every invocation starts at: ``add_edge(START, key)``.

        Examples:
            >>> graph.set_entry_point("agent")
        """
        return self.add_edge(START, key)

    def set_finish_point(self, key: str) -> StateGraph[S]:
        """A node after which the graph is done: ``add_edge(key, END)``.

        Examples:
            >>> graph.set_finish_point("summarize")
        """
        return self.add_edge(key, END)

    def set_conditional_entry_point(
        self,
        path: Callable[..., Any],
        path_map: dict[Any, str] | list[str] | tuple[str, ...] | None = None,
    ) -> StateGraph[S]:
        """Route the input to the first nodes: ``add_conditional_edges(START, ...)``.

        Examples:
            >>> graph.set_conditional_entry_point(lambda s: "fast" if s["easy"] else "slow")
        """
        return self.add_conditional_edges(START, path, path_map)

    def add_edge(self, start: str | list[str] | tuple[str, ...], end: str) -> StateGraph[S]:
        """Add an edge: ``end`` runs after ``start``; after all of them for a list.

        ``add_edge([a, b], c)`` is a join: ``c`` is triggered once both ``a`` and ``b``
        have finished with a value. With two plain edges ``a -> c`` and ``b -> c``, either
        triggers ``c``, which still waits for the other if it is going to run.

        Examples:
            >>> graph.add_edge(START, "stock")
            >>> graph.add_edge(["stock", "news"], "summarize")

        Raises:
            InvalidGraphError: if ``end`` is START, or ``start`` is or contains END.
        """
        sources = (start,) if isinstance(start, str) else tuple(start)
        if not sources or not all(isinstance(s, str) and s for s in sources):
            raise TypeError(f"add_edge() takes a node name or a list of them, got {start!r}")
        if not isinstance(end, str) or not end:
            raise TypeError(f"add_edge() takes a node name as its end, got {end!r}")
        if END in sources:
            raise InvalidGraphError(f"edge {_edge_text(start, end)}: END cannot be an edge's start")
        if end == START:
            raise InvalidGraphError(f"edge {_edge_text(start, end)}: START cannot be an edge's end")
        if len(sources) == 1:
            targets = self._edges.setdefault(sources[0], [])
            if end not in targets:
                targets.append(end)
        elif (sources, end) not in self._joins:
            self._joins.append((sources, end))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[[Any], Any],
        path_map: dict[Any, str] | list[str] | tuple[str, ...] | None = None,
    ) -> StateGraph[S]:
        """Add a router after ``source``: it gets the state and says where to go next.

        The router (sync or async; kept cheap, it runs on the coordinator) returns a node
        name, END, a list of names, or ``Send(node, input)`` objects for a dynamic
        fan-out. ``path_map`` declares where it may go -- a list of node names (and END),
        or a dict from the router's answers to node names. Declared targets are edges for
        scheduling (which edges close a loop, who waits for whom): nodes after a declared
        router wait for it only until it has decided. Without a path_map, the router's
        return annotation is read (``-> Literal["a", "b"]``); failing that its targets are
        unknown and it is taken to go anywhere: every node it could reach waits for it.

        Examples:
            >>> def route(state) -> Literal["deep_dive", "__end__"]:
            ...     return "deep_dive" if state["stock"]["change_pct"] < -2 else END
            >>> graph.add_conditional_edges("stock", route)
            >>> graph.add_conditional_edges("plan", lambda s: [Send("search", q) for q in s["queries"]], ["search"])

        Raises:
            InvalidGraphError: if ``source`` is END.
        """
        if not isinstance(source, str) or not source:
            raise TypeError(f"add_conditional_edges() takes a node name, got {source!r}")
        if source == END:
            raise InvalidGraphError("END cannot be the source of a conditional edge")
        if not callable(path):
            raise TypeError(f"add_conditional_edges() needs a router function, got {path!r}")
        mapping: dict[Any, str] | None = None
        targets: tuple[str, ...] | None
        declared_by = "path_map"
        if path_map is None:
            targets = _literal_targets(path)
            declared_by = "Literal return annotation"
        elif isinstance(path_map, dict):
            mapping = dict(path_map)
            targets = tuple(dict.fromkeys(mapping.values()))
        elif isinstance(path_map, (list, tuple)):
            targets = tuple(dict.fromkeys(path_map))
        else:
            raise TypeError(f"path_map must be a dict, a list or None, got {path_map!r}")
        if targets is not None and not all(isinstance(t, str) and t for t in targets):
            raise TypeError(f"path_map must name nodes, got {path_map!r}")
        self._branches.setdefault(source, []).append(_Branch(path, mapping, targets, declared_by))
        return self

    def compile(
        self,
        *,
        max_concurrency: int | None = 10,
        timeout: float | None = None,
        checkpointer: str | os.PathLike[str] | JournalStore | None = None,
        journal: str | os.PathLike[str] | JournalStore | None = None,
        schedule: Schedule = "ready",
        cache: InMemoryCache | str | os.PathLike[str] | JournalStore | Any | None = None,
    ) -> CompiledStateGraph[S]:
        """Check the graph and freeze it into something that runs.

        Loops (a conditional edge back to an earlier node, an agent and its tools) are
        allowed; ``recursion_limit`` bounds them at run time.

        ``schedule`` says when a node starts. ``"ready"`` (the default): the moment every
        predecessor that will run has finished, and it sees their updates. ``"supersteps"``:
        LangGraph's execution model exactly: the nodes triggered in superstep k run
        together, each seeing the state after superstep k-1; their updates are folded
        together (in LangGraph's order) when the last one finishes, and what they trigger
        (edges, routers, Commands, joins complete, Sends) is superstep k+1. "values" then
        streams the state after each superstep, ``recursion_limit`` counts supersteps,
        and ``add_node(..., defer=True)`` is available. The two differ when branches of
        different lengths meet: with ``START -> a``, ``START -> b``, ``a -> c``, ``c``
        sees ``b``'s update under "supersteps" (``b`` ran in the same superstep as ``a``),
        and never under "ready" (nothing makes ``c`` wait for ``b``).

        Examples:
            >>> app = graph.compile(max_concurrency=5, timeout=30)
            >>> same_as_langgraph = graph.compile(schedule="supersteps")

        Args:
            max_concurrency: most node runs in flight; ``None`` for no bound.
            timeout: each invocation's deadline in seconds; ``None`` for none.
            checkpointer: where threads are kept (LangGraph's checkpointer): an
                :class:`InMemorySaver`, a :class:`~pipeline.Journal` or a SQLite file path
                (opened now), or a ``postgresql://`` URL. Every invocation then takes
                ``{"configurable": {"thread_id": ...}}``: it starts from the thread's saved
                state (the input folded in with the reducers), can pause at
                :func:`interrupt` and resume with ``Command(resume=...)``, and one that
                failed or was killed goes on with ``invoke(None, config)``, its finished
                nodes replayed, not run.
            journal: the older name of ``checkpointer``.
            schedule: ``"ready"`` (the default) or ``"supersteps"`` (LangGraph's model).
            cache: where nodes with a ``cache_policy`` keep their results (LangGraph's
                ``cache``): an :class:`InMemoryCache` (this process's memory), or a
                :class:`~pipeline.Journal`, a SQLite file path (opened now) or a
                ``postgresql://`` URL, as ``checkpointer`` takes them: the entries are
                then kept in that store (LangGraph's ``SqliteCache``), so another process
                or a later run gets the hits; values are encoded as the journal encodes
                results, and an update it cannot store is not cached. Or any object with
                :class:`InMemoryCache`'s ``get`` and ``set`` (LangGraph's caches have
                them). ``None``: nothing is cached.

        Returns:
            A :class:`CompiledStateGraph`; later changes to this builder do not affect it.

        Raises:
            InvalidGraphError: if an edge names an unknown node, nothing leaves START, or
                a node has ``defer=True`` under ``schedule="ready"``.
            ValueError, TypeError: if ``max_concurrency``, ``timeout`` or ``schedule`` is
                invalid.
            JournalError: if the journal file (or the cache's) cannot be used.
        """
        check_run_options(max_concurrency, timeout)
        if schedule not in ("ready", "supersteps"):
            raise ValueError(f"schedule must be 'ready' or 'supersteps', got {schedule!r}")
        if self._deferred and schedule != "supersteps":
            raise InvalidGraphError(
                f"node {min(self._deferred)!r} has defer=True, which needs "
                f"compile(schedule='supersteps'): a deferred node waits for a superstep "
                f"with nothing else to run"
            )
        cache = _open_cache(cache)
        if journal is not None and checkpointer is not None:
            raise TypeError("give checkpointer or journal (its older name), not both")
        store = open_store(checkpointer if checkpointer is not None else journal)
        nodes = self._nodes
        # LangGraph's words first ("Found edge starting at unknown node"), so that code
        # matching them still does; then which edge.
        for source, targets in self._edges.items():
            for target in targets:
                for name in (source, target):
                    if name not in nodes and name not in (START, END):
                        raise InvalidGraphError(
                            f"Found edge {'starting' if name == source else 'ending'} at unknown "
                            f"node {name!r}: edge {_edge_text(source, target)}"
                        )
        for sources, target in self._joins:
            for name in (*sources, target):
                if name not in nodes and name not in (START, END):
                    raise InvalidGraphError(
                        f"Found edge {'ending' if name == target else 'starting'} at unknown "
                        f"node {name!r}: edge {_edge_text(list(sources), target)}"
                    )
        for source, branches in self._branches.items():
            if source not in nodes and source != START:
                raise InvalidGraphError(f"conditional edge from {source!r}: {source!r} is not a node")
            for branch in branches:
                for target in branch.targets or ():
                    if target == START:
                        raise InvalidGraphError(
                            f"conditional edge from {source!r}: START cannot be a target"
                        )
                    if target not in nodes and target != END:
                        raise InvalidGraphError(
                            f"conditional edge from {source!r}: {target!r} is not a node"
                        )

        # The edges compile() knows: plain, join (each source), declared conditional, and
        # a Command's declared targets. Where a router or a Command may go anywhere, it
        # is taken to go everywhere: nodes then wait for it, never the other way round.
        succ: dict[str, list[str]] = {name: [] for name in (START, *nodes)}
        for source, targets in self._edges.items():
            succ[source].extend(t for t in targets if t != END)
        for sources, target in self._joins:
            if target != END:
                for source in sources:
                    succ[source].append(target)
        undeclared: set[str] = set()
        for source, branches in self._branches.items():
            for branch in branches:
                if branch.targets is None:
                    undeclared.add(source)
                else:
                    succ[source].extend(t for t in branch.targets if t != END)
        for name, node in nodes.items():
            goto = _command_targets(node.fn)
            if goto is None:
                undeclared.add(name)
            else:
                succ[name].extend(t for t in goto if t != END and t in nodes)
        for name in undeclared:
            succ[name].extend(nodes)
        succ = {name: list(dict.fromkeys(targets)) for name, targets in succ.items()}

        if START not in self._edges and START not in self._branches and not any(
            START in sources for sources, _ in self._joins
        ):
            raise InvalidGraphError(
                "Graph must have an entrypoint: the graph has no edge from START; add one with "
                "add_edge(START, <first node>)"
            )
        # No check that every node is reachable from START (there was one before issue
        # 16): as in LangGraph, any node may reach another with Command(goto=...).
        return CompiledStateGraph(self, succ, max_concurrency, timeout, store, schedule, cache=cache)


def _open_cache(cache: Any) -> Any:
    """``compile``'s ``cache``: an object with ``get`` and ``set`` as it is; a journal (or
    its path or URL) as a :class:`JournalCache` on its store."""
    if cache is None or (callable(getattr(cache, "get", None)) and callable(getattr(cache, "set", None))):
        return cache
    if isinstance(cache, (str, os.PathLike, JournalStore)):
        return JournalCache(open_store(cache))  # type: ignore[arg-type]
    raise TypeError(
        f"cache must be an InMemoryCache, a Journal, a SQLite path or a postgresql:// URL "
        f"(or have get() and set(), as InMemoryCache does), got {cache!r}"
    )


def _edge_text(start: Any, end: str) -> str:
    return f"{start!r} -> {end!r}"


def _forward_edges(succ: dict[str, list[str]]) -> dict[str, list[str]]:
    """``succ`` without its edges back: those a depth-first search from START (edges in
    the order added) finds closing a loop. What is left is acyclic."""
    white, gray, black = 0, 1, 2
    color = dict.fromkeys(succ, white)
    forward: dict[str, list[str]] = {name: [] for name in succ}
    for root in succ:  # START first: it is the first key
        if color[root] != white:
            continue
        color[root] = gray
        path = [root]
        stack = [iter(succ[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                color[path.pop()] = black
                continue
            if color[child] == gray:
                continue  # an edge back
            forward[path[-1]].append(child)
            if color[child] == white:
                color[child] = gray
                path.append(child)
                stack.append(iter(succ[child]))
    return forward


# -- the compiled graph --------------------------------------------------------------------


class CompiledStateGraph(Generic[S]):
    """A checked, frozen :class:`StateGraph`: invoke it as often as you like.

    Every invocation is one :func:`pipeline.run` of its node runs, so ``max_concurrency``
    bounds the node runs in flight (retries included), ``timeout`` is a deadline for the
    whole invocation, and leaving ``astream`` early cancels the node runs in flight.

    Examples:
        >>> app = graph.compile(max_concurrency=5)
        >>> state = await app.ainvoke({"query": "AAPL"})
        >>> async for update in app.astream({"query": "AAPL"}):
        ...     print(update)          # {"stock": {"stock": {...}}}, as each node finishes
    """

    def __init__(
        self,
        graph: StateGraph[S],
        succ: dict[str, list[str]],
        max_concurrency: int | None,
        timeout: float | None,
        journal: JournalStore | None = None,
        schedule: Schedule = "ready",
        *,
        cache: Any = None,
    ) -> None:
        self.cache = cache
        """Where nodes with a ``cache_policy`` keep their results (a journal given to
        ``compile(cache=...)`` is here as the cache on its store); ``None``: nowhere."""
        self.checkpointer = journal
        """Where threads are kept (their checkpoints, and their node runs); ``None``: nowhere."""
        self.max_concurrency = max_concurrency
        """Most node runs in flight; ``None``: no bound."""
        self.timeout = timeout
        """Each invocation's deadline in seconds; ``None``: none."""
        self.schedule: Schedule = schedule
        """When a node starts: ``"ready"`` or ``"supersteps"`` (see :meth:`StateGraph.compile`)."""
        self._deferred = frozenset(graph._deferred)
        self._invocation_type: type[_Invocation] = (
            _SuperstepInvocation if schedule == "supersteps" else _Invocation
        )
        # Views and outputs are each schema's own; the running state holds every schema's
        # fields (LangGraph's channels).
        self._state = graph._schema
        others = [*graph._node_schemas.values(), *(x for x in (graph._input_schema, graph._output_schema) if x)]
        self._schema = graph._schema.with_channels(others) if others else graph._schema
        self._input = graph._input_schema or graph._schema
        self._output = graph._output_schema or graph._schema
        self._views = {name: graph._node_schemas.get(name, graph._schema) for name in graph._nodes}
        self._options = dict(graph._options)
        self._cache_policies = dict(graph._cache_policies) if cache is not None else {}
        self._cache_ns = {name: cache_namespace(name, node.fn) for name, node in graph._nodes.items()}
        # Drawn when asked (get_graph), from a copy of the builder's edges as compiled.
        self._draw_from = (
            {name: node.fn for name, node in graph._nodes.items()},
            {source: list(targets) for source, targets in graph._edges.items()},
            list(graph._joins),
            {source: list(branches) for source, branches in graph._branches.items()},
        )
        # Each node's function is wrapped to pass ``config`` and to keep its own exception
        # (so the invocation can raise it); a process or Ray skill runs as it is.
        self._nodes: dict[str, Skill[Any, Any]] = {}
        self._wrapped: dict[str, bool] = {}
        # Generator nodes: their items are "custom" chunks, their update the last item.
        self._streaming: dict[str, bool] = {}
        for name, node in graph._nodes.items():
            self._streaming[name] = _is_generator_function(node.fn) or inspect.isasyncgenfunction(node.fn)
            if node.kind in ("async", "asyncgen", "thread"):
                self._nodes[name] = Skill(_node_function(node.fn, node.kind), self._options[name])
                self._wrapped[name] = True
            else:
                self._nodes[name] = node
                self._wrapped[name] = False
        self._edges = {s: tuple(t for t in ts if t != END) for s, ts in graph._edges.items()}
        self._joins_by_source: dict[str, list[tuple[str, ...]]] = {}
        self._join_targets: dict[tuple[str, ...], list[str]] = {}
        for sources, target in graph._joins:
            if target == END:
                continue
            if sources not in self._join_targets:
                for source in sources:
                    self._joins_by_source.setdefault(source, []).append(sources)
            self._join_targets.setdefault(sources, []).append(target)
        # What LangGraph names as a node's triggers (its config's metadata): its own branch
        # channel, then one channel per join edge into it.
        self._triggers: dict[str, tuple[str, ...]] = {
            name: (f"branch:to:{name}", *(f"join:{'+'.join(s)}:{name}" for s, t in graph._joins if t == name))
            for name in self._nodes
        }
        self._branches = {s: tuple(bs) for s, bs in graph._branches.items()}
        # Reach over every edge compile() knows, loops included; ancestors and descendants
        # over the forward edges only (a loop's edge back starts the next round).
        self._reach = {name: _closure(name, succ) for name in succ}
        forward = _forward_edges(succ)
        self._fwd_descendants = {name: _closure(name, forward) for name in succ}
        self._fwd_ancestors: dict[str, frozenset[str]] = {
            name: frozenset(a for a in graph._nodes if name in self._fwd_descendants[a])
            for name in graph._nodes
        }
        # An ancestor has strictly fewer ancestors than its descendant: sorting by that
        # count (ties in the order added) is a topological order of the forward edges.
        added = {name: i for i, name in enumerate(graph._nodes)}
        order = sorted(graph._nodes, key=lambda n: (len(self._fwd_ancestors[n]), added[n]))
        self._position = {name: i for i, name in enumerate(order)}

    # -- running ---------------------------------------------------------------------------

    async def ainvoke(
        self,
        input: S | Mapping[str, Any] | Command[Any] | None,
        config: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        durability: Durability | None = None,
    ) -> Any:
        """Run the graph on ``input`` and return the final state, as a dict (as LangGraph
        does, for a pydantic or dataclass State too).

        With ``compile(checkpointer=...)`` the config names a thread,
        ``{"configurable": {"thread_id": "t1"}}``: the invocation starts from the thread's
        saved state (the input folded in with the reducers), and saves where it ended. A
        node that calls :func:`interrupt` pauses it: the state comes back with
        ``"__interrupt__"``, and ``ainvoke(Command(resume=answer), config)`` goes on.

        Examples:
            >>> state = await app.ainvoke({"query": "AAPL"})
            >>> state = await app.ainvoke({"messages": [...]}, {"recursion_limit": 10})
            >>> config = {"configurable": {"thread_id": "t1"}}
            >>> paused = await threaded_app.ainvoke({"query": "AAPL"}, config)
            >>> state = await threaded_app.ainvoke(Command(resume="yes"), config)

        Args:
            input: the initial state: a dict of State fields (for a pydantic State, or an
                instance of it). Reducer fields fold it in like any update; keys that
                are not fields are dropped. On a thread: ``Command(resume=...)`` answers
                its pause (``{interrupt_id: answer}`` for one of several), and ``None``
                goes on with an invocation that did not finish (failed, killed) or from
                an :meth:`update_state`.
            config: LangGraph's config dict: ``recursion_limit`` (default 25),
                ``configurable`` (``thread_id``; the rest is for nodes that take
                ``config``), and anything else for nodes that take ``config``.
            run_id: deprecated: ``{"configurable": {"thread_id": run_id}}``; an unfinished
                invocation invoked again with it goes on, whatever the input.
            durability: LangGraph's ``"sync"``, ``"async"`` or ``"exit"``, taken for its
                code's sake: a thread saves a checkpoint when an invocation starts and when
                it ends, and each node's result is stored before the next node sees it.

        Returns:
            The final state: the input plus every update, folded in LangGraph's order
            (a dict; the value itself for a root State such as ``Annotated[list, add]``),
            with ``"__interrupt__"`` (a list of :class:`Interrupt`) if a node paused.

        Raises:
            GraphError: if a node run ended without a value (error or timeout without
                fallback, or skipped: a dependency failed or the deadline came first), or
                a router or reducer raised; with ``.state`` and ``.results``. When a node
                raised, the error is also an instance of that exception's class, with its
                message: ``except ValueError`` catches a node's ValueError.
            GraphRecursionError: if the graph would run more than ``recursion_limit`` steps.
            InvalidUpdateError: if two runs of a step wrote one reducer-less field.
            InvalidGraphError: if a router named a node it cannot go to.
            pydantic.ValidationError, TypeError, ValueError: if ``input`` is invalid, a
                graph with a checkpointer gets no ``thread_id``, a ``Command`` comes
                without a checkpointer or for a thread not paused, or ``None`` for a
                thread with no state.
            RuntimeError: if ``Command(resume=value)`` (not by id) answers several pauses.
            RunInProgress: if a live invocation of the thread is running.
        """
        _check_durability(durability)
        plan = await _threads.plan(self, input, _as_config(config), run_id, (), False, durability)
        invocation = plan.invocation
        if invocation is None:  # a finished thread, invoked with None: nothing to run
            return plan.state
        invocation.values_schema = self._output
        await plan.started()
        try:
            async with contextlib.aclosing(invocation.events()) as events:
                async for _ in events:
                    pass
        except GraphError:
            await plan.ended(failed=True)
            raise
        await plan.ended(failed=False)
        return invocation.final()

    def invoke(
        self,
        input: S | Mapping[str, Any] | Command[Any] | None,
        config: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        durability: Durability | None = None,
    ) -> Any:
        """Run the graph from sync code: :meth:`ainvoke` on a fresh event loop (in a
        thread of its own when one is already running here, as in a notebook).

        Examples:
            >>> state = app.invoke({"query": "AAPL"})

        Raises:
            GraphError, GraphRecursionError, InvalidUpdateError, InvalidGraphError: as
                :meth:`ainvoke`.
        """
        _check_durability(durability)
        return _run_sync(lambda: self.ainvoke(input, config, run_id=run_id, durability=durability))

    def get_graph(self, config: Mapping[str, Any] | None = None, *, xray: int | bool = False) -> DrawableGraph:
        """The graph's nodes and edges, to draw (LangGraph's ``get_graph``):
        ``get_graph().draw_mermaid()`` is Mermaid text, as LangGraph draws it.

        Examples:
            >>> print(app.get_graph().draw_mermaid())
            >>> sorted((e.source, e.target) for e in app.get_graph().edges)
            >>> print(app.get_graph(xray=True).draw_mermaid())   # subgraphs' nodes too

        Args:
            config: taken for LangGraph code's sake.
            xray: draw each subgraph's nodes inside it (``True``: every level; a number:
                that many levels), as LangGraph does; ``False``: a subgraph is one node.
        """
        nodes, edges, joins, branches = self._draw_from
        subgraphs: dict[str, DrawableGraph] = {}
        if xray:
            deeper = xray if isinstance(xray, bool) else xray - 1
            for name, fn in nodes.items():
                sub = getattr(fn, "_skillstream_subgraph", None)
                if isinstance(sub, CompiledStateGraph):
                    subgraphs[name] = sub.get_graph(config, xray=deeper)
        return draw(nodes, edges, joins, branches, _command_targets, subgraphs)

    def clear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Forget the cached results of these nodes (every node's by default).

        Examples:
            >>> app.clear_cache(["search"])

        Raises:
            ValueError: if the graph was compiled without a ``cache``.
        """
        if self.cache is None:
            raise ValueError("No cache is set for this graph. Cannot clear cache.")
        names = list(nodes) if nodes else list(self._nodes)
        namespaces = [self._cache_ns[name] for name in names if name in self._cache_ns]
        self.cache.clear(namespaces)

    async def aclear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """:meth:`clear_cache`, for async code."""
        self.clear_cache(nodes)

    @property
    def journal(self) -> JournalStore | None:
        """The older name of :attr:`checkpointer`."""
        return self.checkpointer

    def get_state(self, config: Mapping[str, Any]) -> StateSnapshot:
        """The thread's state now (LangGraph's ``get_state``): its values, the nodes it
        runs next, and the interrupts waiting for an answer.

        A ``checkpoint_id`` in the config picks an earlier checkpoint (one of
        :meth:`get_state_history`). The older ``get_state(run_id)`` (a string) returns
        the values alone, and is deprecated.

        Examples:
            >>> snapshot = app.get_state({"configurable": {"thread_id": "t1"}})
            >>> snapshot.values, snapshot.next, snapshot.interrupts

        Raises:
            ValueError: if the graph has no checkpointer, or the config no thread_id.
        """
        return _threads.get_state(self, config)  # type: ignore[no-any-return]

    async def aget_state(self, config: Mapping[str, Any]) -> StateSnapshot:
        """:meth:`get_state`, read in a thread (the store may block)."""
        return await asyncio.to_thread(self.get_state, config)

    def get_state_history(self, config: Mapping[str, Any]) -> Iterator[StateSnapshot]:
        """Every checkpoint of the thread, newest first (LangGraph's ``get_state_history``).

        Under the default schedule a thread keeps one checkpoint when each invocation
        starts and one when it ends (done, paused or failed); under
        ``schedule="supersteps"``, LangGraph's: one for the input and one when each
        superstep ends. :meth:`update_state` keeps one, and :meth:`bulk_update_state` one
        per superstep. Each names its parent (``parent_config``): a fork's is the earlier
        checkpoint it started from.

        Examples:
            >>> [s.metadata["source"] for s in app.get_state_history(config)]
            ['loop', 'input']

        Raises:
            ValueError: as :meth:`get_state`.
        """
        return iter(_threads.get_state_history(self, config))

    def update_state(
        self, config: Mapping[str, Any], values: Any, as_node: str | None = None
    ) -> dict[str, Any]:
        """Change the thread's state as if node ``as_node`` had returned ``values``
        (LangGraph's ``update_state``): the reducers fold it in, and the next
        ``invoke(None, config)`` goes on from that node's edges.

        Without ``as_node``, a thread that is paused or did not finish runs its pending
        invocation again from its input with ``values`` folded in (its nodes then run
        again); a finished one keeps the new values. A ``checkpoint_id`` in the config
        (one of :meth:`get_state_history`) updates that earlier checkpoint instead: the
        thread forks there, and ``invoke(None, returned_config)`` goes on from the fork.

        Examples:
            >>> app.update_state(config, {"approved": True}, as_node="review")
            >>> app.invoke(None, config)      # runs what comes after "review"

        Returns:
            The config of the new checkpoint.

        Raises:
            ValueError: as :meth:`get_state`, or if ``as_node`` is not a node.
            InvalidUpdateError: if ``values`` is not an update of the State.
        """
        return _threads.update_state(self, config, values, as_node)

    async def aupdate_state(
        self, config: Mapping[str, Any], values: Any, as_node: str | None = None
    ) -> dict[str, Any]:
        """:meth:`update_state`, written in a thread (the store may block)."""
        return await asyncio.to_thread(self.update_state, config, values, as_node)

    def bulk_update_state(
        self, config: Mapping[str, Any], supersteps: Sequence[Sequence[StateUpdate]]
    ) -> dict[str, Any]:
        """Apply updates as supersteps would (LangGraph's ``bulk_update_state``): each
        superstep is a list of :class:`StateUpdate`, folded in together as if those nodes
        had returned those values in one step, and kept as one checkpoint.

        ``as_node`` may also be ``"__input__"`` (the values wait as the next invocation's
        input: ``invoke(None, config)`` runs the graph on them), ``"__start__"`` (the
        input, applied), ``END`` with ``None`` (nothing left to run) or ``"__copy__"`` (a
        copy of the checkpoint, as a fork; its values may be a list of updates to apply to
        the copy). Those four stand alone in their superstep. A ``checkpoint_id`` in the
        config starts from that checkpoint (a fork).

        Examples:
            >>> app.bulk_update_state(config, [
            ...     [StateUpdate({"foo": "a"}, as_node="node_a")],
            ...     [StateUpdate({"foo": "b"}, "node_a"), StateUpdate({"bar": 1}, "node_b")],
            ... ])

        Returns:
            The config of the last checkpoint kept.

        Raises:
            ValueError: as :meth:`update_state`; if there is no superstep, or a superstep
                has no update.
            InvalidUpdateError: if a superstep of several updates has one without
                ``as_node`` or one of the four above, two of its updates set one field
                that has no reducer, or a value is not an update of the State.
        """
        return _threads.bulk_update_state(self, config, supersteps)

    async def abulk_update_state(
        self, config: Mapping[str, Any], supersteps: Sequence[Sequence[StateUpdate]]
    ) -> dict[str, Any]:
        """:meth:`bulk_update_state`, written in a thread (the store may block)."""
        return await asyncio.to_thread(self.bulk_update_state, config, supersteps)

    def _input_update(self, input: Any) -> dict[str, Any]:
        """An input as an update of a thread's saved state: the keys it sets, checked."""
        if self._input.is_root:
            return {"__root__": input}
        self._input.initial(input)  # validates it, raising as a first input does
        if isinstance(input, BaseModel):
            return {k: getattr(input, k) for k in input.model_fields_set if k in self._input.fields}
        if dataclasses.is_dataclass(input) and not isinstance(input, type):
            return {f.name: getattr(input, f.name) for f in dataclasses.fields(input)}
        return {k: v for k, v in dict(input).items() if k in self._input.fields}

    def _initial(self, input: Any) -> dict[str, Any]:
        values = self._input.initial(input)
        for name, make in self._schema.empty.items():  # every channel's starting value
            if name not in values:
                values[name] = make()
        return values

    def astream(
        self,
        input: S | Mapping[str, Any] | Command[Any] | None,
        config: Mapping[str, Any] | None = None,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "updates",
        run_id: str | None = None,
        durability: Durability | None = None,
        subgraphs: bool = False,
    ) -> AsyncGenerator[Any, None]:
        """Run the graph on ``input``, yielding as each node run finishes (completion order).

        ``stream_mode="updates"`` yields ``{node_name: update}`` (the update as applied;
        ``None`` if the node returned None). ``"values"`` yields the input state first,
        then the state after each update (every update so far, folded in LangGraph's
        order); the last one is the final state. ``"custom"`` yields what nodes write to
        :func:`get_stream_writer` (or to a ``writer`` parameter) and each item a generator
        node yields (an async one, or a sync one consumed in its thread), the moment it is
        written or yielded, while the node still runs; a generator node's update is its
        last item, and a retried node's earlier attempts' items stay streamed.
        ``"messages"`` (needs ``langchain-core``) yields LangGraph's ``(message_chunk,
        metadata)`` pairs: each token of a LangChain chat model called in a node (with the
        node's ``config``, or from a sync node without it) the moment it comes, and each
        message a node writes that was neither streamed nor in its input, when it ends.
        ``"tasks"`` yields each node run as it starts (``{"id", "name", "input",
        "triggers"}``) and ends (``{"id", "name", "error", "result", "interrupts"}``);
        ``"debug"`` the same wrapped as ``{"step", "timestamp", "type", "payload"}``. A list
        of modes yields ``(mode, chunk)`` pairs, in the order things happened.
        A node run that ends without a value yields nothing; once the graph is done
        the stream raises as :meth:`ainvoke` (after every update that was applied).
        Leaving early cancels the node runs in flight: use ``contextlib.aclosing`` (or
        call ``aclose()``) to have that done before you go on, since ``break`` alone closes
        an async generator only when it is garbage collected. A pause at :func:`interrupt`
        is streamed as ``{"__interrupt__": (...)}`` in "updates" (and with the state in
        "values"); a resume streams what runs after it, not the updates the thread had.
        With ``subgraphs=True`` the chunks of the graphs run by this one's nodes (a
        compiled graph as a node, or one a node invokes) are streamed too, while they
        run: each item is ``(namespace, chunk)`` (``(namespace, mode, chunk)`` for a list
        of modes), the namespace ``()`` for this graph's own chunks and
        ``("node:<task id>",)`` for those of a subgraph run by node ``node`` (deeper
        graphs add elements), as LangGraph streams them.

        Examples:
            >>> async with contextlib.aclosing(app.astream({"query": "AAPL"})) as updates:
            ...     async for update in updates:
            ...         print(update)   # {"news": {"news": [...]}}, then {"stock": ...}, ...
            >>> async for mode, chunk in app.astream(state, stream_mode=["custom", "updates"]):
            ...     print(mode, chunk)  # custom {"progress": ...} while a node runs, then its update
            >>> async for token, metadata in app.astream(state, stream_mode="messages"):
            ...     print(metadata["langgraph_node"], token.content)  # chat Rates, chat " ", ...
            >>> async for namespace, update in app.astream(state, subgraphs=True):
            ...     print(namespace, update)  # ('research:1f0c...',) {'draft': ...}, then () {'research': ...}

        Args:
            config: as for :meth:`ainvoke` (a graph with a checkpointer needs a
                ``thread_id``; it never runs without its thread).
            run_id: as for :meth:`ainvoke` (deprecated: the thread's id).
            durability: as for :meth:`ainvoke`.
            subgraphs: stream the subgraphs' chunks too, each with its namespace.

        Raises:
            ValueError: at once, if ``stream_mode`` is unknown or ``input`` invalid, or a
                graph with a checkpointer gets no ``thread_id`` (``run_id`` without one).
            ImportError: at once, for ``"messages"`` without ``langchain-core``.
            TypeError: at once, if ``subgraphs`` is not a bool.
            GraphError and the rest: while iterating, as :meth:`ainvoke`.
        """
        modes, multi = _stream_modes(stream_mode)
        _check_durability(durability)
        merged = _as_config(config)
        # Checked now, not at the first step: a bad input or config fails where given.
        _threads.thread_of_checked(self, merged, run_id, input)
        if self.checkpointer is None and not isinstance(input, Command):
            self._initial(input)
        if not isinstance(subgraphs, bool):
            raise TypeError(f"subgraphs must be True or False, got {subgraphs!r}")
        return self._astream(input, merged, run_id, modes, multi, subgraphs, durability)

    async def _astream(
        self,
        input: Any,
        config: dict[str, Any],
        run_id: str | None,
        modes: tuple[str, ...],
        multi: bool,
        subgraphs: bool = False,
        durability: Durability | None = None,
    ) -> AsyncGenerator[Any, None]:
        plan = await _threads.plan(self, input, config, run_id, modes, multi, durability)
        invocation = plan.invocation
        if invocation is None:
            return
        if subgraphs:
            invocation.stream_subgraphs()
        await plan.started()
        try:
            async with contextlib.aclosing(invocation.events()) as events:
                async for item in events:
                    yield item
        except GraphError:
            await plan.ended(failed=True)
            raise
        await plan.ended(failed=False)

    def stream(
        self,
        input: S | Mapping[str, Any] | Command[Any] | None,
        config: Mapping[str, Any] | None = None,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "updates",
        run_id: str | None = None,
        durability: Durability | None = None,
        subgraphs: bool = False,
    ) -> Iterator[Any]:
        """:meth:`astream` for sync code: each item as it comes, from an event loop in a
        thread of its own. Leaving the loop early cancels the node runs in flight.

        Examples:
            >>> for mode, chunk in app.stream({"query": "AAPL"}, stream_mode=["updates", "values"]):
            ...     print(mode, chunk)
            >>> for namespace, update in app.stream({"query": "AAPL"}, subgraphs=True):
            ...     print(namespace, update)

        Raises:
            ValueError: at once, as :meth:`astream` (a bad mode, or no ``thread_id`` on a
                graph with a checkpointer).
        """
        _stream_modes(stream_mode)  # a bad mode fails here, not in the thread
        _check_durability(durability)
        _threads.thread_of_checked(self, _as_config(config), run_id, input)  # so does a thread
        if not isinstance(subgraphs, bool):
            raise TypeError(f"subgraphs must be True or False, got {subgraphs!r}")
        return _iterate_sync(
            lambda: self.astream(
                input, config, stream_mode=stream_mode, run_id=run_id, durability=durability, subgraphs=subgraphs
            )
        )


Schedule = Literal["ready", "supersteps"]
"""When a compiled graph starts a node: ``"ready"`` (as soon as its inputs exist) or
``"supersteps"`` (LangGraph's supersteps); see :meth:`StateGraph.compile`."""

Durability = Literal["sync", "async", "exit"]
"""LangGraph's ``durability``: when checkpoints are written. ``"exit"`` keeps only the
checkpoint each invocation ends with; ``"sync"`` and ``"async"`` keep them all (each is
written before the invocation goes on). Each node run's result is in the journal before the
next node sees it, whichever is given."""


def _check_durability(durability: Any) -> None:
    if durability not in (None, "sync", "async", "exit"):
        raise ValueError(f"durability must be 'sync', 'async' or 'exit', got {durability!r}")


def _stream_modes(stream_mode: Any) -> tuple[tuple[str, ...], bool]:
    multi = not isinstance(stream_mode, str)
    modes = (stream_mode,) if isinstance(stream_mode, str) else tuple(stream_mode)
    for mode in modes:
        if mode not in STREAM_MODES:
            raise ValueError(
                "stream_mode must be 'updates', 'values', 'custom', 'messages', 'tasks' or "
                f"'debug' (or a list), got {mode!r}"
            )
    check_modes(modes)
    return modes, multi


def _node_function(fn: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """The user's node as the graph calls it: ``(state, context)``; it passes ``config``
    and ``writer`` when the function takes them, makes the node run's stream writer the
    one :func:`get_stream_writer` returns, and leaves the function's own exception in the
    context. A generator stays a generator (its items are streamed and collected).

    The writer is set without being reset: the wrapper runs in its attempt's own context
    (a task's, or a thread job's copy), which nothing else sees.
    """
    takes_config = _takes_config(fn)
    takes_writer = _takes_writer(fn)

    def extras(context: _CallContext) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if takes_config:
            given["config"] = context.config
        if takes_writer:
            given["writer"] = context.writer
        return given

    node: Callable[..., Any]
    if kind == "asyncgen":

        async def run_agen(state: Any, context: _CallContext) -> AsyncGenerator[Any, None]:
            token = _WRITER.set(context.writer)
            scratch = SCRATCH.set(context.scratch())
            runnable = context.enter()
            items = fn(state, **extras(context))
            try:
                async for item in items:
                    yield item
            except GraphInterrupt as paused_at:
                yield paused(paused_at)
            except Exception as exc:
                context.failed(exc)
                raise
            finally:
                await items.aclose()
                _reset_writer(token)
                _reset_scratch(scratch)
                context.leave(runnable)

        node = run_agen
    elif kind == "async":

        async def run_async(state: Any, context: _CallContext) -> Any:
            token = _WRITER.set(context.writer)
            scratch = SCRATCH.set(context.scratch())
            runnable = context.enter()
            try:
                return await fn(state, **extras(context))
            except GraphInterrupt as paused_at:
                return paused(paused_at)
            except Exception as exc:
                context.failed(exc)
                raise
            finally:
                _reset_writer(token)
                _reset_scratch(scratch)
                context.leave(runnable)

        node = run_async
    elif _is_generator_function(fn):

        def run_gen(state: Any, context: _CallContext) -> Iterator[Any]:
            token = _WRITER.set(context.writer)
            scratch = SCRATCH.set(context.scratch())
            runnable = context.enter()
            try:
                yield from fn(state, **extras(context))
            except GraphInterrupt as paused_at:
                yield paused(paused_at)
            except Exception as exc:
                context.failed(exc)
                raise
            finally:
                _reset_writer(token)
                _reset_scratch(scratch)
                context.leave(runnable)

        node = run_gen
    else:

        def run_sync(state: Any, context: _CallContext) -> Any:
            token = _WRITER.set(context.writer)
            scratch = SCRATCH.set(context.scratch())
            runnable = context.enter()
            try:
                return fn(state, **extras(context))
            except GraphInterrupt as paused_at:
                return paused(paused_at)
            except Exception as exc:
                context.failed(exc)
                raise
            finally:
                _reset_writer(token)
                _reset_scratch(scratch)
                context.leave(runnable)

        node = run_sync
    node.__name__ = getattr(fn, "__name__", node.__name__)
    node.__qualname__ = getattr(fn, "__qualname__", node.__qualname__)
    return node


T = TypeVar("T")


def _run_sync(make: Callable[[], Any]) -> Any:
    """``asyncio.run(make())``, or the same in a thread of its own when this thread
    already runs an event loop (a notebook, or an async caller of a sync API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop here: run below, not in this block (or errors chain to this one)
    else:
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = asyncio.run(make())
            except BaseException as exc:
                box["error"] = exc

        # In the caller's context: a graph invoked inside a node finds the node run there.
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(work,), name="skillstream-invoke")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]
    return asyncio.run(make())


_DONE: Any = object()


def _iterate_sync(make: Callable[[], AsyncGenerator[Any, None]]) -> Iterator[Any]:
    """Iterate an async generator from sync code: it runs on a loop in another thread,
    handing items over one at a time; closing the iterator cancels it."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()
    holder: dict[str, Any] = {}

    async def pump() -> None:
        holder["task"] = asyncio.current_task()
        holder["loop"] = asyncio.get_running_loop()
        try:
            async with contextlib.aclosing(make()) as agen:
                async for item in agen:
                    if stop.is_set():
                        return
                    await asyncio.to_thread(items.put, ("item", item))
        except asyncio.CancelledError:
            return
        except BaseException as exc:
            items.put(("error", exc))
            return
        items.put(("done", None))

    # In the caller's context: a graph streamed inside a node finds the node run there.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(lambda: asyncio.run(pump()),), name="skillstream-stream")
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        loop, task = holder.get("loop"), holder.get("task")
        if loop is not None and task is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        while thread.is_alive():  # unblock a pending put, then wait for the clean-up
            with contextlib.suppress(queue.Empty):
                items.get_nowait()
            thread.join(0.01)


def _closure(start: str, succ: dict[str, list[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(succ[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(succ[name])
    return frozenset(seen)


def _reset_scratch(token: contextvars.Token[Any]) -> None:
    with contextlib.suppress(ValueError):
        SCRATCH.reset(token)


def _reset_writer(token: contextvars.Token[Any]) -> None:
    # A node's writer must not outlive it: async nodes run in the run's worker tasks,
    # which await one node after another. A generator closed from another context (at
    # garbage collection) cannot reset, and needs not: that context is not a worker's.
    with contextlib.suppress(ValueError):
        _WRITER.reset(token)


def _input_schema_of(fn: Any, state: Any) -> type[Any] | None:
    """The schema a node's first parameter is annotated with, if it is not the State (as
    LangGraph reads it: a TypedDict, a pydantic model or a dataclass)."""
    try:
        hints = typing.get_type_hints(fn)
        first = next(iter(inspect.signature(fn).parameters))
    except Exception:  # no signature, no parameter, or an annotation that does not resolve
        return None
    hint = hints.get(first)
    if not isinstance(hint, type) or hint is state:
        return None
    is_schema = (
        issubclass(hint, BaseModel) or dataclasses.is_dataclass(hint) or _is_typeddict(hint)
    )
    return hint if is_schema else None
