"""Where one attempt of a skill runs: the event loop, a thread pool, or a process pool.

Every executor follows one protocol (:class:`Executor`): ``start`` returns an asyncio
future that resolves *on the loop* (reactivex's AsyncIOScheduler is not thread-safe) with
the value or the exception, and only once the work has stopped running; ``cancel`` asks
the work to stop. The loop's tasks can be cancelled; a thread cannot be interrupted (its
late result is dropped, and a generator it consumes is closed at its next item); a
process job that is already running is abandoned like a thread.

The pools belong to one :class:`Executors` registry with an explicit lifetime: created
lazily on first use, closed by :func:`shutdown` and at interpreter exit, and reset in the
child after ``os.fork()`` (a child cannot use its parent's threads or pipes).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import inspect
import multiprocessing
import multiprocessing.connection
# Imported before this module registers its atexit hook, so that hook runs first (LIFO):
# multiprocessing's own would otherwise wait for busy workers before ours stops them.
import multiprocessing.util
import os
import pickle
import queue
import sys
import threading
import types
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from .._core._executor import CARRIED, Executor, OnItem

if TYPE_CHECKING:
    from .._core._skill import Skill

__all__ = [
    "CARRIED",
    "EXECUTORS",
    "Attempt",
    "Executor",
    "Executors",
    "Job",
    "LoopExecutor",
    "LoopWorkers",
    "ProcessExecutor",
    "RemoteError",
    "ThreadExecutor",
    "exit_if_importing_main",
    "shutdown",
]

# Threads are made on demand up to this many. A sync skill that blocks past its timeout
# keeps its thread busy until it returns: a roomy pool keeps such strays from starving
# later calls, which run_in_executor's default (cpu_count + 4 workers) would not.
THREAD_POOL_SIZE = 128

_forked = False  # set in a child after os.fork()
_Coroutine = types.CoroutineType
copy_context = contextvars.copy_context

# -- the event loop ------------------------------------------------------------------------


class LoopExecutor:
    """Async skills: a task on the run's event loop."""

    name = "loop"
    interruptible = True

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None = None,
    ) -> asyncio.Future[Any]:
        made = skill.fn(*args, **kwargs)
        if type(made) is _Coroutine:  # the common case, tested first
            return loop.create_task(made)
        if inspect.isasyncgen(made):
            return loop.create_task(_collect_items(made, on_item))
        if inspect.iscoroutine(made):
            return loop.create_task(made)
        future: asyncio.Future[Any] = asyncio.ensure_future(made, loop=loop)
        return future

    def cancel(self, future: asyncio.Future[Any]) -> None:
        future.cancel()

    def close(self) -> None:
        pass


def awaitable_of(made: Any, on_item: OnItem | None) -> Any:
    """What a worker awaits for what an async skill's function returned (not a plain
    coroutine): an async generator's items collected, any other awaitable awaited."""
    if inspect.isasyncgen(made):
        return _collect_items(made, on_item)
    if inspect.iscoroutine(made):
        return made
    return _awaited(made)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class Attempt(Protocol):
    """What a run's :class:`LoopWorkers` await: one attempt of an async skill.

    :class:`Job` is one; an engine may give its own object (a call's first attempt is the
    call's node itself: no object per attempt). ``ended(value, exc)`` is called on the
    loop when the attempt ends, unless it was abandoned first.
    """

    coro: Any
    worker: asyncio.Task[None] | None  # while a worker awaits it
    abandoned: bool
    # Made only when a running attempt is abandoned: resolved once its coroutine has ended.
    stopped: asyncio.Future[None] | None

    def ended(self, value: Any, exc: BaseException | None) -> None: ...

    def abandon(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None: ...


def abandon_attempt(
    attempt: Attempt, workers: LoopWorkers, loop: asyncio.AbstractEventLoop
) -> asyncio.Future[None] | None:
    """Stop ``attempt``; returns a future of its end if it was running, else ``None``
    (every :class:`Attempt`'s ``abandon``)."""
    if attempt.abandoned:
        return attempt.stopped
    attempt.abandoned = True
    worker = attempt.worker
    if worker is None:  # not begun: it never will
        attempt.coro.close()
        attempt.stopped = None
        return None
    stopped = attempt.stopped = loop.create_future()
    worker.cancel()
    # As with a task of its own, the cancelled attempt must see its CancelledError
    # before any attempt started after this begins (or the cap could be exceeded for
    # an instant): workers hold back until this callback, queued behind the worker's
    # wake-up, has run.
    workers.cancelling += 1
    loop.call_soon(workers.cancel_delivered)
    return stopped


class Job:
    """One attempt of an async skill (an :class:`Attempt`), awaited by one of a run's
    :class:`LoopWorkers`."""

    __slots__ = ("workers", "coro", "ended", "worker", "abandoned", "stopped")

    def __init__(
        self, workers: LoopWorkers, coro: Any, ended: Callable[[Any, BaseException | None], None]
    ) -> None:
        self.workers = workers
        self.coro = coro
        self.ended = ended
        self.worker: asyncio.Task[None] | None = None
        self.abandoned = False
        self.stopped: asyncio.Future[None] | None = None

    def abandon(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """Stop the attempt; returns a future of its end if it was running, else ``None``."""
        return abandon_attempt(self, self.workers, loop)


def _raise(exc: BaseException) -> None:
    raise exc


# Every worker task until it ends. The loop holds tasks weakly, and a parked worker waits
# on a future only its run holds: a stream dropped inside a reference cycle would have its
# parked workers collected while pending ("Task was destroyed but it is pending").
_WORKER_TASKS: set[asyncio.Task[None]] = set()


class LoopWorkers:
    """One run's worker tasks: each awaits async skills' attempts one after another.

    A task per slot instead of a task per call (creating and scheduling a task is the
    largest cost of a call that does little). A worker that finishes an attempt delivers
    its result, which frees a slot, and takes the next attempt itself, without a wake-up;
    idle workers park on a future. A worker is woken or made only when an attempt is
    queued and no worker will look at the queue soon, so there are at most as many as the
    run's busy slots, plus one, plus workers still finishing an abandoned attempt.

    Inside a skill, ``asyncio.current_task()`` is its worker: ``asyncio.timeout`` and
    cancellation work as in a task of its own. Abandoning an attempt cancels its worker;
    the worker uncancels itself once the attempt has ended and goes on with the next.
    """

    __slots__ = ("loop", "jobs", "idle", "pickers", "cancelling", "closed", "name", "context", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str = "skillstream worker") -> None:
        self.loop = loop
        self.jobs: deque[Attempt] = deque()
        self.idle: list[asyncio.Future[None]] = []
        # Workers that will look at the queue before they park (woken, new, or between two
        # attempts). While jobs are queued there is at least one; each, as it takes a job,
        # makes sure of the next picker, so a burst of jobs that never suspend is run by
        # one worker, and jobs that do suspend get a worker each.
        self.pickers = 0
        self.cancelling = 0  # abandoned attempts whose CancelledError is not delivered yet
        self.closed = False
        self.name = name
        # Every worker starts from the context the run started in (as a task per call
        # would), in a copy of its own.
        self.context = contextvars.copy_context()
        self.tasks: set[asyncio.Task[None]] = set()  # this run's workers that have not ended

    def submit(self, coro: Any, ended: Callable[[Any, BaseException | None], None]) -> Job:
        job = Job(self, coro, ended)
        jobs = self.jobs
        jobs.append(job)
        if not self.pickers:
            self._cover()
        return job

    def put(self, attempt: Attempt) -> None:
        """Queue an attempt the caller made (see :class:`Attempt`)."""
        self.jobs.append(attempt)
        if not self.pickers:
            self._cover()

    def cancel_delivered(self) -> None:
        self.cancelling -= 1

    def alive(self) -> list[asyncio.Task[None]]:
        """The workers that have not ended yet: after :meth:`close`, each ends within a
        turn of the loop (a parked one) or once its abandoned attempt has ended."""
        return [task for task in self.tasks if not task.done()]

    def close(self) -> None:
        """No more jobs: parked workers end (busy ones after their attempt)."""
        self.closed = True
        for job in self.jobs:
            job.abandon(self.loop)
        self.jobs.clear()
        idle, self.idle = self.idle, []
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)

    async def _work(self) -> None:
        jobs = self.jobs
        task = asyncio.current_task()
        assert task is not None
        try:
            while True:
                if not jobs:
                    self.pickers -= 1
                    if self.closed:
                        return
                    waiter = self.loop.create_future()
                    self.idle.append(waiter)
                    try:
                        await waiter
                    except asyncio.CancelledError:  # the loop is shutting down
                        with contextlib.suppress(ValueError):
                            self.idle.remove(waiter)
                        raise
                    continue  # whoever woke it counted it as a picker again
                if self.cancelling:
                    await asyncio.sleep(0)  # behind the cancelled attempts' wake-ups
                    continue
                job = jobs.popleft()
                if job.abandoned:
                    continue
                self.pickers -= 1
                if jobs and not self.pickers:
                    # Someone must take the next job if this one suspends. Only one: a job
                    # that does not suspend leaves this worker free for the next at once.
                    self._cover()
                job.worker = task
                before = copy_context()
                try:
                    value = await job.coro
                except asyncio.CancelledError as exc:
                    job.worker = None
                    if job.abandoned:
                        if self._stopped(job, task, before):
                            return
                        continue
                    # Not cancelled by the run: by the skill itself, or from outside (as
                    # asyncio.run's shutdown does). The call fails, and the worker ends.
                    job.ended(None, exc)
                    raise
                except BaseException as exc:
                    job.worker = None
                    if job.abandoned:
                        if self._stopped(job, task, before):
                            return
                    elif self._deliver(job, None, exc, before):
                        return
                    continue
                job.worker = None
                if job.abandoned:  # it ignored its cancellation and returned
                    if self._stopped(job, task, before):
                        return
                elif copy_context() != before:  # see _deliver
                    job.ended(value, None)
                    self._cover()
                    return
                else:  # _deliver(), inlined for the common case
                    self.pickers += 1
                    try:
                        job.ended(value, None)
                    except BaseException:
                        self.pickers -= 1
                        raise
        except (KeyboardInterrupt, SystemExit) as exc:
            # A skill's KeyboardInterrupt or SystemExit, raised on by its run (out of the
            # loop, as asyncio does with a task's). Raised from a callback rather than from
            # this task, which would keep it as its exception and, when nobody retrieves
            # it, log "Task exception was never retrieved" once collected.
            self.loop.call_soon(_raise, exc)

    def _deliver(self, job: Attempt, value: Any, exc: BaseException | None, before: contextvars.Context) -> bool:
        """Pass the attempt's outcome on; returns whether this worker must end."""
        if contextvars.copy_context() != before:
            # The skill set a context variable and left it set. The next skill must not
            # see it (with a task per call it would not): this worker ends after
            # delivering, and a fresh one takes its place if needed.
            job.ended(value, exc)
            self._cover()
            return True
        # A picker again before the result is out: the attempt it frees a slot for is
        # queued while this worker is between two attempts, and it takes that one itself.
        self.pickers += 1
        try:
            job.ended(value, exc)
        except BaseException:  # KeyboardInterrupt from a skill: this worker ends with it
            self.pickers -= 1
            raise
        return False

    def _cover(self) -> None:
        """Wake or make a worker if jobs are queued and none will look at the queue."""
        if self.jobs and not self.pickers and not self.closed:
            self.pickers = 1
            if self.idle:
                self.idle.pop().set_result(None)
            else:
                task = self.loop.create_task(self._work(), name=self.name, context=self.context.copy())
                _WORKER_TASKS.add(task)
                task.add_done_callback(_WORKER_TASKS.discard)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def _stopped(self, job: Attempt, task: asyncio.Task[None], before: contextvars.Context) -> bool:
        """An abandoned attempt has ended; returns whether this worker must end."""
        if task.cancelling():
            task.uncancel()
        stopped = job.stopped
        if stopped is not None and not stopped.done():
            stopped.set_result(None)
        if contextvars.copy_context() != before:  # see _deliver
            return True
        self.pickers += 1
        return False


async def _collect_items(agen: Any, on_item: OnItem | None) -> list[Any]:
    items: list[Any] = []
    try:
        async for item in agen:
            items.append(item)
            if on_item is not None:
                on_item(item)
    finally:
        # Closed whenever the call ends early (timeout, deadline, leaving), not at GC.
        await agen.aclose()
    return items


# -- threads -------------------------------------------------------------------------------


class _ThreadJob:
    __slots__ = ("loop", "future", "fn", "args", "kwargs", "ctx", "on_item", "cancelled")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None,
    ) -> None:
        self.loop = loop
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        # Carry the caller's contextvars into the thread, as asyncio.to_thread does.
        self.ctx = contextvars.copy_context()
        self.on_item = on_item
        self.cancelled = False

    def run(self, idle: Callable[[], None]) -> None:
        # ``idle()`` is called before the outcome is posted: the loop may start the next
        # thread job the moment it sees this one's result, and must find this thread
        # counted as idle, or it makes a new one each time (the pool would creep up).
        if self.cancelled:  # given up before a thread took it: it never runs
            idle()
            with_loop_open(self.loop, _cancel, self.future)
            return
        try:
            value = self.ctx.run(self._call)
        except BaseException as exc:  # delivered to the loop, never raised in the thread
            idle()
            self._deliver(None, exc)
        else:
            idle()
            self._deliver(value, None)

    def _call(self) -> Any:
        value = _call(self.fn, self.args, self.kwargs)
        if inspect.isgenerator(value):
            # A sync generator is consumed here, in its thread, under the call's timeout:
            # at its next item after the run gave up on it, it is closed.
            items = []
            try:
                for item in value:
                    if self.cancelled:
                        break
                    items.append(item)
                    if self.on_item is not None:
                        self._send_item(item)
            finally:
                value.close()
            return items
        return value

    def _send_item(self, item: Any) -> None:
        with_loop_open(self.loop, self.on_item, item)  # type: ignore[arg-type]

    def _deliver(self, value: Any, exc: BaseException | None) -> None:
        with_loop_open(self.loop, _settle, self.future, value, exc)


def with_loop_open(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """``loop.call_soon_threadsafe(fn, *args)``, or nothing once the loop is closed: the
    run that wanted the outcome is gone, and raising in a worker thread helps nobody."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _cancel(future: asyncio.Future[Any]) -> None:
    future._skillstream_job = None  # type: ignore[attr-defined]
    future.cancel()


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    # The job is over: the future lets go of it (they point at each other, and a cycle per
    # call would be left to the garbage collector).
    future._skillstream_job = None  # type: ignore[attr-defined]
    if future.done():
        return
    if exc is None:
        future.set_result(value)
    else:
        future.set_exception(exc)


class ThreadExecutor:
    """Sync skills: a pool of daemon threads, made on demand up to ``max_workers``.

    Daemon threads, because a thread stuck past its timeout cannot be stopped, and
    ``concurrent.futures``' workers would keep the interpreter from exiting until it
    returns. At exit, such a thread is simply dropped with the process.

    Examples:
        >>> @skill(executor=ThreadExecutor(max_workers=4))  # doctest: +SKIP
        ... def parse(text: str) -> dict: ...
    """

    name = "thread"
    interruptible = False

    def __init__(self, max_workers: int = THREAD_POOL_SIZE) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be an int >= 1, got {max_workers!r}")
        self.max_workers = max_workers
        self._queue: queue.SimpleQueue[_ThreadJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        # Released by a worker each time it finishes a job, as concurrent.futures does:
        # a job that can acquire it will be taken by an idle thread.
        self._idle = threading.Semaphore(0)
        self._closed = False

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None = None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        job = _ThreadJob(loop, future, skill.fn, args, kwargs, on_item)
        future._skillstream_job = job  # type: ignore[attr-defined]
        with self._lock:
            if self._closed:
                raise RuntimeError("this ThreadExecutor is closed")
            self._queue.put(job)
            if not self._idle.acquire(timeout=0) and len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"skillstream-{len(self._threads)}", daemon=True
                )
                self._threads.add(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                break
            job.run(self._idle.release)
            del job
        with self._lock:
            self._threads.discard(threading.current_thread())

    def cancel(self, future: asyncio.Future[Any]) -> None:
        job = getattr(future, "_skillstream_job", None)
        if job is not None:
            # A job not yet taken by a thread never runs; a generator stops at its next
            # item; a running body cannot be stopped.
            job.cancelled = True

    def threads(self) -> int:
        """Worker threads alive (tests, soak)."""
        return len(self._threads)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(*args, **kwargs)
    except StopIteration as exc:
        # An asyncio future refuses StopIteration (set_exception raises TypeError inside
        # the loop's callback, and the future never completes): turn it into the
        # RuntimeError a coroutine would have raised (PEP 479).
        name = getattr(fn, "__name__", "function")
        raise RuntimeError(f"{name} raised StopIteration") from exc


# -- processes -----------------------------------------------------------------------------


class RemoteError(Exception):
    """Stands in a process skill's exception that cannot be pickled back to the parent.

    Such an exception (one whose ``__init__`` takes other arguments than its ``args``,
    or that holds a lock or a socket) would fail to unpickle in the pool's result thread,
    which breaks the whole pool: every sibling call would fail with BrokenProcessPool.
    ``ErrorInfo`` reports the original type name and message.
    """

    def __init__(self, remote_type: str, message: str) -> None:
        super().__init__(remote_type, message)
        self.remote_type = remote_type
        self.message = message

    def __str__(self) -> str:
        return self.message


def _call_in_process(
    skill: Any, args: tuple[Any, ...], kwargs: dict[str, Any], carried: tuple[Any, ...] = ()
) -> Any:
    try:
        if not carried:
            return _call(skill.fn, args, kwargs)
        with contextlib.ExitStack() as stack:  # e.g. the caller's trace context, attached
            for enter, data in carried:
                stack.enter_context(enter(data))
            return _call(skill.fn, args, kwargs)
    except Exception as exc:
        raise _portable(exc) from None


class _ProcessJob:
    __slots__ = ("loop", "future", "skill", "args", "kwargs", "cancelled", "worker", "carried")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.loop = loop
        self.future = future
        self.skill = skill
        self.args = args
        self.kwargs = kwargs
        self.cancelled = False
        self.worker: _Worker | None = None  # the process running it, while it runs
        self.carried = CARRIED.get()  # what the worker enters around the function


# -- a script without a main guard --
# Workers start by forkserver or spawn: each imports the user's script (as __mp_main__)
# before it runs anything, and so runs the script's top-level code again. A run started
# there is the script's own run, started again in every worker: such a worker stops at
# once, and tells its pool by this exit code (EX_CONFIG, sysexits.h) before its first
# message, so the pool fails the calls with MAIN_GUARD instead of CPython's
# "bootstrapping phase" text (and the script's work is not done again in each worker).

MAIN_GUARD = (
    "skills with executor='process' run in worker processes that import your script: "
    'put the code that runs them under `if __name__ == "__main__":`'
)
_MAIN_GUARD_EXIT = 78
_WORKER_NAME = "skillstream-process"


def _importing_main() -> bool:
    """Whether this process is a multiprocessing child still importing its parent's main
    module: code that runs now is that script's top level (CPython's own test, in
    ``multiprocessing.spawn``)."""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def exit_if_importing_main() -> None:
    """Called as a run starts: in a worker of ours that is still importing the user's
    script, the run is the script's, run again: stop the worker (its pool says why)."""
    if _importing_main() and multiprocessing.current_process().name == _WORKER_NAME:
        _exit_for_main_guard()


def _exit_for_main_guard() -> None:
    where = ""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:  # the script's top-level line that got here
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            where = f" ({frame.f_code.co_filename}, line {frame.f_lineno}, is not under it)"
            break
        frame = frame.f_back
    try:
        sys.stderr.write(f"skillstream worker process {os.getpid()} stopped: {MAIN_GUARD}{where}\n")
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        os._exit(_MAIN_GUARD_EXIT)


def _main_guard_error() -> RuntimeError:
    script = getattr(sys.modules.get("__main__"), "__file__", None) or "your script"
    return RuntimeError(f"{MAIN_GUARD} (a worker process importing {script} reached a run at its top level)")


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any) -> None:
        if _importing_main():  # CPython would refuse with its "bootstrapping phase" text
            if multiprocessing.current_process().name == _WORKER_NAME:
                _exit_for_main_guard()
            raise RuntimeError(MAIN_GUARD)
        parent, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child,), name=_WORKER_NAME)
        self.process.start()
        child.close()  # else the worker never sees EOF when the parent goes
        self.conn = parent
        # Set at its first message, an empty one: it has imported the user's script.
        self.started = False

    def stop(self) -> None:
        """Terminate the process (from any thread): its job, if any, is abandoned."""
        try:
            self.process.terminate()
        except Exception:  # already gone, or never started
            pass

    def reap(self) -> int | None:
        self.conn.close()
        self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        code: int | None = self.process.exitcode
        return code


def _worker_main(conn: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent decides what stops, not the
    # worker (an interrupted worker would look like a crash).
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send_bytes(b"")  # started: the pool can tell a failed start from a crash
    except (EOFError, OSError):
        return
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):  # the parent is gone: so is the work
            return
        try:
            skill, args, kwargs, carried = pickle.loads(payload)
            reply: tuple[bool, Any] = (True, _call_in_process(skill, args, kwargs, carried))
        except Exception as exc:
            reply = (False, exc)
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # the value cannot travel back: say so, as an error
            data = pickle.dumps((False, _portable(exc)))
        try:
            conn.send_bytes(data)
        except (EOFError, OSError):
            return


def _portable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RemoteError(type(exc).__name__, _safe_str(exc))


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


class ProcessExecutor:
    """CPU-bound sync skills: worker processes, ``max_workers`` of them at most (default:
    the CPU count), each started on first need and kept for later jobs.

    A job runs in one worker at a time, so a timed-out or cancelled job is stopped by
    terminating its worker (a fresh one replaces it on next need), and a worker that dies
    fails only its own job, with ``BrokenProcessPool``. Workers start by ``forkserver``
    where available (forking the parent would copy its threads' locks mid-use), by
    ``spawn`` in a forked child. At shutdown and at interpreter exit, workers are
    terminated, so none holds the exit. Workers import the user's script: one that
    reaches a run while doing so (no ``if __name__ == "__main__":``) stops, and the
    pool fails this and later calls with a ``RuntimeError`` that names the guard.

    Examples:
        >>> @skill(executor=ProcessExecutor(max_workers=2))  # doctest: +SKIP
        ... def crunch(n: int) -> int: ...
    """

    name = "process"
    interruptible = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise ValueError(f"max_workers must be None or an int >= 1, got {max_workers!r}")
        self.max_workers = max_workers or os.cpu_count() or 2
        self._jobs: queue.SimpleQueue[_ProcessJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slots = 0
        self._workers: set[_Worker] = set()
        self._idle = threading.Semaphore(0)  # as ThreadExecutor's
        self._closed = False
        # Set once a worker stopped importing a script that runs process skills at its top
        # level: every later worker would too, so later calls fail without starting one.
        self._no_main_guard = False
        # In a forked child the parent's forkserver is not ours to use (waiting on it
        # fails with ECHILD): spawn workers there instead.
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() and not _forked else "spawn"
        )
        self._context = multiprocessing.get_context(method)
        _PROCESS_POOLS.add(self)  # stopped at exit, a skill's own pool as the shared one

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: OnItem | None = None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        job = _ProcessJob(loop, future, skill, args, kwargs)
        future._skillstream_job = job  # type: ignore[attr-defined]
        with self._lock:
            if self._closed:
                raise RuntimeError("this ProcessExecutor is closed")
            self._jobs.put(job)
            if not self._idle.acquire(timeout=0) and self._slots < self.max_workers:
                # A slot is a thread in this process that feeds one worker process and
                # waits for its answer, so the loop never blocks on a pipe.
                self._slots += 1
                threading.Thread(target=self._serve, name="skillstream-process-slot", daemon=True).start()
        return future

    def _serve(self) -> None:
        worker: _Worker | None = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    break
                worker = self._run(job, worker)
                del job
        finally:
            if worker is not None:
                self._retire(worker)
            with self._lock:
                self._slots -= 1

    def _run(self, job: _ProcessJob, worker: _Worker | None) -> _Worker | None:
        """Run one job; returns the worker to keep (None once it died or was stopped)."""
        if job.cancelled:
            self._idle.release()
            with_loop_open(job.loop, _cancel, job.future)
            return worker
        if self._no_main_guard:
            self._idle.release()
            with_loop_open(job.loop, _settle, job.future, None, _main_guard_error())
            return worker
        try:
            payload = pickle.dumps((job.skill, job.args, job.kwargs, job.carried))
        except Exception as pickle_exc:
            self._idle.release()
            message = (
                f"the arguments of {job.skill.options.name} cannot be sent to a worker process: "
                f"{_safe_str(pickle_exc)}"
            )
            with_loop_open(job.loop, _settle, job.future, None, pickle.PicklingError(message))
            return worker
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("this ProcessExecutor is closed")
                if worker is None or not worker.process.is_alive():
                    if worker is not None:
                        self._retire(worker)
                    worker = _Worker(self._context)
                    self._workers.add(worker)
                if job.cancelled:  # given up while the worker started
                    raise asyncio.CancelledError
                job.worker = worker
            worker.conn.send_bytes(payload)
            while True:
                ready = multiprocessing.connection.wait([worker.conn, worker.process.sentinel])
                data = worker.conn.recv_bytes() if worker.conn in ready else None
                if data != b"":
                    break
                worker.started = True  # a new worker's first message: wait for the reply
        except (asyncio.CancelledError, EOFError, OSError):
            data, failure = None, None
        except Exception as start_exc:  # the worker could not start, or we are closing
            data, failure = None, start_exc
        else:
            failure = None
        job.worker = None
        self._idle.release()
        if data is not None:
            try:
                ok, value = pickle.loads(data)
            except Exception as load_exc:  # e.g. a class the parent cannot import
                ok, value = False, RemoteError(type(load_exc).__name__, _safe_str(load_exc))
            if ok:
                with_loop_open(job.loop, _settle, job.future, value, None)
            else:
                with_loop_open(job.loop, _settle, job.future, None, value)
            return worker
        # The worker is gone: stopped because the run gave up on the job, or dead.
        code = None
        started = True
        if worker is not None:
            started = worker.started
            code = self._retire(worker)
        if job.cancelled:
            with_loop_open(job.loop, _cancel, job.future)
        else:
            if failure is None and not started and code == _MAIN_GUARD_EXIT:
                self._no_main_guard = True
                failure = _main_guard_error()
            elif failure is None and self._closed:
                failure = BrokenProcessPool(f"the process pool was shut down while {job.skill.options.name} ran")
            elif failure is None:
                failure = BrokenProcessPool(
                    f"the worker process running {job.skill.options.name} died (exit code {code}); "
                    "a new one takes later calls"
                )
            with_loop_open(job.loop, _settle, job.future, None, failure)
        return None

    def _retire(self, worker: _Worker) -> int | None:
        with self._lock:
            self._workers.discard(worker)
        worker.stop()
        return worker.reap()

    def cancel(self, future: asyncio.Future[Any]) -> None:
        job = getattr(future, "_skillstream_job", None)
        if job is None:
            return
        with self._lock:
            # Not yet started: it never runs. Running: its worker is terminated, which
            # really stops the work (a thread could not be).
            job.cancelled = True
            worker = job.worker
        if worker is not None:
            worker.stop()

    def workers(self) -> int:
        """Worker processes alive (tests)."""
        with self._lock:
            return len(self._workers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            slots = self._slots
            workers = list(self._workers)
        for _ in range(slots):
            self._jobs.put(None)
        # Jobs still running end with an error (their workers are terminated): at exit
        # no worker may hold the interpreter, and after shutdown() none may linger.
        for worker in workers:
            worker.stop()  # each slot thread reaps its own


# -- the registry --------------------------------------------------------------------------


class Executors:
    """Owns the shared executors: made on first use, closed by :meth:`close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[str, Executor] = {}
        self.loop = LoopExecutor()

    def get(self, kind: str) -> Executor:
        """The shared executor for ``kind``: ``"thread"`` or ``"process"``."""
        made = self._made.get(kind)
        if made is None:
            with self._lock:
                made = self._made.get(kind)
                if made is None and kind == "ray":  # Ray is imported only if a skill uses it
                    from ._ray import RayExecutor

                    made = self._made[kind] = RayExecutor()
                if made is None:
                    made = ThreadExecutor() if kind == "thread" else ProcessExecutor()
                    self._made[kind] = made
        return made

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, {}
        for executor in made.values():
            executor.close()

    def _forget_after_fork(self) -> None:
        # In a forked child the parent's threads do not exist and its pool's pipes are
        # shared with the parent: start afresh, touching nothing of theirs.
        global _forked
        _forked = True
        self._lock = threading.Lock()
        self._made = {}


EXECUTORS = Executors()
# Every process pool alive, the shared one and those a skill owns (executor=ProcessExecutor(...)):
# their workers are not daemons (a skill may start processes), so each must be stopped at
# exit or the interpreter would wait for a running job.
_PROCESS_POOLS: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


def _close_at_exit() -> None:
    EXECUTORS.close()
    for pool in list(_PROCESS_POOLS):
        pool.close()


atexit.register(_close_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=EXECUTORS._forget_after_fork)


def shutdown() -> None:
    """Close the shared thread and process pools (they are made again on next use).

    Examples:
        >>> from pipeline import shutdown
        >>> shutdown()
    """
    EXECUTORS.close()
