"""The process's per-API state for keyed policies (rate limits, circuit breakers).

A policy with a ``key`` names one API: every skill giving that key shares one state for
the life of the process (a key has one policy: ``pipeline._core._policies.check_key``
refuses a second one where it is written). A policy without a key gets a state of its
skill's own.
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

    def __init__(self, make: Callable[[P], S]) -> None:
        self.make = make
        self.keyed: dict[str, S] = {}
        self.own: weakref.WeakKeyDictionary[Skill[Any, Any], dict[P, S]] = weakref.WeakKeyDictionary()

    def get(self, skill: Skill[Any, Any], policy: P) -> S:
        """The state an attempt of ``skill`` under ``policy`` uses."""
        key = policy.key
        if key is not None:
            state = self.keyed.get(key)
            if state is None:
                state = self.keyed[key] = self.make(policy)
            return state
        own = self.own.setdefault(skill, {})
        state = own.get(policy)
        if state is None:
            state = own[policy] = self.make(policy)
        return state
