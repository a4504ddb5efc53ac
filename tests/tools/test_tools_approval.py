"""Tools that wait for a person, in the agent loop, with the official ``openai`` and
``anthropic`` clients against the scripted model on 127.0.0.1.

The loop: ``calls = toolset.calls(response)``, ``run(calls, journal, run_id)`` reports the
calls that need approval as pending, the application decides, the same run resumes with
``decisions`` (what finished replays), and ``toolset.replies`` answers every tool call.
The scripted server refuses a follow-up that leaves a tool call without its result, as
the real APIs do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from pipeline import Approve, Journal, Reject, Status, Toolset, run, skill
from tests.support.local_api_loader import load_scripted_model

pytestmark = pytest.mark.slow

sm = load_scripted_model()
ScriptedCall, ScriptedModel, Turn = sm.ScriptedCall, sm.ScriptedModel, sm.Turn

SENT: list[tuple[str, int]] = []
LOOKUPS: list[str] = []


@skill(needs_approval=lambda to, amount: amount > 100)
async def transfer_money(to: str, amount: int) -> str:
    """Send money from the user's account.

    Args:
        to: who receives it.
        amount: how much, in euros.
    """
    SENT.append((to, amount))
    return f"sent {amount} EUR to {to}"


@skill
async def get_balance(account: str) -> int:
    """The balance of an account.

    Args:
        account: the account's name.
    """
    LOOKUPS.append(account)
    return 1200


TOOLS = Toolset([transfer_money, get_balance])


def money_turn() -> Any:
    return Turn(text="On it.", calls=[
        ScriptedCall("call_big", "transfer_money", {"to": "bob", "amount": 500}),
        ScriptedCall("call_small", "transfer_money", {"to": "amy", "amount": 20}),
        ScriptedCall("call_balance", "get_balance", {"account": "main"}),
    ])


@pytest.fixture(autouse=True)
def _fresh() -> None:
    SENT.clear()
    LOOKUPS.clear()


@pytest.fixture
async def model() -> AsyncIterator[tuple[Any, str]]:
    scripted = ScriptedModel([money_turn(), Turn(text="Done.")])
    async with scripted.serve() as base_url:
        yield scripted, base_url


def test_a_toolset_built_from_a_skill_that_needs_approval_carries_it() -> None:
    calls = TOOLS.calls({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "transfer_money", "arguments": '{"to": "x", "amount": 1}'}},
    ]})
    assert calls[0].options.needs_approval is transfer_money.options.needs_approval


async def test_openai_a_rejected_call_reaches_the_model_as_its_tool_reply(
    model: tuple[Any, str], tmp_path: Path
) -> None:
    scripted, base_url = model
    journal = Journal(tmp_path / "agent.db")
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="local", max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "Pay bob 500 and amy 20."}]
        completion = await client.chat.completions.create(
            model="scripted", messages=messages, tools=TOOLS.schemas("openai")  # type: ignore[arg-type]
        )
        message = completion.choices[0].message
        calls = TOOLS.calls(message)

        first = await run(calls, journal=journal, run_id="turn-1").collect()
        assert {r.key: r.status for r in first} == {
            "call_big": Status.PENDING, "call_small": Status.SUCCESS, "call_balance": Status.SUCCESS
        }
        (waiting,) = first.pending()
        assert (waiting.key, waiting.name, waiting.value) == ("call_big", "transfer_money", {"to": "bob", "amount": 500})
        with pytest.raises(ValueError, match=r"^tool call 'call_big' \(transfer_money\) is waiting for approval"):
            TOOLS.replies(first, "openai")
        # The API refuses a follow-up that leaves the pending call without a reply (hence
        # replies() refuses to answer for a call still waiting).
        answered = [
            {"role": "tool", "tool_call_id": r.key, "content": str(r.value)} for r in first if r.has_value
        ]
        with pytest.raises(openai.BadRequestError, match="tool calls without a result: call_big"):
            await client.chat.completions.create(model="scripted", messages=[*messages, message, *answered])

        second = await run(
            calls, journal=journal, run_id="turn-1", decisions={"call_big": Reject("over the daily limit")}
        ).collect()
        assert [r.replayed for r in second] == [False, True, True]
        replies = TOOLS.replies(second, "openai")
        answer = await client.chat.completions.create(model="scripted", messages=[*messages, message, *replies])
    journal.close()
    assert answer.choices[0].message.content == "Done."
    sent = scripted.requests[-1][1]["messages"]
    tool_replies = [m for m in sent if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_replies] == [
        ("call_big", "Rejected: the user did not allow this call: over the daily limit"),
        ("call_small", "sent 20 EUR to amy"),
        ("call_balance", "1200"),
    ]
    assert SENT == [("amy", 20)] and LOOKUPS == ["main"]  # nothing ran twice


async def test_anthropic_approval_with_edited_arguments_and_a_new_turn_object(
    model: tuple[Any, str], tmp_path: Path
) -> None:
    scripted, base_url = model
    journal = Journal(tmp_path / "agent.db")
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "Pay bob 500 and amy 20."}]
        message = await client.messages.create(
            model="scripted", max_tokens=512, messages=messages, tools=TOOLS.schemas("anthropic")  # type: ignore[arg-type]
        )
        first = await run(TOOLS.calls(message), journal=journal, run_id="turn-1").collect()
        assert [r.key for r in first.pending()] == ["call_big"]

        # Later (here: the same process), the turn is read again from the stored response.
        calls = TOOLS.calls(message)
        decisions = {"call_big": Approve(arguments={"amount": 150})}
        second = await run(calls, journal=journal, run_id="turn-1", decisions=decisions).collect()
        replies = TOOLS.replies(second, "anthropic")
        messages += [{"role": "assistant", "content": message.content}, *replies]
        answer = await client.messages.create(model="scripted", max_tokens=512, messages=messages)
    journal.close()
    assert answer.content[0].type == "text" and answer.content[0].text == "Done."
    (user_reply,) = scripted.requests[-1][1]["messages"][2:]
    assert [(b["tool_use_id"], b["content"], b.get("is_error", False)) for b in user_reply["content"]] == [
        ("call_big", "sent 150 EUR to bob", False),
        ("call_small", "sent 20 EUR to amy", False),
        ("call_balance", "1200", False),
    ]
    assert SENT == [("amy", 20), ("bob", 150)] and LOOKUPS == ["main"]


async def test_anthropic_rejection_is_an_error_block(model: tuple[Any, str]) -> None:
    scripted, base_url = model
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="local", max_retries=0) as client:
        messages: list[Any] = [{"role": "user", "content": "Pay bob 500 and amy 20."}]
        message = await client.messages.create(
            model="scripted", max_tokens=512, messages=messages, tools=TOOLS.schemas("anthropic")  # type: ignore[arg-type]
        )
        calls = TOOLS.calls(message)
        # Without a journal the run is decided in one go: the decision comes with the calls.
        results = await run(calls, decisions={"call_big": Reject()}).collect()
        messages += [{"role": "assistant", "content": message.content}, *TOOLS.replies(results, "anthropic")]
        answer = await client.messages.create(model="scripted", max_tokens=512, messages=messages)
    assert answer.content[0].text == "Done."  # type: ignore[union-attr]
    (user_reply,) = scripted.requests[-1][1]["messages"][2:]
    assert user_reply["content"][0] == {
        "type": "tool_result", "tool_use_id": "call_big",
        "content": "Rejected: the user did not allow this call.", "is_error": True,
    }


# -- MCP tools ---------------------------------------------------------------------------------

MCP_SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_tools_server.py"


async def test_mcp_tools_named_in_needs_approval_wait_for_a_decision() -> None:
    import sys

    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(MCP_SERVER)])
    with open("/dev/null", "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            with pytest.raises(ValueError, match=r"^needs_approval names tools the server does not have: ad "):
                await Toolset.from_mcp(session, needs_approval={"ad"})
            tools = await Toolset.from_mcp(session, needs_approval={"add"})
            calls = tools.calls([
                {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 2, "b": 3}},
                {"type": "tool_use", "id": "t2", "name": "fail", "input": {"reason": "no"}},
            ])
            first = await run(calls).collect()
            assert [(r.key, r.status, r.value) for r in first.pending()] == [("t1", Status.PENDING, {"a": 2, "b": 3})]
            assert first["t2"].status is Status.ERROR  # the other tool ran
            second = await run(calls, decisions={"t1": Approve(arguments={"b": 40})}).collect()
            assert second["t1"].value == "42"  # the server added the edited arguments
