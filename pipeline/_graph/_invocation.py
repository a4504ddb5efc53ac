"""One invocation of a compiled graph: the engine's feeder for one run."""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import copy
import inspect
import threading
import uuid
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._core._errors import DeadlineExceeded, DependencyFailed
from ._routing import (
    END,
    START,
    Command,
    GraphError,
    GraphRecursionError,
    InvalidGraphError,
    InvalidUpdateError,
    Send,
    _Branch,
)
from .._executors._local import with_loop_open
from ._interrupt import PAUSED, SCRATCH, GraphInterrupt, Interrupt, Scratch, is_paused
from ._subgraphs import NodeLink, passed_up, wanted
from ._state import _short
from .._core._instruments import Instrument
from .._core._result import ErrorInfo, Results, SkillResult, Status
from .._core._skill import NO_FALLBACK, Skill, SkillCall, SkillOptions
from ._policies import cache_key
from .._durable._session import JournalSession
from .._stream._results import ResultStream
from . import _stream_modes

if TYPE_CHECKING:
    from .._engine._run import Run
    from ._builder import CompiledStateGraph
    from .._durable._journal import JournalBinding

StreamMode = Literal["updates", "values", "custom", "messages", "tasks", "debug"]
"""What :meth:`CompiledStateGraph.astream` streams (LangGraph's names): node updates, the
state, custom chunks, chat model tokens, node runs starting and ending, or the latter
with their step and time."""
STREAM_MODES = ("updates", "values", "custom", "messages", "tasks", "debug")

StreamWriter = Callable[[Any], None]
"""What :func:`get_stream_writer` returns: call it with any value to stream it as a
"custom" chunk (LangGraph's ``langgraph.types.StreamWriter``)."""


def _no_op_writer(chunk: Any) -> None:
    """The writer of a node whose invocation does not stream "custom": it drops the chunk."""


_WRITER: contextvars.ContextVar[StreamWriter | None] = contextvars.ContextVar("skillstream_writer", default=None)


def get_stream_writer() -> StreamWriter:
    """The running StateGraph node's stream writer (LangGraph's ``get_stream_writer``).

    Each value given to it is a ``"custom"`` chunk of ``astream(..., stream_mode="custom")``
    (``("custom", value)`` with a list of modes), streamed the moment it is written, from
    an async node on the loop or a sync node in its thread (its writes hop onto the loop, in
    order). When the invocation does not stream "custom" (``invoke``, other modes) the
    writer does nothing, as LangGraph's does. A node may also take it as a parameter named
    ``writer``. Process and Ray nodes run elsewhere and have none.

    Examples:
        >>> def plan(state):
        ...     writer = get_stream_writer()
        ...     writer({"progress": "planning"})        # a "custom" chunk, now
        ...     return {"plan": [...]}
        >>> async for chunk in app.astream(state, stream_mode="custom"):
        ...     print(chunk)                             # {"progress": "planning"}

    Raises:
        RuntimeError: called outside a StateGraph node (as LangGraph's raises outside a
            runnable context).
    """
    writer = _WRITER.get()
    if writer is None:
        raise RuntimeError(
            "get_stream_writer() was called outside a StateGraph node; call it inside a node "
            "of a graph run with astream(..., stream_mode='custom') (elsewhere, stream a "
            "skill's items by making it a generator)"
        )
    return writer


class _CallContext:
    """What a node's wrapper gets beside the state: the config, where to leave the node's
    own exception (so that ``except ValueError`` around ``invoke`` sees it), and the
    node run's stream writer."""

    __slots__ = ("answers", "config", "errors", "key", "runnable_config", "scope", "shared", "writer")

    def __init__(
        self,
        config: dict[str, Any],
        errors: dict[str, BaseException],
        key: str,
        writer: StreamWriter = _no_op_writer,
        answers: list[Any] | None = None,
        scope: str = "",
        shared: Scratch | None = None,
    ) -> None:
        self.config = config
        self.errors = errors
        self.key = key
        self.writer = writer
        self.answers = answers or []  # resume answers for its interrupt() calls, in order
        self.scope = scope  # with the key, what its interrupt id is made of
        self.shared = shared  # in a subgraph: the count of the node run it runs inside
        # With stream_mode="messages": LangChain's context variable of the running
        # runnable's config, set to this run's while it runs (see enter).
        self.runnable_config: contextvars.ContextVar[Any] | None = None

    def enter(self) -> contextvars.Token[Any] | None:
        """Make the run's config LangChain's current one, when the invocation streams
        "messages": a chat model called without ``config`` then streams too, as in a
        LangGraph node. The token is for :meth:`leave`."""
        var = self.runnable_config
        return None if var is None else var.set(self.config)

    def leave(self, token: contextvars.Token[Any] | None) -> None:
        if token is not None and self.runnable_config is not None:
            try:
                self.runnable_config.reset(token)
            except ValueError:  # a generator closed from another context: nothing to undo
                pass

    def scratch(self) -> Scratch:
        """A fresh count of interrupt() calls for one attempt (a retry starts again)."""
        if self.shared is not None:
            return self.shared
        return Scratch(self.answers, self.scope, self.key)

    def failed(self, exc: BaseException) -> None:
        self.errors[self.key] = exc

    def __repr__(self) -> str:
        # Stable across invocations and processes: a journal matches a node run by its
        # arguments' text, which must not hold this object's address.
        try:
            # Without the run's namespace, which holds its task id: the same run of
            # another invocation (a resumed one) has another.
            configurable = repr(
                sorted((k, v) for k, v in dict(self.config.get("configurable") or {}).items() if k != "checkpoint_ns")
            )
        except Exception:
            configurable = "?"
        # A resumed run differs from its paused one (whose value, its interrupt, the
        # journal keeps): by how many answers it has, which only grows.
        resumed = f", resumed={len(self.answers)}" if self.answers else ""
        return f"_CallContext(key={self.key!r}, configurable={configurable}{resumed})"


_Order = tuple[int | str, ...]
"""A run's place in fold order (:meth:`_NodeRun.order`)."""


class _NodeRun:
    """One run of a node: where it sits in the invocation's logical order, and what it saw."""

    __slots__ = ("key", "node", "past", "round", "sent", "step", "triggers", "update")

    def __init__(self, node: str, round_: int, step: int, sent: _Order | None = None) -> None:
        self.node = node
        self.round = round_
        self.step = step
        self.sent = sent  # a Send's run: where it was sent from (see order); else None
        self.key = node
        self.triggers: list[_NodeRun] = []
        self.past: frozenset[_NodeRun] = frozenset()
        self.update: list[tuple[str, Any]] = []  # its writes, in order

    def order(self) -> _Order:
        # LangGraph's fold order within a superstep: triggered nodes by name, then Sends
        # in the order they were sent; here the step is the run's logical step.
        #
        # "The order they were sent" is LangGraph's order of the writes that made them:
        # its previous step's runs in this same order, then each run's writes in order
        # (a Command's goto before its node's routers, the routers as added, a router's
        # list in order). It is not when the Send reached us: the runs of a step (and
        # async routers) finish in whatever order their threads and tasks do, so a
        # counter taken on arrival folded two Sends of one step either way, at random
        # (test_send_sequences on 3.13). A Send's key is its sender's key plus where in
        # the sender's writes it was (see _send); the keys make a prefix-free code, so
        # comparing them flat compares the senders first, as nesting them would.
        if self.sent is None:
            return (self.step, 0, self.node, self.round)
        return (self.step, 1, *self.sent)


_START_RUN = _NodeRun(START, 0, 0)
_INPUT: Any = object()


class _Wake:
    """Put on the events channel after a custom chunk was written: wakes the consumer,
    which then drains the outbox (the chunk is already there, in the order it came)."""

    __slots__ = ()
    kind = "custom"


_WAKE = _Wake()


class _CustomFeed(Instrument):
    """``stream_mode="custom"``: each item a node yields is a custom chunk, the moment it is
    yielded (the engine's ``call_item``, on the loop)."""

    __slots__ = ("invocation",)

    def __init__(self, invocation: _Invocation) -> None:
        self.invocation = invocation

    def call_item(self, call: SkillCall[Any], index: int, attempt: int, item: Any, at: float) -> None:
        # Before the events' own "partial" event, which then wakes the consumer.
        self.invocation._emit("custom", item)


class _Invocation:
    """One run of a compiled graph: the running state and the coordinator's book-keeping.

    It is the run's :class:`~pipeline._engine._run.Feeder`: the engine pulls ready node runs
    from it when a slot frees, and tells it every result the moment the result exists
    (on the loop, before the consumer sees it), so the next nodes are released at once,
    not when the consumer gets round to them. A node that cannot run is reported to the
    engine as skipped, so it is a result of the run like any other.
    """

    def __init__(
        self,
        graph: CompiledStateGraph[Any],
        initial: dict[str, Any],
        modes: tuple[str, ...],
        config: dict[str, Any],
        multi: bool = False,
    ) -> None:
        self.graph = graph
        self.schema = graph._schema
        # What a "values" chunk holds: every channel, as LangGraph's stream() streams; the
        # output schema's keys for an invoke() (what a subgraph passes up then).
        self.values_schema = graph._schema
        self.initial = initial
        # Run inside another graph's node run (a subgraph): the link to it, and the modes
        # whose chunks go up to it beside this invocation's own (see _subgraphs).
        link = _WRITER.get()
        self.link = link if isinstance(link, NodeLink) else None
        self.link_ns = self.link.enter() if self.link is not None else ()
        up = passed_up(link)
        # Where this invocation runs (LangGraph's checkpoint_ns, split at "|"): below the
        # node run it runs inside; a node run's namespace is this plus "node:<task id>",
        # the element its subgraphs' chunks are streamed under.
        self.ns_path: tuple[str, ...] = ()
        if self.link is not None:
            self.ns_path = (*self.link.invocation.ns_path, self.link.element, *self.link_ns)
            metadata = config.get("metadata") or {}
            if "checkpoint_ns" not in metadata:  # as LangGraph's inherited config says
                parent_ns = "|".join((*self.link.invocation.ns_path, self.link.element))
                config["metadata"] = {**metadata, "checkpoint_ns": parent_ns}
        elif link is not None:  # in a node run that streams nothing: its config says where
            given = config["configurable"].get("checkpoint_ns")
            self.ns_path = tuple(given.split("|")) if isinstance(given, str) and given else ()
        self.own_modes = modes
        if up:
            modes = (*modes, *sorted(up.difference(modes)))
        self.modes = modes
        self.subgraphs = False  # astream(subgraphs=True): the chunks of subgraphs too
        self.wanted = wanted(self.own_modes, False, up)  # modes taken from subgraphs
        self.shared_scratch = SCRATCH.get() if graph.checkpointer is None else None
        self.multi = multi  # stream_mode given as a list: yield (mode, chunk) pairs
        self.values_each_run = "values" in modes  # after each node run (supersteps: each step)
        self.config = config
        self.limit: int = config["recursion_limit"]
        self.run: Run | None = None
        self.calls: deque[SkillCall[Any]] = deque()  # released, waiting for a slot
        self.outbox: deque[Any] = deque()  # stream items made by on_result, for the consumer
        self.pending: dict[tuple[str, int], _NodeRun] = {}  # triggered, not started
        self.started: set[tuple[str, int]] = set()  # (node, round) taken by a normal run
        self.in_flight: dict[str, _NodeRun] = {}  # key -> run, handed to the engine
        self.live: Counter[tuple[str, int]] = Counter()  # pending, in flight, or routing
        self.done: list[_NodeRun] = []  # runs with a value, in fold order
        self.done_keys: list[_Order] = []
        self.folded: dict[str, Any] | None = None  # the fold of done[:folded_n]
        self.folded_n = 0
        self.joins: dict[tuple[str, ...], dict[str, _NodeRun]] = {}  # a join's sources seen since it fired
        self.writers: dict[tuple[int, str], str] = {}  # (step, plain field) -> key
        self.blocked: dict[str, SkillResult] = {}  # node -> the failed ancestor's result
        self.reruns: Counter[str] = Counter()
        self.results: list[SkillResult] = []
        self.errors: dict[str, BaseException] = {}  # key -> the node's own exception
        self.skipping: set[str] = set()  # keys reported skipped through the engine
        self.skipped: list[tuple[str, str, Exception, float]] = []  # after the run ended
        self.sends: Counter[str] = Counter()
        self.routing: set[asyncio.Task[Any]] = set()  # async routers deciding
        self.error: Exception | None = None  # an async router's failure before the run
        self.source_ended = False
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.journal: JournalBinding | None = None  # ainvoke(run_id=...) on a journaled graph
        self.custom = "custom" in modes
        self.loop_thread = threading.get_ident()
        self.event_stream: Any = None  # with "custom": the run's events, woken by writes
        self.finished = False
        # A thread's invocation (compile(checkpointer=...)): the resume answers per node
        # run key, what interrupt ids are made from, and the node an update_state() wrote
        # as (its edges are followed first instead of START's).
        self.answers: dict[str, list[Any]] = {}
        self.scope = ""
        self.origin: str | tuple[str, ...] | None = None
        # A thread going on from a checkpoint: the nodes it runs first besides its origin's
        # edges (a fork's have no origin), and the Sends an update_state() Command made.
        self.goto: tuple[str, ...] = ()
        self.sent_first: tuple[tuple[str, Any], ...] = ()
        # schedule="supersteps" with a thread: called when a superstep ends with more to run
        self.on_superstep: Callable[[list[str]], None] | None = None
        self.interrupts: list[tuple[str, str, Interrupt]] = []  # (key, node, interrupt)
        self.paused_skips: set[str] = set()  # skipped only because a run before them paused
        self.first_values: Any = _INPUT  # the first "values" chunk: None for none
        # Nodes with a cache policy: the cache entry each run will fill, and the runs
        # that got theirs from the cache (they are not stored again).
        self.cache_keys: dict[str, tuple[Any, Any]] = {}
        self.cache_hits: set[str] = set()
        # stream_mode "messages", "tasks", "debug": None unless one of them is streamed.
        self.extra = _stream_modes.make(self, modes)
        self.live_events = self.custom or "messages" in modes  # chunks that come mid-run
        self.id_base = ""  # what task ids are made of without a thread: made when first needed

    async def events(self) -> AsyncGenerator[Any, None]:
        """Run the invocation, yielding per the stream modes as nodes finish."""
        try:
            if "values" in self.modes and self.first_values is not None:
                # As LangGraph does: the input state first (if the input wrote anything;
                # for a resume, the state it paused at).
                first = self.first_values if self.first_values is not _INPUT else self.initial
                self._emit("values", self.values_schema.output(first))
            for origin in self.origin if isinstance(self.origin, tuple) else (self.origin,):
                self._fire(_START_RUN if origin is None else _NodeRun(origin, 0, 0))
            for node in self.goto:
                self._trigger(node, _START_RUN)
            for i, (node, arg) in enumerate(self.sent_first):
                self._send(_START_RUN, Send(node, arg), (0, 0, i))
            while self.routing:  # START's async routers decide before anything runs
                await asyncio.wait(set(self.routing))
            if self.error is not None:
                raise self.error
            self._release()
            self._end_source_if_idle()
            while self.outbox:
                yield self.outbox.popleft()
            stream = ResultStream._fed(
                lambda: self,
                max_concurrency=self.graph.max_concurrency,
                timeout=self.graph.timeout,
                journal=self.journal,
                instruments=(_CustomFeed(self),) if self.custom else (),
            )
            # With "custom" the run is read as its events: an item a node yields (its
            # "partial" event) or a chunk it writes wakes this loop before the node ends.
            events = self.live_events or bool(self.wanted)
            source: Any = stream.events() if events else stream
            self.event_stream = source if events else None
            # `async with`: leaving this generator early (or an error below) cancels and
            # awaits every node run in flight before the exception or the close goes on.
            async with source:
                async for _ in source:
                    outbox = self.outbox
                    while outbox:
                        yield outbox.popleft()
        finally:
            self.finished = True
            for task in self.routing:
                task.cancel()
        self._after_run()
        if self.interrupts and self.shared_scratch is not None:
            # A subgraph paused: its node run pauses, and with it the parent's thread.
            raise GraphInterrupt(*(i for _, _, i in self.interrupts))

    # -- custom chunks -----------------------------------------------------------------------

    def writer(self, key: str, element: str = "") -> StreamWriter:
        """The stream writer of node run ``key``: a no-op unless streaming "custom"; a
        :class:`NodeLink` when graphs run inside the node may stream through it
        (``element``: the run's namespace element, ``"node:<task id>"``)."""
        if not self.custom:
            return NodeLink(self, key, element or key, _no_op_writer) if self.wanted else _no_op_writer
        loop, loop_thread, write = self.loop, self.loop_thread, self._write

        def stream_writer(chunk: Any) -> None:
            if threading.get_ident() == loop_thread:
                write(key, chunk)
            else:  # a sync node's thread: hop onto the loop, in the order written
                with_loop_open(loop, write, key, chunk)

        return NodeLink(self, key, element or key, stream_writer) if self.wanted else stream_writer

    def stream_subgraphs(self) -> None:
        """``astream(subgraphs=True)``: stream what graphs run inside the nodes stream,
        each chunk with its namespace."""
        self.subgraphs = True
        self.wanted = wanted(self.own_modes, True, passed_up(self.link))

    def _from_child(self, key: str, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        # On the loop: a chunk of a graph run inside node run ``key``. Dropped once the
        # run has ended, as a late custom chunk is.
        if self.finished or key not in self.in_flight:
            return
        link = self.link
        if link is not None and mode in passed_up(link):
            link.up((*self.link_ns, *ns), mode, chunk)
        if self.subgraphs and mode in self.own_modes:
            self.outbox.append(self._shaped(ns, mode, chunk))
            if self.event_stream is not None:
                self.event_stream._put(_WAKE)

    def _write(self, key: str, chunk: Any) -> None:
        self._live(key, "custom", chunk)

    def _live(self, key: str, mode: str, chunk: Any) -> None:
        """Stream a chunk node run ``key`` made while running (on the loop). One made
        after its run ended (a thread past its timeout) or after the invocation is
        dropped, as the engine drops such a thread's items."""
        if self.finished or key not in self.in_flight:
            return
        self._emit(mode, chunk)
        if self.event_stream is not None:
            self.event_stream._put(_WAKE)

    def task_id(self, key: str) -> str:
        """Node run ``key``'s id (LangGraph's task id), in its ``langgraph_checkpoint_ns``."""
        if not self.scope and not self.id_base:
            self.id_base = uuid.uuid4().hex
        return _stream_modes.task_id(self.scope or self.id_base, key)

    def final(self) -> Any:
        """The state: every update folded in fold order, however the runs finished; with
        ``"__interrupt__"`` when a node run paused (LangGraph's key)."""
        state = self.graph._output.output(self._fold_all())
        if self.interrupts and isinstance(state, dict):
            state["__interrupt__"] = [i for _, _, i in self.interrupts]
        return state

    # -- the Feeder protocol -----------------------------------------------------------------

    def attach(self, run: Run) -> None:
        self.run = run
        if isinstance(run.recorder, JournalSession):
            run.recorder.state = self._fold_all  # journaled beside the node runs
        if self.source_ended:
            run.feeder_done()

    def pull(self) -> SkillCall[Any] | None:
        return self.calls.popleft() if self.calls else None

    def on_result(self, result: SkillResult) -> None:
        key = result.key
        if key in self.skipping:  # a skip this invocation reported: already accounted for
            self.skipping.discard(key)
            self.results.append(result)
            return
        run = self.in_flight.pop(key)
        node = run.node
        self._unlive(node, run.round)
        writes: list[tuple[str, Any]] = []
        chunk: Any = None
        gotos: list[Any] = []
        to_cache = self.cache_keys.pop(key, None)
        if result.has_value:
            value = result.value
            if to_cache is not None and result.ok and not result.fallback_used and not is_paused(value):
                self.graph.cache.set({to_cache[0]: (value, to_cache[1])})
            if self.graph._streaming[node] and not result.fallback_used:
                # A generator node: its update is its last item (its items, a list, were
                # the custom chunks), as a LangGraph generator node's dict items replace
                # each other.
                value = value[-1] if value else None
            if is_paused(value):
                self._paused(run, result, value[PAUSED])
                return
            if self.extra is not None:
                if key in self.cache_hits or result.replayed:  # it did not run now
                    self.extra.forget(run)
                else:
                    self.extra.output(run, value)  # its messages come before its update
            try:
                writes, chunk, gotos = self._writes(node, value)
            except (TypeError, ValueError, InvalidUpdateError) as exc:
                # Not an update: a bug in the node (or its fallback), which fails it; the
                # fallback is for what the node calls, not for this.
                self.errors[key] = exc
                result = result.model_copy(
                    update={
                        "status": Status.ERROR if result.ok else result.status,
                        "value": None,
                        "fallback_used": False,
                        "error": ErrorInfo.of(exc),
                    }
                )
        self.results.append(result)
        if result.has_value:
            run.update = writes
            self._record(run)
            # A resumed thread's replayed runs were streamed when they ran: not again.
            if "updates" in self.modes and not result.replayed:
                if key in self.cache_hits:  # as LangGraph marks an update from its cache
                    self._emit("updates", {node: chunk, "__metadata__": {"cached": True}})
                else:
                    self._emit("updates", {node: chunk})
            if self.extra is not None and key not in self.cache_hits and not result.replayed:
                self.extra.ended(run, writes, None)  # before the state, as LangGraph streams it
            if self.values_each_run and not result.replayed:  # every channel, as LangGraph streams them
                self._emit("values", self.values_schema.output(self._fold_all()))
            self._fire(run)
            for i, goto in enumerate(gotos):
                if goto is not None and goto != ():
                    self._follow(run, None, goto, (0, i))
        else:
            if self.extra is not None:
                self.extra.forget(run)
                self.extra.ended(run, None, self.errors.get(key) or result.error)
            for descendant in self.graph._reach[node]:
                self.blocked.setdefault(descendant, result)
        self._release()
        self._end_source_if_idle()
        if self.calls and self.run is not None:
            self.run.wake()  # every free slot, not only the one this result frees

    def _paused(self, run: _NodeRun, result: SkillResult, found: list[dict[str, Any]]) -> None:
        """``run`` called interrupt(): it writes nothing, and what it reaches waits."""
        self.results.append(result)
        made = [Interrupt(i["value"], i["id"]) for i in found]
        for item in made:
            self.interrupts.append((run.key, run.node, item))
        if self.extra is not None and not result.replayed:
            self.extra.paused(run, made)
        if "updates" in self.modes:  # as LangGraph streams a pause
            self._emit("updates", {"__interrupt__": tuple(made)})
        if "values" in self.modes:
            values = self.values_schema.output(self._fold_all())
            if isinstance(values, dict):
                values["__interrupt__"] = tuple(made)
            self._emit("values", values)
        for descendant in self.graph._reach[run.node]:
            self.blocked.setdefault(descendant, result)
        self._release()
        self._end_source_if_idle()
        if self.calls and self.run is not None:
            self.run.wake()

    def _blocked_skip(self, node: str, key: str, failed: SkillResult) -> None:
        if failed.has_value:  # blocked by a pause, not a failure: it runs on resume
            self.paused_skips.add(key)
        self._skip(node, key, _dependency_failed(failed))

    # -- the state ---------------------------------------------------------------------------

    def _writes(self, node: str, value: Any) -> tuple[list[tuple[str, Any]], Any, list[Any]]:
        """A node's return value as LangGraph reads it: its writes, its "updates" chunk,
        and the ``goto`` of its Commands. A list holding a Command is many updates."""
        schema = self.schema
        if isinstance(value, Command):
            if _repeats_a_key(value.update):
                each = self._writes(node, [Command(update=[pair]) for pair in value.update])
                return each[0], each[1], [value.goto]
            update = schema.check_update(node, value.update)
            return list((update or {}).items()), schema.chunk(update), [value.goto]
        if _repeats_a_key(value):
            return self._writes(node, [Command(update=[pair]) for pair in value])
        if isinstance(value, (list, tuple)) and value and any(isinstance(i, Command) for i in value):
            writes: list[tuple[str, Any]] = []
            chunks: list[Any] = []
            gotos: list[Any] = []
            for item in value:
                if isinstance(item, Command):
                    gotos.append(item.goto)
                    item = item.update
                update = schema.check_update(node, item)
                if update:
                    writes.extend(update.items())
                    chunks.append(schema.chunk(update))
            return writes, chunks, gotos
        update = schema.check_update(node, value)
        return list((update or {}).items()), schema.chunk(update), []

    def _emit(self, mode: str, chunk: Any) -> None:
        if self.link is None and not self.subgraphs:  # the common case: no subgraph involved
            self.outbox.append((mode, chunk) if self.multi else chunk)
            return
        if self.link is not None and mode in passed_up(self.link):
            self.link.up(self.link_ns, mode, chunk)
        if mode in self.own_modes:
            self.outbox.append(self._shaped((), mode, chunk))

    def _shaped(self, ns: tuple[str, ...], mode: str, chunk: Any) -> Any:
        # LangGraph's shapes: (namespace, mode, chunk) for a list of modes with
        # subgraphs=True, (namespace, chunk) for one; (mode, chunk) or chunk without.
        if self.subgraphs:
            return (ns, mode, chunk) if self.multi else (ns, chunk)
        return (mode, chunk) if self.multi else chunk

    def _record(self, run: _NodeRun) -> None:
        """A run finished with a value: check its writes, and place it in fold order."""
        update = run.update
        if update:
            reducers = self.schema.reducers
            for field, _ in update:
                if field in reducers:
                    continue
                slot = (run.step, field)
                other = self.writers.get(slot)
                self.writers[slot] = run.key
                if other is not None:
                    raise InvalidUpdateError(
                        f"At key {field!r}: Can receive only one value per step. Use an "
                        f"Annotated key to handle multiple values. ({other!r} and "
                        f"{run.key!r} both wrote it in step {run.step})",
                        state=self.final(),
                        results=self._all_results(),
                    )
        order = run.order()
        at = bisect.bisect(self.done_keys, order)
        self.done_keys.insert(at, order)
        self.done.insert(at, run)
        if at < self.folded_n:
            self.folded = None  # it sorts before runs already folded: fold again when asked

    def _apply(self, values: dict[str, Any], run: _NodeRun) -> None:
        if not run.update:
            return
        try:
            self.schema.apply(values, run.update)
        except Exception as exc:
            raise self._error(
                f"a reducer raised {type(exc).__name__}: {exc} (folding the update of {run.key!r})"
            ) from exc

    def _fresh(self) -> dict[str, Any]:
        # The input, with reducer fields' containers copied: a fold may be done again
        # (a run sorting before others came late), and a reducer that appends in place
        # must not change what the next fold starts from.
        reducers = self.schema.reducers
        return {
            k: copy.copy(v) if k in reducers and isinstance(v, (list, dict, set)) else v
            for k, v in self.initial.items()
        }

    def _fold_all(self) -> dict[str, Any]:
        if self.folded is None:
            self.folded = self._fresh()
            self.folded_n = 0
        values = self.folded
        for run in self.done[self.folded_n :]:
            self._apply(values, run)
        self.folded_n = len(self.done)
        return values

    def _fold(self, past: frozenset[_NodeRun]) -> dict[str, Any]:
        """The state a run sees: the input plus the updates of ``past``, in fold order."""
        if len(past) == len(self.done):
            return dict(self._fold_all())
        values = self._fresh()
        for run in self.done:
            if run in past:
                self._apply(values, run)
        return values

    def _past_of(self, run: _NodeRun) -> frozenset[_NodeRun]:
        """Every finished run this one waited for (same round: its forward ancestors;
        earlier rounds: every node that can reach it), and what its triggers saw."""
        graph = self.graph
        node, round_ = run.node, run.round
        ancestors = graph._fwd_ancestors[node]
        reach = graph._reach
        seen = {
            d
            for d in self.done
            if (d.round == round_ and d.node in ancestors)
            or (d.round < round_ and (node in reach[d.node] or d.node == node))
        }
        for trigger in run.triggers:
            if trigger.step:  # not START (nor the node an update_state() wrote as)
                seen.add(trigger)
                seen.update(trigger.past)
        return frozenset(seen)

    # -- what runs next ----------------------------------------------------------------------

    def _check_limit(self, step: int, node: str) -> None:
        if step >= self.limit:
            raise GraphRecursionError(
                f"Recursion limit of {self.limit} reached without hitting a stop condition "
                f"(node {node!r} would run in step {step}). You can increase the limit by "
                f"setting the `recursion_limit` config key.",
                state=self.final(),
                results=self._all_results(),
            )

    def _round_after(self, source: _NodeRun, node: str) -> int:
        # Along a forward edge a run stays in its source's round; along an edge back (a
        # loop) it starts the next one. A round whose run of the node has started is taken.
        if source is _START_RUN:
            round_ = 0
        elif node in self.graph._fwd_descendants[source.node]:
            round_ = source.round
        else:
            round_ = source.round + 1
        while (node, round_) in self.started:
            round_ += 1
        return round_

    def _trigger(self, node: str, source: _NodeRun, also: list[_NodeRun] | None = None) -> None:
        """``source`` (and, for a join, its other sources ``also``) triggers ``node``."""
        if node in self.blocked:
            # A node downstream of a failure is reported skipped once, not once per trigger.
            if any(n == node for n, _ in self.started) or any(n == node for n, _ in self.pending):
                return
        round_ = self._round_after(source, node)
        sources = [source, *also] if also else [source]
        step = max(s.step for s in sources) + 1
        run = self.pending.get((node, round_))
        if run is None:
            self._check_limit(step, node)
            run = _NodeRun(node, round_, step)
            self.pending[(node, round_)] = run
            self.live[(node, round_)] += 1
        elif step > run.step:
            self._check_limit(step, node)
            run.step = step
        run.triggers.extend(sources)

    def _unlive(self, node: str, round_: int) -> None:
        key = (node, round_)
        self.live[key] -= 1
        if not self.live[key]:
            del self.live[key]  # so that a long loop does not make every check longer

    def _ready(self, run: _NodeRun) -> bool:
        graph = self.graph
        node, round_ = run.node, run.round
        ancestors = graph._fwd_ancestors[node]
        reach = graph._reach
        for (other, other_round), count in self.live.items():
            if not count or (other == node and other_round == round_):
                continue
            if other_round == round_ and other in ancestors:
                return False
            if other_round < round_ and (node in reach[other] or other == node):
                return False
        return True

    def _release(self) -> None:
        """Hand the run every pending node with nothing live it waits for; skip the blocked."""
        position = self.graph._position
        changed = True
        while changed and self.pending:
            changed = False
            for run in sorted(self.pending.values(), key=lambda r: (r.round, position[r.node])):
                node = run.node
                failed = self.blocked.get(node)
                if failed is not None:
                    self._take(run)
                    self._unlive(node, run.round)
                    self._blocked_skip(node, run.key, failed)
                    changed = True
                elif self._ready(run):
                    self._take(run)
                    run.past = self._past_of(run)
                    self._submit(run, self.graph._views[run.node].view(self._fold(run.past)))
                    changed = True

    def _take(self, run: _NodeRun) -> None:
        node = run.node
        del self.pending[(node, run.round)]
        self.started.add((node, run.round))
        count = self.reruns[node]
        self.reruns[node] += 1
        run.key = node if count == 0 else f"{node}@{count}"

    def _submit(self, run: _NodeRun, value: Any) -> None:
        node = run.node
        self.in_flight[run.key] = run
        skill = self.graph._nodes[node]
        extra = self.extra
        config: dict[str, Any] | None = None
        if self.graph._wrapped[node]:
            pushed = run.sent is not None
            element = f"{node}:{self.task_id(run.key)}"
            namespace = "|".join((*self.ns_path, element)) if self.ns_path else element
            config = {
                **self.config,
                "metadata": {  # what LangGraph tells a node of where it runs
                    **(self.config.get("metadata") or {}),
                    "langgraph_step": run.step,
                    "langgraph_node": node,
                    "langgraph_triggers": ("__pregel_push",) if pushed else self.graph._triggers[node],
                    "langgraph_path": ("__pregel_push" if pushed else "__pregel_pull", node),
                    "langgraph_checkpoint_ns": namespace,
                },
                "configurable": {**self.config["configurable"], "checkpoint_ns": namespace},
            }
            if extra is not None:
                config = extra.config(run, config)
            context = _CallContext(
                config,
                self.errors,
                run.key,
                self.writer(run.key, element),
                self.answers.get(run.key),
                self.scope,
                self.shared_scratch,
            )
            if extra is not None and extra.handler is not None:
                from ._lc_messages import RUNNABLE_CONFIG

                context.runnable_config = RUNNABLE_CONFIG
            args: tuple[Any, ...] = (value, context)
        else:
            args = (value,)
        if extra is not None:
            extra.started(run, value, config)
        policy = self.graph._cache_policies.get(node)
        if policy is not None:
            call = self._cached_call(run, policy, value)
            if call is not None:
                self.calls.append(call)
                return
        call = SkillCall(skill, args, {}, key=run.key, options=self.graph._options[node])
        call._opaque = True  # the state is data: never scanned for dependencies
        self.calls.append(call)

    def _cached_call(self, run: _NodeRun, policy: Any, value: Any) -> SkillCall[Any] | None:
        """The cache's answer for ``run`` as a call that returns it (or fails with the
        key function's error), or ``None`` to run the node, noting where its result goes."""
        node = run.node
        try:
            entry = (self.graph._cache_ns[node], cache_key(policy, value))
            found = self.graph.cache.get([entry])
        except Exception as exc:  # the key function's, or the cache's: the node fails with it
            self.errors[run.key] = exc
            call: SkillCall[Any] = SkillCall(Skill(_raise, SkillOptions(name=node)), (exc,), {}, key=run.key)
        else:
            if entry not in found:
                self.cache_keys[run.key] = (entry, policy.ttl)
                return None
            self.cache_hits.add(run.key)
            call = SkillCall(Skill(_cached, SkillOptions(name=node)), (found[entry],), {}, key=run.key)
        call._opaque = True
        return call

    def _send(self, source: _NodeRun, send: Send, where: tuple[int, int, int]) -> None:
        """``source`` sends ``send``: its ``where``-th write (see _follow)."""
        node = send.node
        step = source.step + 1
        self._check_limit(step, node)
        round_ = 0 if source is _START_RUN else source.round
        if source is not _START_RUN and node not in self.graph._fwd_descendants[source.node]:
            round_ += 1
        run = _NodeRun(node, round_, step, sent=(*source.order(), *where))
        run.key = f"{node}[{self.sends[node]}]"
        self.sends[node] += 1
        run.triggers.append(source)
        failed = self.blocked.get(node)
        if failed is not None:
            self._blocked_skip(node, run.key, failed)
            return
        self.live[(node, round_)] += 1
        run.past = source.past | {source} if source.step else frozenset()
        self._submit(run, send.arg)

    def _skip(self, node: str, key: str, exc: Exception) -> None:
        run = self.run
        if run is None or run.closed:  # no run to report it to (any more)
            self.skipped.append((node, key, exc, self.loop.time() - self.t0))
            return
        # A node that never runs gets its fallback no more than an untaken branch does.
        options = self.graph._options[node].model_copy(update={"fallback": NO_FALLBACK})
        call = SkillCall(self.graph._nodes[node], (None,), {}, key=key, options=options)
        call._opaque = True
        self.skipping.add(key)
        run.skipped(call, exc)

    def _end_source_if_idle(self) -> None:
        if not self.source_ended and not self.routing and not any(self.live.values()):
            self.source_ended = True
            if self.run is not None:
                self.run.feeder_done()

    def _fire(self, run: _NodeRun) -> None:
        """``run`` finished with a value: trigger what its edges and routers point to."""
        graph = self.graph
        node = run.node
        for target in graph._edges.get(node, ()):
            self._trigger(target, run)
        for sources in graph._joins_by_source.get(node, ()):
            seen = self.joins.setdefault(sources, {})
            seen[node] = run
            if len(seen) == len(sources):  # every source since the join last fired
                # Its step follows the latest of its sources, as LangGraph's barrier does.
                others = [r for r in seen.values() if r is not run]
                seen.clear()
                for target in graph._join_targets[sources]:
                    self._trigger(target, run, others)
        for i, branch in enumerate(graph._branches.get(node, ())):
            self._route(run, branch, i)

    def _router_view(self, run: _NodeRun) -> Any:
        # A router decides on what its node saw plus the node's own update.
        if run is _START_RUN:
            return self.graph._state.view(self.initial)
        return self.graph._state.view(self._fold(run.past | {run}))

    def _route(self, run: _NodeRun, branch: _Branch, index: int) -> None:
        source = run.node
        try:
            if branch.takes_config:
                answer = branch.router(self._router_view(run), config=self.config)
            else:
                answer = branch.router(self._router_view(run))
        except GraphError:
            raise
        except Exception as exc:
            raise self._router_failed(source, exc) from exc
        if not inspect.isawaitable(answer):
            self._follow(run, branch, answer, (1, index))
            return
        # An async router decides while the rest of the graph runs on; until it has, the
        # invocation is not idle, and its source counts as live for the nodes after it.
        self.live[(source, run.round)] += 1
        task = asyncio.ensure_future(answer)
        self.routing.add(task)
        task.add_done_callback(lambda t: self._routed(run, branch, index, t))

    def _routed(self, run: _NodeRun, branch: _Branch, index: int, task: asyncio.Future[Any]) -> None:
        self.routing.discard(task)
        self._unlive(run.node, run.round)
        if task.cancelled():
            return
        try:
            exc = task.exception()
            if exc is not None:
                raise self._router_failed(run.node, exc) from exc
            self._follow(run, branch, task.result(), (1, index))
            self._release()
            self._end_source_if_idle()
        except Exception as failure:
            if self.run is None:
                self.error = self.error or failure
            else:
                self.run.fail(failure)
            return
        if self.run is not None:
            self.run.wake()

    def _router_failed(self, source: str, exc: BaseException) -> GraphError:
        return self._error(f"the router of {source!r} raised {type(exc).__name__}: {exc}")

    def _follow(self, run: _NodeRun, branch: _Branch | None, answer: Any, writer: tuple[int, int]) -> None:
        """Go where a router (or a Command's ``goto``, with no branch) says. ``writer`` is
        which of the run's writes this is, in LangGraph's order: ``(0, i)`` the goto of
        its i-th Command, ``(1, i)`` its i-th router; it places the Sends in fold order."""
        source = run.node
        what = "the router of" if branch is not None else "the Command of"
        items = list(answer) if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
        for position, item in enumerate(items):
            if isinstance(item, Send):
                self._check_target(source, branch, item.node, item)
                self._send(run, item, (*writer, position))
                continue
            target = item
            if branch is not None and branch.mapping is not None:
                try:
                    target = branch.mapping[item]
                except (KeyError, TypeError):
                    raise InvalidGraphError(
                        f"the router of {source!r} returned {item!r}, which is not a key of "
                        f"its path_map {branch.mapping!r}"
                    ) from None
            elif not isinstance(item, str):
                raise InvalidGraphError(
                    f"{what} {source!r} returned {_short(answer)}; it must name a node, "
                    f"END, a Send, or a list of them"
                )
            self._check_target(source, branch, target, None)
            if target != END:
                self._trigger(target, run)

    def _check_target(self, source: str, branch: _Branch | None, target: str, send: Send | None) -> None:
        what = repr(send) if send is not None else repr(target)
        if branch is not None and branch.targets is not None and target not in branch.targets:
            raise InvalidGraphError(
                f"the router of {source!r} returned {what}, which is not in its "
                f"{branch.declared_by} {list(branch.targets)!r}"
            )
        if target not in self.graph._nodes and (target != END or send is not None):
            raise InvalidGraphError(
                f"the {'router' if branch is not None else 'Command'} of {source!r} returned "
                f"{what}, but {target!r} is not a node of the graph"
            )

    # -- the end -----------------------------------------------------------------------------

    def _after_run(self) -> None:
        """The run is over: report what never ran (the deadline), raise if anything failed."""
        if any(self.live.values()):
            # The run ended with work left: only its deadline does that.
            timeout = self.graph.timeout
            exc = DeadlineExceeded(
                f"the run's deadline of {timeout:g} s was reached"
                if timeout is not None
                else "the run ended before this node could start"
            )
            for key, run in self.in_flight.items():  # handed over, never taken
                self._skip(run.node, key, exc)
            position = self.graph._position
            for run in sorted(self.pending.values(), key=lambda r: (r.round, position[r.node])):
                self._take(run)
                self._skip(run.node, run.key, exc)
            self.in_flight.clear()
            self.pending.clear()
            self.live.clear()
        results = self._all_results()
        failed = [r for r in results if not r.has_value and r.key not in self.paused_skips]
        if failed:
            described = "; ".join(
                f"{r.key} ({r.status.value}: {r.error.type}: {r.error.message})"
                if r.error
                else f"{r.key} ({r.status.value})"
                for r in failed
            )
            message = f"{len(failed)} of {len(results)} node runs ended without a value: {described}"
            state = self.final()
            own = next((self.errors[r.key] for r in failed if r.key in self.errors), None)
            raise _graph_error(message, own, state, results, failed[0])

    def _all_results(self) -> Results:
        # Runs never handed to the engine get results too, numbered after the others.
        index = max((r.index for r in self.results), default=-1) + 1
        made = []
        for node, key, exc, at in self.skipped:
            made.append(
                SkillResult(
                    name=self.graph._nodes[node].name,
                    key=key,
                    index=index,
                    status=Status.SKIPPED,
                    error=ErrorInfo.of(exc),
                    finished_at=at,
                )
            )
            index += 1
        return Results(self.results + made)

    def _error(self, message: str) -> GraphError:
        results = self._all_results()
        values = self.folded if self.folded is not None else self.initial
        return GraphError(message, state=self.graph._output.output(values), results=results)


def _repeats_a_key(update: Any) -> bool:
    """Whether an update given as ``[(key, value), ...]`` writes a key more than once:
    then each write is one update, in order (as LangGraph applies and streams them)."""
    if not isinstance(update, (list, tuple)) or len(update) < 2:
        return False
    if not all(isinstance(p, tuple) and len(p) == 2 for p in update):
        return False
    keys = [p[0] for p in update]
    return len(set(keys)) < len(keys)


def _dependency_failed(failed: SkillResult) -> DependencyFailed:
    return DependencyFailed(f"dependency {failed.key!r} ended {failed.status.value}")


_COMBINED: dict[type[BaseException], type[GraphError] | None] = {}


def _graph_error(
    message: str,
    own: BaseException | None,
    state: Any,
    results: Results,
    result: SkillResult,
) -> GraphError:
    """The error an invocation raises when a node failed: a :class:`GraphError` that is
    also an instance of the node's own exception's class, with its args (so ``str()`` and
    ``except ValueError`` see what the node raised) and its attributes; the graph's summary
    is a note. Where the two classes cannot be combined, a plain GraphError, caused by it."""
    if isinstance(own, GraphError):  # already ours (InvalidUpdateError): fill it in
        own.state, own.results, own.result = state, results, result
        own.add_note(message)
        return own
    if own is None or not isinstance(own, Exception):
        return GraphError(message, state=state, results=results, result=result)
    cls = type(own)
    combined = _COMBINED.get(cls, GraphError)
    if cls not in _COMBINED:
        try:
            combined = type(cls.__name__, (GraphError, cls), {"__module__": cls.__module__})
        except TypeError:  # incompatible layouts (some C exception classes)
            combined = None
        _COMBINED[cls] = combined
    if combined is None:
        error = GraphError(message, state=state, results=results, result=result)
        error.__cause__ = own
        return error
    error = combined.__new__(combined, *own.args)
    error.args = own.args
    error.__dict__.update(getattr(own, "__dict__", {}))
    error.state, error.result, error.results = state, result, results
    error.__cause__ = own
    error.__traceback__ = own.__traceback__
    error.add_note(message)
    return error


def _as_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(config or {})
    merged.setdefault("recursion_limit", 25)
    merged.setdefault("configurable", {})
    _stream_modes.with_metadata_defaults(merged)
    limit = merged["recursion_limit"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"recursion_limit must be an int >= 1, got {limit!r}")
    return merged


async def _cached(value: Any) -> Any:
    """A node run answered from the cache: its stored value."""
    return value


async def _raise(exc: Exception) -> Any:
    raise exc
