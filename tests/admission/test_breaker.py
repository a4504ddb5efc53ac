"""CircuitBreaker: consecutive failures open the circuit; calls then fail fast without
running until a trial succeeds after reset_after. Virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from pipeline import CircuitBreaker, Retry, Status, run, skill
from tests.support.vloop import vrun


class FlakyAPI:
    def __init__(self) -> None:
        self.down = True
        self.ran: list[tuple[str, float]] = []

    def skill(self, breaker: CircuitBreaker, name: str, **options: Any) -> Any:
        async def call(tag: str) -> str:
            self.ran.append((tag, asyncio.get_running_loop().time()))
            await asyncio.sleep(0.1)
            if self.down:
                raise ConnectionError("api down")
            return tag

        call.__name__ = name
        return skill(call, circuit_breaker=breaker, **options)


def summary(results: Any) -> list[tuple[str, str, str | None, int]]:
    return [(r.key, r.status.value, r.error.type if r.error else None, r.attempts) for r in results]


def test_consecutive_failures_open_the_circuit_and_calls_fail_fast_with_their_fallback() -> None:
    api = FlakyAPI()
    charge = api.skill(CircuitBreaker(failures=3, reset_after=10), "charge", fallback="queued")

    async def main() -> Any:
        return await run([charge(str(i)).named(f"c{i}") for i in range(5)], max_concurrency=1).collect()

    results, _ = vrun(main)
    assert [tag for tag, _ in api.ran] == ["0", "1", "2"]  # the last two never ran
    assert summary(results) == [
        ("c0", "error", "ConnectionError", 1),
        ("c1", "error", "ConnectionError", 1),
        ("c2", "error", "ConnectionError", 1),
        ("c3", "error", "CircuitOpen", 0),
        ("c4", "error", "CircuitOpen", 0),
    ]
    assert all(r.fallback_used and r.value == "queued" for r in results)
    assert results[3].error is not None
    assert results[3].error.message.startswith("circuit is open after 3 consecutive failures; a trial call may go in ")
    assert results[3].finished_at == pytest.approx(0.3)  # at once, not after a call's time


def test_after_reset_after_one_trial_goes_and_its_success_closes_the_circuit() -> None:
    api = FlakyAPI()
    lookup = api.skill(CircuitBreaker(failures=2, reset_after=5, key="test-breaker-trial"), "lookup")

    async def main() -> list[Any]:
        first = await run([lookup("a"), lookup("b")], max_concurrency=1).collect()  # opens at 0.2
        await asyncio.sleep(5)
        api.down = False
        # At t=5.2 the circuit lets one trial through; the others, while it is out, fail fast.
        during = await run([lookup(f"t{i}") for i in range(3)], max_concurrency=None).collect()
        after = await run([lookup("x"), lookup("y")], max_concurrency=None).collect()
        return [first, during, after]

    (first, during, after), _ = vrun(main)
    assert [r.status for r in first] == [Status.ERROR, Status.ERROR]
    assert [(r.status, r.error.type if r.error else None) for r in during] == [
        (Status.SUCCESS, None),
        (Status.ERROR, "CircuitOpen"),
        (Status.ERROR, "CircuitOpen"),
    ]
    assert during[1].error is not None and during[1].error.message.endswith("a trial call is under way")
    assert all(r.ok for r in after)  # closed again
    assert [tag for tag, _ in api.ran] == ["a", "b", "t0", "x", "y"]


def test_a_failed_trial_opens_the_circuit_again_and_a_key_is_shared_by_skills() -> None:
    api = FlakyAPI()
    breaker = CircuitBreaker(failures=1, reset_after=2, key="test-breaker-shared")
    read = api.skill(breaker, "read")
    write = api.skill(breaker, "write")

    async def main() -> list[Any]:
        out = [await run([read("r1")]).collect()]  # fails: opens until 2.1
        out.append(await run([write("w1")]).collect())  # the other skill of that API: fast
        await asyncio.sleep(2.0)  # t=2.1: the trial goes, fails, opens until 4.2
        out.append(await run([write("w2")]).collect())
        out.append(await run([read("r2")]).collect())
        return out

    out, _ = vrun(main)
    assert [summary(r)[0][1:3] for r in out] == [
        ("error", "ConnectionError"),
        ("error", "CircuitOpen"),
        ("error", "ConnectionError"),
        ("error", "CircuitOpen"),
    ]
    assert [tag for tag, _ in api.ran] == ["r1", "w2"]


def test_retries_count_as_failures_and_circuit_open_is_not_retried() -> None:
    api = FlakyAPI()
    fetch = api.skill(CircuitBreaker(failures=2, reset_after=60), "fetch", retry=Retry(attempts=5, backoff=0))

    async def main() -> Any:
        return await run([fetch("a")]).collect()

    (result,), _ = vrun(main)
    # Two attempts fail and open the circuit; the third is refused, and that ends the call.
    assert (result.status, result.error.type if result.error else None, result.attempts) == (
        Status.ERROR,
        "CircuitOpen",
        2,
    )
    assert len(api.ran) == 2


def test_calls_given_up_at_the_deadline_do_not_count() -> None:
    api = FlakyAPI()
    slow = api.skill(CircuitBreaker(failures=1, reset_after=60), "slow")

    async def main() -> list[Any]:
        first = await run([slow("a")], timeout=0.05).collect()  # given up before it failed
        api.down = False
        second = await run([slow("b")]).collect()
        return [first, second]

    (first, second), _ = vrun(main)
    assert first[0].status is Status.TIMEOUT and first[0].error and first[0].error.type == "DeadlineExceeded"
    assert second[0].ok  # the circuit stayed closed


def test_a_key_has_one_breaker_and_bad_values_fail_at_definition() -> None:
    skill(lambda: 1, name="one", circuit_breaker=CircuitBreaker(key="test-breaker-one"))
    with pytest.raises(pydantic.ValidationError, match="circuit breaker key 'test-breaker-one' is already"):
        skill(lambda: 1, name="two", circuit_breaker=CircuitBreaker(failures=2, key="test-breaker-one"))
    with pytest.raises(pydantic.ValidationError, match="failures"):
        CircuitBreaker(failures=0)
    with pytest.raises(pydantic.ValidationError, match="reset_after"):
        CircuitBreaker(reset_after=0)
