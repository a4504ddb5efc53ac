"""StateGraph.compile(journal=...): an invocation that failed resumes from its finished nodes."""

from __future__ import annotations

import operator
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from pipeline import END, START, GraphError, Journal, RunInProgress, StateGraph, skill

ran: Counter[str] = Counter()
failing: set[str] = set()


class Research(TypedDict, total=False):
    query: str
    stock: str
    news: str
    briefing: str
    sources: Annotated[list[str], operator.add]


def _node(name: str, field: str) -> Any:
    async def fn(state: Research) -> dict[str, Any]:
        ran[name] += 1
        if name in failing:
            raise ConnectionError(f"{name} is down")
        return {field: f"{name}({state['query']})", "sources": [name]}

    return skill(fn, name=name)


@skill
async def summarize(state: Research) -> dict[str, Any]:
    ran["summarize"] += 1
    if "summarize" in failing:
        raise ConnectionError("summarize is down")
    return {"briefing": f"{state['stock']} + {state['news']}"}


def _graph(journal: Any) -> Any:
    graph = StateGraph(Research)
    graph.add_node("stock", _node("stock", "stock"))
    graph.add_node("news", _node("news", "news"))
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "stock")
    graph.add_edge(START, "news")
    graph.add_edge(["stock", "news"], "summarize")
    graph.add_edge("summarize", END)
    return graph.compile(journal=journal)


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()
    failing.clear()


async def test_a_failed_invocation_resumes_from_its_finished_nodes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("summarize")
    with pytest.raises(GraphError):
        await app.ainvoke({"query": "AAPL"}, run_id="aapl")
    partial = app.get_state("aapl")
    assert partial is not None and partial["stock"] == "stock(AAPL)" and "briefing" not in partial
    assert sorted(partial["sources"]) == ["news", "stock"]

    failing.clear()
    state = await app.ainvoke({"query": "AAPL"}, run_id="aapl")

    assert state["briefing"] == "stock(AAPL) + news(AAPL)"
    assert sorted(state["sources"]) == ["news", "stock"]  # replayed updates folded once
    assert ran == Counter({"stock": 1, "news": 1, "summarize": 2})
    assert app.get_state("aapl") == state
    assert app.get_state("never") is None


async def test_another_input_or_run_id_runs_afresh(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    await app.ainvoke({"query": "AAPL"}, run_id="a")
    await app.ainvoke({"query": "MSFT"}, run_id="a")  # changed input: nodes run again
    await app.ainvoke({"query": "AAPL"}, run_id="b")
    assert ran == Counter({"stock": 3, "news": 3, "summarize": 3})
    await app.ainvoke({"query": "AAPL"}, run_id="b")
    assert ran["summarize"] == 3


def test_invoke_resumes_too(tmp_path: Path) -> None:
    app = _graph(Journal(tmp_path / "runs.db"))
    failing.add("news")
    with pytest.raises(GraphError):
        app.invoke({"query": "X"}, run_id="x")
    failing.clear()
    assert app.invoke({"query": "X"}, run_id="x")["briefing"] == "stock(X) + news(X)"
    assert ran == Counter({"stock": 1, "news": 2, "summarize": 1})
    app.journal.close()


async def test_run_id_and_journal_go_together(tmp_path: Path) -> None:
    plain = _graph(None)
    with pytest.raises(ValueError, match=r"^run_id is for a journaled graph"):
        await plain.ainvoke({"query": "A"}, run_id="a")
    with pytest.raises(ValueError, match=r"^get_state\(\) needs a journal"):
        plain.get_state("a")
    journaled = _graph(tmp_path / "runs.db")
    with pytest.raises(ValueError, match=r"^a journaled graph needs a run_id"):
        await journaled.ainvoke({"query": "A"})


async def test_the_same_run_id_at_once_is_refused(tmp_path: Path) -> None:
    import asyncio

    app = _graph(tmp_path / "runs.db")

    @skill
    async def slow_stock(state: Research) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"stock": "s"}

    graph = StateGraph(Research)
    graph.add_node("stock", slow_stock)
    graph.add_edge(START, "stock")
    slow_app = graph.compile(journal=app.journal)
    first = asyncio.ensure_future(slow_app.ainvoke({"query": "A"}, run_id="same"))
    await asyncio.sleep(0.01)
    with pytest.raises(RunInProgress):
        await slow_app.ainvoke({"query": "A"}, run_id="same")
    assert (await first)["stock"] == "s"


async def test_astream_journals_with_a_run_id_and_resumes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("summarize")
    seen: list[Any] = []
    with pytest.raises(GraphError):
        async for update in app.astream({"query": "Q"}, run_id="s"):
            seen.append(update)
    assert sorted(next(iter(u)) for u in seen) == ["news", "stock"]
    assert app.get_state("s")["stock"] == "stock(Q)"

    failing.clear()
    updates = [u async for u in app.astream({"query": "Q"}, stream_mode="values", run_id="s")]
    assert updates[-1]["briefing"] == "stock(Q) + news(Q)"
    assert ran == Counter({"stock": 1, "news": 1, "summarize": 2})  # replayed, not rerun


def test_stream_journals_with_a_run_id_and_resumes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("news")
    with pytest.raises(GraphError):
        list(app.stream({"query": "Z"}, run_id="z"))
    failing.clear()
    updates = list(app.stream({"query": "Z"}, run_id="z"))
    assert {"summarize": {"briefing": "stock(Z) + news(Z)"}} in updates
    assert ran == Counter({"stock": 1, "news": 2, "summarize": 1})


async def test_every_way_of_running_a_journaled_graph_needs_a_run_id(tmp_path: Path) -> None:
    journaled = _graph(tmp_path / "runs.db")
    message = r"^a journaled graph needs a run_id"
    with pytest.raises(ValueError, match=message):
        await journaled.ainvoke({"query": "A"})
    with pytest.raises(ValueError, match=message):
        journaled.invoke({"query": "A"})
    with pytest.raises(ValueError, match=message):
        journaled.astream({"query": "A"})
    with pytest.raises(ValueError, match=message):
        journaled.stream({"query": "A"})
    assert ran == Counter()  # nothing ran unjournaled
    plain = _graph(None)
    with pytest.raises(ValueError, match=r"^run_id is for a journaled graph"):
        plain.astream({"query": "A"}, run_id="a")
    with pytest.raises(ValueError, match=r"^run_id is for a journaled graph"):
        plain.stream({"query": "A"}, run_id="a")
