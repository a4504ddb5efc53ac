"""idle_timeout: a streaming skill that goes quiet fails as timeout, however long it has
run; items keep it alive. Virtual time, and one real thread generator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pipeline import Retry, Status, run, skill
from tests.support.vloop import vrun


def pauses(*gaps: float) -> Any:
    async def tokens(prompt: str) -> AsyncIterator[str]:
        for i, gap in enumerate(gaps):
            await asyncio.sleep(gap)
            yield f"{prompt}{i}"

    return tokens


def test_items_keep_a_long_stream_alive() -> None:
    # Ten items 0.4 s apart: 4 s in all, never 0.5 s quiet.
    llm = skill(pauses(*[0.4] * 10), name="llm", idle_timeout=0.5)

    async def main() -> Any:
        return await run([llm("t")]).collect()

    (result,), _ = vrun(main)
    assert result.ok and len(result.value) == 10 and result.finished_at == pytest.approx(4.0)


def test_a_stream_that_goes_quiet_fails_as_timeout_and_a_retry_restarts_it() -> None:
    state = {"attempt": 0}

    @skill(idle_timeout=0.5, retry=Retry(attempts=2, backoff=0))
    async def flaky_stream(prompt: str) -> AsyncIterator[str]:
        state["attempt"] += 1
        yield "a"
        await asyncio.sleep(0.2 if state["attempt"] == 2 else 3.0)  # the first one stalls
        yield "b"

    async def main() -> Any:
        return await run([flaky_stream("p")]).collect()

    (result,), _ = vrun(main)
    assert (result.status, result.value, result.attempts) == (Status.SUCCESS, ["a", "b"], 2)
    # The first attempt gave up 0.5 s after its last item, not at the 3 s stall's end.
    assert result.attempt_spans[0] == pytest.approx((0.0, 0.5))


def test_the_first_item_counts_and_the_message_says_which_wait() -> None:
    slow_start = skill(pauses(2.0), name="slow_start", idle_timeout=0.5)
    stalls = skill(pauses(0.1, 2.0), name="stalls", idle_timeout=0.5)

    async def main() -> Any:
        return await run([slow_start("x"), stalls("y")]).collect()

    (first, second), _ = vrun(main)
    assert first.status is Status.TIMEOUT and second.status is Status.TIMEOUT
    assert first.error is not None and second.error is not None
    assert first.error.message == "attempt 1 waited more than the idle timeout of 0.5 s for its first item"
    assert second.error.message == "attempt 1 waited more than the idle timeout of 0.5 s for its next item"
    assert second.finished_at == pytest.approx(0.6)


def test_the_attempt_timeout_still_bounds_a_stream_that_never_goes_quiet() -> None:
    chatty = skill(pauses(*[0.1] * 100), name="chatty", idle_timeout=0.5, timeout=2.0)

    async def main() -> Any:
        return await run([chatty("c")]).collect()

    (result,), _ = vrun(main)
    assert result.status is Status.TIMEOUT and result.finished_at == pytest.approx(2.0)
    assert result.error is not None
    assert result.error.message == "attempt 1 exceeded the timeout of 2 s"


async def test_a_sync_generator_in_its_thread_has_an_idle_timeout_too(loop_errors: list[Any]) -> None:
    @skill(idle_timeout=0.3)
    def pages(n: int) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.05 if i < 2 else 2.0)  # the third page never comes in time
            yield i

    start = time.monotonic()
    (result,) = await run([pages(5)]).collect()
    assert result.status is Status.TIMEOUT and time.monotonic() - start < 1.5


def test_idle_timeout_is_for_generators_only() -> None:
    async def plain(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="idle_timeout is for generator skills"):
        skill(plain, idle_timeout=1)
