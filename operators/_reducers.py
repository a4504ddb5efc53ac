"""Reducers for ``scan``: ``(acc, item) -> new_acc`` functions that never mutate ``acc``.

The pipeline folds ``SkillResult``s with them, so every reducer first unwraps a
result-like item (duck-typed on ``ok``, ``fallback_used`` and ``value``, so that this
package never imports ``pipeline``): a successful or fallen-back result contributes its
``value``, a failed one contributes nothing and ``acc`` comes back unchanged. Any other
item is used as it is.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "MissingKey",
    "Reducer",
    "chain_reducers_",
    "concat_",
    "dedupe_by_",
    "merge_dicts_",
    "top_k_",
]

_A = TypeVar("_A")
_T = TypeVar("_T")

Reducer = Callable[[_A, Any], _A]

_SKIP: Any = object()


def unwrap(item: Any) -> Any:
    """The value a reducer should use from ``item``, or ``_SKIP`` for a failed result."""
    if hasattr(item, "ok") and hasattr(item, "fallback_used") and hasattr(item, "value"):
        if item.ok or item.fallback_used:
            return item.value
        return _SKIP
    return item


def _extend(acc: Sequence[_T] | None, value: Any) -> list[_T]:
    base: list[_T] = [] if acc is None else list(acc)
    if isinstance(value, (list, tuple)):
        base.extend(value)
    else:
        base.append(value)
    return base


def concat_(acc: Sequence[_T] | None, item: Any) -> list[_T]:
    value = unwrap(item)
    if value is _SKIP:
        return [] if acc is None else acc  # type: ignore[return-value]
    return _extend(acc, value)


def merge_dicts_(acc: Mapping[Any, Any] | None, item: Any) -> dict[Any, Any]:
    value = unwrap(item)
    # ``None`` and ``()`` (chain_reducers' normalization pass) add nothing.
    if value is _SKIP or value is None or (isinstance(value, tuple) and not value):
        return {} if acc is None else acc  # type: ignore[return-value]
    merged: dict[Any, Any] = {} if acc is None else dict(acc)
    if isinstance(value, Mapping):
        merged.update(value)
        return merged
    if isinstance(value, _TEXT) or not isinstance(value, Iterable):
        raise TypeError(
            f"merge_dicts: {_short(value)} is neither a mapping nor an iterable of "
            "mappings or key-value pairs"
        )
    # An iterable of mappings (merged in order) or of key-value pairs, or a mix.
    for position, element in enumerate(value):
        if isinstance(element, Mapping):
            merged.update(element)
        elif isinstance(element, Sequence) and not isinstance(element, _TEXT) and len(element) == 2:
            merged[element[0]] = element[1]
        else:
            raise TypeError(
                f"merge_dicts: element {position} of {_short(value)} is {_short(element)}, "
                "neither a mapping nor a key-value pair"
            )
    return merged


_TEXT = (str, bytes, bytearray)


def _short(value: Any) -> str:
    """``repr(value)``, cut short for an error message."""
    return reprlib.repr(value)


class MissingKey(KeyError, AttributeError):
    """An item without the key (or attribute) a reducer orders or dedupes it by. A
    ``KeyError`` and an ``AttributeError``: what a lookup of either would raise."""

    def __str__(self) -> str:
        return str(self.args[0])


def key_function(key: str | Callable[[Any], Any], reducer: str = "") -> Callable[[Any], Any]:
    """The key of an item: ``key`` looked up (a dict key or an attribute) or called.
    With ``reducer`` (its description), an item without the key raises
    :class:`MissingKey` naming the reducer, the item and the key."""
    if isinstance(key, str):
        name = key

        def by_name(item: Any) -> Any:
            if isinstance(item, Mapping):
                try:
                    return item[name]
                except KeyError:
                    what = "key"
            else:
                try:
                    return getattr(item, name)
                except AttributeError:
                    what = "attribute"
            raise MissingKey(f"{reducer or 'reducer'}: item {_short(item)} has no {what} {name!r}") from None

        return by_name
    if callable(key):
        return key
    raise TypeError(f"key must be a str or a callable, got {key!r}")


def dedupe_by_(
    key: str | Callable[[Any], Hashable],
) -> Callable[[Sequence[Any] | None, Any], list[Any]]:
    key_of = key_function(key, f"dedupe_by({_short(key)})")

    def dedupe_by(acc: Sequence[Any] | None, item: Any) -> list[Any]:
        seen: set[Any] = set()
        unhashable: list[Any] = []  # keys like dicts or lists: compared by ==
        kept: list[Any] = []
        for element in concat_(acc, item):
            k = key_of(element)
            try:
                if k in seen:
                    continue
                seen.add(k)
            except TypeError:
                if k in unhashable:
                    continue
                unhashable.append(k)
            kept.append(element)
        return kept

    return dedupe_by


def top_k_(
    k: int, key: str | Callable[[Any], Any]
) -> Callable[[Sequence[Any] | None, Any], list[Any]]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    described = f"top_k({k}, {_short(key)})"
    key_of = key_function(key, described)

    def top_k(acc: Sequence[Any] | None, item: Any) -> list[Any]:
        # sorted() with reverse=True stays stable: equal scores keep arrival order.
        items = concat_(acc, item)
        keys = [key_of(element) for element in items]
        try:
            order = sorted(range(len(items)), key=keys.__getitem__, reverse=True)[:k]
        except TypeError as exc:
            raise TypeError(
                f"{described}: cannot order the keys {_short(keys)} of {_short(items)}: {exc}"
            ) from exc
        return [items[i] for i in order]

    return top_k


def chain_reducers_(*reducers: Reducer[_A]) -> Reducer[_A]:
    if not reducers:
        raise ValueError("chain_reducers needs at least one reducer")
    for reducer in reducers:
        if not callable(reducer):
            raise TypeError(f"every reducer must be callable, got {reducer!r}")
    first, rest = reducers[0], reducers[1:]

    def chained(acc: _A, item: Any) -> _A:
        value = first(acc, item)
        for reducer in rest:
            value = reducer(value, ())
        return value

    return chained
