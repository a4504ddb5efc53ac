"""Where a graph goes: START, END, Send, conditional edges (routers), and the errors a
graph raises."""

from __future__ import annotations

import inspect
import types
import typing
from collections import abc
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, Literal

from typing_extensions import TypeVar  # with a default (PEP 696); pydantic brings it

from .._core._errors import SkillError
from .._durable._codec import register_type
from .._core._result import Results, SkillResult

__all__ = [
    "END",
    "START",
    "Command",
    "GraphError",
    "GraphRecursionError",
    "InvalidGraphError",
    "InvalidUpdateError",
    "Send",
]

START: Final = "__start__"
"""The virtual node every invocation begins at: ``add_edge(START, "first")``."""
END: Final = "__end__"
"""The virtual node a branch finishes at: ``add_edge("last", END)``, or a router's answer."""


# -- errors --------------------------------------------------------------------------------


class InvalidGraphError(ValueError):
    """Raised when a graph is malformed: by ``add_node`` and ``add_edge`` for misuse they can
    see at once (a duplicate or reserved node name, an edge into START or out of END), by
    ``compile()`` for the rest (unknown nodes in edges, no edge from START), and by a run
    whose router or Command names a node it cannot go to. The message names the problem."""


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


class InvalidUpdateError(GraphError):
    """Raised, as in LangGraph, when updates cannot be applied: two node runs of one step
    wrote the same reducer-less field (give it a reducer: ``Annotated[list, operator.add]``),
    or a node returned something that is not a dict update (nor a :class:`Command`).

    It is a :class:`GraphError`: ``.state`` is the state before the bad update.
    """

    def __init__(
        self,
        message: str,
        *,
        state: Any = None,
        results: Results | None = None,
        result: SkillResult | None = None,
    ) -> None:
        super().__init__(message, state=state, results=results or Results([]), result=result)


class GraphRecursionError(GraphError, RecursionError):
    """Raised, as in LangGraph, when an invocation would run a step beyond its
    ``recursion_limit`` (``config={"recursion_limit": n}``, default 25): an agent loop that
    never reaches END. A node run's step is one more than the steps of the runs that
    triggered it (the first nodes are step 1), so ``n`` bounds the loop's turns.

    It is a :class:`GraphError`: ``.state`` is the state when the limit was reached.

    Examples:
        >>> app.invoke({"messages": []}, {"recursion_limit": 10})
    """

    def __init__(
        self,
        message: str,
        *,
        state: Any = None,
        results: Results | None = None,
        result: SkillResult | None = None,
    ) -> None:
        super().__init__(message, state=state, results=results or Results([]), result=result)


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
        Send(node='research', arg='batteries')
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
        return f"Send(node={self.node!r}, arg={self.arg!r})"  # LangGraph's

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Send):
            return NotImplemented
        return self.node == other.node and self.arg == other.arg

    __hash__ = None  # type: ignore[assignment]  # ``arg`` may be unhashable


N = TypeVar("N", bound=str, default=str)
"""The node names a Command may go to (``Command[Literal["a", "b"]]``); any by default."""


class Command(Generic[N]):
    """What a node may return instead of a dict: an update and where to go next.

    ``goto`` is a node name, END, a :class:`Send`, or a list of them; the targets run as if
    a router had named them, in addition to the node's own edges. Annotate the node with
    ``-> Command[Literal["a", "b"]]`` so that compile() knows where it may go (else it
    is assumed it may go anywhere, and nodes wait for it conservatively). The annotation
    is also checked by mypy: ``goto`` must be one of the names (or END, a Send, a list).

    Examples:
        >>> def agent(state) -> Command[Literal["tools", "__end__"]]:
        ...     return Command(update={"turns": 1}, goto="tools" if state["calls"] else END)
    """

    __slots__ = ("goto", "resume", "update")

    def __init__(
        self, *, update: Any = None, resume: Any = None, goto: N | Send | Sequence[N | Send] = ()
    ) -> None:
        self.update = update
        """A dict update (or a list of ``(key, value)`` pairs); ``None``: no change."""
        self.resume = resume
        """Given as an invocation's input, ``invoke(Command(resume=answer), config)``: what
        the paused :func:`interrupt` returns (or ``{interrupt_id: answer, ...}``)."""
        self.goto: N | Send | Sequence[N | Send] = goto
        """Where to go: a node name, END, a Send, or a list of them."""

    def __repr__(self) -> str:
        # LangGraph's: only what is set.
        parts = [
            f"{k}={v!r}"
            for k, v in (("update", self.update), ("resume", self.resume), ("goto", self.goto))
            if v
        ]
        return f"Command({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Command):
            return NotImplemented
        return bool(
            self.update == other.update and self.goto == other.goto and self.resume == other.resume
        )

    __hash__ = None  # type: ignore[assignment]


register_type(Send, lambda s: {"node": s.node, "arg": s.arg}, lambda f: Send(f["node"], f["arg"]))
register_type(
    Command,
    lambda c: {"update": c.update, "goto": c.goto, "resume": c.resume},
    lambda f: Command(update=f["update"], goto=f["goto"], resume=f.get("resume")),
)


def _command_targets(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """Where a node returning a Command may go, from ``-> Command[Literal[...]]``; ``()``
    if it is not annotated to return a Command; ``None`` if it may go anywhere."""
    target: Any = fn
    for attr in ("fn", "__wrapped__"):
        target = getattr(target, attr, target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        return ()
    ret = hints.get("return")
    found: list[str] = []
    if not _mentions_command(ret, found):
        return ()
    return None if "*" in found else tuple(dict.fromkeys(found))


def _mentions_command(tp: Any, found: list[str]) -> bool:
    if tp is Command:
        found.append("*")
        return True
    origin = typing.get_origin(tp)
    if origin is Command:
        args = typing.get_args(tp)
        if not args or not _collect_literals(args[0], found):
            found.append("*")
        return True
    if origin in (typing.Union, types.UnionType):
        return any([_mentions_command(a, found) for a in typing.get_args(tp)])
    return False


class _Branch:
    """One conditional edge: its router and where it may go."""

    __slots__ = ("declared_by", "mapping", "router", "takes_config", "targets")

    def __init__(
        self,
        router: Callable[..., Any],
        mapping: dict[Any, str] | None,
        targets: tuple[str, ...] | None,
        declared_by: str,
    ) -> None:
        self.router = router
        self.takes_config = _takes_config(router)
        """Whether the router takes ``config`` as LangGraph's may: ``(state, config)``."""
        self.declared_by = declared_by
        """Where ``targets`` come from: "path_map" or "Literal return annotation"."""
        self.mapping = mapping
        """A dict ``path_map``: the router's answers -> node names."""
        self.targets = targets
        """Where it may go (``path_map`` values or a ``Literal`` return annotation);
        ``None`` when unknown: then it is taken to go anywhere."""


def _takes_config(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` has a parameter named ``config`` (LangGraph passes the run's config
    to such a node or router, by that name)."""
    target: Any = getattr(fn, "fn", fn)  # a Skill: its function
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    param = params.get("config")
    return param is not None and param.kind is not inspect.Parameter.POSITIONAL_ONLY


_STREAM_WRITER = Callable[[Any], None]


def _takes_writer(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` has a keyword parameter ``writer`` annotated as LangGraph asks
    (``StreamWriter``, i.e. ``Callable[[Any], None]``, or not at all): LangGraph passes a
    node its stream writer by that name, as :func:`pipeline.get_stream_writer` returns it."""
    target: Any = getattr(fn, "fn", fn)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    param = params.get("writer")
    if param is None or param.kind not in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    ):
        return False
    annotation = param.annotation
    return annotation is inspect.Parameter.empty or annotation == "StreamWriter" or annotation == _STREAM_WRITER


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


