"""tests/ mirrors the library's layers: each test module lives in its layer's folder, helpers
live in tests/support/, and no module of tests/ imports a test module (what two test modules
share is a helper, in tests/support/). Checked by reading the sources (AST), not by importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# The folders of test modules, bottom layer first; tests/support/ holds everything else.
LAYERS = (
    "operators",
    "core",
    "admission",
    "executors",
    "observing",
    "engine",
    "durable",
    "stream",
    "graph",
    "tools",
    "project",
)
SUPPORT = "support"


def _module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_test_module(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("test_")


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module a source imports, absolute, including ``from package import module``
    (listed both as the package and as package.module, since either may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_scan_sees_the_imports_it_forbids() -> None:
    source = (
        "import tests.engine.test_properties\n"
        "from tests.engine.test_properties import Scenario\n"
        "from tests.engine import test_properties\n"
        "from .test_properties import Scenario\n"
        "from . import test_properties as p\n"
        "from ..engine.test_properties import Scenario\n"
        "from tests.support.oracle import Scenario\n"
    )
    found = imported_modules(source, "tests.engine.test_cancellation")
    forbidden = {m for m in found if m.startswith("tests.") and _is_test_module(m)}
    assert forbidden == {"tests.engine.test_properties"}
    assert "tests.support.oracle" in found
    assert not any(_is_test_module(m) for m in imported_modules("from tests.support import vloop", "tests.x"))


def test_no_module_of_tests_imports_a_test_module() -> None:
    offenders = []
    for path in _python_files():
        module = _module_name(path)
        for imported in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            if imported.split(".")[0] == "tests" and _is_test_module(imported) and imported != module:
                offenders.append(f"{path.relative_to(TESTS.parent)} imports {imported}")
    assert not offenders, (
        "a test module is imported; move what is shared into tests/support/:\n" + "\n".join(offenders)
    )


def test_tests_live_in_their_layer_and_helpers_in_support() -> None:
    misplaced = []
    test_modules = 0
    for path in _python_files():
        relative = path.relative_to(TESTS)
        folder = relative.parts[0] if len(relative.parts) > 1 else ""
        if path.name in ("__init__.py", "conftest.py"):
            continue
        if path.name.startswith("test_"):
            test_modules += 1
            if folder not in LAYERS:
                misplaced.append(f"tests/{relative}: a test module belongs in tests/<layer>/, one of {LAYERS}")
        elif folder != SUPPORT:
            misplaced.append(f"tests/{relative}: a helper belongs in tests/{SUPPORT}/")
    assert not misplaced, "\n".join(misplaced)
    assert test_modules >= 50  # the scan did find the suite
    # Every folder of Python files is a package, so module names stay unique across layers.
    folders = {p.parent for p in _python_files()}
    assert sorted(str(f.relative_to(TESTS.parent)) for f in folders if not (f / "__init__.py").exists()) == []
