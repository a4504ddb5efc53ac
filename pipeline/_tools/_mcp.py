"""MCP both ways: an MCP server's tools as skills, and a Toolset served as an MCP server.

The ``mcp`` package is imported here only, when one of these is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._core._skill import Skill, SkillOptions
from ._media import _from_mcp
from ._parse import get
from ._schema import ArgsModel, from_json_schema

if TYPE_CHECKING:
    from .._core._retry import Retry
    from ._toolset import Toolset

__all__ = ["MCPToolError", "serve", "skills_from_session"]

_INSTALL = "the MCP tools need the mcp package: pip install 'skillstream[mcp]'"


class MCPToolError(Exception):
    """Raised inside the run when an MCP server answers a tool call with ``isError``;
    the message is the text of its content."""


async def _list_tools(session: Any) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            try:  # mcp >= 2 takes the cursor in params, mcp 1 as an argument
                from mcp.types import PaginatedRequestParams

                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            except (ImportError, TypeError):
                page = await session.list_tools(cursor=cursor)
        tools.extend(get(page, "tools") or ())
        cursor = get(page, "next_cursor") or get(page, "nextCursor")
        if not cursor:
            return tools


def _content_text(content: Any) -> str:
    return "\n".join(str(get(c, "text")) for c in content or () if get(c, "type") == "text")


def _caller(session: Any, name: str) -> Callable[..., Any]:
    async def call_mcp_tool(**arguments: Any) -> Any:
        result = await session.call_tool(name, arguments)
        content = get(result, "content") or []
        if get(result, "is_error", None) or get(result, "isError", None):
            raise MCPToolError(_content_text(content) or f"the MCP tool {name!r} failed")
        structured = get(result, "structured_content", None)
        if structured is None:
            structured = get(result, "structuredContent", None)
        if structured is not None:
            return structured
        if all(get(c, "type") == "text" for c in content):
            return _content_text(content)
        # Images, audio and binary resources as Media (sent on as the provider's
        # blocks), text as text, anything else as its JSON form.
        out: list[Any] = []
        for c in content:
            media = _from_mcp(c)
            if media is not None:
                out.append(media)
            elif get(c, "type") == "text":
                out.append(str(get(c, "text")))
            else:
                out.append(c.model_dump(mode="json", by_alias=True, exclude_none=True) if hasattr(c, "model_dump") else c)
        return out

    call_mcp_tool.__qualname__ = call_mcp_tool.__name__ = name
    return call_mcp_tool


async def skills_from_session(
    session: Any, timeout: float | None, retry: Retry | None, needs_approval: Any = False
) -> list[Skill[Any, Any]]:
    """One skill per tool of the server behind ``session``; ``needs_approval``: a bool
    for every tool, or the names of the tools whose calls wait for a person."""
    skills = []
    tools = await _list_tools(session)
    held: Any = needs_approval
    if not isinstance(needs_approval, bool):
        if isinstance(needs_approval, str) or not all(isinstance(n, str) for n in needs_approval):
            raise TypeError(f"needs_approval must be a bool or a collection of tool names, got {needs_approval!r}")
        names = [str(get(t, "name")) for t in tools]
        unknown = sorted(set(needs_approval) - set(names))
        if unknown:
            raise ValueError(
                f"needs_approval names tools the server does not have: {', '.join(unknown)} "
                f"(its tools: {', '.join(names)})"
            )
        held = frozenset(needs_approval)
    for tool in tools:
        name = str(get(tool, "name"))
        approval = held if isinstance(held, bool) else name in held
        schema = get(tool, "input_schema", None) or get(tool, "inputSchema", None) or {}
        if hasattr(schema, "model_dump"):
            schema = schema.model_dump(by_alias=True, exclude_none=True)
        made: Skill[Any, Any] = Skill(_caller(session, name), SkillOptions(name=name, timeout=timeout, retry=retry, needs_approval=approval))
        args: ArgsModel = from_json_schema(schema, name)
        made._tool_spec = (args, str(get(tool, "description") or ""))  # type: ignore[attr-defined]
        skills.append(made)
    return skills


def _server_class() -> tuple[Any, type[Exception], bool]:
    """The SDK's high-level server class, its ``ToolError``, and whether it is mcp 2's."""
    import importlib

    # mcp 2 names it MCPServer; mcp 1 FastMCP (whose module mcp 2 keeps only to say so).
    for package, name in (("mcp.server.mcpserver", "MCPServer"), ("mcp.server.fastmcp", "FastMCP")):
        try:
            server = getattr(importlib.import_module(package), name)
            errors = importlib.import_module(f"{package}.exceptions")
        except ImportError:
            continue
        tool_error: type[Exception] = errors.ToolError
        return server, tool_error, name == "MCPServer"
    raise ImportError(_INSTALL)


def serve(toolset: Toolset, name: str, settings: Mapping[str, Any]) -> Any:
    """An MCP server whose tools are the toolset's: ``tools/list`` answers
    ``toolset.schemas("mcp")`` and ``tools/call`` goes through ``toolset.call`` and a run,
    so a call is checked, refused and answered as one from a model's response is.

    The SDK's server would make each tool's schema and check its arguments itself, from a
    function's signature: other schemas, other error texts, and a parameter pydantic
    reserves (``model_config``) it cannot take. So the server lists and calls the tools
    itself, and keeps the rest of the SDK's server (transports, settings, the
    ``.run()`` entry point).
    """
    server_class, tool_error, modern = _server_class()
    from mcp import types

    from .._stream._results import run

    calls = 0

    class ToolsetServer(server_class):  # type: ignore[misc, valid-type]
        async def list_tools(self) -> list[Any]:
            return [types.Tool.model_validate(entry) for entry in toolset.schemas("mcp")]

        def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
            # mcp 2's streamable HTTP checks a call's Mcp-Param headers against this.
            return next((s["inputSchema"] for s in toolset.schemas("mcp") if s["name"] == name), None)

        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            nonlocal calls
            calls += 1
            call = toolset.call(f"mcp-{calls}", name, arguments)
            results = await run([call], max_concurrency=1).collect()
            (reply,) = toolset.replies(results, "mcp")
            if modern:
                return types.CallToolResult.model_validate(reply)
            # mcp 1's server takes the content, and makes an error result of an
            # exception's text as it is.
            if reply["isError"]:
                raise tool_error(reply["content"][0]["text"])
            return types.CallToolResult.model_validate(reply).content

    ToolsetServer.__name__ = ToolsetServer.__qualname__ = f"Toolset{server_class.__name__}"
    return ToolsetServer(name, **settings)
