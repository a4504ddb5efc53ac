"""An Rx observer that an asyncio consumer reads with ``await``: the Observable -> async bridge.

Unbounded on purpose: backpressure in skillstream comes from the bounded merge upstream
(at most ``max_concurrency`` producers), not from the channel.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["ObserverChannel"]

_T = TypeVar("_T")


class ObserverChannel(Generic[_T]):
    """Buffers what an Observable emits until an asyncio consumer takes it.

    ``on_next``/``on_error``/``on_completed`` may be called from any thread: calls from
    another thread than the loop's hop onto the loop first (reactivex's AsyncIOScheduler
    is not thread-safe, REACTIVEX-NOTES 1).
    """

    __slots__ = ("_loop", "_thread", "_items", "_waiter", "_done", "_error")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._items: deque[_T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None

    # -- observer side -------------------------------------------------------------------

    def on_next(self, value: _T) -> None:
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.on_next, value)
            return
        if not self._done:
            self._items.append(value)
            self._wake()

    def on_error(self, error: BaseException) -> None:
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.on_error, error)
            return
        if not self._done:
            self._done = True
            self._error = error
            self._wake()

    def on_completed(self) -> None:
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self.on_completed)
            return
        if not self._done:
            self._done = True
            self._wake()

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

    async def get(self) -> _T:
        """The next item; raises the source's error after the items before it, or
        ``StopAsyncIteration`` at the end."""
        while True:
            if self._items:
                return self._items.popleft()
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
