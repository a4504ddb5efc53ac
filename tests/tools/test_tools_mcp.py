"""MCP both ways, over stdio with the mcp SDK, and LangChain tools as skills.

``tests/support/mcp_tools_server.py`` serves a Toolset with ``Toolset.mcp_server`` over stdio; the
tests start it as a subprocess, list and call its tools with the SDK's own client, then
make a Toolset of them with ``Toolset.from_mcp`` and run a model's calls through it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool as langchain_tool
from mcp import ClientSession, StdioServerParameters, stdio_client

from pipeline import Status, Toolset, run

pytestmark = pytest.mark.slow

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_tools_server.py"


# Not a fixture: the SDK's task groups must be left by the task that entered them, and
# pytest-asyncio tears async fixtures down in another task.
@contextlib.asynccontextmanager
async def mcp_session() -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    with open("/dev/null", "w") as quiet:  # the server logs each failed call at INFO
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_a_toolset_served_over_mcp_lists_its_schemas_and_runs_through_skillstream() -> None:
    async with mcp_session() as session:
        await _served(session)


async def _served(session: ClientSession) -> None:
    listed = {t.name: t for t in (await session.list_tools()).tools}
    assert list(listed) == ["add", "distance", "slow", "fail", "configure"]
    assert listed["add"].description == "Add two integers."
    schema = listed["add"].input_schema
    assert schema["properties"]["a"]["description"] == "the first."
    assert schema["properties"]["b"]["default"] == 1
    assert schema["required"] == ["a"]
    assert listed["distance"].input_schema["properties"]["unit"]["enum"] == ["m", "km"]

    ok = await session.call_tool("add", {"a": 2, "b": 40})
    assert (ok.is_error, _text(ok)) == (False, "42")
    model_args = await session.call_tool("distance", {"p": {"x": 0, "y": 0}, "q": {"x": 3, "y": 4}})
    assert json.loads(_text(model_args)) == {"distance": 5.0, "unit": "m"}
    # The skill's own timeout (0.2 s) holds inside the server; the error is the reply text.
    slow = await session.call_tool("slow", {"seconds": 5})
    assert slow.is_error and "Timed out: attempt 1 exceeded the timeout of 0.2 s" in _text(slow)
    failed = await session.call_tool("fail", {"reason": "disk full"})
    assert failed.is_error and "Error: RuntimeError: disk full" in _text(failed)


async def test_the_served_tools_are_what_the_toolset_says_to_a_model() -> None:
    # The server is the Toolset in the test server's file: what it lists is schemas("mcp"),
    # and what it answers to arguments it refuses is what calls() and replies() say.
    sys.path.insert(0, str(SERVER.parent))
    try:
        from mcp_tools_server import TOOLS
    finally:
        sys.path.remove(str(SERVER.parent))
    async with mcp_session() as session:
        listed = [t.model_dump(by_alias=True, exclude_none=True) for t in (await session.list_tools()).tools]
        assert listed == TOOLS.schemas("mcp")

        # model_config, a name pydantic reserves, is served and called like any other.
        configured = await session.call_tool("configure", {"model_config": {"b": 2, "a": "1"}})
        assert (configured.is_error, _text(configured)) == (False, "default: [('a', 1), ('b', 2)]")

        wrong = [
            ("add", {"a": 1, "c": 2}),                     # an argument the tool does not take
            ("add", {"a": "two"}),                          # one that does not fit
            ("add", {}),                                    # a missing one
            ("distance", {"p": {"x": 0, "y": 0, "z": 1}, "q": {"x": 1, "y": 1}}),  # nested
            ("configure", {"model_config": {"a": "x"}, "nme": "n"}),
            ("nowhere", {}),                                # an unknown tool
        ]
        model_calls = TOOLS.calls([
            {"type": "tool_use", "id": f"t{i}", "name": name, "input": arguments}
            for i, (name, arguments) in enumerate(wrong)
        ])
        expected = TOOLS.replies(await run(model_calls).collect(), "anthropic")[0]["content"]
        assert all(block["is_error"] for block in expected)
        for (name, arguments), reply in zip(wrong, expected, strict=True):
            served = await session.call_tool(name, arguments)
            assert served.is_error, (name, arguments)
            assert _text(served) == reply["content"], (name, arguments)
        assert "- c: not an argument of this tool" in expected[0]["content"]
        assert expected[5]["content"].startswith("Unknown tool 'nowhere'.")


async def test_mcp_tools_as_a_toolset_validate_with_the_server_schema() -> None:
    async with mcp_session() as session:
        await _as_toolset(session)


async def _as_toolset(session: ClientSession) -> None:
    tools = await Toolset.from_mcp(session, timeout=5)
    assert tools.names == ["add", "distance", "slow", "fail", "configure"]
    listed = {t.name: t for t in (await session.list_tools()).tools}
    anthropic_schemas = {s["name"]: s for s in tools.schemas("anthropic")}
    assert anthropic_schemas["distance"]["input_schema"] == listed["distance"].input_schema
    assert anthropic_schemas["add"]["description"] == "Add two integers."

    calls = tools.calls([
        {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": "2", "b": 3}},
        {"type": "tool_use", "id": "t2", "name": "distance",
         "input": {"p": {"x": 0, "y": 0}, "q": {"x": 3, "y": "4"}, "unit": "km"}},
        {"type": "tool_use", "id": "t3", "name": "fail", "input": {"reason": "no"}},
        {"type": "tool_use", "id": "t4", "name": "add", "input": {"a": "two"}},
        {"type": "tool_use", "id": "t5", "name": "distance", "input": {"p": {"x": 0}}},
    ])
    # Coerced by the server's schema before the call goes out ("2" -> 2), defaults left
    # to the server.
    assert calls[0].kwargs == {"a": 2, "b": 3}
    results = await run(calls).collect()
    assert [(r.key, r.status) for r in results] == [
        ("t1", Status.SUCCESS), ("t2", Status.SUCCESS), ("t3", Status.ERROR),
        ("t4", Status.ERROR), ("t5", Status.ERROR),
    ]
    assert results["t1"].value == "5"
    assert json.loads(results["t2"].value) == {"distance": 0.005, "unit": "km"}
    assert results["t3"].error is not None and results["t3"].error.type == "MCPToolError"
    assert "disk full" not in results["t3"].error.message and "RuntimeError: no" in results["t3"].error.message
    # t4 and t5 never reached the server: the model reads what to fix.
    assert results["t4"].error is not None and results["t4"].error.message.startswith(
        "Invalid arguments for tool 'add':\n- a: Input should be a valid integer"
    )
    assert results["t5"].error is not None and "- p.y: required, missing" in results["t5"].error.message
    assert "- q: required, missing" in results["t5"].error.message
    replies = tools.replies(results, "anthropic")[0]["content"]
    assert [b.get("is_error", False) for b in replies] == [False, False, True, True, True]


async def test_langchain_tools_become_skills() -> None:
    @langchain_tool
    async def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    tools = Toolset([multiply])
    assert tools.schemas("openai")[0]["function"]["name"] == "multiply"
    assert tools.schemas("openai")[0]["function"]["description"] == "Multiply two integers."
    properties = tools.schemas("openai")[0]["function"]["parameters"]["properties"]
    assert properties == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    calls = tools.calls([
        {"id": "m1", "type": "function", "function": {"name": "multiply", "arguments": '{"a": "6", "b": 7}'}},
        {"id": "m2", "type": "function", "function": {"name": "multiply", "arguments": '{"a": 6}'}},
    ])
    results = await run(calls).collect()
    assert results["m1"].value == 42
    assert results["m2"].status is Status.ERROR
    assert results["m2"].error is not None and "- b: required, missing" in results["m2"].error.message
    with pytest.raises(TypeError, match="takes a LangChain BaseTool"):
        Toolset.skill_from_langchain(42)


def test_without_the_mcp_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("mcp.server.mcpserver", "mcp.server.fastmcp"):
        monkeypatch.setitem(sys.modules, module, None)  # import of it raises ImportError

    @langchain_tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    with pytest.raises(ImportError, match=r"^the MCP tools need the mcp package: pip install 'skillstream\[mcp\]'$"):
        Toolset([echo]).mcp_server("x")
