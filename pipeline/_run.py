"""The run engine.

Execution model
---------------
A run takes SkillCalls from its source (a call, an iterable, or an async iterable) and
turns each into a node. A node is a cold Observable of one :class:`SkillResult`: on
subscription it makes attempts (each a fresh task or executor job, bounded by the
skill's timeout, followed by a backoff wait on a loop timer when the policy says retry)
and finally emits one result, catching the skill's exception into it. No exception of a
skill ever reaches the merge, so one failure never disposes its siblings.

Nodes are subscribed through one :class:`operators.BoundedMerge` in pull mode: whenever a
slot frees, the merge asks the run for the next node. The run hands out nodes whose
dependencies all have values (a DAG runs start-when-ready, with no level barriers), and
only when none is ready does it take the next call from the source, so a generator of a
million calls is held in memory ``max_concurrency`` at a time.

Every callback runs on the event loop thread: tasks complete there, executor jobs are
wrapped in asyncio futures, timers are loop timers. The run's tasks are owned by the run
object, never by a generator frame, and leaving a stream early disposes the run:
in-flight attempts are cancelled and awaited (or, after a bare ``break``, held until they
end). The run's ``timeout`` is a deadline: in-flight calls end as ``timeout``, calls not
started end as ``skipped``, and the stream completes with everything that finished before.

A skill that catches its cancellation and keeps running cannot hold the stream: closing
waits for cancelled tasks at most ``CANCEL_GRACE`` seconds, then logs a warning (logger
``skillstream``) naming them and leaves them running, still referenced until they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.observer import Observer

from operators._channel import ObserverChannel
from operators._merge_bounded import BoundedMerge

from ._errors import DeadlineExceeded, DependencyFailed, SkillError, SkillTimeout
from ._executors import start_process, start_thread
from ._result import ErrorInfo, Results, SkillResult, Status, new_result
from ._skill import NO_FALLBACK, SkillCall

__all__ = ["ResultStream", "gather", "run"]

A = TypeVar("A")

# Node states.
_WAITING, _READY, _STARTED, _DONE, _SKIPPED = range(5)

CANCEL_GRACE = 1.0
"""Seconds closing a run waits for its cancelled tasks to end. A task still running after
that swallowed its cancellation; the run stops waiting for it (and logs a warning)."""

_log = logging.getLogger("skillstream")


# Futures the run gave up on (timed out, or cancelled by a dropped stream) stay referenced
# until they end: the loop holds tasks weakly, and a pending task that is garbage
# collected logs "Task was destroyed but it is pending".
_ABANDONED: set[asyncio.Future[Any]] = set()


def _reap(future: asyncio.Future[Any]) -> None:
    _ABANDONED.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved, so a late failure is not logged as never retrieved


def _abandon(future: asyncio.Future[Any], owner: dict[asyncio.Future[Any], object], label: object) -> None:
    """Cancel ``future`` and keep it referenced (globally, and by its run with a ``label``
    for the warning about calls that ignore their cancellation) until it ends."""
    if not future.done():
        future.cancel()
    if not future.done():
        _ABANDONED.add(future)
        owner[future] = label
        future.add_done_callback(_reap)
        future.add_done_callback(lambda f: owner.pop(f, None))
    elif not future.cancelled():
        future.exception()


# -- one call ------------------------------------------------------------------------------


class _Node(Observable[SkillResult]):
    """One call in a run: its per-call source and its place in the dependency graph."""

    def __init__(self, run: _Run, call: SkillCall[Any], index: int) -> None:  # noqa: D107
        # Observable.__init__ only builds a lock that nothing here takes; skipping it keeps
        # the per-call cost down (this is the hot path of a run).
        self.owner = run
        self.call = call
        self.index = index
        self.state = _WAITING
        self.pending = 0
        self.deps: tuple[_Node, ...] = ()
        self.dependents: list[_Node] = []
        self.result: SkillResult | None = None

    def subscribe(
        self,
        on_next: Any = None,
        on_error: Any = None,
        on_completed: Any = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        observer: abc.ObserverBase[SkillResult] = (
            on_next if isinstance(on_next, abc.ObserverBase) else Observer(on_next, on_error, on_completed)
        )
        runner = _Runner(self, observer)
        runner.start()
        return runner

    def arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        call = self.call
        if not self.deps:
            return call.args, call.kwargs
        return (
            tuple(_substitute(a) for a in call.args),
            {k: _substitute(v) for k, v in call.kwargs.items()},
        )


def _substitute(value: Any) -> Any:
    """``value`` with its calls replaced by their values, as deep as ``_nested_calls`` looks."""
    if isinstance(value, SkillCall):
        return value._node.result.value
    if isinstance(value, list):
        return [_value_of(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_value_of(v) for v in value)
    if isinstance(value, dict):
        return {k: _value_of(v) for k, v in value.items()}
    return value


def _value_of(item: Any) -> Any:
    return item._node.result.value if isinstance(item, SkillCall) else item


def _nested_calls(value: Any, out: list[SkillCall[Any]]) -> None:
    """Collect the calls ``value`` refers to: itself, or the items of a list, tuple or dict.

    One level, as the contract says: deeper data is data (scanning it would cost time in
    proportion to its size on every call, and could mistake stored calls for inputs).
    """
    if isinstance(value, SkillCall):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        out.extend(v for v in value if isinstance(v, SkillCall))
    elif isinstance(value, dict):
        out.extend(v for v in value.values() if isinstance(v, SkillCall))


async def _collect_items(agen: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in agen]


class _Runner(abc.DisposableBase):
    """One subscription to a node: the attempts, their timers, and the one result."""

    __slots__ = ("node", "observer", "attempts", "future", "timer", "done", "started")

    def __init__(self, node: _Node, observer: abc.ObserverBase[SkillResult]) -> None:
        self.node = node
        self.observer = observer
        self.attempts = 0
        self.future: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False
        self.started = 0.0

    def start(self) -> None:
        self.started = self.node.owner.loop.time()
        self._attempt()

    def _attempt(self) -> None:
        self.timer = None
        if self.done:
            return
        self.attempts += 1
        node = self.node
        run = node.owner
        loop = run.loop
        skill = node.call.skill
        try:
            args, kwargs = node.arguments()
            kind = skill.kind
            if kind == "async":
                future: asyncio.Future[Any] = loop.create_task(skill.fn(*args, **kwargs))
            elif kind == "thread":
                future = start_thread(loop, skill.fn, args, kwargs)
            elif kind == "process":
                future = start_process(loop, skill, args, kwargs)
            else:
                future = loop.create_task(_collect_items(skill.fn(*args, **kwargs)))
        except Exception as exc:  # e.g. wrong arguments for the function: the call fails
            self._failed(exc)
            return
        self.future = future
        future.add_done_callback(self._on_done)
        timeout = node.call.options.timeout
        if timeout is not None:
            self.timer = loop.call_later(timeout, self._on_timeout)

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if future is not self.future:
            return
        self.future = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if future.cancelled():
            # Not cancelled by the run (it forgets the future first): the skill cancelled
            # itself, or someone outside cancelled its task.
            self._failed(_ExternalCancel("the skill's task was cancelled outside the run"))
            return
        exc = future.exception()
        if exc is None:
            self._finish(Status.SUCCESS, future.result(), None)
        elif isinstance(exc, Exception):
            self._failed(exc)
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc  # not a skill failure: out of the loop, as asyncio does with tasks
        else:
            # Another BaseException is not a skill failure either, but raised here it
            # would only be logged by the loop: it ends the run and reaches the consumer.
            self.done = True
            self.observer.on_error(exc)  # type: ignore[arg-type]

    def _on_timeout(self) -> None:
        self.timer = None
        future, self.future = self.future, None
        if future is not None:
            _abandon(future, self.node.owner.abandoned, self.node.call)
        timeout = self.node.call.options.timeout
        self._failed(
            SkillTimeout(f"attempt {self.attempts} exceeded the timeout of {timeout:g} s")
        )

    def _failed(self, exc: Exception) -> None:
        node = self.node
        retry = node.call.options.retry
        try:
            again = (
                retry is not None
                and self.attempts < retry.attempts
                and not node.owner.expired
                and retry.matches(exc)
            )
        except Exception as predicate_exc:  # the user's Retry(on=...) failed: end the run
            self.done = True
            self.observer.on_error(predicate_exc)
            return
        if again:
            assert retry is not None
            self.timer = node.owner.loop.call_later(retry.delay(self.attempts), self._attempt)
            return
        status = Status.TIMEOUT if isinstance(exc, (SkillTimeout, DeadlineExceeded)) else Status.ERROR
        self._finish(status, None, exc)

    def _finish(self, status: Status, value: Any, exc: BaseException | None) -> None:
        self.done = True
        node = self.node
        run = node.owner
        fallback_used = False
        error = None
        if exc is not None:
            error = ErrorInfo.of(exc)
            fallback = node.call.options.fallback
            if fallback is not NO_FALLBACK:
                try:
                    value = fallback(exc) if callable(fallback) else fallback
                except Exception as fallback_exc:  # the user's fallback failed: end the run
                    self.observer.on_error(fallback_exc)
                    return
                fallback_used = True
        t0 = run.t0
        result = new_result(
            name=node.call.skill.options.name,
            key=node.call.key,
            index=node.index,
            status=status,
            value=value,
            error=error,
            fallback_used=fallback_used,
            attempts=self.attempts,
            started_at=self.started - t0,
            finished_at=run.loop.time() - t0,
        )
        node.result = result
        node.state = _DONE
        self.observer.on_next(result)
        if node.dependents:
            run.resolved(node)
        self.observer.on_completed()

    def expire(self, exc: DeadlineExceeded) -> None:
        """The run's deadline: end now as ``timeout``."""
        if self.done:
            return
        self._cancel()
        self._finish(Status.TIMEOUT, None, exc)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        future, self.future = self.future, None
        if future is not None:
            _abandon(future, self.node.owner.abandoned, self.node.call)

    def dispose(self) -> None:
        if not self.done:
            self.done = True
            self._cancel()


class _ExternalCancel(Exception):
    """Stands in the result of a skill whose task was cancelled from outside the run."""


# -- one run -------------------------------------------------------------------------------


class _Spec:
    """What ``run()`` was given, validated; every subscription starts a fresh _Run from it."""

    __slots__ = ("calls", "sized", "is_async", "max_concurrency", "timeout", "track_roots")

    def __init__(
        self,
        calls: Any,
        sized: bool,
        is_async: bool,
        max_concurrency: int | None,
        timeout: float | None,
        track_roots: bool,
    ) -> None:
        self.calls = calls
        self.sized = sized
        self.is_async = is_async
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.track_roots = track_roots


class _Run(abc.ObserverBase[SkillResult]):
    """The state of one run; it is the bounded merge's observer and feeds it nodes."""

    def __init__(
        self, spec: _Spec, observer: abc.ObserverBase[SkillResult], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.spec = spec
        self.observer = observer
        self.loop = loop
        self.t0 = 0.0
        self.taken = 0
        self.next_index = 0
        self.ready: deque[_Node] = deque()
        self.unstarted: dict[_Node, None] = {}  # insertion-ordered set
        self.source_done = False
        # None until the deadline; then the DeadlineExceeded that ends unstarted calls.
        self.expired: DeadlineExceeded | None = None
        self.closed = False
        self.roots: list[int] = []
        self.iterator: Iterator[Any] | None = None
        self.pump: asyncio.Task[None] | None = None
        self.pump_wakeup: asyncio.Future[None] | None = None
        self.deadline: asyncio.TimerHandle | None = None
        # Cancelled, not yet ended -> what they ran (a call, or "the source"); the call's
        # repr is taken only for the warning, as its arguments may be large.
        self.abandoned: dict[asyncio.Future[Any], object] = {}
        self.quiet_by: float | None = None  # when closing stops waiting for them
        self.warned = False
        # Backpressure for async iteration: with this many results waiting to be consumed,
        # no new call starts, so a slow consumer keeps memory O(max_concurrency) too.
        self.buffer: ObserverChannel[SkillResult] | None = None
        self.buffer_limit = spec.max_concurrency or 0
        self.throttled = False
        self.merge: BoundedMerge[SkillResult] = BoundedMerge(
            self, spec.max_concurrency, None, self._pull
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.t0 = self.loop.time()
        spec = self.spec
        if spec.timeout is not None:
            self.deadline = self.loop.call_later(spec.timeout, self._on_deadline)
        if spec.is_async:
            self.pump = self.loop.create_task(self._pump(spec.calls))
        else:
            self.iterator = iter(spec.calls)
        self.merge.fill()

    def dispose(self) -> None:
        """Cancel everything in flight; emit nothing more."""
        if self.closed:
            return
        self.closed = True
        self.source_done = True
        if self.deadline is not None:
            self.deadline.cancel()
        self.merge.dispose()
        if self.pump is not None and not self.pump.done():
            _abandon(self.pump, self.abandoned, "the source")
        self._close_source()

    def _close_source(self) -> None:
        """Close a generator source the run will not read again, so that its ``finally``
        runs now (an async source is closed by the pump)."""
        iterator, self.iterator = self.iterator, None
        if inspect.isgenerator(iterator):
            with contextlib.suppress(Exception):
                iterator.close()

    async def wait_quiet(self) -> None:
        """Wait until no task this run started is still running, or until
        ``CANCEL_GRACE`` seconds after the first call, whichever comes first."""
        loop = self.loop
        if self.quiet_by is None:
            self.quiet_by = loop.time() + CANCEL_GRACE
        while True:
            pending = [f for f in self.abandoned if not f.done()]
            if self.pump is not None and not self.pump.done() and self.pump not in self.abandoned:
                pending.append(self.pump)
            if not pending:
                return
            left = self.quiet_by - loop.time()
            if left <= 0:
                if not self.warned:
                    self.warned = True
                    _log.warning(
                        "%d call%s ignored %s cancellation for %g s; the run no longer waits "
                        "for %s: %s",
                        len(pending),
                        "" if len(pending) == 1 else "s",
                        "its" if len(pending) == 1 else "their",
                        CANCEL_GRACE,
                        "it" if len(pending) == 1 else "them",
                        ", ".join(sorted(_label(self.abandoned.get(f, "the source")) for f in pending)),
                    )
                return
            await asyncio.wait(pending, timeout=left)

    # -- downstream: the merge emits into the run ------------------------------------------

    def on_next(self, result: SkillResult) -> None:
        self.observer.on_next(result)

    def on_error(self, error: Exception) -> None:
        self.dispose()
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self.closed = True
        if self.deadline is not None:
            self.deadline.cancel()
        self._close_source()  # left unread at the deadline
        self.observer.on_completed()

    # -- upstream: feeding the merge -------------------------------------------------------

    def _on_take(self) -> None:
        if self.throttled and len(self.buffer) < self.buffer_limit:  # type: ignore[arg-type]
            self.throttled = False
            if not self.closed:
                self.merge.fill()

    def _pull(self) -> _Node | None:
        if self.expired:
            # Past the deadline nothing starts, not even a call that became ready while
            # every slot was busy: the deadline reports it as skipped.
            return None
        buffer = self.buffer
        if buffer is not None and len(buffer) >= self.buffer_limit:
            self.throttled = True
            return None
        while True:
            ready = self.ready
            if ready:
                node = ready.popleft()
                del self.unstarted[node]
                node.state = _STARTED
                self._maybe_source_complete()
                return node
            if self.source_done or self.iterator is None:
                if self.pump_wakeup is not None and not self.pump_wakeup.done():
                    self.pump_wakeup.set_result(None)
                return None
            try:
                item = next(self.iterator)
            except StopIteration:
                self.source_done = True
                self._maybe_source_complete()
                return None
            except Exception as exc:  # the source itself failed: that ends the run
                self.source_done = True
                self.merge.error(exc)
                return None
            if not self._take(item):
                return None

    def _take(self, item: Any) -> bool:
        position = self.taken
        self.taken += 1
        if not isinstance(item, SkillCall):
            self.source_done = True
            self.merge.error(
                TypeError(f"run() takes SkillCalls; item {position} of the source is {item!r}")
            )
            return False
        try:
            node = self._register(item, [])
        except ValueError as exc:  # a dependency cycle
            self.source_done = True
            self.merge.error(exc)
            return False
        if self.spec.track_roots:
            self.roots.append(node.index)
        return True

    def _maybe_source_complete(self) -> None:
        # Set the flag rather than call outer_completed(): this runs inside the merge's
        # pull, before the merge counts the node it is about to subscribe.
        if self.source_done and not self.unstarted and not self.expired:
            self.merge.outer_done = True

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
            self.source_done = True
            merge.error(exc)
            return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        self.source_done = True
        if not self.unstarted and not self.expired:
            merge.outer_completed()

    # -- the dependency graph --------------------------------------------------------------

    def _register(self, call: SkillCall[Any], path: list[SkillCall[Any]]) -> _Node:
        existing = call._node
        if existing is not None and existing.owner is self:
            if existing.state is None:  # still being registered: we came back round
                cycle = path[path.index(call) :] + [call]
                raise ValueError("dependency cycle: " + " -> ".join(c.key for c in cycle))
            node: _Node = existing
            return node
        found: list[SkillCall[Any]] = []
        if not call._opaque:
            for a in call.args:
                _nested_calls(a, found)
            if call.kwargs:
                for v in call.kwargs.values():
                    _nested_calls(v, found)
        found.extend(call.after)
        deps: list[_Node] = []
        if found:
            call._node = _Marker(self)
            path.append(call)
            for dep_call in found:
                dep = self._register(dep_call, path)
                if dep not in deps:
                    deps.append(dep)
            path.pop()
        node = _Node(self, call, self.next_index)
        self.next_index += 1
        call._node = node
        self.unstarted[node] = None
        if not deps:
            node.state = _READY
            self.ready.append(node)
            return node
        node.deps = tuple(deps)
        failed: _Node | None = None
        for dep in deps:
            if dep.state == _DONE or dep.state == _SKIPPED:
                if not dep.result.has_value:  # type: ignore[union-attr]
                    failed = dep
            else:
                node.pending += 1
                dep.dependents.append(node)
        if failed is not None:
            self._skip(node, _dependency_failed(failed))
        elif node.pending == 0:
            node.state = _READY
            self.ready.append(node)
        return node

    def resolved(self, node: _Node) -> None:
        """``node`` has its result: release or skip its dependents."""
        dependents, node.dependents = node.dependents, []
        has_value = node.result.has_value  # type: ignore[union-attr]
        woke = False
        for d in dependents:
            if d.state != _WAITING:
                continue
            if has_value:
                d.pending -= 1
                if d.pending == 0:
                    d.state = _READY
                    self.ready.append(d)
                    woke = True
            elif self._skip(d, self.expired or _dependency_failed(node)):
                woke = True
        if not self.expired:
            if woke:
                self.merge.fill()
            if self.source_done and not self.unstarted:
                self.merge.outer_completed()

    def _skip(self, node: _Node, exc: Exception) -> bool:
        """End ``node`` as ``skipped`` (with its fallback, if any), then its dependents.

        Returns whether a dependent became ready (a skipped call's fallback is a value).
        Feeding the merge is left to the caller, which may be inside the merge's pull.
        """
        woke = False
        stack = [(node, exc)]
        while stack:
            n, e = stack.pop()
            if n.state == _DONE or n.state == _SKIPPED:
                continue
            if n.state == _READY:
                with contextlib.suppress(ValueError):
                    self.ready.remove(n)
            self.unstarted.pop(n, None)
            n.state = _SKIPPED
            value = None
            fallback_used = False
            fallback = n.call.options.fallback
            if fallback is not NO_FALLBACK:
                try:
                    value = fallback(e) if callable(fallback) else fallback
                except Exception as fallback_exc:
                    self.merge.error(fallback_exc)
                    return False
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
            )
            self.observer.on_next(n.result)
            dependents, n.dependents = n.dependents, []
            for d in reversed(dependents):
                if fallback_used and not self.expired:
                    d.pending -= 1
                    if d.pending == 0 and d.state == _WAITING:
                        d.state = _READY
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
        exc = DeadlineExceeded(f"the run's deadline of {self.spec.timeout:g} s was reached")
        self.expired = exc
        self.source_done = True
        for inner in list(self.merge.inners):
            runner = inner.subscription
            if isinstance(runner, _Runner):
                runner.expire(exc)
        if self.pump is not None and not self.pump.done():
            _abandon(self.pump, self.abandoned, "the source")
        # A sized source is already in memory: its calls not taken yet are reported too.
        if self.spec.sized and self.iterator is not None:
            for item in self.iterator:
                if isinstance(item, SkillCall):
                    with contextlib.suppress(ValueError):
                        self._register(item, [])
        for node in sorted(self.unstarted, key=_node_index):
            self._skip(node, exc)
        self.merge.outer_completed()


class _Marker:
    """Stands in ``call._node`` while the call's dependencies are being registered."""

    __slots__ = ("owner", "state")

    def __init__(self, run: _Run) -> None:
        self.owner = run
        self.state = None


def _node_index(node: _Node) -> int:
    return node.index


def _label(what: object) -> str:
    return what if isinstance(what, str) else repr(what)


def _dependency_failed(dep: _Node) -> DependencyFailed:
    r = dep.result
    status = r.status.value if r is not None else "without a value"
    return DependencyFailed(f"dependency {dep.call.key!r} (#{dep.index}) ended {status}")


# -- the public face -----------------------------------------------------------------------


class _SafeObserver(abc.ObserverBase[SkillResult]):
    """Guards a user's Rx observer: an exception in its on_next ends the run and is
    delivered to its on_error, instead of travelling back into the skills (RxPY #380)."""

    __slots__ = ("observer", "run")

    def __init__(self, observer: abc.ObserverBase[SkillResult]) -> None:
        self.observer = observer
        self.run: _Run | None = None

    def on_next(self, value: SkillResult) -> None:
        try:
            self.observer.on_next(value)
        except Exception as exc:
            if self.run is not None:
                self.run.dispose()
            self.observer.on_error(exc)

    def on_error(self, error: Exception) -> None:
        self.observer.on_error(error)

    def on_completed(self) -> None:
        self.observer.on_completed()


class ResultStream:
    """The results of a run, each the moment its call finishes (completion order).

    Cold: nothing starts before iteration begins. Iterate it once. Leaving early (``break``,
    ``aclose()``, the end of ``async with``, cancellation) cancels every call in flight;
    ``async with`` and ``aclose()`` also wait for them before returning.

    Examples:
        >>> async def main():
        ...     async with run([fetch(1), fetch(2)], max_concurrency=5) as stream:
        ...         async for result in stream:
        ...             print(result.key, result.status)
    """

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._run: _Run | None = None
        self._channel: ObserverChannel[SkillResult] | None = None
        self._used = False

    # -- async iteration -------------------------------------------------------------------

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> SkillResult:
        channel = self._channel
        if channel is None:
            if self._used:
                raise StopAsyncIteration
            channel = self._start()
        try:
            return await channel.get()
        except StopAsyncIteration:
            await self._close()
            raise
        except BaseException:
            # The run failed (a fallback raised, the source raised) or the consumer was
            # cancelled: in-flight calls are cancelled and awaited before this propagates.
            await self._close()
            raise

    def _start(self) -> ObserverChannel[SkillResult]:
        self._used = True
        loop = asyncio.get_running_loop()
        channel: ObserverChannel[SkillResult] = ObserverChannel(loop)
        self._channel = channel
        run_ = self._run = _Run(self._spec, channel, loop)
        if self._spec.max_concurrency is not None:
            run_.buffer = channel
            channel.on_take = run_._on_take
        run_.start()
        return channel

    async def _close(self) -> None:
        run = self._run
        if run is None:
            return
        run.dispose()
        self._channel = None
        await run.wait_quiet()

    async def aclose(self) -> None:
        """Stop the run: cancel every call in flight and wait until they have ended."""
        self._used = True
        await self._close()

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # After a bare `break` nothing closes the stream; its finalizer at least cancels
        # what is in flight (the futures stay referenced until they end).
        run = self._run
        if run is not None and not run.closed:
            with contextlib.suppress(Exception):
                run.dispose()

    # -- fan-in ----------------------------------------------------------------------------

    async def collect(self) -> Results:
        """Run to the end; every result in submission order (zip-like fan-in)."""
        async with self:
            return Results([r async for r in self])

    async def scan(self, reducer: Callable[[A, SkillResult], A], seed: A) -> AsyncIterator[A]:
        """The running aggregate ``reducer(acc, result)``, after every result.

        An exception raised by ``reducer`` ends the run (in-flight calls are cancelled)
        and reaches the consumer after the aggregates already yielded.

        Examples:
            >>> async for top in run(searches).scan(operators.top_k(10, "score"), []):
            ...     print(top)
        """
        acc = seed
        async with self:
            async for result in self:
                acc = reducer(acc, result)
                yield acc

    async def reduce(self, reducer: Callable[[A, SkillResult], A], seed: A) -> A:
        """The final aggregate of ``reducer(acc, result)`` over every result."""
        acc = seed
        async with self:
            async for result in self:
                acc = reducer(acc, result)
        return acc

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
            run_ = _Run(spec, safe, loop)
            safe.run = run_
            run_.start()
            return Disposable(run_.dispose)

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
        return cls(_make_spec(calls, max_concurrency, timeout, track_roots=True))


def run(
    calls: SkillCall[Any] | Iterable[SkillCall[Any]] | AsyncIterable[SkillCall[Any]],
    *,
    max_concurrency: int | None = 10,
    timeout: float | None = None,
) -> ResultStream:
    """Run calls concurrently; results stream in completion order.

    Concurrency: at most ``max_concurrency`` calls in flight (retries and backoff waits
    included); calls are taken from the source only when a slot frees. A call whose
    arguments include other calls waits for them and gets their values. Errors: a skill's
    exception becomes its result (``status="error"``), never the consumer's; only an
    exception from the source itself, from a user's fallback or ``Retry(on=...)``
    predicate, or a skill's ``BaseException`` that is not an ``Exception``, ends the
    stream with that exception. ``timeout`` is a deadline: at it, calls in flight end ``timeout``, calls
    not started end ``skipped``, and the stream completes.

    Examples:
        >>> async for r in run([fetch_stock("AAPL"), fetch_news("Apple")], max_concurrency=5):
        ...     print(r.key, r.status, r.value)
        >>> results = await run(calls).collect()

    Args:
        calls: a SkillCall, an iterable of them (a list is taken whole, a generator
            lazily), or an async iterable of them.
        max_concurrency: most calls in flight; ``None`` for no bound.
        timeout: the run's deadline in seconds; ``None`` for none.

    Returns:
        A cold :class:`ResultStream`.

    Raises:
        TypeError: if ``calls`` is not a call, an iterable or an async iterable of calls
            (for a list, naming the first item that is not a call and its position).
        ValueError: if ``max_concurrency`` < 1 or ``timeout`` <= 0.
    """
    return ResultStream(_make_spec(calls, max_concurrency, timeout, track_roots=False))


def check_run_options(max_concurrency: Any, timeout: Any) -> None:
    """The rules for ``max_concurrency`` and ``timeout``, shared with StateGraph.compile()."""
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
    ):
        raise TypeError(f"max_concurrency must be an int or None, got {max_concurrency!r}")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency}")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")


def _make_spec(calls: Any, max_concurrency: Any, timeout: Any, *, track_roots: bool) -> _Spec:
    check_run_options(max_concurrency, timeout)
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
    return _Spec(calls, sized, is_async, max_concurrency, timeout, track_roots)


async def gather(
    *calls: SkillCall[Any], max_concurrency: int | None = 10, timeout: float | None = None
) -> tuple[Any, ...]:
    """Run calls at once and return their values in argument order (zip-like fan-in).

    A call that failed with a fallback contributes its fallback value.

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

