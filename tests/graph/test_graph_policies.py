"""StateGraph's LangGraph node policies: RetryPolicy, CachePolicy with InMemoryCache, and
get_graph().draw_mermaid(). Where LangGraph (installed for the tests) can run the same
graph, its answer is the expected one. Timed tests run in virtual time."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, Literal

import httpx
import langgraph.graph as lg
import pytest
import requests
from langgraph._internal._retry import default_retry_on as lg_default_retry_on
from langgraph.cache.memory import InMemoryCache as LGInMemoryCache
from langgraph.types import CachePolicy as LGCachePolicy
from langgraph.types import RetryPolicy as LGRetryPolicy
from typing_extensions import TypedDict

import pipeline
from pipeline import (
    START,
    CachePolicy,
    GraphError,
    InMemoryCache,
    Retry,
    RetryPolicy,
    StateGraph,
)
from pipeline._graph._policies import default_retry_on
from tests.support.vloop import vrun


class State(TypedDict):
    log: Annotated[list, operator.add]


class Query(TypedDict, total=False):
    q: str
    n: int
    log: Annotated[list, operator.add]


# -- RetryPolicy --------------------------------------------------------------------------


def test_retry_policy_is_langgraphs_value() -> None:
    assert RetryPolicy() == tuple(LGRetryPolicy()[:5]) + (default_retry_on,)
    assert RetryPolicy._fields == LGRetryPolicy._fields
    assert pipeline.RetryPolicy is RetryPolicy


def test_retry_policy_retries_with_backoff_in_virtual_time() -> None:
    times: list[float] = []

    async def flaky(state: State) -> dict[str, Any]:
        times.append(asyncio.get_running_loop().time())
        if len(times) < 3:
            raise ConnectionError("down")
        return {"log": [len(times)]}

    graph = StateGraph(State)
    graph.add_node("fetch", flaky, retry_policy=RetryPolicy(initial_interval=1.0, backoff_factor=3.0, jitter=False))
    graph.add_edge(START, "fetch")
    state, _ = vrun(lambda: graph.compile().ainvoke({"log": []}))
    assert state == {"log": [3]}
    assert times == [0.0, 1.0, 4.0]  # waits 1, then 1 * 3


def test_retry_policy_jitter_adds_up_to_a_second() -> None:
    times: list[float] = []

    async def flaky(state: State) -> dict[str, Any]:
        times.append(asyncio.get_running_loop().time())
        if len(times) < 2:
            raise ConnectionError("down")
        return {"log": ["ok"]}

    graph = StateGraph(State)
    graph.add_node("fetch", flaky, retry_policy=RetryPolicy(initial_interval=2.0))
    graph.add_edge(START, "fetch")
    vrun(lambda: graph.compile().ainvoke({"log": []}))
    assert 2.0 <= times[1] - times[0] < 3.0


def test_retry_policy_max_attempts_then_the_nodes_error() -> None:
    calls: list[int] = []

    async def down(state: State) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("down")

    graph = StateGraph(State)
    graph.add_node("fetch", down, retry_policy=RetryPolicy(max_attempts=4, initial_interval=0.5))
    graph.add_edge(START, "fetch")
    with pytest.raises(GraphError) as caught:
        vrun(lambda: graph.compile().ainvoke({"log": []}))
    assert isinstance(caught.value, ConnectionError)
    assert len(calls) == 4
    assert caught.value.results["fetch"].attempts == 4


@pytest.mark.parametrize(
    "retry_on, raised, attempts",
    [
        (KeyError, ValueError, 1),
        (KeyError, KeyError, 3),
        ((KeyError, ValueError), ValueError, 3),
        ([ZeroDivisionError], ZeroDivisionError, 3),
        (lambda exc: "again" in str(exc), ValueError, 3),
        (lambda exc: False, ValueError, 1),
    ],
)
def test_retry_on_is_respected(retry_on: Any, raised: type[Exception], attempts: int) -> None:
    calls: list[int] = []

    async def node(state: State) -> dict[str, Any]:
        calls.append(1)
        raise raised("again")

    graph = StateGraph(State)
    graph.add_node("n", node, retry_policy=RetryPolicy(retry_on=retry_on, jitter=False))
    graph.add_edge(START, "n")
    with pytest.raises(GraphError):
        vrun(lambda: graph.compile().ainvoke({"log": []}))
    assert len(calls) == attempts


def _http_status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/")
    return httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))


def _requests_error(status: int | None) -> requests.HTTPError:
    response = None
    if status is not None:
        response = requests.Response()
        response.status_code = status
    return requests.HTTPError("x", response=response)


class _Custom(Exception):
    pass


DEFAULT_CASES = [
    ConnectionError(),
    ConnectionResetError(),
    TimeoutError(),  # an OSError: not retried by default
    OSError(),
    ValueError(),
    TypeError(),
    KeyError("k"),
    IndexError(),
    ZeroDivisionError(),
    RuntimeError(),
    NotImplementedError(),
    ImportError(),
    NameError(),
    StopIteration(),
    _Custom(),
    Exception(),
    _http_status_error(503),
    _http_status_error(404),
    _requests_error(500),
    _requests_error(400),
    _requests_error(None),
]


@pytest.mark.parametrize("exc", DEFAULT_CASES, ids=lambda e: f"{type(e).__name__}")
def test_default_retry_on_is_langgraphs(exc: Exception) -> None:
    assert default_retry_on(exc) == lg_default_retry_on(exc)


def test_default_retry_on_by_behaviour() -> None:
    assert [default_retry_on(e) for e in (ConnectionError(), _Custom(), ValueError(), OSError())] == [
        True,
        True,
        False,
        False,
    ]

    def attempts_for(exc: Exception) -> int:
        calls: list[int] = []

        async def node(state: State) -> dict[str, Any]:
            calls.append(1)
            raise exc

        graph = StateGraph(State)
        graph.add_node("n", node, retry_policy=RetryPolicy())
        graph.add_edge(START, "n")
        with pytest.raises(GraphError):
            vrun(lambda: graph.compile().ainvoke({"log": []}))
        return len(calls)

    assert attempts_for(_http_status_error(502)) == 3
    assert attempts_for(_http_status_error(429)) == 1
    assert attempts_for(KeyError("k")) == 1


def _count_attempts(module: Any, policy_type: Any, raised: type[Exception]) -> int:
    calls: list[int] = []

    def node(state: State) -> dict[str, Any]:
        calls.append(1)
        raise raised("x")

    policies = [
        policy_type(retry_on=KeyError, max_attempts=2, initial_interval=0.001, jitter=False),
        policy_type(retry_on=ValueError, max_attempts=4, initial_interval=0.001, jitter=False),
    ]
    graph = module.StateGraph(State)
    graph.add_node("n", node, retry_policy=policies)
    graph.add_edge(module.START, "n")
    with pytest.raises(raised):
        graph.compile().invoke({"log": []})
    return len(calls)


@pytest.mark.parametrize("raised, attempts", [(KeyError, 2), (ValueError, 4), (TypeError, 1)])
def test_a_list_of_policies_first_matching_wins_as_in_langgraph(raised: type[Exception], attempts: int) -> None:
    assert _count_attempts(lg, LGRetryPolicy, raised) == attempts
    assert _count_attempts(pipeline, RetryPolicy, raised) == attempts


def test_retry_policy_maps_onto_retry() -> None:
    graph = StateGraph(State)
    graph.add_node("n", lambda s: {}, retry_policy=RetryPolicy(initial_interval=0.2, backoff_factor=3, max_interval=5, max_attempts=7))
    retry = graph._options["n"].retry
    assert isinstance(retry, Retry)
    assert (retry.attempts, retry.backoff, retry.multiplier, retry.max_backoff, retry.jitter) == (7, 0.2, 3, 5, 1.0)
    assert retry.delay(3, rand=lambda: 0.0) == pytest.approx(1.8)
    assert retry.delay(9, rand=lambda: 0.5) == 5.5


def test_bad_retry_policy_input() -> None:
    graph = StateGraph(State)
    with pytest.raises(TypeError, match="retry or retry_policy"):
        graph.add_node("a", lambda s: {}, retry=Retry(), retry_policy=RetryPolicy())
    with pytest.raises(TypeError, match="retry_on"):
        graph.add_node("b", lambda s: {}, retry_policy=RetryPolicy(retry_on="ValueError"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        graph.add_node("c", lambda s: {}, retry_policy=Retry())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        graph.add_node("d", lambda s: {}, retry_policy=[])


# -- CachePolicy ---------------------------------------------------------------------------


def _cached_graph(module: Any, policy: Any, runs: list[str]) -> Any:
    def search(state: Query) -> dict[str, Any]:
        runs.append(state["q"])
        return {"log": [f"{state['q']}#{len(runs)}"]}

    graph = module.StateGraph(Query)
    graph.add_node("search", search, cache_policy=policy)
    graph.add_edge(module.START, "search")
    graph.add_edge("search", module.END)
    return graph


def test_cache_hit_miss_and_updates_metadata_as_in_langgraph() -> None:
    outputs = []
    for module, policy, cache in (
        (lg, LGCachePolicy(), LGInMemoryCache()),
        (pipeline, CachePolicy(), InMemoryCache()),
    ):
        runs: list[str] = []
        app = _cached_graph(module, policy, runs).compile(cache=cache)
        streamed = [
            list(app.stream({"q": "a", "log": []})),
            list(app.stream({"q": "a", "log": []})),  # the same input: cached
            list(app.stream({"q": "b", "log": []})),
            app.invoke({"q": "a", "log": []}),
        ]
        outputs.append((streamed, runs))
    assert outputs[1] == outputs[0]
    streamed, runs = outputs[1]
    assert runs == ["a", "b"]
    assert streamed[1] == [{"search": {"log": ["a#1"]}, "__metadata__": {"cached": True}}]


def test_cache_ttl_expires_by_the_caches_clock() -> None:
    now = [1000.0]
    runs: list[str] = []
    app = _cached_graph(pipeline, CachePolicy(ttl=60), runs).compile(cache=InMemoryCache(clock=lambda: now[0]))
    app.invoke({"q": "a", "log": []})
    now[0] += 59.9
    assert app.invoke({"q": "a", "log": []}) == {"q": "a", "log": ["a#1"]}
    now[0] += 0.2  # 60.1 s after it was stored
    assert app.invoke({"q": "a", "log": []}) == {"q": "a", "log": ["a#2"]}
    assert runs == ["a", "a"]


def test_cache_key_func_and_clear_cache() -> None:
    runs: list[str] = []
    by_query = CachePolicy(key_func=lambda state: state["q"])
    app = _cached_graph(pipeline, by_query, runs).compile(cache=InMemoryCache())
    app.invoke({"q": "a", "n": 1, "log": []})
    app.invoke({"q": "a", "n": 2, "log": []})  # another input, the same key
    assert runs == ["a"]
    app.clear_cache()
    app.invoke({"q": "a", "n": 3, "log": []})
    assert runs == ["a", "a"]


def test_a_failed_or_fallback_run_is_not_cached() -> None:
    calls: list[int] = []

    async def shaky(state: Query) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= 2:
            raise ValueError("no")
        return {"log": ["ok"]}

    graph = StateGraph(Query)
    graph.add_node("n", shaky, cache_policy=CachePolicy(), fallback={"log": ["fallback"]})
    graph.add_edge(START, "n")
    app = graph.compile(cache=InMemoryCache())

    async def main() -> list[Any]:
        return [await app.ainvoke({"q": "a", "log": []}) for _ in range(4)]

    states, _ = vrun(main)
    assert [s["log"] for s in states] == [["fallback"], ["fallback"], ["ok"], ["ok"]]
    assert len(calls) == 3  # the fourth came from the cache


def test_no_cache_without_compile_cache_and_a_failing_key_func_fails_the_node() -> None:
    runs: list[str] = []
    app = _cached_graph(pipeline, CachePolicy(), runs).compile()
    app.invoke({"q": "a", "log": []})
    app.invoke({"q": "a", "log": []})
    assert runs == ["a", "a"]
    with pytest.raises(ValueError, match="No cache"):
        app.clear_cache()

    def bad_key(state: Any) -> str:
        raise LookupError("no key")

    app = _cached_graph(pipeline, CachePolicy(key_func=bad_key), runs).compile(cache=InMemoryCache())
    with pytest.raises(GraphError) as caught:
        app.invoke({"q": "a", "log": []})
    assert isinstance(caught.value, LookupError)
    assert runs == ["a", "a"]
    with pytest.raises(TypeError, match="get"):
        _cached_graph(pipeline, CachePolicy(), runs).compile(cache=object())


# -- get_graph -----------------------------------------------------------------------------


def _build_drawn(module: Any) -> Any:
    def node(state: State) -> dict[str, Any]:
        return {"log": [1]}

    def route(state: State) -> Literal["b", "c"]:
        return "b"

    graph = module.StateGraph(State)
    for name in ("a", "b", "c", "d", "tools"):
        graph.add_node(name, node)
    graph.add_edge(module.START, "a")
    graph.add_conditional_edges("a", route)
    graph.add_edge(["b", "c"], "d")
    graph.add_conditional_edges("d", lambda s: "more", {"more": "tools", "done": module.END})
    graph.add_edge("tools", "a")
    return graph.compile()


def test_draw_mermaid_is_langgraphs_text() -> None:
    ours = _build_drawn(pipeline).get_graph()
    theirs = _build_drawn(lg).get_graph()
    assert ours.draw_mermaid() == theirs.draw_mermaid()
    assert ours.draw_mermaid(with_styles=False) == theirs.draw_mermaid(with_styles=False)
    assert list(ours.nodes) == list(theirs.nodes)
    assert [(e.source, e.target, e.data, e.conditional) for e in ours.edges] == [
        (e.source, e.target, e.data, e.conditional) for e in theirs.edges
    ]
    text = ours.draw_mermaid()
    assert "\t__start__ --> a;\n" in text and "\ta -.-> b;\n" in text
    assert "\td -. &nbsp;done&nbsp; .-> __end__;\n" in text
    assert "\t__end__([<p>__end__</p>]):::last\n" in text


def test_draw_mermaid_plain_chain_as_langgraph() -> None:
    def build(module: Any) -> Any:
        graph = module.StateGraph(State)
        graph.add_node("first", lambda s: {})
        graph.add_node("second", lambda s: {})
        graph.add_edge(module.START, "first")
        graph.add_edge("first", "second")
        graph.add_edge("second", module.END)
        return graph.compile()

    assert build(pipeline).get_graph().draw_mermaid() == build(lg).get_graph().draw_mermaid()


def test_a_nodes_timeout_is_retried_by_default_as_langgraphs_node_timeout() -> None:
    starts: list[float] = []

    async def slow_then_fast(state: State) -> dict[str, Any]:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) == 1:
            await asyncio.sleep(10)
        return {"log": ["done"]}

    graph = StateGraph(State)
    graph.add_node("n", slow_then_fast, timeout=1.0, retry_policy=RetryPolicy(initial_interval=0.5, jitter=False))
    graph.add_edge(START, "n")
    state, _ = vrun(lambda: graph.compile().ainvoke({"log": []}))
    assert state == {"log": ["done"]}
    assert starts == [0.0, 1.5]  # timed out at 1, retried 0.5 later


def test_changing_a_returned_state_changes_no_cache_entry() -> None:
    class Plain(TypedDict, total=False):
        q: str
        found: list

    def search(state: Plain) -> dict[str, Any]:
        return {"found": [state["q"]]}

    graph = StateGraph(Plain)
    graph.add_node("search", search, cache_policy=CachePolicy())
    graph.add_edge(START, "search")
    app = graph.compile(cache=InMemoryCache())
    first = app.invoke({"q": "a"})
    first["found"].append("mine")  # the state's list is the node's own update
    assert app.invoke({"q": "a"}) == {"q": "a", "found": ["a"]}
