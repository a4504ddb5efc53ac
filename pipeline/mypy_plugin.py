"""A mypy plugin: a skill's parameters accept a value or a call of that type.

At run time ``summarize(fetch_stock("AAPL"))`` passes a ``SkillCall[dict]`` where
``summarize`` declares ``dict``: the call becomes a dependency and its value is passed in.
A ``ParamSpec`` cannot express "each parameter, or a call of its type", so this plugin
widens each parameter ``T`` of ``Skill.__call__`` to ``T | SkillCall[T]`` (a call of
another type is still an error). Enable it with::

    [tool.mypy]
    plugins = ["pipeline.mypy_plugin"]
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.plugin import MethodSigContext, Plugin
from mypy.types import CallableType, FunctionLike, Type, UnionType

__all__ = ["plugin"]

_CALL = "pipeline._core._skill.Skill.__call__"
_SKILL_CALL = "pipeline.SkillCall"


def _widen(ctx: MethodSigContext) -> FunctionLike:
    sig = ctx.default_signature
    if not isinstance(sig, CallableType):
        return sig
    widened: list[Type] = [
        UnionType.make_union([t, ctx.api.named_generic_type(_SKILL_CALL, [t])]) for t in sig.arg_types
    ]
    return sig.copy_modified(arg_types=widened)


class _SkillPlugin(Plugin):
    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        return _widen if fullname == _CALL else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return _SkillPlugin
