"""Reducers for ``scan``: ``(acc, item) -> new_acc`` functions that never mutate ``acc``.

The pipeline folds ``SkillResult``s with them, so every reducer first unwraps a
result-like item (duck-typed on ``ok``, ``fallback_used`` and ``value``, so that this
package never imports ``pipeline``): a successful or fallen-back result contributes its
``value``, a failed one contributes nothing and ``acc`` comes back unchanged. Any other
item is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
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
    merged.update(value)
    return merged


def key_function(key: str | Callable[[Any], Any]) -> Callable[[Any], Any]:
    if isinstance(key, str):
        name = key

        def by_name(item: Any) -> Any:
            if isinstance(item, Mapping):
                return item[name]
            return getattr(item, name)

        return by_name
    if callable(key):
        return key
    raise TypeError(f"key must be a str or a callable, got {key!r}")


def dedupe_by_(
    key: str | Callable[[Any], Hashable],
) -> Callable[[Sequence[Any] | None, Any], list[Any]]:
    key_of = key_function(key)

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
    key_of = key_function(key)

    def top_k(acc: Sequence[Any] | None, item: Any) -> list[Any]:
        # sorted() with reverse=True stays stable: equal scores keep arrival order.
        return sorted(concat_(acc, item), key=key_of, reverse=True)[:k]

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
