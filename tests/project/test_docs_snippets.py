"""Every ```python block of README.md and docs/**/*.md runs, as a user would paste it.

Each block runs in a fresh namespace on a fresh event loop; top-level ``await`` is
allowed (``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``). An HTML comment on the line before a block
changes how it runs:

- ``<!-- test: continue -->``: in the namespace the previous block of the page left
  (the blocks before it run first), for a page that builds one thing over several blocks;
- ``<!-- test: ray -->`` / ``<!-- test: nginx -->``: only under ``-m ray`` / ``-m nginx``.

Also: the API reference names every public name, and the picture script draws.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def _root() -> Path:
    here = Path(__file__).resolve().parent
    while not (here / "pyproject.toml").exists():
        here = here.parent
    return here


ROOT = _root()
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
TAG = re.compile(r"<!--\s*test:\s*(\w+)\s*-->\s*$")
MARKERS = {"ray", "nginx"}


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    source: str
    tags: frozenset[str]
    before: tuple[Block, ...]  # the blocks a `continue` block runs after

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def blocks() -> list[Block]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found: list[Block] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        previous: Block | None = None
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            preceding = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            tag = TAG.search(preceding)
            tags = frozenset([tag.group(1)] if tag else [])
            before: tuple[Block, ...] = ()
            if "continue" in tags:
                assert previous is not None, f"{page}:{line}: nothing to continue"
                before = (*previous.before, previous)
                tags = tags | (previous.tags & MARKERS)
            block = Block(str(page.relative_to(ROOT)), line, match.group(1), tags, before)
            found.append(block)
            previous = block
    return found


def _params() -> list[Any]:
    return [
        pytest.param(b, id=b.id, marks=[getattr(pytest.mark, m) for m in sorted(b.tags & MARKERS)])
        for b in blocks()
    ]


def execute(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(block.source, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # a coroutine when the block awaits at top level
    if inspect.iscoroutine(result):
        asyncio.run(result)


@pytest.mark.parametrize("block", _params())
def test_code_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files a block writes (journals, pictures) land here
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    try:
        for earlier in (*block.before, block):
            execute(earlier, namespace)
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            # The local instance a Ray block started goes with it: one left running in this
            # process can be taken down by the instances later tests start in child
            # processes, and the process with it.
            ray.shutdown()


def test_every_page_has_blocks_and_the_readme_starts_with_the_two_commands() -> None:
    assert len(blocks()) > 20
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```(?:bash|sh|shell|console)?\n(.*?)```", readme, re.S)
    assert first is not None
    assert first.group(1).splitlines() == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[examples]' "
        "&& python examples/investment_briefing.py",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' "
        "&& python -m pytest",
    ]


def test_the_readme_lists_the_guarantees_of_the_guarantees_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    listed = [line[2:] for line in section.splitlines() if line.startswith("- ")]
    page = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    rows = [line.split(" | ")[0].removeprefix("| ") for line in page.splitlines() if line.startswith("| ")]
    assert listed == rows[1:]  # after the header row


def test_every_guarantee_names_tests_that_exist() -> None:
    page = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ")][2:]  # after the header
    tests = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")}
    missing: list[str] = []
    for row in rows:
        proof = row.split(" | ", 1)[1]
        modules = re.findall(r"(test_\w+\.py)", proof)
        assert modules, f"a guarantee names no test: {row[:80]}"
        missing += [m for m in modules if m not in tests]
        module = None
        for m in re.finditer(r"(test_\w+\.py)|::(test_\w+)", proof):  # a name is in the module before it
            if m.group(1):
                module = m.group(1)
                continue
            source = tests.get(module or "")
            if source is None or not re.search(rf"^(async )?def {m.group(2)}\(", source, re.M):
                missing.append(f"{module}::{m.group(2)}")
    assert not missing, f"guarantees name tests that do not exist: {missing}"


def test_the_api_reference_names_every_public_name() -> None:
    import operators
    import pipeline

    reference = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", reference, re.M))
    missing = [f"pipeline.{n}" for n in pipeline.__all__ if f"pipeline.{n}" not in documented]
    assert not missing, f"not in docs/reference: {missing}"
    assert {"operators", "pipeline.journal"} <= documented
    assert operators.__all__  # rendered whole by `::: operators`


def test_the_pictures_script_draws_both_pictures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("rich")
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_pictures", ROOT / "docs" / "pictures.py")
    assert spec is not None and spec.loader is not None
    pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pictures)
    timeline, progress = tmp_path / "timeline.png", tmp_path / "progress.svg"
    pictures.draw(timeline=timeline, progress=progress)
    assert timeline.read_bytes().startswith(b"\x89PNG")
    assert "<svg" in progress.read_text(encoding="utf-8")
