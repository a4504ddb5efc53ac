"""``@skill(executor="ray", ray_options=...)`` checked where it is written, without Ray.

These run in the fast suite: nothing here needs Ray installed (its absence is simulated
where it matters); ``tests/executors/test_ray.py`` runs the skills on a real Ray instance.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline import SkillOptions, Status, skill
from pipeline._executors._ray import INSTALL, _import_ray, _is_small, check_ray_options
from pipeline._core._result import Deferred, new_result, stored_value

ray_installed = pytest.mark.ray  # needs the ray extra: runs in the `-m ray` suite


def f(x: int) -> int:
    return x


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"num_cpu": 1}, "unknown ray_options key 'num_cpu'", id="unknown-key"),
        pytest.param({"num_cpus": -1}, "ray_options['num_cpus'] must be a number >= 0, got -1", id="negative"),
        pytest.param({"num_gpus": True}, "ray_options['num_gpus'] must be a number >= 0, got True", id="bool"),
        pytest.param({"resources": {"gpu_a": "x"}}, "must be a number >= 0, got 'x'", id="resource-amount"),
        pytest.param({"max_retries": -2}, "ray_options['max_retries'] must be an int >= -1, got -2", id="retries"),
        pytest.param({"runtime_env": "pip"}, "ray_options['runtime_env'] must be a dict, got 'pip'", id="runtime-env"),
        pytest.param({"num_returns": 2}, "ray_options['num_returns'] is skillstream's", id="num-returns"),
    ],
)
def test_bad_ray_options_fail_naming_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SkillOptions(name="f", executor="ray", ray_options=options)

    (error,) = info.value.errors(include_url=False)
    assert error["loc"] == ("ray_options",)
    assert message in error["msg"]


def test_ray_options_are_for_ray_skills_only() -> None:
    with pytest.raises(ValidationError, match="ray_options is for executor='ray' only"):
        SkillOptions(name="f", executor="thread", ray_options={"num_cpus": 1})


def test_good_ray_options_are_kept_as_given() -> None:
    given = {"num_cpus": 2, "num_gpus": 0.5, "memory": 2**30, "resources": {"worker": 1},
             "runtime_env": {"pip": ["numpy"]}, "max_retries": 1, "scheduling_strategy": "SPREAD"}

    assert check_ray_options(given) == given
    assert SkillOptions(name="f", executor="ray", ray_options=given).ray_options == given


@ray_installed
def test_a_ray_skill_is_declared_without_importing_ray() -> None:
    was_imported = "ray" in sys.modules
    crunch = skill(f, executor="ray", ray_options={"num_cpus": 1})

    assert crunch.kind == "ray"
    assert ("ray" in sys.modules) == was_imported


def test_without_ray_installed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed

    with pytest.raises(ImportError, match=rf"^executor=.ray. needs Ray, which is not installed: {re.escape(INSTALL)}$"):
        skill(executor="ray")
    with pytest.raises(ImportError, match=r"pip install 'skillstream\[ray\]'"):
        skill(f, executor="ray")
    with pytest.raises(ImportError, match=r"pip install 'skillstream\[ray\]'"):
        _import_ray()


class Fetched(Deferred):
    __slots__ = ("reads",)

    def __init__(self) -> None:
        self.reads = 0

    def resolve(self) -> Any:
        self.reads += 1
        return {"big": "value"}


def test_a_deferred_value_is_read_through_on_the_result_and_kept_for_the_engine() -> None:
    deferred = Fetched()
    result = new_result("f", "f", 0, Status.SUCCESS, deferred, None, False, 1, 0.0, 1.0)

    assert deferred.reads == 0  # nothing fetched until read
    assert result.value == {"big": "value"} and result.unwrap() == {"big": "value"}
    assert result.model_dump()["value"] == {"big": "value"}
    assert stored_value(result) is deferred  # what a Ray consumer gets
    plain = new_result("f", "f", 0, Status.SUCCESS, 3, None, False, 1, 0.0, 1.0)
    assert type(plain).__name__ == "SkillResult" and stored_value(plain) == 3


@pytest.mark.parametrize(
    ("value", "small"),
    [
        (None, True),
        ([1, 2.0, "three", b"four", {"five": (6, None)}], True),
        (b"x" * (65 * 1024), False),
        (["x" * 1024] * 70, False),
        (list(range(5000)), False),  # too many items to look at: left in Ray
        (object(), False),  # any other type: left in Ray
    ],
)
def test_only_small_plain_data_rides_back_with_the_completion(value: Any, small: bool) -> None:
    assert _is_small(value) is small
