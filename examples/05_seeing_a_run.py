"""Seeing a run: its events as they happen, a live progress view, a timeline and a picture.

An agent's turn, on its own (no server): an LLM streams its answer token by token, a
paginated search yields pages from a thread, a flaky quote API fails once and is retried,
a report times out, and two calls depend on others (a DAG).

    python examples/05_seeing_a_run.py                  # the plot goes to a temporary folder
    python examples/05_seeing_a_run.py --plot run.png --screenshot progress.svg

1. ``run(...).events()``: every attempt, retry, streamed item and result, in order.
2. The same plan with ``progress=True`` (a live view when stdout is a terminal), then
   ``print(results)`` (a table), ``results.timeline()`` and ``results.plot(path)``.
3. An ``Instrument``: your own object, told of each moment as it happens (to log, count,
   or export them).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from pipeline import Instrument, ProgressView, Results, Retry, SkillCall, SkillResult, run, skill

tries: dict[str, int] = {}


@skill
async def llm_answer(prompt: str) -> AsyncIterator[str]:
    """An LLM streaming its answer: each token is a "partial" event the moment it exists."""
    for token in "Apple looks steady : revenue up , margins flat .".split():
        await asyncio.sleep(0.04)
        yield token


@skill
def search_pages(query: str) -> Iterator[dict[str, Any]]:
    """A paginated API read in a thread: each page is a partial too."""
    for page in range(3):
        time.sleep(0.08)
        yield {"query": query, "page": page + 1, "hits": 10}


@skill(retry=Retry(attempts=3, backoff=0.15, jitter=0))
async def quote(symbol: str) -> float:
    """Fails on its first try (the service is busy), succeeds after a backoff."""
    tries[symbol] = tries.get(symbol, 0) + 1
    await asyncio.sleep(0.1)
    if tries[symbol] == 1:
        raise ConnectionError("quote service busy")
    return 187.5


@skill(timeout=0.35)
async def analyst_report(symbol: str) -> str:
    await asyncio.sleep(5)  # far past its timeout
    return "never"


@skill
async def fundamentals(symbol: str) -> dict[str, float]:
    await asyncio.sleep(0.2)
    return {"pe": 29.1}


@skill
async def valuation(price: float, fundamentals: dict[str, float]) -> str:
    await asyncio.sleep(0.15)
    return f"fair value ~{price * 1.05:.0f}, P/E {fundamentals['pe']}"


@skill
async def brief(valuation: str, report: str) -> str:
    return f"{valuation}; {report}"


def plan() -> list[SkillCall[Any]]:
    """Fresh calls each time (a retry counter lives in ``tries``)."""
    tries.clear()
    return [
        llm_answer("How is Apple doing?"),
        search_pages("apple earnings"),
        valuation(quote("AAPL"), fundamentals("AAPL")),
        brief(
            valuation(quote("MSFT").named("quote_msft"), fundamentals("MSFT").named("fundamentals_msft"))
            .named("valuation_msft"),
            analyst_report("MSFT"),
        ),
    ]


async def show_events() -> None:
    print("== events ==")
    answer: list[str] = []
    async with run(plan(), max_concurrency=4).events() as events:
        async for e in events:
            if e.kind == "partial" and e.key == "llm_answer":
                answer.append(e.item)  # tokens as they stream, while the others run
                continue
            if e.kind == "started":
                print(f"{e.at:5.2f}s  started   {e.key} (attempt {e.attempt})")
            elif e.kind == "retrying":
                print(f"{e.at:5.2f}s  retrying  {e.key}: {e.error.message}, next in {e.wait:.2f}s")
            elif e.kind == "partial":
                print(f"{e.at:5.2f}s  partial   {e.key}: page {e.item['page']}")
            elif e.kind in ("finished", "skipped"):
                print(f"{e.at:5.2f}s  {e.kind:<9} {e.key}: {e.result.status.value}")
            elif e.kind == "deadline":
                print(f"{e.at:5.2f}s  deadline")
    print("llm_answer streamed:", " ".join(answer))


async def show_timeline(screenshot: str | None) -> Results:
    print("\n== results ==")
    shot: asyncio.Task[None] | None = None
    progress: bool | ProgressView = True  # a live view, drawn only on a terminal
    if screenshot is not None:
        from rich.console import Console

        view = ProgressView(console=Console(file=io.StringIO(), force_terminal=True, width=90))
        progress = view

        async def take() -> None:  # the view as it is mid-run, saved as an SVG picture
            await asyncio.sleep(0.3)
            console = Console(record=True, width=90, file=io.StringIO(), force_terminal=True)
            console.print(view.render())
            console.save_svg(screenshot, title="python examples/05_seeing_a_run.py")

        shot = asyncio.create_task(take())
    results = await run(plan(), max_concurrency=4, progress=progress).collect()
    if shot is not None:
        await shot
    print(results)
    print("\n== timeline ==")
    print(results.timeline(width=100))
    return results


class Tally(Instrument):
    """Counts what happened to each call; an Instrument's methods run as things happen."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.items = 0

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        self.attempts[call.key] = attempt

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        self.items += 1

    def call_finished(self, result: SkillResult) -> None:
        if result.attempts > 1:
            print(f"{result.finished_at:5.2f}s  {result.key} {result.status} after {result.attempts} attempts")


async def show_instrument() -> None:
    print("\n== an Instrument ==")
    tally = Tally()
    await run(plan(), max_concurrency=4, instruments=[tally]).collect()
    print(f"{len(tally.attempts)} calls started, {sum(tally.attempts.values())} attempts, {tally.items} streamed items")


async def main(screenshot: str | None) -> Results:
    await show_events()
    results = await show_timeline(screenshot)
    await show_instrument()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="events, progress, timeline and plot of one run")
    ap.add_argument("--plot", default=os.path.join(tempfile.gettempdir(), "skillstream-run.png"))
    ap.add_argument("--screenshot", default=None, help="save the progress view mid-run as SVG")
    a = ap.parse_args()
    results = asyncio.run(main(a.screenshot))
    # Drawn after the loop is done: matplotlib takes a second, which nothing should wait for.
    results.plot(a.plot, title="an agent's turn: 10 calls, 4 at a time")
    print(f"\nplot saved to {a.plot}")
