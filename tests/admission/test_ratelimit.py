"""RateLimit: a token bucket (and optional concurrency limit) per API, shared by every run
in the process; Retry-After pauses the whole bucket; adaptive concurrency. Virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from pipeline import Instrument, Phase, RateLimit, Retry, RetryAfter, SkillCall, Status, run, skill
from pipeline._admission import _ratelimit as ratelimit
from pipeline._admission._ratelimit import limiter_for
from pipeline._core._errors import parse_retry_after
from tests.support.vloop import vrun


class Starts:
    """Records when each call's body starts, and how many bodies run at once."""

    def __init__(self) -> None:
        self.at: list[tuple[str, float]] = []
        self.active = 0
        self.most = 0

    def make(self, limit: RateLimit, name: str, seconds: float = 0.0, **options: Any) -> Any:
        async def body(tag: str) -> str:
            self.at.append((tag, asyncio.get_running_loop().time()))
            self.active += 1
            self.most = max(self.most, self.active)
            try:
                await asyncio.sleep(seconds)
            finally:
                self.active -= 1
            return tag

        body.__name__ = name
        return skill(body, rate_limit=limit, **options)

    def times(self) -> list[float]:
        return [round(t, 6) for _, t in self.at]


def test_calls_start_evenly_at_the_rate() -> None:
    starts = Starts()
    limited = starts.make(RateLimit(rate=5), "evenly")

    async def main() -> list[Any]:
        return await run([limited(str(i)) for i in range(6)], max_concurrency=None).collect()

    results, _ = vrun(main)
    assert all(r.ok for r in results)
    # 5 per second, with the margin: 0.2 s apart, 10% wider (0.22 s).
    assert starts.times() == [0.0, 0.22, 0.44, 0.66, 0.88, 1.1]


def test_a_burst_starts_at_once_then_the_rate_holds() -> None:
    starts = Starts()
    limited = starts.make(RateLimit(rate=2, burst=3), "bursty")

    async def main() -> None:
        await run([limited(str(i)) for i in range(5)], max_concurrency=None).collect()

    vrun(main)
    assert starts.times() == [0.0, 0.0, 0.0, 0.55, 1.1]


def test_skills_with_one_key_share_one_bucket_across_runs() -> None:
    starts = Starts()
    shared = RateLimit(rate=10, key="test-shared-api")
    search = starts.make(shared, "search")
    lookup = starts.make(shared, "lookup")

    async def main() -> None:
        await asyncio.gather(
            run([search(f"s{i}") for i in range(5)]).collect(),
            run([lookup(f"l{i}") for i in range(5)]).collect(),
        )

    vrun(main)
    # Ten calls from two runs and two skills: one every 0.11 s (0.1 and the margin).
    assert starts.times() == [round(0.11 * i, 6) for i in range(10)]
    assert {tag[0] for tag, _ in starts.at} == {"s", "l"}


def test_a_key_has_one_limit() -> None:
    RateLimit(rate=3, key="test-one-limit")
    skill(lambda: 1, name="first", rate_limit=RateLimit(rate=3, key="test-one-limit"))
    with pytest.raises(pydantic.ValidationError, match="rate limit key 'test-one-limit' is already"):
        skill(lambda: 1, name="second", rate_limit=RateLimit(rate=4, key="test-one-limit"))


def test_bad_limits_fail_at_definition() -> None:
    with pytest.raises(pydantic.ValidationError, match="rate"):
        RateLimit(rate=0)
    with pytest.raises(pydantic.ValidationError, match="burst"):
        RateLimit(rate=1, burst=0)
    RateLimit(rate=1, adaptive=True)  # adapts the rate alone: no max_concurrency needed


def test_a_keys_concurrency_limit_holds_across_runs() -> None:
    starts = Starts()
    limit = RateLimit(rate=1000, burst=1000, key="test-concurrency", max_concurrency=2)
    slow = starts.make(limit, "slow_api", seconds=1.0)

    async def main() -> None:
        await asyncio.gather(*(run([slow(f"{r}{i}") for i in range(3)]).collect() for r in "abc"))

    vrun(main)
    assert starts.most == 2
    # Nine one-second calls, two at a time: starts at 0, 0, 1, 1, 2, 2, 3, 3, 4.
    assert sorted(round(t) for t in starts.times()) == [0, 0, 1, 1, 2, 2, 3, 3, 4]


def test_waiting_for_a_permit_is_a_phase_and_holds_the_runs_slot() -> None:
    starts = Starts()
    limited = starts.make(RateLimit(rate=1), "phased")
    phases: list[tuple[str, Phase, float]] = []

    class Watch(Instrument):
        def call_phase(self, call: SkillCall[Any], index: int, phase: Phase, at: float) -> None:
            phases.append((call.key, phase, at))

    async def main() -> None:
        await run([limited("a"), limited("b"), limited("c")], max_concurrency=2, instruments=[Watch()]).collect()

    vrun(main)
    # b waits for a token from t=0; c cannot even ask before a slot frees (t=0, when a
    # ends): the run's cap counts calls waiting for a permit.
    assert [(p, round(t, 6)) for k, p, t in phases] == [(Phase.PERMIT, 0.0), (Phase.PERMIT, 0.0)]
    assert starts.times() == [0.0, 1.1, 2.2]


def test_the_deadline_applies_while_waiting_and_returns_what_was_never_used() -> None:
    starts = Starts()
    limited = starts.make(RateLimit(rate=1, key="test-deadline"), "slowly_allowed")

    async def main() -> tuple[list[Any], float]:
        results = await run([limited(str(i)) for i in range(5)], timeout=2.5).collect()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await run([limited("next")]).collect()
        return results, loop.time() - t0

    (results, waited), _ = vrun(main)
    assert [r.status for r in results] == [Status.SUCCESS] * 3 + [Status.SKIPPED] * 2
    assert all(r.attempts == 0 and r.error and r.error.type == "DeadlineExceeded" for r in results[3:])
    # The two calls that left gave their places back: the next run waits for the
    # token after the third (t=3.3, tokens 1.1 s apart with the margin), not for tokens
    # reserved for calls that are gone.
    assert round(waited, 6) == 0.8


def test_each_retry_takes_a_token_and_retry_after_pauses_the_whole_bucket() -> None:
    calls: list[tuple[str, float]] = []
    limit = RateLimit(rate=10, key="test-retry-after")

    @skill(rate_limit=limit, retry=Retry(attempts=3, backoff=0.01))
    async def busy_api(tag: str) -> str:
        now = asyncio.get_running_loop().time()
        calls.append((tag, now))
        if tag == "first" and len([c for c in calls if c[0] == "first"]) == 1:
            raise RetryAfter(2.0, status=429)
        return tag

    @skill(rate_limit=limit)
    async def same_api(tag: str) -> str:
        calls.append((tag, asyncio.get_running_loop().time()))
        return tag

    async def main() -> list[Any]:
        first = run([busy_api("first")]).collect()

        async def later() -> list[Any]:
            await asyncio.sleep(0.5)  # while the bucket is paused
            return await run([same_api("other")]).collect()

        a, b = await asyncio.gather(first, later())
        return list(a) + list(b)

    results, _ = vrun(main)
    assert [(r.key, r.status, r.attempts) for r in results] == [
        ("busy_api", Status.SUCCESS, 2),
        ("same_api", Status.SUCCESS, 1),
    ]
    # The 429 at t=0 said 2 s: nobody calls that API before t=2, neither the retry (it
    # waits 2 s, not its 0.01 s backoff) nor the other skill's call, which has queued for
    # a token since t=0.5 and so goes first; the retry goes one token later.
    assert [(tag, round(t, 6)) for tag, t in calls] == [("first", 0.0), ("other", 2.0), ("first", 2.11)]


def test_adaptive_concurrency_halves_on_push_back_and_grows_back_by_one() -> None:
    limit = RateLimit(rate=1000, burst=1000, key="test-aimd", max_concurrency=8, adaptive=True)
    state = {"push_back": True}

    @skill(rate_limit=limit)
    async def api(i: int) -> int:
        await asyncio.sleep(0.1)
        if state["push_back"]:
            raise RetryAfter(0.0, status=503)
        return i

    limiter = limiter_for(api, limit)

    async def main() -> list[int]:
        seen = []
        await run([api(i) for i in range(3)]).collect()  # three 503s: 8 -> 4 -> 2 -> 1
        seen.append(limiter.current_limit)
        state["push_back"] = False
        await run([api(i) for i in range(1)]).collect()  # 1 success at limit 1: -> 2
        seen.append(limiter.current_limit)
        await run([api(i) for i in range(2)]).collect()  # 2 successes at limit 2: -> 3
        seen.append(limiter.current_limit)
        await run([api(i) for i in range(100)]).collect()
        seen.append(limiter.current_limit)
        return seen

    seen, _ = vrun(main)
    assert seen == [1, 2, 3, 8]  # bounded by max_concurrency


def test_adaptive_rate_drops_on_push_back_and_probes_back_up_to_the_limit() -> None:
    limit = RateLimit(rate=10, key="test-rate-aimd", adaptive=True)  # no max_concurrency
    state = {"push_back": True}

    @skill(rate_limit=limit)
    async def api(i: int) -> int:
        if state["push_back"]:
            raise RetryAfter(None, status=429)  # nginx's 429: no Retry-After header
        return i

    limiter = limiter_for(api, limit)
    fastest = 10 / (1 + ratelimit.MARGIN)  # the configured rate, with the margin

    async def main() -> list[float]:
        seen = [limiter.rate]
        await run([api(0)]).collect()  # one 429: a nudge down
        seen.append(limiter.rate)
        await run([api(i) for i in range(2)]).collect()  # two more, each soon after: deeper
        seen.append(limiter.rate)
        state["push_back"] = False
        await run([api(i) for i in range(50)]).collect()  # probing back up, a little
        seen.append(limiter.rate)
        await run([api(i) for i in range(800)]).collect()  # ... up to the limit, no further
        seen.append(limiter.rate)
        return seen

    seen, _ = vrun(main)
    d, soon = ratelimit.DECREASE, ratelimit.DECREASE_SOON
    assert seen[0] == pytest.approx(fastest)
    assert seen[1] == pytest.approx(fastest * d)
    # Push-back again before a quarter second's worth of successes, twice: converging fast.
    assert seen[2] == pytest.approx(fastest * d * soon * soon)
    assert seen[2] < seen[3] < fastest  # additive probing: up, but not at once
    assert seen[4] == pytest.approx(fastest)  # never above the configured rate
    assert limiter.current_limit is None  # no concurrency limit to adapt


def test_adaptive_rate_drops_once_for_a_round_of_push_backs_and_on_timeouts() -> None:
    limit = RateLimit(rate=10, burst=5, key="test-rate-aimd-round", adaptive=True)
    state = {"sleep": 0.5}

    @skill(rate_limit=limit, timeout=1.0)
    async def api(i: int) -> int:
        await asyncio.sleep(state["sleep"])
        if state["sleep"] < 1:
            raise RetryAfter(None, status=503)
        return i

    limiter = limiter_for(api, limit)

    async def main() -> list[float]:
        seen = [limiter.rate]
        # Five calls at once (the burst), five 503s: their requests all went at the old
        # rate, so the rate drops once, not five times.
        await run([api(i) for i in range(5)], max_concurrency=None).collect()
        seen.append(limiter.rate)
        state["sleep"] = 5.0  # now every call times out: a timeout is push-back too
        results = await run([api(0)]).collect()
        assert results[0].error is not None and results[0].error.type == "SkillTimeout"
        seen.append(limiter.rate)
        return seen

    seen, _ = vrun(main)
    assert seen[1] == pytest.approx(seen[0] * ratelimit.DECREASE)
    assert seen[2] == pytest.approx(seen[1] * ratelimit.DECREASE_SOON)  # again, and soon


def test_retry_after_header_values() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_check_reads_a_response() -> None:
    class Response:  # the two attributes RetryAfter.check reads, as aiohttp names them
        def __init__(self, status: int, headers: dict[str, str]) -> None:
            self.status = status
            self.headers = headers

    RetryAfter.check(Response(200, {"Retry-After": "5"}))  # not a push-back: nothing
    with pytest.raises(RetryAfter) as caught:
        RetryAfter.check(Response(429, {"Retry-After": "5"}))
    assert (caught.value.retry_after, caught.value.status, str(caught.value)) == (5.0, 429, "HTTP 429: retry after 5 s")
    with pytest.raises(RetryAfter) as caught:
        RetryAfter.check(Response(503, {}))
    assert caught.value.retry_after is None and str(caught.value) == "HTTP 503: no Retry-After"


def test_retry_after_check_reads_a_real_httpx_response_and_an_httpx_error() -> None:
    import httpx  # in the test extra
    RetryAfter.check(httpx.Response(200))
    with pytest.raises(RetryAfter) as caught:
        RetryAfter.check(httpx.Response(503, headers={"Retry-After": "7"}))
    assert (caught.value.retry_after, caught.value.status) == (7.0, 503)
    # An httpx error for a 429 response (raise_for_status) is read as push-back too.
    from pipeline._admission._ratelimit import overloaded
    from pipeline._core._errors import retry_after_of

    request = httpx.Request("GET", "http://127.0.0.1/x")
    response = httpx.Response(429, headers={"Retry-After": "3"}, request=request)
    with pytest.raises(httpx.HTTPStatusError) as error:
        response.raise_for_status()
    assert retry_after_of(error.value) == 3.0 and overloaded(error.value)


def test_with_options_sets_a_rate_limit_on_one_call() -> None:
    starts = Starts()
    free = starts.make(RateLimit(rate=1000, burst=1000), "usually_free")

    async def main() -> None:
        calls = [free(str(i)).with_options(rate_limit=RateLimit(rate=2)) for i in range(3)]
        await run(calls, max_concurrency=None).collect()

    vrun(main)
    assert starts.times() == [0.0, 0.55, 1.1]
