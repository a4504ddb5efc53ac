"""A graph's node cache kept in a journal store (``compile(cache="runs.db")``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._codec import decode, encode
from ._store import CacheStore

__all__ = ["JournalCache"]

Namespace = tuple[str, ...]
FullKey = tuple[Namespace, str]


class JournalCache:
    """Node results kept in a journal's store, LangGraph's ``SqliteCache``: the same
    ``get``/``set``/``clear`` as :class:`InMemoryCache`, so another process (or a later
    run) opening the same store gets the hits.

    Values are encoded as the journal encodes results: what it can store is cached; a
    value it cannot store is not cached (never an error). An entry past its ttl is not
    returned, and is deleted when asked for.

    Args:
        store: the journal store (a :class:`Journal`, a ``PostgresJournal``).
        clock: the time in seconds since the epoch (default ``time.time``); give another
            to control expiry.
    """

    def __init__(self, store: CacheStore, *, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(store, CacheStore):
            raise TypeError(
                f"this journal store cannot keep a cache (it has no cache_get, cache_set and "
                f"cache_clear): {store!r}"
            )
        self.store = store
        self._clock = clock
        self._pickle = bool(getattr(store, "pickle", False))

    def __repr__(self) -> str:
        return f"JournalCache({self.store!r})"

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The values of those ``(namespace, key)`` pairs that are cached and not expired."""
        wanted = {(_ns(ns), key): (tuple(ns), key) for ns, key in keys}
        found: dict[FullKey, Any] = {}
        for entry, (codec, data) in self.store.cache_get(list(wanted), self._clock()).items():
            try:
                found[wanted[entry]] = decode(codec, data, None)
            except Exception:  # noqa: BLE001, S112 (a class gone since it was stored: run the node)
                continue
        return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """:meth:`get`, for async code (in a thread)."""
        return await asyncio.to_thread(self.get, keys)

    def set(self, keys: Mapping[FullKey, tuple[Any, int | float | None]]) -> None:
        """Store ``{(namespace, key): (value, ttl)}``; a ``None`` ttl never expires. A value
        the journal cannot store is left out."""
        now = self._clock()
        entries: list[tuple[str, str, str, bytes, float | None]] = []
        for (ns, key), (value, ttl) in keys.items():
            try:
                codec, data = encode(value, None, self._pickle)
            except Exception:  # noqa: BLE001, S112 (not storable: simply not cached)
                continue
            entries.append((_ns(ns), key, codec, data, None if ttl is None else now + ttl))
        self.store.cache_set(entries)

    async def aset(self, keys: Mapping[FullKey, tuple[Any, int | float | None]]) -> None:
        """:meth:`set`, for async code (in a thread)."""
        await asyncio.to_thread(self.set, keys)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Forget the given namespaces (every one by default)."""
        self.store.cache_clear(None if namespaces is None else [_ns(ns) for ns in namespaces])

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """:meth:`clear`, for async code (in a thread)."""
        await asyncio.to_thread(self.clear, namespaces)


def _ns(namespace: Sequence[str]) -> str:
    """A namespace as one column: JSON, so that no separator inside a name collides."""
    return json.dumps(list(namespace), separators=(",", ":"))
