"""A result's value as the journal stores it: JSON through pydantic (typed by the skill's
return annotation on the way back), else pickled when the journal allows it."""

from __future__ import annotations

import json
import pickle as pickle_module
import typing
import weakref
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import TypeAdapter

from .._core._errors import JournalError

if TYPE_CHECKING:
    from .._core._skill import Skill



__all__ = ["decode", "encode"]

# -- values --------------------------------------------------------------------------------

_PLAIN = (str, int, float, bool, type(None))
_ADAPTERS: weakref.WeakKeyDictionary[Any, TypeAdapter[Any] | None] = weakref.WeakKeyDictionary()


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON gives this value back as it is (so no check by decoding is needed)."""
    if type(value) in _PLAIN:
        return not (type(value) is float and value != value)  # NaN is not equal to itself
    if depth > 8:
        return False
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def _adapter(skill: Skill[Any, Any] | None) -> TypeAdapter[Any] | None:
    """A TypeAdapter for the skill's return annotation (None if it has none to use)."""
    if skill is None:
        return None
    fn = skill.fn
    try:
        return _ADAPTERS[fn]
    except (KeyError, TypeError):
        pass
    adapter: TypeAdapter[Any] | None = None
    if skill.kind != "asyncgen":  # a generator's value is the list of its items
        try:
            hint = typing.get_type_hints(fn).get("return")
            if hint is not None and hint is not Any:
                adapter = TypeAdapter(hint)
        except Exception:  # an annotation that does not resolve: plain JSON then
            adapter = None
    try:
        _ADAPTERS[fn] = adapter
    except TypeError:
        pass
    return adapter


def encode(value: Any, skill: Skill[Any, Any] | None, allow_pickle: bool) -> tuple[str, bytes]:
    """``(codec, data)`` for ``value``.

    Raises:
        JournalError: if it is neither JSON-able nor (with ``allow_pickle``) picklable.
    """
    if _plain(value):
        return "json", pydantic_core.to_json(value)
    try:
        data = pydantic_core.to_json(value, bytes_mode="base64")
    except Exception as json_exc:
        if not allow_pickle:
            raise JournalError(
                f"the journal cannot store this value: a {type(value).__name__} is not "
                f"JSON-able ({json_exc}); open the journal with Journal(path, pickle=True) "
                "to pickle such values"
            ) from json_exc
        return "pickle", _pickle(value)
    if allow_pickle:
        # JSON may give back something else (a tuple comes back a list): pickle keeps it.
        try:
            same = decode("json", data, skill) == value
        except Exception:
            same = False
        if not same:
            try:
                return "pickle", _pickle(value)
            except JournalError:
                pass
    return "json", data


def _pickle(value: Any) -> bytes:
    try:
        return pickle_module.dumps(value, protocol=pickle_module.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise JournalError(
            f"the journal cannot store this value: a {type(value).__name__} is neither "
            f"JSON-able nor picklable ({exc})"
        ) from exc


def decode(codec: str | None, data: bytes | None, skill: Skill[Any, Any] | None) -> Any:
    """The value a record holds, typed by the skill's return annotation when it has one."""
    if codec is None or data is None:
        return None
    if codec == "pickle":
        return pickle_module.loads(data)
    adapter = _adapter(skill)
    if adapter is not None:
        try:
            return adapter.validate_json(data)
        except Exception:  # the annotation does not match what it returned: as stored
            pass
    return json.loads(data)
