"""The oracle of the property tests: random scenarios of calls, and what a run of them must give.

Shared by tests/engine/test_properties.py and tests/engine/test_cancellation.py (a test module
never imports another one: tests/project/test_layout.py checks it).

A scenario is a random set of calls (a DAG when some calls take others as arguments),
each with a script of attempts (duration, outcome), its own timeout, retry policy and
fallback, run under a random cap and deadline, from a random source shape, read by a
random consumer (to the end, ``collect()``, the Rx observable, or leaving early).

What one call does depends only on its own script and the moment it started, so the
oracle replays each call alone from its ``started_at`` and predicts its status, value,
attempts, error and finish time exactly. Everything that depends on the other calls
(when a call starts, how many run at once) is checked as an invariant instead: the cap
is never exceeded, no call waits while a slot is free and its dependencies are done,
results arrive at their finish time in completion order, and no task is left behind.

Times are exact: durations are multiples of 1/4 s, skill timeouts sit 1/16 s off that
grid and deadlines 1/64 s off it, so no two timers of different kinds ever tie and the
order of events at one instant never decides an outcome. Every value is a dyadic
fraction, exact in binary floating point.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from reactivex.scheduler.eventloop import AsyncIOScheduler

from pipeline import NO_FALLBACK, Retry, SkillCall, SkillResult, Status, run, skill

# deadline=None: an example's wall time varies with the machine, not with a bug.
# max_examples keeps each test file well under a minute on two cores; set
# SKILLSTREAM_EXAMPLES=5000 for a deeper search.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("SKILLSTREAM_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)




@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> Iterator[None]:
    # vrun() calls gc.collect() after every example to surface "Task was destroyed but it
    # is pending"; a full collection walks every object of the test process (~35 ms).
    # Freezing what exists before the examples leaves only their own objects to walk.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


# -- scenarios ----------------------------------------------------------------------------


@dataclasses.dataclass
class Attempt:
    duration: float
    outcome: str  # "ok", "value-error", "conn-error"
    swallow: bool  # catches the cancellation and returns a value anyway


@dataclasses.dataclass
class Plan:
    """One call of a scenario and what the skill does on each attempt."""

    ident: int
    deps: list[int]
    order_only: list[int]  # deps given with after_calls(): waited for, value not passed
    attempts: list[Attempt]
    timeout: float | None
    retry: Retry | None
    retry_on: str
    fallback: str  # "none", "value", "callable"


@dataclasses.dataclass
class Scenario:
    plans: list[Plan]
    cap: int | None
    deadline: float | None
    shape: str  # "list", "sinks", "generator", "async-generator"


RETRY_ON = {
    # Every Exception (timeouts included): the default.
    "any": (Exception,),
    "conn": (ConnectionError,),
    # A predicate, the form that has retried cancellation in other libraries.
    "not-value": lambda e: not isinstance(e, ValueError),
}


@st.composite
def plans(draw: st.DrawFn, ident: int, dag: bool) -> Plan:
    deps: list[int] = []
    if dag and ident > 0:
        deps = sorted(draw(st.sets(st.integers(0, ident - 1), max_size=3)))
    order_only = [d for d in deps if draw(st.integers(0, 3)) == 0]
    retry_attempts = draw(st.sampled_from([1, 1, 2, 3]))
    retry = None
    retry_on = "any"
    if retry_attempts > 1 or draw(st.booleans()):
        retry_on = draw(st.sampled_from(sorted(RETRY_ON)))
        retry = Retry(
            attempts=retry_attempts,
            backoff=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
            multiplier=draw(st.sampled_from([1.0, 2.0])),
            on=RETRY_ON[retry_on],
        )
    attempts = [
        Attempt(
            duration=draw(st.integers(0, 12)) / 4,
            outcome=draw(st.sampled_from(["ok", "ok", "value-error", "conn-error"])),
            swallow=draw(st.booleans()),
        )
        for _ in range(retry_attempts)
    ]
    timeout = None
    if draw(st.booleans()):
        timeout = draw(st.integers(0, 8)) / 4 + 1 / 16
    return Plan(
        ident=ident,
        deps=deps,
        order_only=order_only if dag and ident > 0 else [],
        attempts=attempts,
        timeout=timeout,
        retry=retry,
        retry_on=retry_on,
        fallback=draw(st.sampled_from(["none", "none", "value", "callable"])),
    )


@st.composite
def scenarios(draw: st.DrawFn, dag: bool | None = None, max_calls: int = 25) -> Scenario:
    if dag is None:
        dag = draw(st.booleans())
    n = draw(st.integers(0, max_calls))
    ps = [draw(plans(i, dag)) for i in range(n)]
    cap = draw(st.one_of(st.none(), st.integers(1, 6)))
    deadline = None
    if draw(st.booleans()):
        deadline = draw(st.integers(0, 40)) / 4 + 1 / 64
    shapes = ["list", "duplicates", "generator", "async-generator"]
    if dag:
        # Only the sinks: the run finds every other node through the arguments.
        shapes.append("sinks")
    return Scenario(ps, cap, deadline, draw(st.sampled_from(shapes)))


# -- the instrumented skill ---------------------------------------------------------------


class Recorder:
    """What the skill saw: attempt starts and ends, live attempts, the source's takes."""

    def __init__(self) -> None:
        self.live = 0
        self.peak_live = 0
        self.attempt_starts: dict[int, list[float]] = {}
        self.cancelled: list[int] = []
        self.taken_at: list[float] = []


@skill(name="step")
async def step(plan: Plan, rec: Recorder, *inputs: Any) -> Any:
    loop = asyncio.get_running_loop()
    starts = rec.attempt_starts.setdefault(plan.ident, [])
    starts.append(loop.time())
    attempt = plan.attempts[len(starts) - 1]
    rec.live += 1
    rec.peak_live = max(rec.peak_live, rec.live)
    try:
        await asyncio.sleep(attempt.duration)
    except asyncio.CancelledError:
        rec.cancelled.append(plan.ident)
        if attempt.swallow:
            # Misbehaving skill: swallows the cancellation and returns a value anyway.
            return ("swallowed", plan.ident)
        raise
    finally:
        rec.live -= 1
    if attempt.outcome == "value-error":
        raise ValueError(f"n{plan.ident} attempt {len(starts)}")
    if attempt.outcome == "conn-error":
        raise ConnectionError(f"n{plan.ident} attempt {len(starts)}")
    return ("value", plan.ident, len(starts), list(inputs))


def _fallback_for(plan: Plan) -> Any:
    if plan.fallback == "value":
        return ("fallback", plan.ident)
    if plan.fallback == "callable":
        return lambda exc: ("fallback", plan.ident, type(exc).__name__)
    return NO_FALLBACK


def build_calls(scenario: Scenario, rec: Recorder) -> list[SkillCall[Any]]:
    calls: list[SkillCall[Any]] = []
    for plan in scenario.plans:
        call = step(plan, rec, *(calls[d] for d in plan.deps if d not in plan.order_only))
        if plan.order_only:
            call = call.after_calls(*(calls[d] for d in plan.order_only))
        calls.append(
            call.named(f"n{plan.ident}").with_options(
                timeout=plan.timeout, retry=plan.retry, fallback=_fallback_for(plan)
            )
        )
    return calls


def source_of(scenario: Scenario, calls: list[SkillCall[Any]], rec: Recorder) -> Any:
    if scenario.shape == "list":
        return calls
    if scenario.shape == "duplicates":
        # Every call object twice: each runs once, with one result.
        return calls + calls[::-1]
    if scenario.shape == "sinks":
        used = {d for p in scenario.plans for d in p.deps}
        return [c for p, c in zip(scenario.plans, calls) if p.ident not in used]

    def generator() -> Iterator[SkillCall[Any]]:
        for c in calls:
            rec.taken_at.append(asyncio.get_running_loop().time())
            yield c

    async def agenerator() -> AsyncIterator[SkillCall[Any]]:
        for c in calls:
            rec.taken_at.append(asyncio.get_running_loop().time())
            yield c

    return generator() if scenario.shape == "generator" else agenerator()


# -- the oracle ---------------------------------------------------------------------------


@dataclasses.dataclass
class Expected:
    status: Status
    finished_at: float
    attempts: int
    error_type: str | None
    error_message: str | None
    own_value: Any  # the skill's value on success
    attempt_starts: list[float]


def _matches(plan: Plan, exc_type: str) -> bool:
    on = plan.retry_on
    if on == "any":
        return True
    if on == "conn":
        return exc_type == "ConnectionError"
    return exc_type != "ValueError"


def replay(plan: Plan, started_at: float, deadline: float | None, inputs: list[Any]) -> Expected:
    """What ``plan`` ends with when its first attempt starts at ``started_at``, alone."""
    t = started_at
    starts: list[float] = []
    retry = plan.retry
    allowed = retry.attempts if retry is not None else 1
    for k in range(1, allowed + 1):
        starts.append(t)
        attempt = plan.attempts[k - 1]
        kind: str | None  # the exception the attempt ends with; None: a value
        if plan.timeout is not None and attempt.duration > plan.timeout:
            end, kind = t + plan.timeout, "SkillTimeout"
        else:
            end, kind = t + attempt.duration, {
                "ok": None,
                "value-error": "ValueError",
                "conn-error": "ConnectionError",
            }[attempt.outcome]
        if deadline is not None and end > deadline:
            return _at_deadline(deadline, k, starts)
        if kind is None:
            return Expected(Status.SUCCESS, end, k, None, None, ("value", plan.ident, k, inputs), starts)
        if kind == "SkillTimeout":
            message = f"attempt {k} exceeded the timeout of {plan.timeout:g} s"
        else:
            message = f"n{plan.ident} attempt {k}"
        if retry is not None and k < allowed and _matches(plan, kind):
            t = end + retry.delay(k)
            if deadline is not None and t > deadline:
                # The deadline came during the backoff wait.
                return _at_deadline(deadline, k, starts)
            continue
        status = Status.TIMEOUT if kind == "SkillTimeout" else Status.ERROR
        return Expected(status, end, k, kind, message, None, starts)
    raise AssertionError("unreachable")


def _at_deadline(deadline: float, attempts: int, starts: list[float]) -> Expected:
    return Expected(
        Status.TIMEOUT, deadline, attempts, "DeadlineExceeded", _deadline_message(deadline), None, starts
    )


def _deadline_message(deadline: float) -> str:
    return f"the run's deadline of {deadline:g} s was reached"


def expected_value(plan: Plan, status: Status, own: Any, error_type: str | None) -> tuple[Any, bool]:
    if status is Status.SUCCESS:
        return own, False
    if plan.fallback == "value":
        return ("fallback", plan.ident), True
    if plan.fallback == "callable":
        return ("fallback", plan.ident, error_type), True
    return None, False


# -- consuming ----------------------------------------------------------------------------


@dataclasses.dataclass
class Observed:
    arrivals: list[tuple[float, SkillResult]]
    ended_at: float
    collected: list[SkillResult] | None = None


async def consume(scenario: Scenario, mode: str, rec: Recorder) -> Observed:
    loop = asyncio.get_running_loop()
    calls = build_calls(scenario, rec)
    source = source_of(scenario, calls, rec)
    stream = run(source, max_concurrency=scenario.cap, timeout=scenario.deadline)
    arrivals: list[tuple[float, SkillResult]] = []
    if mode == "iter":
        async for r in stream:
            arrivals.append((loop.time(), r))
        return Observed(arrivals, loop.time())
    if mode == "collect":
        collected = await stream.collect()
        return Observed([], loop.time(), list(collected))
    done: asyncio.Future[None] = loop.create_future()
    stream.observable.subscribe(
        lambda r: arrivals.append((loop.time(), r)),
        done.set_exception,
        lambda: done.set_result(None),
        scheduler=AsyncIOScheduler(loop),
    )
    await done
    return Observed(arrivals, loop.time())


# -- checks -------------------------------------------------------------------------------


def finish(r: SkillResult) -> float:
    assert r.finished_at is not None, r  # every result the run emits has finished
    return r.finished_at


def spans(results: Any) -> list[tuple[float, float]]:
    """Each started call's slot: from its first start to its result."""
    return [(r.started_at, finish(r)) for r in results if r.started_at is not None]


def check_cap(results: list[SkillResult], cap: int | None, rec: Recorder) -> None:
    """No instant has more calls holding a slot (first start to result, backoff waits
    included) than the cap; nor more attempts running in the skill itself."""
    if cap is None:
        return
    intervals = spans(results)
    for t, _ in intervals:
        holding = sum(1 for s, f in intervals if s <= t < f)
        assert holding <= cap, f"{holding} calls in flight at t={t}, cap {cap}"
    assert rec.peak_live <= cap


def check_start_when_ready(
    scenario: Scenario, by_ident: dict[int, SkillResult], taken_at: dict[int, float]
) -> None:
    """A call never starts before its dependencies have finished, and starts the moment
    the last one finishes unless every slot is busy from then until it starts."""
    cap = scenario.cap
    intervals = spans(by_ident.values())
    events = sorted({t for iv in intervals for t in iv})
    for plan in scenario.plans:
        r = by_ident.get(plan.ident)
        if r is None or r.started_at is None:
            continue
        ready = max([finish(by_ident[d]) for d in plan.deps] + [taken_at.get(plan.ident, 0.0)])
        assert r.started_at >= ready, f"n{plan.ident} started at {r.started_at} before ready at {ready}"
        if r.started_at == ready:
            continue
        assert cap is not None, f"n{plan.ident} ready at {ready} but started at {r.started_at} with no cap"
        for t in [ready] + [e for e in events if ready < e < r.started_at]:
            holding = sum(1 for s, f in intervals if s <= t < f)
            assert holding == cap, (
                f"n{plan.ident} ready at {ready}, started at {r.started_at}, "
                f"but only {holding} of {cap} slots were busy at t={t}"
            )


def check_against_oracle(scenario: Scenario, results: list[SkillResult], complete: bool) -> dict[int, SkillResult]:
    """Every result matches what its call does alone; with ``complete``, every call
    the run took has exactly one result."""
    keys = [r.key for r in results]
    assert len(keys) == len(set(keys)), f"a call has two results: {sorted(keys)}"
    by_ident = {int(r.key[1:]): r for r in results}
    plans = {p.ident: p for p in scenario.plans}
    deadline = scenario.deadline
    for ident in sorted(by_ident):
        r = by_ident[ident]
        plan = plans[ident]
        assert r.name == "step"
        if r.finished_at is not None and deadline is not None:
            assert r.finished_at <= deadline, f"n{ident} finished at {r.finished_at}, after the deadline"
        # A dependency's result always comes before its dependent's, so even a consumer
        # that left early has seen the failed dependency a skip names.
        failed_deps = [d for d in plan.deps if d in by_ident and not by_ident[d].has_value]
        if r.status is Status.SKIPPED:
            assert r.started_at is None and r.attempts == 0 and r.error is not None
            if r.error.type == "DependencyFailed":
                assert failed_deps, f"n{ident} skipped though its dependencies all have values"
                assert r.error.message.startswith("dependency 'n"), r.error.message
                named = int(r.error.message.split("'")[1][1:])
                assert named in failed_deps
                assert r.error.message == (
                    f"dependency 'n{named}' (#{by_ident[named].index}) ended {by_ident[named].status.value}"
                )
            else:
                # Not started by the deadline (or a dependency was cut by it).
                assert r.error.type == "DeadlineExceeded", r.error
                assert deadline is not None and r.finished_at == deadline
                assert r.error.message == _deadline_message(deadline)
            value, used = expected_value(plan, Status.SKIPPED, None, r.error.type)
            assert (r.value, r.fallback_used) == (value, used)
            continue
        # It started: its dependencies all had values, which were passed in.
        assert all(d in by_ident for d in plan.deps), f"n{ident} arrived before a dependency"
        assert not failed_deps, f"n{ident} started though {failed_deps} ended without a value"
        inputs = [by_ident[d].value for d in plan.deps if d not in plan.order_only]
        assert r.started_at is not None
        exp = replay(plan, r.started_at, deadline, inputs)
        got = (r.status, r.finished_at, r.attempts, r.error.type if r.error else None,
               r.error.message if r.error else None)
        want = (exp.status, exp.finished_at, exp.attempts, exp.error_type, exp.error_message)
        assert got == want, f"n{ident}: got {got}, oracle {want}"
        value, used = expected_value(plan, exp.status, exp.own_value, exp.error_type)
        assert (r.value, r.fallback_used) == (value, used), f"n{ident}"
    if complete:
        # Calls of a sized source all end with a result; a lazy source's calls too,
        # since every scenario's source is finite and read to its end or its deadline.
        expected_idents = set(plans)
        if scenario.shape in ("generator", "async-generator") and deadline is not None:
            # After the deadline the source is not advanced: only calls taken have results.
            assert set(by_ident) <= expected_idents
            taken = len(by_ident)
            assert set(by_ident) == set(range(taken)), "a call was taken but has no result"
        else:
            assert set(by_ident) == expected_idents, (
                f"missing results for {sorted(expected_idents - set(by_ident))}"
            )
    return by_ident


def check_indices(scenario: Scenario, by_ident: dict[int, SkillResult]) -> None:
    """``index`` is the order calls were taken, dependencies first: with every call given
    in creation order, it is the creation order."""
    if scenario.shape != "sinks":
        assert all(r.index == ident for ident, r in by_ident.items())
    else:
        assert sorted(r.index for r in by_ident.values()) == list(range(len(by_ident)))
        for plan in scenario.plans:
            for d in plan.deps:
                if plan.ident in by_ident and d in by_ident:
                    assert by_ident[d].index < by_ident[plan.ident].index


def check_attempt_starts(scenario: Scenario, by_ident: dict[int, SkillResult], rec: Recorder) -> None:
    """The skill really ran each attempt when the oracle says (backoff waits exact)."""
    for ident, r in by_ident.items():
        if r.started_at is None:
            assert ident not in rec.attempt_starts
            continue
        plan = scenario.plans[ident]
        exp = replay(plan, r.started_at, scenario.deadline, [by_ident[d].value for d in plan.deps if d not in plan.order_only])
        assert rec.attempt_starts[ident] == exp.attempt_starts, f"n{ident}"
