"""Skills on Ray: every attempt of a ``@skill(executor="ray")`` is a Ray task.

How a call runs
---------------
:meth:`RayExecutor.start` submits the skill's function as a Ray task with *two* returns
and gives the run a :class:`RayAttempt`, a future that Ray's callback completes (no
asyncio task per call; Ray's thread hands outcomes to the loop, and those that arrive
together wake it once). The first return is what the run awaits; the second is the value, which stays
in Ray's object store. Small plain data (under about 64 KB, see :func:`_is_small`) rides
back in the first, as Ray sends small returns to the caller anyway; for any other value
the future resolves to a :class:`RayValue` holding its ObjectRef. The engine keeps it in
the node and

- hands it to a Ray consumer as it is (the executor's ``takes_deferred``): a top-level
  argument becomes the ObjectRef, which Ray resolves on the worker; one inside a list,
  tuple or dict is fetched by the worker when the arguments are unpickled. The value
  never travels through the driver;
- gives every other consumer (a thread, process or async skill, a StateGraph's state)
  the value, and so does the ``SkillResult`` the user reads: ``result.value`` fetches it
  on first read (the task has finished, so this copies, it does not wait).

Retries are skillstream's: Ray's ``max_retries`` defaults to 0 for these tasks.

What cancel can stop
--------------------
A timeout, the run's deadline and leaving early cancel the attempt; it calls
``ray.cancel(ref)`` and ends, cancelled, once Ray reports the task ended. A task still
queued is withdrawn; one running Python code gets ``KeyboardInterrupt`` at its next
bytecode (an async skill is cancelled inside its own loop, which the worker wakes every
50 ms so that it notices). A body blocked in C (``time.sleep``, a socket read, a long numpy call) does
not see the interrupt: after ``force_after`` seconds (0.5 s by default) the worker process
is killed (``ray.cancel(force=True)``). The run's closing waits until Ray reports each
cancelled task ended (its ObjectRef fails with ``TaskCancelledError``): up to
``force_after + KILL_WAIT`` seconds after the cancel (5.5 s by default), past the run's
``cancel_grace`` if need be, as a killed task is sure to end; one still unreported then is
named in a warning. So when the deadline's results are out or ``aclose()`` returns, none
of its tasks is running on the cluster: an interrupted one has left the skill (its
``finally`` ran), a killed one's worker process is being killed (Ray reports it as soon
as the kill is under way: the process may take some more milliseconds to exit, and its
skill can no longer return or be retried).

Connecting
----------
On first use: an existing connection (``ray.init()`` already called) is used as it is;
else ``RAY_ADDRESS`` names the cluster to join; else a local instance is started with one
CPU per core of the machine (one log line says so). Connecting runs in a thread, so the
loop keeps going (it counts against the first calls' timeouts: call ``ray.init()`` first
to keep it out of them).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core._executor import register_remote
from .._core._result import Deferred

if TYPE_CHECKING:
    from .._core._skill import Skill, SkillOptions

__all__ = ["FORCE_AFTER", "KILL_WAIT", "RayAttempt", "RayExecutor", "RayTask", "RayValue", "check_ray_options", "require_ray"]

INSTALL = "pip install 'skillstream[ray]'"

FORCE_AFTER = 0.5
"""Seconds a cancelled Ray task has to stop on its own before its worker is killed."""

KILL_WAIT = 5.0
"""Seconds, after its worker is killed, a cancelled Ray task has for Ray to report it
ended. Closing a run waits for a cancelled Ray task up to ``force_after + KILL_WAIT``
seconds after the cancel (longer than the run's ``cancel_grace`` if need be), then warns."""

# An idle asyncio loop sits in select(), where Ray's interrupt cannot reach it: waking it
# this often bounds how long a cancelled async skill keeps running on its worker.
_WAKE_EVERY = 0.05

_log = logging.getLogger("skillstream")


# -- Ray itself, imported lazily --------------------------------------------------------------


def require_ray() -> None:
    """Fail where a Ray skill is written when Ray is not installed (without importing it).

    Raises:
        ImportError: naming ``pip install 'skillstream[ray]'``.
    """
    try:
        found = importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None: importing it is blocked
        found = False
    if not found:
        raise ImportError(f"executor='ray' needs Ray, which is not installed: {INSTALL}")


def _import_ray() -> Any:
    try:
        import ray  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ImportError(f"executor='ray' needs Ray, which is not installed: {INSTALL}") from exc
    return ray


# -- options ---------------------------------------------------------------------------------


def _number(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"ray_options[{key!r}] must be a number >= 0, got {value!r}")


def _int_at_least(low: int) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"ray_options[{key!r}] must be an int >= {low}, got {value!r}")

    return check


def _of_type(*types: type) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise ValueError(f"ray_options[{key!r}] must be a {names}, got {value!r}")

    return check


def _resources(key: str, value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"ray_options[{key!r}] must be a dict of resource name to amount, got {value!r}")
    for name, amount in value.items():
        _number(f"{key}'][{name!r}", amount)


def _anything(key: str, value: Any) -> None:
    pass


# The task options of Ray's .options() that make sense per skill. Checked here by name and
# shape, without importing Ray; Ray checks the values again when the skill first runs.
_OPTIONS: dict[str, Callable[[str, Any], None]] = {
    "num_cpus": _number,
    "num_gpus": _number,
    "memory": _number,
    "resources": _resources,
    "runtime_env": _of_type(dict),
    "accelerator_type": _of_type(str),
    "max_retries": _int_at_least(-1),
    "retry_exceptions": _of_type(bool, list),
    "name": _of_type(str),
    "scheduling_strategy": _anything,
    "placement_group": _anything,
    "placement_group_bundle_index": _int_at_least(-1),
    "placement_group_capture_child_tasks": _of_type(bool),
    "label_selector": _of_type(dict),
    "fallback_strategy": _of_type(list),
    "enable_task_events": _of_type(bool),
}


def check_ray_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check ``@skill(ray_options=...)`` by name and shape; return a copy.

    Examples:
        >>> check_ray_options({"num_cpus": 2, "resources": {"worker": 1}})
        {'num_cpus': 2, 'resources': {'worker': 1}}

    Raises:
        ValueError: naming the key that is unknown or has a value of the wrong shape.
    """
    for key, value in options.items():
        if key == "num_returns":
            raise ValueError(
                "ray_options['num_returns'] is skillstream's: a Ray skill returns its value "
                "(a generator skill the list of its items)"
            )
        check = _OPTIONS.get(key)
        if check is None:
            raise ValueError(f"unknown ray_options key {key!r}; known: {', '.join(sorted(_OPTIONS))}")
        check(key, value)
    return dict(options)


# -- the worker's side -----------------------------------------------------------------------


def _task_body(fn: Callable[..., Any], name: str, bound: bool) -> Callable[..., Any]:
    """The function Ray runs for one skill: ``fn`` (for a method, bound to the instance
    given first), then whatever it made (a coroutine, a generator) run to its value.

    It returns two objects: what the driver awaits, and what stays in Ray. A small value
    of plain data comes back in the first, ``(value,)`` (Ray sends small returns to the
    caller anyway, and a second fetch per call would cost more than the value); any other
    comes back as ``None`` and the value is the second, left in the object store.
    """
    if bound:

        def run_method(owner: Any, /, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            return _returns(_invoke(fn.__get__(owner), args, kwargs))

        run_skill: Callable[..., tuple[Any, Any]] = run_method
    else:
        # No instance to pass: each argument Ray ships costs the submit, so none is sent.
        def run_function(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
            return _returns(_invoke(fn, args, kwargs))

        run_skill = run_function
    # Ray names the task after the function: the dashboard and the state API show the skill.
    run_skill.__name__ = run_skill.__qualname__ = name
    return run_skill


def _returns(value: Any) -> tuple[Any, Any]:
    return ((value,), None) if _is_small(value) else (None, value)


def _invoke(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    made = fn(*args, **kwargs)
    if inspect.isasyncgen(made):
        return _run_async(_collect_async(made))
    if inspect.isawaitable(made):
        return _run_async(made)
    if inspect.isgenerator(made):
        try:
            return list(made)
        finally:
            made.close()
    return made


# Plain data under this many bytes (estimated) rides back with the task's completion.
SMALL = 64 * 1024
_SCALARS = frozenset({int, float, bool, complex, type(None)})
_SIZED = frozenset({str, bytes, bytearray})
_SEQUENCES = frozenset({list, tuple, set, frozenset})


def _is_small(value: Any) -> bool:
    """Whether ``value`` is plain data (scalars, strings, bytes, lists, tuples, sets and
    dicts of them) under :data:`SMALL` bytes. Bounded work: it gives up after 1,000 items,
    and on any other type (an array, an object), which stays in Ray."""
    budget = SMALL
    stack = [value]
    for _ in range(1000):
        if not stack:
            return True
        v = stack.pop()
        kind = type(v)
        if kind in _SCALARS:
            budget -= 16
        elif kind in _SIZED:
            budget -= len(v)
        elif kind in _SEQUENCES:
            budget -= 8 * len(v)
            stack.extend(v)
        elif kind is dict:
            budget -= 16 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        else:
            return False
        if budget < 0:
            return False
    return not stack


async def _collect_async(agen: Any) -> list[Any]:
    try:
        return [item async for item in agen]
    finally:
        await agen.aclose()


def _run_async(awaitable: Any) -> Any:
    async def main() -> Any:
        waker = asyncio.ensure_future(_wake())
        try:
            return await awaitable
        finally:
            waker.cancel()

    return asyncio.run(main())


async def _wake() -> None:
    while True:
        await asyncio.sleep(_WAKE_EVERY)


def _fetch(ref: Any) -> Any:
    return _import_ray().get(ref)


# -- the driver's side -----------------------------------------------------------------------


class RayValue(Deferred):
    """A Ray skill's value, kept in Ray's object store; ``resolve()`` fetches it once.

    Pickled (inside a list, tuple or dict given to another Ray skill), it is fetched where
    it is unpickled: on the worker that needs it.
    """

    __slots__ = ("ref", "_value", "_fetched")

    def __init__(self, ref: Any) -> None:
        self.ref = ref
        self._value: Any = None
        self._fetched = False

    def resolve(self) -> Any:
        if not self._fetched:
            self._value = _fetch(self.ref)
            self._fetched = True
        return self._value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_fetch, (self.ref,))

    def __repr__(self) -> str:
        return f"<in Ray: {self.ref!r}>"


class RayTask:
    """One skill's Ray remote functions, made on first use and shared by its bound copies
    (a method's copies pass their instance first; a plain function's calls pass nothing more)."""

    __slots__ = ("_bound", "_lock", "_plain", "fn", "options")

    def __init__(self, fn: Callable[..., Any], options: SkillOptions) -> None:
        require_ray()
        self.fn = fn
        self.options = options
        self._plain: Any = None
        self._bound: Any = None
        self._lock = threading.Lock()

    def remote(self, ray: Any, bound: bool = False) -> Any:
        """The remote function with this skill's options applied; ``bound``: the one that
        takes the instance of a method first."""
        made = self._bound if bound else self._plain
        if made is None:
            with self._lock:
                made = self._bound if bound else self._plain
                if made is None:
                    options = {
                        "max_retries": 0,  # retries are skillstream's, so none happens twice
                        **(self.options.ray_options or {}),
                        "num_returns": 2,
                    }
                    made = ray.remote(_task_body(self.fn, self.options.name, bound)).options(**options)
                    if bound:
                        self._bound = made
                    else:
                        self._plain = made
        return made


class _Inbox:
    """The outcomes Ray delivered, from its own thread, for one loop's attempts: the loop
    is woken once for all that arrived meanwhile, not once per call (as ``await ref``
    does), so a burst of completions costs one wake."""

    __slots__ = ("_items", "_lock", "_scheduled")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[RayAttempt, Any]] = []
        self._scheduled = False

    def put(self, attempt: RayAttempt, outcome: Any) -> None:
        """From any thread (Ray's, or the loop's if the outcome was in already)."""
        with self._lock:
            self._items.append((attempt, outcome))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            attempt.get_loop().call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody awaits these attempts any more
            with self._lock:
                self._items.clear()
                self._scheduled = False

    def _deliver(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        for attempt, outcome in items:
            try:
                attempt._settle(outcome)
            except Exception as exc:  # noqa: BLE001 (that call fails; the others are delivered)
                if not attempt.done():
                    attempt.set_exception(exc)


class RayAttempt(asyncio.Future[Any]):
    """One attempt of a Ray skill, as the run awaits it: it resolves when Ray reports the
    task's first return (``(value,)``, or ``None`` with the value left in Ray), with no
    task or thread of its own on the loop.

    ``cancel()`` stops the Ray task: the attempt ends cancelled once Ray reports the task
    ended (see the module docstring); cancelled again meanwhile, the task's worker is
    killed at once.
    """

    __slots__ = ("_done", "_force_after", "_inbox", "_ray", "_stopping", "_value")

    def __init__(self, loop: asyncio.AbstractEventLoop, force_after: float | None, inbox: _Inbox) -> None:
        super().__init__(loop=loop)
        self._inbox = inbox
        self._ray: Any = None
        self._done: Any = None  # the ObjectRefs, held until the outcome is in
        self._value: Any = None
        self._force_after = force_after
        self._stopping: asyncio.Task[None] | None = None

    def _submit(self, ray: Any, skill: Skill[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        task: RayTask = skill.remote_task
        fn = skill.fn
        # A top-level ObjectRef is resolved by Ray on the worker, with no driver round trip.
        args = tuple(a.ref if type(a) is RayValue else a for a in args)
        if kwargs:
            kwargs = {k: v.ref if type(v) is RayValue else v for k, v in kwargs.items()}
        if fn is task.fn:
            done, value = task.remote(ray).remote(*args, **kwargs)
        else:  # a bound copy of a method skill: its instance goes first
            done, value = task.remote(ray, True).remote(fn.__self__, *args, **kwargs)  # type: ignore[attr-defined]
        self._ray, self._done, self._value = ray, done, value
        # Ray calls back from its own thread once the first return is in (deserialized).
        done._on_completed(self._completed)

    def _completed(self, outcome: Any) -> None:
        self._inbox.put(self, outcome)

    def _connected(self, connecting: asyncio.Future[Any], skill: Skill[Any, Any], args: Any, kwargs: Any) -> None:
        if self.done():  # cancelled while connecting: nothing was submitted
            return
        exc = None if connecting.cancelled() else connecting.exception()
        if exc is not None:
            self.set_exception(exc)
            return
        try:
            self._submit(connecting.result(), skill, args, kwargs)
        except Exception as error:  # noqa: BLE001 (arguments Ray cannot serialize: the call fails)
            self.set_exception(error)

    def _settle(self, outcome: Any) -> None:
        if self.done() or self._stopping is not None:
            return  # being stopped: the attempt ends cancelled once Ray says the task ended
        value, self._done, self._value = self._value, None, None
        if outcome is None:
            self.set_result(RayValue(value))
        elif type(outcome) is tuple:
            self.set_result(outcome[0])
        else:  # an error: the first return is always a tuple or None
            _retrieve(value)  # holds the same error: read, so Ray does not log it unhandled
            exceptions = self._ray.exceptions
            if isinstance(outcome, exceptions.RayTaskError):
                # The skill's own exception (Retry(on=...) and ErrorInfo see its type),
                # with Ray's error, which carries the remote traceback, as its cause.
                wrapped = outcome.as_instanceof_cause()
                cause = outcome.cause
                if isinstance(cause, Exception):
                    cause.__cause__ = wrapped
                    cause.__suppress_context__ = True
                    outcome = cause
                else:
                    outcome = wrapped
            self.set_exception(outcome)

    def cancel(self, msg: Any | None = None) -> bool:
        if self.done():
            return False
        if self._done is None:  # not submitted (still connecting): nothing runs on Ray
            return super().cancel(msg)
        if self._stopping is None:
            self._stopping = self.get_loop().create_task(self._stop(msg))
        else:  # cancelled again while stopping it: the worker is killed at once
            self._stopping.cancel()
        return True

    async def _stop(self, msg: Any | None) -> None:
        """Cancel the Ray task and wait until Ray says it ended; kill its worker if it has
        not stopped after ``force_after`` seconds."""
        ray, ref = self._ray, self._done
        try:
            _retrieve(self._value)
            ray.cancel(ref)
            if not await _ended(ref, self._force_after):
                ray.cancel(ref, force=True)
                await _ended(ref, None)
        except asyncio.CancelledError:
            # Cancelled while stopping it (the loop is closing): kill it rather than
            # leave it running on the cluster.
            ray.cancel(ref, force=True)
            raise
        except Exception:  # noqa: BLE001 (Ray itself failed, shut down meanwhile: nothing to stop)
            _log.warning("skillstream: could not cancel a Ray task", exc_info=True)
        finally:
            self._done = self._value = None
            super().cancel(msg)


class RayExecutor:
    """Ray skills: each attempt is a Ray task; see the module docstring.

    Examples:
        >>> @skill(executor="ray", ray_options={"num_cpus": 1})  # doctest: +SKIP
        ... def embed(chunk: str) -> list[float]: ...

    Args:
        force_after: seconds a cancelled task may take to stop before its worker process
            is killed; ``None``: never kill (the run then waits ``cancel_grace`` for it,
            then warns, and the task may go on running).
    """

    name = "ray"
    interruptible = True
    """Cancel stops a Ray task: queued ones are withdrawn, running ones interrupted or
    killed (see the module docstring)."""
    takes_deferred = True
    """The engine passes a Ray input's :class:`RayValue` as it is (its value stays in Ray)."""

    def __init__(self, force_after: float | None = FORCE_AFTER) -> None:
        self.force_after = force_after
        self._ray: Any = None
        self._started_local = False
        self._lock = threading.Lock()
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = weakref.WeakKeyDictionary()

    @property
    def stops_within(self) -> float | None:
        """Seconds within which a cancelled attempt ends for sure (its worker is killed):
        closing the run waits for it that long, past its ``cancel_grace``."""
        return None if self.force_after is None else self.force_after + KILL_WAIT

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        skill: Skill[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_item: Callable[[Any], None] | None = None,
    ) -> asyncio.Future[Any]:
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inboxes[loop] = _Inbox()
        attempt = RayAttempt(loop, self.force_after, inbox)
        ray = self._ray
        if ray is not None and ray.is_initialized():
            attempt._submit(ray, skill, args, kwargs)  # an error (arguments) fails the call
        else:
            # Connecting runs in a thread, so the loop keeps going; submitted once connected.
            connecting = loop.run_in_executor(None, self._connect)
            connecting.add_done_callback(lambda c: attempt._connected(c, skill, args, kwargs))
        return attempt

    def _connect(self) -> Any:
        ray = _import_ray()
        with self._lock:
            if not ray.is_initialized():
                if os.environ.get("RAY_ADDRESS"):
                    _log.info("skillstream: joining the Ray cluster at RAY_ADDRESS")
                    ray.init()  # reads RAY_ADDRESS
                else:
                    cpus = _cpus()
                    _log.warning(
                        "skillstream: starting a local Ray instance with %d CPUs "
                        "(set RAY_ADDRESS or call ray.init() to use a cluster)",
                        cpus,
                    )
                    ray.init(address="local", num_cpus=cpus)
                    self._started_local = True
            self._ray = ray
        return ray

    def cancel(self, future: asyncio.Future[Any]) -> None:
        future.cancel()

    def close(self) -> None:
        """Forget the connection; shut down the local instance if this executor started it."""
        with self._lock:
            ray, self._ray = self._ray, None
            started, self._started_local = self._started_local, False
        if started and ray is not None:
            ray.shutdown()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _retrieve(ref: Any) -> None:
    ref.future().add_done_callback(_read_outcome)


def _read_outcome(future: Any) -> None:
    if not future.cancelled():
        future.exception()


async def _ended(ref: Any, timeout: float | None) -> bool:
    future = asyncio.wrap_future(ref.future())
    try:
        done, _ = await asyncio.wait((future,), timeout=timeout)
    finally:
        if not future.done():
            future.cancel()
    if done and not future.cancelled():
        future.exception()  # retrieved: a cancelled task ends in TaskCancelledError
    return bool(done)


class _Ray:
    """``@skill(executor="ray")``, as the skill model sees it (Ray is imported on first use)."""

    require = staticmethod(require_ray)
    check_options = staticmethod(check_ray_options)
    task = RayTask


register_remote("ray", _Ray())
