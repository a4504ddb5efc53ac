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
from tests.vloop import vrun


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


def test_spans_made_inside_a_thread_skill_belong_to_the_callers_trace(spans: Any) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")

    @skill
    def lookup(n: int) -> int:
        with tracer.start_as_current_span("inside the thread"):
            return n

    async def main() -> None:
        with tracer.start_as_current_span("caller"):
            await run([lookup(1), lookup(2)], instruments=[Tracing(provider)]).collect()

    asyncio.run(main())
    finished = exporter.get_finished_spans()
    caller = next(s for s in finished if s.name == "caller")
    inner = [s for s in finished if s.name == "inside the thread"]
    assert len(inner) == 2
    for s in inner:
        assert s.context.trace_id == caller.context.trace_id
        assert s.parent is not None and s.parent.span_id == caller.context.span_id


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
