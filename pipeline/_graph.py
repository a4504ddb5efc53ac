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
import inspect
import sys
import types
import typing
from collections import Counter, abc, deque
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Annotated, Any, Final, Generic, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ._errors import DeadlineExceeded, DependencyFailed, SkillError
from ._result import ErrorInfo, Results, SkillResult, Status
from ._retry import Retry
from ._engine import Run
from ._skill import _UNSET, NO_FALLBACK, Executor, Skill, SkillCall, SkillOptions
from ._stream import ResultStream, check_run_options

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

START: Final = "__start__"
"""The virtual node every invocation begins at: ``add_edge(START, "first")``."""
END: Final = "__end__"
"""The virtual node a branch finishes at: ``add_edge("last", END)``, or a router's answer."""

StreamMode = Literal["updates", "values"]


# -- errors --------------------------------------------------------------------------------


class InvalidGraphError(ValueError):
    """Raised when a graph is malformed: by ``add_node`` and ``add_edge`` for misuse they can
    see at once (a duplicate or reserved node name, an edge into START or out of END), by
    ``compile()`` for the rest (unknown nodes in edges, a cycle, nodes unreachable from
    START, no edge from START), and by a run whose router names a node it cannot go to.
    The message names the problem (a cycle as ``"a -> b -> a"``)."""


class GraphError(SkillError):
    """Raised by ``ainvoke``, ``invoke`` and ``astream`` when an invocation did not complete:
    a node run ended without a value (an error or timeout without fallback, a node skipped
    because its dependency failed or the deadline came), or a router or reducer raised.

    Attributes:
        state: the partial state: the input plus every update applied before the end.
        results: a :class:`Results` of every node run's :class:`SkillResult`, in the order
            they were started (``results["node"]`` looks one up; Send runs are ``"node[i]"``).
        result: the first run that ended without a value, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        state: Any,
        results: Results,
        result: SkillResult | None = None,
    ) -> None:
        super().__init__(message, result=result, results=results)
        self.state = state


# -- Send ----------------------------------------------------------------------------------


class Send:
    """A router's order to run ``node`` once more, on ``arg`` instead of the state.

    Returning a list of Sends from a router is a dynamic fan-out (map): one run of the node
    per Send, all at once (within ``max_concurrency``). Their updates are folded into the
    state like any other, so a reducer field gathers them (reduce), and the node's
    successors start once every run has finished.

    Examples:
        >>> def fan_out(state):
        ...     return [Send("research", topic) for topic in state["topics"]]
        >>> Send("research", "batteries")
        Send('research', 'batteries')
    """

    __slots__ = ("arg", "node")

    def __init__(self, node: str, arg: Any) -> None:
        if not isinstance(node, str) or not node:
            raise TypeError(f"Send() needs a node name, got {node!r}")
        self.node = node
        """The node to run."""
        self.arg = arg
        """What the node's function gets instead of the state."""

    def __repr__(self) -> str:
        return f"Send({self.node!r}, {self.arg!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Send):
            return NotImplemented
        return self.node == other.node and self.arg == other.arg

    __hash__ = None  # type: ignore[assignment]  # ``arg`` may be unhashable


# -- the state's schema --------------------------------------------------------------------


def _is_typeddict(tp: Any) -> bool:
    # typing.is_typeddict is False for typing_extensions.TypedDict before 3.13, which
    # LangGraph's users (and pydantic < 3.12) use; typing_extensions knows both.
    try:
        import typing_extensions
    except ImportError:  # pydantic depends on it, but do not make it ours
        return typing.is_typeddict(tp)
    return typing_extensions.is_typeddict(tp) or typing.is_typeddict(tp)


class _Schema:
    """What the graph knows about its State type: fields, reducers, validators."""

    def __init__(self, state_type: type[Any], localns: Mapping[str, Any] | None = None) -> None:
        self.type = state_type
        self.name = getattr(state_type, "__name__", repr(state_type))
        self.is_model = isinstance(state_type, type) and issubclass(state_type, BaseModel)
        if not self.is_model and not _is_typeddict(state_type):
            raise TypeError(
                f"StateGraph() takes a TypedDict or a pydantic model class, got {state_type!r}"
            )
        self.reducers: dict[str, Callable[[Any, Any], Any]] = {}
        self.empty: dict[str, Callable[[], Any]] = {}  # a reducer field's starting value
        self.adapters: dict[str, TypeAdapter[Any]] = {}
        if self.is_model:
            self._inspect_model(state_type)
        else:
            self._inspect_typeddict(state_type, localns)

    def _inspect_typeddict(self, state_type: type[Any], localns: Mapping[str, Any] | None) -> None:
        try:
            hints = typing.get_type_hints(state_type, include_extras=True)
        except NameError:
            # A TypedDict defined in a function, under `from __future__ import annotations`,
            # names that function's locals: look there too, as pydantic does for models.
            try:
                hints = typing.get_type_hints(
                    state_type, localns=dict(localns or {}), include_extras=True
                )
            except Exception as exc:
                raise TypeError(f"cannot resolve the annotations of {self.name}: {exc}") from exc
        except Exception as exc:
            raise TypeError(f"cannot resolve the annotations of {self.name}: {exc}") from exc
        self.fields = tuple(hints)
        for name, hint in hints.items():
            if typing.get_origin(hint) is Annotated:
                reducer = _reducer_in(hint.__metadata__)
                if reducer is not None:
                    self.reducers[name] = reducer
                    # As LangGraph does: a reducer field starts from its type's empty
                    # value, so the first update is folded too (list() + [x]).
                    base = typing.get_origin(hint.__origin__) or hint.__origin__
                    if isinstance(base, type):
                        with contextlib.suppress(Exception):
                            base()
                            self.empty[name] = base

    def _inspect_model(self, state_type: type[BaseModel]) -> None:
        self.fields = tuple(state_type.model_fields)
        config = state_type.model_config
        adapter_config = ConfigDict(
            arbitrary_types_allowed=config.get("arbitrary_types_allowed", False),
            strict=config.get("strict", False),
        )
        for name, info in state_type.model_fields.items():
            reducer = _reducer_in(tuple(info.metadata))
            if reducer is not None:
                # A reducer's update need not have the field's type (append one item to
                # a list): it is not validated; the folded value is the reducer's affair.
                self.reducers[name] = reducer
                continue
            # One adapter per field, built once, so an update is validated field by field
            # without rebuilding the whole model after every node.
            with contextlib.suppress(Exception):
                self.adapters[name] = TypeAdapter(
                    Annotated[info.annotation, info],  # type: ignore[arg-type]
                    config=adapter_config,
                )

    def initial(self, value: Any) -> dict[str, Any]:
        """The running state for an invocation's input.

        Raises:
            pydantic.ValidationError: for a pydantic State, if the input does not validate.
            TypeError, ValueError: for a TypedDict State, if the input is not a mapping or
                has a key that is not a field.
        """
        if self.is_model:
            model = value if isinstance(value, self.type) else self.type.model_validate(value)
            return {name: getattr(model, name) for name in self.fields}
        if not isinstance(value, Mapping):
            raise TypeError(f"the input must be a mapping of {self.name} fields, got {value!r}")
        self._check_keys(value, "the input")
        values = {name: make() for name, make in self.empty.items()}
        self.apply(values, value)
        return values

    def _check_keys(self, update: Mapping[Any, Any], what: str) -> None:
        unknown = [k for k in update if k not in self.fields]
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise ValueError(
                f"{what} has {'an unknown field' if len(unknown) == 1 else 'unknown fields'} "
                f"{names}; {self.name} has {', '.join(map(repr, self.fields))}"
            )

    def check_update(self, node: str, value: Any) -> dict[str, Any] | None:
        """A node's return value as an update, validated; ``None`` for no change."""
        if value is None:
            return None
        if self.is_model and isinstance(value, self.type):
            value = {k: getattr(value, k) for k in value.model_fields_set}
        if not isinstance(value, Mapping):
            raise TypeError(
                f"node {node!r} returned {type(value).__name__} {_short(value)}; "
                f"a node returns a dict of {self.name} fields to update, or None"
            )
        self._check_keys(value, f"the update of node {node!r}")
        update = dict(value)
        for key, item in update.items():
            adapter = self.adapters.get(key)
            if adapter is not None:
                try:
                    update[key] = adapter.validate_python(item)
                except ValidationError as exc:
                    raise ValueError(
                        f"node {node!r} set {key!r} to an invalid value: "
                        f"{exc.errors(include_url=False)[0]['msg']} (got {_short(item)})"
                    ) from None
        return update

    def apply(self, values: dict[str, Any], update: Mapping[str, Any]) -> None:
        """Fold ``update`` into ``values``: reducer fields with their reducer, others set."""
        for key, item in update.items():
            reducer = self.reducers.get(key)
            if reducer is not None and key in values:
                values[key] = reducer(values[key], item)
            else:
                values[key] = item

    def view(self, values: dict[str, Any]) -> Any:
        """A snapshot of the running state, as the user's type: a dict, or a model."""
        if self.is_model:
            # Every value has been validated on its way in: no need to validate again.
            return self.type.model_construct(**values)
        return dict(values)


def _reducer_in(metadata: tuple[Any, ...]) -> Callable[[Any, Any], Any] | None:
    """The last two-argument callable in ``Annotated`` metadata, as LangGraph reads it."""
    for item in reversed(metadata):
        if callable(item) and not isinstance(item, type):
            try:
                signature = inspect.signature(item)
            except (TypeError, ValueError):  # some builtins have none: trust them
                return item  # type: ignore[no-any-return]
            params = list(signature.parameters.values())
            positional = [
                p
                for p in params
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            if len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params):
                return item  # type: ignore[no-any-return]
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the builder ---------------------------------------------------------------------------


class _Branch:
    """One conditional edge: its router and where it may go."""

    __slots__ = ("declared_by", "mapping", "router", "targets")

    def __init__(
        self,
        router: Callable[[Any], Any],
        mapping: dict[Any, str] | None,
        targets: tuple[str, ...] | None,
        declared_by: str,
    ) -> None:
        self.router = router
        self.declared_by = declared_by
        """Where ``targets`` come from: "path_map" or "Literal return annotation"."""
        self.mapping = mapping
        """A dict ``path_map``: the router's answers -> node names."""
        self.targets = targets
        """Where it may go (``path_map`` values or a ``Literal`` return annotation);
        ``None`` when unknown: then compile() cannot order anything after this edge."""


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
        self, *, max_concurrency: int | None = 10, timeout: float | None = None
    ) -> CompiledStateGraph[S]:
        """Check the graph and freeze it into something that runs.

        Examples:
            >>> app = graph.compile(max_concurrency=5, timeout=30)

        Args:
            max_concurrency: most node runs in flight; ``None`` for no bound.
            timeout: each invocation's deadline in seconds; ``None`` for none.

        Returns:
            A :class:`CompiledStateGraph`; later changes to this builder do not affect it.

        Raises:
            InvalidGraphError: if an edge names an unknown node, nothing leaves START, the
                graph has a cycle (named, e.g. ``"a -> b -> a"``), or a node cannot be
                reached from START.
            ValueError, TypeError: if ``max_concurrency`` or ``timeout`` is invalid.
        """
        check_run_options(max_concurrency, timeout)
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
        return CompiledStateGraph(self, succ, max_concurrency, timeout)


def _edge_text(start: Any, end: str) -> str:
    return f"{start!r} -> {end!r}"


def _literal_targets(router: Callable[..., Any]) -> tuple[str, ...] | None:
    """The node names in a router's ``Literal[...]`` return annotation, if that is all it
    says (``Literal["a", "b"]``, ``list[Literal["a", "b"]]``, unions of them); else None."""
    for target in (router, getattr(router, "__call__", None)):
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # unresolvable names, or not a function at all
            continue
        if "return" in hints:
            found: list[str] = []
            return tuple(dict.fromkeys(found)) if _collect_literals(hints["return"], found) else None
    return None


_CONTAINERS = (list, tuple, set, frozenset, abc.Sequence, abc.Iterable, abc.Collection)


def _collect_literals(tp: Any, found: list[str]) -> bool:
    origin = typing.get_origin(tp)
    args = tuple(a for a in typing.get_args(tp) if a is not Ellipsis)
    if origin is Literal:
        found.extend(a for a in args if isinstance(a, str))
        return all(isinstance(a, str) for a in args)
    if origin in (typing.Union, types.UnionType) or origin in _CONTAINERS:
        return bool(args) and all(_collect_literals(a, found) for a in args)
    return False


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
    ) -> None:
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

    async def ainvoke(self, input: S | Mapping[str, Any]) -> S:
        """Run the graph on ``input`` and return the final state.

        Examples:
            >>> state = await app.ainvoke({"query": "AAPL"})
            >>> state["briefing"]

        Args:
            input: the initial state: a dict of State fields (for a pydantic State, or an
                instance of it). Reducer fields fold it in like any update.

        Returns:
            The final state: a dict for a TypedDict State, a model instance for a
            pydantic one.

        Raises:
            GraphError: if a node run ended without a value (error or timeout without
                fallback, or skipped: a dependency failed or the deadline came first), or
                a router or reducer raised; with ``.state`` and ``.results``.
            InvalidGraphError: if a router named a node it cannot go to.
            pydantic.ValidationError, TypeError, ValueError: if ``input`` is invalid.
        """
        values = self._schema.initial(input)
        invocation = _Invocation(self, values, None)
        async with contextlib.aclosing(invocation.events()) as events:
            async for _ in events:
                pass
        return self._schema.view(invocation.values)  # type: ignore[no-any-return]

    def invoke(self, input: S | Mapping[str, Any]) -> S:
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
        return asyncio.run(self.ainvoke(input))

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


# -- one invocation ------------------------------------------------------------------------

# What the coordinator knows of a node (its normal run; Send runs are counted apart).
_PENDING, _STARTED, _DONE, _FAILED, _SKIPPED = range(5)
_STATE: Any = object()  # "give the node the state" (not a Send's input)


class _Invocation:
    """One run of a compiled graph: the running state and the coordinator's book-keeping.

    It is the run's :class:`~pipeline._engine.Feeder`: the engine pulls ready node runs
    from it when a slot frees, and tells it every result the moment the result exists
    (on the loop, before the consumer sees it), so the next nodes are released at once,
    not when the consumer gets round to them. A node that cannot run is reported to the
    engine as skipped, so it is a result of the run like any other.
    """

    def __init__(self, graph: CompiledStateGraph[Any], values: dict[str, Any], mode: StreamMode | None) -> None:
        self.graph = graph
        self.schema = graph._schema
        self.values = values
        self.mode = mode
        self.run: Run | None = None
        self.calls: deque[SkillCall[Any]] = deque()  # released, waiting for a slot
        self.outbox: deque[Any] = deque()  # stream items made by on_result, for the consumer
        self.status: dict[str, int] = {}
        self.pending: set[str] = set()  # triggered, waiting for an ancestor
        self.in_flight: dict[str, str] = {}  # key -> node, handed to the run
        self.live: Counter[str] = Counter()  # node -> runs pending or in flight
        self.finished: set[str] = {START}  # nodes with a run that ended with a value
        self.blocked: dict[str, SkillResult] = {}  # node -> the failed ancestor's result
        self.results: list[SkillResult] = []
        self.skipping: set[str] = set()  # keys reported skipped through the engine
        self.skipped: list[tuple[str, str, Exception, float]] = []  # after the run ended
        self.sends: Counter[str] = Counter()
        self.routing: set[asyncio.Task[Any]] = set()  # async routers deciding
        self.error: Exception | None = None  # an async router's failure before the run
        self.source_ended = False
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()

    async def events(self) -> AsyncGenerator[Any, None]:
        """Run the invocation, yielding per ``mode`` (nothing for ``None``) as nodes finish."""
        try:
            self._fire(START)
            while self.routing:  # START's async routers decide before anything runs
                await asyncio.wait(set(self.routing))
            if self.error is not None:
                raise self.error
            self._release()
            self._end_source_if_idle()
            stream = ResultStream._fed(
                lambda: self, max_concurrency=self.graph.max_concurrency, timeout=self.graph.timeout
            )
            # `async with`: leaving this generator early (or an error below) cancels and
            # awaits every node run in flight before the exception or the close goes on.
            async with stream:
                async for _ in stream:
                    outbox = self.outbox
                    while outbox:
                        yield outbox.popleft()
        finally:
            for task in self.routing:
                task.cancel()
        self._after_run()

    # -- the Feeder protocol -----------------------------------------------------------------

    def attach(self, run: Run) -> None:
        self.run = run
        if self.source_ended:
            run.feeder_done()

    def pull(self) -> SkillCall[Any] | None:
        return self.calls.popleft() if self.calls else None

    def on_result(self, result: SkillResult) -> None:
        key = result.key
        if key in self.skipping:  # a skip this invocation reported: already accounted for
            self.skipping.discard(key)
            self.results.append(result)
            return
        node = self.in_flight.pop(key)
        self.live[node] -= 1
        normal = key == node
        update = None
        if result.has_value:
            try:
                update = self.schema.check_update(node, result.value)
            except (TypeError, ValueError) as exc:
                # Not an update: a bug in the node (or its fallback), which fails it; the
                # fallback is for what the node calls, not for this.
                result = result.model_copy(
                    update={
                        "status": Status.ERROR if result.ok else result.status,
                        "value": None,
                        "fallback_used": False,
                        "error": ErrorInfo.of(exc),
                    }
                )
        self.results.append(result)
        if result.has_value:
            if update:
                try:
                    self.schema.apply(self.values, update)
                except Exception as exc:
                    raise self._error(
                        f"a reducer raised {type(exc).__name__}: {exc} "
                        f"(folding the update of {key!r})"
                    ) from exc
            if normal:
                self.status[node] = _DONE
            self.finished.add(node)
            if self.mode == "updates":
                self.outbox.append({node: update})
            elif self.mode == "values":
                self.outbox.append(self.schema.view(self.values))
            self._fire(node)
        else:
            if normal:
                self.status[node] = _FAILED
            for descendant in self.graph._descendants[node]:
                self.blocked.setdefault(descendant, result)
        self._release()
        self._end_source_if_idle()
        if self.calls and self.run is not None:
            self.run.wake()  # every free slot, not only the one this result frees

    def _trigger(self, node: str, origin: str) -> None:
        status = self.status.get(node)
        if status is None:
            self.status[node] = _PENDING
            self.pending.add(node)
            self.live[node] += 1
        elif status in (_STARTED, _DONE, _FAILED):
            raise InvalidGraphError(
                f"{node!r} was triggered by {origin!r} after it had started; a node runs at "
                f"most once per invocation. Give the conditional edges on the way a path_map "
                f"so that compile() orders {node!r} after {origin!r} (or refuses the loop)"
            )
        # _PENDING: already waiting; _SKIPPED: already reported.

    def _release(self) -> None:
        """Hand the run every pending node with no live ancestor; skip the blocked ones."""
        if not self.pending:
            return
        live = {name for name, count in self.live.items() if count}
        ancestors = self.graph._ancestors
        for node in self.graph._order:  # ancestors first: a skip may free a descendant
            if node not in self.pending:
                continue
            failed = self.blocked.get(node)
            if failed is not None:
                self.pending.discard(node)
                self.status[node] = _SKIPPED
                self.live[node] -= 1
                if not self.live[node]:
                    live.discard(node)
                self._skip(node, node, _dependency_failed(failed))
            elif ancestors[node].isdisjoint(live):
                self.pending.discard(node)
                self.status[node] = _STARTED
                self._submit(node, node, _STATE)

    def _submit(self, node: str, key: str, arg: Any) -> None:
        # The snapshot is taken now: the input plus every ancestor's update.
        value = self.schema.view(self.values) if arg is _STATE else arg
        self.in_flight[key] = node
        call = SkillCall(self.graph._nodes[node], (value,), {}, key=key, options=self.graph._options[node])
        call._opaque = True  # the state is data: never scanned for dependencies
        self.calls.append(call)

    def _send(self, source: str, send: Send) -> None:
        node = send.node
        key = f"{node}[{self.sends[node]}]"
        self.sends[node] += 1
        failed = self.blocked.get(node)
        if failed is not None:
            self._skip(node, key, _dependency_failed(failed))
            return
        self.live[node] += 1
        self._submit(node, key, send.arg)

    def _skip(self, node: str, key: str, exc: Exception) -> None:
        run = self.run
        if run is None or run.closed:  # no run to report it to (any more)
            self.skipped.append((node, key, exc, self.loop.time() - self.t0))
            return
        # A node that never runs gets its fallback no more than an untaken branch does.
        options = self.graph._options[node].model_copy(update={"fallback": NO_FALLBACK})
        call = SkillCall(self.graph._nodes[node], (None,), {}, key=key, options=options)
        call._opaque = True
        self.skipping.add(key)
        run.skipped(call, exc)

    def _end_source_if_idle(self) -> None:
        if not self.source_ended and not self.routing and not any(self.live.values()):
            self.source_ended = True
            if self.run is not None:
                self.run.feeder_done()

    def _fire(self, node: str) -> None:
        """``node`` finished with a value: trigger what its edges and routers point to."""
        graph = self.graph
        for target in graph._edges.get(node, ()):
            self._trigger(target, node)
        for sources in graph._joins_by_source.get(node, ()):
            if all(source in self.finished for source in sources):
                for target in graph._join_targets[sources]:
                    self._trigger(target, node)
        for branch in graph._branches.get(node, ()):
            self._route(node, branch)

    def _route(self, source: str, branch: _Branch) -> None:
        try:
            answer = branch.router(self.schema.view(self.values))
        except Exception as exc:
            raise self._router_failed(source, exc) from exc
        if not inspect.isawaitable(answer):
            self._follow(source, branch, answer)
            return
        # An async router decides while the rest of the graph runs on; until it has, the
        # invocation is not idle, and its targets' ancestors count as live.
        self.live[source] += 1
        task = asyncio.ensure_future(answer)
        self.routing.add(task)
        task.add_done_callback(lambda t: self._routed(source, branch, t))

    def _routed(self, source: str, branch: _Branch, task: asyncio.Future[Any]) -> None:
        self.routing.discard(task)
        self.live[source] -= 1
        if task.cancelled():
            return
        try:
            exc = task.exception()
            if exc is not None:
                raise self._router_failed(source, exc) from exc  # type: ignore[arg-type]
            self._follow(source, branch, task.result())
            self._release()
            self._end_source_if_idle()
        except Exception as failure:
            if self.run is None:
                self.error = self.error or failure
            else:
                self.run.fail(failure)
            return
        if self.run is not None:
            self.run.wake()

    def _router_failed(self, source: str, exc: Exception) -> GraphError:
        return self._error(f"the router of {source!r} raised {type(exc).__name__}: {exc}")

    def _follow(self, source: str, branch: _Branch, answer: Any) -> None:
        items = list(answer) if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
        for item in items:
            if isinstance(item, Send):
                self._check_target(source, branch, item.node, item)
                self._send(source, item)
                continue
            target = item
            if branch.mapping is not None:
                try:
                    target = branch.mapping[item]
                except (KeyError, TypeError):
                    raise InvalidGraphError(
                        f"the router of {source!r} returned {item!r}, which is not a key of "
                        f"its path_map {branch.mapping!r}"
                    ) from None
            elif not isinstance(item, str):
                raise InvalidGraphError(
                    f"the router of {source!r} returned {_short(answer)}; a router returns a "
                    f"node name, END, a Send, or a list of them"
                )
            self._check_target(source, branch, target, None)
            if target != END:
                self._trigger(target, source)

    def _check_target(self, source: str, branch: _Branch, target: str, send: Send | None) -> None:
        what = repr(send) if send is not None else repr(target)
        if branch.targets is not None and target not in branch.targets:
            raise InvalidGraphError(
                f"the router of {source!r} returned {what}, which is not in its "
                f"{branch.declared_by} {list(branch.targets)!r}"
            )
        if target not in self.graph._nodes and (target != END or send is not None):
            raise InvalidGraphError(
                f"the router of {source!r} returned {what}, but {target!r} is not a node "
                f"of the graph"
            )

    # -- the end -----------------------------------------------------------------------------

    def _after_run(self) -> None:
        """The run is over: report what never ran (the deadline), raise if anything failed."""
        if any(self.live.values()):
            # The run ended with work left: only its deadline does that.
            timeout = self.graph.timeout
            exc = DeadlineExceeded(
                f"the run's deadline of {timeout:g} s was reached"
                if timeout is not None
                else "the run ended before this node could start"
            )
            for key, node in self.in_flight.items():  # handed over, never taken
                self._skip(node, key, exc)
            for node in self.graph._order:
                if node in self.pending:
                    self._skip(node, node, exc)
            self.in_flight.clear()
            self.pending.clear()
            self.live.clear()
        results = self._all_results()
        failed = [r for r in results if not r.has_value]
        if failed:
            described = "; ".join(
                f"{r.key} ({r.status.value}: {r.error.type}: {r.error.message})"
                if r.error
                else f"{r.key} ({r.status.value})"
                for r in failed
            )
            raise GraphError(
                f"{len(failed)} of {len(results)} node runs ended without a value: {described}",
                state=self.schema.view(self.values),
                results=results,
                result=failed[0],
            )

    def _all_results(self) -> Results:
        # Runs never handed to the engine get results too, numbered after the others.
        index = max((r.index for r in self.results), default=-1) + 1
        made = []
        for node, key, exc, at in self.skipped:
            made.append(
                SkillResult(
                    name=self.graph._nodes[node].name,
                    key=key,
                    index=index,
                    status=Status.SKIPPED,
                    error=ErrorInfo.of(exc),
                    finished_at=at,
                )
            )
            index += 1
        return Results(self.results + made)

    def _error(self, message: str) -> GraphError:
        results = self._all_results()
        return GraphError(message, state=self.schema.view(self.values), results=results)


def _dependency_failed(failed: SkillResult) -> DependencyFailed:
    return DependencyFailed(f"dependency {failed.key!r} ended {failed.status.value}")
