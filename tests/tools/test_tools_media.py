"""Images and files a tool returns (``Media``), sent back as each provider's blocks.

The round trips use the official ``openai`` and ``anthropic`` clients against the scripted
model on 127.0.0.1, which refuses tool results of shapes the real APIs refuse; MCP both
ways with the mcp SDK over stdio (``tests/support/mcp_media_server.py``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from pipeline import Media, Toolset, run, skill
from tests.support.local_api_loader import load_scripted_model
from tests.support.mcp_media_server import PDF, PNG

sm = load_scripted_model()
ScriptedCall, ScriptedModel, Turn = sm.ScriptedCall, sm.ScriptedModel, sm.Turn

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_media_server.py"
PNG64, PDF64 = base64.b64encode(PNG).decode(), base64.b64encode(PDF).decode()


@skill
async def chart(symbol: str) -> list[Any]:
    """A price chart."""
    return [f"The chart of {symbol}:", Media(PNG, "image/png", "chart.png"), {"points": 1}]


@skill
async def report(symbol: str) -> Media:
    """A report as a PDF."""
    return Media(PDF, "application/pdf", f"{symbol}.pdf")


@skill
async def quote(symbol: str) -> dict[str, float]:
    """A price."""
    return {"price": 1.5}


TOOLS = Toolset([chart, report, quote])


def chat_message() -> dict[str, Any]:
    calls = [("c1", "chart", "AAPL"), ("c2", "report", "AAPL"), ("c3", "quote", "AAPL")]
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": n, "arguments": f'{{"symbol": "{s}"}}'}} for i, n, s in calls
    ]}


# -- the value type ---------------------------------------------------------------------------


def test_media_checks_its_parts_and_reads_files(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^Media data is bytes, not str$"):
        Media("aGk=", "image/png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Media media_type is a type/subtype text such as 'image/png', not 'png'$"):
        Media(PNG, "png")
    (tmp_path / "r.pdf").write_bytes(PDF)
    read = Media.from_path(tmp_path / "r.pdf")
    assert (read.data, read.media_type, read.name) == (PDF, "application/pdf", "r.pdf")
    assert repr(Media(b"abc", "text/plain")) == "Media(<3 bytes>, 'text/plain')"
    (tmp_path / "notes").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"^cannot tell the media type of 'notes'; give media_type=$"):
        Media.from_path(tmp_path / "notes")


# -- the replies ------------------------------------------------------------------------------


async def test_replies_carry_images_and_files_as_each_providers_blocks() -> None:
    results = await run(TOOLS.calls(chat_message())).collect()
    image_b64 = {"type": "base64", "media_type": "image/png", "data": PNG64}
    (anthropic_reply,) = TOOLS.replies(results, "anthropic")
    assert anthropic_reply["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": [
            {"type": "text", "text": "The chart of AAPL:"},
            {"type": "image", "source": image_b64},
            {"type": "text", "text": '{"points":1}'},
        ]},
        {"type": "tool_result", "tool_use_id": "c2", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF64}, "title": "AAPL.pdf"},
        ]},
        {"type": "tool_result", "tool_use_id": "c3", "content": '{"price":1.5}'},
    ]
    assert TOOLS.replies(results, "openai-responses") == [
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "The chart of AAPL:"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG64}"},
            {"type": "input_text", "text": '{"points":1}'},
        ]},
        {"type": "function_call_output", "call_id": "c2", "output": [
            {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF64}", "filename": "AAPL.pdf"},
        ]},
        {"type": "function_call_output", "call_id": "c3", "output": '{"price":1.5}'},
    ]
    cannot = "it cannot be shown here: this API takes text only in tool results."
    assert [r["content"] for r in TOOLS.replies(results, "openai")] == [
        f"The chart of AAPL:\n[The tool returned image/png 'chart.png' ({len(PNG)} bytes); {cannot}]\n{{\"points\":1}}",
        f"[The tool returned application/pdf 'AAPL.pdf' ({len(PDF)} bytes); {cannot}]",
        '{"price":1.5}',
    ]
    assert [r["content"] for r in TOOLS.replies(results, "mcp")] == [
        [{"type": "text", "text": "The chart of AAPL:"}, {"type": "image", "data": PNG64, "mimeType": "image/png"},
         {"type": "text", "text": '{"points":1}'}],
        [{"type": "resource", "resource": {"uri": "attachment://AAPL.pdf", "mimeType": "application/pdf", "blob": PDF64}}],
        [{"type": "text", "text": '{"price":1.5}'}],
    ]


async def test_a_file_anthropic_does_not_take_is_named_in_text_and_plain_text_is_a_document() -> None:
    @skill
    async def export() -> list[Media]:
        """An export."""
        return [Media(b"a,b\n", "text/csv", "t.csv"), Media(b"hello", "text/plain")]

    tools = Toolset([export])
    results = await run([tools.call("x", "export", {})]).collect()
    (reply,) = tools.replies(results, "anthropic")
    assert reply["content"][0]["content"] == [
        {"type": "text", "text": "[The tool returned text/csv 't.csv' (4 bytes); Anthropic takes JPEG, PNG, GIF and WebP images, PDFs and plain text only.]"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
    ]


# -- with the SDKs ----------------------------------------------------------------------------


@pytest.fixture
async def model() -> AsyncIterator[tuple[Any, str]]:
    turn = Turn(calls=[
        ScriptedCall("c1", "chart", {"symbol": "AAPL"}), ScriptedCall("c2", "report", {"symbol": "AAPL"}),
        ScriptedCall("c3", "quote", {"symbol": "AAPL"}),
    ])
    scripted = ScriptedModel([turn, Turn(text="Seen.")])
    async with scripted.serve() as base_url:
        yield scripted, base_url


async def test_anthropic_takes_the_image_and_document_blocks(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": "Chart and report?"}]
        message = await client.messages.create(
            model="scripted", max_tokens=256, messages=messages, tools=TOOLS.schemas("anthropic"),  # type: ignore[arg-type]
        )
        results = await run(TOOLS.calls(message)).collect()
        messages += [{"role": "assistant", "content": message.content}, *TOOLS.replies(results, "anthropic")]
        answer = await client.messages.create(model="scripted", max_tokens=256, messages=messages)
        assert answer.content[0].type == "text" and answer.content[0].text == "Seen."
        blocks = scripted.requests[1][1]["messages"][2]["content"]
        assert [[b["type"] for b in r["content"]] if isinstance(r["content"], list) else "text" for r in blocks] == [
            ["text", "image", "text"], ["document"], "text",
        ]
    finally:
        await client.close()


async def test_openai_responses_takes_input_image_and_input_file_items(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)
    try:
        response = await client.responses.create(
            model="scripted", input="Chart and report?", tools=TOOLS.schemas("openai-responses")  # type: ignore[arg-type]
        )
        results = await run(TOOLS.calls(response)).collect()
        follow_up = [
            {"role": "user", "content": "Chart and report?"}, *TOOLS.calls(response).messages(),
            *TOOLS.replies(results, "openai-responses"),
        ]
        answer = await client.responses.create(model="scripted", input=follow_up)  # type: ignore[arg-type]
        assert answer.output_text == "Seen."
        outputs = [i["output"] for i in scripted.requests[1][1]["input"] if i.get("type") == "function_call_output"]
        assert [[p["type"] for p in o] if isinstance(o, list) else "text" for o in outputs] == [
            ["input_text", "input_image", "input_text"], ["input_file"], "text",
        ]
    finally:
        await client.close()


async def test_chat_completions_gets_text_that_says_what_was_returned(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)
    try:
        messages: list[Any] = [{"role": "user", "content": "Chart and report?"}]
        completion = await client.chat.completions.create(
            model="scripted", messages=messages, tools=TOOLS.schemas("openai")  # type: ignore[arg-type]
        )
        message = completion.choices[0].message
        results = await run(TOOLS.calls(message)).collect()
        messages += [message, *TOOLS.replies(results, "openai")]
        answer = await client.chat.completions.create(model="scripted", messages=messages)
        assert answer.choices[0].message.content == "Seen."
        sent = scripted.requests[1][1]["messages"][2:]
        assert all(isinstance(m["content"], str) for m in sent)
        assert "image/png 'chart.png'" in sent[0]["content"]
    finally:
        await client.close()


async def test_the_scripted_model_refuses_blocks_the_api_refuses(model: tuple[Any, str]) -> None:
    # The checks the round trips above pass are real: a shape the API refuses is refused.
    _, base_url = model
    client = anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0)
    try:
        message = await client.messages.create(
            model="scripted", max_tokens=256, messages=[{"role": "user", "content": "?"}],
            tools=TOOLS.schemas("anthropic"),  # type: ignore[arg-type]
        )
        results = await run(TOOLS.calls(message)).collect()
        (reply,) = TOOLS.replies(results, "anthropic")
        reply["content"][0]["content"][1]["source"]["media_type"] = "image/bmp"
        messages: list[Any] = [
            {"role": "user", "content": "?"}, {"role": "assistant", "content": message.content}, reply,
        ]
        with pytest.raises(anthropic.BadRequestError, match="image media_type must be one of"):
            await client.messages.create(model="scripted", max_tokens=256, messages=messages)
    finally:
        await client.close()
    oai = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0)
    try:
        bad = [
            {"type": "function_call", "call_id": "c9", "name": "chart", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c9", "output": [{"type": "input_image", "image_url": "not a data url"}]},
        ]
        with pytest.raises(openai.BadRequestError, match="input_image needs an image_url"):
            await oai.responses.create(model="scripted", input=bad)  # type: ignore[arg-type]
    finally:
        await oai.close()


# -- MCP both ways ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def mcp_session() -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    with open(os.devnull, "w") as quiet:  # noqa: ASYNC230 (opening /dev/null does not block)
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            yield client


@pytest.mark.slow
async def test_mcp_images_and_files_go_out_and_come_back_as_media() -> None:
    async with mcp_session() as session:
        served = await session.call_tool("chart", {"symbol": "MSFT"})
        assert [c.type for c in served.content] == ["text", "image"]
        assert (served.content[1].data, served.content[1].mime_type) == (PNG64, "image/png")
        pdf = await session.call_tool("report", {"symbol": "MSFT"})
        assert pdf.content[0].type == "resource"
        assert (pdf.content[0].resource.blob, pdf.content[0].resource.mime_type) == (PDF64, "application/pdf")

        # The server's tools as a Toolset: what they return is Media again, and goes on
        # to the next model as its blocks.
        tools = await Toolset.from_mcp(session)
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "m1", "type": "function", "function": {"name": "chart", "arguments": '{"symbol": "MSFT"}'}},
            {"id": "m2", "type": "function", "function": {"name": "report", "arguments": '{"symbol": "MSFT"}'}},
        ]}
        results = await run(tools.calls(message)).collect()
    assert results["m1"].value == ["The chart of MSFT:", Media(PNG, "image/png")]
    assert results["m2"].value == [Media(PDF, "application/pdf", "MSFT.pdf")]
    (reply,) = tools.replies(results, "anthropic")
    assert [b["type"] for b in reply["content"][0]["content"]] == ["text", "image"]
    assert reply["content"][1]["content"][0]["source"]["media_type"] == "application/pdf"
