"""Arguments the model never sees: filled by the application when a tool call runs.

A parameter annotated :class:`ToolContext` (the call's id, the tool's name and the turn's
``context``) or ``Annotated[T, Injected]`` (a value given by the parameter's name) is left
out of every schema and of the validation of the model's arguments; the values come with
each turn (``toolset.calls(response, context=..., inject=...)``), never from the Toolset,
so one Toolset serves many conversations at once.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

__all__ = ["Injected", "InjectionError", "ToolContext", "injected_kind", "injected_values"]

C = TypeVar("C")

Kind = Literal["context", "value", "call_id"]


class _InjectedMarker:
    """The marker of ``Annotated[T, Injected]``."""

    def __repr__(self) -> str:
        return "Injected"


Injected: Any = _InjectedMarker()
"""Marks a tool's parameter as filled by the application, by its name, from the turn's
``inject={...}``; the model never sees it.

Examples:
    >>> @skill
    ... async def orders(status: str, db: Annotated[Database, Injected]) -> list[dict]:
    ...     '''The user's orders with a status.'''
    ...     return await db.orders(status)
    >>> calls = tools.calls(response, inject={"db": database})
"""


@dataclass(frozen=True)
class ToolContext(Generic[C]):
    """What a tool may know of the call that runs it; a parameter annotated
    ``ToolContext`` (or ``ToolContext[MyDeps]``) receives it and is not in the schema.

    Examples:
        >>> @skill
        ... async def remember(fact: str, ctx: ToolContext[Conversation]) -> str:
        ...     '''Keep a fact for later.'''
        ...     ctx.context.facts.append((ctx.call_id, fact))
        ...     return "kept"
        >>> calls = tools.calls(response, context=conversation)
    """

    call_id: str
    """The tool call's id (``result.key``)."""
    tool: str
    """The tool's name, as the model called it."""
    context: C
    """The turn's ``context=`` (``None`` when none was given)."""


class InjectionError(TypeError):
    """Raised inside the run when a tool call needs an injected value the turn did not
    give (``inject={...}`` has no entry of that name); the call ends ``error``."""


def injected_kind(annotation: Any) -> Kind | None:
    """``"context"`` for a ToolContext, ``"value"`` for ``Annotated[T, Injected]``."""
    if typing.get_origin(annotation) is Annotated:
        if any(m is Injected for m in annotation.__metadata__):
            return "value"
        annotation = typing.get_args(annotation)[0]
    if annotation is ToolContext or typing.get_origin(annotation) is ToolContext:
        return "context"
    return None


def injected_values(
    injected: tuple[tuple[str, Kind], ...],
    tool: str,
    call_id: str,
    context: Any,
    inject: Mapping[str, Any] | None,
) -> dict[str, Any] | str:
    """The injected arguments of one call, or why one is missing."""
    out: dict[str, Any] = {}
    for name, kind in injected:
        if kind == "context":
            out[name] = ToolContext(call_id, tool, context)
        elif kind == "call_id":
            out[name] = call_id
        elif inject is not None and name in inject:
            out[name] = inject[name]
        else:
            given = ", ".join(repr(k) for k in inject) if inject else "none"
            return (
                f"tool {tool!r} needs the injected value {name!r}, which this turn does not "
                f"give (given: {given}); pass it with calls(..., inject={{{name!r}: ...}})"
            )
    return out
