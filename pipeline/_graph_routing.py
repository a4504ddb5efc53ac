"""Where a graph goes: START, END, Send, conditional edges (routers), and the errors a
graph raises."""

from __future__ import annotations

import types
import typing
from collections import abc
from collections.abc import Callable
from typing import Any, Final, Literal

from ._errors import SkillError
from ._result import Results, SkillResult

__all__ = ["END", "START", "GraphError", "InvalidGraphError", "Send"]

START: Final = "__start__"
"""The virtual node every invocation begins at: ``add_edge(START, "first")``."""
END: Final = "__end__"
"""The virtual node a branch finishes at: ``add_edge("last", END)``, or a router's answer."""


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


