"""Toolset with the official ``openai`` and ``anthropic`` clients, against a scripted model.

``examples/servers/scripted_model.py`` serves Chat Completions, the Responses API and Messages on
127.0.0.1 (whole and as server-sent events); the SDK clients point at it by ``base_url``.
Each scripted tool call finishes streaming its arguments at a set time, so the tests can
tell from timestamps that tools start while the model is still writing. Margins are
hundreds of milliseconds: the machine is shared, and these are real-time tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest

from pipeline import SkillResult, Status, Toolset, run, skill
from tests.support.local_api_loader import load_scripted_model
from tests.support.sdk_clients import anthropic_client, close_clients, openai_client

pytestmark = pytest.mark.slow


sm = load_scripted_model()
ScriptedCall, ScriptedModel, Turn = sm.ScriptedCall, sm.ScriptedModel, sm.Turn

STARTED: dict[str, float] = {}


@skill(timeout=2)
async def quote(symbol: str, delay: float = 0.05) -> dict[str, Any]:
    """A stock's last price.

    Args:
        symbol: the ticker.
        delay: seconds the lookup takes.
    """
    STARTED[symbol] = time.perf_counter()
    await asyncio.sleep(delay)
    return {"symbol": symbol, "price": 100.0 + len(symbol)}


@skill(timeout=0.1)
async def slow_report(symbol: str) -> str:
    """A report that takes longer than its timeout."""
    STARTED["report"] = time.perf_counter()
    await asyncio.sleep(5)
    return "never"


TOOLS = Toolset([quote, slow_report])


def first_turn() -> Any:
    """Two good calls, one with arguments of the wrong type, an unknown tool, a timeout."""
    return Turn(text="Let me look.", calls=[
        ScriptedCall("call_a", "quote", {"symbol": "AAPL"}, done_at=0.05),
        ScriptedCall("call_b", "quote", {"symbol": "MSFT", "delay": "0.01"}, done_at=0.1),
        ScriptedCall("call_c", "quote", {"symbol": ["not", "a", "string"]}, done_at=0.15),
        ScriptedCall("call_d", "get_news", {"q": "Apple"}, done_at=0.2),
        ScriptedCall("call_e", "slow_report", {"symbol": "AAPL"}, done_at=0.25),
    ])


def check_first_turn(results: list[SkillResult]) -> None:
    by_key = {r.key: r for r in results}
    assert {k: r.status for k, r in by_key.items()} == {
        "call_a": Status.SUCCESS, "call_b": Status.SUCCESS, "call_c": Status.ERROR,
        "call_d": Status.ERROR, "call_e": Status.TIMEOUT,
    }
    assert by_key["call_b"].value == {"symbol": "MSFT", "price": 104.0}  # "0.01" coerced
    assert by_key["call_c"].error is not None and by_key["call_c"].error.message.startswith(
        "Invalid arguments for tool 'quote':\n- symbol: Input should be a valid string"
    )
    assert by_key["call_d"].error is not None and by_key["call_d"].error.message == (
        "Unknown tool 'get_news'. The tools are: quote, slow_report. Call one of them by its exact name."
    )
    assert [r.name for r in sorted(results, key=lambda r: r.key)] == [
        "quote", "quote", "quote", "get_news", "slow_report"
    ]


@pytest.fixture
async def model() -> AsyncIterator[tuple[Any, str]]:
    scripted = ScriptedModel([first_turn(), Turn(text="AAPL is at 104.")])
    async with scripted.serve() as base_url:
        yield scripted, base_url


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_clients()


# -- whole responses ------------------------------------------------------------------------


async def test_openai_chat_completion_round_trip(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = openai_client(base_url)
    messages: list[Any] = [{"role": "user", "content": "How is Apple doing?"}]
    completion = await client.chat.completions.create(
        model="scripted", messages=messages, tools=TOOLS.schemas("openai")  # type: ignore[arg-type]
    )
    assert scripted.requests[0][1]["tools"] == TOOLS.schemas("openai")
    message = completion.choices[0].message
    results = await run(TOOLS.calls(message)).collect()
    check_first_turn(list(results))

    replies = TOOLS.replies(results, "openai")
    messages += [message, *replies]  # the SDK's own message object goes back as it is
    answer = await client.chat.completions.create(model="scripted", messages=messages)
    assert answer.choices[0].message.content == "AAPL is at 104."
    sent = scripted.requests[1][1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "tool", "tool", "tool"]
    assert [m["tool_call_id"] for m in sent[2:]] == ["call_a", "call_b", "call_c", "call_d", "call_e"]
    assert sent[2]["content"] == '{"symbol":"AAPL","price":104.0}'
    assert sent[6]["content"] == "Timed out: attempt 1 exceeded the timeout of 0.1 s"


async def test_openai_responses_round_trip(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = openai_client(base_url)
    response = await client.responses.create(
        model="scripted", input="How is Apple doing?", tools=TOOLS.schemas("openai-responses")  # type: ignore[arg-type]
    )
    results = await run(TOOLS.calls(response)).collect()
    check_first_turn(list(results))
    follow_up = [
        {"role": "user", "content": "How is Apple doing?"},
        *[item.model_dump(exclude_none=True) for item in response.output],
        *TOOLS.replies(results, "openai-responses"),
    ]
    answer = await client.responses.create(model="scripted", input=follow_up)  # type: ignore[arg-type]
    assert answer.output_text == "AAPL is at 104."
    sent = scripted.requests[1][1]["input"]
    outputs = [item for item in sent if item.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == ["call_a", "call_b", "call_c", "call_d", "call_e"]


async def test_anthropic_message_round_trip(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    client = anthropic_client(base_url)
    messages: list[Any] = [{"role": "user", "content": "How is Apple doing?"}]
    message = await client.messages.create(
        model="scripted", max_tokens=512, messages=messages, tools=TOOLS.schemas("anthropic")  # type: ignore[arg-type]
    )
    results = await run(TOOLS.calls(message)).collect()
    check_first_turn(list(results))
    replies = TOOLS.replies(results, "anthropic")
    messages += [{"role": "assistant", "content": message.content}, *replies]
    answer = await client.messages.create(model="scripted", max_tokens=512, messages=messages)
    assert answer.content[0].type == "text" and answer.content[0].text == "AAPL is at 104."
    (user_reply,) = scripted.requests[1][1]["messages"][2:]
    assert user_reply["role"] == "user"
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in user_reply["content"]] == [
        ("call_a", False), ("call_b", False), ("call_c", True), ("call_d", True), ("call_e", True)
    ]


# -- streams: tools start while the model still writes ---------------------------------------


def streamed_turn() -> Any:
    # quote A's arguments complete at 0.05 s, B's 0.3 s later, then 0.3 s more of stream.
    return Turn(text="Looking up both.", calls=[
        ScriptedCall("s1", "quote", {"symbol": "AAA", "delay": 0.05}, done_at=0.05),
        ScriptedCall("s2", "quote", {"symbol": "BBBB", "delay": 0.05}, done_at=0.35),
    ], tail=0.3)


Opener = Callable[[str, Toolset], Any]


@pytest.fixture(scope="module", autouse=True)
def _warm_sdk_event_types() -> None:
    """The SDKs build their event validators on first use, blocking the loop for up to a
    second on a loaded machine (the Responses API's union of ~50 events): build them
    before the timed streams, as any long-lived agent already has."""
    from anthropic.types import RawMessageStreamEvent
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk
    from openai.types.responses import ResponseStreamEvent

    construct_type(type_=ResponseStreamEvent, value={"type": "response.output_text.delta", "item_id": "x",
                                                    "output_index": 0, "content_index": 0, "delta": "",
                                                    "sequence_number": 0})
    construct_type(type_=ChatCompletionChunk, value={"id": "x", "object": "chat.completion.chunk",
                                                    "created": 0, "model": "m", "choices": []})
    construct_type(type_=RawMessageStreamEvent, value={"type": "message_stop"})


async def open_chat(base_url: str, tools: Toolset) -> Any:
    return await openai_client(base_url).chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "go"}],
        tools=tools.schemas("openai"), stream=True,  # type: ignore[arg-type]
    )


async def open_responses(base_url: str, tools: Toolset) -> Any:
    return await openai_client(base_url).responses.create(
        model="scripted", input="go", tools=tools.schemas("openai-responses"), stream=True,  # type: ignore[arg-type]
    )


async def open_anthropic(base_url: str, tools: Toolset) -> Any:
    return await anthropic_client(base_url).messages.create(
        model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}],
        tools=tools.schemas("anthropic"), stream=True,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("opener", "provider"),
    [(open_chat, "openai"), (open_responses, "openai-responses"), (open_anthropic, "anthropic")],
    ids=["chat-completions", "responses", "anthropic"],
)
async def test_a_streamed_response_starts_each_tool_when_its_arguments_complete(
    opener: Opener, provider: str
) -> None:
    scripted = ScriptedModel([streamed_turn(), Turn(text="AAA 103, BBBB 104.")])
    async with scripted.serve() as base_url:
        STARTED.clear()
        texts: list[tuple[float, str]] = []
        stream = await opener(base_url, TOOLS)
        calls = TOOLS.calls_from_stream(stream, on_text=lambda t: texts.append((time.perf_counter(), t)))
        results = [r async for r in run(calls, max_concurrency=None)]
        times = scripted.streams[0]
        assert times.ended is not None

        # Each tool started once its own arguments were complete, before the next call's
        # were (0.3 s apart), and both before the stream ended (0.3 s later).
        assert times.call_done["s1"] <= STARTED["AAA"] < times.call_done["s2"]
        assert times.call_done["s2"] <= STARTED["BBBB"] < times.ended
        # The first result was there while the model was still writing the second call.
        assert [r.key for r in results] == ["s1", "s2"]
        assert texts and texts[0][0] < STARTED["AAA"]
        assert "".join(t for _, t in texts) == calls.text == "Looking up both."
        assert calls.provider == provider
        assert calls.finish_reason in ("tool_calls", "completed", "tool_use")

        # The assistant's turn and the replies go back in the next request.
        follow_up = calls.messages() + TOOLS.replies(results, provider)
        if provider == "openai":
            client = openai_client(base_url)
            await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            sent = scripted.requests[1][1]["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
            assert [c["id"] for c in sent[1]["tool_calls"]] == ["s1", "s2"]
            assert sent[2] == {"role": "tool", "tool_call_id": "s1", "content": '{"symbol":"AAA","price":103.0}'}
        elif provider == "openai-responses":
            client = openai_client(base_url)
            await client.responses.create(model="scripted", input=[{"role": "user", "content": "go"}, *follow_up])  # type: ignore[list-item]
            sent = scripted.requests[1][1]["input"]
            assert [i.get("type", i.get("role")) for i in sent] == [
                "user", "assistant", "function_call", "function_call", "function_call_output", "function_call_output"
            ]
        else:
            aclient = anthropic_client(base_url)
            await aclient.messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            sent = scripted.requests[1][1]["messages"]
            assert sent[1] == {"role": "assistant", "content": [
                {"type": "text", "text": "Looking up both."},
                {"type": "tool_use", "id": "s1", "name": "quote", "input": {"symbol": "AAA", "delay": 0.05}},
                {"type": "tool_use", "id": "s2", "name": "quote", "input": {"symbol": "BBBB", "delay": 0.05}},
            ]}
            assert [b["tool_use_id"] for b in sent[2]["content"]] == ["s1", "s2"]


async def test_the_anthropic_stream_helper_works_too() -> None:
    scripted = ScriptedModel([streamed_turn()])
    async with scripted.serve() as base_url:
        STARTED.clear()
        client = anthropic_client(base_url)
        async with client.messages.stream(
            model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}],
            tools=TOOLS.schemas("anthropic"),  # type: ignore[arg-type]
        ) as stream:
            texts: list[str] = []
            calls = TOOLS.calls_from_stream(stream, on_text=texts.append)
            results = await run(calls, max_concurrency=None).collect()
        assert [r.value for r in results] == [
            {"symbol": "AAA", "price": 103.0}, {"symbol": "BBBB", "price": 104.0}
        ]
        # The helper's derived "text" events are not counted twice.
        assert "".join(texts) == "Looking up both."
        assert STARTED["AAA"] < scripted.streams[0].call_done["s2"]


async def test_streamed_invalid_and_unknown_calls_are_errors_and_the_others_run() -> None:
    turn = Turn(calls=[
        ScriptedCall("x1", "quote", '{"symbol": "AAA", ', done_at=0.02),  # never closed
        ScriptedCall("x2", "nope", {"a": 1}, done_at=0.04),
        ScriptedCall("x3", "quote", {"symbol": "CC"}, done_at=0.06),
    ])
    scripted = ScriptedModel([turn])
    async with scripted.serve() as base_url:
        stream = await open_chat(base_url, TOOLS)
        results = await run(TOOLS.calls_from_stream(stream), max_concurrency=None).collect()
    by_key = {r.key: r for r in results}
    assert {k: r.status for k, r in by_key.items()} == {
        "x1": Status.ERROR, "x2": Status.ERROR, "x3": Status.SUCCESS
    }
    # The unclosed object runs into the next call's text: invalid JSON, said so.
    assert by_key["x1"].error is not None and "are not valid JSON" in by_key["x1"].error.message


async def test_the_run_deadline_closes_the_model_stream() -> None:
    turn = Turn(calls=[
        ScriptedCall("d1", "quote", {"symbol": "AAA"}, done_at=0.05),
        ScriptedCall("d2", "quote", {"symbol": "BBB"}, done_at=3.0),
    ], tail=3.0)
    scripted = ScriptedModel([turn])
    async with scripted.serve() as base_url:
        stream = await open_chat(base_url, TOOLS)
        begun = time.perf_counter()
        results = await run(TOOLS.calls_from_stream(stream), max_concurrency=None, timeout=0.4).collect()
        took = time.perf_counter() - begun
        assert [(r.key, r.status) for r in results] == [("d1", Status.SUCCESS)]
        assert took < 2.0  # the stream would last 6 s: the deadline ended it
        assert stream.response.is_closed


@pytest.mark.parametrize(
    ("opener", "provider"),
    [(open_chat, "openai"), (open_responses, "openai-responses"), (open_anthropic, "anthropic")],
    ids=["chat-completions", "responses", "anthropic"],
)
async def test_a_call_cut_short_by_the_deadline_still_gets_its_reply(opener: Opener, provider: str) -> None:
    # d2's arguments are still streaming (ten pieces over 3 s) when the run's deadline comes.
    turn = Turn(calls=[
        ScriptedCall("d1", "quote", {"symbol": "AAA"}, done_at=0.05),
        ScriptedCall("d2", "quote", {"symbol": "BBB"}, done_at=3.0),
    ], tail=3.0, pieces=10)
    scripted = ScriptedModel([turn, Turn(text="AAA is at 103; BBB was not looked up.")])
    async with scripted.serve() as base_url:
        stream = await opener(base_url, TOOLS)
        calls = TOOLS.calls_from_stream(stream)
        results = await run(calls, max_concurrency=None, timeout=0.6).collect()
        assert [(r.key, r.status) for r in results] == [("d1", Status.SUCCESS)]
        follow_up = calls.messages() + TOOLS.replies(results, provider)
        # The server refuses (400) a history with a tool call and no result: d2 has one.
        if provider == "openai":
            answer = await openai_client(base_url).chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            assert answer.choices[0].message.content == "AAA is at 103; BBB was not looked up."
            sent = scripted.requests[1][1]["messages"]
            assert [c["id"] for c in sent[1]["tool_calls"]] == ["d1", "d2"]
            assert [(m["tool_call_id"], m["content"][:8]) for m in sent[2:]] == [("d1", '{"symbol'), ("d2", "Not run:")]
        elif provider == "openai-responses":
            reply = await openai_client(base_url).responses.create(
                model="scripted", input=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            assert reply.output_text == "AAA is at 103; BBB was not looked up."
            outputs = [i for i in scripted.requests[1][1]["input"] if i.get("type") == "function_call_output"]
            assert [(o["call_id"], o["output"][:8]) for o in outputs] == [("d1", '{"symbol'), ("d2", "Not run:")]
        else:
            message = await anthropic_client(base_url).messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            assert message.content[0].type == "text"
            (user_reply,) = scripted.requests[1][1]["messages"][2:]
            assert [(b["tool_use_id"], b.get("is_error", False)) for b in user_reply["content"]] == [
                ("d1", False), ("d2", True)
            ]


async def test_the_scripted_model_refuses_a_tool_call_without_its_result() -> None:
    scripted = ScriptedModel([])
    async with scripted.serve() as base_url:
        with pytest.raises(openai.BadRequestError, match="tool calls without a result: c9"):
            await openai_client(base_url).chat.completions.create(model="scripted", messages=[
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c9", "type": "function", "function": {"name": "quote", "arguments": "{}"}}]},
            ])


async def test_the_turn_of_a_whole_response_goes_back_from_calls_messages(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    for provider in ("openai", "openai-responses", "anthropic"):
        scripted.script.extendleft([Turn(text="done"), first_turn()])
        before = len(scripted.requests)
        if provider == "openai":
            client = openai_client(base_url)
            completion = await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}], tools=TOOLS.schemas("openai")  # type: ignore[arg-type]
            )
            calls = TOOLS.calls(completion)
            results = await run(calls).collect()
            await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}, *calls.messages(), *TOOLS.replies(results, provider)]  # type: ignore[list-item]
            )
            assert calls.messages() == [completion.choices[0].message.model_dump(exclude_none=True)]
        elif provider == "openai-responses":
            client = openai_client(base_url)
            response = await client.responses.create(model="scripted", input="go", tools=TOOLS.schemas(provider))  # type: ignore[arg-type]
            calls = TOOLS.calls(response)
            results = await run(calls).collect()
            await client.responses.create(
                model="scripted", input=[{"role": "user", "content": "go"}, *calls.messages(), *TOOLS.replies(results, provider)]  # type: ignore[list-item]
            )
        else:
            aclient = anthropic_client(base_url)
            message = await aclient.messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}], tools=TOOLS.schemas(provider)  # type: ignore[arg-type]
            )
            calls = TOOLS.calls(message)
            results = await run(calls).collect()
            await aclient.messages.create(
                model="scripted", max_tokens=512,
                messages=[{"role": "user", "content": "go"}, *calls.messages(), *TOOLS.replies(results, provider)]  # type: ignore[list-item]
            )
        assert len(scripted.requests) == before + 2  # the follow-up was accepted


@pytest.mark.parametrize(
    ("opener", "provider"),
    [(open_responses, "openai-responses"), (open_anthropic, "anthropic")],
    ids=["responses", "anthropic"],
)
async def test_a_streamed_turn_keeps_its_reasoning(opener: Opener, provider: str) -> None:
    turn = Turn(reasoning="Two symbols: look both up.", text="Looking.", calls=[
        ScriptedCall("r1", "quote", {"symbol": "AAA"}, done_at=0.02),
        ScriptedCall("r2", "quote", {"symbol": "BB"}, done_at=0.04),
    ])
    scripted = ScriptedModel([turn, Turn(text="ok")])
    async with scripted.serve() as base_url:
        stream = await opener(base_url, TOOLS)
        calls = TOOLS.calls_from_stream(stream)
        results = await run(calls, max_concurrency=None).collect()
        follow_up = calls.messages() + TOOLS.replies(results, provider)
        if provider == "anthropic":
            await anthropic_client(base_url).messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            sent = scripted.requests[1][1]["messages"][1]
            assert sent["content"][0] == {
                "type": "thinking", "thinking": "Two symbols: look both up.", "signature": "sig:.pu htob kool :slobmys owT"
            }
            assert [b["type"] for b in sent["content"]] == ["thinking", "text", "tool_use", "tool_use"]
        else:
            await openai_client(base_url).responses.create(
                model="scripted", input=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            sent = scripted.requests[1][1]["input"]
            assert [i.get("type", i.get("role")) for i in sent] == [
                "user", "reasoning", "assistant", "function_call", "function_call",
                "function_call_output", "function_call_output",
            ]
            assert sent[1]["encrypted_content"] == "enc:.pu htob kool :slobmys owT"
            assert sent[1]["summary"] == [{"type": "summary_text", "text": "Two symbols: look both up."}]
