"""Tools that wait for a person: an agent loop whose ``transfer_money`` needs approval.

The model (local: ``examples/servers/scripted_model.py`` on 127.0.0.1, played by the
official openai client) asks for three tools at once: a balance and two transfers. A
transfer over 100 EUR needs approval (``@skill(needs_approval=...)``): the run reports it
``pending`` at once, runs the others, and the agent asks a person. The run then resumes
with the decision; what finished replays from the journal, and the model reads one reply
per tool call (a rejection says why).

1. in one process: pause, decide, resume.
2. across processes: a child runs the turn and waits for the person; it is killed with
   SIGKILL while it waits; a second child resumes the run with the decision.

The decision comes from the keyboard, or from ``--approve`` / ``--reject`` (with no flag
and no terminal on stdin, the transfer is rejected: nobody was there to approve it).

    pip install -e '.[examples]' && python examples/10_approval.py [--approve | --reject]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import openai

from pipeline import Approve, Decision, Journal, Reject, Results, Toolset, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.scripted_model import ScriptedCall, ScriptedModel, Turn  # noqa: E402

LOG = Path(os.environ.get("APPROVAL_EXAMPLE_LOG", os.devnull))  # where tools note each run


def note(what: str) -> None:
    with LOG.open("a") as f:
        f.write(what + "\n")


@skill(timeout=5, needs_approval=lambda to, amount: amount > 100)
async def transfer_money(to: str, amount: int) -> str:
    """Send money from the user's account.

    Args:
        to: who receives it.
        amount: how much, in euros.
    """
    note(f"transfer {amount} to {to}")
    await asyncio.sleep(0.05)
    return f"sent {amount} EUR to {to}"


@skill(timeout=5)
async def get_balance(account: str) -> int:
    """The balance of an account, in euros.

    Args:
        account: the account's name.
    """
    note("get_balance")
    await asyncio.sleep(0.05)
    return 1200


TOOLS = Toolset([transfer_money, get_balance])


def first_turn() -> Turn:
    return Turn(text="I'll check the balance and send both.", calls=[
        ScriptedCall("call_balance", "get_balance", {"account": "main"}),
        ScriptedCall("call_rent", "transfer_money", {"to": "landlord", "amount": 750}),
        ScriptedCall("call_lunch", "transfer_money", {"to": "amy", "amount": 20}),
    ])


def answer(path: str, body: dict[str, Any]) -> Turn:
    # The second answer is made from the tool messages the agent sent back.
    got = {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
    return Turn(text=f"Balance {got['call_balance']} EUR. Rent: {got['call_rent']} Lunch: {got['call_lunch']}")


def decide(results: Results, flag: str | None) -> dict[str, Decision]:
    """Ask the person about each pending call (or take the flag's answer)."""
    decisions: dict[str, Decision] = {}
    for r in results.pending():
        print(f"   waiting for approval: {r.name}({r.value}) [{r.key}]")
        if flag is None and sys.stdin.isatty():
            said = input("   approve? [y]es / [n]o / a new amount: ").strip().lower()
            if said.isdigit():
                decisions[r.key] = Approve(arguments={"amount": int(said)})
            else:
                decisions[r.key] = Approve() if said.startswith("y") else Reject("the user said no")
        elif flag == "approve":
            decisions[r.key] = Approve()
        elif flag == "reject":
            decisions[r.key] = Reject("the user said no")
        else:
            decisions[r.key] = Reject("nobody was there to approve it")
        print(f"   decision: {decisions[r.key]}")
    return decisions


def show(results: Results) -> None:
    for r in results:
        error = f"  ({r.error.type}: {r.error.message})" if r.error else ""
        print(f"   {r.key:<13} {r.status.value:<8} replayed={r.replayed!s:<5} {r.value if r.has_value else ''}{error}")


async def ask(client: openai.AsyncOpenAI, messages: list[Any]) -> Any:
    completion = await client.chat.completions.create(
        model="scripted", messages=messages, tools=TOOLS.schemas("openai"),  # type: ignore[arg-type]
    )
    return completion.choices[0].message


async def in_one_process(journal: Journal, flag: str | None) -> None:
    model = ScriptedModel([first_turn(), answer])
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        messages: list[Any] = [{"role": "user", "content": "Pay the rent and send Amy 20 for lunch."}]
        message = await ask(client, messages)
        calls = TOOLS.calls(message)
        seen = []
        async for r in run(calls, journal=journal, run_id="turn-1"):  # the pending call comes at once
            print(f"   {r.key:<13} {r.status.value}")
            seen.append(r)
        decisions = decide(Results(seen), flag)
        results = await run(calls, journal=journal, run_id="turn-1", decisions=decisions).collect()
        show(results)
        messages += [message, *TOOLS.replies(results, "openai")]
        print(f"   model: {(await ask(client, messages)).content}")


async def child_waits(directory: Path) -> None:
    """The first process: run the turn, keep the model's message, wait for a person."""
    model = ScriptedModel([first_turn()])
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        message = await ask(client, [{"role": "user", "content": "Pay the rent and send Amy 20 for lunch."}])
    (directory / "message.json").write_text(json.dumps(message.model_dump(exclude_none=True)))
    journal = Journal(directory / "agent.db")
    results = await run(TOOLS.calls(message), journal=journal, run_id="turn-1").collect()
    journal.close()
    print(json.dumps({r.key: r.value for r in results.pending()}), flush=True)
    await asyncio.Event().wait()  # a person's answer, which never comes here: killed


async def child_resumes(directory: Path, flag: str | None) -> None:
    """The second process: the same turn, the same run id, the person's decision."""
    message = json.loads((directory / "message.json").read_text())
    calls = TOOLS.calls(message)  # the stored message gives the same calls
    journal = Journal(directory / "agent.db")
    first = await run(calls, journal=journal, run_id="turn-1").collect()  # what is pending now?
    results = await run(calls, journal=journal, run_id="turn-1", decisions=decide(first, flag)).collect()
    journal.close()
    show(results)
    model = ScriptedModel([answer])
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        messages = [{"role": "user", "content": "Pay the rent and send Amy 20 for lunch."}, message,
                    *TOOLS.replies(results, "openai")]
        print(f"   model: {(await ask(client, messages)).content}")


def across_processes(directory: Path, flag: str | None) -> None:
    env = {**os.environ, "APPROVAL_EXAMPLE_LOG": str(directory / "executed.log")}
    me = [sys.executable, __file__, "--dir", str(directory)]
    waiting = subprocess.Popen([*me, "--child", "wait"], env=env, stdout=subprocess.PIPE, text=True)
    assert waiting.stdout is not None
    pending = waiting.stdout.readline()  # the child reports its pending calls, then waits
    print(f"   first process {waiting.pid}: pending {pending.strip()}; killing it (SIGKILL)")
    waiting.send_signal(signal.SIGKILL)
    waiting.communicate()
    print(f"   first process exited with {waiting.returncode}")
    began = time.perf_counter()
    decision = [f"--{flag}"] if flag else []
    resumed = subprocess.run([*me, "--child", "resume", *decision], env=env, check=True)
    print(f"   second process done in {time.perf_counter() - began:.1f}s (exit {resumed.returncode})")
    ran = Counter((directory / "executed.log").read_text().splitlines())
    print("   executions across both processes: " + ", ".join(f"{k} x{n}" for k, n in sorted(ran.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--approve", action="store_true", help="approve every pending call")
    choice.add_argument("--reject", action="store_true", help="reject every pending call")
    parser.add_argument("--child", choices=["wait", "resume"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    flag = "approve" if args.approve else "reject" if args.reject else None
    if args.child == "wait":
        asyncio.run(child_waits(args.dir))
    elif args.child == "resume":
        asyncio.run(child_resumes(args.dir, flag))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print("1. in one process: the pending call is reported while the others run")
            journal = Journal(Path(tmp) / "one.db")
            asyncio.run(in_one_process(journal, flag))
            journal.close()
            print("2. across processes: the waiting process is killed; another resumes")
            across_processes(Path(tmp), flag)


if __name__ == "__main__":
    main()
