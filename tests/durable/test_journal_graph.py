"""StateGraph.compile(checkpointer=Journal(...)): a thread's invocation that failed goes on
with invoke(None, config) from its finished nodes (and the deprecated run_id= spelling)."""

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
    return graph.compile(checkpointer=journal)


def _thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


@pytest.fixture(autouse=True)
def _reset() -> None:
    ran.clear()
    failing.clear()


async def test_a_failed_invocation_resumes_from_its_finished_nodes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("summarize")
    with pytest.raises(GraphError):
        await app.ainvoke({"query": "AAPL"}, _thread("aapl"))
    partial = app.get_state(_thread("aapl"))
    assert partial.values["stock"] == "stock(AAPL)" and "briefing" not in partial.values
    assert sorted(partial.values["sources"]) == ["news", "stock"]
    assert partial.next == ("summarize",)  # where the invocation failed
    assert partial.tasks[0].error == "ConnectionError('summarize is down')"

    failing.clear()
    state = await app.ainvoke(None, _thread("aapl"))

    assert state["briefing"] == "stock(AAPL) + news(AAPL)"
    assert sorted(state["sources"]) == ["news", "stock"]  # replayed updates folded once
    assert ran == Counter({"stock": 1, "news": 1, "summarize": 2})
    assert app.get_state(_thread("aapl")).values == state
    assert app.get_state(_thread("aapl")).next == ()
    assert app.get_state(_thread("never")).values == {}


async def test_the_deprecated_run_id_still_resumes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("summarize")
    with pytest.warns(DeprecationWarning, match="run_id= is deprecated"), pytest.raises(GraphError):
        await app.ainvoke({"query": "AAPL"}, run_id="aapl")
    failing.clear()
    with pytest.warns(DeprecationWarning, match="run_id= is deprecated"):
        state = await app.ainvoke({"query": "AAPL"}, run_id="aapl")
    assert ran == Counter({"stock": 1, "news": 1, "summarize": 2})
    with pytest.warns(DeprecationWarning, match=r"get_state\(run_id\) is deprecated"):
        assert app.get_state("aapl") == state


async def test_a_thread_goes_on_from_its_state_and_another_runs_afresh(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    await app.ainvoke({"query": "AAPL"}, _thread("a"))
    state = await app.ainvoke({"query": "MSFT"}, _thread("a"))  # new input: nodes run again
    assert state["sources"] == ["news", "stock", "news", "stock"]  # folded into the thread's
    await app.ainvoke({"query": "AAPL"}, _thread("b"))
    assert ran == Counter({"stock": 3, "news": 3, "summarize": 3})
    assert (await app.ainvoke(None, _thread("b")))["briefing"] == "stock(AAPL) + news(AAPL)"
    assert ran["summarize"] == 3  # a finished thread, continued with None: nothing to run


def test_invoke_resumes_too(tmp_path: Path) -> None:
    app = _graph(Journal(tmp_path / "runs.db"))
    failing.add("news")
    with pytest.raises(GraphError):
        app.invoke({"query": "X"}, _thread("x"))
    failing.clear()
    assert app.invoke(None, _thread("x"))["briefing"] == "stock(X) + news(X)"
    assert ran == Counter({"stock": 1, "news": 2, "summarize": 1})
    app.checkpointer.close()


async def test_a_thread_and_a_checkpointer_go_together(tmp_path: Path) -> None:
    plain = _graph(None)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^run_id is for a journaled graph"):
        await plain.ainvoke({"query": "A"}, run_id="a")
    with pytest.raises(ValueError, match=r"^get_state\(\) needs a checkpointer"):
        plain.get_state(_thread("a"))
    journaled = _graph(tmp_path / "runs.db")
    with pytest.raises(ValueError, match=r"^a graph compiled with a checkpointer needs a thread_id"):
        await journaled.ainvoke({"query": "A"})


async def test_the_same_thread_at_once_is_refused(tmp_path: Path) -> None:
    import asyncio

    app = _graph(tmp_path / "runs.db")

    @skill
    async def slow_stock(state: Research) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"stock": "s"}

    graph = StateGraph(Research)
    graph.add_node("stock", slow_stock)
    graph.add_edge(START, "stock")
    slow_app = graph.compile(checkpointer=app.checkpointer)
    first = asyncio.ensure_future(slow_app.ainvoke({"query": "A"}, _thread("same")))
    await asyncio.sleep(0.01)
    with pytest.raises(RunInProgress):
        await slow_app.ainvoke(None, _thread("same"))
    assert (await first)["stock"] == "s"


async def test_astream_keeps_the_thread_and_resumes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("summarize")
    seen: list[Any] = []
    with pytest.raises(GraphError):
        async for update in app.astream({"query": "Q"}, _thread("s")):
            seen.append(update)
    assert sorted(next(iter(u)) for u in seen) == ["news", "stock"]
    assert app.get_state(_thread("s")).values["stock"] == "stock(Q)"

    failing.clear()
    updates = [u async for u in app.astream(None, _thread("s"), stream_mode="values")]
    assert updates[-1]["briefing"] == "stock(Q) + news(Q)"
    assert ran == Counter({"stock": 1, "news": 1, "summarize": 2})  # replayed, not rerun


def test_stream_keeps_the_thread_and_resumes(tmp_path: Path) -> None:
    app = _graph(tmp_path / "runs.db")
    failing.add("news")
    with pytest.raises(GraphError):
        list(app.stream({"query": "Z"}, _thread("z")))
    failing.clear()
    updates = list(app.stream(None, _thread("z")))
    assert {"summarize": {"briefing": "stock(Z) + news(Z)"}} in updates
    assert ran == Counter({"stock": 1, "news": 2, "summarize": 1})


async def test_every_way_of_running_a_checkpointed_graph_needs_a_thread(tmp_path: Path) -> None:
    journaled = _graph(tmp_path / "runs.db")
    message = r"^a graph compiled with a checkpointer needs a thread_id"
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
