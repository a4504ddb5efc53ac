"""The engine: one run's scheduler, its nodes, and each call's attempt state machine.

Execution model
---------------
A :class:`Run` takes SkillCalls from its source (a call, an iterable, an async iterable, or
a :class:`Feeder` such as a StateGraph invocation) and turns each into a :class:`CallNode`,
kept in the run's own map (nothing of a run is stored on a SkillCall, so one call object
can be shared by several runs at once).

Nodes run in the slots of one :class:`operators.BoundedMerge` in pull mode: whenever a slot
frees, the merge asks the run for the next node. The run hands out nodes whose
dependencies all have values (a DAG runs start-when-ready, with no level barriers), and
only when none is ready does it take the next call from the source, so a generator of a
million calls is held in memory ``max_concurrency`` at a time (with no cap, it is read in
batches, giving the loop back between them). A node occupies its slot itself: it is
the slot's observer (the merge's ``occupy`` protocol: no subscription per call) and its
call's attempt state machine, which moves the call through its phases (permit, attempt,
backoff, settling, fallback; see :class:`Phase`) and finally emits one result, catching
the skill's exception into it. No exception of a skill ever reaches the merge, so one
failure never disposes its siblings.

The hot path pays only for what a call declares: a new call whose arguments are plain
values starts the moment it is read, without being queued; an async skill with nothing
asked around its first attempt is awaited by one of the run's workers with the node
itself as the attempt (no task, no job object); and a lazy source's finished calls are
kept only in a map of weak references, whose entries leave without Python code running.
One object per call (its node) plus its result, which is a slotted object too.

Every callback runs on the event loop thread: tasks complete there, executor jobs resolve
asyncio futures, timers are loop timers. The run's tasks are owned by the run object,
never by a generator frame. The run's ``timeout`` is a deadline: in-flight calls end as
``timeout``, calls not started end as ``skipped``, and the stream completes with
everything that finished before.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import time
import weakref
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterator, Mapping
from types import CoroutineType as _Coroutine
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from reactivex import abc

from operators._channel import ObserverChannel
from operators._merge_bounded import BoundedMerge, Inner
from operators._policy import apply_fallback

from ._cleanup import Abandoned, retrieve_when_done
from .._core._errors import (
    DeadlineExceeded,
    DependencyFailed,
    SkillCancelled,
    SkillTimeout,
    deadline_exceeded,
    retry_after_of,
    dependency_failed,
)
from .._executors._local import (
    EXECUTORS,
    Executor,
    Job,
    LoopWorkers,
    abandon_attempt,
    awaitable_of,
    exit_if_importing_main,
)
from .._core._instruments import Instrument, Phase, attempt_context, contextual, listeners
from .._executors._hedge import hedged
from .._admission._gate import Gate, admission_for
from .._core._result import ErrorInfo, SkillResult, Status, new_result, stored_value
from .._core._approval import Approve, Decision, Reject, arguments_of, edited_call
from .._core._errors import Rejected
from .._core._skill import NO_FALLBACK, SkillCall, calls_in, holds_calls

if TYPE_CHECKING:
    from ._recorder import Recorder, Recording

__all__ = ["CallNode", "Feeder", "NodeState", "Run", "RunSpec"]

# With no cap, an iterable source is read this many calls per loop turn: enough to keep
# the loop busy, few enough that the deadline, early exit and results are not held back.
UNBOUNDED_BATCH = 256

# Every async source's pump until it ends. The loop holds tasks weakly, and a pump waits on
# futures only its run (or the source) holds: a dropped stream caught in a reference cycle
# would take its pending pump down with it ("Task was destroyed but it is pending").
_PUMPS: set[asyncio.Task[None]] = set()

# The hooks of a run without instruments: none, shared (never changed).
_NO_HOOKS = listeners(())


class NodeState(IntEnum):
    """Where a node is in its run. One vocabulary for runs and graphs."""

    REGISTERING = 0
    """Its dependencies are being registered (seeing it again means a cycle)."""
    WAITING = 1
    """Some dependency has no result yet."""
    READY = 2
    """Every dependency has a value; waiting for a slot."""
    STARTED = 3
    """Handed to the merge: its attempts are running."""
    DONE = 4
    """It ran and has its result."""
    SKIPPED = 5
    """It never ran and has its (skipped) result."""


_ENDED = (NodeState.DONE, NodeState.SKIPPED)
_ref = weakref.ref
_weakrefs = weakref.getweakrefcount
_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


class Feeder(Protocol):
    """A source the engine pulls from directly (StateGraph's invocation is one).

    The engine calls :meth:`pull` whenever it could start a call; ``None`` means nothing
    right now. The feeder calls ``run.wake()`` when it has calls again, and
    ``run.feeder_done()`` once it never will; ``run.skipped(call, exc)`` reports a call
    without running it. :meth:`on_result` sees every result the moment it is queued for
    the consumer (before the consumer can run), on the loop thread, and may make new calls
    available. At the deadline the engine takes what the feeder still holds and reports it
    as skipped.
    """

    def attach(self, run: Run) -> None: ...
    def pull(self) -> SkillCall[Any] | None: ...
    def on_result(self, result: SkillResult) -> None: ...


class RunSpec:
    """What ``run()`` was given, validated; every subscription starts a fresh Run from it."""

    __slots__ = (
        "calls",
        "sized",
        "is_async",
        "feeder",
        "max_concurrency",
        "timeout",
        "track_roots",
        "cancel_grace",
        "instruments",
        "journal",
        "decisions",
    )

    def __init__(
        self,
        calls: Any,
        *,
        sized: bool = False,
        is_async: bool = False,
        feeder: Callable[[], Feeder] | None = None,
        max_concurrency: int | None,
        timeout: float | None,
        track_roots: bool = False,
        cancel_grace: float,
        instruments: tuple[Instrument, ...] = (),
        journal: Recording | None = None,
        decisions: Mapping[str, Decision] | None = None,
    ) -> None:
        self.calls = calls
        self.sized = sized
        self.is_async = is_async
        self.feeder = feeder
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.track_roots = track_roots
        self.cancel_grace = cancel_grace
        self.instruments = instruments
        self.journal = journal
        self.decisions = decisions

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` (the same keyword names as the constructor)."""
        copy = object.__new__(RunSpec)
        for name in RunSpec.__slots__:
            setattr(copy, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise TypeError(f"RunSpec has no {', '.join(changes)}")
        return copy


# -- executors (the engine's view) ---------------------------------------------------------


def _executor(call: SkillCall[Any]) -> Executor:
    skill = call.skill
    kind = skill.kind
    executor = skill.executor
    if executor is None:
        executor = EXECUTORS.loop if kind == "async" or kind == "asyncgen" else EXECUTORS.get(kind)
    hedge = call.options.hedge
    return executor if hedge is None else hedged(executor, hedge)


# -- timeouts ------------------------------------------------------------------------------


class _Due:
    """One attempt's place in a :class:`TimeoutLane`; ``cancel()`` as a timer handle's."""

    __slots__ = ("when", "callback", "lane")

    def __init__(self, when: float, callback: Callable[[], None] | None, lane: TimeoutLane) -> None:
        self.when = when
        self.callback = callback
        self.lane = lane

    def cancel(self) -> None:
        if self.callback is not None:
            self.callback = None
            lane = self.lane
            lane.live -= 1
            queue = lane.queue
            while queue and queue[0].callback is None:
                queue.popleft()


class TimeoutLane:
    """The timeouts of one length in one run: one loop timer for all of them.

    Attempts with the same timeout end in the order they started, so their deadlines are
    a queue and only its head needs a timer: a cheaper per-call timeout than a timer each
    (a heap entry ordered by Python comparisons). Ended attempts leave the queue from its
    head, and it is compacted whenever most of it has ended, so it holds O(live) entries.
    """

    __slots__ = ("loop", "seconds", "queue", "live", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self.queue: deque[_Due] = deque()
        self.live = 0
        self.handle: asyncio.TimerHandle | None = None

    def add(self, callback: Callable[[], None], now: float) -> _Due:
        """Call ``callback`` ``seconds`` after ``now`` (the loop's time), unless the
        returned entry is cancelled."""
        due = _Due(now + self.seconds, callback, self)
        queue = self.queue
        queue.append(due)
        self.live += 1
        if self.handle is None:
            # The head's time, not this entry's: an attempt added while the lane fires
            # (a retry, a dependent started by a timeout) must not push the head back.
            self.handle = self.loop.call_at(queue[0].when, self._fire)
        elif len(queue) > 2 * self.live + 64:
            self.queue = deque(d for d in queue if d.callback is not None)
        return due

    def _fire(self) -> None:
        self.handle = None
        queue = self.queue
        now = self.loop.time()
        try:
            while queue:
                head = queue[0]
                callback = head.callback
                if callback is None:
                    queue.popleft()
                    continue
                if head.when > now:
                    break
                queue.popleft()
                head.callback = None
                self.live -= 1
                callback()
        finally:  # (a callback that raised leaves the rest due all the same)
            queue = self.queue  # a callback may have compacted it
            if queue and self.handle is None:
                self.handle = self.loop.call_at(queue[0].when, self._fire)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.queue.clear()


# -- one call ------------------------------------------------------------------------------


_Nodes = Mapping[SkillCall[Any], "CallNode"]


def _value(call: SkillCall[Any], nodes: _Nodes) -> Any:
    return nodes[call].result.value  # type: ignore[union-attr]


def _stored(call: SkillCall[Any], nodes: _Nodes) -> Any:
    return stored_value(nodes[call].result)  # type: ignore[arg-type]


def _fill(value: Any, nodes: _Nodes, get: Callable[[SkillCall[Any], _Nodes], Any]) -> Any:
    if isinstance(value, SkillCall):
        return get(value, nodes)
    if isinstance(value, list):
        filled = copy.copy(value)
        for i, v in enumerate(filled):
            if isinstance(v, SkillCall):
                filled[i] = get(v, nodes)
        return filled
    if isinstance(value, dict):
        filled_dict = copy.copy(value)
        for k, v in filled_dict.items():
            if isinstance(v, SkillCall):
                filled_dict[k] = get(v, nodes)
        return filled_dict
    items = [get(v, nodes) if isinstance(v, SkillCall) else v for v in value]
    kind = type(value)
    if kind is tuple:
        return tuple(items)
    make = getattr(kind, "_make", None)  # a NamedTuple
    if make is not None:
        return make(items)
    try:
        return kind(items)
    except Exception:  # a tuple subclass with another constructor: a plain tuple, then
        return tuple(items)


class CallNode(Inner[SkillResult]):
    """One call in one run: its place in the dependency graph, its attempt state machine,
    and its one :class:`SkillResult`.

    When the run starts it, the node occupies a slot of the run's merge (:meth:`occupy`):
    it is the slot's observer itself (:class:`operators.Inner`), and emits its result and
    frees the slot with nothing in between. One object per call, whatever it does.

    Phases: ``PERMIT`` (waiting for its rate limiter), ``ATTEMPT`` (a job on the skill's
    executor, bounded by the timeout), ``BACKOFF`` (a loop timer before the next attempt),
    ``SETTLING`` (an abandoned thread attempt must end before the next starts, so the cap
    bounds bodies really running), ``FALLBACK`` (an async fallback). Every attempt's start
    and end time is recorded in the result (``attempt_spans``).
    """

    __slots__ = (
        "run",
        "call",
        "index",
        "state",
        "pending",  # set when the node is registered with dependencies
        "deps",
        "dependents",
        "result",
        "fill",
        "finished",
        "attempts",
        "future",
        "timer",
        "started",
        "spans",
        "stray",
        "attempt_start",
        "gates",
        # When a streaming attempt last yielded: set by its attempt, for idle_timeout.
        "last_item",
        # The error of the last attempt that failed and was retried (set then): the cause
        # of the DeadlineExceeded if the run's deadline ends the call before another
        # attempt ends.
        "last_error",
        # Its first attempt, when the run's workers await it, is the node itself (an
        # Attempt): no object per attempt. Set by that attempt.
        "coro",
        "worker",
        "abandoned",
        "stopped",
    )

    # Slots set only when needed (read only after they are).
    pending: int
    last_item: float
    last_error: Exception
    coro: Any
    worker: asyncio.Task[None] | None
    abandoned: bool
    stopped: asyncio.Future[None] | None

    def __init__(self, run: Run, call: SkillCall[Any], index: int) -> None:  # noqa: D107
        # (Inner's ``subscription`` is never set: the merge calls stop(), which ends the
        # attempts, and never disposes a node's subscription.)
        self.merge = None  # type: ignore[assignment]  # set by occupy()
        self.done = False  # the slot is freed (or the merge stopped)
        self.run = run
        self.call = call
        self.index = index
        self.state = NodeState.REGISTERING
        self.deps: tuple[CallNode, ...] = ()
        self.dependents: list[CallNode] | tuple[()] = ()  # a list of its own from the first
        self.result: SkillResult | None = None
        # Which arguments hold calls (and are replaced by values), and the nodes of those
        # calls: (positions, keywords, nodes by call). None for most calls.
        self.fill: tuple[tuple[int, ...], tuple[str, ...], Mapping[SkillCall[Any], CallNode]] | None = None
        self.finished = False  # the call has its result (or ended the run)
        self.attempts = 0
        self.future: asyncio.Future[Any] | Job | CallNode | None = None
        self.timer: asyncio.TimerHandle | _Due | None = None
        self.started = -1.0
        self.attempt_start = 0.0
        # Spans of attempts that failed, made on the first (a call that succeeds at once
        # never needs the list).
        self.spans: list[tuple[float, float]] | None = None
        # An abandoned attempt that cannot be interrupted (a thread) and still runs.
        self.stray: asyncio.Future[Any] | None = None
        # What the attempt holds of its admission policies (rate limits, breakers), in
        # the order it asked them; None: nothing (no policy, or not asked yet).
        self.gates: list[Gate] | None = None

    def occupy(self, merge: BoundedMerge[SkillResult]) -> CallNode:
        """Start the call in a slot of ``merge``: the node is the slot's observer."""
        self.merge = merge
        run = self.run
        call = self.call
        skill = call.skill
        options = call.options
        if not (skill._plain and options is skill.options and not run.instruments):
            self._attempt(run.clock())
            return self
        # The common case (an async skill with nothing asked before or around its first
        # attempt, in a run without instruments), _attempt() inlined: the node is its
        # first attempt's Attempt, awaited by one of the run's workers.
        self.started = self.attempt_start = now = run.clock()
        self.attempts = 1
        try:
            if self.fill is None:
                made = skill.fn(*call.args, **call.kwargs)
            else:
                args, kwargs = self.arguments()
                made = skill.fn(*args, **kwargs)
            if type(made) is not _Coroutine:
                made = awaitable_of(made, None)
        except Exception as exc:  # e.g. wrong arguments for the function: the call fails
            self._end_span()
            self._failed(exc)
            return self
        self.coro = made
        self.worker = None
        self.abandoned = False
        self.future = self
        run.workers.put(self)
        timeout = options.timeout
        if timeout is not None:
            lane = run.lanes.get(timeout)
            if lane is None:
                lane = run.lanes[timeout] = TimeoutLane(run.loop, timeout)
            self.timer = lane.add(self._on_timeout, now)
        return self

    def arguments(self, deferred: bool = False) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments, its input calls replaced by their values.

        Only a container that holds calls is replaced, by a copy of the same type (a
        NamedTuple stays one, a defaultdict keeps its factory); every other argument is the
        caller's own object. With ``deferred``, an input's :class:`Deferred` value (a Ray
        skill's ObjectRef) is passed as it is instead of being fetched.
        """
        call = self.call
        args, kwargs = call.args, call.kwargs
        fill = self.fill
        if fill is None:
            return args, kwargs
        fill_args, fill_kwargs, nodes = fill
        value = _stored if deferred else _value
        if fill_args:
            filled = list(args)
            for i in fill_args:
                filled[i] = _fill(filled[i], nodes, value)
            args = tuple(filled)
        if fill_kwargs:
            kwargs = dict(kwargs)
            for k in fill_kwargs:
                kwargs[k] = _fill(kwargs[k], nodes, value)
        return args, kwargs

    # -- phases ----------------------------------------------------------------------------

    def _attempt(self, now: float | None = None) -> None:
        self.timer = None
        if self.finished:
            return
        run = self.run
        if now is None:
            now = run.clock()
        if self.started < 0:
            self.started = now
        node = self
        call = self.call
        skill = call.skill
        options = call.options
        if (self.stray is not None or options is not skill.options or not skill._unlimited) and not self._admit(
            now
        ):
            return
        self.attempts += 1
        self.attempt_start = now
        loop = run.loop
        context = None
        instruments = run.instruments
        if instruments:
            if run.started_hooks:
                run.emit("call_started", call, node.index, self.attempts, now - run.t0)
            if run.contextual:  # an instrument gives the attempt a context of its own (Tracing)
                context = attempt_context(run.contextual, run.fail, call, node.index, self.attempts)
            if self.finished:
                return
        idle = options.idle_timeout
        try:
            if skill._on_loop and context is None and options.hedge is None:
                # The common case: awaited by one of the run's workers, no task of its own.
                args, kwargs = node.arguments()
                made = skill.fn(*args, **kwargs)
                if type(made) is not _Coroutine:
                    made = awaitable_of(made, self._on_item if instruments or idle is not None else None)
                self.future = run.workers.submit(made, self.ended)
            else:
                on_item = self._on_item if instruments or idle is not None else None
                executor = EXECUTORS.loop if skill._on_loop and options.hedge is None else _executor(call)
                # A Ray skill takes its Ray inputs by reference: the values stay in Ray.
                args, kwargs = node.arguments(getattr(executor, "takes_deferred", False))
                if context is None:
                    future = executor.start(loop, skill, args, kwargs, on_item)
                else:  # the job (a task, a thread job, a process job) starts in that context
                    future = context.run(executor.start, loop, skill, args, kwargs, on_item)
                self.future = future
                future.add_done_callback(self._on_done)
        except Exception as exc:  # e.g. wrong arguments for the function: the call fails
            self._end_span()
            self._failed(exc)
            return
        timeout = options.timeout
        if idle is not None:
            # One timer for both: whichever of the attempt's end and the next item's
            # latest time comes first.
            self.last_item = now
            self.timer = loop.call_later(idle if timeout is None else min(timeout, idle), self._on_timeout)
        elif timeout is not None:
            lane = run.lanes.get(timeout)
            if lane is None:
                lane = run.lanes[timeout] = TimeoutLane(loop, timeout)
            self.timer = lane.add(self._on_timeout, now)

    def _admit(self, now: float) -> bool:
        """Whether the attempt may start now: no abandoned thread attempt still runs, the
        circuit is closed, and the rate limiter granted a permit (else ``_attempt`` runs
        again when it does)."""
        run = self.run
        node = self
        call = node.call
        options = call.options
        if self.stray is not None:
            stray = self.stray
            if not stray.done():
                if run.instruments:
                    run.emit_phase(node, Phase.SETTLING)
                stray.add_done_callback(self._after_stray)
                return False
            self.stray = None
        gates = self.gates
        policies = admission_for(call.skill, options)
        if gates is None:
            if not policies:
                return True
            gates = self.gates = []
        while True:
            if gates and not gates[-1].ready:  # _attempt runs again when it is
                if run.instruments:
                    run.emit_phase(node, Phase.PERMIT)
                return False
            if len(gates) == len(policies):
                return True
            entered = policies[len(gates)].enter(run.loop, now, self._attempt)
            if isinstance(entered, Exception):  # fail fast, without running (nor retrying)
                self._release_gates()
                self._finish(Status.ERROR, None, entered)
                return False
            gates.append(entered)

    def _after_stray(self, _: asyncio.Future[Any]) -> None:
        if not self.finished and self.timer is None and self.future is None:
            self._attempt()

    def _on_item(self, item: Any) -> None:
        if self.finished or self.future is None:
            return
        run = self.run
        options = self.call.options
        idle = options.idle_timeout
        if idle is not None and self.timer is not None:
            now = self.last_item = run.loop.time()
            self.timer.cancel()
            due = now + idle
            if options.timeout is not None:
                due = min(due, self.attempt_start + options.timeout)
            self.timer = run.loop.call_at(due, self._on_timeout)
        if run.instruments:
            run.emit("call_item", self.call, self.index, self.attempts, item, run.loop.time() - run.t0)

    def _end_span(self) -> None:
        run = self.run
        t0 = run.t0
        span = (self.attempt_start - t0, run.clock() - t0)
        if self.spans is None:
            self.spans = [span]
        else:
            self.spans.append(span)

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if future is not self.future:
            return
        if future.cancelled():
            self.ended(None, asyncio.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self.ended(None, exc)
            return
        value = future.result()
        if self.call.skill.kind == "thread" and inspect.isawaitable(value):
            # A sync callable that returned an awaitable (a lambda around a coroutine):
            # await it on the loop, within the same attempt and timeout.
            self.future = future = asyncio.ensure_future(value)
            future.add_done_callback(self._on_done)
            return
        self.ended(value, None)

    def abandon(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """Stop the first attempt, awaited by a worker as the node itself (an Attempt)."""
        return abandon_attempt(self, self.run.workers, loop)

    def ended(self, value: Any, exc: BaseException | None) -> None:
        """The attempt in flight ended with ``value`` or ``exc`` (also an Attempt's
        ``ended``, for the first attempt awaited as the node itself)."""
        self.coro = None  # (a sized source's run keeps its nodes: not their coroutines)
        if exc is None:
            # The hot path: _stop_attempt() and _finish() inlined.
            self.future = None
            timer = self.timer
            if timer is not None:
                timer.cancel()
                self.timer = None
            if self.gates is not None:
                gates, self.gates = self.gates, None
                for gate in gates:
                    gate.succeeded()
            self._emit_result(Status.SUCCESS, value, None, False, True)
        elif isinstance(exc, Exception):
            self._stop_attempt()
            self._failed(exc)
        elif isinstance(exc, asyncio.CancelledError):
            self._stop_attempt()
            # Not cancelled by the run (it forgets the job first): the skill cancelled
            # itself, or someone outside cancelled its task.
            self._failed(SkillCancelled("the skill's task was cancelled outside the run"))
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self._stop_attempt()
            raise exc  # not a skill failure: out of the loop, as asyncio does with tasks
        else:
            self._stop_attempt()
            # Another BaseException is not a skill failure either, but raised here it
            # would only be logged by the loop: it ends the run and reaches the consumer.
            self._end_run(exc)  # type: ignore[arg-type]

    def _end_run(self, exc: Exception) -> None:
        """End the run with ``exc``: a user's callback (fallback, retry predicate) failed,
        or a skill raised a BaseException that is not a failure of its own."""
        self.finished = True
        self.on_error(exc)

    def _stop_attempt(self) -> None:
        self.future = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._end_span()

    def _on_timeout(self) -> None:
        self.timer = None
        self._abandon_attempt()
        self._end_span()
        options = self.call.options
        timeout, idle = options.timeout, options.idle_timeout
        if idle is not None and (timeout is None or self.last_item + idle < self.attempt_start + timeout):
            what = "its first item" if self.last_item == self.attempt_start else "its next item"
            message = f"attempt {self.attempts} waited more than the idle timeout of {idle:g} s for {what}"
        else:
            message = f"attempt {self.attempts} exceeded the timeout of {timeout:g} s"
        self._failed(SkillTimeout(message))

    def _abandon_attempt(self) -> None:
        future, self.future = self.future, None
        if future is None:
            return
        node = self
        if isinstance(future, (Job, CallNode)):  # (a node is its first attempt)
            stopped = future.abandon(self.run.loop)
            if stopped is not None:
                self.run.abandoned.add(stopped, node.call)
            return
        executor = _executor(node.call)
        # A task (an awaitable a sync skill returned, awaited on the loop) can always stop.
        interruptible = executor.interruptible or isinstance(future, asyncio.Task)
        if not future.done():
            future.cancel() if isinstance(future, asyncio.Task) else executor.cancel(future)
        if interruptible:
            # An executor that ends its work for sure within a bound (Ray kills a task's
            # worker) says so: closing the run waits for it until then, past the grace.
            self.run.abandoned.add(future, node.call, getattr(executor, "stops_within", None))
        else:
            # Nothing can stop a thread: its future is left to resolve when the body
            # returns (the result is dropped), and until then it holds the call's slot
            # (and its rate limiter's concurrency slot).
            retrieve_when_done(future)
            if not future.done():
                self.stray = future
                if self.gates is not None:
                    self.gates = [g for g in self.gates if not g.outlived_by(future)]

    def _failed(self, exc: Exception) -> None:
        node = self
        run = self.run
        options = node.call.options
        retry = options.retry
        if self.gates is not None:
            gates, self.gates = self.gates, None
            now = run.loop.time()
            for gate in gates:
                gate.failed(exc, now)
        retry_after = retry_after_of(exc)  # the API said when: the next attempt waits that long
        try:
            planned = None if retry is None or run.expired else retry.next_wait(exc, self.attempts)
        except Exception as predicate_exc:  # the user's Retry(on=...) failed: end the run
            self._end_run(predicate_exc)
            return
        if planned is not None:
            assert retry is not None
            self.last_error = exc
            wait = planned if retry_after is None else retry_after
            if run.instruments:
                run.emit(
                    "call_retrying", node.call, node.index, self.attempts, exc, wait, run.loop.time() - run.t0
                )
                if self.finished:
                    return
            self.timer = run.loop.call_later(wait, self._attempt)
            return
        status = Status.TIMEOUT if isinstance(exc, (SkillTimeout, DeadlineExceeded)) else Status.ERROR
        self._finish(status, None, exc)

    def _finish(self, status: Status, value: Any, exc: BaseException | None) -> None:
        node = self
        fallback_used = False
        error = None
        if exc is not None:
            error = ErrorInfo.of(exc)
            fallback = node.call.options.fallback
            if fallback is not NO_FALLBACK:
                try:
                    value = apply_fallback(fallback, exc)
                except Exception as fallback_exc:  # the user's fallback failed: end the run
                    self._end_run(fallback_exc)
                    return
                if inspect.isawaitable(value):
                    self._await_fallback(value, status, error)
                    return
                fallback_used = True
        self._emit_result(status, value, error, fallback_used)

    def _await_fallback(self, awaitable: Any, status: Status, error: ErrorInfo) -> None:
        """Await an async fallback, bounded by the call's timeout; at the deadline there is
        no time left, so it is not awaited."""
        node = self
        run = self.run
        if run.expired:
            with contextlib.suppress(Exception):
                awaitable.close()  # a coroutine never awaited would warn
            self._emit_result(status, None, error, False)
            return
        if run.instruments:
            run.emit_phase(node, Phase.FALLBACK)
        future = asyncio.ensure_future(awaitable)
        self.future = future

        def done(f: asyncio.Future[Any]) -> None:
            if f is not self.future:
                return
            self.future = None
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if f.cancelled():
                self._emit_result(status, None, error, False)
                return
            fexc = f.exception()
            if fexc is None:
                self._emit_result(status, f.result(), error, True)
            else:  # the user's fallback failed: end the run, as a sync fallback does
                self._end_run(fexc)  # type: ignore[arg-type]

        def expired() -> None:
            self.timer = None
            f, self.future = self.future, None
            if isinstance(f, asyncio.Future):  # the fallback's task
                f.cancel()
                run.abandoned.add(f, node.call)
            self._emit_result(status, None, error, False)

        future.add_done_callback(done)
        timeout = node.call.options.timeout
        if timeout is not None:
            self.timer = run.loop.call_later(timeout, expired)

    def _emit_result(
        self, status: Status, value: Any, error: ErrorInfo | None, fallback_used: bool, attempt_ended: bool = False
    ) -> None:
        """Emit the call's one result and free its slot. With ``attempt_ended``, the
        attempt in flight ended just now (its span ends with the result)."""
        self.finished = True
        node = self
        run = self.run
        t0 = run.t0
        now = run.clock() - t0
        spans = self.spans
        if attempt_ended:
            span = (self.attempt_start - t0, now)
            attempt_spans: tuple[tuple[float, float], ...] = (span,) if spans is None else (*spans, span)
        else:
            attempt_spans = () if spans is None else tuple(spans)
        call = node.call
        result = new_result(
            call.skill.options.name,
            call.key,
            node.index,
            status,
            value,
            error,
            fallback_used,
            self.attempts,
            self.started - t0,
            now,
            attempt_spans,
        )
        node.result = result
        node.state = NodeState.DONE
        merge = self.merge
        if not self.done and not merge.stopped:
            ended = run.ended
            if ended is not None:  # run._forget(), inlined
                run.nodes.pop(call, None)
                ended[_ref(call, ended.pop)] = result
            # The merge's observer is the run; everything here runs on the loop's thread.
            run.on_next(result)
        if node.dependents:
            run.resolved(node)
        stray = self.stray
        if stray is not None and not stray.done() and not run.expired and not run.closed:
            # The result is out, but the slot stays taken while the abandoned thread runs.
            stray.add_done_callback(lambda _: self.on_completed())
        elif run.recorder is not None:
            # The slot stays taken until the result is written: a crash then redoes at
            # most max_concurrency calls (those in flight or not yet committed).
            run.recorder.complete_after_write(self)
        elif not self.done:
            self.done = True
            merge.inner_completed(self)

    def expire(self, exc: DeadlineExceeded) -> None:
        """The run's deadline: end now as ``timeout`` (``skipped`` if no attempt began:
        the call waited all along for its rate limiter's permit). After failed attempts
        (in a backoff, or in a later attempt) the call's ``DeadlineExceeded`` is its own,
        with the last attempt's error as its ``__cause__`` (what its fallback sees)."""
        if self.finished:
            return
        last = getattr(self, "last_error", None)  # set by a retry
        if last is not None:
            exc = DeadlineExceeded(*exc.args)
            exc.__cause__ = last
        in_attempt = self.future is not None
        self._cancel()
        if in_attempt:
            self._end_span()
        self._finish(Status.TIMEOUT if self.attempts else Status.SKIPPED, None, exc)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._abandon_attempt()
        self._release_gates()

    def _release_gates(self) -> None:
        """Withdraw from every admission policy the attempt holds."""
        if self.gates is not None:
            gates, self.gates = self.gates, None
            for gate in gates:
                gate.withdrawn()

    def stop(self) -> None:
        """The run stopped (left early, or failed): end without a result."""
        if not self.finished:
            self.finished = True
            self._cancel()


# -- one run -------------------------------------------------------------------------------


class Run(abc.ObserverBase[SkillResult]):
    """The state of one run; it is the bounded merge's observer and feeds it nodes.

    A spec with a journal makes a :class:`RecordedRun` (a run without one pays nothing
    for recording).
    """

    def __new__(cls, spec: RunSpec, *args: Any) -> Run:
        return object.__new__(RecordedRun if spec.journal is not None and cls is Run else cls)

    def __init__(
        self, spec: RunSpec, observer: abc.ObserverBase[SkillResult], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.spec = spec
        self.observer = observer
        self.loop = loop
        # loop.time() without its Python frame when it is asyncio's own (a test's virtual
        # loop, or another loop, keeps its clock).
        self.clock: Callable[[], float] = (
            time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        )
        self.t0 = 0.0
        self.taken = 0
        self.next_index = 0
        # The run's own map from calls to nodes (never stored on a call, so one call can
        # be shared by runs). A lazy source's finished calls move to a weak map: once
        # nobody else holds a call it cannot be listed again, and memory stays O(cap).
        self.nodes: dict[SkillCall[Any], CallNode] = {}
        # Keyed by weak references whose callback is the map's own pop (no Python code
        # runs when a call is dropped).
        self.ended: dict[weakref.ref[SkillCall[Any]], SkillResult] | None = None if spec.sized else {}
        self.ready: deque[CallNode] = deque()
        self.unstarted: dict[CallNode, None] = {}  # insertion-ordered set
        self.open = 0  # nodes registered and without a result
        self.source_done = False
        # None until the deadline; then the DeadlineExceeded that ends unstarted calls.
        self.expired: DeadlineExceeded | None = None
        self.closed = False
        self.roots: list[int] = []
        self.iterator: Iterator[Any] | None = None
        self.feeder: Feeder | None = None
        self.pump: asyncio.Task[None] | None = None
        self.pump_wakeup: asyncio.Future[None] | None = None
        self.batch: asyncio.Handle | None = None
        self.batch_read = 0  # calls read from an unbounded iterable since the last batch
        self.deadline: asyncio.TimerHandle | None = None
        self.abandoned = Abandoned(spec.cancel_grace)
        self.workers = LoopWorkers(loop)
        self.lanes: dict[float, TimeoutLane] = {}
        # The run's own instrument objects (Instrument.for_run), bound by start(); a run
        # without instruments keeps these empty and pays nothing.
        self.instruments: tuple[Instrument, ...] = ()
        self._listen(())
        # Those of them that give each attempt a context of its own (Tracing); usually none.
        self.contextual: tuple[Instrument, ...] = ()
        self.recorder: Recorder | None = None  # with run(journal=...): this run's session
        # key -> the person's decision on a call that needs approval, taken as it is used
        # (what is left at the end named no call of the run). None: no decisions given.
        self.decisions: dict[str, Decision] | None = dict(spec.decisions) if spec.decisions else None
        # Backpressure for a consumer that pulls (a channel: async iteration): with
        # max_concurrency results waiting to be taken, no new call starts, so a slow
        # consumer keeps memory O(max_concurrency) too. The channel calls on_take() for each
        # result taken. 0: none (an Rx observer is pushed to).
        self.buffer_limit = 0
        if spec.max_concurrency is not None and isinstance(observer, ObserverChannel):
            self.buffer_limit = spec.max_concurrency
            observer.on_take = self.on_take
        self.unread = 0  # results passed on and not taken yet
        self.throttled = False
        self.merge: BoundedMerge[SkillResult] = BoundedMerge(
            self, spec.max_concurrency, None, self._pull
        )

    # -- instruments -----------------------------------------------------------------------

    def _bind(self, instruments: tuple[Instrument, ...]) -> None:
        """Listen to what each instrument gives this run: an instrument shared by runs at
        once keeps each run's state apart (or refuses, raising) in ``for_run()``."""
        bound = tuple(instrument.for_run() for instrument in instruments)
        for instrument in bound:
            if not isinstance(instrument, Instrument):
                raise TypeError(f"for_run() must return an Instrument, got {instrument!r}")
        self.instruments = bound
        self._listen(bound)
        self.contextual = contextual(bound)

    def _listen(self, instruments: tuple[Instrument, ...]) -> None:
        self.hooks = listeners(instruments) if instruments else _NO_HOOKS  # hook -> methods
        # Those called for every call, looked up once.
        self.started_hooks = self.hooks["call_started"]
        self.finished_hooks = self.hooks["call_finished"]

    def emit(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on every instrument that has it; an exception from one ends the run."""
        for listener in self.hooks[hook]:
            try:
                listener(*args)
            except Exception as exc:
                self.fail(exc)
                return

    def emit_phase(self, node: CallNode, phase: Phase) -> None:
        self.emit("call_phase", node.call, node.index, phase, self.loop.time() - self.t0)

    def fail(self, exc: Exception) -> None:
        """End the run with ``exc`` (after the results already emitted)."""
        if not self.closed:
            self.source_done = True
            self.merge.error(exc)

    # -- lifecycle -------------------------------------------------------------------------

    async def astart(self) -> None:
        """:meth:`start`, with the recorder opened first without blocking the loop (a
        journal claims and loads in a thread: a locked file holds up this run only)."""
        spec = self.spec
        if spec.journal is not None:
            if spec.instruments:  # first: binding starts nothing, so a refusal leaves nothing open
                self._bind(spec.instruments)
            recorder = await spec.journal.aopen(self)
            if self.closed:  # disposed while it opened
                recorder.close()
                return
            self.recorder = recorder
        self.start()

    def start(self) -> None:
        exit_if_importing_main()  # a process skill's worker, importing a guard-less script
        spec = self.spec
        if spec.instruments and not self.instruments:  # first: binding starts nothing
            self._bind(spec.instruments)
        if spec.journal is not None and self.recorder is None:
            # First: a run id in use is refused before anything runs (astart() opens it
            # off the loop; this opens it here).
            self.recorder = spec.journal.open(self)
        self.t0 = self.loop.time()
        if self.instruments:
            self.emit("run_started", len(spec.calls) if spec.sized else None)
        if spec.timeout is not None:
            self.deadline = self.loop.call_later(spec.timeout, self._on_deadline)
        if spec.feeder is not None:
            self.feeder = spec.feeder()
            self.feeder.attach(self)
        elif spec.is_async:
            self.pump = self.loop.create_task(self._pump(spec.calls))
            _PUMPS.add(self.pump)
            self.pump.add_done_callback(_PUMPS.discard)
        else:
            self.iterator = iter(spec.calls)
        self.merge.fill()
        self._maybe_complete()

    def dispose(self, error: BaseException | None = None) -> None:
        """Cancel everything in flight; emit nothing more."""
        if self.closed:
            return
        self.closed = True
        self.source_done = True
        if self.deadline is not None:
            self.deadline.cancel()
        if self.batch is not None:
            self.batch.cancel()
        self.merge.dispose()
        self._close_workers()
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
            self.abandoned.add(self.pump, "the source")
        self._close_source()
        if self.recorder is not None:
            self.recorder.close()
        if self.instruments:
            self._finished(error)

    def _close_workers(self) -> None:
        self.workers.close()
        for lane in self.lanes.values():
            lane.close()

    def _finished(self, error: BaseException | None) -> None:
        instruments, self.instruments = self.instruments, ()
        self._listen(())
        for instrument in instruments:
            with contextlib.suppress(Exception):  # the run is over: nowhere left to raise
                instrument.run_finished(self.loop.time() - self.t0, error)

    def _close_source(self) -> None:
        """Close a generator source the run will not read again, so that its ``finally``
        runs now (an async source is closed by the pump)."""
        iterator, self.iterator = self.iterator, None
        if inspect.isgenerator(iterator):
            with contextlib.suppress(Exception):
                iterator.close()

    async def wait_quiet(self) -> None:
        """Wait until no task this run started is still running, at most the grace: its
        abandoned work, its source's pump and its loop workers (a parked worker ends a
        turn of the loop after the run closes), so nothing of a run that ended is pending."""
        await self.abandoned.wait(self.loop, self.pump, self.workers.alive)

    # -- downstream: the merge emits into the run ------------------------------------------

    def on_next(self, result: SkillResult) -> None:
        """Pass a finished ``result`` to the consumer (and the feeder)."""
        if self.closed:
            return
        self.open -= 1
        if self.finished_hooks:
            self.emit("call_finished", result)
            if self.closed:
                return
        self.unread += 1
        self.observer.on_next(result)
        feeder = self.feeder
        if feeder is not None:
            try:
                feeder.on_result(result)
            except Exception as exc:
                self.fail(exc)
                return
        if self.source_done and self.open == 0:
            self._maybe_complete()

    # A recorded run's results reach the consumer through this name, once kept.
    deliver = on_next

    def on_error(self, error: Exception) -> None:
        if self.closed:
            return
        self.dispose(error)
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self._complete()

    def _maybe_complete(self) -> None:
        # Every registered call has its result and no more will come: the stream ends,
        # even while an abandoned thread still holds its slot in the merge.
        if self.source_done and self.open == 0 and not self.closed and not self.unstarted:
            self._complete()

    def _complete(self) -> None:
        if self.closed:
            return
        if self.decisions:
            unused = ", ".join(map(repr, self.decisions))
            self.decisions = None
            self.on_error(ValueError(
                f"decisions for {unused}: no call of this run has that key, or none that "
                "waits for a decision (results.pending() lists the ones that do)"
            ))
            return
        self.closed = True
        if self.deadline is not None:
            self.deadline.cancel()
        if self.batch is not None:
            self.batch.cancel()
        self.merge.dispose()  # only slots held by abandoned threads are left
        self._close_workers()
        self._close_source()  # left unread at the deadline
        if self.recorder is not None:
            self.recorder.close()
        if self.instruments:
            self._finished(None)
        self.observer.on_completed()

    # -- upstream: feeding the merge -------------------------------------------------------

    def on_take(self) -> None:
        """The consumer took a result: resume if backpressure had paused the run."""
        self.unread -= 1
        if self.throttled and self.unread < self.buffer_limit:
            self.throttled = False
            if not self.closed:
                self.merge.fill()

    def wake(self) -> None:
        """A feeder has calls again: fill the free slots."""
        if not self.closed and not self.expired:
            self.merge.fill()
            self._maybe_complete()

    def feeder_done(self) -> None:
        """The feeder will give no more calls."""
        self.source_done = True
        if not self.closed:
            self._maybe_complete()

    def _pull(self) -> CallNode | None:
        if self.expired:
            # Past the deadline nothing starts, not even a call that became ready while
            # every slot was busy: the deadline reports it as skipped.
            return None
        limit = self.buffer_limit
        if limit and self.unread >= limit:
            self.throttled = True
            return None
        iterator = self.iterator
        unbounded = iterator is not None and self.spec.max_concurrency is None
        ready = self.ready
        while True:
            if ready:
                node = ready.popleft()
                del self.unstarted[node]
                if node.call.options.needs_approval is not False and self._held(node):
                    if self.closed:
                        return None
                    continue  # ended without running (pending, rejected): the next one
                node.state = NodeState.STARTED
                return node
            if self.feeder is not None:
                if self.source_done:
                    return None
                call = self.feeder.pull()
                if call is None or not self._take(call):
                    return None
                continue
            if self.source_done or iterator is None:
                if self.pump_wakeup is not None and not self.pump_wakeup.done():
                    self.pump_wakeup.set_result(None)
                return None
            if unbounded:
                if self.batch_read >= UNBOUNDED_BATCH:
                    # Give the loop back (results, the deadline, the consumer), then read on.
                    if self.batch is None:
                        self.batch = self.loop.call_soon(self._next_batch)
                    return None
                self.batch_read += 1
            try:
                item = next(iterator)
            except StopIteration:
                self.source_done = True
                self._maybe_complete()
                return None
            except Exception as exc:  # the source itself failed: that ends the run
                self.fail(exc)
                return None
            if type(item) is not SkillCall or self.spec.track_roots:
                if not self._take(item):
                    return None
                continue
            self.taken += 1  # _take(), inlined for the common case
            fresh = self._fresh(item)
            if fresh is None:
                try:
                    self._register(item)
                except ValueError as exc:  # a dependency cycle
                    self.fail(exc)
                    return None
                continue
            # Started at once, never queued (the ready queue is empty here).
            if fresh.call.options.needs_approval is not False and self._held(fresh):
                if self.closed:
                    return None
                continue
            fresh.state = NodeState.STARTED
            return fresh

    # -- calls that need a person's approval ---------------------------------------------

    def _held(self, node: CallNode) -> bool:
        """Apply the approval rule to ``node``, about to start: whether it ended instead
        (``pending`` without a decision, ``error`` when rejected or when its predicate
        raised). An approval with edited arguments swaps in the edited call."""
        call = node.call
        need = call.options.needs_approval
        decisions = self.decisions
        decision = decisions.pop(call.key, None) if decisions else None
        args, kwargs = node.arguments()
        if need is not True:
            try:
                need = bool(need(*args, **kwargs))
            except Exception as exc:  # the predicate's own failure is its call's
                self._end_unrun(node, Status.ERROR, None, ErrorInfo.of(exc), record=True)
                return True
            if not need:
                if decision is not None:
                    self.fail(ValueError(
                        f"decisions[{call.key!r}]: call {call!r} does not need approval "
                        f"(its needs_approval predicate returned false); give decisions "
                        f"only for the calls results.pending() lists"
                    ))
                    return True
                return False
        if decision is None:
            self._end_unrun(node, Status.PENDING, arguments_of(call, args, kwargs), None, record=False)
            return True
        if isinstance(decision, Approve):
            if decision.arguments is not None:
                try:
                    node.call = edited_call(call, args, kwargs, decision.arguments)
                except (TypeError, ValueError) as exc:
                    self.fail(exc)
                    return True
                node.fill = None
            return False
        assert isinstance(decision, Reject)  # check_decisions() let nothing else in
        self._end_unrun(node, Status.ERROR, None, ErrorInfo.of(Rejected(decision.reason)), record=True)
        return True

    def _end_unrun(
        self, node: CallNode, status: Status, value: Any, error: ErrorInfo | None, *, record: bool
    ) -> None:
        """End ``node`` with a result of a call that did not run, then its dependents.
        A pending result is not journaled (a later run decides it); the others are."""
        call = node.call
        result = new_result(
            call.skill.options.name, call.key, node.index, status, value, error, False, 0,
            None, self.loop.time() - self.t0,
        )
        node.result = result
        node.state = NodeState.DONE
        if self.ended is not None:
            self._forget(node, result)
        if record:
            self.on_next(result)
        else:
            self.deliver(result)
        if self.closed:
            return
        # As resolved() does, without feeding the merge: this runs inside its pull, which
        # takes the dependents that became ready (a skipped call's fallback is a value).
        dependents, node.dependents = node.dependents, ()
        for d in dependents:
            if d.state is NodeState.WAITING:
                self._skip(d, self.expired or _dependency_failed(node))

    def _forget(self, node: CallNode, result: SkillResult) -> None:
        """A lazy source's call has its result: the run keeps nothing of it but a weak
        entry (found again only if someone holds the call and lists it again)."""
        call = node.call
        self.nodes.pop(call, None)
        ended = self.ended
        assert ended is not None
        # A call is forgotten once per run (a call listed again is found here, and not
        # forgotten again), so the entry is there for its callback to pop.
        ended[_ref(call, ended.pop)] = result

    def _next_batch(self) -> None:
        self.batch = None
        self.batch_read = 0
        if not self.closed:
            self.merge.fill()
            self._maybe_complete()

    def _take(self, item: Any) -> bool:
        position = self.taken
        self.taken += 1
        if not isinstance(item, SkillCall):
            self.fail(TypeError(f"run() takes SkillCalls; item {position} of the source is {item!r}"))
            return False
        try:
            node = self._register(item)
        except ValueError as exc:  # a dependency cycle
            self.fail(exc)
            return False
        if self.spec.track_roots:
            self.roots.append(node.index)
        return True

    async def _pump(self, source: AsyncIterable[SkillCall[Any]]) -> None:
        """Take calls from an async source, one whenever a slot is free."""
        iterator = aiter(source)
        merge = self.merge
        try:
            while not self.source_done:
                while not (merge.has_free_slot() and not self.ready):
                    self.pump_wakeup = self.loop.create_future()
                    await self.pump_wakeup
                    if self.source_done:
                        return
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    break
                if self.source_done or not self._take(item):
                    return
                merge.fill()
        except Exception as exc:
            self.fail(exc)
            return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        self.source_done = True
        self._maybe_complete()

    # -- the dependency graph --------------------------------------------------------------

    def _fresh(self, call: SkillCall[Any]) -> CallNode | None:
        """A node for ``call``, ready and not queued, when the call is new to this run,
        has no inputs (its arguments are plain scalars) and waits for nothing, and the
        run keeps no journal: most calls. Else ``None`` (:meth:`_register` then looks
        at it in full)."""
        if call.after or call in self.nodes or self.recorder is not None:
            return None
        ended = self.ended
        # (A call nobody ever took a weak reference to was never forgotten: no lookup.)
        if ended and _weakrefs(call) and _ref(call) in ended:
            return None
        if not call._opaque:
            for a in call.args:
                if type(a) not in _SCALARS:
                    return None
            if call.kwargs:
                for a in call.kwargs.values():
                    if type(a) not in _SCALARS:
                        return None
        node = CallNode(self, call, self.next_index)
        self.next_index += 1
        self.nodes[call] = node
        self.open += 1
        node.state = NodeState.READY
        return node

    def _register(self, call: SkillCall[Any], path: list[SkillCall[Any]] | None = None) -> CallNode:
        """The node of ``call`` in this run, made (with its dependencies') if it is new.
        ``path``: the calls whose inputs are being registered (to name a cycle)."""
        node = self._fresh(call)
        if node is not None:
            self.unstarted[node] = None
            self.ready.append(node)
            return node
        existing = self.nodes.get(call)
        if existing is not None:
            if existing.state is NodeState.REGISTERING:  # we came back round
                assert path is not None
                cycle = path[path.index(call) :] + [call]
                raise ValueError("dependency cycle: " + " -> ".join(c.key for c in cycle))
            return existing
        ended = self.ended
        if ended:
            result = ended.get(_ref(call))
            if result is not None:  # finished and forgotten: it does not run again
                done = CallNode(self, call, result.index)
                done.state = NodeState.SKIPPED if result.status is Status.SKIPPED else NodeState.DONE
                done.result = result
                return done
        return self._register_inputs(call, path)

    def _register_inputs(self, call: SkillCall[Any], path: list[SkillCall[Any]] | None) -> CallNode:
        """:meth:`_register` for a new call that :meth:`_fresh` did not take: its
        arguments may hold calls, it may wait for others (``after``), or the run's journal
        may end it with a kept result."""
        nodes = self.nodes
        found: list[SkillCall[Any]] | None = None
        fill_args: list[int] | None = None
        fill_kwargs: list[str] | None = None
        if not call._opaque:
            i = 0
            for a in call.args:
                # Most arguments are plain scalars: skip them without a call.
                if type(a) not in _SCALARS and holds_calls(a):
                    if found is None:
                        found = []
                    if fill_args is None:
                        fill_args = []
                    fill_args.append(i)
                    calls_in(a, found)
                i += 1
            if call.kwargs:
                for k, v in call.kwargs.items():
                    if type(v) not in _SCALARS and holds_calls(v):
                        if found is None:
                            found = []
                        if fill_kwargs is None:
                            fill_kwargs = []
                        fill_kwargs.append(k)
                        calls_in(v, found)
        if call.after:
            found = [*(found or ()), *call.after]
        node = CallNode(self, call, -1)
        node.pending = 0  # (dependencies without a result yet: only a node that has some)
        deps: list[CallNode] | None = None
        if found:
            deps = []
            if path is None:
                path = []
            nodes[call] = node
            path.append(call)
            # By the calls the arguments hold (a node approved with edited arguments runs
            # a copy of its call).
            inputs: dict[SkillCall[Any], CallNode] = {}
            try:
                for dep_call in found:
                    dep = self._register(dep_call, path)
                    inputs[dep_call] = dep
                    if dep not in deps:
                        deps.append(dep)
            except ValueError:
                del nodes[call]
                raise
            path.pop()
            if fill_args or fill_kwargs:
                node.fill = (tuple(fill_args or ()), tuple(fill_kwargs or ()), inputs)
        node.index = self.next_index
        self.next_index += 1
        nodes[call] = node
        if self.recorder is not None and self.recorder.replay(node):
            if self.decisions:  # decided in an earlier run: its outcome is in the journal
                self.decisions.pop(call.key, None)
            return node
        self.unstarted[node] = None
        self.open += 1
        if not deps:
            node.state = NodeState.READY
            self.ready.append(node)
            return node
        node.state = NodeState.WAITING
        node.deps = tuple(deps)
        failed: CallNode | None = None
        for dep in deps:
            if dep.state in _ENDED:
                if not dep.result.has_value:  # type: ignore[union-attr]
                    failed = dep
            else:
                node.pending += 1
                dependents = dep.dependents
                if isinstance(dependents, list):
                    dependents.append(node)
                else:
                    dep.dependents = [node]
        if failed is not None:
            self._skip(node, _dependency_failed(failed))
        elif node.pending == 0:
            node.state = NodeState.READY
            self.ready.append(node)
        return node

    def replayed(self, node: CallNode, result: SkillResult) -> None:
        """End ``node`` with ``result`` from the journal, without running it."""
        node.result = result
        node.state = NodeState.DONE
        self.open += 1
        if self.ended is not None:
            self._forget(node, result)
        self.deliver(result)

    def skipped(self, call: SkillCall[Any], exc: Exception) -> None:
        """Report ``call`` as skipped without running it (a feeder's untaken branch)."""
        if self.closed:
            return
        self._take(call)
        node = self.nodes.get(call)
        if node is not None and node.state not in _ENDED:
            self._skip(node, exc)
        self._maybe_complete()

    def resolved(self, node: CallNode) -> None:
        """``node`` has its result: release or skip its dependents."""
        dependents, node.dependents = node.dependents, ()
        has_value = node.result.has_value  # type: ignore[union-attr]
        woke = False
        for d in dependents:
            if d.state is not NodeState.WAITING:
                continue
            if has_value:
                d.pending -= 1
                if d.pending == 0:
                    d.state = NodeState.READY
                    self.ready.append(d)
                    woke = True
            elif self._skip(d, self.expired or _dependency_failed(node)):
                woke = True
        if not self.expired and woke:
            self.merge.fill()
        self._maybe_complete()

    def _skip(self, node: CallNode, exc: Exception) -> bool:
        """End ``node`` as ``skipped`` (with its fallback, if any), then its dependents.

        Returns whether a dependent became ready (a skipped call's fallback is a value).
        Feeding the merge is left to the caller, which may be inside the merge's pull.
        An async fallback is not awaited for a call that never ran.
        """
        woke = False
        stack = [(node, exc)]
        while stack:
            n, e = stack.pop()
            if n.state in _ENDED:
                continue
            if n.state is NodeState.READY:
                with contextlib.suppress(ValueError):
                    self.ready.remove(n)
            self.unstarted.pop(n, None)
            n.state = NodeState.SKIPPED
            if self.decisions:  # its decision waits for the run that runs its dependencies
                self.decisions.pop(n.call.key, None)
            value = None
            fallback_used = False
            fallback = n.call.options.fallback
            if fallback is not NO_FALLBACK:
                try:
                    value = apply_fallback(fallback, e)
                except Exception as fallback_exc:
                    self.fail(fallback_exc)
                    return False
                if inspect.isawaitable(value):
                    with contextlib.suppress(Exception):
                        value.close()  # type: ignore[attr-defined]
                    value = None
                else:
                    fallback_used = True
            n.result = new_result(
                name=n.call.skill.options.name,
                key=n.call.key,
                index=n.index,
                status=Status.SKIPPED,
                value=value,
                error=ErrorInfo.of(e),
                fallback_used=fallback_used,
                attempts=0,
                started_at=None,
                finished_at=self.loop.time() - self.t0,
                attempt_spans=(),
            )
            self.open -= 1
            if self.ended is not None:
                self._forget(n, n.result)
            if self.instruments:
                self.emit("call_skipped", n.result)
                if self.closed:
                    return False
            self.unread += 1
            self.observer.on_next(n.result)
            if self.feeder is not None:
                try:
                    self.feeder.on_result(n.result)
                except Exception as feeder_exc:
                    self.fail(feeder_exc)
                    return False
            dependents, n.dependents = n.dependents, ()
            for d in reversed(dependents):
                if fallback_used and not self.expired:
                    d.pending -= 1
                    if d.pending == 0 and d.state is NodeState.WAITING:
                        d.state = NodeState.READY
                        self.ready.append(d)
                        woke = True
                else:
                    stack.append((d, self.expired or _dependency_failed(n)))
        return woke

    # -- the deadline ----------------------------------------------------------------------

    def _on_deadline(self) -> None:
        self.deadline = None
        if self.closed:
            return
        exc = deadline_exceeded(self.spec.timeout)
        self.expired = exc
        # source_done is set last: until the unstarted calls are reported, the results
        # of the expired ones must not complete the stream.
        if self.instruments:
            self.emit("run_deadline", self.loop.time() - self.t0)
        for inner in list(self.merge.inners):
            if isinstance(inner, CallNode):
                inner.expire(exc)
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
            self.abandoned.add(self.pump, "the source")
        # A feeder's calls not taken yet are reported, as are a sized source's (it is
        # already in memory).
        if self.feeder is not None:
            while not self.closed and (call := self.feeder.pull()) is not None:
                with contextlib.suppress(ValueError):
                    self._register(call)
        # A sized source is already in memory: its calls not taken yet are reported too.
        if self.spec.sized and self.iterator is not None:
            for item in self.iterator:
                if isinstance(item, SkillCall):
                    with contextlib.suppress(ValueError):
                        self._register(item)
        for node in sorted(self.unstarted, key=_node_index):
            self._skip(node, exc)
        self.source_done = True
        self._maybe_complete()


class RecordedRun(Run):
    """A run whose results are kept by its recorder before the consumer sees them."""

    def on_next(self, result: SkillResult) -> None:
        # Held until kept: the recorder calls deliver() once it is.
        if not self.closed:
            self.recorder.write(result)  # type: ignore[union-attr]  # opened in start()


def _node_index(node: CallNode) -> int:
    return node.index


def _dependency_failed(dep: CallNode) -> DependencyFailed:
    r = dep.result
    status = r.status.value if r is not None else "without a value"
    return dependency_failed(dep.call.key, status, dep.index)
