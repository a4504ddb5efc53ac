"""Import ``examples/local_api.py`` for tests: the examples are scripts, not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_local_api() -> ModuleType:
    if "local_api" in sys.modules:
        return sys.modules["local_api"]
    spec = importlib.util.spec_from_file_location("local_api", EXAMPLES / "local_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_api"] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def load_nginx_api() -> ModuleType:
    if "nginx_api" in sys.modules:
        return sys.modules["nginx_api"]
    spec = importlib.util.spec_from_file_location("nginx_api", EXAMPLES / "nginx_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nginx_api"] = module
    spec.loader.exec_module(module)
    return module
