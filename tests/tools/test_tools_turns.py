"""The turn around the calls: each model response's calls, its assistant message and its
replies are one value, and every call listed gets exactly one reply."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pipeline import SkillResult, Status, Toolset, run, skill


def chat_message(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ],
    }


def chunk(tool_calls: list[dict[str, Any]] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}, "finish_reason": finish}]}


BALANCES = {"A": 120, "B": 80}


@skill(idempotent=True)
async def get_balance(account: str) -> int:
    """An account's balance."""
    await asyncio.sleep(0.01)
    return BALANCES[account]


@skill
async def transfer_money(account: str, amount: int) -> str:
    """Move money out of an account."""
    await asyncio.sleep(0.02)
    if amount > BALANCES[account]:
        raise ValueError(f"insufficient funds in {account}")
    return f"sent {amount}"


@skill
async def get_quote(symbol: str) -> float:
    """A stock's price."""
    return 100.0 + len(symbol)


BANK = Toolset([get_balance, transfer_money, get_quote])


# -- 1. the turn is a value --------------------------------------------------------------------


async def test_two_conversations_sharing_a_toolset_and_their_ids_get_their_own_replies() -> None:
    # A asks for its balance twice (the duplicate stands for call_0); B asks for its balance,
    # then a transfer that fails. The ids are the same in both.
    a_calls = BANK.calls(chat_message(
        ("call_0", "get_balance", '{"account": "A"}'), ("call_1", "get_balance", '{"account": "A"}'),
    ))
    b_calls = BANK.calls(chat_message(
        ("call_0", "get_balance", '{"account": "B"}'),
        ("call_1", "transfer_money", '{"account": "B", "amount": 500}'),
    ))

    a_results, b_results = await asyncio.gather(run(a_calls).collect(), run(b_calls).collect())
    b_replies = BANK.replies(b_results, "openai")  # B's turn ends first
    a_replies = BANK.replies(a_results, "openai")
    assert [(r["tool_call_id"], r["content"]) for r in a_replies] == [("call_0", "120"), ("call_1", "120")]
    assert [(r["tool_call_id"], r["content"]) for r in b_replies] == [
        ("call_0", "80"), ("call_1", "Error: ValueError: insufficient funds in B"),
    ]


async def test_many_concurrent_conversations_on_one_toolset_never_cross() -> None:
    async def converse(n: int) -> None:
        account = "A" if n % 2 else "B"
        amount = 10 if n % 3 else 1000
        calls = BANK.calls(chat_message(
            ("call_0", "get_balance", json.dumps({"account": account})),
            ("call_1", "get_balance", json.dumps({"account": account})),
            ("call_2", "transfer_money", json.dumps({"account": account, "amount": amount})),
        ))
        results = await run(calls).collect()
        replies = BANK.replies(list(reversed(list(results))), "anthropic")[0]["content"]
        assert [b["tool_use_id"] for b in replies] == ["call_0", "call_1", "call_2"]
        assert replies[0]["content"] == replies[1]["content"] == str(BALANCES[account])
        assert replies[2].get("is_error", False) == (amount == 1000)

    await asyncio.gather(*(converse(n) for n in range(12)))


async def test_calls_is_a_list_whose_results_know_their_turn_and_replies_can_be_made_again() -> None:
    calls = BANK.calls(chat_message(("x", "get_balance", '{"account": "A"}')))
    assert isinstance(calls, list) and [c.key for c in calls] == ["x"]
    results = await run(calls).collect()
    assert results["x"].key == "x" and results["x"].value == 120
    assert json.loads(results["x"].model_dump_json())["key"] == "x"
    first = BANK.replies(results, "openai")
    assert BANK.replies(results, "openai") == first  # nothing consumed


async def test_a_duplicate_of_a_failed_idempotent_call_keeps_its_error_in_every_reply() -> None:
    @skill(idempotent=True)
    async def flaky(n: int) -> int:
        raise ConnectionError(f"no route for {n}")

    tools = Toolset([flaky])
    calls = tools.calls(chat_message(("x", "flaky", '{"n": 1}'), ("y", "flaky", '{"n": 1}')))
    results = await run(calls).collect()
    for provider in ("openai", "openai-responses"):  # replies made twice: the second as the first
        texts = [r.get("content", r.get("output")) for r in tools.replies(results, provider)]
        assert texts == ["Error: ConnectionError: no route for 1"] * 2


# -- 2. every call listed gets exactly one reply ------------------------------------------------


@pytest.mark.parametrize("index", [0, None], ids=["same-index", "no-index"])
async def test_two_streamed_calls_at_one_index_are_two_calls(index: int | None) -> None:
    def part(**fields: Any) -> dict[str, Any]:
        return {**({"index": index} if index is not None else {}), **fields}

    events = [
        chunk([part(id="q1", function={"name": "get_quote", "arguments": '{"symbol": '})]),
        chunk([part(function={"arguments": '"AAPL"}'})]),
        chunk([part(id="q2", function={"name": "get_quote", "arguments": '{"symbol": "MSFT"}'})]),
        chunk(finish="tool_calls"),
    ]
    stream = BANK.calls_from_stream(events)
    results = await run(stream).collect()
    assert [(r.key, r.value) for r in results] == [("q1", 104.0), ("q2", 104.0)]
    (message,) = stream.messages()
    assert [(t["id"], t["function"]["name"], t["function"]["arguments"]) for t in message["tool_calls"]] == [
        ("q1", "get_quote", '{"symbol": "AAPL"}'), ("q2", "get_quote", '{"symbol": "MSFT"}'),
    ]
    assert [r["tool_call_id"] for r in BANK.replies(results, "openai")] == ["q1", "q2"]


@pytest.mark.parametrize("cut", [10, 11, 12, 15, 18, 20])
async def test_concatenated_objects_are_refused_streamed_or_not_with_the_same_message(cut: int) -> None:
    arguments = '{"symbol": "A"}{"symbol": "B"}'
    whole = BANK.calls(chat_message(("c", "get_quote", arguments)))
    (expected,) = await run(whole).collect()
    assert expected.status is Status.ERROR and expected.error is not None
    assert "are not valid JSON (Extra data" in expected.error.message

    # Cut anywhere (here around the first object's closing brace, at 14/15), the stream
    # gives the same call and the same refusal.
    events = [
        chunk([{"index": 0, "id": "c", "function": {"name": "get_quote", "arguments": arguments[:cut]}}]),
        chunk([{"index": 0, "function": {"arguments": arguments[cut:]}}]),
        chunk(finish="tool_calls"),
    ]
    (streamed,) = await run(BANK.calls_from_stream(events)).collect()
    assert streamed.status is Status.ERROR and streamed.error is not None
    assert streamed.error.message == expected.error.message


async def dropped_stream() -> AsyncIterator[dict[str, Any]]:
    yield chunk([{"index": 0, "id": "t1", "function": {"name": "get_quote", "arguments": '{"symbol": "AA"}'}}])
    yield chunk([{"index": 1, "id": "t2", "function": {"name": "transfer_money", "arguments": '{"account": '}}])
    await asyncio.sleep(0.2)  # t1 ran meanwhile
    raise ConnectionError("the connection dropped")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_call_cut_short_by_a_dropped_stream_gets_an_error_reply(provider: str) -> None:
    stream = BANK.calls_from_stream(dropped_stream())
    results: list[SkillResult] = []
    with pytest.raises(ConnectionError):
        async for result in run(stream, max_concurrency=None):
            results.append(result)
    assert [r.key for r in results] == ["t1"]
    (message,) = stream.messages()
    assert [t["id"] for t in message["tool_calls"]] == ["t1", "t2"]  # both listed
    replies = BANK.replies(results, provider)
    if provider == "anthropic":
        replies = [{"tool_call_id": b["tool_use_id"], "content": b["content"]} for b in replies[0]["content"]]
    assert [(r["tool_call_id"], r["content"]) for r in replies] == [
        ("t1", "102.0"),
        ("t2", "Not run: the response ended before the arguments of 'transfer_money' were complete. "
               "Call it again if it is still needed."),
    ]


async def test_with_no_result_at_all_the_turn_is_given_to_replies() -> None:
    def cut() -> Iterator[dict[str, Any]]:
        yield chunk([{"index": 0, "id": "t1", "function": {"name": "get_quote", "arguments": '{"sym'}}])
        raise ConnectionError("the connection dropped")

    stream = BANK.calls_from_stream(cut())
    results: list[SkillResult] = []
    with pytest.raises(ConnectionError):
        async for result in run(stream):
            results.append(result)
    assert results == []
    replies = BANK.replies(results, "anthropic", calls=stream)
    assert replies == [{"role": "user", "content": [{
        "type": "tool_result", "tool_use_id": "t1", "is_error": True,
        "content": "Not run: the response ended before the arguments of 'get_quote' were complete. "
                   "Call it again if it is still needed.",
    }]}]


# -- 3. a reply says what the call returned when it ended -----------------------------------


async def test_a_reply_says_what_a_live_value_held_when_its_call_ended() -> None:
    cart: list[str] = []

    @skill
    async def add_item(item: str) -> list[str]:
        cart.append(item)
        return cart  # the live list: later calls change it

    @skill
    def add_item_sync(item: str) -> list[str]:  # runs on a thread
        time.sleep(0.01)
        cart.append(item)
        return cart

    tools = Toolset([add_item, add_item_sync])
    calls = tools.calls(chat_message(
        ("1", "add_item", '{"item": "apple"}'),
        ("2", "add_item_sync", '{"item": "pear"}'),
        ("3", "add_item", '{"item": "fig"}'),
    ))
    results = await run(calls, max_concurrency=1).collect()
    assert results["1"].value is cart  # the values are the tools' own
    assert [r["content"] for r in tools.replies(results, "openai")] == [
        '["apple"]', '["apple","pear"]', '["apple","pear","fig"]'
    ]
