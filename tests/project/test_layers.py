"""The layers of pipeline/ (pipeline/__init__.py's docstring): imports only run down, and
no import that runs forms a cycle inside a layer. Checked with import-linter's contracts
(pyproject.toml, importlinter-runtime.toml) on the tree, and shown to catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ("pyproject.toml", "importlinter-runtime.toml")


def lint(where: Path, config: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={config!r}, no_cache=True, no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("config", CONFIGS)
def test_the_tree_keeps_its_layers(config: str) -> None:
    done = lint(ROOT, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def copy_of_the_tree(tmp_path: Path) -> Path:
    for name in ("pipeline", "operators"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for config in CONFIGS:
        shutil.copy(ROOT / config, tmp_path / config)
    return tmp_path


def test_an_import_that_runs_up_breaks_the_suite(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    errors = tree / "pipeline" / "_core" / "_errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _up() -> None:\n    from .._engine import _run  # noqa: F401\n")
    done = lint(tree, "pyproject.toml")
    assert done.returncode != 0
    assert "pipeline._core is not allowed to import pipeline._engine" in done.stdout


def test_a_typing_import_up_breaks_it_too(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    errors = tree / "pipeline" / "_core" / "_errors.py"
    errors.write_text(
        errors.read_text().replace(
            "if TYPE_CHECKING:\n", "if TYPE_CHECKING:\n    from .._stream._results import ResultStream  # noqa: F401\n", 1
        )
    )
    done = lint(tree, "pyproject.toml")
    assert done.returncode != 0
    assert "pipeline._core is not allowed to import pipeline._stream" in done.stdout


def test_a_cycle_of_imports_that_run_inside_a_layer_breaks_the_suite(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    errors = tree / "pipeline" / "_core" / "_errors.py"
    # _result imports _errors at import time; this makes it a cycle that runs.
    errors.write_text(errors.read_text() + "\n\ndef _back() -> None:\n    from . import _result  # noqa: F401\n")
    done = lint(tree, "importlinter-runtime.toml")
    assert done.returncode != 0
    assert "No cycles are allowed in pipeline._core" in done.stdout
