"""An Rx observer that an asyncio consumer reads with ``await``: the Observable -> async bridge.

Unbounded on purpose: backpressure in skillstream comes from the bounded merge upstream
(at most ``max_concurrency`` producers), not from the channel.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import abc

__all__ = ["ObserverChannel"]

_T = TypeVar("_T")


class ObserverChannel(abc.ObserverBase[_T]):
    """Buffers what an Observable emits until an asyncio consumer takes it.

    ``on_next``/``on_error``/``on_completed`` may be called from any thread: calls from
    another thread than the loop's hop onto the loop first (reactivex's AsyncIOScheduler
    is not thread-safe).
    """

    __slots__ = (
        "_loop",
        "_thread",
        "_items",
        "_waiter",
        "_done",
        "_error",
        "_hops",
        "_hops_lock",
        "on_take",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._items: deque[_T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        # Signals sent from other threads and not yet delivered on the loop. While there
        # are any, a signal sent on the loop's own thread queues behind them: delivering
        # it at once could complete the channel before an item sent earlier from a worker
        # thread arrives (that item would be lost) or reorder one source's items.
        self._hops = 0
        self._hops_lock = threading.Lock()
        self.on_take: Callable[[], None] | None = None
        """Called after the consumer takes an item: the producer's cue to resume (backpressure)."""

    def __len__(self) -> int:
        """Items buffered, not yet taken."""
        return len(self._items)

    # -- observer side -------------------------------------------------------------------

    def on_next(self, value: _T) -> None:
        if self._hops or threading.get_ident() != self._thread:
            self._hop(self._next, value)
        elif not self._done:  # _next(), inlined: one call per item on a run's hot path
            self._items.append(value)
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)

    def on_error(self, error: BaseException) -> None:
        if threading.get_ident() != self._thread or self._hops:
            self._hop(self._fail, error)
        else:
            self._fail(error)

    def on_completed(self) -> None:
        if threading.get_ident() != self._thread or self._hops:
            self._hop(self._complete)
        else:
            self._complete()

    def _next(self, value: _T) -> None:
        if not self._done:
            self._items.append(value)
            self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self._done:
            self._done = True
            self._error = error
            self._wake()

    def _complete(self) -> None:
        if not self._done:
            self._done = True
            self._wake()

    def _hop(self, deliver: Callable[..., None], *args: Any) -> None:
        with self._hops_lock:
            self._hops += 1
        try:
            # call_soon and call_soon_threadsafe append to the same FIFO ready queue, so
            # signals are delivered in the order they were sent.
            if threading.get_ident() == self._thread:
                self._loop.call_soon(self._arrive, deliver, args)
            else:
                self._loop.call_soon_threadsafe(self._arrive, deliver, args)
        except RuntimeError:
            # The loop is closed: no consumer is left to read the signal. Raising here
            # would fail the producer's thread for a reader that is gone.
            with self._hops_lock:
                self._hops -= 1

    def _arrive(self, deliver: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self._hops_lock:
            self._hops -= 1
        deliver(*args)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- consumer side -------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the source ended and every buffered item has been taken."""
        return self._done and not self._items and self._error is None

    def take(self, default: Any) -> Any:
        """The next buffered item if there is one, else ``default``: :meth:`get` without
        awaiting (a consumer reading a burst of items pays for no coroutine each)."""
        items = self._items
        if not items:
            return default
        item = items.popleft()
        if self.on_take is not None:
            self.on_take()
        return item

    async def get(self) -> _T:
        """The next item; raises the source's error after the items before it, or
        ``StopAsyncIteration`` at the end."""
        while True:
            if self._items:
                item = self._items.popleft()
                if self.on_take is not None:
                    self.on_take()
                return item
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._done:
                raise StopAsyncIteration
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
