"""Skills (decorated functions) and SkillCalls (lazy invocations of them)."""

from __future__ import annotations

import functools
import inspect
import pickle
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, Union, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from operators._policy import NO_FALLBACK

from ._executor import Executor as ExecutorProtocol
from ._executor import remote
from ._policies import ADMISSION, CircuitBreaker, Hedge, RateLimit, check_key
from ._retry import Retry

__all__ = ["NO_FALLBACK", "Skill", "SkillCall", "SkillOptions", "skill"]

P = ParamSpec("P")
R = TypeVar("R")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()

ExecutorName = Literal["auto", "thread", "process", "ray"]
Executor = Union[ExecutorName, "ExecutorProtocol"]
"""Where a skill runs: a name, or an :class:`pipeline.Executor` object (e.g.
``ProcessExecutor(max_workers=4)``, a pool of its own)."""


class SkillOptions(BaseModel):
    """How every call of a skill runs. Validated once, when the skill is defined."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    timeout: float | None = Field(default=None, gt=0)
    """Seconds each attempt may take; ``None``: no limit."""
    idle_timeout: float | None = Field(default=None, gt=0)
    """A streaming skill's most seconds before its first item and between two items."""
    retry: Retry | None = None
    """Retry policy; ``None``: one attempt."""
    fallback: Any = NO_FALLBACK
    """Value used when the call ends without one, or a callable taking the exception."""
    executor: Any = "auto"
    """"auto" (async on the loop, sync in threads), "thread", "process" or "ray"; or an
    :class:`pipeline.Executor` object (a pool of the skill's own, e.g. its size)."""
    ray_options: dict[str, Any] | None = None
    """With ``executor="ray"``: options for Ray's ``.options()`` (``num_cpus``,
    ``num_gpus``, ``resources``, ``memory``, ``runtime_env``, ...). ``max_retries``
    defaults to 0: skillstream's ``retry`` governs retries. Default: Ray's defaults."""
    rate_limit: RateLimit | None = None
    """The API's limit, shared by every skill with its key; ``None``: none."""
    circuit_breaker: CircuitBreaker | None = None
    """Fail fast while the API keeps failing (shared by key); ``None``: none."""
    idempotent: bool = False
    """Calling it twice with the same arguments does what calling it once does: a
    Toolset runs identical tool calls of one response once, and a Hedge may race copies."""
    hedge: Hedge | None = None
    """Race a copy of an attempt that is slow to answer (needs ``idempotent``)."""
    needs_approval: Any = False
    """``True``: every call waits for a person's decision before it runs; a predicate
    (called with the call's arguments, as the skill would be): the calls for which it
    returns true do. A call that needs one is reported ``pending`` and runs once a run is
    given ``decisions={key: Approve()}``. Default ``False``: no call waits."""

    @field_validator("needs_approval")
    @classmethod
    def _check_needs_approval(cls, value: Any) -> Any:
        if isinstance(value, bool) or (callable(value) and not isinstance(value, type)):
            return value
        raise ValueError(f"needs_approval must be True, False or a predicate on the arguments, got {value!r}")

    @model_validator(mode="after")
    def _hedge_needs_idempotent(self) -> SkillOptions:
        if self.hedge is not None and not self.idempotent:
            raise ValueError(
                "hedge needs idempotent=True: a hedged copy may do the work a second time"
            )
        if self.hedge is not None and self.rate_limit is not None:
            raise ValueError("hedge and rate_limit together: hedged copies would go beyond the limit")
        return self

    @field_validator("rate_limit")
    @classmethod
    def _one_limit_per_key(cls, value: RateLimit | None) -> RateLimit | None:
        if value is not None:
            check_key(value)
        return value

    @field_validator("circuit_breaker")
    @classmethod
    def _one_breaker_per_key(cls, value: CircuitBreaker | None) -> CircuitBreaker | None:
        if value is not None:
            check_key(value)
        return value

    @field_validator("executor")
    @classmethod
    def _check_executor(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in ("auto", "thread", "process", "ray"):
                raise ValueError(
                    f"executor must be 'auto', 'thread', 'process', 'ray' or an Executor, got {value!r}"
                )
            return value
        if not all(callable(getattr(value, m, None)) for m in ("start", "cancel", "close")) or not isinstance(
            getattr(value, "name", None), str
        ):
            raise ValueError(
                f"executor must be a name or an Executor (name, interruptible, start, cancel, close), got {value!r}"
            )
        return value

    @field_validator("timeout", "idle_timeout", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("timeout must be a number of seconds, not a bool")
        return value

    @field_validator("ray_options")
    @classmethod
    def _check_ray_options(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # No Ray import: the check is by name and type.
        return None if value is None else remote("ray").check_options(value)

    @model_validator(mode="after")
    def _ray_options_need_ray(self) -> SkillOptions:
        if self.ray_options is not None and self.executor != "ray":
            raise ValueError("ray_options is for executor='ray' only")
        return self


def _is_generator_function(fn: Any) -> bool:
    return inspect.isgeneratorfunction(fn) or inspect.isgeneratorfunction(getattr(fn, "__call__", None))


def _check_hedge(kind: str, options: SkillOptions) -> None:
    if options.hedge is not None and kind not in ("async", "process", "ray"):
        where = "a thread, which cannot be stopped" if kind == "thread" else "a generator's items"
        raise ValueError(
            f"skill {options.name!r}: hedge needs a skill whose losing copy can be stopped "
            f"(async, process or Ray), not {where}"
        )


class Skill(Generic[P, R]):
    """A function made into a skill by :func:`skill`. Calling it makes a lazy SkillCall.

    Attributes:
        fn: the original function.
        options: the validated :class:`SkillOptions`.
        kind: ``"async"``, ``"asyncgen"``, ``"thread"``, ``"process"`` or ``"ray"``: where
            it runs.
    """

    def __init__(self, fn: Callable[P, Any], options: SkillOptions) -> None:
        if isinstance(fn, Skill):
            fn = fn.fn
        if not callable(fn):
            raise TypeError(f"skill() needs a function, got {fn!r}")
        # @skill over @staticmethod: the function itself, never bound to an instance.
        self._static = isinstance(fn, staticmethod)
        if isinstance(fn, staticmethod):
            fn = fn.__func__
        self.fn: Callable[P, Any] = fn
        self.options = options
        is_async = _is_async_callable(fn)
        is_agen = inspect.isasyncgenfunction(fn) or inspect.isasyncgenfunction(
            getattr(fn, "__call__", None)
        )
        custom = None if isinstance(options.executor, str) else options.executor
        where = options.executor if custom is None else custom.name
        # An Executor object of the skill's own (its own pool); None: the shared ones.
        self.executor: ExecutorProtocol | None = custom
        self._on_loop = False  # runs as a task on the run's loop (the engine's fast path)
        self._plain = False
        # No admission before an attempt (no breaker, no rate limit): the engine's fast path.
        self._unlimited = all(getattr(options, name) is None for name in ADMISSION)
        if options.executor == "ray":
            # Any function runs on Ray (async ones and closures too: Ray ships it by value).
            self.kind = "ray"
            self.remote_task = remote("ray").task(fn, options)  # bound copies (methods) share it
            functools.update_wrapper(self, fn)
            return
        if where == "process" and (is_async or is_agen):
            raise TypeError(
                f"skill {options.name!r}: executor='process' runs plain functions; "
                f"{fn!r} is async"
            )
        if where == "process":
            _check_importable(fn, options.name)
        if is_agen:
            self.kind = "asyncgen"
        elif is_async:
            self.kind = "async"
            self._on_loop = custom is None
        elif where == "process":
            self.kind = "process"
        else:
            self.kind = "thread"
        _check_hedge(self.kind, options)
        # Awaited by a run's worker with nothing asked before or around an attempt (no
        # admission policy, no hedge): the engine's shortest path.
        self._plain = self._on_loop and self._unlimited and options.hedge is None
        if options.idle_timeout is not None and not (is_agen or _is_generator_function(fn)):
            raise ValueError(
                f"skill {options.name!r}: idle_timeout is for generator skills (time between "
                f"items); {fn!r} does not yield"
            )
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.options.name

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Skill[Any, R]:
        """``@skill`` on a method: ``agent.greet`` is a skill bound to ``agent``, as a
        function would be a bound method (its name stays the method's)."""
        if instance is None or self._static:
            return self
        bound: Skill[Any, R] = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound.fn = self.fn.__get__(instance, owner)
        return bound

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> SkillCall[R]:
        # SkillCall(self, args, kwargs), without its __init__'s frame: a call is made
        # per item of a source.
        call: SkillCall[R] = _new_call(SkillCall)
        call.skill = self
        call.args = args
        call.kwargs = kwargs
        call.key = self.options.name
        call.options = self.options
        call.after = ()
        call._opaque = False
        return call

    def __repr__(self) -> str:
        return f"<skill {self.options.name} ({self.kind})>"

    def __reduce__(self) -> tuple[Any, ...]:
        # A process pool pickles the skill; the worker needs only its function, found by
        # reference. Check here, in the parent: a worker that cannot unpickle its job dies,
        # and a dead worker breaks the whole pool.
        module, qualname = self.fn.__module__, self.fn.__qualname__
        try:
            found = _lookup(module, qualname)
        except (ImportError, AttributeError):
            found = None
        if found is self:  # @skill(...) over a module-level def: the name is the skill
            return (_lookup, (module, qualname))
        if found is self.fn:  # skill(fn, ...) under another name: the name is the function
            return (_worker_skill, (self.fn, self.options.name))
        raise pickle.PicklingError(
            f"skill {self.name!r} cannot run in a process: workers import its function by "
            f"name, and {module}.{qualname} is neither this skill nor its function"
        )


def _lookup(module: str, qualname: str) -> Any:
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _worker_skill(fn: Callable[..., Any], name: str) -> Skill[Any, Any]:
    """The skill as a worker process needs it: its function (shipped by reference)."""
    return Skill(fn, SkillOptions(name=name))


def _check_importable(fn: Any, name: str) -> None:
    """A process skill's function must be importable by workers: refuse, where it is
    written, what never can be (a lambda, a function defined inside another)."""
    qualname = getattr(fn, "__qualname__", "")
    if getattr(fn, "__name__", "") == "<lambda>":
        raise TypeError(
            f"skill {name!r}: executor='process' cannot run a lambda (workers import the "
            "function by name); define it with def at the top level of a module"
        )
    if "<locals>" in qualname:
        raise TypeError(
            f"skill {name!r}: executor='process' cannot run {qualname}, a function defined "
            "inside another (workers import the function by name); move it to the top "
            "level of a module"
        )


def _is_async_callable(fn: Any) -> bool:
    """A coroutine function, or an object whose ``__call__`` is one (a functools.partial
    of one counts too, as inspect unwraps partials)."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


class SkillCall(Generic[R]):
    """One lazy invocation of a skill: nothing runs until a run takes it (or it is awaited).

    A SkillCall may take other SkillCalls as arguments (positional, keyword, or inside a
    list, tuple or dict): it then depends on them and starts once they all have values,
    which replace them.

    Examples:
        >>> @skill
        ... async def double(x: int) -> int:
        ...     return 2 * x
        >>> call = double(21)
        >>> call.key, call.args
        ('double', (21,))
    """

    # __weakref__: a run reading a lazy source forgets a finished call once nobody else
    # can list it again (its map of finished calls is weak).
    __slots__ = ("skill", "args", "kwargs", "key", "options", "after", "_opaque", "__weakref__")

    def __init__(
        self,
        skill: Skill[Any, R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        key: str | None = None,
        options: SkillOptions | None = None,
        after: tuple[SkillCall[Any], ...] = (),
    ) -> None:
        self.skill = skill
        self.args = args
        self.kwargs = kwargs
        self.key: str = key if key is not None else skill.options.name
        self.options: SkillOptions = options if options is not None else skill.options
        self.after = after
        # True when the arguments are plain data, never inputs (StateGraph passes states).
        self._opaque = False

    def _copy(self, **changes: Any) -> SkillCall[R]:
        fields: dict[str, Any] = {"key": self.key, "options": self.options, "after": self.after}
        fields.update(changes)
        copy: SkillCall[R] = SkillCall(self.skill, self.args, self.kwargs, **fields)
        copy._opaque = self._opaque
        return copy

    def named(self, key: str) -> SkillCall[R]:
        """A copy of this call with another key (to tell apart calls of one skill)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty str, got {key!r}")
        return self._copy(key=key)

    def with_options(
        self,
        *,
        timeout: float | None = _UNSET,
        idle_timeout: float | None = _UNSET,
        retry: Retry | None = _UNSET,
        fallback: Any = _UNSET,
        rate_limit: RateLimit | None = _UNSET,
        circuit_breaker: CircuitBreaker | None = _UNSET,
        hedge: Hedge | None = _UNSET,
        needs_approval: bool | Callable[..., bool] = _UNSET,
    ) -> SkillCall[R]:
        """A copy of this call with some options replaced (the others are inherited).

        ``None`` disables a timeout, retry, rate limit or circuit breaker; ``NO_FALLBACK`` removes a fallback.

        Raises:
            pydantic.ValidationError: if an option is invalid.
        """
        changes = {
            k: v
            for k, v in (
                ("timeout", timeout),
                ("idle_timeout", idle_timeout),
                ("retry", retry),
                ("fallback", fallback),
                ("rate_limit", rate_limit),
                ("circuit_breaker", circuit_breaker),
                ("hedge", hedge),
                ("needs_approval", needs_approval),
            )
            if v is not _UNSET
        }
        data = {**dict(self.options), **changes}
        options = SkillOptions(**data)
        _check_hedge(self.skill.kind, options)
        return self._copy(options=options)

    def after_calls(self, *calls: SkillCall[Any]) -> SkillCall[R]:
        """A copy of this call that also waits for ``calls`` (an order-only edge: their
        values are not passed in; if one ends without a value, this call is skipped)."""
        for c in calls:
            if not isinstance(c, SkillCall):
                raise TypeError(f"after_calls() takes SkillCalls, got {c!r}")
        return self._copy(after=self.after + calls)

    def __await__(self) -> Generator[Any, None, R]:
        """Run this call (and its dependencies) alone.

        Returns the value or the fallback value; raises :class:`SkillError` otherwise.
        """
        return _run_alone(self).__await__()

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        named = f" as {self.key!r}" if self.key != self.skill.options.name else ""
        return f"{self.skill.options.name}({', '.join(parts)}){named}"


_new_call = object.__new__


class SkillDecorator(Protocol):
    """What ``skill(...)`` with options returns: apply it to a function."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Skill[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, AsyncIterator[R]], /) -> Skill[P, list[R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Skill[P, R]: ...


# An async function's calls are awaited for its result, and an async generator's for the
# list of its items: the overloads say so, so that `await fetch(...)` types as the value.
@overload
def skill(
    fn: Callable[P, Coroutine[Any, Any, R]],
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: Retry | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor = "auto",
    rate_limit: RateLimit | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    ray_options: dict[str, Any] | None = None,
    idempotent: bool = False,
    hedge: Hedge | None = None,
    needs_approval: bool | Callable[..., bool] = False,
) -> Skill[P, R]: ...
@overload
def skill(
    fn: Callable[P, AsyncIterator[R]],
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: Retry | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor = "auto",
    rate_limit: RateLimit | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    ray_options: dict[str, Any] | None = None,
    idempotent: bool = False,
    hedge: Hedge | None = None,
    needs_approval: bool | Callable[..., bool] = False,
) -> Skill[P, list[R]]: ...
@overload
def skill(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: Retry | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor = "auto",
    rate_limit: RateLimit | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    ray_options: dict[str, Any] | None = None,
    idempotent: bool = False,
    hedge: Hedge | None = None,
    needs_approval: bool | Callable[..., bool] = False,
) -> Skill[P, R]: ...
@overload
def skill(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: Retry | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor = "auto",
    rate_limit: RateLimit | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    ray_options: dict[str, Any] | None = None,
    idempotent: bool = False,
    hedge: Hedge | None = None,
    needs_approval: bool | Callable[..., bool] = False,
) -> SkillDecorator: ...
def skill(
    fn: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: Retry | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor = "auto",
    rate_limit: RateLimit | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    ray_options: dict[str, Any] | None = None,
    idempotent: bool = False,
    hedge: Hedge | None = None,
    needs_approval: bool | Callable[..., bool] = False,
) -> Skill[P, Any] | SkillDecorator:
    """Make a function a skill: calling it then returns a lazy :class:`SkillCall`.

    Async functions run on the event loop, sync ones in a thread pool, and with
    ``executor="process"`` in a process pool (the function must then be defined at a
    module's top level, and its arguments and value must pickle; workers import your
    script, so a script runs such skills under ``if __name__ == "__main__":``, else the
    calls fail with an error saying so). With ``executor="ray"``
    each attempt is a Ray task (any function, async ones too; arguments and value must
    pickle), and a Ray skill's value given to another Ray skill stays in Ray.

    Examples:
        >>> @skill(timeout=10, retry=Retry(attempts=3), fallback=None)
        ... async def fetch_stock(symbol: str) -> dict:
        ...     return {"symbol": symbol}
        >>> fetch_stock("AAPL")
        fetch_stock('AAPL')

    Args:
        fn: the function (bare ``@skill`` form).
        name: the skill's name; default the function's ``__name__``.
        timeout: seconds each attempt may take; ``None``: no limit.
        idle_timeout: for a generator skill, seconds it may take to yield its first item
            and each next one (an attempt that goes quiet fails as ``timeout``).
        retry: a :class:`Retry` policy; ``None``: one attempt.
        fallback: value for a call that ends without one, or a callable taking the
            exception and returning it. Default: no fallback.
        executor: ``"auto"``, ``"thread"``, ``"process"`` or ``"ray"``.
        ray_options: with ``executor="ray"``, options for Ray's ``.options()``, e.g.
            ``{"num_cpus": 2, "resources": {"worker": 1}}``. Needs ``skillstream[ray]``.
        rate_limit: a :class:`RateLimit` every attempt waits for (shared by key).
        circuit_breaker: a :class:`CircuitBreaker` (shared by key).
        idempotent: the skill may run once for identical calls (a Toolset then runs
            identical tool calls of one response once), or twice (a Hedge).
        hedge: a :class:`Hedge`: race a copy of a slow attempt (needs ``idempotent``).
        needs_approval: ``True``, or a predicate taking the call's arguments: a call
            that needs approval does not run; the run reports it ``pending`` and goes on,
            and a later run given ``decisions={key: Approve() | Reject(reason)}`` runs or
            rejects it (see :class:`Approve`).

    Raises:
        pydantic.ValidationError: if an option is invalid (the error names the field).
        TypeError: if ``executor="process"`` is given an async function.
        ImportError: if ``executor="ray"`` and Ray is not installed.
    """

    def decorate(f: Callable[P, Any]) -> Skill[P, Any]:
        options = SkillOptions(
            name=name if name is not None else getattr(f, "__name__", "skill"),
            timeout=timeout,
            idle_timeout=idle_timeout,
            retry=retry,
            fallback=fallback,
            executor=executor,
            rate_limit=rate_limit,
            circuit_breaker=circuit_breaker,
            ray_options=ray_options,
            idempotent=idempotent,
            hedge=hedge,
            needs_approval=needs_approval,
        )
        return Skill(f, options)

    if fn is not None:
        return decorate(fn)
    # Validate now, so that a bad @skill(...) fails where it is written, not when applied.
    SkillOptions(
        name="_" if name is None else name,
        timeout=timeout,
        idle_timeout=idle_timeout,
        retry=retry,
        fallback=fallback,
        executor=executor,
        rate_limit=rate_limit,
        circuit_breaker=circuit_breaker,
        ray_options=ray_options,
        idempotent=idempotent,
        hedge=hedge,
        needs_approval=needs_approval,
    )
    if executor == "ray":
        remote("ray").require()
    return decorate  # type: ignore[return-value]  # one function serves every overload of SkillDecorator


def holds_calls(value: Any) -> bool:
    """Whether ``value`` is a call or a list, tuple or dict with calls in it.

    One level, as the contract says: deeper data is data (scanning it would cost time in
    proportion to its size on every call, and could mistake stored calls for inputs).
    """
    if isinstance(value, SkillCall):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, SkillCall) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, SkillCall) for v in value.values())
    return False


def calls_in(value: Any, out: list[SkillCall[Any]]) -> None:
    """Append the calls ``value`` holds (one level, as :func:`holds_calls` reads it)."""
    if isinstance(value, SkillCall):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        out.extend(v for v in value if isinstance(v, SkillCall))
    elif isinstance(value, dict):
        out.extend(v for v in value.values() if isinstance(v, SkillCall))


# A call awaited alone runs as a run of its own; runs are made a layer up, which sets this
# when it is imported (``pipeline`` imports it first).
_run_alone: Callable[[SkillCall[Any]], Coroutine[Any, Any, Any]]


def set_runner(runner: Callable[[SkillCall[Any]], Coroutine[Any, Any, Any]]) -> None:
    """Make ``await call`` run ``call`` through ``runner``."""
    global _run_alone
    _run_alone = runner
