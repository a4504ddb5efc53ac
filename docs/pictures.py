"""Regenerate the documentation's pictures from one small run:

    python docs/pictures.py            # writes docs/timeline.png and docs/progress.svg

The run is the one ``examples/05_seeing_a_run.py`` shows (an agent's turn on its own, no
server: a streaming LLM, a paginated search in a thread, a retried quote, a timed-out report,
calls that depend on others): ``progress.svg`` is its live progress view mid-run,
``timeline.png`` its ``Results.plot``. Needs the ``examples`` extra (rich, matplotlib).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "05_seeing_a_run.py"


def draw(timeline: Path = HERE / "timeline.png", progress: Path = HERE / "progress.svg") -> None:
    """Run the example, saving its plot to ``timeline`` and its progress view to ``progress``."""
    subprocess.run(
        [sys.executable, str(EXAMPLE), "--plot", str(timeline), "--screenshot", str(progress)],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )


if __name__ == "__main__":
    draw()
    print(f"wrote {HERE / 'timeline.png'} and {HERE / 'progress.svg'}")
