"""OpenTelemetry spans of runs and calls, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pipeline import Retry, Tracing, run, skill
from tests.support.vloop import vrun


@pytest.fixture
def spans() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_one_span_per_run_and_per_call_children_of_the_callers_span(spans: Any) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    tries = 0

    @skill(retry=Retry(attempts=2, backoff=0.5, jitter=0))
    async def flaky() -> str:
        nonlocal tries
        tries += 1
        await asyncio.sleep(1)
        if tries == 1:
            raise ConnectionError("down")
        return "up"

    @skill(timeout=1)
    async def hangs() -> None:
        await asyncio.sleep(10)

    @skill
    async def after(x: Any) -> Any:
        return x

    async def main() -> None:
        with tracer.start_as_current_span("agent turn"):
            await run([flaky(), after(hangs())], instruments=[Tracing(provider)]).collect()

    vrun(main)
    finished = {(s.name, s.attributes.get("skillstream.key")): s for s in exporter.get_finished_spans()}
    turn = finished[("agent turn", None)]
    run_span = finished[("skillstream.run", None)]
    assert run_span.parent is not None and run_span.parent.span_id == turn.context.span_id
    calls = {k: s for (name, k), s in finished.items() if name == "skillstream.call"}
    assert set(calls) == {"flaky", "hangs", "after"}
    for span in calls.values():
        assert span.parent is not None and span.parent.span_id == run_span.context.span_id
        assert span.context.trace_id == turn.context.trace_id
    f = calls["flaky"]
    assert f.attributes["skillstream.status"] == "success" and f.attributes["skillstream.attempts"] == 2
    assert [e.name for e in f.events] == ["attempt", "retry", "attempt"]
    assert f.events[1].attributes["error.type"] == "ConnectionError"
    assert f.status.status_code is StatusCode.UNSET
    h = calls["hangs"]
    assert h.attributes["skillstream.status"] == "timeout" and h.attributes["error.type"] == "SkillTimeout"
    assert h.status.status_code is StatusCode.ERROR
    a = calls["after"]
    assert a.attributes["skillstream.status"] == "skipped" and a.attributes["error.type"] == "DependencyFailed"


def _calls(exporter: Any) -> dict[str, Any]:
    return {s.attributes.get("skillstream.key"): s for s in exporter.get_finished_spans() if s.name == "skillstream.call"}


def test_spans_a_skill_makes_are_children_of_its_call_span_on_the_loop_and_in_threads(spans: Any) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    seen_on_loop: list[Any] = []

    @skill
    def lookup(n: int) -> int:
        with tracer.start_as_current_span("inside the thread"):
            return n

    @skill
    async def fetch(n: int) -> int:
        with tracer.start_as_current_span("inside the task"):
            await asyncio.sleep(0)
            return n

    async def main() -> None:
        with tracer.start_as_current_span("caller"):
            await run(
                [lookup(1).named("t1"), lookup(2).named("t2"), fetch(3).named("a1")], instruments=[Tracing(provider)]
            ).collect()
            seen_on_loop.append(trace.get_current_span())

    asyncio.run(main())
    finished = exporter.get_finished_spans()
    caller = next(s for s in finished if s.name == "caller")
    calls = _calls(exporter)
    inner = {s.parent.span_id: s for s in finished if s.name.startswith("inside")}
    assert len(inner) == 3
    for key, name in (("t1", "inside the thread"), ("t2", "inside the thread"), ("a1", "inside the task")):
        span = inner[calls[key].context.span_id]  # a child of its own call's span
        assert span.name == name and span.context.trace_id == caller.context.trace_id
    # The loop's context never changed: the caller's span is still the current one there.
    assert seen_on_loop[0].get_span_context().span_id == caller.context.span_id


def test_each_attempt_of_a_retried_skill_runs_under_the_call_span(spans: Any) -> None:
    provider, exporter = spans
    parents: list[int] = []

    @skill(retry=Retry(attempts=3, backoff=0.1, jitter=0))
    async def flaky() -> int:
        parents.append(trace.get_current_span().get_span_context().span_id)
        if len(parents) < 3:
            raise ConnectionError("down")
        return 1

    async def main() -> None:
        await run([flaky()], instruments=[Tracing(provider)]).collect()
        assert trace.get_current_span() is trace.INVALID_SPAN

    vrun(main)
    assert parents == [_calls(exporter)["flaky"].context.span_id] * 3


def test_a_process_skill_runs_in_the_trace_context_of_its_call(spans: Any) -> None:
    from opentelemetry import baggage, context

    from tests.support.tracing_skills import current_span_ids

    provider, exporter = spans
    tracer = provider.get_tracer("test")

    async def main() -> Any:
        token = context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            with tracer.start_as_current_span("caller"):
                return await run([current_span_ids()], instruments=[Tracing(provider)]).collect()
        finally:
            context.detach(token)

    results = asyncio.run(main())
    call = _calls(exporter)["current_span_ids"]
    assert results[0].value == (call.context.trace_id, call.context.span_id, "acme")


def test_without_tracing_a_skill_sees_the_callers_span_and_a_process_skill_none(spans: Any) -> None:
    from tests.support.tracing_skills import current_span_ids

    provider, _ = spans
    tracer = provider.get_tracer("test")

    @skill
    def in_thread() -> int:
        return trace.get_current_span().get_span_context().span_id

    async def main() -> Any:
        with tracer.start_as_current_span("caller") as caller:
            results = await run([in_thread(), current_span_ids()]).collect()
        return caller, results

    caller, results = asyncio.run(main())
    assert results["in_thread"].value == caller.get_span_context().span_id
    assert results["current_span_ids"].value == (0, 0, "None")


def test_leaving_early_ends_the_open_call_spans(spans: Any) -> None:
    provider, exporter = spans

    @skill
    async def slow(n: int) -> int:
        await asyncio.sleep(n)
        return n

    async def main() -> None:
        async with run([slow(1), slow(5).named("cut")], instruments=[Tracing(provider)]) as stream:
            async for _ in stream:
                break

    vrun(main)
    finished = {s.attributes.get("skillstream.key"): s for s in exporter.get_finished_spans() if s.name == "skillstream.call"}
    assert finished["slow"].attributes["skillstream.status"] == "success"
    assert finished["cut"].attributes["skillstream.status"] == "cancelled"
    assert any(s.name == "skillstream.run" for s in exporter.get_finished_spans())
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_every_copy_of_a_hedged_attempt_runs_under_the_call_span(spans: Any) -> None:
    from pipeline import Hedge

    provider, exporter = spans
    seen: list[int] = []

    @skill(hedge=Hedge(after=0.5), idempotent=True)
    async def lookup() -> int:
        seen.append(trace.get_current_span().get_span_context().span_id)
        await asyncio.sleep(2 if len(seen) == 1 else 0.1)  # the first copy is slow: a second races it
        return len(seen)

    async def main() -> Any:
        return await run([lookup()], instruments=[Tracing(provider)]).collect()

    results, _ = vrun(main)
    assert results[0].ok and len(seen) == 2
    assert seen == [_calls(exporter)["lookup"].context.span_id] * 2


def test_one_tracing_shared_by_two_runs_at_once_traces_each_run_apart(spans: Any) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    tracing = Tracing(provider)  # the app's one instrument, in every run's list

    @skill
    async def fetch(n: int) -> int:
        with tracer.start_as_current_span("inside the task"):
            await asyncio.sleep(n)
            return n

    @skill
    def lookup(n: int) -> int:
        with tracer.start_as_current_span("inside the thread"):
            return n

    async def one(name: str, first: int) -> None:
        with tracer.start_as_current_span(name):
            calls = [fetch(first).named("a"), fetch(first + 1).named("b"), lookup(first).named("t")]
            await run(calls, instruments=[tracing]).collect()

    async def main() -> None:
        await asyncio.gather(one("turn 1", 1), one("turn 2", 2))

    vrun(main)
    finished = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    runs = [s for s in finished if s.name == "skillstream.run"]
    assert len(runs) == 2  # both runs' spans ended and were exported
    assert sorted(by_id[r.parent.span_id].name for r in runs if r.parent is not None) == ["turn 1", "turn 2"]
    calls = [s for s in finished if s.name == "skillstream.call"]
    assert len(calls) == 6
    for run_span in runs:
        own = [c for c in calls if c.parent is not None and c.parent.span_id == run_span.context.span_id]
        assert sorted(c.attributes["skillstream.key"] for c in own) == ["a", "b", "t"]
        assert all(c.context.trace_id == run_span.context.trace_id for c in own)
    inner = [s for s in finished if s.name.startswith("inside")]
    assert len(inner) == 6
    call_ids = {c.context.span_id for c in calls}
    assert all(s.parent is not None and s.parent.span_id in call_ids for s in inner)  # no dangling parent
    assert len({s.parent.span_id for s in inner if s.parent is not None}) == 6  # one under each call
    for s in inner:
        call = by_id[s.parent.span_id]
        assert (call.attributes["skillstream.key"] == "t") == (s.name == "inside the thread")
        assert s.context.trace_id == call.context.trace_id


def test_a_tool_call_is_an_execute_tool_span_named_by_its_tool(spans: Any) -> None:
    from pipeline import Toolset

    provider, exporter = spans
    inside: list[int] = []

    @skill
    def get_weather(city: str) -> str:
        """The weather in a city today."""
        inside.append(trace.get_current_span().get_span_context().span_id)
        return "sunny"

    @skill(timeout=1)
    async def slow(n: int) -> int:
        await asyncio.sleep(10)
        return n

    @skill
    async def plain() -> str:
        return "plain"

    tools = Toolset([get_weather, slow])
    message = {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "slow", "input": {"n": 1}},
        {"type": "tool_use", "id": "toolu_3", "name": "nowhere", "input": {}},
        {"type": "tool_use", "id": "toolu_4", "name": "slow", "input": {"n": "many"}},
    ]}

    async def main() -> None:
        calls = [*tools.calls(message), tools.call("call_9", "get_weather", '{"city": "Oslo"}'), plain()]
        await run(calls, instruments=[Tracing(provider)]).collect()

    vrun(main)
    finished = exporter.get_finished_spans()
    by_key = {s.attributes["skillstream.key"]: s for s in finished if "skillstream.key" in s.attributes}
    weather = by_key["toolu_1"]
    assert weather.name == "execute_tool get_weather"
    assert dict(weather.attributes) == {
        "skillstream.key": "toolu_1", "skillstream.skill": "get_weather", "skillstream.index": 0,
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "toolu_1", "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "The weather in a city today.",
        "skillstream.status": "success", "skillstream.attempts": 1, "skillstream.fallback_used": False,
    }
    assert weather.kind is trace.SpanKind.INTERNAL and weather.status.status_code is StatusCode.UNSET
    assert weather.context.span_id in inside  # the tool's body runs under its span
    timed_out = by_key["toolu_2"]
    assert timed_out.name == "execute_tool slow" and timed_out.attributes["error.type"] == "SkillTimeout"
    assert timed_out.status.status_code is StatusCode.ERROR
    # A call the model got wrong is still its tool's execution, failed: the model sees why.
    unknown = by_key["toolu_3"]
    assert unknown.name == "execute_tool nowhere" and unknown.attributes["error.type"] == "ToolCallError"
    assert "gen_ai.tool.description" not in unknown.attributes
    invalid = by_key["toolu_4"]
    assert invalid.name == "execute_tool slow" and invalid.attributes["error.type"] == "ToolCallError"
    assert invalid.attributes["gen_ai.tool.call.id"] == "toolu_4"
    # One call from its parts is a tool call too; a plain skill call keeps its span.
    assert by_key["call_9"].name == "execute_tool get_weather"
    assert by_key["call_9"].attributes["gen_ai.tool.call.id"] == "call_9"
    assert by_key["plain"].name == "skillstream.call"
    assert not any(k.startswith("gen_ai.") for k in by_key["plain"].attributes)
    assert len(inside) == 2


def test_a_tool_named_for_the_model_is_traced_by_that_name(spans: Any) -> None:
    from pipeline import Toolset

    provider, exporter = spans

    @skill(name="weather.get")
    async def weather_get(city: str) -> str:
        return city

    tools = Toolset([weather_get], names="sanitize")
    message = {"tool_calls": [{"id": "c1", "type": "function",
                               "function": {"name": "weather_get", "arguments": '{"city": "Rome"}'}}]}
    vrun(lambda: run(tools.calls(message), instruments=[Tracing(provider)]).collect())
    (span,) = [s for s in exporter.get_finished_spans() if s.name != "skillstream.run"]
    assert span.name == "execute_tool weather_get"
    assert span.attributes["gen_ai.tool.name"] == "weather_get"
    assert span.attributes["skillstream.skill"] == "weather.get"
