"""One invocation of a compiled graph: the engine's feeder for one run."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter, deque
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Literal

from ._engine import NodeState, Run
from ._errors import DeadlineExceeded, DependencyFailed
from ._graph_routing import END, START, GraphError, InvalidGraphError, Send, _Branch
from ._graph_state import _short
from ._result import ErrorInfo, Results, SkillResult, Status
from ._skill import NO_FALLBACK, SkillCall
from ._stream import ResultStream

if TYPE_CHECKING:
    from ._graph import CompiledStateGraph
    from ._journal import JournalBinding

StreamMode = Literal["updates", "values"]

# -- one invocation ------------------------------------------------------------------------

# What the coordinator knows of a node's normal run (Send runs are counted apart), in the
# engine's vocabulary: WAITING (triggered, an ancestor is live), STARTED (handed to the
# run), DONE (with or without a value), SKIPPED (reported without running).
_STATE: Any = object()  # "give the node the state" (not a Send's input)


class _Invocation:
    """One run of a compiled graph: the running state and the coordinator's book-keeping.

    It is the run's :class:`~pipeline._engine.Feeder`: the engine pulls ready node runs
    from it when a slot frees, and tells it every result the moment the result exists
    (on the loop, before the consumer sees it), so the next nodes are released at once,
    not when the consumer gets round to them. A node that cannot run is reported to the
    engine as skipped, so it is a result of the run like any other.
    """

    def __init__(self, graph: CompiledStateGraph[Any], values: dict[str, Any], mode: StreamMode | None) -> None:
        self.graph = graph
        self.schema = graph._schema
        self.values = values
        self.mode = mode
        self.run: Run | None = None
        self.calls: deque[SkillCall[Any]] = deque()  # released, waiting for a slot
        self.outbox: deque[Any] = deque()  # stream items made by on_result, for the consumer
        self.status: dict[str, NodeState] = {}
        self.pending: set[str] = set()  # triggered, waiting for an ancestor
        self.in_flight: dict[str, str] = {}  # key -> node, handed to the run
        self.live: Counter[str] = Counter()  # node -> runs pending or in flight
        self.finished: set[str] = {START}  # nodes with a run that ended with a value
        self.blocked: dict[str, SkillResult] = {}  # node -> the failed ancestor's result
        self.results: list[SkillResult] = []
        self.skipping: set[str] = set()  # keys reported skipped through the engine
        self.skipped: list[tuple[str, str, Exception, float]] = []  # after the run ended
        self.sends: Counter[str] = Counter()
        self.routing: set[asyncio.Task[Any]] = set()  # async routers deciding
        self.error: Exception | None = None  # an async router's failure before the run
        self.source_ended = False
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.journal: JournalBinding | None = None  # ainvoke(run_id=...) on a journaled graph

    async def events(self) -> AsyncGenerator[Any, None]:
        """Run the invocation, yielding per ``mode`` (nothing for ``None``) as nodes finish."""
        try:
            self._fire(START)
            while self.routing:  # START's async routers decide before anything runs
                await asyncio.wait(set(self.routing))
            if self.error is not None:
                raise self.error
            self._release()
            self._end_source_if_idle()
            stream = ResultStream._fed(
                lambda: self,
                max_concurrency=self.graph.max_concurrency,
                timeout=self.graph.timeout,
                journal=self.journal,
            )
            # `async with`: leaving this generator early (or an error below) cancels and
            # awaits every node run in flight before the exception or the close goes on.
            async with stream:
                async for _ in stream:
                    outbox = self.outbox
                    while outbox:
                        yield outbox.popleft()
        finally:
            for task in self.routing:
                task.cancel()
        self._after_run()

    # -- the Feeder protocol -----------------------------------------------------------------

    def attach(self, run: Run) -> None:
        self.run = run
        if run.journal is not None:
            run.journal.state = lambda: self.values  # journaled beside the node runs
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
        node = self.in_flight.pop(key)
        self.live[node] -= 1
        normal = key == node
        update = None
        if result.has_value:
            try:
                update = self.schema.check_update(node, result.value)
            except (TypeError, ValueError) as exc:
                # Not an update: a bug in the node (or its fallback), which fails it; the
                # fallback is for what the node calls, not for this.
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
            if update:
                try:
                    self.schema.apply(self.values, update)
                except Exception as exc:
                    raise self._error(
                        f"a reducer raised {type(exc).__name__}: {exc} "
                        f"(folding the update of {key!r})"
                    ) from exc
            if normal:
                self.status[node] = NodeState.DONE
            self.finished.add(node)
            if self.mode == "updates":
                self.outbox.append({node: update})
            elif self.mode == "values":
                self.outbox.append(self.schema.view(self.values))
            self._fire(node)
        else:
            if normal:
                self.status[node] = NodeState.DONE
            for descendant in self.graph._descendants[node]:
                self.blocked.setdefault(descendant, result)
        self._release()
        self._end_source_if_idle()
        if self.calls and self.run is not None:
            self.run.wake()  # every free slot, not only the one this result frees

    def _trigger(self, node: str, origin: str) -> None:
        status = self.status.get(node)
        if status is None:
            self.status[node] = NodeState.WAITING
            self.pending.add(node)
            self.live[node] += 1
        elif status in (NodeState.STARTED, NodeState.DONE):
            raise InvalidGraphError(
                f"{node!r} was triggered by {origin!r} after it had started; a node runs at "
                f"most once per invocation. Give the conditional edges on the way a path_map "
                f"so that compile() orders {node!r} after {origin!r} (or refuses the loop)"
            )
        # WAITING: already triggered; SKIPPED: already reported.

    def _release(self) -> None:
        """Hand the run every pending node with no live ancestor; skip the blocked ones."""
        if not self.pending:
            return
        live = {name for name, count in self.live.items() if count}
        ancestors = self.graph._ancestors
        for node in self.graph._order:  # ancestors first: a skip may free a descendant
            if node not in self.pending:
                continue
            failed = self.blocked.get(node)
            if failed is not None:
                self.pending.discard(node)
                self.status[node] = NodeState.SKIPPED
                self.live[node] -= 1
                if not self.live[node]:
                    live.discard(node)
                self._skip(node, node, _dependency_failed(failed))
            elif ancestors[node].isdisjoint(live):
                self.pending.discard(node)
                self.status[node] = NodeState.STARTED
                self._submit(node, node, _STATE)

    def _submit(self, node: str, key: str, arg: Any) -> None:
        # The snapshot is taken now: the input plus every ancestor's update.
        value = self.schema.view(self.values) if arg is _STATE else arg
        self.in_flight[key] = node
        call = SkillCall(self.graph._nodes[node], (value,), {}, key=key, options=self.graph._options[node])
        call._opaque = True  # the state is data: never scanned for dependencies
        self.calls.append(call)

    def _send(self, source: str, send: Send) -> None:
        node = send.node
        key = f"{node}[{self.sends[node]}]"
        self.sends[node] += 1
        failed = self.blocked.get(node)
        if failed is not None:
            self._skip(node, key, _dependency_failed(failed))
            return
        self.live[node] += 1
        self._submit(node, key, send.arg)

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

    def _fire(self, node: str) -> None:
        """``node`` finished with a value: trigger what its edges and routers point to."""
        graph = self.graph
        for target in graph._edges.get(node, ()):
            self._trigger(target, node)
        for sources in graph._joins_by_source.get(node, ()):
            if all(source in self.finished for source in sources):
                for target in graph._join_targets[sources]:
                    self._trigger(target, node)
        for branch in graph._branches.get(node, ()):
            self._route(node, branch)

    def _route(self, source: str, branch: _Branch) -> None:
        try:
            answer = branch.router(self.schema.view(self.values))
        except Exception as exc:
            raise self._router_failed(source, exc) from exc
        if not inspect.isawaitable(answer):
            self._follow(source, branch, answer)
            return
        # An async router decides while the rest of the graph runs on; until it has, the
        # invocation is not idle, and its targets' ancestors count as live.
        self.live[source] += 1
        task = asyncio.ensure_future(answer)
        self.routing.add(task)
        task.add_done_callback(lambda t: self._routed(source, branch, t))

    def _routed(self, source: str, branch: _Branch, task: asyncio.Future[Any]) -> None:
        self.routing.discard(task)
        self.live[source] -= 1
        if task.cancelled():
            return
        try:
            exc = task.exception()
            if exc is not None:
                raise self._router_failed(source, exc) from exc  # type: ignore[arg-type]
            self._follow(source, branch, task.result())
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

    def _router_failed(self, source: str, exc: Exception) -> GraphError:
        return self._error(f"the router of {source!r} raised {type(exc).__name__}: {exc}")

    def _follow(self, source: str, branch: _Branch, answer: Any) -> None:
        items = list(answer) if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
        for item in items:
            if isinstance(item, Send):
                self._check_target(source, branch, item.node, item)
                self._send(source, item)
                continue
            target = item
            if branch.mapping is not None:
                try:
                    target = branch.mapping[item]
                except (KeyError, TypeError):
                    raise InvalidGraphError(
                        f"the router of {source!r} returned {item!r}, which is not a key of "
                        f"its path_map {branch.mapping!r}"
                    ) from None
            elif not isinstance(item, str):
                raise InvalidGraphError(
                    f"the router of {source!r} returned {_short(answer)}; a router returns a "
                    f"node name, END, a Send, or a list of them"
                )
            self._check_target(source, branch, target, None)
            if target != END:
                self._trigger(target, source)

    def _check_target(self, source: str, branch: _Branch, target: str, send: Send | None) -> None:
        what = repr(send) if send is not None else repr(target)
        if branch.targets is not None and target not in branch.targets:
            raise InvalidGraphError(
                f"the router of {source!r} returned {what}, which is not in its "
                f"{branch.declared_by} {list(branch.targets)!r}"
            )
        if target not in self.graph._nodes and (target != END or send is not None):
            raise InvalidGraphError(
                f"the router of {source!r} returned {what}, but {target!r} is not a node "
                f"of the graph"
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
            for key, node in self.in_flight.items():  # handed over, never taken
                self._skip(node, key, exc)
            for node in self.graph._order:
                if node in self.pending:
                    self._skip(node, node, exc)
            self.in_flight.clear()
            self.pending.clear()
            self.live.clear()
        results = self._all_results()
        failed = [r for r in results if not r.has_value]
        if failed:
            described = "; ".join(
                f"{r.key} ({r.status.value}: {r.error.type}: {r.error.message})"
                if r.error
                else f"{r.key} ({r.status.value})"
                for r in failed
            )
            raise GraphError(
                f"{len(failed)} of {len(results)} node runs ended without a value: {described}",
                state=self.schema.view(self.values),
                results=results,
                result=failed[0],
            )

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
        return GraphError(message, state=self.schema.view(self.values), results=results)


def _dependency_failed(failed: SkillResult) -> DependencyFailed:
    return DependencyFailed(f"dependency {failed.key!r} ended {failed.status.value}")

