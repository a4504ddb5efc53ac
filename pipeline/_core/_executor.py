"""The contract between a run and the places its attempts run.

:class:`Executor` is what the engine starts attempts on. ``CARRIED`` is what an attempt
takes into another process from the context it starts in (an instrument sets it, an
executor carries it). :func:`register_remote` lets an executor that takes the function
whole (Ray) be chosen by name in ``@skill(executor=...)`` without this layer naming it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ContextManager, Protocol

if TYPE_CHECKING:
    from ._skill import Skill, SkillOptions

__all__ = ["CARRIED", "Executor", "OnItem", "Remote", "register_remote", "remote"]

OnItem = Callable[[Any], None]

# -- carried into worker processes (a tiny hook: Tracing's trace context) ------------------
CARRIED: contextvars.ContextVar[tuple[tuple[Callable[[Any], ContextManager[Any]], Any], ...]] = (
    contextvars.ContextVar("skillstream_carried", default=())
)
"""What a process job takes into its worker from the context it starts in: ``(enter,
data)`` pairs, ``enter`` a module-level function (pickled by reference) that the worker
calls with ``data``, running the job inside the context manager it returns. Empty unless
an instrument's ``call_context`` set it (Tracing: the W3C trace context)."""


class Executor(Protocol):
    """Runs attempts of skills. Implement it to run skills elsewhere (e.g. on Ray)."""

    name: str
    interruptible: bool
    """Whether :meth:`cancel` really stops the work (else the engine keeps the call's
    concurrency slot taken until the work ends)."""

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None = None,
    ) -> asyncio.Future[Any]:
        """Start ``skill.fn(*args, **kwargs)``; ``on_item`` (on the loop) sees each item a
        generator skill yields, and the value is then the list of items."""
        ...

    def cancel(self, future: asyncio.Future[Any]) -> None:
        """Ask the work behind ``future`` to stop."""
        ...

    def close(self) -> None:
        """Release the executor's workers."""
        ...


class Remote(Protocol):
    """An executor chosen by name that runs any function, shipped whole (Ray)."""

    def require(self) -> None:
        """Raise ImportError, naming the extra to install, if it cannot run here."""
        ...

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The skill's options for it (``ray_options``), checked; ValueError if wrong."""
        ...

    def task(self, fn: Callable[..., Any], options: SkillOptions) -> Any:
        """What the executor keeps per skill (``Skill.remote_task``)."""
        ...


_REMOTES: dict[str, Remote] = {}


def register_remote(name: str, remote: Remote) -> None:
    """Make ``@skill(executor=name)`` run skills through ``remote``."""
    _REMOTES[name] = remote


def remote(name: str) -> Remote:
    """The remote executor registered under ``name``."""
    return _REMOTES[name]
