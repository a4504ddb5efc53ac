"""The public face of a run: ``run()``, ``gather()`` and the ``ResultStream`` they return.

A ``ResultStream`` is cold: each iteration (or Rx subscription) starts a fresh
:class:`~pipeline._engine._run.Run` from the validated :class:`~pipeline._engine._run.RunSpec`.
Leaving early disposes the run: in-flight attempts are cancelled and awaited (after a bare
``break``, when the dropped stream is finalized). A skill that catches its cancellation
and keeps running cannot hold the stream: closing waits at most the run's ``cancel_grace``
(``CANCEL_GRACE``, 1 s, by default), then logs a warning (logger ``skillstream``) naming
it and leaves it running, still referenced until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from operators._channel import ObserverChannel
from operators._policy import check_cap, check_seconds

from .._engine._cleanup import CANCEL_GRACE
from .._engine._run import Feeder, Run, RunSpec
from .._core._errors import SkillError
from .._core._instruments import Instrument
from .._durable._journal import JournalBinding, bind_journal
from .._durable._store import JournalStore
from .._core._result import Results, SkillResult
from .._core._skill import SkillCall, calls_in, set_runner
from .._core._approval import Decision, check_decisions
from .._core._timeline import dependency_edges

if TYPE_CHECKING:
    from ._events import EventStream
    from .._observing._progress import ProgressView

__all__ = ["ResultStream", "SecondReader", "check_run_options", "gather", "run"]

# Makes the channel a run's results are read from, and the spec it runs with (events()).
_ChannelMaker = Callable[[asyncio.AbstractEventLoop, RunSpec], "tuple[ObserverChannel[Any], RunSpec]"]

A = TypeVar("A")
S = TypeVar("S")  # a seed: the reducer takes it as well as its own results
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


class _SafeObserver(abc.ObserverBase[SkillResult]):
    """Guards a user's Rx observer: an exception in its on_next ends the run and is
    delivered to its on_error, instead of travelling back into the skills (RxPY #380)."""

    __slots__ = ("observer", "run")

    def __init__(self, observer: abc.ObserverBase[SkillResult]) -> None:
        self.observer = observer
        self.run: Run | None = None

    def on_next(self, value: SkillResult) -> None:
        try:
            self.observer.on_next(value)
        except Exception as exc:
            if self.run is not None:
                self.run.dispose(exc)
            self.observer.on_error(exc)

    def on_error(self, error: Exception) -> None:
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self.observer.on_completed()


_PENDING_STARTS: set[asyncio.Task[None]] = set()


async def _start_observed(run_: Run, observer: _SafeObserver) -> None:
    try:
        await run_.astart()
    except Exception as exc:
        run_.dispose(exc)
        observer.on_error(exc)


class SecondReader(RuntimeError):
    """A second task read a stream while another was reading it. Raised without touching
    the run: leaving an ``async with`` (or ``collect()``, ``reduce()``, ``scan()``) with it
    does not close the stream, which stays the first reader's."""


class ResultStream:
    """The results of a run, each the moment its call finishes (completion order).

    Cold: nothing starts before iteration begins. Iterate it once, from one task at a
    time (a second iteration, or a second task reading it at once, raises
    ``RuntimeError``; the second task's ``collect()``, ``reduce()``, ``scan()`` or ``async
    with`` then leaves the first reader's run running). Leaving early (``break``, ``aclose()``, the end of ``async with``,
    cancellation) cancels every call in flight; ``async with`` and ``aclose()`` also wait
    for them before returning.

    Examples:
        >>> async def main():
        ...     async with run([fetch(1), fetch(2)], max_concurrency=5) as stream:
        ...         async for result in stream:
        ...             print(result.key, result.status)
    """

    def __init__(self, spec: RunSpec, channel: _ChannelMaker | None = None) -> None:
        self._spec = spec
        self._make_channel = channel
        self._run: Run | None = None
        self._channel: ObserverChannel[SkillResult] | None = None
        self._state = "new"  # "new" -> "running" -> "consumed" | "closed"
        self._reading = False

    # -- async iteration -------------------------------------------------------------------

    def __aiter__(self) -> ResultStream:
        if self._state == "consumed":
            raise RuntimeError(
                "this ResultStream was already consumed: a stream runs once; "
                "call run() again for a new run"
            )
        return self

    async def __anext__(self) -> SkillResult:
        if self._reading:
            raise SecondReader(
                "this ResultStream is already being read by another task; a stream has "
                "one consumer (share its results, or start one run() per consumer)"
            )
        channel = self._channel
        if channel is None:
            if self._state != "new":
                raise StopAsyncIteration
            channel = self._start() if self._spec.journal is None else await self._astart()
        else:
            # The common case: results already queued, taken without a coroutine for get().
            try:
                result = channel.take(None)
            except BaseException:  # starting the next calls failed: as get() would
                self._state = "consumed"
                await self._close()
                raise
            if result is not None:
                return result  # type: ignore[no-any-return]
        self._reading = True
        try:
            return await channel.get()
        except StopAsyncIteration:
            self._state = "consumed"
            await self._close()
            raise
        except BaseException:
            # The run failed (a fallback raised, the source raised) or the consumer was
            # cancelled: in-flight calls are cancelled and awaited before this propagates.
            self._state = "consumed"
            await self._close()
            raise
        finally:
            self._reading = False

    def _start(self, begin: bool = True) -> ObserverChannel[SkillResult]:
        self._state = "running"
        loop = asyncio.get_running_loop()
        spec = self._spec
        if self._make_channel is None:
            channel: ObserverChannel[Any] = ObserverChannel(loop)
        else:
            channel, spec = self._make_channel(loop, spec)
        self._channel = channel
        self._run = Run(spec, channel, loop)
        if begin:
            self._run.start()
        return channel

    async def _astart(self) -> ObserverChannel[SkillResult]:
        """A journaled run: its journal opens off the loop (awaited) before it starts."""
        channel = self._start(begin=False)
        run = self._run
        assert run is not None
        self._reading = True  # a second reader meanwhile is refused, as while reading
        try:
            await run.astart()
        except BaseException:
            self._state = "consumed"
            await self._close()
            raise
        finally:
            self._reading = False
        return channel

    def reading_as(self, channel: _ChannelMaker) -> ResultStream:
        """The same run, read through the channel (and spec) that ``channel`` makes; this
        stream is then used up (a stream runs once, however it is read)."""
        other = ResultStream(self._spec, channel)
        if self._state != "new":
            other._state = "consumed"
        self._state = "consumed"
        return other

    async def _close(self) -> None:
        run = self._run
        if run is None:
            return
        run.dispose()
        self._channel = None
        await run.wait_quiet()

    async def aclose(self) -> None:
        """Stop the run: cancel every call in flight and wait until they have ended."""
        if self._state in ("new", "running"):
            self._state = "closed"
        await self._close()

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if isinstance(exc_info[1], SecondReader):
            return  # a misuse by a second reader: the run is the first reader's
        await self.aclose()

    def __del__(self) -> None:
        # After a bare `break` nothing closes the stream; its finalizer at least cancels
        # what is in flight (the futures stay referenced until they end).
        run = self._run
        if run is not None and not run.closed:
            with contextlib.suppress(Exception):
                run.dispose()

    def events(self) -> EventStream:
        """The same run seen as typed :data:`~pipeline.Event` s, in the order they happen.

        "started" (each attempt), "retrying" (error and wait), "partial" (an item a
        streaming skill yielded, with its attempt number), "finished" (the call's
        ``SkillResult``), "skipped" and "deadline". Each call's result arrives exactly once
        (in its "finished" or "skipped" event); the cap, the deadline and leaving early are
        those of iterating the results. A stream runs once: iterate its results or its
        events.

        Examples:
            >>> async with run(calls).events() as events:
            ...     async for event in events:
            ...         print(event.kind, getattr(event, "key", ""))
        """
        from ._events import EventStream

        return EventStream(self)

    # -- fan-in ----------------------------------------------------------------------------

    async def collect(self) -> Results:
        """Run to the end; every result in submission order (zip-like fan-in)."""
        async with self:
            results = Results([r async for r in self])
        if self._run is not None:  # for timeline() and plot(): the run's dependency edges
            results._edges = dependency_edges(self._run.nodes.values())
        return results

    async def scan(self, reducer: Callable[[A | S, SkillResult], A], seed: S) -> AsyncIterator[A]:
        """The running aggregate ``reducer(acc, result)``, after every result.

        The reducer takes ``seed``, then its own results: its type is what the aggregates
        have (``seed=[]`` needs no annotation).

        An exception raised by ``reducer`` ends the run (in-flight calls are cancelled)
        and reaches the consumer after the aggregates already yielded.

        Examples:
            >>> async for top in run(searches).scan(operators.top_k(10, "score"), []):
            ...     print(top)
        """
        acc: A | S = seed
        async with self:
            async for result in self:
                acc = step = reducer(acc, result)
                yield step

    async def reduce(self, reducer: Callable[[A | S, SkillResult], A], seed: S) -> A:
        """The final aggregate of ``reducer(acc, result)`` over every result; ``seed``
        when there is none (typed as the reducer's result: give a seed of that type)."""
        acc: A | S = seed
        async with self:
            async for result in self:
                acc = reducer(acc, result)
        return cast("A", acc)

    @property
    def observable(self) -> Observable[SkillResult]:
        """The run as a reactivex Observable. Each subscription starts a fresh run and
        must happen on a running event loop (or pass ``scheduler=AsyncIOScheduler(loop)``);
        disposing the subscription cancels the calls in flight."""
        spec = self._spec

        def subscribe(
            observer: abc.ObserverBase[SkillResult], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = getattr(scheduler, "_loop", None)
            if loop is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    raise RuntimeError(
                        "subscribe to ResultStream.observable on a running event loop, "
                        "or pass scheduler=AsyncIOScheduler(loop)"
                    ) from None
            safe = _SafeObserver(observer)
            run_ = Run(spec, safe, loop)
            safe.run = run_
            if spec.journal is None:
                run_.start()
                return Disposable(run_.dispose)
            # A journaled run opens its journal off the loop first: a task starts it, and
            # a refusal (a run id in use) reaches on_error.
            task = loop.create_task(_start_observed(run_, safe))
            _PENDING_STARTS.add(task)
            task.add_done_callback(_PENDING_STARTS.discard)

            def dispose() -> None:
                task.cancel()
                run_.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    async def _unwrap_single(self) -> Any:
        async with self:
            results = Results([r async for r in self])
        run_ = self._run
        assert run_ is not None
        by_index = {r.index: r for r in results}
        return by_index[run_.roots[0]].unwrap()

    @classmethod
    def _tracking_roots(cls, calls: Any, max_concurrency: int | None = 10, timeout: float | None = None) -> ResultStream:
        return cls(_make_spec(calls, max_concurrency, timeout, CANCEL_GRACE, (), track_roots=True))

    @classmethod
    def _fed(
        cls,
        feeder: Callable[[], Feeder],
        max_concurrency: int | None,
        timeout: float | None,
        cancel_grace: float = CANCEL_GRACE,
        journal: JournalBinding | None = None,
        instruments: tuple[Instrument, ...] = (),
    ) -> ResultStream:
        """A stream whose calls come from a :class:`Feeder` (StateGraph's invocation)."""
        check_run_options(max_concurrency, timeout)
        spec = RunSpec(
            None,
            feeder=feeder,
            max_concurrency=max_concurrency,
            timeout=timeout,
            cancel_grace=cancel_grace,
            journal=journal,
            instruments=instruments,
        )
        return cls(spec)


def run(
    calls: SkillCall[Any] | Iterable[SkillCall[Any]] | AsyncIterable[SkillCall[Any]],
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
    cancel_grace: float = CANCEL_GRACE,
    instruments: Iterable[Instrument] = (),
    progress: bool | ProgressView = False,
    journal: str | os.PathLike[str] | JournalStore | None = None,
    run_id: str | None = None,
    decisions: Mapping[str, Decision] | None = None,
) -> ResultStream:
    """Run calls concurrently; results stream in completion order.

    Concurrency: at most ``max_concurrency`` calls in flight (retries, backoff waits and
    thread attempts abandoned past their timeout included); calls are taken from the source
    only when a slot frees. A call whose arguments include other calls waits for them and
    gets their values. Errors: a skill's exception becomes its result
    (``status="error"``), never the consumer's; only an exception from the source itself,
    from a user's fallback, ``Retry(on=...)`` predicate or instrument, or a skill's
    ``BaseException`` that is not an ``Exception``, ends the stream with that exception.
    ``timeout`` is a deadline: at it, calls in flight end ``timeout``, calls not started
    end ``skipped``, and the stream completes. A call's fallback then receives a
    :class:`DeadlineExceeded`; for a call whose attempts had failed (the deadline came in
    a backoff, or during a retry), its ``__cause__`` is the last failed attempt's error.

    Examples:
        >>> async for r in run([fetch_stock("AAPL"), fetch_news("Apple")], max_concurrency=5):
        ...     print(r.key, r.status, r.value)
        >>> results = await run(calls).collect()

    Args:
        calls: a SkillCall, an iterable of them (a list is taken whole, a generator
            lazily), or an async iterable of them.
        max_concurrency: most calls in flight; ``None`` for no bound (an iterable is then
            still read lazily, in batches).
        timeout: the run's deadline in seconds; ``None`` for none.
        cancel_grace: seconds closing the run waits for cancelled calls to end.
        instruments: :class:`Instrument` objects whose hooks see every moment of every
            call (events, progress, tracing).
        progress: ``True`` for a live view in the terminal while the run goes (the
            ``progress`` extra; nothing is drawn when stdout is not a terminal), or a
            :class:`ProgressView` to draw on a console of your own.
        journal: a durable run: a SQLite file path (opened now) or a :class:`Journal`.
            Each finished result is written to it before the consumer sees it; a rerun
            with the same ``run_id`` replays the calls that had a value (``replayed=True``)
            without running them, and runs the rest. A call is matched by its key and a
            hash of its skill's name and arguments: changed arguments run again.
        run_id: names the run in the journal (required with ``journal``).
        decisions: a person's decisions on the calls that need approval
            (``@skill(needs_approval=...)``), by call key: :class:`Approve` runs the call
            (with some arguments replaced, if given), :class:`Reject` ends it as an
            ``error`` saying why. A call that needs approval and has no decision ends
            ``pending`` at once (``results.pending()`` lists them) while the others run;
            its dependents are ``skipped`` until a later run decides it. Give the same
            calls, ``journal`` and ``run_id`` as the run that reported them, so that what
            finished replays instead of running again. A decision for a call that already
            finished in the journal is ignored (resuming again after a crash is safe).

    Returns:
        A cold :class:`ResultStream`.

    Raises:
        TypeError: if ``calls`` is not a call, an iterable or an async iterable of calls
            (for a list, naming the first item that is not a call and its position), or
            an option has the wrong type.
        ValueError: if ``max_concurrency`` < 1, ``timeout`` <= 0 or ``cancel_grace`` < 0,
            or only one of ``journal`` and ``run_id`` is given; if a decision's key names
            no call of a list of calls, or a call whose skill never needs approval (for
            another source, the stream ends with this error once the run is over; for a
            call whose predicate says no, when the call comes up).
        JournalError: if the journal file cannot be used (missing directory, not a
            journal, corrupt, read-only). :class:`RunInProgress` (when iteration starts)
            if a live run holds ``run_id``.
    """
    binding = bind_journal(journal, run_id)
    if progress is not False:
        from .._observing._progress import progress_instrument

        instruments = (*instruments, *progress_instrument(progress, calls))
    spec = _make_spec(
        calls, max_concurrency, timeout, cancel_grace, instruments, track_roots=False, journal=binding
    )
    checked = check_decisions(decisions)
    if checked:
        if spec.sized:
            _check_decided(spec.calls, checked)
        spec.decisions = checked
    return ResultStream(spec)


def _check_decided(calls: Any, decisions: Mapping[str, Decision]) -> None:
    """Refuse, before anything runs, decisions that name no call of ``calls`` (their
    inputs included), or a call that can never need approval, or more than one call."""
    found: dict[str, list[SkillCall[Any]]] = {}
    seen: set[int] = set()
    stack = list(calls)
    while stack:
        call = stack.pop()
        if id(call) in seen:
            continue
        seen.add(id(call))
        if call.key in decisions:
            found.setdefault(call.key, []).append(call)
        inner: list[SkillCall[Any]] = []
        if not call._opaque:
            for value in (*call.args, *call.kwargs.values()):
                calls_in(value, inner)
        stack.extend(inner)
        stack.extend(call.after)
    for key in decisions:
        matches = found.get(key)
        if not matches:
            raise ValueError(
                f"decisions[{key!r}]: no call of this run has that key (decisions name the "
                "keys results.pending() lists)"
            )
        if len(matches) > 1:
            raise ValueError(
                f"decisions[{key!r}]: {len(matches)} calls have that key; give them distinct "
                "keys with call.named(...)"
            )
        if matches[0].options.needs_approval is False:
            raise ValueError(
                f"decisions[{key!r}]: call {matches[0]!r} does not need approval (its skill "
                "has no needs_approval); give decisions only for the calls results.pending() lists"
            )


def check_run_options(max_concurrency: Any, timeout: Any) -> None:
    """The rules for ``max_concurrency`` and ``timeout``, shared with StateGraph.compile()."""
    check_cap("max_concurrency", max_concurrency)
    if timeout is not None:
        check_seconds("timeout", timeout, zero=False)


def _check_grace(cancel_grace: Any) -> None:
    check_seconds("cancel_grace", cancel_grace)


def _make_spec(
    calls: Any,
    max_concurrency: Any,
    timeout: Any,
    cancel_grace: Any,
    instruments: Iterable[Instrument],
    *,
    track_roots: bool,
    journal: JournalBinding | None = None,
) -> RunSpec:
    check_run_options(max_concurrency, timeout)
    _check_grace(cancel_grace)
    hooks = tuple(instruments)
    for hook in hooks:
        if not isinstance(hook, Instrument):
            raise TypeError(f"instruments must be Instrument objects, got {hook!r}")
    is_async = False
    sized = False
    if isinstance(calls, SkillCall):
        calls = (calls,)
        sized = True
    elif isinstance(calls, (list, tuple)):
        for position, item in enumerate(calls):
            if not isinstance(item, SkillCall):
                raise TypeError(f"run() takes SkillCalls; item {position} is {item!r}")
        sized = True
    elif isinstance(calls, (str, bytes, dict)) or inspect.iscoroutine(calls):
        raise TypeError(
            f"run() takes a SkillCall, or an iterable or async iterable of them; got {calls!r}"
        )
    elif isinstance(calls, AsyncIterable):
        is_async = True
    elif isinstance(calls, Iterable):
        sized = hasattr(calls, "__len__")
    else:
        raise TypeError(
            f"run() takes a SkillCall, or an iterable or async iterable of them; got {calls!r}"
        )
    return RunSpec(
        calls,
        sized=sized,
        is_async=is_async,
        max_concurrency=max_concurrency,
        timeout=timeout,
        track_roots=track_roots,
        cancel_grace=float(cancel_grace),
        instruments=hooks,
        journal=journal,
    )


@overload
async def gather(
    c1: SkillCall[T1], /, *, max_concurrency: int | None = 10, timeout: float | None = None
) -> tuple[T1]: ...
@overload
async def gather(
    c1: SkillCall[T1],
    c2: SkillCall[T2],
    /,
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> tuple[T1, T2]: ...
@overload
async def gather(
    c1: SkillCall[T1],
    c2: SkillCall[T2],
    c3: SkillCall[T3],
    /,
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> tuple[T1, T2, T3]: ...
@overload
async def gather(
    c1: SkillCall[T1],
    c2: SkillCall[T2],
    c3: SkillCall[T3],
    c4: SkillCall[T4],
    /,
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def gather(
    c1: SkillCall[T1],
    c2: SkillCall[T2],
    c3: SkillCall[T3],
    c4: SkillCall[T4],
    c5: SkillCall[T5],
    /,
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def gather(
    c1: SkillCall[T1],
    c2: SkillCall[T2],
    c3: SkillCall[T3],
    c4: SkillCall[T4],
    c5: SkillCall[T5],
    c6: SkillCall[T6],
    /,
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def gather(
    *calls: SkillCall[Any], max_concurrency: int | None = 10, timeout: float | None = None
) -> tuple[Any, ...]: ...
async def gather(
    *calls: SkillCall[Any], max_concurrency: int | None = 10, timeout: float | None = None
) -> tuple[Any, ...]:
    """Run calls at once and return their values in argument order (zip-like fan-in).

    A call that failed with a fallback contributes its fallback value. The result keeps
    each argument's type (``gather(a, b)`` with ``SkillCall[int]`` and ``SkillCall[str]``
    types as ``tuple[int, str]``).

    Examples:
        >>> stock, news = await gather(fetch_stock("AAPL"), fetch_news("Apple"))

    Raises:
        SkillError: after every call has finished, if any call ended without a value;
            it names each such call and carries every result as ``.results``.
    """
    stream = ResultStream._tracking_roots(list(calls), max_concurrency, timeout)
    results = await stream.collect()
    run_ = stream._run
    assert run_ is not None
    by_index = {r.index: r for r in results}
    picked = [by_index[i] for i in run_.roots]
    failed = [r for r in picked if not r.has_value]
    if failed:
        described = "; ".join(
            f"{r.key} ({r.status.value}: {r.error.type}: {r.error.message})"
            if r.error
            else f"{r.key} ({r.status.value})"
            for r in failed
        )
        raise SkillError(
            f"{len(failed)} of {len(picked)} calls ended without a value: {described}",
            result=failed[0],
            results=results,
        )
    return tuple(r.value for r in picked)


set_runner(lambda call: ResultStream._tracking_roots(call)._unwrap_single())
