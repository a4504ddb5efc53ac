"""Every way of consuming a run, the fan-ins, and errors that belong to the consumer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from reactivex.scheduler.eventloop import AsyncIOScheduler

from pipeline import Results, SkillError, SkillResult, Status, gather, run, skill
from tests.support.probes import Probe
from tests.support.vloop import vrun


@skill
async def after(seconds: float, value: Any) -> Any:
    await asyncio.sleep(seconds)
    return value


@skill
async def explode(seconds: float) -> None:
    await asyncio.sleep(seconds)
    raise ValueError("exploded")


async def consume(how: str, calls: list[Any], **kw: Any) -> list[SkillResult]:
    """The results of one run, read the way ``how`` says, in arrival order."""
    if how == "aiter":
        return [r async for r in run(calls, **kw)]
    if how == "collect":
        return sorted(await run(calls, **kw).collect(), key=lambda r: r.finished_at or 0)
    done = asyncio.get_running_loop().create_future()
    got: list[SkillResult] = []
    run(calls, **kw).observable.subscribe(
        got.append,
        done.set_exception,
        lambda: done.set_result(None),
        scheduler=AsyncIOScheduler(asyncio.get_running_loop()),
    )
    await done
    return got


@pytest.fixture(params=["aiter", "collect", "observable"])
def how(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def test_every_way_of_consuming_sees_the_same_results(how: str) -> None:
    async def main() -> list[SkillResult]:
        return await consume(how, [after(3, "c"), explode(1), after(2, "b")], max_concurrency=2)

    results, _ = vrun(main)
    assert [(r.value, r.status.value, r.finished_at) for r in results] == [
        (None, "error", 1.0),
        ("c", "success", 3.0),  # timer set at t=0 ...
        ("b", "success", 3.0),  # ... before b's, set when it took explode's slot at t=1
    ]


def test_every_way_of_consuming_honours_the_deadline(how: str) -> None:
    async def main() -> list[SkillResult]:
        return await consume(how, [after(1, "a"), after(5, "b"), after(0.5, "c")], max_concurrency=2, timeout=2)

    results, loop = vrun(main)
    assert sorted((r.index, r.status.value) for r in results) == [
        (0, "success"),
        (1, "timeout"),
        (2, "success"),
    ]
    assert loop.time() == 2


def test_observable_subscriber_error_ends_the_run_and_reaches_on_error() -> None:
    probe = Probe()
    work = probe.make()
    errors: list[Exception] = []

    def on_next(r: SkillResult) -> None:
        raise RuntimeError(f"consumer choked on {r.value}")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        run([work(1, 1), work(2, 5)]).observable.subscribe(
            on_next, errors.append, scheduler=AsyncIOScheduler(loop)
        )
        await asyncio.sleep(2)

    vrun(main)
    assert [str(e) for e in errors] == ["consumer choked on 1"]
    assert probe.cancelled == [2]


def test_observable_dispose_cancels_in_flight() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> None:
        sub = run([work(i, 10) for i in range(3)]).observable.subscribe(
            scheduler=AsyncIOScheduler(asyncio.get_running_loop())
        )
        await asyncio.sleep(1)
        sub.dispose()
        await asyncio.sleep(0)

    vrun(main)
    assert sorted(probe.cancelled) == [0, 1, 2]


def test_observable_outside_a_loop_says_how_to_subscribe() -> None:
    with pytest.raises(RuntimeError, match=r"^subscribe to ResultStream.observable on a running event loop"):
        run([after(0, 1)]).observable.subscribe()


def test_scan_yields_the_running_aggregate_after_every_result() -> None:
    async def main() -> list[Any]:
        calls = [after(3, 30), after(1, 10), after(2, 20)]
        return [acc async for acc in run(calls).scan(lambda acc, r: acc + [r.value], [])]

    totals, _ = vrun(main)
    assert totals == [[10], [10, 20], [10, 20, 30]]


def test_reduce_returns_the_final_aggregate() -> None:
    async def main() -> int:
        return await run([after(i, i) for i in range(5)]).reduce(lambda acc, r: acc + r.value, 0)

    total, _ = vrun(main)
    assert total == 10


def test_reducer_exception_surfaces_after_emitted_aggregates_and_cancels_in_flight() -> None:
    probe = Probe()
    work = probe.make()
    seen: list[Any] = []

    def reducer(acc: int, r: SkillResult) -> int:
        if r.value == 2:
            raise ZeroDivisionError("reducer bug")
        return acc + 1

    async def main() -> None:
        with pytest.raises(ZeroDivisionError, match="^reducer bug$"):
            async for acc in run([work(i, i) for i in range(1, 6)]).scan(reducer, 0):
                seen.append(acc)

    vrun(main)
    assert seen == [1]
    assert sorted(probe.cancelled) == [3, 4, 5]


def test_fallback_exception_surfaces_after_results_and_cancels_in_flight() -> None:
    probe = Probe()
    work = probe.make()

    def bad_fallback(exc: BaseException) -> Any:
        raise LookupError("fallback bug")

    @skill(fallback=bad_fallback)
    async def fails(seconds: float) -> None:
        await asyncio.sleep(seconds)
        raise ValueError("x")

    seen: list[Any] = []

    async def main() -> None:
        with pytest.raises(LookupError, match="^fallback bug$"):
            async for r in run([work("first", 1), fails(2), work("slow", 10)]):
                seen.append(r.value)

    vrun(main)
    assert seen == ["first"]
    assert probe.cancelled == ["slow"]


def test_generator_source_raising_midway_keeps_results_then_raises() -> None:
    probe = Probe()
    work = probe.make()

    def calls() -> Any:
        yield work("a", 1)
        yield work("b", 5)
        raise OSError("source broke")

    seen: list[Any] = []

    async def main() -> None:
        with pytest.raises(OSError, match="^source broke$"):
            async for r in run(calls(), max_concurrency=2):
                seen.append(r.value)

    vrun(main)
    assert seen == ["a"]  # taking the third call failed when a's slot freed at t=1
    assert probe.cancelled == ["b"]


def test_lazy_source_yielding_a_non_call_fails_naming_its_position() -> None:
    def calls() -> Any:
        yield after(0, 1)
        yield "oops"

    async def main() -> None:
        with pytest.raises(TypeError, match=r"^run\(\) takes SkillCalls; item 1 of the source is 'oops'$"):
            await run(calls(), max_concurrency=1).collect()

    vrun(main)


def test_gather_returns_values_in_argument_order() -> None:
    @skill(fallback="n/a")
    async def broken() -> str:
        raise ValueError("down")

    async def main() -> tuple[Any, ...]:
        return await gather(after(2, "stock"), after(1, "news"), broken())

    values, loop = vrun(main)
    assert values == ("stock", "news", "n/a")
    assert loop.time() == 2


def test_gather_raises_after_every_call_finished_naming_each_failure() -> None:
    probe = Probe()
    work = probe.make(timeout=3)

    async def main() -> SkillError:
        with pytest.raises(SkillError) as info:
            await gather(work("ok", 5 - 3), explode(1), work("slow", 10))
        return info.value

    error, loop = vrun(main)
    assert str(error) == (
        "2 of 3 calls ended without a value: explode (error: ValueError: exploded); "
        "work (timeout: SkillTimeout: attempt 1 exceeded the timeout of 3 s)"
    )
    assert error.results is not None and len(error.results) == 3
    assert error.results[0].ok and error.result is error.results[1]
    assert loop.time() == 3  # waited for every call


def test_awaiting_one_call() -> None:
    async def main() -> Any:
        value = await after(1, "x")
        with pytest.raises(SkillError, match=r"^explode ended error \(ValueError: exploded\)$"):
            await explode(0)
        return value

    value, _ = vrun(main)
    assert value == "x"


def test_results_lookup_values_errors_and_ambiguity() -> None:
    async def main() -> Results:
        return await run(
            [after(1, "a").named("first"), after(2, "b").named("second"), explode(1), after(0, 1), after(0, 2)]
        ).collect()

    results, _ = vrun(main)
    assert results["first"].value == "a" and results["explode"].status is Status.ERROR
    assert not results.ok and [r.key for r in results.errors] == ["explode"]
    with pytest.raises(KeyError, match="ambiguous"):
        results["after"]
    with pytest.raises(KeyError, match=r"ambiguous.*call.named"):
        results.as_dict()
    assert results.values() == ["a", "b", 1, 2]  # submission order, the failed one left out
    assert results[:2] == [results["first"], results["second"]]
    assert results.keys() == ["first", "second", "explode", "after", "after"]


def test_values_of_a_fan_out_of_one_skill_are_its_values_in_submission_order() -> None:
    # The commonest fan-out: one skill, several inputs, every call keyed by the skill's name.
    @skill(fallback="none")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0.03 if url == "a" else 0.01)  # finishes last, comes first
        if url == "bad":
            raise ValueError("no page")
        return f"page {url}"

    async def main() -> Results:
        return await run([fetch(u) for u in ("a", "bad", "b", "c")]).collect()

    results, _ = vrun(main)
    assert results.keys() == ["fetch"] * 4
    assert results.values() == ["page a", "none", "page b", "page c"]  # fallbacks included
    with pytest.raises(KeyError, match=r"'fetch' is ambiguous.*named"):
        results.as_dict()
    named = Results([r.model_copy(update={"key": f"fetch{r.index}"}) for r in results])
    assert named.as_dict() == {"fetch0": "page a", "fetch1": "none", "fetch2": "page b", "fetch3": "page c"}


def test_a_stream_is_iterated_once_and_a_second_iteration_says_so() -> None:
    async def main() -> list[int]:
        stream = run([after(0, 1)])
        first = [r.value async for r in stream]
        with pytest.raises(RuntimeError, match="already consumed"):
            [r async for r in stream]
        with pytest.raises(RuntimeError, match="already consumed"):
            await stream.collect()
        return first

    values, _ = vrun(main)
    assert values == [1]


def test_two_tasks_reading_one_stream_is_an_error_not_a_hang() -> None:
    async def main() -> list[int]:
        stream = run([after(1, 1), after(2, 2)])

        async def read() -> list[int]:
            return [r.value async for r in stream]

        first = asyncio.ensure_future(read())
        await asyncio.sleep(0.5)  # the first reader is waiting for a result
        with pytest.raises(RuntimeError, match="already being read by another task"):
            await read()
        return await first

    values, loop = vrun(main)
    assert values == [1, 2] and loop.time() == 2


def test_nothing_starts_before_iteration() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> None:
        stream = run([work(1, 0)])
        await asyncio.sleep(1)
        assert probe.starts == {}
        await stream.aclose()

    vrun(main)
    assert probe.starts == {}


def test_unbounded_concurrency() -> None:
    probe = Probe()
    work = probe.make()

    async def main() -> Any:
        return await run([work(i, 1) for i in range(50)], max_concurrency=None).collect()

    results, loop = vrun(main)
    assert len(results) == 50 and probe.max_active == 50 and loop.time() == 1


@pytest.mark.parametrize("how", ["collect", "reduce", "scan", "async with"])
def test_a_second_reader_is_refused_without_closing_the_first_readers_run(how: str) -> None:
    async def main() -> list[int]:
        stream = run([after(1, 1), after(2, 2)])

        async def read() -> list[int]:
            return [r.value async for r in stream]

        first = asyncio.ensure_future(read())
        await asyncio.sleep(0.5)  # the first reader is waiting for a result
        with pytest.raises(RuntimeError, match="already being read by another task"):
            if how == "collect":
                await stream.collect()
            elif how == "reduce":
                await stream.reduce(lambda acc, r: acc, None)
            elif how == "scan":
                async for _ in stream.scan(lambda acc, r: acc, None):
                    pass
            else:
                async with stream:
                    async for _ in stream:
                        pass
        return await asyncio.wait_for(first, 10)

    values, loop = vrun(main)
    assert values == [1, 2] and loop.time() == 2


def _pending_workers() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and not t.done() and t.get_name() == "skillstream worker"
    ]


@pytest.mark.parametrize("grace", [1.0, 0])
@pytest.mark.parametrize("how", ["collect", "aiter", "events", "reduce"])
def test_nothing_of_a_run_is_pending_when_its_iteration_ends(how: str, grace: float) -> None:
    async def main() -> None:
        calls = [after(i % 3 * 0.1, i) for i in range(20)]
        stream = run(calls, max_concurrency=5, cancel_grace=grace)
        if how == "collect":
            assert len(await stream.collect()) == 20
        elif how == "aiter":
            assert len([r async for r in stream]) == 20
        elif how == "events":
            assert len([e async for e in stream.events()]) == 40
        else:
            assert await stream.reduce(lambda n, r: n + 1, 0) == 20
        assert _pending_workers() == []
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    vrun(main)
    asyncio.run(main())


def test_nothing_of_a_run_is_pending_after_leaving_it_early() -> None:
    async def main() -> None:
        stream = run([after(i % 3 * 0.1, i) for i in range(20)], max_concurrency=5)
        async with stream:
            async for _ in stream:
                break
        assert _pending_workers() == []

    vrun(main)
    asyncio.run(main())
