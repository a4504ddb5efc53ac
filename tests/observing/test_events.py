"""``run(...).events()``: the order and content of the events (virtual time unless a thread runs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from pipeline import (
    DeadlineEvent,
    Event,
    FinishedEvent,
    Instrument,
    PartialEvent,
    Retry,
    SkillCall,
    StartedEvent,
    Status,
    run,
    skill,
)
from tests.support.vloop import vrun


def brief(events: list[Any]) -> list[tuple[Any, ...]]:
    """Each event as a tuple of what a test compares."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e.kind == "started":
            out.append(("started", e.key, e.attempt, e.at))
        elif e.kind == "retrying":
            out.append(("retrying", e.key, e.attempt, e.error.type, e.wait, e.at))
        elif e.kind == "partial":
            out.append(("partial", e.key, e.attempt, e.item, round(e.at, 9)))
        elif e.kind in ("finished", "skipped"):
            out.append((e.kind, e.key, e.result.status.value, e.at))
        else:
            out.append(("deadline", e.at))
    return out


async def all_events(calls: Any, **options: Any) -> list[Any]:
    async with run(calls, **options).events() as events:
        return [e async for e in events]


def test_success_events_are_started_then_finished_with_the_result() -> None:
    @skill
    async def fetch(n: int) -> int:
        await asyncio.sleep(n)
        return n * 10

    events, _ = vrun(lambda: all_events([fetch(2).named("two"), fetch(1).named("one")]))
    assert brief(events) == [
        ("started", "two", 1, 0.0),
        ("started", "one", 1, 0.0),
        ("finished", "one", "success", 1.0),
        ("finished", "two", "success", 2.0),
    ]
    finished = [e for e in events if isinstance(e, FinishedEvent)]
    assert [e.result.value for e in finished] == [10, 20]
    assert all(isinstance(e, StartedEvent) for e in events[:2])


def test_retry_and_timeout_events_carry_the_error_and_the_wait() -> None:
    tries = 0

    @skill(retry=Retry(attempts=3, backoff=0.5, jitter=0), timeout=2)
    async def flaky() -> str:
        nonlocal tries
        tries += 1
        if tries == 1:
            await asyncio.sleep(1)
            raise ConnectionError("down")
        if tries == 2:
            await asyncio.sleep(10)  # the per-attempt timeout ends it at 2 s
        return "up"

    events, _ = vrun(lambda: all_events(flaky()))
    assert brief(events) == [
        ("started", "flaky", 1, 0.0),
        ("retrying", "flaky", 1, "ConnectionError", 0.5, 1.0),
        ("started", "flaky", 2, 1.5),
        ("retrying", "flaky", 2, "SkillTimeout", 1.0, 3.5),
        ("started", "flaky", 3, 4.5),
        ("finished", "flaky", "success", 4.5),
    ]
    assert events[-1].result.attempts == 3


def test_a_timeout_then_a_skipped_dependent() -> None:
    @skill(timeout=2)
    async def hangs() -> str:
        await asyncio.sleep(100)
        return "never"

    @skill
    async def summary(text: str) -> str:
        return text

    events, _ = vrun(lambda: all_events(summary(hangs())))
    assert brief(events) == [
        ("started", "hangs", 1, 0.0),
        ("finished", "hangs", "timeout", 2.0),
        ("skipped", "summary", "skipped", 2.0),
    ]
    assert events[-1].result.error.type == "DependencyFailed"


def test_the_deadline_event_comes_before_what_it_ends() -> None:
    @skill
    async def sleep(n: float) -> float:
        await asyncio.sleep(n)
        return n

    calls = [sleep(1).named("quick"), sleep(10).named("slow"), sleep(1).named("late")]
    events, _ = vrun(lambda: all_events(calls, timeout=3, max_concurrency=2))
    assert brief(events) == [
        ("started", "quick", 1, 0.0),
        ("started", "slow", 1, 0.0),
        ("finished", "quick", "success", 1.0),
        ("started", "late", 1, 1.0),
        ("finished", "late", "success", 2.0),
        ("deadline", 3.0),
        ("finished", "slow", "timeout", 3.0),
    ]
    assert isinstance(events[5], DeadlineEvent)

    calls = [sleep(10).named("a"), sleep(10).named("b")]
    events, _ = vrun(lambda: all_events(calls, timeout=3, max_concurrency=1))
    assert brief(events) == [
        ("started", "a", 1, 0.0),
        ("deadline", 3.0),
        ("finished", "a", "timeout", 3.0),
        ("skipped", "b", "skipped", 3.0),
    ]


def test_partials_of_a_streaming_skill_arrive_while_others_run_with_attempt_numbers() -> None:
    tries = 0

    @skill(retry=Retry(attempts=2, backoff=1, jitter=0))
    async def tokens(text: str) -> AsyncIterator[str]:
        nonlocal tries
        tries += 1
        for i, word in enumerate(text.split()):
            await asyncio.sleep(1)
            if tries == 1 and i == 1:
                raise ConnectionError("stream cut")
            yield word

    @skill
    async def other() -> int:
        await asyncio.sleep(2.5)
        return 1

    events, _ = vrun(lambda: all_events([tokens("hello big world"), other()]))
    assert brief(events) == [
        ("started", "tokens", 1, 0.0),
        ("started", "other", 1, 0.0),
        ("partial", "tokens", 1, "hello", 1.0),
        ("retrying", "tokens", 1, "ConnectionError", 1.0, 2.0),
        ("finished", "other", "success", 2.5),
        ("started", "tokens", 2, 3.0),
        ("partial", "tokens", 2, "hello", 4.0),
        ("partial", "tokens", 2, "big", 5.0),
        ("partial", "tokens", 2, "world", 6.0),
        ("finished", "tokens", "success", 6.0),
    ]
    # The value is the list of the successful attempt's items; a consumer drops attempt 1's.
    assert events[-1].result.value == ["hello", "big", "world"]
    kept = [e.item for e in events if isinstance(e, PartialEvent) and e.attempt == events[-1].result.attempts]
    assert kept == ["hello", "big", "world"]


def test_a_sync_generator_skill_streams_partials_from_its_thread() -> None:
    @skill
    def pages(n: int) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.01)
            yield i

    async def main() -> list[Any]:
        return await all_events(pages(3))

    events = asyncio.run(main())
    assert [e.kind for e in events] == ["started", "partial", "partial", "partial", "finished"]
    assert [e.item for e in events if e.kind == "partial"] == [0, 1, 2]
    assert events[-1].result.value == [0, 1, 2]


def test_leaving_early_closes_the_generator_and_cancels_the_rest() -> None:
    closed: list[str] = []

    @skill
    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                await asyncio.sleep(1)
                yield i
                i += 1
        finally:
            closed.append("endless")

    @skill
    async def slow() -> int:
        try:
            await asyncio.sleep(100)
        finally:
            closed.append("slow")
        return 1

    async def main() -> tuple[list[Any], float]:
        seen: list[Any] = []
        async with run([endless(), slow()]).events() as events:
            async for e in events:
                seen.append(e)
                if e.kind == "partial" and e.item == 2:
                    break
        return seen, asyncio.get_running_loop().time()

    (seen, at), _ = vrun(main)
    assert at == 3.0
    assert sorted(closed) == ["endless", "slow"]  # both ended before `async with` returned
    assert [e.item for e in seen if e.kind == "partial"] == [0, 1, 2]
    assert not [e for e in seen if e.kind == "finished"]


def test_the_cap_holds_and_every_result_arrives_exactly_once() -> None:
    running = 0
    peak = 0

    @skill
    async def work(n: int) -> AsyncIterator[int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            for i in range(3):
                await asyncio.sleep(0.1 * (n % 4 + 1))
                yield i
        finally:
            running -= 1

    async def main() -> list[Any]:
        events: list[Any] = []
        async with run((work(i).named(f"w{i}") for i in range(40)), max_concurrency=5).events() as stream:
            async for e in stream:
                events.append(e)
                await asyncio.sleep(0.05)  # a slow consumer: partials must not stall the run
        return events

    events, _ = vrun(main)
    assert peak == 5
    finished = [e.key for e in events if e.kind == "finished"]
    assert sorted(finished) == sorted(f"w{i}" for i in range(40))
    for key in finished:
        mine = [e.kind for e in events if getattr(e, "key", None) == key]
        assert mine == ["started", "partial", "partial", "partial", "finished"]


def test_events_leave_the_user_instruments_in_place() -> None:
    seen: list[str] = []

    class Seen(Instrument):
        def call_finished(self, result: Any) -> None:
            seen.append(result.key)

    @skill
    async def one() -> int:
        return 1

    events, _ = vrun(lambda: all_events(one(), instruments=[Seen()]))
    assert seen == ["one"] and [e.kind for e in events] == ["started", "finished"]


def test_a_stream_runs_once_whether_read_as_results_or_events() -> None:
    @skill
    async def one() -> int:
        return 1

    async def main() -> None:
        stream = run(one())
        assert [e.kind async for e in stream.events()] == ["started", "finished"]
        with pytest.raises(RuntimeError, match="already consumed"):
            async for _ in stream:
                pass
        with pytest.raises(RuntimeError, match="already consumed"):
            async for _ in stream.events():
                pass

    vrun(main)


def test_a_failing_source_ends_the_events_with_its_error_after_the_events_before_it() -> None:
    @skill
    async def one(n: int) -> int:
        return n

    def source() -> Iterator[SkillCall[int]]:
        yield one(1)
        raise ValueError("source broke")

    async def main() -> list[str]:
        kinds: list[str] = []
        with pytest.raises(ValueError, match="^source broke$"):
            async for e in run(source(), max_concurrency=1).events():
                kinds.append(e.kind)
        return kinds

    kinds, _ = vrun(main)
    assert kinds == ["started", "finished"]


def test_event_is_a_discriminated_union_on_kind() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Event)
    e = adapter.validate_python({"kind": "deadline", "at": 3.0})
    assert isinstance(e, DeadlineEvent) and e.at == 3.0
    e = adapter.validate_python({"kind": "partial", "key": "k", "index": 0, "attempt": 1, "item": "x", "at": 0})
    assert isinstance(e, PartialEvent)
    with pytest.raises(ValidationError) as info:
        adapter.validate_python({"kind": "nope", "at": 0})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"
    # What the engine builds without validation equals the validated model.
    async def main() -> list[Any]:
        return await all_events(skill(lambda: 1, name="one")())

    events, _ = vrun(main)
    for event in events:
        assert adapter.validate_python(event.model_dump()) == event
    assert events[-1].result.status is Status.SUCCESS


def test_plain_runs_carry_no_event_instrument() -> None:
    from pipeline._observing._events import EventFeed

    stream = run([])
    assert stream._spec.instruments == ()
    assert not any(isinstance(i, EventFeed) for i in stream.events()._stream._spec.instruments)


def test_a_second_events_reader_is_refused_without_closing_the_first_readers_run() -> None:
    @skill
    async def later(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def main() -> list[str]:
        events = run([later(1), later(2)]).events()

        async def read() -> list[str]:
            return [e.kind async for e in events]

        first = asyncio.ensure_future(read())
        await asyncio.sleep(0.5)  # the first reader is waiting for an event
        with pytest.raises(RuntimeError, match="already being read by another task"):
            async with events:
                async for _ in events:
                    pass
        return await asyncio.wait_for(first, 10)

    kinds, loop = vrun(main)
    assert kinds == ["started", "started", "finished", "finished"] and loop.time() == 2
