"""Regenerate the documentation's pictures from one small run:

    python docs/pictures.py            # writes docs/timeline.png and docs/progress.svg

An agent's turn on its own (no server): an LLM streams its answer, a paginated search
yields pages from a thread, a quote API fails once and is retried, a report times out, and
two calls depend on others. ``progress.svg`` is the live progress view mid-run (rich's
``Console(record=True).save_svg``); ``timeline.png`` is ``Results.plot`` of the finished run.
Needs the ``examples`` extra (rich, matplotlib).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pipeline import ProgressView, Results, Retry, SkillCall, run, skill

HERE = Path(__file__).resolve().parent
TITLE = "an agent's turn: 10 calls, 4 at a time"
tries: dict[str, int] = {}


@skill
async def llm_answer(prompt: str) -> AsyncIterator[str]:
    for token in "Apple looks steady : revenue up , margins flat .".split():
        await asyncio.sleep(0.04)
        yield token


@skill
def search_pages(query: str) -> Iterator[dict[str, Any]]:
    for page in range(3):
        time.sleep(0.08)
        yield {"query": query, "page": page + 1, "hits": 10}


@skill(retry=Retry(attempts=3, backoff=0.15, jitter=0))
async def quote(symbol: str) -> float:
    tries[symbol] = tries.get(symbol, 0) + 1
    await asyncio.sleep(0.1)
    if tries[symbol] == 1:
        raise ConnectionError("quote service busy")
    return 187.5


@skill(timeout=0.35)
async def analyst_report(symbol: str) -> str:
    await asyncio.sleep(5)
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


async def run_and_screenshot(progress: Path, at: float = 0.3) -> Results:
    """Run the plan with a progress view; save the view as it is ``at`` seconds in."""
    from rich.console import Console

    view = ProgressView(console=Console(file=io.StringIO(), force_terminal=True, width=90))

    async def screenshot() -> None:
        await asyncio.sleep(at)
        console = Console(record=True, width=90, file=io.StringIO(), force_terminal=True)
        console.print(view.render())
        console.save_svg(str(progress), title="the progress view")

    shot = asyncio.create_task(screenshot())
    results = await run(plan(), max_concurrency=4, progress=view).collect()
    await shot
    return results


def draw(timeline: Path = HERE / "timeline.png", progress: Path = HERE / "progress.svg") -> Results:
    """Run the plan once; write the progress view mid-run and the timeline of the run."""
    results = asyncio.run(run_and_screenshot(Path(progress)))
    results.plot(str(timeline), title=TITLE)  # after the loop: matplotlib takes a moment
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeline", type=Path, default=HERE / "timeline.png")
    ap.add_argument("--progress", type=Path, default=HERE / "progress.svg")
    a = ap.parse_args()
    print(draw(a.timeline, a.progress))
    print(f"wrote {a.timeline} and {a.progress}")
