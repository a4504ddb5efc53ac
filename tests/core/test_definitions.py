"""Bad input fails at the edge, with an error that names what is wrong."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline import NO_FALLBACK, Retry, Skill, SkillCall, run, skill


async def noop() -> None:
    return None


def _locs(info: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"executor": "gpu"}, "executor"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_skill_options_fail_at_decoration_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        skill(**options)
    assert _locs(info) == [(field,)]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"attempts": 0}, "attempts"),
        ({"backoff": -0.1}, "backoff"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": -1}, "jitter"),
        ({"on": "ValueError"}, "on"),
        ({"tries": 3}, "tries"),
    ],
)
def test_bad_retry_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Retry(**options)
    assert _locs(info) == [(field,)]


def test_bad_options_in_with_options_name_the_field() -> None:
    call = skill(noop)()
    with pytest.raises(ValidationError) as info:
        call.with_options(timeout=-5)
    assert _locs(info) == [("timeout",)]


def test_process_executor_refuses_async_functions() -> None:
    with pytest.raises(TypeError, match=r"^skill 'noop': executor='process' runs plain functions"):
        skill(executor="process")(noop)


def test_skill_keeps_the_function_and_its_metadata() -> None:
    @skill(timeout=2)
    async def fetch(symbol: str) -> dict[str, str]:
        """Fetch a quote."""
        return {"s": symbol}

    assert fetch.__name__ == "fetch" and fetch.__doc__ == "Fetch a quote."
    assert fetch.name == "fetch" and fetch.kind == "async"
    assert skill(lambda x: x).kind == "thread"
    call = fetch("AAPL")
    assert isinstance(call, SkillCall)
    assert (call.skill, call.args, call.kwargs, call.key) == (fetch, ("AAPL",), {}, "fetch")
    assert repr(call) == "fetch('AAPL')"


def test_named_and_with_options_copy_the_call() -> None:
    @skill(timeout=2, fallback=0)
    async def f(x: int) -> int:
        return x

    call = f(1)
    renamed = call.named("first")
    tuned = call.with_options(timeout=None, retry=Retry(attempts=2))
    assert (call.key, renamed.key) == ("f", "first")
    assert call.options.timeout == 2 and tuned.options.timeout is None
    assert tuned.options.retry == Retry(attempts=2) and tuned.options.fallback == 0
    assert call.with_options(fallback=NO_FALLBACK).options.fallback is NO_FALLBACK
    with pytest.raises(ValueError, match="^key must be a non-empty str"):
        call.named("")


def test_run_refuses_what_is_not_a_call_naming_item_and_position() -> None:
    call = skill(noop)()
    with pytest.raises(TypeError, match=r"^run\(\) takes SkillCalls; item 1 is 'x'$"):
        run([call, "x"])
    with pytest.raises(TypeError, match=r"^run\(\) takes a SkillCall"):
        run("fetch")
    with pytest.raises(TypeError, match=r"^run\(\) takes a SkillCall"):
        run(42)  # type: ignore[arg-type]
    coro = noop()
    with pytest.raises(TypeError, match=r"^run\(\) takes a SkillCall"):
        run(coro)  # type: ignore[arg-type]
    coro.close()


@pytest.mark.parametrize("cap", [0, -3])
def test_run_refuses_a_cap_below_one(cap: int) -> None:
    with pytest.raises(ValueError, match=rf"^max_concurrency must be >= 1 or None, got {cap}$"):
        run([], max_concurrency=cap)


def test_run_refuses_bad_deadlines() -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a number of seconds > 0, got -1$"):
        run([], timeout=-1)
    with pytest.raises(TypeError, match=r"^timeout must be a number of seconds"):
        run([], timeout="soon")  # type: ignore[arg-type]


def test_calling_a_skill_with_wrong_arguments_is_an_error_result() -> None:
    @skill
    async def one(x: int) -> int:
        return x

    async def main() -> Any:
        return await run([one(1, 2, 3)]).collect()  # type: ignore[call-arg]

    (result,) = asyncio.run(main())
    assert result.status.value == "error" and result.error and result.error.type == "TypeError"


def test_empty_run_completes() -> None:
    async def main() -> Any:
        return await run([]).collect()

    assert len(asyncio.run(main())) == 0


def test_a_skill_on_a_method_binds_self_like_a_function() -> None:
    class Agent:
        def __init__(self, name: str) -> None:
            self.name = name

        @skill(timeout=5)
        async def greet(self, who: str) -> str:
            return f"{self.name} greets {who}"

        @skill
        def shout(self, who: str) -> str:  # sync: runs in a thread, still bound
            return f"{self.name.upper()} SHOUTS {who}"

    async def main() -> Any:
        alice, bob = Agent("alice"), Agent("bob")
        return await run([alice.greet("x"), bob.greet("y"), bob.shout("z")]).collect()

    results = asyncio.run(main())
    assert [r.value for r in results] == ["alice greets x", "bob greets y", "BOB SHOUTS z"]
    assert [r.name for r in results] == ["greet", "greet", "shout"]  # the method's name
    assert isinstance(Agent.__dict__["greet"], Skill) and Agent.greet.options.timeout == 5

