from __future__ import annotations

import asyncio
import importlib.util
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

# The Ray suite imports ray at module level; without the extra it is not even collected
# (it runs with `-m ray`, for which .ci/run installs the extra).
if importlib.util.find_spec("ray") is None:
    collect_ignore = ["executors/test_ray.py"]


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything the running loop reports to its exception handler during the test
    ("Task was destroyed but it is pending", "exception was never retrieved", ...).
    The test fails at teardown if anything was reported, or if a task is left pending."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
        await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        assert not pending, f"tasks left pending: {pending}"
        assert not errors, f"loop reported: {errors}"
    finally:
        loop.set_exception_handler(previous)
