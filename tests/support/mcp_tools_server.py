"""An MCP server over stdio made by ``Toolset.mcp_server``: the tests start it as a
subprocess (``python tests/support/mcp_tools_server.py``) and talk to it with the mcp SDK's client."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import skill  # noqa: E402
from pipeline._tools._toolset import Toolset  # noqa: E402


class Point(BaseModel):
    x: float
    y: float


@skill(timeout=5)
async def add(a: int, b: int = 1) -> int:
    """Add two integers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


@skill
def distance(p: Point, q: Point, unit: Literal["m", "km"] = "m") -> dict[str, float | str]:
    """The distance between two points."""
    d = ((p.x - q.x) ** 2 + (p.y - q.y) ** 2) ** 0.5
    return {"distance": d / 1000 if unit == "km" else d, "unit": unit}


@skill(timeout=0.2)
async def slow(seconds: Annotated[float, Field(description="how long to sleep")]) -> str:
    """Sleep, then answer (times out past 0.2 s)."""
    await asyncio.sleep(seconds)
    return "awake"


@skill
async def fail(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


@skill
async def configure(model_config: dict[str, int], name: str = "default") -> str:
    """Set a model up (a parameter name pydantic models reserve)."""
    return f"{name}: {sorted(model_config.items())}"


TOOLS = Toolset([add, distance, slow, fail, configure])

if __name__ == "__main__":
    TOOLS.mcp_server("skillstream-test").run("stdio")
