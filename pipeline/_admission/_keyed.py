"""The process's per-API state for keyed policies (rate limits, circuit breakers).

A policy with a ``key`` names one API: every skill giving that key shares one state for
the life of the process, and a second, different policy under the same key is refused
where it is written. A policy without a key gets a state of its skill's own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from .._core._skill import Skill

__all__ = ["Keyed"]


class _Policy(Hashable, Protocol):
    @property
    def key(self) -> str | None: ...


P = TypeVar("P", bound=_Policy)
S = TypeVar("S")


class Keyed(Generic[P, S]):
    """States made by ``make`` from a policy: one per key, or one per skill and policy."""

    def __init__(self, make: Callable[[P], S], what: str) -> None:
        self.make = make
        self.what = what  # "rate limit", "circuit breaker": for the refusal's message
        self.keyed: dict[str, tuple[P, S]] = {}
        self.own: weakref.WeakKeyDictionary[Skill[Any, Any], dict[P, S]] = weakref.WeakKeyDictionary()

    def check(self, policy: P) -> None:
        """Register ``policy``'s key, or refuse it if the key has another policy."""
        key = policy.key
        if key is None:
            return
        existing = self.keyed.get(key)
        if existing is None:
            self.keyed[key] = (policy, self.make(policy))
        elif existing[0] != policy:
            name = type(policy).__name__
            raise ValueError(
                f"{self.what} key {key!r} is already {existing[0]!r}; a key names one API and "
                f"has one {self.what}: use the same {name} (or another key), not {policy!r}"
            )

    def get(self, skill: Skill[Any, Any], policy: P) -> S:
        """The state an attempt of ``skill`` under ``policy`` uses."""
        key = policy.key
        if key is not None:
            if key not in self.keyed:
                self.check(policy)
            return self.keyed[key][1]
        own = self.own.setdefault(skill, {})
        state = own.get(policy)
        if state is None:
            state = own[policy] = self.make(policy)
        return state
