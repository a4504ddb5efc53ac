"""Property tests: hundreds of random runs in virtual time against an oracle.

The scenarios, the oracle and the invariants are in tests/support/oracle.py (shared with
tests/engine/test_cancellation.py); what they promise is described there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipeline import SkillResult, Status, run, skill
from tests.support.oracle import (
    PROPERTY_SETTINGS,
    Observed,
    Recorder,
    Scenario,
    build_calls,
    check_against_oracle,
    check_attempt_starts,
    check_cap,
    check_indices,
    check_start_when_ready,
    consume,
    finish,
    scenarios,
    source_of,
)
from tests.support.oracle import _frozen_heap as _frozen_heap  # noqa: F401 - autouse fixture
from tests.support.vloop import vrun


# -- the properties -----------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios(), mode=st.sampled_from(["iter", "collect", "observable"]))
def test_random_runs_match_the_oracle_and_keep_every_invariant(scenario: Scenario, mode: str) -> None:
    rec = Recorder()

    async def main() -> Observed:
        return await consume(scenario, mode, rec)

    observed, loop = vrun(main)  # vrun: no task left pending, nothing logged by the loop
    if mode == "collect":
        results = observed.collected
        assert results is not None
        # collect(): submission order.
        assert [r.index for r in results] == sorted(r.index for r in results)
    else:
        results = [r for _, r in observed.arrivals]
        # Completion order, each result delivered at the very instant its call finished.
        finished = [finish(r) for r in results]
        assert finished == sorted(finished)
        assert all(at == r.finished_at for at, r in observed.arrivals)
    by_ident = check_against_oracle(scenario, results, complete=True)
    check_indices(scenario, by_ident)
    check_cap(results, scenario.cap, rec)
    taken_at = {i: t for i, t in enumerate(rec.taken_at)} if scenario.shape.endswith("generator") else {}
    check_start_when_ready(scenario, by_ident, taken_at)
    check_attempt_starts(scenario, by_ident, rec)
    # The stream completes the moment its last result exists: nothing waits on anything.
    last = max([finish(r) for r in results], default=0.0)
    assert observed.ended_at == last, f"stream ended at {observed.ended_at}, last result at {last}"
    if scenario.deadline is not None:
        assert observed.ended_at <= scenario.deadline
        # A lazy source is never advanced at or after the deadline.
        assert all(t < scenario.deadline for t in rec.taken_at)


@PROPERTY_SETTINGS
@given(scenario=scenarios(dag=True, max_calls=30))
def test_random_dags_start_when_ready_and_skip_dependents_of_failures(scenario: Scenario) -> None:
    rec = Recorder()

    async def main() -> Observed:
        return await consume(scenario, "iter", rec)

    observed, _ = vrun(main)
    results = [r for _, r in observed.arrivals]
    by_ident = check_against_oracle(scenario, results, complete=True)
    taken_at = {i: t for i, t in enumerate(rec.taken_at)} if scenario.shape.endswith("generator") else {}
    check_start_when_ready(scenario, by_ident, taken_at)
    # Every node runs once at most: one attempt series per node, never two.
    for ident, starts in rec.attempt_starts.items():
        assert len(starts) == by_ident[ident].attempts
    # Every dependent of a node without a value is skipped (transitively): the instant
    # its first failed dependency finished, or, if the run took it from the source only
    # later (the source is read lazily), the instant it was taken.
    for plan in scenario.plans:
        r = by_ident.get(plan.ident)
        if r is None:
            continue
        failed = [by_ident[d] for d in plan.deps if d in by_ident and not by_ident[d].has_value]
        if failed:
            assert r.status is Status.SKIPPED, f"n{plan.ident} depends on a failure but ended {r.status}"
            first_failure = min(finish(f) for f in failed)
            if plan.ident in taken_at:
                assert r.finished_at == max(first_failure, taken_at[plan.ident])
            else:
                assert finish(r) >= first_failure


@PROPERTY_SETTINGS
@given(
    scenario=scenarios(),
    exit_after=st.integers(0, 10),
    how=st.sampled_from(["break", "aclose", "async-with", "cancel"]),
    cancel_at=st.integers(0, 40),
)
def test_leaving_early_at_any_point_leaves_nothing_behind(
    scenario: Scenario, exit_after: int, how: str, cancel_at: int
) -> None:
    rec = Recorder()

    async def main() -> list[tuple[float, SkillResult]]:
        loop = asyncio.get_running_loop()
        calls = build_calls(scenario, rec)
        arrivals: list[tuple[float, SkillResult]] = []
        stream = run(source_of(scenario, calls, rec), max_concurrency=scenario.cap, timeout=scenario.deadline)
        if how == "cancel":

            async def consumer() -> None:
                async for r in stream:
                    arrivals.append((loop.time(), r))

            task = asyncio.ensure_future(consumer())
            # Cancel at a random virtual time, possibly the instant a result arrives,
            # possibly after the run already ended.
            await asyncio.sleep(cancel_at / 4)
            cancelled = task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                assert cancelled, "cancelled though the consumer had already finished"
            else:
                assert not cancelled
            # Nothing of the run is still running once the consumer's task is done.
            assert rec.live == 0
            return arrivals
        if how == "async-with":
            async with stream:
                async for r in stream:
                    if len(arrivals) == exit_after:
                        break
                    arrivals.append((loop.time(), r))
            assert rec.live == 0  # done before the block was left
            return arrivals
        async for r in stream:
            if len(arrivals) == exit_after:
                break
            arrivals.append((loop.time(), r))
        if how == "aclose":
            await stream.aclose()
            assert rec.live == 0  # done before aclose() returned
        else:
            del stream  # a bare break: the dropped stream is finalized ...
            await asyncio.sleep(0)  # ... and its calls end within a loop turn
            assert rec.live == 0
        return arrivals

    arrivals, _ = vrun(main)
    results = [r for _, r in arrivals]
    check_against_oracle(scenario, results, complete=False)
    finished = [finish(r) for r in results]
    assert finished == sorted(finished)
    assert all(at == r.finished_at for at, r in arrivals)
    check_cap(results, scenario.cap, rec)


# -- shrunk counterexamples, kept as regression tests ------------------------------------


@skill(name="timed")
async def timed(tag: str, seconds: float, *inputs: Any) -> str:
    await asyncio.sleep(seconds)
    return tag


def test_regression_ready_calls_waiting_for_a_slot_do_not_start_at_the_deadline() -> None:
    # Found by the DAG property: with every slot busy, calls whose dependency had
    # finished waited in the ready queue; at the deadline the expiring calls freed their
    # slots and the ready calls started then, finishing long after the deadline.
    root = timed("root", 1)
    leaves = [timed(f"leaf{i}", 5, root).named(f"leaf{i}") for i in range(6)]

    async def main() -> Any:
        return await run(leaves, max_concurrency=3, timeout=3).collect()

    results, loop = vrun(main)
    assert [(r.key, r.status.value, r.finished_at) for r in results] == [
        ("timed", "success", 1.0),
        ("leaf0", "timeout", 3.0),
        ("leaf1", "timeout", 3.0),
        ("leaf2", "timeout", 3.0),
        ("leaf3", "skipped", 3.0),
        ("leaf4", "skipped", 3.0),
        ("leaf5", "skipped", 3.0),
    ]
    assert [r.error.type for r in results[4:]] == ["DeadlineExceeded"] * 3  # type: ignore[union-attr]
    assert loop.time() == 3


def test_regression_a_fallback_at_the_deadline_does_not_start_its_dependents() -> None:
    # Found by the random-run property: a call cut by the deadline fell back to a value,
    # which released its dependent; the dependent started at the deadline and finished
    # after it.
    source = timed("source", 5).with_options(fallback="cached")
    report = timed("report", 1, source).named("report")

    async def main() -> Any:
        return await run([source, report], timeout=2).collect()

    results, loop = vrun(main)
    assert [(r.key, r.status.value, r.value, r.finished_at) for r in results] == [
        ("timed", "timeout", "cached", 2.0),
        ("report", "skipped", None, 2.0),
    ]
    assert results[1].error is not None and results[1].error.type == "DeadlineExceeded"
    assert loop.time() == 2
