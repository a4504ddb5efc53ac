"""A user's script written from the README passes ``mypy --strict``, also where the user
installed skillstream with ``pip install -e .`` and set no MYPYPATH."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.typecheck import mypy

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def readme_scripts(into: Path) -> list[Path]:
    """Each python block of the README as a module of its own (each has its ``main``)."""
    blocks = FENCE.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    paths = []
    for i, block in enumerate(blocks):
        path = into / f"readme_{i}.py"
        path.write_text(block, encoding="utf-8")
        paths.append(path)
    return paths


def test_the_readme_snippets_pass_mypy_strict(tmp_path: Path) -> None:
    scripts = readme_scripts(tmp_path)
    joined = "\n".join(p.read_text() for p in scripts)
    # What the snippets exercise: a fan-out's values(), scan with a [] seed, Command[Literal].
    assert ".values()" in joined and ".scan(" in joined and "Command[Literal[" in joined
    out, err, status = mypy(
        [
            "--strict",
            "--config-file", str(ROOT / "pyproject.toml"),  # the project's mypy plugin
            "--no-incremental",
            "--cache-dir", str(tmp_path / ".mypy_cache"),
            *map(str, scripts),
        ]
    )
    assert status == 0, out + err


REDUCERS = '''
from pipeline import SkillResult, run, skill

@skill
async def count(n: int) -> int:
    return n

def add(acc: int, r: SkillResult) -> int:
    return acc + (r.value if r.ok else 0)

async def main() -> None:
    reveal_type(await run([count(1)]).reduce(add, 0))
    async for total in run([count(1)]).scan(add, 0):
        reveal_type(total)
    await run([count(1)]).reduce(add, "zero")
'''


def test_a_typed_reducer_types_the_aggregate_and_refuses_a_seed_it_cannot_take(tmp_path: Path) -> None:
    source = tmp_path / "reducers.py"
    source.write_text(REDUCERS)
    out, _, _ = mypy(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".c"), str(source)])
    assert len(re.findall(r'Revealed type is "(?:builtins\.)?int"', out)) == 2, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "reducers.py:15:" in errors[0] and "[arg-type]" in errors[0], out


@pytest.mark.slow
def test_an_editable_install_is_visible_to_mypy(tmp_path: Path) -> None:
    """``pip install -e .`` must put a static path in site-packages (a ``.pth`` naming the
    project's directory): type checkers read those, not setuptools' import hook."""
    pytest.importorskip("setuptools")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (project / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    for package in ("pipeline", "operators"):
        subprocess.run(["cp", "-r", str(ROOT / package), str(project / package)], check=True)
    for cache in project.rglob("__pycache__"):
        subprocess.run(["rm", "-rf", str(cache)], check=True)

    # What the editable wheel pip would install holds (setuptools' own choice; calling
    # build_editable would need bdist_wheel, from `wheel` before setuptools 70.1).
    choose = textwrap.dedent(
        """
        import os
        from setuptools.dist import Distribution
        from setuptools.command.editable_wheel import editable_wheel
        dist = Distribution()
        dist.parse_config_files()
        command = editable_wheel(dist)
        command.ensure_finalized()
        strategy = command._select_strategy("skillstream", "py3-none-any", "build/lib")
        print(type(strategy).__name__)
        for entry in getattr(strategy, "path_entries", []):
            print(os.path.abspath(entry))
        """
    )
    chosen = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", choose], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    # A static path (a .pth naming the project), not the import hook (_TopLevelFinder:
    # "import __editable___finder; ...install()", which type checkers do not run).
    kind, *entries = chosen.stdout.split()
    assert kind == "_StaticPth" and [Path(e).resolve() for e in entries] == [project.resolve()], chosen.stdout

    # Installed: a venv whose site-packages holds that .pth; the dependencies come from
    # this interpreter's site-packages (a path, so its own editable hook stays out).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "__editable__.skillstream-0.1.0.pth").write_text(f"{project}\n")  # what it writes
    import pydantic

    (site / "zz_deps.pth").write_text(str(Path(pydantic.__file__).parents[1]) + "\n")
    python = venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import pipeline; print(pipeline.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert where.returncode == 0 and where.stdout.startswith(str(project)), where.stdout + where.stderr

    user = tmp_path / "user"
    user.mkdir()
    scripts = readme_scripts(user)
    # mypy run by the user's interpreter, no MYPYPATH nor PYTHONPATH: it finds pipeline
    # (and the plugin its pyproject.toml names) only through what the install put there.
    checked = subprocess.run(
        [
            str(python), "-m", "mypy", "--strict", "--no-incremental",
            "--config-file", str(project / "pyproject.toml"),
            *map(str, scripts),
        ],
        cwd=user, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin"},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
