"""StateGraph: LangGraph's state-graph API, run start-when-ready on the skillstream engine.

Execution model
---------------
A compiled graph is a DAG of nodes over a shared state. An invocation keeps the running
state (the input, then every node's update folded in: with the field's reducer when it
has one, else overwritten) and a small coordinator that decides which nodes run and when.

*When a node is triggered.* START is finished from the outset. When a node finishes with a
value (its own update, or its fallback's), its plain edges trigger their targets, a join
edge ``add_edge([a, b], c)`` triggers ``c`` once every one of its sources has finished with
a value, and each of its routers is called with the state and triggers the nodes it names
(or starts one extra run of a node per ``Send``, which gets the Send's input instead of
the state). A node that is never triggered never runs; it is not "skipped", it was simply
not on the path taken.

*When a triggered node starts.* As soon as no node that is running, or triggered and still
waiting, is one of its ancestors in the graph compile() checked (plain edges, join edges,
and conditional edges whose targets are declared by a ``path_map`` or a ``Literal`` return
annotation). So a node waits for every predecessor that will run -- including one whose
router has not decided yet -- and for nothing else: no supersteps, and an untaken branch,
once decided, is not waited for. It sees the running state at that moment: the input plus
every ancestor's update (and possibly some unrelated node's).

*Where it runs.* Every node run is a :class:`SkillCall` of the node's skill (its timeout,
retry, fallback and executor), keyed by the node's name (``name[i]`` for the i-th Send).
The coordinator is the engine's feeder (:class:`pipeline._engine.Feeder`) for one run:
the engine pulls released node runs from it whenever a slot is free, and tells it each
result the moment it exists, so a node starts when its inputs exist however slowly the
stream is read, and an async router decides beside the run, holding back only the nodes
after it. So the concurrency cap, the deadline, per-node timeouts and retries, failure
isolation, cancellation and clean-up all come from the engine; this module only decides
what to start next (and reports to the engine, as skipped, what never will).

*Failures.* A node run that ends without a value (an error or timeout without fallback)
contributes no update; its descendants in the graph do not run (each one that was
triggered is reported ``skipped`` with ``DependencyFailed``), the rest of the graph runs
on, and the invocation then raises :class:`GraphError` with the partial state and every
result. The run's deadline (``compile(timeout=...)``) works as in :func:`pipeline.run`:
nodes in flight end ``timeout`` (with their fallback if any), nodes not started end
``skipped``, nothing new starts, and the invocation raises :class:`GraphError` if anything
ended without a value. A router that names an unknown node raises
:class:`InvalidGraphError` at once, cancelling what is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Generic, Literal, TypeVar, overload

from ._graph_invocation import StreamMode, _Invocation
from ._graph_routing import END, START, GraphError, InvalidGraphError, Send, _Branch, _literal_targets
from ._graph_state import _Schema
from ._journal import JournalStore, graph_binding, journaled_state, open_store
from ._retry import Retry
from ._skill import _UNSET, Executor, Skill, SkillOptions
from ._stream import check_run_options

__all__ = [
    "END",
    "START",
    "CompiledStateGraph",
    "GraphError",
    "InvalidGraphError",
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

    Unlike LangGraph there are no supersteps: a node starts the moment every predecessor
    that will run has finished. Each node runs at most once per invocation (``Send`` runs
    it once more per Send), so the graph must be a DAG; loops are refused by compile().

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

    Args:
        state_schema: a ``TypedDict`` or a pydantic model class.

    Raises:
        TypeError: if ``state_schema`` is neither.
    """

    def __init__(self, state_schema: type[S]) -> None:
        self._schema = _Schema(state_schema, sys._getframe(1).f_locals)
        self._nodes: dict[str, Skill[Any, Any]] = {}
        self._options: dict[str, SkillOptions] = {}  # per node: timeout, retry, fallback
        self._edges: dict[str, list[str]] = {}  # source -> targets, in the order added
        self._joins: list[tuple[tuple[str, ...], str]] = []
        self._branches: dict[str, list[_Branch]] = {}

    def add_node(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        timeout: float | None = _UNSET,
        retry: Retry | None = _UNSET,
        fallback: Any = _UNSET,
        executor: Executor = _UNSET,
    ) -> StateGraph[S]:
        """Add a node: ``fn(state) -> dict update | None``, run as a skill.

        The options are those of :func:`skill`; for an existing Skill, the ones given
        replace its own. A node whose function fails (after its retries) with a
        ``fallback`` contributes the fallback as its update and the graph flows on; one
        that returns something that is not a dict of State fields fails, fallback or not.

        Examples:
            >>> graph.add_node("stock", fetch_stock, timeout=5, retry=Retry(attempts=3))
            >>> graph.add_node("news", fetch_news, fallback={"news": []})

        Args:
            name: the node's name (also the key of its :class:`SkillResult`).
            fn: a sync or async function taking the state (or a Send's input), or a Skill.
            timeout: seconds each attempt may take; ``None``: no limit.
            retry: a :class:`Retry` policy; ``None``: one attempt.
            fallback: an update to use when the node fails, or a callable taking the
                exception and returning one.
            executor: ``"auto"``, ``"thread"`` or ``"process"``. A process node must be
                a module-level ``@skill(executor="process")`` function, passed as it is
                (workers import it by name; the state and its update must pickle).

        Returns:
            The graph, so that calls can be chained.

        Raises:
            InvalidGraphError: if ``name`` is taken, or is START or END.
            TypeError: if ``name`` is not a non-empty str, or ``fn`` is not callable.
            pydantic.ValidationError: if an option is invalid (the error names the field).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a node's name must be a non-empty str, got {name!r}")
        if name in (START, END):
            which = "START" if name == START else "END"
            raise InvalidGraphError(f"{name!r} is reserved for {which}; choose another node name")
        if name in self._nodes:
            raise InvalidGraphError(f"node {name!r} is already in the graph")
        if not callable(fn):
            raise TypeError(f"node {name!r} needs a function or a Skill, got {fn!r}")
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
        return self

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
        compile() (cycles, reachability) and for scheduling: nodes after a declared router
        wait for it only until it has decided. Without a path_map, the router's return
        annotation is read (``-> Literal["a", "b"]``); failing that its targets are
        unknown, and compile() cannot order the graph's other nodes after them (a node
        triggered after it has already run is an error at run time).

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
        journal: str | os.PathLike[str] | JournalStore | None = None,
    ) -> CompiledStateGraph[S]:
        """Check the graph and freeze it into something that runs.

        Examples:
            >>> app = graph.compile(max_concurrency=5, timeout=30)

        Args:
            max_concurrency: most node runs in flight; ``None`` for no bound.
            timeout: each invocation's deadline in seconds; ``None`` for none.
            journal: a SQLite file path (opened now) or a :class:`~pipeline.Journal`:
                every invocation with a ``run_id`` journals its node runs and its state,
                and one that failed or was killed resumes from its finished nodes when
                invoked again with the same ``run_id`` (``ainvoke(input, run_id=...)``).

        Returns:
            A :class:`CompiledStateGraph`; later changes to this builder do not affect it.

        Raises:
            InvalidGraphError: if an edge names an unknown node, nothing leaves START, the
                graph has a cycle (named, e.g. ``"a -> b -> a"``), or a node cannot be
                reached from START.
            ValueError, TypeError: if ``max_concurrency`` or ``timeout`` is invalid.
            JournalError: if the journal file cannot be used.
        """
        check_run_options(max_concurrency, timeout)
        store = open_store(journal)
        nodes = self._nodes
        for source, targets in self._edges.items():
            for target in targets:
                for name in (source, target):
                    if name not in nodes and name not in (START, END):
                        raise InvalidGraphError(
                            f"edge {_edge_text(source, target)}: {name!r} is not a node"
                        )
        for sources, target in self._joins:
            for name in (*sources, target):
                if name not in nodes and name not in (START, END):
                    raise InvalidGraphError(
                        f"edge {_edge_text(list(sources), target)}: {name!r} is not a node"
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

        # The edges compile() knows: plain, join (each source), declared conditional.
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
        succ = {name: list(dict.fromkeys(targets)) for name, targets in succ.items()}

        if START not in self._edges and START not in self._branches and not any(
            START in sources for sources, _ in self._joins
        ):
            raise InvalidGraphError(
                "the graph has no edge from START; add one with add_edge(START, <first node>)"
            )
        cycle = _find_cycle(list(nodes), succ)
        if cycle is not None:
            raise InvalidGraphError(f"the graph has a cycle: {' -> '.join(cycle)}")
        reached = _reachable(START, succ, undeclared)
        if reached is not None:
            lost = [name for name in nodes if name not in reached]
            if lost:
                names = ", ".join(repr(n) for n in lost)
                raise InvalidGraphError(
                    f"node {names} is unreachable from START"
                    if len(lost) == 1
                    else f"nodes {names} are unreachable from START"
                )
        return CompiledStateGraph(self, succ, max_concurrency, timeout, store)


def _edge_text(start: Any, end: str) -> str:
    return f"{start!r} -> {end!r}"


def _find_cycle(nodes: list[str], succ: dict[str, list[str]]) -> list[str] | None:
    """The first cycle a depth-first search meets, as a path ``[a, b, a]``."""
    white, gray, black = 0, 1, 2
    color = dict.fromkeys(nodes, white)
    for root in nodes:
        if color[root] != white:
            continue
        path = [root]
        color[root] = gray
        stack = [iter(succ[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                color[path.pop()] = black
                continue
            if color[child] == gray:
                return path[path.index(child) :] + [child]
            if color[child] == white:
                color[child] = gray
                path.append(child)
                stack.append(iter(succ[child]))
    return None


def _reachable(start: str, succ: dict[str, list[str]], undeclared: set[str]) -> set[str] | None:
    """Nodes reachable from ``start``; ``None`` (anything) once a router of unknown targets
    is reached, since it may go anywhere."""
    seen = {start}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in undeclared:
            return None
        for child in succ[name]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


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
    ) -> None:
        self.journal = journal
        """Where invocations with a ``run_id`` journal their node runs; ``None``: nowhere."""
        self.max_concurrency = max_concurrency
        """Most node runs in flight; ``None``: no bound."""
        self.timeout = timeout
        """Each invocation's deadline in seconds; ``None``: none."""
        self._schema = graph._schema
        self._nodes = dict(graph._nodes)
        self._options = dict(graph._options)
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
        self._branches = {s: tuple(bs) for s, bs in graph._branches.items()}
        # Ancestors and descendants over the edges compile() knows.
        self._descendants = {name: _closure(name, succ) for name in self._nodes}
        self._ancestors: dict[str, frozenset[str]] = {
            name: frozenset(a for a in self._nodes if name in self._descendants[a])
            for name in self._nodes
        }
        # An ancestor has strictly fewer ancestors than its descendant: sorting by that
        # count (ties in the order added) is a topological order.
        position = {name: i for i, name in enumerate(self._nodes)}
        self._order = tuple(
            sorted(self._nodes, key=lambda n: (len(self._ancestors[n]), position[n]))
        )

    # -- running ---------------------------------------------------------------------------

    async def ainvoke(self, input: S | Mapping[str, Any], *, run_id: str | None = None) -> S:
        """Run the graph on ``input`` and return the final state.

        Examples:
            >>> state = await app.ainvoke({"query": "AAPL"})
            >>> state["briefing"]
            >>> state = await journaled_app.ainvoke({"query": "AAPL"}, run_id="aapl-1")

        Args:
            input: the initial state: a dict of State fields (for a pydantic State, or an
                instance of it). Reducer fields fold it in like any update.
            run_id: with ``compile(journal=...)``: the invocation's name in the journal.
                Invoked again with the same ``run_id`` (and input), the node runs that had
                finished are replayed from the journal, not run.

        Returns:
            The final state: a dict for a TypedDict State, a model instance for a
            pydantic one.

        Raises:
            GraphError: if a node run ended without a value (error or timeout without
                fallback, or skipped: a dependency failed or the deadline came first), or
                a router or reducer raised; with ``.state`` and ``.results``.
            InvalidGraphError: if a router named a node it cannot go to.
            pydantic.ValidationError, TypeError, ValueError: if ``input`` is invalid, or
                ``run_id`` is given without a journal (or missing with one).
            RunInProgress: if a live invocation holds ``run_id``.
        """
        values = self._schema.initial(input)
        invocation = _Invocation(self, values, None)
        invocation.journal = graph_binding(self.journal, run_id)
        async with contextlib.aclosing(invocation.events()) as events:
            async for _ in events:
                pass
        return self._schema.view(invocation.values)  # type: ignore[no-any-return]

    def invoke(self, input: S | Mapping[str, Any], *, run_id: str | None = None) -> S:
        """Run the graph from sync code: :meth:`ainvoke` on a fresh event loop.

        Examples:
            >>> state = app.invoke({"query": "AAPL"})

        Raises:
            RuntimeError: if called where an event loop is running (use ``await
                app.ainvoke(...)`` there).
            GraphError, InvalidGraphError: as :meth:`ainvoke`.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop here: good (run below, not in this block, or every error the
            # graph raises would be chained to this "no running event loop")
        else:
            raise RuntimeError(
                "invoke() cannot run inside a running event loop; use `await graph.ainvoke(...)`"
            )
        return asyncio.run(self.ainvoke(input, run_id=run_id))

    def get_state(self, run_id: str) -> S | None:
        """The state of invocation ``run_id`` as the journal last recorded it.

        Examples:
            >>> app.get_state("aapl-1")["briefing"]

        Returns:
            The state (as :meth:`ainvoke` returns it), or ``None`` if the journal has none.

        Raises:
            ValueError: if the graph was compiled without a journal.
        """
        if self.journal is None:
            raise ValueError("get_state() needs a journal: compile(journal='runs.db')")
        values = journaled_state(self.journal, run_id)
        return None if values is None else self._schema.view(values)

    @overload
    def astream(
        self, input: S | Mapping[str, Any], *, stream_mode: Literal["updates"] = "updates"
    ) -> AsyncGenerator[dict[str, Any], None]: ...
    @overload
    def astream(
        self, input: S | Mapping[str, Any], *, stream_mode: Literal["values"]
    ) -> AsyncGenerator[S, None]: ...
    def astream(
        self, input: S | Mapping[str, Any], *, stream_mode: StreamMode = "updates"
    ) -> AsyncGenerator[Any, None]:
        """Run the graph on ``input``, yielding as each node run finishes (completion order).

        ``stream_mode="updates"`` yields ``{node_name: update}`` (the update as applied;
        ``None`` if the node returned None). ``"values"`` yields the running state after
        each update: a scan over the updates; the last one is the final state. A node run
        that ends without a value yields nothing; once the graph is done the stream raises
        :class:`GraphError` (after every update that was applied). Leaving early cancels
        the node runs in flight: use ``contextlib.aclosing`` (or call ``aclose()``) to
        have that done before you go on, since ``break`` alone closes an async generator
        only when it is garbage collected.

        Examples:
            >>> async with contextlib.aclosing(app.astream({"query": "AAPL"})) as updates:
            ...     async for update in updates:
            ...         print(update)   # {"news": {"news": [...]}}, then {"stock": ...}, ...

        Raises:
            ValueError: at once, if ``stream_mode`` is unknown or ``input`` invalid.
            GraphError, InvalidGraphError: while iterating, as :meth:`ainvoke`.
        """
        if stream_mode not in ("updates", "values"):
            raise ValueError(f"stream_mode must be 'updates' or 'values', got {stream_mode!r}")
        values = self._schema.initial(input)
        return self._astream(values, stream_mode)

    async def _astream(self, values: dict[str, Any], mode: StreamMode) -> AsyncGenerator[Any, None]:
        invocation = _Invocation(self, values, mode)
        async with contextlib.aclosing(invocation.events()) as events:
            async for item in events:
                yield item


def _closure(start: str, succ: dict[str, list[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(succ[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(succ[name])
    return frozenset(seen)


