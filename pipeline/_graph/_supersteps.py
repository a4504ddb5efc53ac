"""``compile(schedule="supersteps")``: LangGraph's Pregel loop on the skillstream engine.

The nodes triggered in superstep k all start together, each seeing the state after
superstep k-1 (the input for the first). Their writes are folded in LangGraph's order
(triggered nodes by name, then Sends in the order they were sent) once the last of them
has finished, and what they triggered (edges, routers, ``Command(goto=...)``, joins whose
every source has finished, ``Send``) forms superstep k+1. A node triggered several times
in one superstep runs once. A ``defer=True`` node's trigger is held until a superstep
triggers nothing else; then the held nodes run, together.

Everything else is the ready schedule's: the runs go through the same engine (concurrency
cap, deadline, timeouts, retries, fallbacks), and are folded and checked the same way. A
node run that ends without a value blocks what it can reach, as there; a run that pauses
at ``interrupt()`` ends the invocation after its superstep, as in LangGraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core._result import SkillResult
from ._interrupt import is_paused
from ._invocation import _Invocation, _NodeRun
from ._routing import GraphRecursionError, Send

if TYPE_CHECKING:
    from ._builder import CompiledStateGraph

_HELD = -1  # the round of a deferred node's held run (in ``live``)


class _SuperstepInvocation(_Invocation):
    """One invocation run in supersteps (see the module's docstring)."""

    def __init__(
        self,
        graph: CompiledStateGraph[Any],
        initial: dict[str, Any],
        modes: tuple[str, ...],
        config: dict[str, Any],
        multi: bool = False,
    ) -> None:
        super().__init__(graph, initial, modes, config, multi)
        self.values_each_run = False  # "values" streams once per superstep instead
        self.step = 0  # the superstep running now; START is 0
        self.pushes: list[tuple[_NodeRun, Any]] = []  # Sends for the next superstep
        self.held: dict[str, _NodeRun] = {}  # deferred nodes triggered, waiting
        self.step_wrote = False  # a run of this superstep wrote: stream "values" at its end
        self.halt: SkillResult | None = None  # a run paused: no superstep after this one

    def on_result(self, result: SkillResult) -> None:
        if result.key not in self.skipping and result.has_value and not result.replayed:
            value = result.value
            paused = is_paused(value) or (
                isinstance(value, list) and bool(value) and is_paused(value[-1])
            )
            if paused:
                self.halt = self.halt or result
            else:
                self.step_wrote = True
        super().on_result(result)

    def _trigger(self, node: str, source: _NodeRun, also: list[_NodeRun] | None = None) -> None:
        sources = [source, *also] if also else [source]
        if node in self.graph._deferred:
            run = self.held.get(node)
            if run is None:
                run = self.held[node] = _NodeRun(node, _HELD, 0)
                self.live[(node, _HELD)] += 1
            run.triggers.extend(sources)
            return
        step = self.step + 1
        run = self.pending.get((node, step))
        if run is None:
            run = self.pending[(node, step)] = _NodeRun(node, step, step)
            self.live[(node, step)] += 1
        run.triggers.extend(sources)

    def _send(self, source: _NodeRun, send: Send, where: tuple[int, int, int]) -> None:
        node = send.node
        step = self.step + 1
        run = _NodeRun(node, step, step, sent=(*source.order(), *where))
        run.triggers.append(source)
        self.live[(node, step)] += 1
        self.pushes.append((run, send.arg))

    def _release(self) -> None:
        """When the superstep's last run (and router) is done: stream its state, then
        start the next superstep's runs, all at once."""
        while not self.in_flight and not self.routing and (
            self.step_wrote or self.pending or self.pushes or self.held
        ):
            if self.step_wrote:
                self.step_wrote = False
                if "values" in self.modes:
                    self._emit("values", self.values_schema.output(self._fold_all()))
            if self.halt is not None:
                self._drop_next(self.halt)
                return
            if not self.pending and not self.pushes:
                if not self.held:
                    return
                self._unhold()
            if self.on_superstep is not None:
                # Pushes first, then the nodes by name: LangGraph's order of a step's tasks.
                pulls = sorted({r.node for r in self.pending.values()})
                self.on_superstep([*(r.node for r, _ in sorted(self.pushes, key=lambda p: p[0].order())), *pulls])
            self.step += 1
            self._check_step()
            self._start_step()

    def _check_step(self) -> None:
        # As LangGraph counts: recursion_limit supersteps run; the one after raises, once
        # the last has finished and been folded.
        if self.step > self.limit:
            names = sorted({r.node for r in self.pending.values()} | {r.node for r, _ in self.pushes})
            raise GraphRecursionError(
                f"Recursion limit of {self.limit} reached without hitting a stop condition "
                f"(superstep {self.step} would run {', '.join(map(repr, names))}). You can "
                f"increase the limit by setting the `recursion_limit` config key.",
                state=self.final(),
                results=self._all_results(),
            )

    def _unhold(self) -> None:
        """Nothing else is triggered: the deferred nodes run (LangGraph's "finish")."""
        step = self.step + 1
        for node in sorted(self.held):
            run = self.held[node]
            self._unlive(node, _HELD)
            run.round = run.step = step
            self.pending[(node, step)] = run
            self.live[(node, step)] += 1
        self.held.clear()

    def _start_step(self) -> None:
        past = frozenset(self.done)
        state: dict[str, Any] | None = None
        runs = sorted(self.pending.values(), key=lambda r: r.node)
        for run in runs:
            self._take(run)
            failed = self.blocked.get(run.node)
            if failed is not None:
                self._unlive(run.node, run.round)
                self._blocked_skip(run.node, run.key, failed)
                continue
            run.past = past
            if state is None:
                state = self._fold_all()
            self._submit(run, self.graph._views[run.node].view(dict(state)))
        pushes = sorted(self.pushes, key=lambda p: p[0].order())
        self.pushes = []
        for run, arg in pushes:
            node = run.node
            run.key = f"{node}[{self.sends[node]}]"
            self.sends[node] += 1
            failed = self.blocked.get(node)
            if failed is not None:
                self._unlive(node, run.round)
                self._blocked_skip(node, run.key, failed)
                continue
            run.past = past
            self._submit(run, arg)

    def _after_run(self) -> None:
        # The deadline came with runs waiting for the next superstep: they end skipped as
        # the ready schedule's waiting runs do (Sends and held nodes wait here, not there).
        for run, _ in self.pushes:
            run.key = f"{run.node}[{self.sends[run.node]}]"
            self.sends[run.node] += 1
            self.in_flight[run.key] = run
        self.pushes = []
        for node in sorted(self.held):
            run = self.held[node]
            run.round = run.step = self.step + 1
            self.pending[(node, run.round)] = run
        self.held.clear()
        super()._after_run()

    def _drop_next(self, paused: SkillResult) -> None:
        """A run paused: what the next superstep would have run is left for the resume."""
        for run in sorted(self.pending.values(), key=lambda r: r.node):
            self._take(run)
            self._unlive(run.node, run.round)
            self._blocked_skip(run.node, run.key, paused)
        for run, _ in self.pushes:
            run.key = f"{run.node}[{self.sends[run.node]}]"
            self.sends[run.node] += 1
            self._unlive(run.node, run.round)
            self._blocked_skip(run.node, run.key, paused)
        self.pushes = []
        for node in sorted(self.held):
            self._unlive(node, _HELD)
            self._blocked_skip(node, node, paused)
        self.held.clear()
