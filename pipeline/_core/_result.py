"""What a run produces: ``SkillResult`` per call, ``Results`` for a whole run."""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict

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


class SkillResult(BaseModel):
    """The outcome of one call. Built once, frozen.

    Examples:
        >>> r = SkillResult(name="f", key="f", index=0, status=Status.SUCCESS, value=3)
        >>> r.ok, r.unwrap()
        (True, 3)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    """The skill's name."""
    key: str
    """The call's key: the skill's name unless set with ``SkillCall.named()``."""
    index: int
    """Position in the order the run took calls from its source (dependencies first)."""
    status: Status
    value: Any = None
    """The skill's value; the fallback when ``fallback_used``; else ``None``."""
    error: ErrorInfo | None = None
    fallback_used: bool = False
    attempts: int = 0
    """Tries made (0 for a skipped call)."""
    started_at: float | None = None
    """Seconds from the run's start to the first attempt's start; ``None`` if never started."""
    finished_at: float | None = None
    """Seconds from the run's start to the end of the call."""
    attempt_spans: tuple[tuple[float, float], ...] = ()
    """``(start, end)`` of each attempt, in seconds from the run's start: the gaps between
    them are backoff (or settling) waits, the gap before the first a permit wait."""
    replayed: bool = False
    """True when the result comes from a journal (``run(..., journal=...)``): the call ran
    and finished in an earlier run with the same ``run_id``, and did not run this time."""

    @property
    def ok(self) -> bool:
        """True when the skill itself returned a value."""
        return self.status is Status.SUCCESS

    @property
    def has_value(self) -> bool:
        """True when ``value`` is usable: the skill's own, or its fallback."""
        return self.status is Status.SUCCESS or self.fallback_used

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish; ``None`` if never started."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def unwrap(self) -> Any:
        """The value (or the fallback value).

        Raises:
            SkillError: if the call ended without a value.
        """
        if self.status is Status.SUCCESS or self.fallback_used:
            return self.value
        raise SkillError(_describe(self), result=self)


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
    """A SkillResult whose value is fetched on first read. ``__dict__["value"]`` keeps the
    Deferred (so a later Ray consumer still gets the reference, not a copy)."""

    def __repr_name__(self) -> str:
        return "SkillResult"

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return _materialized(self).model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        return _materialized(self).model_dump_json(**kwargs)


def _read_value(self: SkillResult) -> Any:
    stored = self.__dict__["value"]
    return stored.resolve() if isinstance(stored, Deferred) else stored


# Set after the class is made: in its body, pydantic would take ``value`` for the field.
# A property is a data descriptor, so it wins over the instance's ``__dict__``.
_DeferredResult.value = property(_read_value)


def _materialized(r: SkillResult) -> SkillResult:
    fields = dict(r.__dict__)
    fields["value"] = r.value
    return SkillResult.model_construct(**fields)


def stored_value(r: SkillResult) -> Any:
    """``r``'s value as the run holds it: a :class:`Deferred` is not fetched."""
    return r.__dict__["value"]


# Every result of a run has all its fields set ("replayed" only when it comes from a
# journal, as validation would count it): all results share one of two sets.
_FIELDS_SET = set(SkillResult.model_fields) - {"replayed"}
_REPLAYED_FIELDS_SET = set(SkillResult.model_fields)
_object_new = object.__new__
_object_setattr = object.__setattr__
# Values of these types are never Deferred.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})
# The model's slots, set through their descriptors (a third cheaper than setattr).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


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
    # built(), inlined: one call per result on a run's hot path.
    result = _object_new(_DeferredResult if deferred else SkillResult)
    _object_setattr(
        result,
        "__dict__",
        {
            "name": name,
            "key": key,
            "index": index,
            "status": status,
            "value": value,
            "error": error,
            "fallback_used": fallback_used,
            "attempts": attempts,
            "started_at": started_at,
            "finished_at": finished_at,
            "attempt_spans": attempt_spans,
            "replayed": replayed,
        },
    )
    _set_fields_set(result, _REPLAYED_FIELDS_SET if replayed else _FIELDS_SET)
    _set_extra(result, None)
    _set_private(result, None)
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
