"""A plan in one turn: the model writes every tool call a question needs at once, later
calls taking earlier calls' results, and each call starts the moment its inputs exist,
while the model is still writing.

The question, "How many Lyons fit in Paris, and how far apart are they?", needs two lookups,
then a division of their results, and a distance. With ``Toolset(..., references=True)``
the model writes the division as
``divide(a={"result_of": 1, "path": "population"}, b={"result_of": 2, "path": "population"})``
in the same response as the lookups, instead of waiting a turn for their results.

The model is local: ``examples/servers/scripted_model.py`` serves the Chat Completions API on
127.0.0.1 and plays a script. Nothing leaves the machine and no key is needed. Latencies
scale with ``SKILLSTREAM_LATENCY_SCALE``.

    pip install -e '.[examples]' && python examples/12_plans.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import openai

from pipeline import Toolset, run, skill

sys.path.insert(0, str(Path(__file__).resolve().parent))  # servers/ sits beside this script
from servers.scripted_model import ScriptedCall, ScriptedModel, Turn

SCALE = float(os.environ.get("SKILLSTREAM_LATENCY_SCALE", "1.0"))
CITIES = {"Paris": (2_102_650, 48.857, 2.352), "Lyon": (522_250, 45.764, 4.836)}


@skill(timeout=5)
async def get_city(name: str) -> dict[str, Any]:
    """A city's population and where it is.

    Args:
        name: the city's name.
    """
    await asyncio.sleep(0.30 * SCALE)
    population, lat, lon = CITIES[name]
    return {"name": name, "population": population, "lat": lat, "lon": lon}


@skill(timeout=5)
async def divide(a: float, b: float) -> float:
    """``a`` divided by ``b``, to two decimals."""
    await asyncio.sleep(0.02 * SCALE)
    return round(a / b, 2)


@skill(timeout=5)
async def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The distance in km between two places, by their latitudes and longitudes."""
    import math

    await asyncio.sleep(0.02 * SCALE)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return round(6371 * math.acos(min(1.0, cos)))


TOOLS = Toolset([get_city, divide, distance_km], references=True)


def script() -> list[Any]:
    # The plan: four calls written over 0.6 s, then 0.3 s more of stream.
    plan = Turn(text="I'll look both cities up and compute from their results.", calls=[
        ScriptedCall("call_paris", "get_city", {"name": "Paris"}, done_at=0.10 * SCALE),
        ScriptedCall("call_lyon", "get_city", {"name": "Lyon"}, done_at=0.20 * SCALE),
        ScriptedCall("call_ratio", "divide", {"a": {"result_of": 1, "path": "population"},
                                              "b": {"result_of": 2, "path": "population"}}, done_at=0.35 * SCALE),
        ScriptedCall("call_km", "distance_km", {
            "lat1": {"result_of": 1, "path": "lat"}, "lon1": {"result_of": 1, "path": "lon"},
            "lat2": {"result_of": 2, "path": "lat"}, "lon2": {"result_of": 2, "path": "lon"},
        }, done_at=0.60 * SCALE),
    ], tail=0.3 * SCALE)

    def answer(path: str, body: dict[str, Any]) -> Turn:
        got = {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
        return Turn(text=f"About {float(got['call_ratio']):g} Lyons fit in Paris; "
                         f"they are {float(got['call_km']):g} km apart.")

    return [plan, answer]


async def main() -> None:
    model = ScriptedModel(script())
    async with model.serve() as base_url, openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="local", max_retries=0
    ) as client:
        messages: list[Any] = [
            {"role": "system", "content": "Answer with the tools. " + TOOLS.reference_instructions()},
            {"role": "user", "content": "How many Lyons fit in Paris, and how far apart are they?"},
        ]
        for turn in (1, 2):
            asked = time.perf_counter()
            stream = await client.chat.completions.create(
                model="scripted", messages=messages, tools=TOOLS.schemas("openai", strict=True), stream=True,  # type: ignore[arg-type]
            )
            calls = TOOLS.calls_from_stream(stream)
            began = time.perf_counter() - asked
            results = await run(calls, max_concurrency=None).collect()
            print(f"turn {turn}: {calls.text}")
            if not calls.calls:
                break
            times = model.streams[-1]
            assert times.ended is not None
            print(f"  stream: request at 0.000s, ended at {times.ended - asked:.3f}s")
            for r in results:
                assert r.started_at is not None and r.finished_at is not None
                complete = times.call_done[r.key] - asked
                print(f"  {r.key:<11} {r.name:<12} arguments complete {complete:.3f}s  "
                      f"ran {began + r.started_at:.3f}s -> {began + r.finished_at:.3f}s  {r.status}  {json.dumps(r.value)}")
            ends = [began + (r.finished_at or 0.0) for r in results]
            stream_end = times.ended - asked
            print(f"  last result at {max(ends):.3f}s; {sum(e < stream_end for e in ends)} of {len(ends)} "
                  "results came before the stream ended: no turn waited for the lookups")
            messages += calls.messages() + TOOLS.replies(results, "openai")


if __name__ == "__main__":
    asyncio.run(main())
