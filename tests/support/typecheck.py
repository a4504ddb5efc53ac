"""mypy for the typing tests, in a child process.

An in-process ``mypy.api.run`` leaves about a million objects alive in the test process,
and every later garbage collection walks them: the engine's tests, which collect after
each run, became slower by seconds each.
"""

from __future__ import annotations

import subprocess
import sys


def mypy(args: list[str]) -> tuple[str, str, int]:
    """``mypy.api.run(args)``'s ``(stdout, stderr, exit status)``, from a child process."""
    done = subprocess.run([sys.executable, "-m", "mypy", *args], capture_output=True, text=True, check=False)
    return done.stdout, done.stderr, done.returncode
