"""A child process on a "second host": a UTS namespace of its own (``unshare --uts``) with
its own host name, as a pod replaced by a deploy would be. Needs root (or user
namespaces); :func:`can_unshare` says whether this machine allows it."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def can_unshare() -> bool:
    try:
        done = subprocess.run(["unshare", "--uts", "sh", "-c", "hostname probe-x && hostname"],
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"probe-x"


needs_unshare = pytest.mark.skipif(not can_unshare(), reason="needs unshare --uts (root)")


def on_host(host: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """``argv`` started in a UTS namespace of its own named ``host``, with this checkout
    on its PYTHONPATH; stdout and stderr piped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = f"hostname {shlex.quote(host)} && exec " + " ".join(shlex.quote(str(a)) for a in argv)
    return subprocess.Popen(
        ["unshare", "--uts", "sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
