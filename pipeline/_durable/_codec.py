"""A result's value as the journal stores it, and a call's arguments as its identity sees them.

Values (codec ``"t1"``): typed JSON. JSON's own types are stored as they are; every other
type the journal knows is a small object tagged with ``"$t"``: ``bytes``/``bytearray``
(base64), ``tuple``, ``set``/``frozenset`` (sorted by their encoding), ``dict`` with keys
that are not all strings (or with a ``"$t"`` key) as pairs, ``datetime``/``date``/``time``/
``timedelta``, ``Decimal``, ``UUID``, paths, NaN and infinities, enums (by qualified name and
value), named tuples, dataclasses, pydantic models and types registered with
:func:`register_type` (a graph's ``Command`` and ``Send``) by qualified name and fields, and
LangChain objects (``langchain_core.load.dumpd``, revived by ``load``). A value is checked
when it is written: decoded again it must be equal, of the same types all the way down, and
encode the same; else it is pickled (``Journal(pickle=True)``) or refused with an error
that names the call and the type. So a replayed value is the value first returned, never
something close to it.

A skill's return annotation no longer shapes the value: it is a check. A value that matched
its annotation when written and no longer does when replayed (the skill changed) is run
again. The codec says which (``"t1"`` checked, ``"t1.loose"`` did not match when written:
replayed as it is); likewise ``"pickle"`` and ``"pickle.loose"``.

Journals written before (codec ``"json"``) still read: validated by the return annotation
as they were (a value that does not validate is run again).

Identity (:func:`canonical`): the same encoding with dict keys and set items sorted, so
equal arguments give the same bytes in every process and host, and message ids that
:func:`new_message_id` made (``add_messages`` gives them to messages without one) left out.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import hashlib
import importlib
import json
import math
import pathlib
import pickle as pickle_module
import sys
import typing
import uuid
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter

from .._core._errors import JournalError

if TYPE_CHECKING:
    from .._core._skill import Skill


__all__ = ["canonical", "decode", "encode", "is_generated_id", "new_message_id", "register_type"]

TYPED = "t1"
"""The codec of typed JSON, version 1."""
LOOSE = ".loose"
"""Suffix of a codec whose value did not match the skill's return annotation when written."""

_PLAIN = (str, int, float, bool, type(None))
_TAG = "$t"
_ADAPTERS: weakref.WeakKeyDictionary[Any, tuple[Any, TypeAdapter[Any] | None] | None] = (
    weakref.WeakKeyDictionary()
)


_REGISTERED: dict[type, tuple[Callable[[Any], dict[str, Any]], Callable[[dict[str, Any]], Any]]] = {}


def register_type(
    cls: type, fields: Callable[[Any], dict[str, Any]], build: Callable[[dict[str, Any]], Any]
) -> None:
    """Let the journal store instances of ``cls`` (an upper layer's own type, as a graph's
    Command): by ``fields(obj)``, given back by ``build(fields)``."""
    _REGISTERED[cls] = (fields, build)


class _Unsupported(Exception):
    """A value the typed encoding cannot give back exactly."""

    def __init__(self, obj: Any, path: str, why: str = "is not JSON-able") -> None:
        where = "" if path == "value" else f" (at {path})"
        super().__init__(f"a {_type_name(type(obj))} {why}{where}")
        self.obj = obj


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", "")
    qualname = getattr(cls, "__qualname__", getattr(cls, "__name__", "?"))
    return f"{module}.{qualname}"


# -- message ids -----------------------------------------------------------------------------

_ID_KEY = b"skillstream-message-id"


def new_message_id() -> str:
    """A random message id (a uuid4) that :func:`is_generated_id` knows in any process.

    Its last 12 hex digits are a hash of the rest, so identity can leave such ids out.
    """
    head = uuid.uuid4().hex[:20]
    tail = hashlib.blake2b(head.encode(), digest_size=6, key=_ID_KEY).hexdigest()
    return str(uuid.UUID(head + tail))


def is_generated_id(value: Any) -> bool:
    """Whether ``value`` is an id :func:`new_message_id` made."""
    if type(value) is not str or len(value) != 36:
        return False
    flat = value.replace("-", "")
    if len(flat) != 32:
        return False
    tail = hashlib.blake2b(flat[:20].encode(), digest_size=6, key=_ID_KEY).hexdigest()
    return flat[20:] == tail


# -- encoding --------------------------------------------------------------------------------


def _qualname(cls: type, obj: Any, path: str) -> str:
    """``module:qualname`` of ``cls``, if importing it by that name gives it back."""
    name = f"{cls.__module__}:{cls.__qualname__}"
    try:
        found = _import(name)
    except Exception:
        found = None
    if found is not cls:
        raise _Unsupported(obj, path, "is not importable by its qualified name (a local class?)")
    return name


def _import(name: str) -> Any:
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _dumps(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class _Encoder:
    """Python value -> JSON tree. ``canon``: for identity (sorted, fallback for the rest)."""

    __slots__ = ("canon", "fallback")

    def __init__(self, canon: bool = False, fallback: Callable[[Any], Any] | None = None) -> None:
        self.canon = canon
        self.fallback = fallback

    def __call__(self, v: Any, path: str = "value", depth: int = 0) -> Any:
        t = type(v)
        if t is str or t is bool or t is int or v is None:
            return v
        if t is float:
            return v if v - v == 0 else {_TAG: "float", "v": repr(v)}  # nan, inf, -inf
        if depth > 200:
            raise _Unsupported(v, path, "is nested too deeply")
        d = depth + 1
        if t is list:
            return [self(x, f"{path}[{i}]", d) for i, x in enumerate(v)]
        if t is dict:
            return self._dict(v, path, d)
        if t is tuple:
            return {_TAG: "tuple", "v": [self(x, f"{path}[{i}]", d) for i, x in enumerate(v)]}
        if t is set or t is frozenset:
            items = sorted((self(x, f"{path}{{item}}", d) for x in v), key=_dumps)
            return {_TAG: t.__name__, "v": items}
        if t is bytes or t is bytearray:
            return {_TAG: t.__name__, "v": base64.b64encode(v).decode("ascii")}
        if t is datetime.datetime:
            return self._datetime(v)
        if t is datetime.date:
            return {_TAG: "date", "v": v.isoformat()}
        if t is datetime.time:
            if v.tzinfo is not None:
                raise _Unsupported(v, path, "has a time zone (store a datetime)")
            return {_TAG: "time", "v": v.isoformat(), "f": v.fold}
        if t is datetime.timedelta:
            return {_TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]}
        if t is decimal.Decimal:
            return {_TAG: "decimal", "v": str(v)}
        if t is uuid.UUID:
            return {_TAG: "uuid", "v": str(v)}
        if isinstance(v, enum.Enum):
            if self.canon:
                return {_TAG: "enum", "c": f"{t.__module__}:{t.__qualname__}", "v": self(v.value, path, d)}
            return {_TAG: "enum", "c": _qualname(t, v, path), "v": self(v.value, path, d)}
        # pathlib's own classes (defined in pathlib._local since 3.13), not subclasses.
        if isinstance(v, pathlib.PurePath) and getattr(pathlib, t.__name__, None) is t:
            return {_TAG: "path", "c": t.__name__, "v": str(v)}
        if isinstance(v, tuple) and hasattr(t, "_fields") and hasattr(t, "_make"):
            return {_TAG: "ntuple", "c": self._class(t, v, path),
                    "v": [self(x, f"{path}[{i}]", d) for i, x in enumerate(v)]}
        registered = _REGISTERED.get(t)
        if registered is not None:
            fields = {k: self(x, f"{path}.{k}", d) for k, x in registered[0](v).items()}
            return {_TAG: "obj", "c": self._class(t, v, path), "v": self._sorted(fields)}
        lc = self._langchain(v, path, d)
        if lc is not None:
            return lc
        if isinstance(v, BaseModel):
            return self._model(v, path, d)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            fields = {f.name: self(getattr(v, f.name), f"{path}.{f.name}", d) for f in dataclasses.fields(v)}
            return {_TAG: "dataclass", "c": self._class(t, v, path), "v": self._sorted(fields)}
        if self.fallback is not None:
            return self.fallback(v)
        raise _Unsupported(v, path)

    def _class(self, t: type, v: Any, path: str) -> str:
        return f"{t.__module__}:{t.__qualname__}" if self.canon else _qualname(t, v, path)

    def _sorted(self, d: dict[str, Any]) -> dict[str, Any]:
        return dict(sorted(d.items())) if self.canon else d

    def _dict(self, v: dict[Any, Any], path: str, d: int) -> Any:
        if _TAG not in v and all(type(k) is str for k in v):
            out = {k: self(x, f"{path}[{k!r}]", d) for k, x in v.items()}
            if self.canon:
                if "id" in out and is_generated_id(out["id"]):
                    out["id"] = None  # a message's random id: its content and place say who it is
                return dict(sorted(out.items()))
            return out
        pairs = [[self(k, f"{path}{{key}}", d), self(x, f"{path}[{k!r}]", d)] for k, x in v.items()]
        if self.canon:
            pairs.sort(key=lambda p: _dumps(p[0]))
        return {_TAG: "dict", "v": pairs}

    def _datetime(self, v: datetime.datetime) -> Any:
        tz = v.tzinfo
        out: dict[str, Any] = {_TAG: "datetime", "v": v.replace(tzinfo=None).isoformat(), "f": v.fold}
        if tz is None:
            pass
        elif type(tz) is datetime.timezone:
            offset = tz.utcoffset(None)
            out["o"] = [offset.days, offset.seconds, offset.microseconds]
            if tz is not datetime.UTC and tz != datetime.timezone(offset):
                out["n"] = tz.tzname(None)
        elif type(tz).__name__ == "ZoneInfo" and getattr(tz, "key", None):
            out["z"] = tz.key  # type: ignore[attr-defined]
        else:
            if self.canon:
                out["i"] = v.isoformat()
                return out
            raise _Unsupported(v, "value", f"has a time zone of type {type(tz).__name__} (use zoneinfo)")
        return out

    def _langchain(self, v: Any, path: str, d: int) -> Any:
        if self.canon:  # identity: its fields are enough (and much faster than dumpd)
            return None
        serializable = sys.modules.get("langchain_core.load.serializable")
        if serializable is None or not isinstance(v, serializable.Serializable):
            return None
        if not type(v).is_lc_serializable():
            return None
        # What dumpd() writes, but with the constructor's arguments in this encoding (a
        # tuple in a Document's metadata stays a tuple); load() revives it.
        data = v.to_json()
        if not isinstance(data, dict) or data.get("type") != "constructor":
            return None
        return {_TAG: "lc", "v": self(dict(data), path, d)}

    def _model(self, v: BaseModel, path: str, d: int) -> Any:
        t = type(v)
        fields = {name: self(getattr(v, name), f"{path}.{name}", d) for name in t.model_fields}
        extra = v.__pydantic_extra__
        if extra:
            for name, x in extra.items():
                fields[name] = self(x, f"{path}.{name}", d)
        if self.canon and is_generated_id(fields.get("id")):
            fields["id"] = None  # a message's random id: its content and place say which it is
        out: dict[str, Any] = {_TAG: "model", "c": self._class(t, v, path), "v": self._sorted(fields)}
        unset = set(fields) - v.model_fields_set
        if unset and not self.canon:
            out["u"] = sorted(unset)
        return out


_ENCODE = _Encoder()


# -- decoding --------------------------------------------------------------------------------


def _decode_tree(x: Any) -> Any:
    t = type(x)
    if t is list:
        return [_decode_tree(i) for i in x]
    if t is not dict:
        return x
    tag = x.get(_TAG)
    if tag is None:
        return {k: _decode_tree(v) for k, v in x.items()}
    value = x["v"]
    if tag == "tuple":
        return tuple(_decode_tree(i) for i in value)
    if tag == "set":
        return {_decode_tree(i) for i in value}
    if tag == "frozenset":
        return frozenset(_decode_tree(i) for i in value)
    if tag == "dict":
        return {_decode_tree(k): _decode_tree(v) for k, v in value}
    if tag == "bytes":
        return base64.b64decode(value)
    if tag == "bytearray":
        return bytearray(base64.b64decode(value))
    if tag == "float":
        return float(value)
    if tag == "datetime":
        return _decode_datetime(x)
    if tag == "date":
        return datetime.date.fromisoformat(value)
    if tag == "time":
        return datetime.time.fromisoformat(value).replace(fold=x.get("f", 0))
    if tag == "timedelta":
        return datetime.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if tag == "decimal":
        return decimal.Decimal(value)
    if tag == "uuid":
        return uuid.UUID(value)
    if tag == "path":
        return getattr(pathlib, x["c"])(value)
    if tag == "enum":
        return _import(x["c"])(_decode_tree(value))
    if tag == "ntuple":
        return _import(x["c"])._make(_decode_tree(i) for i in value)
    if tag == "lc":
        from langchain_core.load import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load(_decode_tree(value), allowed_objects="core")
    if tag == "model":
        cls = _import(x["c"])
        fields = {k: _decode_tree(v) for k, v in value.items()}
        obj = cls.model_validate(fields, by_name=True, by_alias=False)
        unset = x.get("u")
        if unset:
            object.__setattr__(obj, "__pydantic_fields_set__", set(fields) - set(unset))
        return obj
    if tag == "obj":
        build = _REGISTERED[_import(x["c"])][1]
        return build({k: _decode_tree(v) for k, v in value.items()})
    if tag == "dataclass":
        cls = _import(x["c"])
        fields = {k: _decode_tree(v) for k, v in value.items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in fields.items() if k in init})
        for k, v in fields.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    raise JournalError(f"the journal holds a value of a type this version does not know ({tag!r})")


def _decode_datetime(x: dict[str, Any]) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(x["v"]).replace(fold=x.get("f", 0))
    if "o" in x:
        o = x["o"]
        offset = datetime.timedelta(days=o[0], seconds=o[1], microseconds=o[2])
        tz = datetime.timezone(offset, x["n"]) if "n" in x else datetime.timezone(offset)
        if offset == datetime.timedelta(0) and "n" not in x:
            tz = datetime.UTC
        return value.replace(tzinfo=tz)
    if "z" in x:
        import zoneinfo

        return value.replace(tzinfo=zoneinfo.ZoneInfo(x["z"]))
    return value


# -- the same value -------------------------------------------------------------------------


def _same(a: Any, b: Any, depth: int = 0, widen: bool = False) -> bool:
    """Equal and of the same types all the way down (a NaN is the same as a NaN).

    ``widen``: an int in ``a`` may be a float in ``b`` (a ``-> float`` skill returning 3).
    """
    if type(a) is not type(b):
        return widen and type(a) is int and type(b) is float and a == b
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    if depth > 200:
        return False
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same(x, y, depth + 1, widen) for x, y in zip(a, b))
    if type(a) is dict:
        if len(a) != len(b):
            return False
        for k, x in a.items():
            if k not in b:
                return False
            if not _same(x, b[k], depth + 1, widen):
                return False
        # keys of the same types too (1, 1.0 and True are equal keys)
        return all(type(k1) is type(k2) for k1, k2 in zip(a, b)) or _same_key_types(a, b)
    try:
        return bool(a == b)
    except Exception:
        return False


def _same_key_types(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    types = {k: type(k) for k in a}
    return all(types.get(k) is type(k) for k in b)


# -- the codec ------------------------------------------------------------------------------


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON gives this value back as it is (so no check by decoding is needed)."""
    t = type(value)
    if t in _PLAIN:
        return not (t is float and value - value != 0)  # NaN, infinities
    if depth > 8:
        return False
    if t is list:
        return all(_plain(v, depth + 1) for v in value)
    if t is dict:
        return _TAG not in value and all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def _annotation(skill: Skill[Any, Any] | None) -> tuple[Any, TypeAdapter[Any] | None] | None:
    """The skill's return annotation and a TypeAdapter for it (None: nothing to check)."""
    if skill is None:
        return None
    fn = skill.fn
    try:
        return _ADAPTERS[fn]
    except (KeyError, TypeError):
        pass
    found: tuple[Any, TypeAdapter[Any] | None] | None = None
    if skill.kind != "asyncgen":  # a generator's value is the list of its items
        try:
            hint = typing.get_type_hints(fn).get("return")
        except Exception:  # an annotation that does not resolve: nothing to check
            hint = None
        if hint is not None and hint is not Any:
            try:
                adapter: TypeAdapter[Any] | None = TypeAdapter(hint)
            except Exception:
                adapter = None
            found = (hint, adapter)
    try:
        _ADAPTERS[fn] = found
    except TypeError:
        pass
    return found


def matches(value: Any, skill: Skill[Any, Any] | None) -> bool:
    """Whether ``value`` is of the skill's return type (True if it has none to check)."""
    annotation = _annotation(skill)
    if annotation is None:
        return True
    hint, adapter = annotation
    if adapter is None:
        return not isinstance(hint, type) or isinstance(value, hint)
    try:
        validated = adapter.validate_python(value, strict=True)
    except Exception:
        return False
    # Validating may convert (a dict into a model): the value matches if nothing changed.
    return _same(value, validated, widen=True)


def encode(
    value: Any,
    skill: Skill[Any, Any] | None,
    allow_pickle: bool,
    call: str | None = None,
    check: bool = True,
) -> tuple[str, bytes]:
    """``(codec, data)`` for ``value``; ``call`` names it in errors.

    ``check=False`` skips decoding it again to see that it comes back the same (for what
    is only shown, not replayed: a graph's journaled state).

    Raises:
        JournalError: if the value would not come back the same (a type the journal does
            not know, or one that does not survive its encoding) and is not (with
            ``allow_pickle``) picklable.
    """
    suffix = "" if matches(value, skill) else LOOSE
    if _plain(value):
        return TYPED + suffix, pydantic_core.to_json(value)
    try:
        tree = _ENCODE(value)
        data = _dumps(tree).encode()
        if check and not _comes_back(value, tree, data):
            raise _Unsupported(value, "value", "does not come back the same from the journal")
    except Exception as exc:
        if allow_pickle:
            return "pickle" + suffix, _pickle(value, call)
        what = f"the value of {call}" if call else "this value"
        reason = str(exc) if isinstance(exc, _Unsupported) else f"a {_type_name(type(value))} ({exc})"
        raise JournalError(
            f"the journal cannot store {what}: {reason}; open the journal with "
            "Journal(path, pickle=True) to pickle such values"
        ) from exc
    return TYPED + suffix, data


def _comes_back(value: Any, tree: Any, data: bytes) -> bool:
    back = _decode_tree(json.loads(data))
    return _same(back, value) and _ENCODE(back) == tree


def _pickle(value: Any, call: str | None) -> bytes:
    try:
        data = pickle_module.dumps(value, protocol=pickle_module.HIGHEST_PROTOCOL)
    except Exception as exc:
        what = f"the value of {call}" if call else "this value"
        raise JournalError(
            f"the journal cannot store {what}: a {_type_name(type(value))} is neither "
            f"JSON-able nor picklable ({exc})"
        ) from exc
    return data


def decode(codec: str | None, data: bytes | None, skill: Skill[Any, Any] | None) -> Any:
    """The value a record holds.

    Raises:
        JournalError: (or another exception) if it cannot be read, or if it matched the
            skill's return annotation when written and does not now: run it again.
    """
    if codec is None or data is None:
        return None
    base, loose = (codec[: -len(LOOSE)], True) if codec.endswith(LOOSE) else (codec, False)
    if base == TYPED:
        value = _decode_tree(json.loads(data))
    elif base == "pickle":
        value = pickle_module.loads(data)
    elif base == "json":  # written before typed JSON: shaped by the annotation, as then
        annotation = _annotation(skill)
        if annotation is not None and annotation[1] is not None:
            return annotation[1].validate_json(data)
        return json.loads(data)
    else:
        raise JournalError(f"the journal holds a value in a codec this version does not know ({codec!r})")
    if not loose and not matches(value, skill):
        raise JournalError("the journaled value no longer matches the skill's return annotation")
    return value


# -- identity --------------------------------------------------------------------------------


def canonical(value: Any, fallback: Callable[[Any], Any]) -> bytes:
    """``value`` as bytes that equal values share in every process (see the module doc).

    ``fallback`` stands in for what the encoding does not know (it must be stable itself).
    """
    return _dumps(_Encoder(canon=True, fallback=fallback)(value)).encode()
