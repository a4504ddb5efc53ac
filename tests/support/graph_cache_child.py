"""A child process for the cache tests: a graph whose node has a cache policy, its cache
kept in the store given (SQLite file or PostgreSQL URL).

    python tests/support/graph_cache_child.py STORE QUERY    # prints {"state": ..., "cached": ...}

The node's update names this process's pid, so a hit shows which process ran it.
"""

from __future__ import annotations

import json
import operator
import os
import sys
from typing import Annotated, Any, TypedDict

from pipeline import END, START, CachePolicy, StateGraph


class Query(TypedDict, total=False):
    q: str
    log: Annotated[list[str], operator.add]


def search(state: Query) -> dict[str, Any]:
    return {"log": [f"{state['q']}@{os.getpid()}"]}


def main() -> None:
    store, query = sys.argv[1:3]
    graph = StateGraph(Query)
    graph.add_node("search", search, cache_policy=CachePolicy(ttl=600))
    graph.add_edge(START, "search")
    graph.add_edge("search", END)
    app = graph.compile(cache=store)
    chunks = list(app.stream({"q": query, "log": []}))
    cached = any(chunk.get("__metadata__", {}).get("cached") for chunk in chunks)
    print(json.dumps({"state": chunks[0]["search"], "cached": cached, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
