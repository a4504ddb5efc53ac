"""What the model reads of a result: the text of one tool call's reply."""

from __future__ import annotations

from typing import Any

import pydantic_core
from pydantic import BaseModel

from .._core._result import SkillResult, Status

__all__ = ["REPLY_ERROR_LIMIT", "clip", "reply_content"]

# A reply is what the model reads next: an error or a huge value must not flood its context.
REPLY_ERROR_LIMIT = 2000


def reply_content(result: SkillResult) -> tuple[str, bool]:
    """What the model reads of one result, and whether it is an error.

    Raises:
        ValueError: for a call still waiting for a person's decision (it has no reply yet).
    """
    if result.has_value:
        return _as_text(result.value), False
    error = result.error
    if result.status is Status.PENDING:
        raise ValueError(
            f"tool call {result.key!r} ({result.name}) is waiting for approval and has no reply "
            "yet: run the calls again with decisions={key: Approve() or Reject(reason)} first"
        )
    if error is not None and error.type == "Rejected":
        reason = clip(error.message, REPLY_ERROR_LIMIT)
        return (f"Rejected: the user did not allow this call: {reason}" if reason
                else "Rejected: the user did not allow this call."), True
    message = clip(error.message if error else "", REPLY_ERROR_LIMIT)
    if result.status is Status.TIMEOUT:
        return f"Timed out: {message or 'the tool took too long'}", True
    if result.status is Status.SKIPPED:
        return f"Not run: {message or 'the run ended first'}", True
    if error is not None and error.type == "ToolCallError":
        return message, True
    kind = error.type if error else "Error"
    return f"Error: {kind}: {message}" if message else f"Error: {kind}", True


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return pydantic_core.to_json(value, fallback=str).decode()


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
