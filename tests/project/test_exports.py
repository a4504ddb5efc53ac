"""Each public module's ``__all__`` lists exactly its public callables (anyio/trio style)."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

# The lead adds "pipeline" here once it exists.
PUBLIC_MODULES = ["operators", "pipeline"]


def _defined_here(module: ModuleType, obj: object) -> bool:
    """Defined in the module itself or in one of its private submodules (re-exported)."""
    owner = getattr(obj, "__module__", None)
    name = module.__name__
    return owner == name or (
        isinstance(owner, str) and owner.startswith(f"{name}._")
    )


def _public_callables(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and callable(obj)
        and not inspect.ismodule(obj)
        and _defined_here(module, obj)
    }


@pytest.fixture(params=PUBLIC_MODULES)
def module(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def test_all_is_exactly_the_public_callables(module: ModuleType) -> None:
    exported = list(module.__all__)
    missing = [name for name in exported if not hasattr(module, name)]
    # Constants such as a graph's START may be exported too; they are not callables.
    exported_callables = {
        name for name in exported if name not in missing and callable(getattr(module, name))
    }

    assert len(exported) == len(set(exported)), "duplicates in __all__"
    assert missing == [], "__all__ names what the module does not define"
    assert exported_callables == _public_callables(module)


def test_every_exported_callable_is_documented(module: ModuleType) -> None:
    undocumented = [
        name
        for name in module.__all__
        # __doc__ itself: inspect.getdoc would lend a class its base class's docstring.
        if callable(getattr(module, name))
        and not (getattr(getattr(module, name), "__doc__", None) or "").strip()
    ]

    assert undocumented == []


def test_star_import_gives_exactly_all(module: ModuleType) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)  # noqa: S102

    assert {k for k in namespace if k != "__builtins__"} == set(module.__all__)
