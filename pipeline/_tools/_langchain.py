"""LangChain tools (``langchain_core.tools.BaseTool``) as skills."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .._core._skill import Skill, SkillOptions
from ._inject import Kind
from ._schema import from_json_schema

if TYPE_CHECKING:
    from .._core._retry import Retry

__all__ = ["skill_from_langchain"]


def skill_from_langchain(tool: Any, *, timeout: float | None = None, retry: Retry | None = None) -> Skill[Any, Any]:
    """A skill calling ``tool.ainvoke(arguments)``, with the tool's name, description
    and argument schema (``tool_call_schema``: what the model fills in, without the
    arguments LangChain injects).

    Raises:
        TypeError: ``tool`` is not a LangChain tool.
    """
    name = getattr(tool, "name", None)
    if not isinstance(name, str) or not hasattr(tool, "ainvoke"):
        raise TypeError(f"skill_from_langchain() takes a LangChain BaseTool, got {tool!r}")
    schema_source = getattr(tool, "tool_call_schema", None) or getattr(tool, "args_schema", None)
    if isinstance(schema_source, dict):
        schema = schema_source
    elif schema_source is not None and hasattr(schema_source, "model_json_schema"):
        schema = schema_source.model_json_schema()
    else:
        schema = {"type": "object", "properties": dict(getattr(tool, "args", {}) or {})}

    injected = _injected(tool)
    call_ids = [name for name, kind in injected if kind == "call_id"]

    async def invoke(**arguments: Any) -> Any:
        if not call_ids:
            return await tool.ainvoke(arguments)
        # LangChain fills an InjectedToolCallId only from a whole tool call, and answers
        # it with a ToolMessage: its content is the value.
        call_id = arguments[call_ids[0]]
        args = {k: v for k, v in arguments.items() if k not in call_ids}
        message = await tool.ainvoke({"type": "tool_call", "name": name, "args": args, "id": call_id})
        return getattr(message, "content", message)

    invoke.__name__ = invoke.__qualname__ = name
    made: Skill[Any, Any] = Skill(invoke, SkillOptions(name=name, timeout=timeout, retry=retry))
    from ._schema import _clean

    args = dataclasses.replace(from_json_schema(_clean(schema), name), injected=injected)
    made._tool_spec = (args, str(getattr(tool, "description", "") or ""))  # type: ignore[attr-defined]
    return made


def _injected(tool: Any) -> tuple[tuple[str, Kind], ...]:
    """The tool's arguments LangChain injects (not in ``tool_call_schema``): the call id
    for ``InjectedToolCallId``, a value of the turn's ``inject`` for the others
    (``InjectedToolArg``, LangGraph's ``InjectedState`` and ``InjectedStore``)."""
    keys = getattr(tool, "_injected_args_keys", None)
    if not keys:
        return ()
    from langchain_core.tools.base import InjectedToolCallId

    fields: Any = tool.get_input_schema().model_fields
    out: list[tuple[str, Kind]] = []
    for name in sorted(keys):
        metadata = getattr(fields.get(name), "metadata", ())
        is_call_id = any(
            m is InjectedToolCallId or isinstance(m, InjectedToolCallId)
            or (isinstance(m, type) and issubclass(m, InjectedToolCallId))
            for m in metadata
        )
        out.append((name, "call_id" if is_call_id else "value"))
    return tuple(out)
