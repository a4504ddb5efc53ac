"""A child process for the thread tests: a graph that pauses for a person, run in one
process and resumed in another (SQLite file or PostgreSQL URL).

    python tests/support/graph_thread_child.py start STORE LOG      # prints the interrupts as JSON
    python tests/support/graph_thread_child.py resume STORE LOG ANSWER   # prints the final state

Every node appends its name to LOG when it starts (line-buffered), so a node that ran in
both processes appears twice.
"""

from __future__ import annotations

import json
import operator
import sys
from typing import Annotated, Any, TypedDict

from pipeline import START, Command, StateGraph, interrupt

THREAD = {"configurable": {"thread_id": "order-7"}}


class Order(TypedDict, total=False):
    item: str
    log: Annotated[list[str], operator.add]
    approved: str


def main() -> None:
    mode, store, log_path = sys.argv[1:4]
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 (open while the graph runs)

    def node(name: str, body: Any) -> Any:
        def run(state: Order) -> dict[str, Any]:
            log.write(f"{name}\n")
            log.flush()
            update: dict[str, Any] = body(state)
            return update

        run.__name__ = name
        return run

    graph = StateGraph(Order)
    graph.add_node("price", node("price", lambda s: {"log": [f"priced {s['item']}"]}))
    graph.add_node("stock", node("stock", lambda s: {"log": ["in stock"]}))
    graph.add_node("approve", node("approve", lambda s: {"approved": interrupt(f"buy {s['item']}?")}))
    graph.add_node("ship", node("ship", lambda s: {"log": [f"shipped ({s['approved']})"]}))
    graph.add_edge(START, "price")
    graph.add_edge(START, "stock")
    graph.add_edge("price", "approve")
    graph.add_edge(["approve", "stock"], "ship")
    app = graph.compile(checkpointer=store)
    if mode == "start":
        state = app.invoke({"item": "lamp"}, THREAD)
        print(json.dumps([{"value": i.value, "id": i.id} for i in state["__interrupt__"]]))
    else:
        state = app.invoke(Command(resume=sys.argv[4]), THREAD)
        print(json.dumps(state))


if __name__ == "__main__":
    main()
