"""A Hypothesis state machine drives one run step by step (RELIABILITY.md T26).

The run reads calls from a queue that the rules fill while it runs; a gated consumer
takes one result per ``pull`` rule, so results pile up and backpressure is exercised;
virtual time moves only when a rule advances it. Hypothesis searches for a sequence of
rules that breaks an invariant, and shrinks it to the shortest.

Hypothesis has no async rules (HypothesisWorks/hypothesis#4107): each rule runs its
async step on the machine's own virtual loop with ``run_until_complete``.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pipeline import Retry, SkillCall, SkillResult, Status, run, skill
from tests.support.vloop import VirtualLoop


class RunMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = VirtualLoop()
        asyncio.set_event_loop(self.loop)
        self.live = 0
        self.peak_live = 0
        self.added: dict[str, str] = {}  # key -> what the call was told to do
        self.seq = 0
        self.runs = 0
        self.cap = 1

    # -- the skill ------------------------------------------------------------------------

    def make_call(self, kind: str, seconds: float) -> SkillCall[Any]:
        machine = self

        @skill(name="job")
        async def job(key: str) -> str:
            machine.live += 1
            machine.peak_live = max(machine.peak_live, machine.live)
            try:
                await asyncio.sleep(3600 if kind == "hang" else seconds)
            finally:
                machine.live -= 1
            if kind == "fail":
                raise ConnectionError(key)
            return key

        self.seq += 1
        key = f"c{self.seq}"
        self.added[key] = kind
        options: dict[str, Any] = {}
        if kind == "hang":
            options["timeout"] = 2.0
        if kind == "fail":
            options["retry"] = Retry(attempts=2, backoff=0.5)
        return job(key).named(key).with_options(**options)

    # -- one run at a time --------------------------------------------------------------------

    def start_run(self, cap: int, scoped: bool) -> None:
        self.runs += 1
        self.cap = cap
        self.scoped = scoped
        self.queue: asyncio.Queue[SkillCall[Any] | None] = asyncio.Queue()
        self.taken = 0
        self.results: list[SkillResult] = []
        self.in_this_run: list[str] = []
        # The consumer takes one result per permit; the first permit starts the run
        # (a stream is cold), later ones come from the pull rule.
        self.gate = asyncio.Semaphore(1)
        self.finished = False

        async def source() -> AsyncIterator[SkillCall[Any]]:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                self.taken += 1
                yield item

        self.stream = run(source(), max_concurrency=cap)

        async def take_all(iterator: AsyncIterator[SkillResult]) -> None:
            while True:
                await self.gate.acquire()
                try:
                    result = await anext(iterator)
                except StopAsyncIteration:
                    self.finished = True
                    return
                self.results.append(result)

        async def consume() -> None:
            if scoped:
                # Leaving the block by any exit, cancellation included, closes the run.
                async with self.stream as stream:
                    await take_all(aiter(stream))
            else:
                # Bare iteration: a consumer cancelled between two results (here, on
                # its gate) leaves the run to the stream's finalizer, like a bare break.
                await take_all(aiter(self.stream))

        self.consumer = self.loop.create_task(consume())
        self.settle()

    def bounded(self, awaitable: Any) -> None:
        """Run ``awaitable`` to its end, failing (not hanging) if it takes more than
        an hour of virtual time: nothing in a run is that long."""
        task = self.loop.create_task(awaitable) if not isinstance(awaitable, asyncio.Future) else awaitable
        self.loop.run_until_complete(asyncio.wait([task], timeout=3600))
        assert task.done(), f"still waiting after an hour: {task}"
        if not task.cancelled():
            task.result()

    def wait_for_consumer(self) -> None:
        consumer = self.consumer
        self.loop.run_until_complete(asyncio.wait([consumer], timeout=3600))
        assert consumer.done(), "the consumer is still waiting for results after an hour"

    def settle(self) -> None:
        """Let every ready callback run without moving virtual time."""
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))

    @initialize(cap=st.integers(1, 4), scoped=st.booleans())
    def first_run(self, cap: int, scoped: bool) -> None:
        self.start_run(cap, scoped)

    # -- rules ------------------------------------------------------------------------------

    @rule(
        jobs=st.lists(
            st.tuples(st.sampled_from(["ok", "ok", "fail", "hang"]), st.integers(0, 8)),
            min_size=1,
            max_size=4,
        )
    )
    def add_calls(self, jobs: list[tuple[str, int]]) -> None:
        for kind, quarters in jobs:
            call = self.make_call(kind, quarters / 4)
            self.in_this_run.append(call.key)
            self.queue.put_nowait(call)
        self.settle()

    @rule(quarters=st.integers(1, 16))
    def advance_virtual_time(self, quarters: int) -> None:
        self.loop.run_until_complete(asyncio.sleep(quarters / 4))

    @rule(n=st.integers(1, 3))
    def pull_results(self, n: int) -> None:
        for _ in range(n):
            self.gate.release()
        self.settle()

    @rule(how=st.sampled_from(["drain", "aclose", "cancel"]), cap=st.integers(1, 4), scoped=st.booleans())
    def end_the_run_and_start_another(self, how: str, cap: int, scoped: bool) -> None:
        if how == "drain":
            # End the source and consume everything: exactly one result per call.
            self.queue.put_nowait(None)
            for _ in self.in_this_run:
                self.gate.release()
            self.gate.release()
            self.wait_for_consumer()
            assert self.finished
            assert sorted(r.key for r in self.results) == sorted(self.in_this_run)
        elif how == "aclose":
            self.consumer.cancel()  # it may be parked on its gate
            self.wait_for_consumer()
            self.bounded(self.stream.aclose())
        else:
            self.consumer.cancel()
            self.wait_for_consumer()
            if not self.scoped:
                # The user lets go of the stream. The cancelled task must go too: its
                # CancelledError's traceback holds the consumer's frame, which holds the
                # stream (a user who keeps either alive keeps the run alive, as after a
                # bare break; `async with` is the way to make cleanup not depend on it).
                del self.stream
                del self.consumer
        self.check_nothing_left()
        self.start_run(cap, scoped)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def never_above_the_cap(self) -> None:
        assert self.live <= self.cap

    @invariant()
    def each_call_at_most_one_result_and_only_calls_that_were_added(self) -> None:
        keys = [r.key for r in self.results]
        assert len(keys) == len(set(keys))
        assert set(keys) <= set(self.added)

    @invariant()
    def results_are_correct_and_in_completion_order(self) -> None:
        now = self.loop.time()
        finished = [r.finished_at for r in self.results]
        assert finished == sorted(finished)  # type: ignore[type-var]
        for r in self.results:
            assert r.finished_at is not None and r.finished_at <= now
            expected = {"ok": Status.SUCCESS, "fail": Status.ERROR, "hang": Status.TIMEOUT}
            assert r.status is expected[self.added[r.key]]
            if r.status is Status.SUCCESS:
                assert r.value == r.key
            if self.added[r.key] == "fail":
                assert r.attempts == 2

    @invariant()
    def memory_is_bounded_by_the_cap(self) -> None:
        # Taken from the source but not yet consumed: at most cap running, cap results
        # waiting for the consumer (backpressure), and the one being taken.
        assert self.taken - len(self.results) <= 2 * self.cap + 1

    @invariant()
    def the_loop_reported_nothing(self) -> None:
        assert self.loop.errors == []

    def check_nothing_left(self) -> None:
        gc.collect()  # finalizes a dropped stream, which cancels what it still runs
        self.settle()  # the cancelled tasks end within a loop turn or two
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        assert pending == []
        assert self.live == 0
        assert self.loop.errors == []

    def teardown(self) -> None:
        if not hasattr(self, "stream"):  # torn down right after a failed start
            asyncio.set_event_loop(None)
            self.loop.close()
            return
        try:
            self.consumer.cancel()
            self.wait_for_consumer()
            self.bounded(self.stream.aclose())
            self.check_nothing_left()
            assert self.runs >= 1
        finally:
            asyncio.set_event_loop(None)
            self.loop.close()


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap() -> Iterator[None]:
    # Each teardown collects garbage to surface "Task was destroyed but it is pending";
    # freezing the test process's older objects keeps that collection cheap.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


RunMachine.TestCase.settings = settings(
    # SKILLSTREAM_EXAMPLES=5000 for a deeper search (as in test_properties.py).
    max_examples=int(os.environ.get("SKILLSTREAM_EXAMPLES", "100")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRunMachine = RunMachine.TestCase
