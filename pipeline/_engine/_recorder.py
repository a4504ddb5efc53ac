"""The protocol between a run and whatever keeps its results as they come (a journal).

The engine names no journal: a run whose spec has a :class:`Recording` opens it when it
starts and hands every result to the :class:`Recorder` instead of passing it on; the
recorder calls ``run.deliver(result)`` once the result is kept, and may end the run with
``run.fail(exc)``. Before a call is scheduled the run asks :meth:`Recorder.replay`, which
may end the call with a kept result through ``run.replayed(node, result)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reactivex import abc

    from .._core._result import SkillResult
    from ._run import CallNode, Run

__all__ = ["Recorder", "Recording"]


class Recorder(Protocol):
    """One run's recorder, open from the run's start to its end."""

    def replay(self, node: CallNode) -> bool:
        """Register ``node``; True if it was ended with a kept result (not to run)."""
        ...

    def write(self, result: SkillResult) -> None:
        """Keep ``result``; call ``run.deliver(result)`` once it is kept."""
        ...

    def complete_after_write(self, slot: abc.ObserverBase[Any]) -> None:
        """Complete ``slot`` (free the call's place in the merge) once its result is kept:
        a crash then redoes at most the calls in flight or not yet kept."""
        ...

    def close(self) -> None:
        """The run ended: keep what is pending and let go of the store."""
        ...


class Recording(Protocol):
    """What ``run()`` was given to record with (a journal and a run id)."""

    def open(self, run: Run) -> Recorder:
        """Open this run's recorder (it may refuse, e.g. a run id in use elsewhere)."""
        ...

    async def aopen(self, run: Run) -> Recorder:
        """:meth:`open` without blocking the loop (what may block runs in a thread); the
        run awaits it before it starts anything."""
        ...
