"""Smoke test of every benchmark: each runs at ``--size small`` through ``python -m
benchmarks`` and hands back well-formed figures (numbers that exist, positive and finite,
for every implementation it compares). Timings are never asserted.

The test is parametrized over the registry (``benchmarks.suite.BENCHMARKS``): a benchmark
added there is smoke-tested here, and a benchmark module left out of it fails
``test_every_benchmark_module_is_registered``. Benchmarks needing a program or package a
machine may well lack run under that marker (``-m nginx``, ``-m ray``); any other missing
dependency fails the test instead of skipping it.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import suite
from benchmarks._figures import Figures

ROOT = Path(__file__).resolve().parents[2]

#: the core harness takes ~20 s at small size: in the full suite, not the fast one
SLOW = {"core", "scale"}
#: seconds each benchmark may take at small size (pytest's default otherwise)
TIMEOUTS = {"core": 240, "scale": 300, "ray": 420}
#: modules of benchmarks/ that are not benchmarks
NOT_BENCHMARKS = {"__init__", "__main__", "suite", "workloads", "profile_skillstream"}

WORKLOADS = {"overhead", "overhead_suspending", "latency", "first_result", "dag", "memory_inflight",
             "memory_rss", "throughput"}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


def _params() -> list[Any]:
    out = []
    for b in suite.BENCHMARKS:
        marks = [getattr(pytest.mark, dep) for dep in b.optional]
        if b.key in SLOW:
            marks.append(pytest.mark.slow)
        marks.append(pytest.mark.timeout(TIMEOUTS.get(b.key, 120)))
        out.append(pytest.param(b.key, marks=marks, id=b.key))
    return out


@pytest.mark.parametrize("key", _params())
def test_benchmark_at_small_size_gives_well_formed_figures(key: str, tmp_path: Path) -> None:
    b = suite.registry()[key]
    assert suite.missing(b) is None, f"{key} cannot run here: {suite.missing(b)}"
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "small", "--only", key, "--strict",
         "--output", str(out)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUTS.get(key, 120) - 5,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"## {key}: " in proc.stdout  # its figures, printed
    data = json.loads(out.read_text())
    assert data["meta"]["size"] == "small" and data["meta"]["machine"]["cores"] > 0
    entry = data["benchmarks"][key]
    assert "error" not in entry and "skipped" not in entry, entry
    assert entry["text"].strip() and entry["title"]
    # every implementation the benchmark compares has figures, each positive and finite
    assert set(b.peers) <= set(entry["rows"]), sorted(entry["rows"])
    for row, values in entry["rows"].items():
        assert values, row
        for name, v in values.items():
            assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, (row, name, v)
    for name, v in entry["derived"].items():
        assert isinstance(v, (int, float)) and math.isfinite(v), (name, v)
    if key == "scale":  # every implementation at both caps, on each loop, with and without the heap
        params = entry["params"]
        assert params["caps"] == [100, 1000] and params["heap_objects"] > 0
        assert set(entry["rows"]) == set(b.peers)
        expected = {"asyncio", "asyncio + 0.3e6-object heap"}
        if "uvloop" in params["loops"]:
            expected |= {"uvloop", "uvloop + 0.3e6-object heap"}
        for impl, values in entry["rows"].items():
            runs = {name.split(", 10^")[0] for name in values}
            assert runs == expected, (impl, sorted(values))
            assert len(values) == 2 * len(expected), (impl, sorted(values))
        assert any("heap / without" in name for name in entry["derived"])
        assert any("cap 1,000 / cap 100" in name for name in entry["derived"])
        for name, v in entry["derived"].items():
            assert v > 0, (name, v)
        from benchmarks.scale import LABELS

        for pkey in b.peers:  # every implementation named in the printed table
            assert LABELS[pkey] in entry["text"], pkey
    if key == "core":  # every workload, every peer, no failed cell
        assert set(entry["params"]["workloads"]) == WORKLOADS
        for wkey, wl in entry["params"]["workloads"].items():
            assert set(wl["rows"]) == set(suite.CORE_PEERS), wkey
            for pkey, row in wl["rows"].items():
                assert row["error"] is None, (wkey, pkey, row["error"])
                assert (row["value"] is not None) or row["na"].startswith("n/a"), (wkey, pkey)
            for pkey in ("skillstream", "asyncio_features"):
                assert wl["rows"][pkey]["value"] is not None, (wkey, pkey)


def test_every_benchmark_module_is_registered() -> None:
    registered = {b.module.removeprefix("benchmarks.") for b in suite.BENCHMARKS}
    modules = {p.stem for p in (ROOT / "benchmarks").glob("*.py")
               if not p.stem.startswith("_") or p.stem in ("__init__", "__main__")}
    assert modules - NOT_BENCHMARKS == registered
    for name in registered:  # each has its sizes and bench(size), without importing it (Ray)
        tree = ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        assert {"bench", "main"} <= defined, name
        assert "SIZES" in defined or name == "run", name


def test_list_names_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert suite.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for b in suite.BENCHMARKS:
        assert f"python -m {b.module}" in listed and b.key in listed
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    for b in suite.BENCHMARKS:  # and the README says what each measures
        assert f"| `{b.key}` | `{b.module.removeprefix('benchmarks.')}` |" in readme, b.key


def test_a_missing_dependency_skips_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    lacking = suite.Benchmark("lacking", "benchmarks.no_such_module", "nothing", ("x",),
                              packages=("skillstream_no_such_package",), programs=("no-such-program",))
    monkeypatch.setattr(suite, "BENCHMARKS", (lacking,))
    out = tmp_path / "bench.json"
    assert suite.main(["--size", "small", "--only", "lacking", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("lacking: skipped: needs skillstream_no_such_package, no-such-program "
            "(pip install -e '.[bench]')") in printed.splitlines()
    assert json.loads(out.read_text())["benchmarks"]["lacking"]["skipped"]
    # --strict: a skipped benchmark fails the run
    assert suite.main(["--size", "small", "--only", "lacking", "--strict", "--output", str(out)]) == 1


def test_malformed_figures_are_reported() -> None:
    assert Figures("t", "x", {"a": {"s": 1.0}}).problems() == []
    bad = Figures("t", "x", {"a": {"s": 0.0, "n": float("nan")}, "b": {}}, derived={"d": math.inf})
    assert len(bad.problems()) == 4


def test_results_md_rewrites_the_sections_run_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    suite.write_sections(path, {"core": "## core\n\nold core\n", "hedge": "## hedge\n\nold hedge\n"})
    suite.write_sections(path, {"graph": "## graph\n\nnew graph\n", "hedge": "## hedge\n\nnew hedge\n"})
    text = path.read_text()
    assert text.startswith(suite.RESULTS_HEADER)
    assert suite.read_sections(path) == {"core": "## core\n\nold core\n", "hedge": "## hedge\n\nnew hedge\n",
                                         "graph": "## graph\n\nnew graph\n"}
    assert text.index("old core") < text.index("new hedge") < text.index("new graph")  # registry order
    # the committed RESULTS.md is in this format, with the core figures
    assert "core" in suite.read_sections(ROOT / "benchmarks" / "RESULTS.md")


def test_a_results_section_names_the_machine_and_the_commit(tmp_path: Path) -> None:
    from benchmarks.run import _git_rev, machine

    meta = {"size": "small", "machine": machine(), "commit": _git_rev(), "date": "today"}
    b = suite.registry()["events"]
    text = suite.section(b, Figures("CPU cost", "a\nb", {"x": {"y": 1.0}}, markdown=False), meta, 1.0)
    mach = meta["machine"]
    assert f"{mach['cores']} cores" in text and mach["python"] in text and mach["platform"] in text
    assert f"at commit `{meta['commit']}`" in text and "```\na\nb\n```" in text


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_core_without_langgraph_prints_na_instead_of_crashing(tmp_path: Path) -> None:
    out = tmp_path / "core.json"
    code = (
        "import sys; sys.modules['langgraph'] = None  # as if not installed\n"
        "from benchmarks.run import main\n"
        f"sys.exit(main(['--size', 'small', '--only', 'overhead,dag', '--output', {str(out)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hint = "n/a (pip install 'skillstream[bench]')"
    assert hint in proc.stdout
    data = json.loads(out.read_text())
    for wkey in ("overhead", "dag"):
        assert data["workloads"][wkey]["rows"]["langgraph"]["na"] == hint
