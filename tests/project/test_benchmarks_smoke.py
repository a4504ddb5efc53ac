"""Smoke test of the benchmark harness: it runs at ``--size small`` and reports every workload
for every implementation. It never asserts on timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WORKLOADS = {"overhead", "overhead_suspending", "latency", "first_result", "dag", "memory_inflight", "memory_rss",
             "throughput"}
PEERS = {"skillstream", "skillstream_stategraph", "asyncio_gather", "asyncio_features",
         "asyncio_workers", "asyncio_workers_objects", "aiostream", "reactivex", "langgraph"}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_benchmarks_small_run_reports_every_workload_and_peer(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "small", "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Workload |" in proc.stdout  # the markdown table

    data = json.loads(out.read_text())
    assert data["meta"]["size"] == "small"
    assert set(data["peers"]) == PEERS
    assert set(data["workloads"]) == WORKLOADS
    for wkey, wl in data["workloads"].items():
        assert set(wl["rows"]) == PEERS, wkey
        for pkey, row in wl["rows"].items():
            # every cell is a figure or says why not; none is an error
            assert row["error"] is None, (wkey, pkey, row["error"])
            assert (row["value"] is not None) or row["na"], (wkey, pkey)
            if row["na"]:
                assert row["na"].startswith("n/a"), (wkey, pkey, row["na"])
    # skillstream and its feature-equivalent baseline have a figure in every workload
    for wkey in WORKLOADS:
        for pkey in ("skillstream", "asyncio_features"):
            assert data["workloads"][wkey]["rows"][pkey]["value"] is not None, (wkey, pkey)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_benchmarks_without_langgraph_print_na_instead_of_crashing(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    code = (
        "import sys; sys.modules['langgraph'] = None  # as if not installed\n"
        "from benchmarks.run import main\n"
        f"sys.exit(main(['--size', 'small', '--only', 'overhead,dag', '--output', {str(out)!r}]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hint = "n/a (pip install 'skillstream[bench]')"
    assert hint in proc.stdout
    data = json.loads(out.read_text())
    for wkey in ("overhead", "dag"):
        assert data["workloads"][wkey]["rows"]["langgraph"]["na"] == hint
