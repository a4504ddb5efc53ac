"""A script that runs process skills at its top level, without a main guard.

Worker processes start by forkserver or spawn, so each imports the user's script (as
``__mp_main__``) and runs its top-level code again. Without ``if __name__ == "__main__":``
that code starts the run again in every worker: the run must fail fast, saying so, and
not re-run the script's work in the workers. Real scripts in real subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FIX = 'put the code that runs them under `if __name__ == "__main__":`'

HEADER = """\
import asyncio
import os

from pipeline import run, skill

print("top level ran in", "worker" if __name__ == "__mp_main__" else "parent", flush=True)


@skill(executor="process")
def square(n: int) -> int:
    return n * n

"""

RUN = """\
results = asyncio.run(run([square(3), square(4)]).collect())
for r in results:
    print("result", r.status.value, r.value, r.error.message if r.error else "", flush=True)
"""


def _script(tmp_path: Path, guarded: bool) -> subprocess.CompletedProcess[str]:
    body = RUN
    if guarded:
        body = 'if __name__ == "__main__":\n' + textwrap.indent(RUN, "    ")
    path = tmp_path / ("guarded.py" if guarded else "unguarded.py")
    path.write_text(HEADER + body)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_script_without_a_main_guard_fails_fast_naming_the_fix(tmp_path: Path) -> None:
    done = _script(tmp_path, guarded=False)
    out = done.stdout.splitlines()
    # The parent's calls fail with the message that names the fix...
    results = [line for line in out if line.startswith("result")]
    assert len(results) == 2, done
    for line in results:
        assert line.startswith("result error None"), done
        assert "skills with executor='process' run in worker processes that import your script" in line
        assert FIX in line
    # ...and no worker ran the script's run again (it used to, printing CPython's
    # "bootstrapping phase" text from each worker).
    assert "bootstrapping phase" not in done.stdout + done.stderr, done
    assert out.count("top level ran in parent") == 1, done
    assert FIX in done.stderr, done  # each worker says so where it stopped


def test_the_same_script_with_a_main_guard_works(tmp_path: Path) -> None:
    done = _script(tmp_path, guarded=True)
    assert done.returncode == 0, done
    out = done.stdout.splitlines()
    assert [line for line in out if line.startswith("result")] == ["result success 9 ", "result success 16 "], done
    assert out.count("top level ran in parent") == 1, done
    assert "bootstrapping phase" not in done.stderr, done
