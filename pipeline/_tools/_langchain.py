"""LangChain tools (``langchain_core.tools.BaseTool``) as skills."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core._skill import Skill, SkillOptions
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

    async def invoke(**arguments: Any) -> Any:
        return await tool.ainvoke(arguments)

    invoke.__name__ = invoke.__qualname__ = name
    made: Skill[Any, Any] = Skill(invoke, SkillOptions(name=name, timeout=timeout, retry=retry))
    from ._schema import _clean

    args = from_json_schema(_clean(schema), name)
    made._tool_spec = (args, str(getattr(tool, "description", "") or ""))  # type: ignore[attr-defined]
    return made
