"""LangGraph's node policies: ``RetryPolicy`` (run on :class:`Retry`) and ``CachePolicy``
with an :class:`InMemoryCache`, so that code written for LangGraph changes one import."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from .._core._errors import SkillTimeout
from .._core._retry import Retry

__all__ = ["CachePolicy", "InMemoryCache", "RetryPolicy", "default_cache_key", "default_retry_on"]


def default_retry_on(exc: Exception) -> bool:
    """LangGraph's default ``retry_on``: retry what looks transient, not what looks like a bug.

    Retried: ``ConnectionError``, a node's timeout (:class:`SkillTimeout`), an ``httpx.HTTPStatusError`` or ``requests.HTTPError``
    with a 5xx status (a ``requests`` one without a response too), and any other
    exception. Not retried: ``ValueError``, ``TypeError``, ``ArithmeticError``,
    ``ImportError``, ``LookupError``, ``NameError``, ``SyntaxError``, ``RuntimeError``,
    ``ReferenceError``, ``StopIteration``, ``StopAsyncIteration`` and ``OSError`` (other
    than ``ConnectionError``, and other than a node's timeout).

    Examples:
        >>> default_retry_on(ConnectionResetError()), default_retry_on(KeyError("x"))
        (True, False)
    """
    if isinstance(exc, (ConnectionError, SkillTimeout)):  # LangGraph retries its node timeouts
        return True
    # Neither library is a dependency: an exception of one exists only once it is imported.
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.HTTPStatusError):
        return bool(500 <= exc.response.status_code < 600)
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(exc, requests.HTTPError):
        return 500 <= exc.response.status_code < 600 if exc.response else True
    return not isinstance(exc, _NOT_RETRIED)


_NOT_RETRIED = (
    ValueError,
    TypeError,
    ArithmeticError,
    ImportError,
    LookupError,
    NameError,
    SyntaxError,
    RuntimeError,
    ReferenceError,
    StopIteration,
    StopAsyncIteration,
    OSError,
)


class RetryPolicy(NamedTuple):
    """LangGraph's retry policy for a node: ``add_node(..., retry_policy=RetryPolicy())``.

    After failed try ``n`` the node waits ``min(initial_interval * backoff_factor **
    (n - 1), max_interval)`` seconds, plus up to one more at random with ``jitter``, and
    tries again, until ``max_attempts`` tries were made. Only exceptions ``retry_on``
    accepts are retried: a type, a sequence of types, or a predicate; by default
    :func:`default_retry_on`. Given a list of policies, each failure is handled by the
    first policy that retries it (the tries are counted across them). It runs as the
    node's :class:`Retry`.

    Examples:
        >>> graph.add_node("fetch", fetch, retry_policy=RetryPolicy(max_attempts=5))
        >>> RetryPolicy(initial_interval=0.1, jitter=False).max_attempts
        3
    """

    initial_interval: float = 0.5
    """Seconds before the first retry."""
    backoff_factor: float = 2.0
    """Factor applied to the wait after each further failure."""
    max_interval: float = 128.0
    """Longest wait in seconds, before jitter."""
    max_attempts: int = 3
    """Tries made in all, the first one included."""
    jitter: bool = True
    """Add up to one second of uniform random delay to each wait."""
    retry_on: type[Exception] | Sequence[type[Exception]] | Callable[[Exception], bool] = default_retry_on
    """What to retry: an exception type, a sequence of them, or a predicate."""


def _should_retry_on(policy: RetryPolicy, exc: BaseException) -> bool:
    if not isinstance(exc, Exception):  # cancellation and the like: never
        return False
    retry_on = policy.retry_on
    if isinstance(retry_on, Sequence):
        return isinstance(exc, tuple(retry_on))
    if isinstance(retry_on, type) and issubclass(retry_on, Exception):
        return isinstance(exc, retry_on)
    if callable(retry_on):
        predicate: Callable[[Exception], Any] = retry_on
        return bool(predicate(exc))
    raise TypeError(
        "retry_on must be an Exception class, a list or tuple of Exception classes, or a callable"
    )


def _check_policy(policy: Any) -> RetryPolicy:
    if not isinstance(policy, RetryPolicy):
        raise TypeError(f"retry_policy takes RetryPolicy objects, got {policy!r}")
    retry_on = policy.retry_on
    valid = (
        (isinstance(retry_on, type) and issubclass(retry_on, Exception))
        or (
            isinstance(retry_on, Sequence)
            and all(isinstance(t, type) and issubclass(t, Exception) for t in retry_on)
        )
        or (not isinstance(retry_on, (str, bytes, Sequence)) and callable(retry_on))
    )
    if not valid:
        raise TypeError(
            "retry_on must be an Exception class, a list or tuple of Exception classes, "
            f"or a callable, got {retry_on!r}"
        )
    if policy.max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {policy.max_attempts!r}")
    return policy


class _RetryPolicies(Retry):
    """Several RetryPolicy objects: each failure waits and counts by the first that
    retries it, as LangGraph's retry loop does."""

    policies: tuple[Any, ...] = ()

    def next_wait(self, exc: BaseException, failed_attempt: int) -> float | None:
        for policy in self.policies:
            if _should_retry_on(policy, exc):
                return _as_retry(policy).next_wait(exc, failed_attempt)
        return None


def _as_retry(policy: RetryPolicy | Sequence[RetryPolicy]) -> Retry:
    """A node's ``retry_policy`` as the :class:`Retry` the engine runs."""
    if isinstance(policy, RetryPolicy):
        policies: tuple[RetryPolicy, ...] = (_check_policy(policy),)
    elif isinstance(policy, Sequence) and not isinstance(policy, (str, bytes)):
        policies = tuple(_check_policy(p) for p in policy)
    else:
        raise TypeError(f"retry_policy must be a RetryPolicy or a list of them, got {policy!r}")
    if not policies:
        raise ValueError("retry_policy must not be an empty list")
    if len(policies) > 1:
        return _RetryPolicies(attempts=max(p.max_attempts for p in policies), policies=policies)
    (one,) = policies
    return Retry(
        attempts=one.max_attempts,
        backoff=one.initial_interval,
        multiplier=one.backoff_factor,
        max_backoff=one.max_interval,
        jitter=1.0 if one.jitter else 0.0,  # LangGraph adds uniform(0, 1) seconds
        on=lambda exc: _should_retry_on(one, exc),
    )


# -- caching -----------------------------------------------------------------------------------


def _freeze(obj: Any, depth: int = 10) -> Hashable:
    if isinstance(obj, Hashable) or depth <= 0:
        already: Hashable = obj
        return already
    if isinstance(obj, Mapping):  # sorted, so that key order does not matter
        return tuple(sorted((k, _freeze(v, depth - 1)) for k, v in obj.items()))
    if isinstance(obj, Sequence):
        return tuple(_freeze(x, depth - 1) for x in obj)
    if hasattr(obj, "tobytes"):  # numpy arrays and the like
        return (type(obj).__name__, obj.tobytes(), getattr(obj, "shape", None))
    frozen: Hashable = obj  # strings, numbers, frozen dataclasses and the like
    return frozen


def default_cache_key(*args: Any, **kwargs: Any) -> str | bytes:
    """LangGraph's default cache key: the input, pickled (dicts regardless of key order).

    Examples:
        >>> default_cache_key({"a": 1, "b": 2}) == default_cache_key({"b": 2, "a": 1})
        True
    """
    return pickle.dumps((_freeze(args), _freeze(kwargs)), protocol=5, fix_imports=False)


KeyFuncT = TypeVar("KeyFuncT", bound=Callable[..., "str | bytes"])


@dataclasses.dataclass(frozen=True)
class CachePolicy(Generic[KeyFuncT]):
    """LangGraph's cache policy for a node: ``add_node(..., cache_policy=CachePolicy())``.

    With ``compile(cache=InMemoryCache())``, a node run whose input has the same key as
    one that finished within ``ttl`` seconds does not run: it gets that run's update
    (streamed in "updates" with ``"__metadata__": {"cached": True}``). A run that
    failed, used its fallback or paused is not cached.

    Examples:
        >>> graph.add_node("search", search, cache_policy=CachePolicy(ttl=60))
        >>> app = graph.compile(cache=InMemoryCache())
    """

    key_func: KeyFuncT = default_cache_key  # type: ignore[assignment]
    """The key of a node's input (a str or bytes); default: the input, pickled."""
    ttl: int | float | None = None
    """Seconds an entry is kept; ``None``: forever."""


Namespace = tuple[str, ...]
FullKey = tuple[Namespace, str]


class InMemoryCache:
    """LangGraph's ``InMemoryCache``: node results in this process's memory, kept per
    namespace (one per node) until their ttl runs out. Thread-safe; values are stored and
    returned as copies.

    Any object with the same ``get``/``set``/``clear`` methods works as a graph's cache
    (LangGraph's own caches do).

    Examples:
        >>> app = graph.compile(cache=InMemoryCache())
        >>> app.clear_cache()

    Args:
        clock: the time in seconds (default ``time.time``); give another to control expiry.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cache: dict[Namespace, dict[str, tuple[Any, float | None]]] = {}
        self._lock = threading.RLock()

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The values of those ``(namespace, key)`` pairs that are cached and not expired."""
        with self._lock:
            now = self._clock()
            found: dict[FullKey, Any] = {}
            for ns, key in keys:
                entries = self._cache.get(tuple(ns))
                if entries is None or key not in entries:
                    continue
                value, expiry = entries[key]
                if expiry is None or now < expiry:
                    found[(tuple(ns), key)] = _copied(value)
                else:
                    del entries[key]
            return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """:meth:`get`, for async code."""
        return self.get(keys)

    def set(self, keys: Mapping[FullKey, tuple[Any, int | float | None]]) -> None:
        """Store ``{(namespace, key): (value, ttl)}``; a ``None`` ttl never expires."""
        with self._lock:
            now = self._clock()
            for (ns, key), (value, ttl) in keys.items():
                expiry = None if ttl is None else now + ttl
                self._cache.setdefault(tuple(ns), {})[key] = (_copied(value), expiry)

    async def aset(self, keys: Mapping[FullKey, tuple[Any, int | float | None]]) -> None:
        """:meth:`set`, for async code."""
        self.set(keys)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Forget the given namespaces (every one by default)."""
        with self._lock:
            if namespaces is None:
                self._cache.clear()
            else:
                for ns in namespaces:
                    self._cache.pop(tuple(ns), None)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """:meth:`clear`, for async code."""
        self.clear(namespaces)


def _copied(value: Any) -> Any:
    """A copy of a cached value, so that changing a state that holds it changes no entry
    (LangGraph's caches store serialized values); the value itself if it cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 (a lock, a socket, a client: kept as it is)
        return value


def cache_namespace(node: str, fn: Any) -> Namespace:
    """A node's namespace in a cache, as LangGraph makes it: the node's name and its
    function, so two graphs' nodes of one name do not share entries."""
    ident = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    return ("__pregel_ns_writes", ident, node)


def cache_key(policy: CachePolicy[Any], value: Any) -> str:
    """The key of a node's input under its policy: a digest of ``key_func(value)``."""
    made = policy.key_func(value)
    raw = made.encode() if isinstance(made, str) else made
    if not isinstance(raw, bytes):
        raise TypeError(f"a CachePolicy's key_func must return str or bytes, got {made!r}")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
