"""Where one attempt of a skill runs: the event loop, a thread pool, or a process pool.

Each ``start_*`` returns an asyncio future on the loop, so completion always reaches the
run on the loop thread (reactivex's AsyncIOScheduler is not thread-safe). Cancelling that
future abandons a thread or process job: neither can be interrupted, so a late result is
simply dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["RemoteError", "start_process", "start_thread"]

# Threads are made on demand up to this many. A sync skill that blocks past its timeout
# keeps its thread busy until it returns: a roomy pool keeps such strays from starving
# later calls, which run_in_executor's default (cpu_count + 4 workers) would not.
THREAD_POOL_SIZE = 128

_lock = threading.Lock()
_thread_pool: ThreadPoolExecutor | None = None
_process_pool: ProcessPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _thread_pool
    if _thread_pool is None:
        with _lock:
            if _thread_pool is None:
                _thread_pool = ThreadPoolExecutor(
                    THREAD_POOL_SIZE, thread_name_prefix="skillstream"
                )
    return _thread_pool


def _processes() -> ProcessPoolExecutor:
    global _process_pool
    if _process_pool is None:
        with _lock:
            if _process_pool is None:
                # forkserver: forking the parent would copy its threads' locks mid-use.
                method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
                _process_pool = ProcessPoolExecutor(
                    max_workers=os.cpu_count() or 2,
                    mp_context=multiprocessing.get_context(method),
                )
    return _process_pool


def _discard_broken(pool: Executor) -> None:
    """A dead worker breaks a ProcessPoolExecutor for good: replace it for later calls."""
    global _process_pool
    with _lock:
        if _process_pool is pool:
            _process_pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def start_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> asyncio.Future[Any]:
    # Carry the caller's contextvars into the thread, as asyncio.to_thread does.
    ctx = contextvars.copy_context()
    return loop.run_in_executor(_threads(), functools.partial(ctx.run, _call, fn, args, kwargs))


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(*args, **kwargs)
    except StopIteration as exc:
        # An asyncio future refuses StopIteration (set_exception raises TypeError inside
        # the loop's callback, and the future never completes): turn it into the
        # RuntimeError a coroutine would have raised (PEP 479).
        name = getattr(fn, "__name__", "function")
        raise RuntimeError(f"{name} raised StopIteration") from exc


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


def _call_in_process(skill: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return _call(skill.fn, args, kwargs)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            try:
                message = str(exc)
            except Exception:
                message = "<exception str() failed>"
            raise RemoteError(type(exc).__name__, message) from None
        raise


def start_process(
    loop: asyncio.AbstractEventLoop, skill: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> asyncio.Future[Any]:
    pool = _processes()
    try:
        future = loop.run_in_executor(pool, _call_in_process, skill, args, kwargs)
    except BrokenProcessPool:
        _discard_broken(pool)
        future = loop.run_in_executor(_processes(), _call_in_process, skill, args, kwargs)

    def check(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and isinstance(f.exception(), BrokenProcessPool):
            _discard_broken(pool)

    future.add_done_callback(check)
    return future


def shutdown() -> None:
    """Shut the pools down (tests, and programs that want their threads back)."""
    global _thread_pool, _process_pool
    with _lock:
        threads, _thread_pool = _thread_pool, None
        processes, _process_pool = _process_pool, None
    if threads is not None:
        threads.shutdown(wait=False, cancel_futures=True)
    if processes is not None:
        processes.shutdown(wait=True, cancel_futures=True)
