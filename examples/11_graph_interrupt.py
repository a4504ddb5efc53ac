"""A graph that asks a person, and resumes with the answer. No server needed.

A trade desk: ``propose`` picks a trade, ``approve`` asks a person with ``interrupt()``,
and ``execute`` runs it. Beside them ``research`` (news, then a risk report) does not
need the answer until ``execute``: it keeps running while the graph waits for the person,
so when the answer comes only ``execute`` is left.

The graph keeps its thread in an ``InMemorySaver``: ``invoke`` returns at the pause with
``"__interrupt__"``, ``get_state`` shows where it stopped, and
``invoke(Command(resume=answer), config)`` goes on. Nothing that finished runs again.

    python examples/11_graph_interrupt.py              # asks on the keyboard (a terminal)
    python examples/11_graph_interrupt.py --answer no  # answers for you (CI, scripts)

Without a terminal and without ``--answer``, the answer is "yes".
"""

from __future__ import annotations

import argparse
import operator
import sys
import time
from typing import Annotated, Any, TypedDict

from pipeline import START, Command, InMemorySaver, StateGraph, interrupt


class Desk(TypedDict, total=False):
    symbol: str
    trade: str
    approved: bool
    risk: str
    log: Annotated[list[str], operator.add]  # what ran, in fold order


runs: list[str] = []  # every node run, reruns included


def propose(state: Desk) -> dict[str, Any]:
    runs.append("propose")
    return {"trade": f"buy 100 {state['symbol']}", "log": ["propose"]}


def approve(state: Desk) -> dict[str, Any]:
    runs.append("approve")  # runs again on resume: interrupt() then returns the answer
    answer = interrupt({"question": f"Approve '{state['trade']}'?", "choices": ["yes", "no"]})
    return {"approved": answer == "yes", "log": [f"approve: {answer}"]}


def news(state: Desk) -> dict[str, Any]:
    runs.append("news")
    time.sleep(0.3)
    return {"log": ["news"]}


def risk(state: Desk) -> dict[str, Any]:
    runs.append("risk")
    time.sleep(0.3)
    return {"risk": "low", "log": ["risk"]}


def execute(state: Desk) -> dict[str, Any]:
    runs.append("execute")
    done = f"executed {state['trade']}" if state["approved"] else "cancelled"
    return {"log": [f"{done} (risk {state['risk']})"]}


def build() -> Any:
    graph = StateGraph(Desk)
    graph.add_sequence([propose, approve])
    graph.add_sequence([news, risk])
    graph.add_node(execute)
    graph.add_edge(START, "propose")
    graph.add_edge(START, "news")
    graph.add_edge(["approve", "risk"], "execute")
    return graph.compile(checkpointer=InMemorySaver())


def ask(question: str, choices: list[str], given: str | None) -> str:
    if given is not None:
        print(f"{question} {given}   (--answer)")
        return given
    if not sys.stdin.isatty():
        print(f"{question} yes   (no terminal: answered for you)")
        return "yes"
    while True:
        answer = input(f"{question} [{'/'.join(choices)}] ").strip().lower()
        if answer in choices:
            return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answer", choices=["yes", "no"], help="answer without asking")
    args = parser.parse_args()

    app = build()
    config = {"configurable": {"thread_id": "desk-1"}}

    t0 = time.perf_counter()
    paused = app.invoke({"symbol": "NVDA"}, config)
    print(f"paused after {time.perf_counter() - t0:.1f}s; ran so far: {', '.join(runs)}")
    snapshot = app.get_state(config)
    print(f"waiting at: {', '.join(snapshot.next)}; state so far: {paused['log']}")

    [pause] = paused["__interrupt__"]
    answer = ask(pause.value["question"], pause.value["choices"], args.answer)

    before = len(runs)
    t1 = time.perf_counter()
    final = app.invoke(Command(resume=answer), config)
    print(f"resumed in {time.perf_counter() - t1:.2f}s, running: {', '.join(runs[before:])}")
    print(f"log: {final['log']}")
    history = [s.metadata["source"] for s in app.get_state_history(config) if s.metadata]
    print(f"checkpoints (newest first): {history}")


if __name__ == "__main__":
    main()
