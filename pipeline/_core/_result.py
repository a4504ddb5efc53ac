"""What a run produces: ``SkillResult`` per call, ``Results`` for a whole run."""

from __future__ import annotations

import abc
import copy
import os
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import core_schema

from operators._policy import safe_str

from ._errors import SkillError
from ._status import Status

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Deferred", "ErrorInfo", "Results", "SkillResult", "Status"]

M = TypeVar("M", bound=BaseModel)


class ErrorInfo(BaseModel):
    """Why a call has no value of its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    """The exception's class name, e.g. ``"ValueError"``, ``"SkillTimeout"``."""
    message: str
    """``str()`` of the exception."""

    @classmethod
    def of(cls, exc: BaseException) -> ErrorInfo:
        message = safe_str(exc)
        # A process skill's exception that could not travel back keeps its own type name.
        name = getattr(exc, "remote_type", None) or type(exc).__name__
        return cls(type=name, message=message)


class _ResultFields(BaseModel):
    """A SkillResult's fields as pydantic validates and serializes them."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    key: str
    index: int
    status: Status
    value: Any = None
    error: ErrorInfo | None = None
    fallback_used: bool = False
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    attempt_spans: tuple[tuple[float, float], ...] = ()
    replayed: bool = False


_FIELD_NAMES = tuple(_ResultFields.model_fields)
_SLOTS = tuple("_" + name for name in _FIELD_NAMES)
_object_new = object.__new__
_object_setattr = object.__setattr__


def _field(name: str, doc: str) -> Any:
    """A read-only field: its value is the slot ``_<name>``; setting or deleting it raises
    pydantic's ``ValidationError`` (a frozen instance), as a frozen model's would."""

    def refuse(self: SkillResult, value: Any) -> None:
        raise _frozen(name, value)

    def refuse_delete(self: SkillResult) -> None:
        raise _frozen(name, None)

    return property(attrgetter("_" + name), refuse, refuse_delete, doc)


def _frozen(name: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        "SkillResult", [{"type": "frozen_instance", "loc": (name,), "input": value}]
    )


class SkillResult:
    """The outcome of one call. Built once, read-only.

    A slotted class (a run makes one per call, so it costs little to make and to keep)
    that pydantic validates and serializes like a model: ``SkillResult(**fields)``
    validates, a pydantic model or ``TypeAdapter`` can hold one, and it has the model
    methods ``model_dump()``, ``model_dump_json()``, ``model_copy()``,
    ``model_validate()``, ``model_json_schema()``, ``model_fields`` and
    ``model_fields_set``.

    Examples:
        >>> r = SkillResult(name="f", key="f", index=0, status=Status.SUCCESS, value=3)
        >>> r.ok, r.unwrap()
        (True, 3)
        >>> r.model_dump()["status"]
        <Status.SUCCESS: 'success'>
    """

    __slots__ = (*_SLOTS, "_fields_set")

    model_config: ClassVar[ConfigDict] = _ResultFields.model_config
    model_fields: ClassVar[dict[str, FieldInfo]] = _ResultFields.model_fields

    if TYPE_CHECKING:
        _name: str
        _key: str
        _index: int
        _status: Status
        _value: Any
        _error: ErrorInfo | None
        _fallback_used: bool
        _attempts: int
        _started_at: float | None
        _finished_at: float | None
        _attempt_spans: tuple[tuple[float, float], ...]
        _replayed: bool
        _fields_set: frozenset[str]
        name: str
        """The skill's name."""
        key: str
        """The call's key: the skill's name unless set with ``SkillCall.named()``."""
        index: int
        """Position in the order the run took calls from its source (dependencies first)."""
        status: Status
        """How the call ended."""
        value: Any
        """The skill's value; the fallback when ``fallback_used``; else ``None``."""
        error: ErrorInfo | None
        """Why the call has no value of its own (its exception's type and message)."""
        fallback_used: bool
        """True when ``value`` is the fallback."""
        attempts: int
        """Tries made (0 for a skipped call)."""
        started_at: float | None
        """Seconds from the run's start to the first attempt's start; ``None`` if never started."""
        finished_at: float | None
        """Seconds from the run's start to the end of the call."""
        attempt_spans: tuple[tuple[float, float], ...]
        """``(start, end)`` of each attempt, in seconds from the run's start: the gaps between
        them are backoff (or settling) waits, the gap before the first a permit wait."""
        replayed: bool
        """True when the result comes from a journal (``run(..., journal=...)``): the call ran
        and finished in an earlier run with the same ``run_id``, and did not run this time."""
    else:
        name = _field("name", "The skill's name.")
        key = _field("key", "The call's key: the skill's name unless set with ``SkillCall.named()``."
        )
        index = _field("index", "Position in the order the run took calls from its source (dependencies first).",
        )
        status = _field("status", "How the call ended (a :class:`Status`).")
        value = _field("value", "The skill's value; the fallback when ``fallback_used``; else ``None``."
        )
        error = _field("error", "Why the call has no value of its own, or ``None``.")
        fallback_used = _field("fallback_used", "True when ``value`` is the fallback.")
        attempts = _field("attempts", "Tries made (0 for a skipped call).")
        started_at = _field("started_at", "Seconds from the run's start to the first attempt's start; ``None`` if never started.",
        )
        finished_at = _field("finished_at", "Seconds from the run's start to the end of the call.")
        attempt_spans = _field("attempt_spans", "``(start, end)`` of each attempt, in seconds from the run's start: the gaps between "
            "them are backoff (or settling) waits, the gap before the first a permit wait.",
        )
        replayed = _field("replayed", "True when the result comes from a journal (``run(..., journal=...)``): the call ran "
            "and finished in an earlier run with the same ``run_id``, and did not run this time.",
        )

    def __init__(self, **fields: Any) -> None:
        """Validate ``fields`` (pydantic).

        Raises:
            pydantic.ValidationError: naming each field that is missing, unknown or invalid.
        """
        valid = _ResultFields(**fields)
        _fill(self, valid.__dict__, valid.model_fields_set)

    # -- what it says ----------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """True when the skill itself returned a value."""
        return self._status is Status.SUCCESS

    @property
    def has_value(self) -> bool:
        """True when ``value`` is usable: the skill's own, or its fallback."""
        return self._status is Status.SUCCESS or self._fallback_used

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish; ``None`` if never started."""
        if self._started_at is None or self._finished_at is None:
            return None
        return self._finished_at - self._started_at

    def unwrap(self) -> Any:
        """The value (or the fallback value).

        Raises:
            SkillError: if the call ended without a value.
        """
        if self._status is Status.SUCCESS or self._fallback_used:
            return self.value
        raise SkillError(_describe(self), result=self)

    # -- a value: read-only, compared, hashed, shown -----------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkillResult):
            return NotImplemented
        return _fields(self) == _fields(other)

    def __hash__(self) -> int:
        return hash((SkillResult, *(getattr(self, s) for s in _SLOTS)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, slot)!r}" for name, slot in zip(_FIELD_NAMES, _SLOTS))
        return f"SkillResult({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), _stored_fields(self), self._fields_set))

    # -- pydantic ----------------------------------------------------------------------------

    @property
    def model_fields_set(self) -> set[str]:
        """The fields given when it was made (every one but ``replayed`` for a run's own)."""
        return set(self._fields_set)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The fields as a dict (pydantic's ``model_dump``, with its keyword arguments)."""
        return self._model().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        """The fields as JSON (pydantic's ``model_dump_json``, with its keyword arguments)."""
        return self._model().model_dump_json(**kwargs)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> SkillResult:
        """A copy with ``update`` applied, unvalidated (as pydantic's ``model_copy``)."""
        fields = _fields(self)
        fields_set = self._fields_set
        if update:
            unknown = set(update) - set(_FIELD_NAMES)
            if unknown:
                raise ValueError(f"SkillResult has no field {', '.join(sorted(unknown))}")
            fields.update(update)
            fields_set = fields_set | update.keys()
        if deep:
            fields = copy.deepcopy(fields)
        copied: SkillResult = _object_new(SkillResult)
        _fill(copied, fields, fields_set)
        return copied

    @classmethod
    def model_validate(cls, obj: Any) -> SkillResult:
        """A SkillResult from a mapping of its fields (or a SkillResult, as it is).

        Raises:
            pydantic.ValidationError: naming each field that is missing, unknown or invalid.
        """
        if isinstance(obj, SkillResult):
            return obj
        valid = _ResultFields.model_validate(obj)
        made: SkillResult = _object_new(SkillResult)
        _fill(made, valid.__dict__, valid.model_fields_set)
        return made

    @classmethod
    def model_json_schema(cls, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema of its fields (pydantic's ``model_json_schema``)."""
        schema = _ResultFields.model_json_schema(**kwargs)
        schema["title"] = "SkillResult"
        return schema

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        fields = handler.generate_schema(_ResultFields)
        return core_schema.union_schema(
            [
                core_schema.is_instance_schema(SkillResult),
                core_schema.no_info_after_validator_function(_from_fields, fields),
            ],
            serialization=core_schema.plain_serializer_function_ser_schema(
                _to_fields, return_schema=fields, when_used="always"
            ),
        )

    def _model(self) -> _ResultFields:
        fields = _fields(self)
        fields["value"] = self.value  # a deferred value is read here
        return _ResultFields.model_construct(_fields_set=set(self._fields_set), **fields)


def _fields(r: SkillResult) -> dict[str, Any]:
    return {name: getattr(r, slot) for name, slot in zip(_FIELD_NAMES, _SLOTS)}


def _stored_fields(r: SkillResult) -> tuple[Any, ...]:
    return tuple(getattr(r, slot) for slot in _SLOTS)


def _fill(r: SkillResult, fields: dict[str, Any], fields_set: AbstractSet[str]) -> None:
    for name, slot in zip(_FIELD_NAMES, _SLOTS):
        setattr(r, slot, fields[name])
    r._fields_set = _shared_fields_set(fields_set)


def _rebuilt(cls: type[SkillResult], stored: tuple[Any, ...], fields_set: AbstractSet[str]) -> SkillResult:
    r: SkillResult = _object_new(cls)
    for slot, v in zip(_SLOTS, stored):
        setattr(r, slot, v)
    r._fields_set = _shared_fields_set(fields_set)
    return r


def _from_fields(valid: _ResultFields) -> SkillResult:
    made: SkillResult = _object_new(SkillResult)
    _fill(made, valid.__dict__, valid.model_fields_set)
    return made


def _to_fields(r: SkillResult) -> _ResultFields:
    return r._model()


class Deferred(abc.ABC):
    """A value kept where its skill made it (Ray's object store) until something reads it.

    An executor's future may resolve to one: the engine hands it as it is to consumers on
    an executor that takes deferred values (Ray skills get the ObjectRef), and the result
    the user sees reads it on first access of ``value``.
    """

    __slots__ = ()

    @abc.abstractmethod
    def resolve(self) -> Any:
        """The value itself (fetched once, then kept)."""


class _DeferredResult(SkillResult):
    """A SkillResult whose value is fetched on first read; ``stored_value()`` gives the
    Deferred (so a later Ray consumer still gets the reference, not a copy)."""

    __slots__ = ()

    if not TYPE_CHECKING:

        @property
        def value(self) -> Any:
            stored = self._value
            return stored.resolve() if isinstance(stored, Deferred) else stored


def stored_value(r: SkillResult) -> Any:
    """``r``'s value as the run holds it: a :class:`Deferred` is not fetched."""
    return r._value


# Every result of a run has all its fields set ("replayed" only when it comes from a
# journal, as validation would count it): all results share one of two sets.
_FIELDS_SET = frozenset(_FIELD_NAMES) - {"replayed"}
_REPLAYED_FIELDS_SET = frozenset(_FIELD_NAMES)


def _shared_fields_set(fields_set: AbstractSet[str]) -> frozenset[str]:
    fields_set = frozenset(fields_set)
    if fields_set == _FIELDS_SET:
        return _FIELDS_SET
    if fields_set == _REPLAYED_FIELDS_SET:
        return _REPLAYED_FIELDS_SET
    return fields_set


# The model's slots, set through their descriptors (for events, still pydantic models).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
# Values of these types are never Deferred.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


def built(cls: type[M], fields: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of the pydantic model ``cls`` holding ``fields`` as they are.

    For values already known to be valid, on a hot path (a result, an event): the state
    ``model_construct`` would set, at a fraction of its cost (and of validation's).
    ``fields_set`` may be shared by every instance of a frozen model: none changes it, and
    ``model_copy()`` copies it before updating it.
    """
    model = _object_new(cls)
    _object_setattr(model, "__dict__", fields)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


def new_result(
    name: str,
    key: str,
    index: int,
    status: Status,
    value: Any,
    error: ErrorInfo | None,
    fallback_used: bool,
    attempts: int,
    started_at: float | None,
    finished_at: float | None,
    attempt_spans: tuple[tuple[float, float], ...] = (),
    replayed: bool = False,
) -> SkillResult:
    """Build a SkillResult from values the engine already knows to be valid (equal to
    the validated model)."""
    deferred = type(value) not in _PLAIN and isinstance(value, Deferred)  # (an ABC check: slow)
    result: SkillResult = _object_new(_DeferredResult if deferred else SkillResult)
    result._name = name
    result._key = key
    result._index = index
    result._status = status
    result._value = value
    result._error = error
    result._fallback_used = fallback_used
    result._attempts = attempts
    result._started_at = started_at
    result._finished_at = finished_at
    result._attempt_spans = attempt_spans
    result._replayed = replayed
    result._fields_set = _REPLAYED_FIELDS_SET if replayed else _FIELDS_SET
    return result


def _describe(r: SkillResult) -> str:
    why = f"{r.error.type}: {r.error.message}" if r.error else r.status.value
    return f"{r.key} ended {r.status.value} ({why})"


class Results(Sequence[SkillResult]):
    """The results of a run in submission order (``index``).

    Examples:
        >>> rs = Results([SkillResult(name="f", key="f", index=0, status="success", value=1)])
        >>> rs["f"].value, rs.values(), rs.as_dict(), rs.ok
        (1, [1], {'f': 1}, True)
    """

    __slots__ = ("_items", "_edges")

    def __init__(self, results: list[SkillResult] | tuple[SkillResult, ...]) -> None:
        self._items = sorted(results, key=_by_index)
        # index -> dependency indices; ``collect()`` fills it in from its run.
        self._edges: dict[int, tuple[int, ...]] = {}

    @overload
    def __getitem__(self, item: int) -> SkillResult: ...
    @overload
    def __getitem__(self, item: slice) -> list[SkillResult]: ...
    @overload
    def __getitem__(self, item: str) -> SkillResult: ...
    def __getitem__(self, item: int | slice | str) -> SkillResult | list[SkillResult]:
        if isinstance(item, str):
            found = [r for r in self._items if r.key == item]
            if len(found) == 1:
                return found[0]
            if not found:
                raise KeyError(f"no result with key {item!r}; keys are {self.keys()}")
            raise KeyError(
                f"key {item!r} is ambiguous ({len(found)} results); "
                "give the calls distinct keys with call.named(...)"
            )
        return self._items[item]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[SkillResult]:
        return iter(self._items)

    def __repr__(self) -> str:
        inner = ", ".join(f"{r.key}={r.status.value}" for r in self._items)
        return f"Results([{inner}])"

    def __str__(self) -> str:
        """A table: key, status, duration, attempts, value or error, cut to the terminal."""
        from ._timeline import table

        return table(self._items)

    def _repr_html_(self) -> str:
        from ._timeline import table_html

        return table_html(self._items)

    def timeline(self, width: int | None = None) -> str:
        """The run as text: one row per call, each attempt and wait on a shared time axis.

        Examples:
            >>> print((await run(calls).collect()).timeline())
            key       status  duration att │time ...

        Args:
            width: characters per line; the terminal's width by default.
        """
        from ._timeline import timeline

        return timeline(self._items, self._edges, width)

    def plot(self, path: str | os.PathLike[str] | None = None, *, title: str | None = None) -> Figure:
        """Draw the run with matplotlib and save it to ``path`` (PNG, SVG, PDF: by suffix).

        One bar per attempt, coloured by status (failed attempts that were retried in a
        lighter red), permit and backoff waits hatched, dependency edges drawn as arrows,
        the critical path outlined. Needs the ``plot`` extra.

        Examples:
            >>> results = await run(calls).collect()
            >>> results.plot("run.png")

        Returns:
            The matplotlib ``Figure`` (not attached to pyplot).

        Raises:
            ImportError: without matplotlib (``pip install 'skillstream[plot]'``).
        """
        from ._timeline import plot

        return plot(self._items, self._edges, path, title=title)

    def keys(self) -> list[str]:
        """Every result's key, in submission order."""
        return [r.key for r in self._items]

    def values(self) -> list[Any]:
        """The values of the results that have one (their own or a fallback), in submission
        order: like ``dict.values()``, the values without their keys, so it works for a
        fan-out of one skill (``run([fetch(u) for u in urls])``). ``as_dict()`` keeps the keys.

        Examples:
            >>> results = await run([fetch(u) for u in urls]).collect()
            >>> pages = results.values()
        """
        return [r.value for r in self._items if r.has_value]

    def as_dict(self) -> dict[str, Any]:
        """``key -> value`` of every result that has a value (its own or a fallback).

        Raises:
            KeyError: if two such results share a key (name them with ``call.named()``).
        """
        out: dict[str, Any] = {}
        for r in self._items:
            if r.has_value:
                if r.key in out:
                    raise KeyError(
                        f"key {r.key!r} is ambiguous; give the calls distinct keys with "
                        "call.named(...), or use values() for the values in submission order"
                    )
                out[r.key] = r.value
        return out

    def pending(self) -> list[SkillResult]:
        """The calls waiting for a person's decision (``status="pending"``), in submission
        order: each one's ``key`` is what ``decisions`` names, ``name`` its skill (the
        tool) and ``value`` its arguments by parameter name.

        Examples:
            >>> results = await run(calls, journal="runs.db", run_id="r1").collect()
            >>> for r in results.pending():
            ...     print(r.key, r.name, r.value)
            >>> decisions = {r.key: Approve() for r in results.pending()}
            >>> results = await run(calls, journal="runs.db", run_id="r1", decisions=decisions).collect()
        """
        return [r for r in self._items if r.status is Status.PENDING]

    @property
    def errors(self) -> list[SkillResult]:
        """The results whose skill did not return a value (fallbacks included)."""
        return [r for r in self._items if r.status is not Status.SUCCESS]

    @property
    def ok(self) -> bool:
        """True when every call succeeded."""
        return all(r.status is Status.SUCCESS for r in self._items)


def _by_index(r: SkillResult) -> int:
    return r.index
