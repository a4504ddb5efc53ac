"""Toolset without a network: schemas, reading tool calls, validation, replies, duplicates.

The SDKs' own types check the shapes (pydantic TypeAdapters over openai's and anthropic's
request TypedDicts, their response models built from dicts), so a format drifting from
what the SDK sends fails here; ``test_tools_sdk.py`` sends them over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import datetime as dt
import json
from typing import Annotated, Any, Literal

import anthropic.types as at
import openai.types.chat as oc
import openai.types.responses as orr
import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline import Retry, Status, Toolset, run, skill
from pipeline._tools._parse import StreamParser, _ObjectEnd
from pipeline._tools._schema import from_json_schema, parse_docstring


class Location(BaseModel):
    city: str
    country: str = "FR"


@dataclasses.dataclass
class Reading:
    when: dt.date
    celsius: float


@skill(timeout=5)
async def get_weather(
    where: Location,
    units: Literal["c", "f"] = "c",
    days: Annotated[int, Field(ge=1, le=7, description="how many days ahead")] = 1,
) -> Reading:
    """The weather forecast for a place.

    Uses the local forecast service.

    Args:
        where: the place.
        units: the temperature units,
            Celsius or Fahrenheit.
        days: ignored, the Annotated description wins.
    """
    return Reading(dt.date(2024, 5, 1), 21.5)


@skill
def add(a: int, b: int = 2, /) -> int:
    """Add two integers."""
    return a + b


@skill(idempotent=True)
async def lookup(symbol: str, exchange: str = "NASDAQ") -> dict[str, Any]:
    """Look a symbol up."""
    LOOKUPS.append(symbol)
    await asyncio.sleep(0)
    return {"symbol": symbol, "exchange": exchange}


LOOKUPS: list[str] = []
WEATHER = "The weather forecast for a place.\n\nUses the local forecast service."


@skill(timeout=0.05)
async def hang() -> str:
    """Never answers in time."""
    await asyncio.sleep(10)
    return "late"


@skill(retry=Retry(attempts=2, backoff=0.001))
async def broken(why: str) -> str:
    """Always fails."""
    raise ValueError(why)


TOOLS = Toolset([get_weather, add, lookup, hang, broken])


def chat_message(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ],
    }


# -- schemas -------------------------------------------------------------------------------


def test_a_schema_comes_from_the_signature_and_the_docstring() -> None:
    (weather, *_) = TOOLS.schemas("openai")
    assert weather["type"] == "function"
    function = weather["function"]
    assert function["name"] == "get_weather"
    assert function["description"] == WEATHER
    assert function["parameters"] == {
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Location": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "country": {"default": "FR", "type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            }
        },
        "properties": {
            "where": {"$ref": "#/$defs/Location", "description": "the place."},
            "units": {
                "default": "c",
                "description": "the temperature units, Celsius or Fahrenheit.",
                "enum": ["c", "f"],
                "type": "string",
            },
            "days": {
                "default": 1,
                "description": "how many days ahead",
                "maximum": 7,
                "minimum": 1,
                "type": "integer",
            },
        },
        "required": ["where"],
    }


def test_every_provider_gets_its_own_shape_and_the_sdk_types_accept_it() -> None:
    chat = TOOLS.schemas("openai")
    responses = TOOLS.schemas("openai-responses")
    claude = TOOLS.schemas("anthropic")
    mcp = TOOLS.schemas("mcp")
    TypeAdapter(list[oc.ChatCompletionToolParam]).validate_python(chat)
    TypeAdapter(list[orr.FunctionToolParam]).validate_python(responses)
    TypeAdapter(list[at.ToolParam]).validate_python(claude)
    parameters = chat[0]["function"]["parameters"]
    assert responses[0] == {
        "type": "function", "name": "get_weather", "description": WEATHER,
        "parameters": parameters, "strict": False,
    }
    assert claude[0] == {"name": "get_weather", "description": WEATHER,
                         "input_schema": parameters}
    assert mcp[0] == {"name": "get_weather", "description": WEATHER,
                      "inputSchema": parameters}
    assert [s["name"] for s in claude] == TOOLS.names == ["get_weather", "add", "lookup", "hang", "broken"]
    # Each call gives the caller its own copy.
    parameters["properties"].clear()
    assert TOOLS.schemas("openai")[0]["function"]["parameters"]["properties"]


def test_bad_input_fails_clearly() -> None:
    with pytest.raises(ValueError, match=r"^unknown provider 'gemini'; use one of 'openai', 'openai-responses', 'anthropic', 'mcp'$"):
        TOOLS.schemas("gemini")
    with pytest.raises(ValueError, match=r"^unknown provider 'claude'"):
        TOOLS.replies([], "claude")
    with pytest.raises(ValueError, match=r"^two tools are named 'add'"):
        Toolset([add, add])

    @skill
    def varargs(*numbers: int) -> int:
        return sum(numbers)

    with pytest.raises(TypeError, match=r"^tool 'varargs': a model sends named arguments, so \*numbers cannot be filled"):
        Toolset([varargs])
    with pytest.raises(TypeError, match=r"^calls\(\) takes a model's response: .* got int$"):
        TOOLS.calls(42)
    with pytest.raises(TypeError, match="takes skills, functions or LangChain tools"):
        Toolset([42])  # type: ignore[list-item]


def test_docstrings_give_the_whole_description_and_the_args_lines() -> None:
    doc = """Search the web.
    Fast.

    Long explanation, sent too.

    Args:
        query (str): what to look for,
            in plain words.
        *limit: at most this many.

    Note:
        Be brief.

    Returns:
        hits.
    """
    assert parse_docstring(doc) == (
        "Search the web.\nFast.\n\nLong explanation, sent too.\n\nNote: Be brief.",
        {"query": "what to look for, in plain words.", "limit": "at most this many."},
    )
    assert parse_docstring(None) == ("", {})


def test_numpy_and_sphinx_docstrings_give_their_parameters_and_no_field_leaks() -> None:
    numpy = """Search the web.

    Only public pages.

    Parameters
    ----------
    query : str
        what to look for,
        in plain words.
    limit : int
        at most this many.

    Returns
    -------
    list
        hits.
    """
    sphinx = """Search the web.
    :param query: what to look for
    :type query: str
    :param limit: at most this many.
    :returns: hits.
    """
    assert parse_docstring(numpy) == (
        "Search the web.\n\nOnly public pages.",
        {"query": "what to look for, in plain words.", "limit": "at most this many."},
    )
    assert parse_docstring(sphinx) == (
        "Search the web.", {"query": "what to look for", "limit": "at most this many."}
    )


class Units(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


class Window(BaseModel):
    title: str
    width: int = 80


def test_enums_are_described_by_their_values_and_defaults_are_kept_whole() -> None:
    def show(units: Units, window: Window = Window(title="main")) -> str:
        """Show it."""
        return "ok"

    schema = Toolset([show]).schemas("openai")[0]["function"]["parameters"]
    assert schema["properties"]["window"]["default"] == {"title": "main", "width": 80}
    message = Toolset([show]).call("c1", "show", {"units": "k"})
    assert '"units": "c" | "f" (required)' in message.args[0]


def test_the_object_end_is_seen_at_its_closing_brace_strings_and_escapes_skipped() -> None:
    end = _ObjectEnd()
    pieces = ['{"a": "}{\\"', '}", "b": [1, {"c":', " 2}]", "}", "  "]
    assert [end.feed(p) for p in pieces] == [False, False, False, True, True]
    not_object = _ObjectEnd()
    assert not not_object.feed('[1, 2]')


# -- calls -----------------------------------------------------------------------------------


async def test_calls_are_keyed_by_id_named_by_tool_validated_and_coerced() -> None:
    message = oc.ChatCompletionMessage.model_validate(chat_message(
        ("call_1", "get_weather", '{"where": {"city": "Paris"}, "days": "3"}'),
        ("call_2", "add", '{"a": "40"}'),
    ))
    calls = TOOLS.calls(message)
    assert [c.key for c in calls] == ["call_1", "call_2"]
    weather = calls[0]
    # Coerced before the skill runs: a pydantic model, an int from "3", defaults filled in.
    assert weather.kwargs == {"where": Location(city="Paris"), "units": "c", "days": 3}
    assert calls[1].args == (40, 2)  # positional-only parameters are passed by position

    results = await run(calls).collect()
    assert [(r.key, r.name, r.status) for r in results] == [
        ("call_1", "get_weather", Status.SUCCESS), ("call_2", "add", Status.SUCCESS)
    ]
    assert results["call_2"].value == 42


async def test_every_response_shape_gives_the_same_calls() -> None:
    args = {"symbol": "AAPL"}
    completion = oc.ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": chat_message(("id_1", "lookup", json.dumps(args)))}],
    })
    response = orr.Response.model_validate({
        "id": "r", "object": "response", "created_at": 0, "model": "m", "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [], "output": [
            {"type": "function_call", "id": "fc_1", "call_id": "id_1", "name": "lookup",
             "arguments": json.dumps(args)}],
    })
    message = at.Message.model_validate({
        "id": "m", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "content": [{"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "id_1", "name": "lookup", "input": args}],
    })
    shapes = [completion, completion.choices[0].message, completion.model_dump(), response,
              response.output, response.model_dump(), message, message.content, message.model_dump()]
    for shape in shapes:
        (call,) = TOOLS.calls(shape)
        assert (call.key, call.skill.name, call.kwargs) == ("id_1", "lookup", {"symbol": "AAPL", "exchange": "NASDAQ"})
    assert TOOLS.calls({"role": "assistant", "content": "no tools today"}) == []


async def test_a_wrong_call_is_an_error_result_for_the_model_and_the_others_run() -> None:
    calls = TOOLS.calls(chat_message(
        ("c_ok", "add", '{"a": 1, "b": 2}'),
        ("c_json", "add", '{"a": 1,'),
        ("c_type", "get_weather", '{"where": {"town": "Paris"}, "units": "kelvin", "extra": 1}'),
        ("c_unknown", "get_wether", "{}"),
        ("c_array", "add", "[1, 2]"),
    ))
    results = await run(calls).collect()
    assert [(r.key, r.name, r.status.value) for r in results] == [
        ("c_ok", "add", "success"), ("c_json", "add", "error"), ("c_type", "get_weather", "error"),
        ("c_unknown", "get_wether", "error"), ("c_array", "add", "error"),
    ]
    assert results["c_ok"].value == 3
    errors = {r.key: r.error for r in results.errors}
    assert {e.type for e in errors.values() if e} == {"ToolCallError"}
    messages = {k: e.message for k, e in errors.items() if e}
    assert messages["c_json"] == (
        "The arguments of 'add' are not valid JSON (Expecting property name enclosed in double quotes: "
        'line 1 column 9 (char 8)): {"a": 1,. Send one JSON object: {"a": integer (required), "b": integer = 2}.'
    )
    assert messages["c_type"] == (
        "Invalid arguments for tool 'get_weather':\n"
        "- where.town: not a field of this object\n"
        "- where.city: required, missing\n"
        "- units: Input should be 'c' or 'f' (got \"kelvin\"); expected \"c\" | \"f\"\n"
        "- extra: not an argument of this tool\n"
        "Call 'get_weather' again with arguments {\"where\": object Location {city, country} (required), "
        '"units": "c" | "f" = "c", "days": integer = 1}.'
    )
    assert messages["c_unknown"] == (
        "Unknown tool 'get_wether'. The tools are: get_weather, add, lookup, hang, broken. "
        "Call one of them by its exact name."
    )
    assert messages["c_array"].startswith("The arguments of 'add' must be a JSON object, not [1, 2].")


async def test_identical_calls_of_an_idempotent_skill_run_once_and_each_id_gets_a_reply() -> None:
    LOOKUPS.clear()
    calls = TOOLS.calls(chat_message(
        ("a", "lookup", '{"symbol": "AAPL"}'),
        ("b", "lookup", '{"exchange": "NASDAQ", "symbol": "AAPL"}'),  # the same once defaults are in
        ("c", "lookup", '{"symbol": "MSFT"}'),
        ("d", "add", '{"a": 1}'),
        ("e", "add", '{"a": 1}'),  # add is not idempotent: both run
    ))
    results = await run(calls).collect()
    assert LOOKUPS == ["AAPL", "MSFT"]
    assert [r.key for r in results] == ["a", "b", "c", "d", "e"]
    assert results["b"].value == results["a"].value == {"symbol": "AAPL", "exchange": "NASDAQ"}
    assert results["b"].name == "lookup"
    replies = TOOLS.replies(results, "openai")
    assert [r["tool_call_id"] for r in replies] == ["a", "b", "c", "d", "e"]
    assert replies[1]["content"] == replies[0]["content"] == '{"symbol":"AAPL","exchange":"NASDAQ"}'


async def test_a_duplicate_of_a_failed_idempotent_call_replies_with_its_error() -> None:
    @skill(idempotent=True)
    async def flaky(n: int) -> int:
        raise ConnectionError(f"no route for {n}")

    tools = Toolset([flaky])
    calls = tools.calls(chat_message(("x", "flaky", '{"n": 1}'), ("y", "flaky", '{"n": 1}')))
    results = await run(calls).collect()
    assert results["y"].status is Status.SKIPPED  # it stood for x, which failed
    contents = [r["content"] for r in tools.replies(results, "openai")]
    assert contents == ["Error: ConnectionError: no route for 1"] * 2


# -- replies ---------------------------------------------------------------------------------


async def test_replies_in_the_model_order_values_as_json_failures_as_short_text() -> None:
    calls = TOOLS.calls(chat_message(
        ("w", "get_weather", '{"where": {"city": "Paris"}}'),
        ("h", "hang", "{}"),
        ("b", "broken", '{"why": "disk full"}'),
        ("s", "add", '{"a": 2}'),
    ))
    streamed = [r async for r in run(calls)]  # completion order
    assert [r.key for r in streamed] != ["w", "h", "b", "s"]

    chat = TOOLS.replies(streamed, "openai")
    assert chat == [
        {"role": "tool", "tool_call_id": "w", "content": '{"when":"2024-05-01","celsius":21.5}'},
        {"role": "tool", "tool_call_id": "h", "content": "Timed out: attempt 1 exceeded the timeout of 0.05 s"},
        {"role": "tool", "tool_call_id": "b", "content": "Error: ValueError: disk full"},
        {"role": "tool", "tool_call_id": "s", "content": "4"},
    ]
    TypeAdapter(list[oc.ChatCompletionMessageParam]).validate_python(chat)

    claude = TOOLS.replies(streamed, "anthropic")
    TypeAdapter(list[at.MessageParam]).validate_python(claude)
    assert claude == [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "w", "content": '{"when":"2024-05-01","celsius":21.5}'},
        {"type": "tool_result", "tool_use_id": "h", "content": "Timed out: attempt 1 exceeded the timeout of 0.05 s", "is_error": True},
        {"type": "tool_result", "tool_use_id": "b", "content": "Error: ValueError: disk full", "is_error": True},
        {"type": "tool_result", "tool_use_id": "s", "content": "4"},
    ]}]

    responses = TOOLS.replies(streamed, "openai-responses")
    TypeAdapter(list[orr.ResponseInputItemParam]).validate_python(responses)
    assert [(r["type"], r["call_id"]) for r in responses] == [("function_call_output", k) for k in "whbs"]

    mcp = TOOLS.replies(streamed, "mcp")
    assert mcp[1] == {"content": [{"type": "text", "text": "Timed out: attempt 1 exceeded the timeout of 0.05 s"}], "isError": True}
    assert TOOLS.replies([], "anthropic") == []


async def test_pydantic_models_and_fallbacks_are_values_and_skipped_calls_say_why() -> None:
    @skill(fallback=lambda exc: {"cached": True})
    async def cached(q: str) -> Location:
        raise TimeoutError("slow upstream")

    @skill
    async def place(q: str) -> Location:
        return Location(city=q)

    tools = Toolset([cached, place])
    calls = tools.calls(chat_message(("1", "cached", '{"q": "x"}'), ("2", "place", '{"q": "Nice"}')))
    results = await run(calls).collect()
    assert [r["content"] for r in tools.replies(results, "openai")] == [
        '{"cached":true}', '{"city":"Nice","country":"FR"}'
    ]

    @skill
    async def sleepy() -> str:
        await asyncio.sleep(10)
        return "late"

    sleeping = Toolset([sleepy])
    calls = sleeping.calls(chat_message(("1", "sleepy", ""), ("2", "sleepy", "")))
    results = await run(calls, max_concurrency=1, timeout=0.05).collect()
    texts = [r["content"] for r in sleeping.replies(results, "openai")]
    assert texts[0].startswith("Timed out: ")
    assert texts[1].startswith("Not run: ")


# -- streams without a server ----------------------------------------------------------------


async def test_a_stream_of_dict_chunks_yields_each_call_once_the_model_moved_on() -> None:
    def chunk(tool_calls: list[dict[str, Any]] | None = None, content: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": {"content": content, "tool_calls": tool_calls}, "finish_reason": None}]}

    events = [
        chunk(content="Checking "),
        chunk([{"index": 0, "id": "c1", "function": {"name": "add", "arguments": '{"a":'}}]),
        chunk([{"index": 0, "function": {"arguments": " 1}"}}]),  # c1's object closes here
        chunk([{"index": 1, "id": "c2", "function": {"name": "add", "arguments": '{"a": 2'}}]),
        chunk(content="both."),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    seen: list[str] = []

    def source() -> Any:
        for i, event in enumerate(events):
            seen.append(f"event {i}")
            yield event

    texts: list[str] = []
    stream = TOOLS.calls_from_stream(source(), on_text=texts.append)
    async for call in stream:
        seen.append(f"call {call.key}")
    # c1 at the next chunk, which adds nothing to it (the model moved on to c2); c2, never
    # closed, when the stream ended.
    assert seen == ["event 0", "event 1", "event 2", "event 3", "call c1", "event 4", "event 5", "call c2"]
    assert texts == ["Checking ", "both."]
    assert stream.text == "Checking both."
    assert stream.finish_reason == "tool_calls"
    assert stream.messages() == [{"role": "assistant", "content": "Checking both.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "add", "arguments": '{"a": 2'}},
    ]}]
    results = await run(stream.calls).collect()
    assert results["c1"].value == 3
    assert results["c2"].error is not None and "not valid JSON" in results["c2"].error.message
    with pytest.raises(RuntimeError, match="read once"):
        aiter(stream)


def test_the_parser_ignores_what_is_not_a_tool_call() -> None:
    parser = StreamParser()
    assert parser.feed({"type": "text", "text": "derived event of the anthropic helper"}) == []
    assert parser.feed({"type": "ping"}) == []
    assert parser.finish() == []


# -- MCP-style JSON Schemas ----------------------------------------------------------------


def test_a_json_schema_becomes_a_validating_model() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what"},
            "limit": {"type": "integer", "default": 10},
            "mode": {"enum": ["fast", "deep"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "near": {"$ref": "#/$defs/Point"},
            "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["query"],
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
    }
    args = from_json_schema(schema, "search")
    assert args.schema == schema  # sent to the model unchanged
    ok = args.validate({"query": "q", "limit": "5", "near": {"x": "1.5"}, "tags": ["a"]})
    # Coerced, and only what the model gave goes to the server (its defaults are its own).
    assert args.json_arguments(ok) == {"query": "q", "limit": 5, "near": {"x": 1.5}, "tags": ["a"]}
    with pytest.raises(Exception) as info:
        args.validate({"limit": "many", "mode": "slow", "typo": 1})
    message = args.explain("search", info.value)  # type: ignore[arg-type]
    assert message.splitlines()[1:5] == [
        "- query: required, missing; expected string",
        '- limit: Input should be a valid integer, unable to parse string as an integer (got "many"); expected integer',
        "- mode: Input should be 'fast' or 'deep' (got \"slow\"); expected \"fast\" | \"deep\"",
        "- typo: not an argument of this tool",
    ]


async def test_methods_and_plain_functions_are_tools_and_a_stream_dedupes_too() -> None:
    class Desk:
        def __init__(self, currency: str) -> None:
            self.currency = currency

        @skill(idempotent=True)
        async def price(self, symbol: str) -> str:
            """A price in the desk's currency."""
            LOOKUPS.append(symbol)
            return f"{symbol}: 10 {self.currency}"

    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    tools = Toolset([Desk("EUR").price, shout])
    assert tools.names == ["price", "shout"]
    # self is bound, not an argument the model fills in.
    assert list(tools.schemas("openai")[0]["function"]["parameters"]["properties"]) == ["symbol"]

    def chunk(index: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": call_id, "function": {"name": name, "arguments": arguments}}]}}]}

    LOOKUPS.clear()
    stream = tools.calls_from_stream([
        chunk(0, "p1", "price", '{"symbol": "AAPL"}'),
        chunk(1, "p2", "price", '{"symbol":"AAPL"}'),
        chunk(2, "s1", "shout", '{"text": "hi"}'),
    ])
    results = await run(stream, max_concurrency=None).collect()
    assert LOOKUPS == ["AAPL"]
    assert [(r.key, r.value) for r in results] == [("p1", "AAPL: 10 EUR"), ("p2", "AAPL: 10 EUR"), ("s1", "HI")]


# -- one rule for every object; null for a default -----------------------------------------


class Open(BaseModel, extra="allow"):
    name: str


def book(where: Location, note: str = None, nights: int = 1,  # type: ignore[assignment]
         stops: list[Location] = [], tags: Open | None = None) -> dict[str, Any]:  # noqa: B006
    """Book a stay."""
    return {"where": where, "note": note, "nights": nights, "stops": stops, "tags": tags}


def test_unknown_keys_are_refused_in_nested_models_too_and_the_schema_says_so() -> None:
    tools = Toolset([book])
    schema = tools.schemas("openai")[0]["function"]["parameters"]
    assert schema["$defs"]["Location"]["additionalProperties"] is False
    assert schema["$defs"]["Open"]["additionalProperties"] is True  # extra="allow" says so
    rejected = tools.call("c1", "book", {"where": {"city": "Oslo", "town": "x"},
                                         "stops": [{"city": "a", "zip": 1}], "extra": 1})
    assert rejected.args[0].startswith(
        "Invalid arguments for tool 'book':\n"
        "- where.town: not a field of this object\n"
        "- stops.0.zip: not a field of this object\n"
        "- extra: not an argument of this tool\n"
    )
    kept = tools.call("c2", "book", {"where": {"city": "Oslo"}, "tags": {"name": "n", "color": "red"}})
    assert kept.kwargs["tags"].model_extra == {"color": "red"}


def test_null_for_an_optional_argument_is_its_default_and_the_schema_admits_it() -> None:
    tools = Toolset([book])
    schema = tools.schemas("openai")[0]["function"]["parameters"]
    assert schema["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    call = tools.call("c1", "book", {"where": {"city": "Oslo", "country": None}, "note": None, "nights": None})
    assert call.kwargs["note"] is None and call.kwargs["nights"] == 1
    assert call.kwargs["where"] == Location(city="Oslo", country="FR")
    refused = tools.call("c2", "book", {"where": None})
    assert "- where: Input should be a valid dictionary" in refused.args[0]


# -- OpenAI's strict mode --------------------------------------------------------------------


class Leg(BaseModel):
    where: Location
    nights: int = 1


def trip(legs: list[Leg], note: str | None = None, pace: Literal["slow", "fast"] = "slow",
         when: dt.date | None = None) -> int:
    """Plan a trip."""
    return sum(leg.nights for leg in legs)


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_strict_schemas_follow_openais_rules_and_the_sdk_types_accept_them() -> None:
    tools = Toolset([trip, get_weather], strict=True)
    chat = tools.schemas("openai")
    responses = tools.schemas("openai-responses")
    TypeAdapter(list[oc.ChatCompletionToolParam]).validate_python(chat)
    TypeAdapter(list[orr.FunctionToolParam]).validate_python(responses)
    assert chat[0]["function"]["strict"] is True and responses[0]["strict"] is True
    parameters = chat[0]["function"]["parameters"]
    assert responses[0]["parameters"] == parameters
    for node in _walk(parameters):
        if "properties" in node:
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])
        assert not {"default", "title", "oneOf", "allOf"} & set(node)
    assert parameters["properties"]["pace"] == {
        "enum": ["slow", "fast", None], "type": ["string", "null"], "description": 'Null means "slow"',
    }
    assert parameters["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert parameters["$defs"]["Leg"]["properties"]["nights"]["type"] == ["integer", "null"]
    weather = chat[1]["function"]["parameters"]["properties"]
    assert weather["days"] == {"description": "how many days ahead (null means 1)", "maximum": 7,
                               "minimum": 1, "type": ["integer", "null"]}
    # A lax Toolset gives strict schemas when asked; its own stay as they were.
    assert Toolset([trip]).schemas("openai", strict=True) == [chat[0]]
    assert "strict" not in Toolset([trip]).schemas("openai")[0]["function"]
    with pytest.raises(ValueError, match="this Toolset is strict"):
        tools.schemas("openai", strict=False)


def test_strict_validation_refuses_what_the_strict_schema_forbids_and_null_is_the_default() -> None:
    tools = Toolset([trip], strict=True)
    legs = [{"where": {"city": "Oslo", "country": None}, "nights": None}]
    call = tools.call("c1", "trip", {"legs": legs, "note": None, "pace": None, "when": None})
    assert call.kwargs == {"legs": [Leg(where=Location(city="Oslo"), nights=1)], "note": None,
                           "pace": "slow", "when": None}
    refused = tools.call("c2", "trip", {"legs": [{"where": {"city": "Oslo"}}]})
    assert refused.args[0] == (
        "Invalid arguments for tool 'trip':\n"
        "- legs.0.where.country: required, missing\n"
        "- legs.0.nights: required, missing\n"
        "- note: required, missing; expected string or null\n"
        "- pace: required, missing; expected \"slow\" | \"fast\"\n"
        "- when: required, missing; expected string or null\n"
        "Call 'trip' again with arguments {\"legs\": array of object Leg {where, nights} (required), "
        '"note": string or null (required, may be null), "pace": "slow" | "fast" or null '
        '(required, null means "slow"), "when": string or null (required, may be null)}.'
    )
    # A lax Toolset takes the same calls, and leaving a property out too.
    assert Toolset([trip]).call("c3", "trip", {"legs": legs, "pace": None}).kwargs["pace"] == "slow"


def test_a_signature_with_no_strict_form_fails_naming_the_tool_and_the_parameter() -> None:
    def free(options: dict[str, int], tags: list[str] = []) -> None:  # noqa: B006
        """Free-form options."""

    def anything(value: Any) -> None:
        """Any value."""

    def pair(point: tuple[int, int]) -> None:
        """A tuple."""

    with pytest.raises(ValueError, match=r"^tool 'free': parameter 'options' cannot be written in OpenAI's strict mode: a free-form object"):
        Toolset([free], strict=True)
    with pytest.raises(ValueError, match=r"^tool 'anything': parameter 'value' .*: it takes any value"):
        Toolset([anything]).schemas("openai-responses", strict=True)
    with pytest.raises(ValueError, match=r"^tool 'pair': parameter 'point' .*tuple"):
        Toolset([pair], strict=True)
    with pytest.raises(ValueError, match=r"^tool 'book': parameter 'tags' .*allows keys the schema does not list"):
        Toolset([book], strict=True)


def test_strict_validation_mode_refuses_what_lax_mode_coerces() -> None:
    lax = Toolset([lookup, get_weather])
    strict = Toolset([lookup, get_weather], validation="strict")
    arguments = {"where": {"city": "Oslo"}, "days": "2"}
    assert lax.call("c1", "get_weather", arguments).kwargs["days"] == 2
    assert "- days: Input should be a valid integer" in strict.call("c1", "get_weather", arguments).args[0]
    # JSON's own types still arrive: a date or an enum as a string, an integer for a float.
    assert strict.call("c2", "get_weather", {"where": {"city": "Oslo"}, "days": 2, "units": "f"}).kwargs["units"] == "f"
    with pytest.raises(ValueError, match="validation is 'lax' or 'strict'"):
        Toolset([lookup], validation="STRICT")  # type: ignore[arg-type]


# -- tool names ------------------------------------------------------------------------------


def test_tool_names_the_providers_refuse_fail_where_the_toolset_is_made() -> None:
    dotted = skill(name="weather.get")(lambda city: city)
    spaced = skill(name="get weather")(lambda city: city)
    long = skill(name="x" * 65)(lambda city: city)
    for bad, name in ((dotted, "weather.get"), (spaced, "get weather"), (long, "x" * 65), (lambda: 1, "<lambda>")):
        with pytest.raises(ValueError, match=rf"^tool '{name}': OpenAI and Anthropic take tool names of 1 to 64 letters, digits, '_' or '-' \(\^\[a-zA-Z0-9_-\]\{{1,64\}}\$\)"):
            Toolset([bad])
    with pytest.raises(ValueError, match=r"^tool 'weather.get' \(named 'weather get'\)"):
        Toolset([dotted], names={"weather.get": "weather get"})


async def test_names_map_tools_for_the_model_and_calls_resolve_them_back() -> None:
    dotted = skill(name="weather.get")(lambda city: f"sunny in {city}")
    tools = Toolset([dotted, add], names="sanitize")
    assert tools.names == ["weather_get", "add"]
    assert [s["name"] for s in tools.schemas("anthropic")] == ["weather_get", "add"]
    assert tools["weather_get"] is dotted
    message = chat_message(("c1", "weather_get", '{"city": "Oslo"}'), ("c2", "weather.get", "{}"))
    results = await run(tools.calls(message)).collect()
    assert results["c1"].value == "sunny in Oslo"
    assert "Unknown tool 'weather.get'. The tools are: weather_get, add." in str(results["c2"].error)
    mapped = Toolset([dotted], names={"weather.get": "forecast"})
    assert mapped.names == ["forecast"]
    assert Toolset([dotted], names=lambda n: n.replace(".", "__")).names == ["weather__get"]
    assert Toolset([skill(name="y" * 70)(lambda: 1)], names="sanitize").names[0].startswith("y" * 55 + "_")
    with pytest.raises(ValueError, match=r"^two tools are named 'a_b'"):
        Toolset([skill(name="a.b")(lambda: 1), skill(name="a b")(lambda: 1)], names="sanitize")


def test_a_json_schema_tool_follows_the_same_rules_nested_extras_and_nulls() -> None:
    args = from_json_schema({
        "type": "object",
        "properties": {
            "place": {"$ref": "#/definitions/Place"},
            "limit": {"type": "integer", "default": 5},
        },
        "required": ["place"],
        "definitions": {"Place": {"type": "object", "properties": {"city": {"type": "string"}},
                                  "additionalProperties": False}},
    }, "find")
    validated = args.validate({"place": {"city": "Oslo"}, "limit": None})
    assert args.json_arguments(validated) == {"place": {"city": "Oslo"}}  # the server's default
    with pytest.raises(ValidationError) as caught:
        args.validate({"place": {"city": "Oslo", "zip": 1}})
    assert "place.zip: not a field of this object" in args.explain("find", caught.value)


async def test_an_alias_names_a_parameter_python_cannot_name() -> None:
    @skill
    async def send(
        from_: Annotated[str, Field(alias="from", description="the sender")],
        to: str,
        reply_to: Annotated[str | None, Field(alias="reply-to")] = None,
    ) -> str:
        return f"{from_} > {to} ({reply_to})"

    tools = Toolset([send])
    parameters = tools.schemas("openai")[0]["function"]["parameters"]
    assert list(parameters["properties"]) == ["from", "to", "reply-to"]
    assert parameters["properties"]["from"] == {"description": "the sender", "type": "string"}
    assert parameters["required"] == ["from", "to"]
    calls = tools.calls([
        {"type": "tool_use", "id": "a", "name": "send", "input": {"from": "ann", "to": "bo", "reply-to": "cy"}},
        {"type": "tool_use", "id": "b", "name": "send", "input": {"from_": "ann", "to": "bo"}},
    ])
    assert calls[0].kwargs == {"from_": "ann", "to": "bo", "reply_to": "cy"}
    results = await run(calls).collect()
    assert results["a"].value == "ann > bo (cy)"
    assert results["b"].error is not None and results["b"].error.message.startswith(
        "Invalid arguments for tool 'send':\n- from: required, missing; expected string\n"
        "- from_: not an argument of this tool\n"
    )
