"""A child process for the crash tests: a journaled run that the test kills with SIGKILL.

    python tests/support/journal_child.py calls DB EXECUTED SEEN      # 200 calls at cap 8
    python tests/support/journal_child.py graph DB EXECUTED SEEN      # a StateGraph of 22 nodes
    python tests/support/journal_child.py lease DB EXECUTED SEEN LEASE [N]  # N (60) calls of 50 ms at cap 4,
                                                        # Journal(DB, lease=LEASE); exit 3 if refused

Every call appends its name to EXECUTED when it starts (so a call that ran twice appears
twice); the consumer appends each result it sees to SEEN. Both are flushed line by line:
SIGKILL loses what is in the process, not what was written to the kernel.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TypedDict

from pipeline import END, START, Journal, RunInProgress, StateGraph, run, skill

CALLS = 200
CAP = 8
FANOUT = 20
GRAPH_CAP = 4
LEASE_CALLS = 60


def main() -> None:
    mode, db, executed_path, seen_path = sys.argv[1:5]
    executed = open(executed_path, "a", buffering=1)
    seen = open(seen_path, "a", buffering=1)

    def mark(name: str) -> None:
        executed.write(f"{name}\n")
        executed.flush()

    if mode == "calls":

        @skill
        async def work(i: int) -> int:
            mark(f"w{i}")
            await asyncio.sleep(0.003 + (i % 5) * 0.002)
            return i

        async def calls() -> None:
            stream = run(
                [work(i).named(f"w{i}") for i in range(CALLS)],
                journal=db,
                run_id="crash",
                max_concurrency=CAP,
            )
            async for r in stream:
                assert r.value == int(r.key[1:])
                seen.write(f"{r.key} {int(r.replayed)}\n")
                seen.flush()

        asyncio.run(calls())
    elif mode == "lease":

        @skill
        async def slow(i: int) -> int:
            mark(f"w{i}")
            await asyncio.sleep(0.05)
            return i

        count = int(sys.argv[6]) if len(sys.argv) > 6 else LEASE_CALLS

        async def leased() -> None:
            journal = Journal(db, lease=float(sys.argv[5]))
            stream = run(
                [slow(i).named(f"w{i}") for i in range(count)],
                journal=journal,
                run_id="lease",
                max_concurrency=4,
            )
            async for r in stream:
                seen.write(f"{r.key} {int(r.replayed)}\n")
                seen.flush()

        try:
            asyncio.run(leased())
        except RunInProgress as exc:
            print(f"refused: {exc}", file=sys.stderr)
            sys.exit(3)
    else:
        fields: dict[str, Any] = {"query": str, "final": int, "tail": int}
        fields.update({f"n{i}": int for i in range(FANOUT)})
        State = TypedDict("State", fields, total=False)  # type: ignore[misc]
        graph = StateGraph(State)

        def node(i: int) -> Any:
            async def fn(state: Any) -> dict[str, int]:
                mark(f"n{i}")
                await asyncio.sleep(0.02)
                return {f"n{i}": i}

            return skill(fn, name=f"n{i}")

        @skill
        async def final(state: Any) -> dict[str, int]:
            mark("final")
            await asyncio.sleep(0.02)
            return {"final": sum(state[f"n{i}"] for i in range(FANOUT))}

        @skill
        async def tail(state: Any) -> dict[str, int]:
            mark("tail")
            await asyncio.sleep(0.02)
            return {"tail": state["final"] + 1}

        names = [f"n{i}" for i in range(FANOUT)]
        for i, name in enumerate(names):
            graph.add_node(name, node(i))
            graph.add_edge(START, name)
        graph.add_node("final", final)
        graph.add_node("tail", tail)
        graph.add_edge(names, "final")
        graph.add_edge("final", "tail")
        graph.add_edge("tail", END)
        app = graph.compile(checkpointer=db, max_concurrency=GRAPH_CAP)
        config = {"configurable": {"thread_id": "crash-graph"}}
        # Started again after a kill: the thread's unfinished invocation goes on.
        started = bool(app.get_state(config).values)
        state = app.invoke(None if started else {"query": "q"}, config)
        seen.write(f"state {state['tail']}\n")
        seen.flush()


if __name__ == "__main__":
    main()
