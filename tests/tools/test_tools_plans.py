"""Plans: a response's tool calls taking earlier calls' results (``Toolset(references=True)``),
with the official ``openai`` and ``anthropic`` clients against the scripted model.

Real-time tests: margins are hundreds of milliseconds and the assertions are orderings
(the machine is shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from pipeline import Retry, SkillResult, Status, Toolset, run, skill
from tests.support.local_api_loader import load_scripted_model
from tests.support.sdk_clients import anthropic_client, close_clients, openai_client

pytestmark = pytest.mark.slow

sm = load_scripted_model()
ScriptedCall, ScriptedModel, Turn = sm.ScriptedCall, sm.ScriptedModel, sm.Turn

STARTED: dict[str, float] = {}
ENDED: dict[str, float] = {}
ATTEMPTS: list[str] = []


class City(BaseModel):
    name: str
    population: int
    districts: list[str]


@skill(timeout=5)
async def get_city(name: str) -> City:
    """A city's facts.

    Args:
        name: the city's name.
    """
    STARTED[name] = time.perf_counter()
    await asyncio.sleep(0.1)
    ENDED[name] = time.perf_counter()
    if name == "Atlantis":
        raise LookupError("no city named Atlantis")
    return City(name=name, population={"Paris": 2_100_000, "Lyon": 520_000}.get(name, 1000),
                districts=[f"{name}-{i}" for i in range(1, 4)])


@skill(retry=Retry(attempts=3, backoff=0.0))
def divide(a: float, b: float) -> float:
    """``a`` divided by ``b`` (runs on a thread)."""
    STARTED["divide"] = time.perf_counter()
    ATTEMPTS.append("divide")
    return round(a / b, 3)


@skill
async def total(values: list[int]) -> int:
    """The sum of some numbers."""
    return sum(values)


@skill
async def shout(text: str) -> str:
    """Text in capitals."""
    return text.upper()


TOOLS = Toolset([get_city, divide, total, shout], references=True)

@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    STARTED.clear()
    ENDED.clear()
    ATTEMPTS.clear()
    yield
    await close_clients()


@pytest.fixture(scope="module", autouse=True)
def _warm_sdk_event_types() -> None:
    """The SDKs build their event validators on first use (up to a second on a loaded
    machine): built before the timed streams."""
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


def ref(position: int, path: str | None = None) -> dict[str, Any]:
    return {"result_of": position} if path is None else {"result_of": position, "path": path}


# -- streamed: the dependent call starts the moment its input has a value ----------------------


async def open_chat(base_url: str) -> Any:
    return await openai_client(base_url).chat.completions.create(
        model="scripted", messages=[{"role": "system", "content": TOOLS.reference_instructions()},
                                    {"role": "user", "content": "Paris per Lyon?"}],
        tools=TOOLS.schemas("openai", strict=True), stream=True,  # type: ignore[arg-type]
    )


async def open_responses(base_url: str) -> Any:
    return await openai_client(base_url).responses.create(
        model="scripted", input="Paris per Lyon?", instructions=TOOLS.reference_instructions(),
        tools=TOOLS.schemas("openai-responses", strict=True), stream=True,  # type: ignore[arg-type]
    )


async def open_anthropic(base_url: str) -> Any:
    return await anthropic_client(base_url).messages.create(
        model="scripted", max_tokens=512, system=TOOLS.reference_instructions(),
        messages=[{"role": "user", "content": "Paris per Lyon?"}],
        tools=TOOLS.schemas("anthropic"), stream=True,  # type: ignore[arg-type]
    )


def plan_turn() -> Any:
    # Paris's and Lyon's lookups (0.1 s each) are written by 0.05 s and 0.1 s; the division
    # taking both is written at 0.15 s, before Lyon's lookup ends; a last call at 0.7 s,
    # then 0.4 s more of stream.
    return Turn(text="Planning.", calls=[
        ScriptedCall("p1", "get_city", {"name": "Paris"}, done_at=0.05),
        ScriptedCall("p2", "get_city", {"name": "Lyon"}, done_at=0.1),
        ScriptedCall("p3", "divide", {"a": ref(1, "population"), "b": ref(2, "population")}, done_at=0.15),
        ScriptedCall("p4", "shout", {"text": ref(2, "districts.0")}, done_at=0.7),
    ], tail=0.4)


@pytest.mark.parametrize(
    ("opener", "provider"),
    [(open_chat, "openai"), (open_responses, "openai-responses"), (open_anthropic, "anthropic")],
    ids=["chat-completions", "responses", "anthropic"],
)
async def test_a_streamed_plan_starts_each_call_when_its_inputs_have_values(
    opener: Callable[[str], Any], provider: str
) -> None:
    scripted = ScriptedModel([plan_turn(), Turn(text="Paris has about 4 times Lyon's people.")])
    async with scripted.serve() as base_url:
        stream = await opener(base_url)
        calls = TOOLS.calls_from_stream(stream)
        results = [r async for r in run(calls, max_concurrency=None)]
        times = scripted.streams[0]
        assert times.ended is not None
        by_key = {r.key: r for r in results}
        assert by_key["p3"].value == round(2_100_000 / 520_000, 3)
        assert by_key["p4"].value == "LYON-1"
        # The division started once both lookups had ended, soon after, while the model
        # was still writing (the next call came 0.55 s later; the stream ended after that).
        inputs_done = max(ENDED["Paris"], ENDED["Lyon"])
        assert times.call_done["p3"] <= STARTED["divide"]
        assert inputs_done <= STARTED["divide"] < inputs_done + 0.3
        assert STARTED["divide"] < times.call_done["p4"] < times.ended
        # The division's result came before the stream's end.
        assert [r.key for r in results].index("p3") < [r.key for r in results].index("p4")

        # One reply per call, in the model's order; the server takes them (it refuses a
        # call without its result).
        follow_up = calls.messages() + TOOLS.replies(results, provider)
        if provider == "openai":
            await openai_client(base_url).chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            sent = scripted.requests[1][1]["messages"]
            assert [m["tool_call_id"] for m in sent[2:]] == ["p1", "p2", "p3", "p4"]
            assert sent[4]["content"] == "4.038"
        elif provider == "openai-responses":
            await openai_client(base_url).responses.create(
                model="scripted", input=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            outputs = [i for i in scripted.requests[1][1]["input"] if i.get("type") == "function_call_output"]
            assert [o["call_id"] for o in outputs] == ["p1", "p2", "p3", "p4"]
        else:
            await anthropic_client(base_url).messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}, *follow_up]  # type: ignore[list-item]
            )
            (user_reply,) = scripted.requests[1][1]["messages"][2:]
            assert [b["tool_use_id"] for b in user_reply["content"]] == ["p1", "p2", "p3", "p4"]


async def test_a_streamed_call_that_takes_a_later_calls_result_is_refused_and_the_rest_run() -> None:
    turn = Turn(calls=[
        ScriptedCall("q1", "shout", {"text": ref(2)}, done_at=0.03),
        ScriptedCall("q2", "shout", {"text": "hi"}, done_at=0.06),
    ])
    scripted = ScriptedModel([turn])
    async with scripted.serve() as base_url:
        stream = await open_chat(base_url)
        results = await run(TOOLS.calls_from_stream(stream), max_concurrency=None).collect()
    assert results["q2"].value == "HI"
    assert results["q1"].error is not None and results["q1"].error.type == "ToolCallError"
    assert results["q1"].error.message.startswith(
        "Argument 'text' of call 1 ('shout') takes the result of call 2, which is not among the calls before it"
    )


# -- whole responses: what the model gets wrong, each told --------------------------------------


def mistakes_turn() -> Any:
    return Turn(calls=[
        ScriptedCall("m1", "get_city", {"name": "Paris"}),
        ScriptedCall("m2", "get_city", {"name": "Atlantis"}),                  # fails
        ScriptedCall("m3", "divide", {"a": ref(2, "population"), "b": 2}),     # its input failed
        ScriptedCall("m4", "divide", {"a": ref(20), "b": 2}),                  # no call 20
        ScriptedCall("m5", "shout", {"text": ref(7)}),                         # a later call
        ScriptedCall("m6", "shout", {"text": ref(6)}),                         # itself
        ScriptedCall("m7", "shout", {"text": ref(8)}),                         # 7 -> 8 -> 7
        ScriptedCall("m8", "shout", {"text": ref(7)}),
        ScriptedCall("m9", "divide", {"a": ref(1, "name"), "b": 2}),           # "Paris" is no number
        ScriptedCall("m10", "divide", {"a": ref(1, "mayor"), "b": 2}),         # no such field
        ScriptedCall("m11", "total", {"values": [ref(1, "population"), 5, ref(1, "districts")]}),
        ScriptedCall("m12", "total", {"values": [ref(1, "population"), 5]}),   # path into a list argument
        ScriptedCall("m13", "divide", {"a": ref(1, "population"), "b": "x"}),  # b wrong from the start
    ])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_mistakes_in_a_plan_are_replies_naming_the_calls_and_independent_calls_run_on(provider: str) -> None:
    scripted = ScriptedModel([mistakes_turn(), Turn(text="ok")])
    async with scripted.serve() as base_url:
        if provider == "openai":
            client = openai_client(base_url)
            response: Any = await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}],
                tools=TOOLS.schemas("openai"),  # type: ignore[arg-type]
            )
        else:
            aclient = anthropic_client(base_url)
            response = await aclient.messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}],
                tools=TOOLS.schemas("anthropic"),  # type: ignore[arg-type]
            )
        calls = TOOLS.calls(response)
        results = await run(calls).collect()
        replies = TOOLS.replies(results, provider)
        if provider == "openai":
            said = {r["tool_call_id"]: r["content"] for r in replies}
            await client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "go"}, *calls.messages(), *replies]  # type: ignore[list-item]
            )
        else:
            said = {b["tool_use_id"]: b["content"] for b in replies[0]["content"]}
            assert [b.get("is_error", False) for b in replies[0]["content"]] == [
                False, True, True, True, True, True, True, True, True, True, True, False, True,
            ]
            await aclient.messages.create(
                model="scripted", max_tokens=512, messages=[{"role": "user", "content": "go"}, *calls.messages(), *replies]  # type: ignore[list-item]
            )
    assert list(said) == [f"m{i}" for i in range(1, 14)]
    assert json.loads(said["m1"])["population"] == 2_100_000
    assert said["m2"] == "Error: LookupError: no city named Atlantis"
    assert results["m3"].status is Status.SKIPPED
    assert said["m3"].startswith(
        "Not run: argument 'a' takes the result of call 2 ('get_city', id 'm2'), which failed: "
        "Error: LookupError: no city named Atlantis"
    )
    assert said["m4"].startswith(
        "Argument 'a' of call 4 ('divide') takes the result of call 20, but this response has no call 20 "
        "(its calls are numbered 1 to 13"
    )
    assert said["m5"].startswith(
        "Argument 'text' of call 5 ('shout') takes the result of call 7 ('shout'), which comes after it"
    )
    assert said["m6"].startswith("Argument 'text' of call 6 ('shout') takes the result of call 6, which is itself: a cycle")
    assert "form a cycle (call 7 -> call 8 -> call 7)" in said["m7"]
    assert said["m8"].startswith("Not run: argument 'text' takes the result of call 7 ('shout', id 'm7'), which failed")
    assert said["m9"].startswith(
        "The results call 9 ('divide', id 'm9') takes do not fit its arguments:\n"
        "- a: 'name' of the result of call 1 ('get_city', id 'm1') does not fit: Input should be a valid number"
    )
    assert "expected number" in said["m9"]
    assert said["m10"].startswith(
        "Argument 'a' of call 10 ('divide') takes 'mayor' of the result of call 1 ('get_city', id 'm1'), "
        "but that result has no 'mayor'"
    )
    assert "- values.2: 'districts' of the result of call 1 ('get_city', id 'm1') does not fit" in said["m11"]
    assert said["m12"] == "2100005"
    assert said["m13"].startswith("Invalid arguments for tool 'divide':\n- b: Input should be a valid number")
    # A value that does not fit is not tried again, though divide retries its failures.
    assert ATTEMPTS == []


async def test_a_path_reads_keys_list_items_attributes_and_json_text() -> None:
    calls = TOOLS.calls([
        {"type": "tool_use", "id": "a1", "name": "get_city", "input": {"name": "Lyon"}},
        {"type": "tool_use", "id": "a2", "name": "shout", "input": {"text": ref(1, "districts.-1")}},
        {"type": "tool_use", "id": "a3", "name": "shout", "input": {"text": ref(2)}},
        {"type": "tool_use", "id": "a4", "name": "total", "input": {"values": [ref(1, "population"), ref(1, "population")]}},
    ])
    results = await run(calls).collect()
    assert [results[k].value for k in ("a2", "a3", "a4")] == ["LYON-3", "LYON-3", 1_040_000]


async def test_without_references_a_reference_is_plain_data_and_the_schemas_are_unchanged() -> None:
    plain = Toolset([get_city, divide, total, shout])
    assert "result_of" not in json.dumps(plain.schemas("openai"))
    calls = plain.calls([{"type": "tool_use", "id": "b1", "name": "shout", "input": {"text": ref(1)}}])
    results = await run(calls).collect()
    assert results["b1"].error is not None and "- text: Input should be a valid string" in results["b1"].error.message


# -- schemas ---------------------------------------------------------------------------------


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_strict_schemas_admit_a_reference_wherever_an_argument_goes() -> None:
    import openai.types.chat as oc
    import openai.types.responses as orr

    strict = Toolset([get_city, divide, total, shout], strict=True, references=True)
    chat = strict.schemas("openai")
    responses = strict.schemas("openai-responses")
    TypeAdapter(list[oc.ChatCompletionToolParam]).validate_python(chat)
    TypeAdapter(list[orr.FunctionToolParam]).validate_python(responses)
    for tool in chat:
        parameters = tool["function"]["parameters"]
        assert tool["function"]["strict"] is True
        for node in _walk(parameters):
            if "properties" in node:
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])
            assert not {"default", "title", "oneOf", "allOf"} & set(node)
        for prop in parameters["properties"].values():
            assert {"$ref": "#/$defs/ResultOf"} in prop["anyOf"]
    divide_schema = chat[1]["function"]["parameters"]
    assert divide_schema["properties"]["a"] == {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/ResultOf"}]}
    assert divide_schema["$defs"]["ResultOf"]["required"] == ["result_of", "path"]
    assert divide_schema["$defs"]["ResultOf"]["properties"]["path"]["type"] == ["string", "null"]
    values = chat[2]["function"]["parameters"]["properties"]["values"]["anyOf"][0]
    assert values["items"] == {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/ResultOf"}]}
    # Anthropic's rule for property names holds (no "$"), and a strict call's null path
    # is no path.
    for schema in strict.schemas("anthropic"):
        for node in _walk(schema["input_schema"]):
            for name in node.get("properties", {}):
                assert re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", name)
    assert strict.schemas("mcp")[1]["inputSchema"] == divide_schema


async def test_a_strict_toolset_takes_a_strict_reference() -> None:
    strict = Toolset([get_city, divide], strict=True, references=True)
    calls = strict.calls([
        {"type": "tool_use", "id": "c1", "name": "get_city", "input": {"name": "Paris"}},
        {"type": "tool_use", "id": "c2", "name": "divide",
         "input": {"a": {"result_of": 1, "path": "population"}, "b": {"result_of": 1, "path": None}}},
        {"type": "tool_use", "id": "c3", "name": "divide", "input": {"a": {"result_of": 1, "path": "population"}}},
    ])
    results = await run(calls).collect()
    assert results["c2"].error is not None and "- b: the result of call 1" in results["c2"].error.message
    assert results["c3"].error is not None and "- b: required, missing" in results["c3"].error.message
    assert strict.reference_instructions().count("result_of") >= 2


# -- MCP tools -------------------------------------------------------------------------------

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_tools_server.py"


@contextlib.asynccontextmanager
async def mcp_session() -> AsyncIterator[Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
    with open("/dev/null", "w") as quiet:  # noqa: ASYNC230  (the server logs each failed call)
        async with stdio_client(params, errlog=quiet) as (read, write):  # noqa: SIM117
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


async def test_a_plan_over_mcp_tools() -> None:
    async with mcp_session() as session:
        tools = await Toolset.from_mcp(session, timeout=5, references=True)
        assert "ResultOf" in json.dumps(tools.schemas("mcp")[0]["inputSchema"])
        calls = tools.calls([
            {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 2, "b": 3}},
            {"type": "tool_use", "id": "t2", "name": "distance",
             "input": {"p": {"x": 0, "y": 0}, "q": {"x": 3, "y": 4}}},
            {"type": "tool_use", "id": "t3", "name": "add", "input": {"a": ref(1), "b": 10}},
            {"type": "tool_use", "id": "t4", "name": "add", "input": {"a": ref(2, "distance"), "b": 1}},
            {"type": "tool_use", "id": "t5", "name": "add", "input": {"a": ref(2, "unit")}},
        ])
        results: dict[str, SkillResult] = {r.key: r for r in await run(calls).collect()}
    assert results["t3"].value == "15"  # the server's text "5" is the integer 5
    assert results["t4"].value == "6"
    assert results["t5"].error is not None and "'unit' of the result of call 2 ('distance', id 't2') does not fit" in results["t5"].error.message


@skill
async def count_to(n: int) -> AsyncIterator[int]:
    """The numbers from 0 to n - 1 (a generator: its value is the list of its items)."""
    for i in range(n):
        yield i


async def test_a_generator_tool_takes_and_gives_results() -> None:
    tools = Toolset([count_to, total, shout], references=True)
    calls = tools.calls([
        {"type": "tool_use", "id": "g1", "name": "total", "input": {"values": [1, 2]}},
        {"type": "tool_use", "id": "g2", "name": "count_to", "input": {"n": ref(1)}},
        {"type": "tool_use", "id": "g3", "name": "total", "input": {"values": ref(2)}},
        {"type": "tool_use", "id": "g4", "name": "count_to", "input": {"n": ref(2)}},
    ])
    results = await run(calls).collect()
    assert [results[k].value for k in ("g1", "g2", "g3")] == [3, [0, 1, 2], 3]
    assert results["g4"].error is not None and (
        "- n: the result of call 2 ('count_to', id 'g2') does not fit: Input should be a valid integer"
        in results["g4"].error.message
    )
