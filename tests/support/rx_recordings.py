"""Small helpers for reading reactivex test recordings."""

from __future__ import annotations

from typing import Any

from reactivex.notification import OnError
from reactivex.testing.recorded import Recorded


def error_of(message: Recorded[Any]) -> BaseException:
    """The exception object an ``on_error`` recording carries (equality only compares str)."""
    assert isinstance(message.value, OnError), message
    return message.value.exception
