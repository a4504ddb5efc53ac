"""Hedged calls: when an attempt is slow to answer, race a copy of it against it.

A ``Hedge`` is a frozen value given to ``@skill(hedge=..., idempotent=True)``. Each
attempt of such a skill starts one copy; if no copy has answered ``after`` seconds later,
another starts (up to ``max_extra`` more, ``after`` apart). The first copy to succeed is
the attempt's answer and the others are stopped; if every copy started has failed, the
attempt fails with the last failure (the skill's ``Retry`` then decides). A tail latency
of one slow server in fifty then costs ``after`` instead of the tail.

With ``Hedge(budget=...)`` each skill keeps a credit of copies: an attempt earns
``budget`` of one, an extra copy spends one. A copy not earned yet is not started; the
attempt asks again ``after`` seconds later, by when the attempts that were merely a little
slow have answered and the credit goes to the ones still waiting.

It is the attempt's executor seen through :class:`HedgedExecutor`, so the engine's
timeout, deadline and cancellation treat the copies as one attempt: stopping it stops them
all, and it has ended when they all have.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._core._policies import Hedge

if TYPE_CHECKING:
    from .._core._executor import Executor, OnItem
    from .._core._skill import Skill

__all__ = ["HedgedExecutor", "hedged"]


class _Race:
    """One hedged attempt: its copies and the outer future the engine awaits."""

    __slots__ = ("executor", "loop", "skill", "args", "kwargs", "on_item", "outer", "copies", "timer", "stopping")

    def __init__(
        self,
        executor: HedgedExecutor,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None,
    ) -> None:
        self.executor = executor
        self.loop = loop
        self.skill = skill
        self.args = args
        self.kwargs = kwargs
        self.on_item = on_item
        self.outer: asyncio.Future[Any] = loop.create_future()
        self.copies: list[asyncio.Future[Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.stopping = False

    def launch(self) -> None:
        """Start the next copy (the first: the attempt earns its share of the budget)."""
        if not self.copies and self.executor.hedge.budget is not None:
            self.executor._earn(self.skill.name)
        copy = self.executor.inner.start(self.loop, self.skill, self.args, self.kwargs, self.on_item)
        self.copies.append(copy)
        copy.add_done_callback(self._copy_done)
        if len(self.copies) <= self.executor.hedge.max_extra:
            self.timer = self.loop.call_later(self.executor.hedge.after, self._next)

    def _next(self) -> None:
        self.timer = None
        if self.outer.done() or self.stopping:
            return
        hedge = self.executor.hedge
        if hedge.budget is not None and not self.executor._spend(self.skill.name):
            self.timer = self.loop.call_later(hedge.after, self._next)
            return
        try:
            self.launch()
        except Exception:  # a copy that cannot start: the ones running go on
            pass

    def _copy_done(self, copy: asyncio.Future[Any]) -> None:
        outer = self.outer
        failure = None if copy.cancelled() else copy.exception()
        if self.stopping:
            if all(c.done() for c in self.copies) and not outer.done():
                outer.cancel()
            return
        if outer.done():
            return
        if not copy.cancelled() and failure is None:
            outer.set_result(copy.result())
            self._stop_others(copy)
            return
        if all(c.done() for c in self.copies):
            # Every copy started has failed: that is the attempt's answer.
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if failure is None:
                outer.cancel()
            else:
                outer.set_exception(failure)

    def _stop_others(self, winner: asyncio.Future[Any] | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for copy in self.copies:
            if copy is not winner and not copy.done():
                self.executor._cancel_copy(copy)

    def stop(self) -> None:
        """The engine gave the attempt up: stop every copy; the outer future ends (as
        cancelled) once they all have."""
        if self.outer.done():
            return
        self.stopping = True
        self._stop_others(None)
        if all(c.done() for c in self.copies):
            self.outer.cancel()


class HedgedExecutor:
    """An executor whose attempts race copies of themselves (see :class:`Hedge`)."""

    def __init__(self, inner: Executor, hedge: Hedge) -> None:
        self.inner = inner
        self.hedge = hedge
        self.name = f"hedged {inner.name}"
        self.interruptible = inner.interruptible
        # A Ray skill's executor takes its Ray inputs by reference; so do its copies.
        self.takes_deferred = getattr(inner, "takes_deferred", False)
        # With a budget: each skill's unspent copies (a fraction of one per attempt).
        self._credit: dict[str, float] = {}

    def _earn(self, name: str) -> None:
        assert self.hedge.budget is not None
        self._credit[name] = min(_SAVED, self._credit.get(name, 0.0) + self.hedge.budget)

    def _spend(self, name: str) -> bool:
        """Take one copy from ``name``'s credit; False if it has not earned one yet."""
        credit = self._credit.get(name, 0.0)
        # The tolerance: twenty attempts at 0.05 sum to a hair under 1.0 in floating point.
        if credit < 1.0 - 1e-9:
            return False
        self._credit[name] = max(0.0, credit - 1.0)
        return True

    @property
    def stops_within(self) -> float | None:
        """The inner executor's bound on stopping an attempt (a Ray task's kill), if any:
        the copies of a hedged attempt are all stopped alike."""
        within: float | None = getattr(self.inner, "stops_within", None)
        return within

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None = None,
    ) -> asyncio.Future[Any]:
        race = _Race(self, loop, skill, args, kwargs, on_item)
        race.launch()
        race.outer._skillstream_race = race  # type: ignore[attr-defined]
        return race.outer

    def _cancel_copy(self, copy: asyncio.Future[Any]) -> None:
        if isinstance(copy, asyncio.Task):
            copy.cancel()
        else:
            self.inner.cancel(copy)

    def cancel(self, future: asyncio.Future[Any]) -> None:
        race = getattr(future, "_skillstream_race", None)
        if race is not None:
            race.stop()

    def close(self) -> None:
        pass


# The most copies a skill's budget saves: a quiet spell does not pay for a burst.
_SAVED = 10.0

_MADE: dict[tuple[int, Hedge], HedgedExecutor] = {}


def hedged(inner: Executor, hedge: Hedge) -> HedgedExecutor:
    """The hedged view of ``inner`` (one per executor and Hedge, made once)."""
    key = (id(inner), hedge)
    made = _MADE.get(key)
    if made is None or made.inner is not inner:
        made = _MADE[key] = HedgedExecutor(inner, hedge)
    return made
