"""Hedge: a copy of a slow attempt races it; the first success wins, the others are
stopped. Virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from pipeline import Hedge, RateLimit, Retry, Status, run, skill
from tests.support.vloop import vrun


class Server:
    """Answers copy n of a request after ``latencies[n]`` seconds (or fails with it)."""

    def __init__(self, latencies: list[float | Exception]) -> None:
        self.latencies = latencies
        self.started: list[float] = []
        self.cancelled: list[int] = []
        self.answered: list[int] = []

    async def handle(self, key: str) -> str:
        n = len(self.started)
        loop = asyncio.get_running_loop()
        self.started.append(round(loop.time(), 6))
        latency = self.latencies[n % len(self.latencies)]
        try:
            if isinstance(latency, Exception):
                await asyncio.sleep(0.05)
                raise latency
            await asyncio.sleep(latency)
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        self.answered.append(n)
        return f"{key} from copy {n}"


def hedged_skill(server: Server, hedge: Hedge, **options: Any) -> Any:
    async def lookup(key: str) -> str:
        return await server.handle(key)

    return skill(lookup, hedge=hedge, idempotent=True, **options)


def test_a_slow_attempt_is_raced_by_a_copy_and_the_first_answer_wins() -> None:
    server = Server([2.0, 0.05])
    lookup = hedged_skill(server, Hedge(after=0.1))

    async def main() -> Any:
        return await run([lookup("k")]).collect()

    (result,), loop = vrun(main)
    assert (result.status, result.value, result.attempts) == (Status.SUCCESS, "k from copy 1", 1)
    assert result.finished_at == pytest.approx(0.15)  # not 2 s
    assert server.started == [0.0, 0.1]
    assert server.cancelled == [0]  # the slow copy is stopped, not left running


def test_a_quick_answer_starts_no_copy() -> None:
    server = Server([0.05])
    lookup = hedged_skill(server, Hedge(after=0.1))

    async def main() -> Any:
        return await run([lookup("k")]).collect()

    (result,), _ = vrun(main)
    assert result.value == "k from copy 0" and server.started == [0.0]


def test_up_to_max_extra_copies_start_after_apart() -> None:
    server = Server([5.0, 5.0, 0.02])
    lookup = hedged_skill(server, Hedge(after=0.1, max_extra=2))

    async def main() -> Any:
        return await run([lookup("k")]).collect()

    (result,), _ = vrun(main)
    assert result.value == "k from copy 2" and result.finished_at == pytest.approx(0.22)
    assert server.started == [0.0, 0.1, 0.2]
    assert sorted(server.cancelled) == [0, 1]


def test_a_failing_copy_waits_for_the_others_and_all_failing_fails_the_attempt() -> None:
    server = Server([0.3, ValueError("copy 1 broke")])
    lookup = hedged_skill(server, Hedge(after=0.1))

    async def main() -> Any:
        return await run([lookup("k")]).collect()

    (result,), _ = vrun(main)
    # Copy 1 failed at 0.15 while copy 0 was still running: copy 0's answer at 0.3 wins.
    assert result.value == "k from copy 0" and result.finished_at == pytest.approx(0.3)

    failing = Server([ValueError("down")])
    broken = hedged_skill(failing, Hedge(after=0.01), retry=Retry(attempts=2, backoff=0))

    async def main2() -> Any:
        return await run([broken("k")]).collect()

    (failed,), _ = vrun(main2)
    assert (failed.status, failed.error.type if failed.error else None, failed.attempts) == (
        Status.ERROR,
        "ValueError",
        2,
    )
    # Each attempt raced two copies (the hedge started while the first was failing).
    assert len(failing.started) == 4


def test_the_timeout_and_the_deadline_stop_every_copy() -> None:
    server = Server([5.0, 5.0])
    lookup = hedged_skill(server, Hedge(after=0.1), timeout=0.5)

    async def main() -> Any:
        timed = await run([lookup("a")]).collect()
        deadline = await run([lookup("b").with_options(timeout=None)], timeout=0.3).collect()
        return timed, deadline

    ((timed,), (deadline,)), _ = vrun(main)
    assert timed.status is Status.TIMEOUT and timed.error and timed.error.type == "SkillTimeout"
    assert deadline.status is Status.TIMEOUT and deadline.error and deadline.error.type == "DeadlineExceeded"
    assert sorted(server.cancelled) == [0, 1, 2, 3]  # vrun also checks no task is left


def test_hedging_is_refused_where_it_would_be_unsafe() -> None:
    async def fetch(key: str) -> str:
        return key

    def blocking(key: str) -> str:
        return key

    with pytest.raises(pydantic.ValidationError, match="hedge needs idempotent=True"):
        skill(fetch, hedge=Hedge(after=0.1))
    with pytest.raises(ValueError, match="hedge needs a skill whose losing copy can be stopped"):
        skill(blocking, hedge=Hedge(after=0.1), idempotent=True)
    with pytest.raises(pydantic.ValidationError, match="hedged copies would go beyond the limit"):
        skill(fetch, hedge=Hedge(after=0.1), idempotent=True, rate_limit=RateLimit(rate=1))
    with pytest.raises(pydantic.ValidationError, match="after"):
        Hedge(after=0)
    plain = skill(blocking, idempotent=True)
    with pytest.raises(ValueError, match="not a thread, which cannot be stopped"):
        plain("k").with_options(hedge=Hedge(after=0.1))


class ByKey:
    """Answers copy n of key k after ``latencies[k][n]`` seconds."""

    def __init__(self, latencies: dict[str, list[float]]) -> None:
        self.latencies = latencies
        self.started: list[tuple[str, float]] = []

    async def handle(self, key: str) -> str:
        n = sum(1 for k, _ in self.started if k == key)
        self.started.append((key, round(asyncio.get_running_loop().time(), 6)))
        await asyncio.sleep(self.latencies[key][n])
        return f"{key} from copy {n}"


def test_a_budget_bounds_the_extra_copies_to_its_share_of_the_attempts() -> None:
    # Every first copy is slow: unbounded, each of the 100 calls would start a second one.
    server = ByKey({f"k{i}": [1.0, 0.05] for i in range(100)})
    lookup = hedged_skill(server, Hedge(after=0.1, budget=0.1))  # type: ignore[arg-type]

    async def main() -> Any:
        return await run([lookup(f"k{i}") for i in range(100)], max_concurrency=100).collect()

    results, _ = vrun(main)
    assert len(server.started) == 110  # 100 attempts earn 10 extra copies, not 100
    hedged = [r for r in results if r.value.endswith("copy 1")]
    assert len(hedged) == 10 and all(r.finished_at == pytest.approx(0.15) for r in hedged)
    assert all(r.finished_at == pytest.approx(1.0) for r in results if r not in hedged)


def test_a_copy_not_earned_yet_is_asked_for_again_after_seconds_later() -> None:
    # budget 0.5: a and b start together and earn one copy, which a (its timer first) takes.
    # b asks again at 0.2; c and d have started meanwhile and earned it: b's copy starts at 0.2.
    server = ByKey({"a": [1.0, 0.02], "b": [1.0, 0.02], "c": [0.05], "d": [0.05]})
    lookup = hedged_skill(server, Hedge(after=0.1, budget=0.5))  # type: ignore[arg-type]

    async def main() -> Any:
        return await run([lookup(k) for k in "abcd"], max_concurrency=2).collect()

    results, _ = vrun(main)
    assert server.started == [("a", 0.0), ("b", 0.0), ("a", 0.1), ("c", 0.12), ("d", 0.17), ("b", 0.2)]
    a, b, _c, _d = results
    assert (a.value, a.finished_at) == ("a from copy 1", pytest.approx(0.12))
    assert (b.value, b.finished_at) == ("b from copy 1", pytest.approx(0.22))


def test_a_budget_saves_at_most_ten_copies_across_a_quiet_spell() -> None:
    quick = {f"q{i}": [0.01] for i in range(200)}
    slow = {f"s{i}": [1.0, 0.05] for i in range(20)}
    server = ByKey({**quick, **slow})
    lookup = hedged_skill(server, Hedge(after=0.1, budget=0.1))  # type: ignore[arg-type]

    async def main() -> Any:
        await run([lookup(k) for k in quick], max_concurrency=50).collect()  # earns 20, keeps 10
        return await run([lookup(k) for k in slow], max_concurrency=20).collect()

    results, _ = vrun(main)
    # Unbounded savings would have hedged all 20 slow calls.
    assert len(server.started) == 200 + 20 + 10
    assert sum(r.value.endswith("copy 1") for r in results) == 10


def test_a_budget_is_a_positive_fraction_and_each_skill_has_its_own() -> None:
    with pytest.raises(pydantic.ValidationError, match="budget"):
        Hedge(after=0.1, budget=0)
    server = ByKey({"a": [1.0, 0.05], "b": [1.0, 0.05]})
    hedge = Hedge(after=0.1, budget=1.0)
    first, second = hedged_skill(server, hedge, name="first"), hedged_skill(server, hedge, name="second")

    async def main() -> Any:
        return await run([first("a"), second("b")], max_concurrency=2).collect()

    results, _ = vrun(main)
    # Each skill earned one copy with its one attempt; neither took the other's.
    assert [r.value for r in results] == ["a from copy 1", "b from copy 1"]
