"""Import the examples' local servers (``examples/servers/``) for tests and benchmarks.

The examples are scripts, not an installed package: each server module is loaded from its
file, once, under its own name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SERVERS = Path(__file__).resolve().parents[2] / "examples" / "servers"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SERVERS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def load_local_api() -> ModuleType:
    return _load("local_api")


def load_nginx_api() -> ModuleType:
    return _load("nginx_api")


def load_scripted_model() -> ModuleType:
    return _load("scripted_model")
