"""A live view of a run in the terminal (the ``progress`` extra, on rich).

The view is an :class:`~pipeline.Instrument`: its hooks (on the loop thread) update a few
counters under a lock, and rich's refresh thread draws them about ten times a second, so
the run pays a dict update per hook and never waits for the terminal. It is silent when
stdout is not a terminal (a log file, CI): ``run(..., progress=True)`` then adds nothing.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from .._core._instruments import Instrument, Phase
from .._core._result import SkillResult, Status
from .._core._skill import SkillCall, calls_in

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console, RenderableType

__all__ = ["ProgressView", "progress_instrument"]

_INSTALL = "pip install 'skillstream[progress]'"

_WAITS = {Phase.PERMIT: "permit", Phase.BACKOFF: "backoff", Phase.SETTLING: "settling", Phase.FALLBACK: "fallback"}


def _rich() -> Any:
    try:
        import rich  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"the progress view needs rich: {_INSTALL}") from None
    return rich


class ProgressView(Instrument):
    """Live counts of a run: in flight, done, failed, waiting (for a slot, a permit, a
    backoff), a bar when the source is sized, and the slowest calls in flight by name.

    Pass ``progress=True`` to :func:`~pipeline.run`, or use a view as a context manager
    to keep one display over several runs (and choose its console):

    One view may be shared by runs at once (``asyncio.gather`` of runs that all list it):
    it shows their sum, each run's calls counted apart, and, outside a ``with`` block, its
    display stays up until the last of them ends.

    Examples:
        >>> async for r in run(calls, progress=True): ...
        >>> with ProgressView() as view:
        ...     await run(calls, instruments=[view]).collect()

    Args:
        console: the rich ``Console`` to draw on; by default one on stdout, and nothing is
            drawn when stdout is not a terminal.
        slowest: how many of the longest-running calls in flight to name.
        refresh_per_second: how often the display is redrawn.
    """

    def __init__(
        self, console: Console | None = None, *, slowest: int = 3, refresh_per_second: float = 10
    ) -> None:
        self.console = console
        self.slowest = slowest
        self.refresh_per_second = refresh_per_second
        self._lock = threading.Lock()
        self._live: Any = None
        self._scoped = False  # a `with` block owns the display, not each run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self.total: int | None = 0
        """Calls of the sized sources seen so far (``None`` once a source is unsized)."""
        # Calls by (run, key, index): each run that lists the view reports through its own
        # object (for_run), numbered, so runs at once never mix their calls.
        self._runs = 0  # runs that listed the view so far
        self._active = 0  # runs started and not finished: the last to end closes the display
        self.in_flight: dict[tuple[int, str, int], tuple[str, float]] = {}
        """(run, key, index) -> (key, when it started, loop time)."""
        self.waiting: dict[tuple[int, str, int], str] = {}
        """(run, key, index) -> what it waits for (``backoff``, ``permit``, ...)."""
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.pending = 0
        """Calls waiting for a person's decision (they did not run)."""
        self.retries = 0
        # What run(..., progress=view) counted of each source, DAG nodes included, in the
        # order the runs were made (a run with instruments=[view] counts its listed calls).
        self._expected: list[int | None] = []
        if self.enabled:
            # Imported now, not when the run starts: the run's clock is already going then.
            _rich()
            import rich.live
            import rich.progress_bar
            import rich.table  # noqa: F401

    # -- display -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when the view draws: it was given a console, or stdout is a terminal."""
        return self.console is not None or sys.stdout.isatty()

    def __enter__(self) -> ProgressView:
        self._scoped = True
        self._open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._scoped = False
        self._close()

    def _open(self) -> None:
        if self._live is not None or not self.enabled:
            return
        _rich()
        from rich.live import Live

        self._live = Live(
            get_renderable=self.render,
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=False,
        )
        self._live.start()

    def _close(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.update(self.render(), refresh=True)  # the final counts stay on screen
            live.stop()

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else 0.0

    def render(self) -> RenderableType:
        """The view as a rich renderable, as it is now (what the live display draws)."""
        _rich()
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            now = self._now()
            flying = [(key, now - since) for i, (key, since) in self.in_flight.items() if i not in self.waiting]
            waits: dict[str, int] = {}
            for what in self.waiting.values():
                waits[what] = waits.get(what, 0) + 1
            total, done, failed, skipped = self.total, self.done, self.failed, self.skipped
            pending = self.pending
            retries = self.retries
            seen = done + failed + skipped + pending + len(self.in_flight)
        ended = done + failed + skipped + pending
        if total:
            slot = max(total - seen, 0)
            if slot:
                waits = {"slot": slot, **waits}
        line = Text()
        line.append(f"in flight {len(flying)}", style="bold cyan")
        line.append("  ·  ")
        line.append(f"done {done}", style="bold green")
        line.append("  ·  ")
        line.append(f"failed {failed}", style="bold red" if failed else "dim")
        if skipped:
            line.append("  ·  ")
            line.append(f"skipped {skipped}", style="yellow")
        if pending:
            line.append("  ·  ")
            line.append(f"awaiting approval {pending}", style="bold blue")
        if retries:
            line.append(f"  ·  retries {retries}", style="magenta")
        if waits:
            line.append("  ·  waiting ", style="dim")
            line.append(", ".join(f"{what} {n}" for what, n in waits.items()), style="yellow")
        parts: list[Any] = [line]
        if total:
            bar = Table.grid(padding=(0, 1))
            bar.add_row(ProgressBar(total=total, completed=ended, width=40), Text(f"{ended}/{total}"))
            parts.append(bar)
        if flying and self.slowest:
            flying.sort(key=lambda kv: -kv[1])
            slow = Text("slowest: ", style="dim")
            slow.append(", ".join(f"{key} {age:.1f}s" for key, age in flying[: self.slowest]))
            parts.append(slow)
        return Group(*parts)

    # -- the runs ------------------------------------------------------------------------

    def for_run(self) -> Instrument:
        """What one run reports to: its calls counted here, told apart from other runs'
        (a call's index is unique within its run only)."""
        with self._lock:
            self._runs += 1
            number = self._runs
        return _ViewRun(self, number)


class _ViewRun(Instrument):
    """One run's hooks into a :class:`ProgressView` (on that run's loop thread)."""

    __slots__ = ("view", "run")

    def __init__(self, view: ProgressView, run: int) -> None:
        self.view = view
        self.run = run

    def run_started(self, sized: int | None) -> None:
        import asyncio

        view = self.view
        view._loop = asyncio.get_running_loop()
        with view._lock:
            expected = view._expected.pop(0) if view._expected else sized
            if expected is None or view.total is None:
                view.total = None
            else:
                view.total += max(expected, sized or 0)
            view._active += 1
        if not view._scoped:
            view._open()

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        view = self.view
        with view._lock:
            slot = (self.run, call.key, index)
            view.waiting.pop(slot, None)
            if slot not in view.in_flight:
                view.in_flight[slot] = (call.key, view._now())

    def call_phase(self, call: SkillCall[Any], index: int, phase: Phase, at: float) -> None:
        view = self.view
        with view._lock:
            slot = (self.run, call.key, index)
            view.waiting[slot] = _WAITS.get(phase, phase.value)
            if slot not in view.in_flight:
                view.in_flight[slot] = (call.key, view._now())

    def call_retrying(
        self, call: SkillCall[Any], index: int, attempt: int, error: BaseException, wait: float, at: float
    ) -> None:
        view = self.view
        with view._lock:
            view.retries += 1
            view.waiting[(self.run, call.key, index)] = "backoff"

    def call_finished(self, result: SkillResult) -> None:
        view = self.view
        with view._lock:
            slot = (self.run, result.key, result.index)
            view.in_flight.pop(slot, None)
            view.waiting.pop(slot, None)
            if result.status is Status.SUCCESS:
                view.done += 1
            elif result.status is Status.PENDING:
                view.pending += 1
            else:
                view.failed += 1

    def call_skipped(self, result: SkillResult) -> None:
        view = self.view
        with view._lock:
            view.skipped += 1

    def run_finished(self, at: float, error: BaseException | None) -> None:
        view = self.view
        with view._lock:
            view._active -= 1
            last = view._active == 0
        if last and not view._scoped:  # the display stays up while another run goes on
            view._close()


def count_calls(calls: Any) -> int | None:
    """How many calls a sized source runs, its dependencies included (a DAG's nodes);
    ``None`` for a lazy source."""
    if isinstance(calls, SkillCall):
        calls = (calls,)
    if not isinstance(calls, (list, tuple)):
        return None
    seen: set[int] = set()
    todo: list[Any] = list(calls)
    while todo:
        call = todo.pop()
        if not isinstance(call, SkillCall) or id(call) in seen:
            continue
        seen.add(id(call))
        if not call._opaque:
            for a in (*call.args, *call.kwargs.values()):
                calls_in(a, todo)
        todo.extend(call.after)
    return len(seen)


def progress_instrument(progress: bool | ProgressView, calls: Any) -> tuple[Instrument, ...]:
    """What ``run(..., progress=...)`` adds to the instruments: nothing when off or when
    stdout is not a terminal."""
    if progress is False:
        return ()
    if progress is True:
        progress = ProgressView()
        if not progress.enabled:
            return ()
    if isinstance(progress, ProgressView):
        # The source's size counts only the calls it lists, not their dependencies.
        progress._expected.append(count_calls(calls))
        return (progress,)
    raise TypeError(f"progress must be True, False or a ProgressView, got {progress!r}")
