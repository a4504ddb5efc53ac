"""SkillResult and Results as users see them; the engine's fast builder is the same model."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from pipeline import ErrorInfo, SkillError, SkillResult, Status
from pipeline._core._result import new_result

FIELDS = dict(
    name="fetch", key="fetch", index=3, status=Status.ERROR, value={"fallback": True},
    error=ErrorInfo(type="ValueError", message="bad"), fallback_used=True, attempts=2,
    started_at=0.5, finished_at=1.25, attempt_spans=((0.5, 0.75), (1.0, 1.25)),
)


def test_fast_builder_makes_the_same_model_as_validation() -> None:
    fast = new_result(**FIELDS)  # type: ignore[arg-type]
    validated = SkillResult(**FIELDS)  # type: ignore[arg-type]
    assert fast == validated
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_fields_set == validated.model_fields_set
    assert pickle.loads(pickle.dumps(fast)) == validated
    assert fast.model_copy(update={"value": 1}).value == 1 and fast.value == {"fallback": True}
    with pytest.raises(ValidationError):
        fast.value = 2  # frozen like any SkillResult


def test_result_properties() -> None:
    r = SkillResult(**FIELDS)  # type: ignore[arg-type]
    assert (r.ok, r.has_value, r.duration, r.unwrap()) == (False, True, 0.75, {"fallback": True})
    failed = r.model_copy(update={"fallback_used": False, "value": None})
    with pytest.raises(SkillError, match=r"^fetch ended error \(ValueError: bad\)$") as info:
        failed.unwrap()
    assert info.value.result is failed
    skipped = SkillResult(name="f", key="f", index=0, status="skipped")
    assert skipped.duration is None and skipped.status is Status.SKIPPED and str(skipped.status) == "skipped"


def test_results_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError) as info:
        SkillResult(name="f", key="f", index=0, status="success", colour="red")  # type: ignore[call-arg]
    assert [e["loc"] for e in info.value.errors()] == [("colour",)]


def test_fast_results_share_a_fields_set_that_no_result_can_change() -> None:
    a = new_result(**FIELDS)  # type: ignore[arg-type]
    b = new_result(**{**FIELDS, "index": 4})  # type: ignore[arg-type]
    replayed = new_result(**FIELDS, replayed=True)  # type: ignore[arg-type]
    copied = a.model_copy(update={"replayed": True})
    assert "replayed" in copied.model_fields_set
    assert "replayed" not in a.model_fields_set and "replayed" not in b.model_fields_set
    assert "replayed" in replayed.model_fields_set and replayed.replayed
    assert a.model_dump(exclude_unset=True) == {k: v for k, v in SkillResult(**FIELDS).model_dump().items() if k != "replayed"}  # type: ignore[arg-type]
