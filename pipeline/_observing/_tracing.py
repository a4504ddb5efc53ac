"""OpenTelemetry spans for runs and calls (the ``otel`` extra).

One span per run ("skillstream.run"), a child of the span current where the run started,
and one per call ("skillstream.call"), a child of its run's span, opened at the call's
first attempt and closed with its result. Attempts and retries are events on the call's
span; the result's status, key, attempts and error are its attributes, and a call that
ended without its own value has the ERROR status.

A ``Tracing`` keeps no run's state itself: :meth:`Tracing.for_run` gives each run that
lists it a recorder of its own (its run span, its call spans by index), so one ``Tracing``
serves runs at once, each traced apart.

Inside a skill's body the call's span is the current span, so the spans a skill makes
itself (an HTTP client's, a model SDK's) are children of its call's span. Each attempt's
job starts in a context of its own (the run recorder's ``call_context``, the engine's one
hook for this): an async skill's task and a thread skill's job copy it, and a process skill's job
carries the W3C trace context (``traceparent``, ``baggage``) to its worker, which attaches
it around the function; spans made there join the trace if the worker configures a tracer
provider (at import of the skill's module, say). The loop's own context is never changed.
Ray skills do not carry it (yet).

A call made from a model's tool call (``Toolset.calls()``) is traced as OpenTelemetry's
GenAI conventions say a tool's execution is: its span is named ``execute_tool {tool
name}`` and carries ``gen_ai.operation.name`` (``execute_tool``), ``gen_ai.tool.name``,
``gen_ai.tool.call.id`` (the provider's id), ``gen_ai.tool.type`` (``function``) and
``gen_ai.tool.description``, besides the attributes every call span has; ``error.type``
says why one failed. The call's key tells: a tool call's key is its id, and knows its
tool (duck-typed, as this layer sits below the Toolset's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._core._executor import CARRIED
from .._core._instruments import Instrument, Phase
from .._core._result import SkillResult, Status

if TYPE_CHECKING:
    from .._core._skill import SkillCall

__all__ = ["Tracing"]


def _otel() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("Tracing needs OpenTelemetry: pip install 'skillstream[otel]'") from None
    return trace


def _propagator() -> Any:
    # W3C trace context and baggage, named rather than the global propagator: the worker
    # process must read what the parent wrote, whatever the parent configured.
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@contextlib.contextmanager
def _enter_remote(carrier: dict[str, str]) -> Iterator[None]:
    """In a worker process: the caller's trace context, current around the job."""
    from opentelemetry import context

    token = context.attach(_propagator().extract(carrier))
    try:
        yield
    finally:
        context.detach(token)


class Tracing(Instrument):
    """Record every run and call it instruments as OpenTelemetry spans.

    Examples:
        >>> tracing = Tracing()                      # the global tracer provider
        >>> results = await run(calls, instruments=[tracing]).collect()

    One ``Tracing`` serves any number of runs, one after another or at once: each run
    keeps its own span and call spans (:meth:`for_run`), so an app may list one in every
    run's instruments. Inside a skill the call's span is current:
    ``trace.get_current_span()`` there is it, in async, thread and process skills alike.
    A call made from a model's tool call (``Toolset.calls()``) is an ``execute_tool {tool
    name}`` span with OpenTelemetry's GenAI attributes (``gen_ai.tool.name``,
    ``gen_ai.tool.call.id``, ...), so tracing backends show it by its tool.

    Args:
        tracer_provider: where the spans go; OpenTelemetry's global provider by default.

    Raises:
        ImportError: without ``opentelemetry-api`` (``pip install 'skillstream[otel]'``).
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        trace = _otel()
        self._trace = trace
        self._tracer = trace.get_tracer("skillstream", tracer_provider=tracer_provider)
        from opentelemetry import context

        self._context = context
        self._propagator: Any = None  # made at the first process skill

    def for_run(self) -> Instrument:
        """A fresh recorder of one run's spans (what the run's hooks call)."""
        return _RunTrace(self)

    def _w3c(self) -> Any:
        """The W3C propagator for process skills, made at the first one."""
        if self._propagator is None:
            self._propagator = _propagator()
        return self._propagator


class _RunTrace(Instrument):
    """One run's spans: its run span and its open call spans by index (indexes are
    unique within a run only, hence one of these per run)."""

    __slots__ = ("tracing", "_trace", "_tracer", "_context", "_run", "_run_context", "_calls")

    def __init__(self, tracing: Tracing) -> None:
        self.tracing = tracing
        self._trace = tracing._trace
        self._tracer = tracing._tracer
        self._context = tracing._context
        self._run: Any = None
        self._run_context: Any = None
        self._calls: dict[int, Any] = {}

    def run_started(self, sized: int | None) -> None:
        # Run.start is called where the consumer iterates: the span current there is the
        # caller's, and the run's span is its child.
        span = self._tracer.start_span("skillstream.run", attributes={"skillstream.sized": sized or -1})
        self._run = span
        self._run_context = self._trace.set_span_in_context(span)
        self._calls = {}

    def _open(self, key: str, name: str, index: int) -> Any:
        attributes: dict[str, Any] = {"skillstream.key": key, "skillstream.skill": name, "skillstream.index": index}
        tool = getattr(key, "tool", None)
        if not tool or not isinstance(tool, str):
            return self._tracer.start_span("skillstream.call", context=self._run_context, attributes=attributes)
        # A model's tool call: named and described as the GenAI conventions name a
        # tool's execution, so tracing backends show it by its tool.
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = tool
        attributes["gen_ai.tool.call.id"] = str(key)
        attributes["gen_ai.tool.type"] = "function"
        description = getattr(key, "tool_description", None)
        if description and isinstance(description, str):
            attributes["gen_ai.tool.description"] = description
        return self._tracer.start_span(f"execute_tool {tool}", context=self._run_context, attributes=attributes)

    def _span(self, call: SkillCall[Any], index: int) -> Any:
        span = self._calls.get(index)
        if span is None:
            span = self._calls[index] = self._open(call.key, call.skill.options.name, index)
        return span

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        self._span(call, index).add_event("attempt", {"attempt": attempt, "at": at})

    def call_context(self, call: SkillCall[Any], index: int, attempt: int) -> None:
        # Inside the context this attempt's job starts in, a copy used by it alone: the
        # call's span becomes current there (nothing to detach), never on the loop.
        span = self._calls.get(index)
        if span is None:
            return
        current = self._trace.set_span_in_context(span)
        self._context.attach(current)
        if call.skill.kind == "process":
            carrier: dict[str, str] = {}
            self.tracing._w3c().inject(carrier, context=current)
            CARRIED.set((*CARRIED.get(), (_enter_remote, carrier)))

    def call_phase(self, call: SkillCall[Any], index: int, phase: Phase, at: float) -> None:
        self._span(call, index).add_event(phase.value, {"at": at})

    def call_retrying(
        self, call: SkillCall[Any], index: int, attempt: int, error: BaseException, wait: float, at: float
    ) -> None:
        self._span(call, index).add_event(
            "retry",
            {"attempt": attempt, "error.type": type(error).__name__, "error.message": str(error), "wait": wait},
        )

    def _end(self, span: Any, result: SkillResult) -> None:
        span.set_attribute("skillstream.status", result.status.value)
        span.set_attribute("skillstream.attempts", result.attempts)
        span.set_attribute("skillstream.fallback_used", result.fallback_used)
        if result.error is not None:
            span.set_attribute("error.type", result.error.type)
            span.set_attribute("skillstream.error", result.error.message)
        if result.status is not Status.SUCCESS and result.status is not Status.PENDING:
            from opentelemetry.trace import Status as SpanStatus
            from opentelemetry.trace import StatusCode

            why = f"{result.status.value}: {result.error.message}" if result.error else result.status.value
            span.set_status(SpanStatus(StatusCode.ERROR, why))
        span.end()

    def call_finished(self, result: SkillResult) -> None:
        span = self._calls.pop(result.index, None)
        if span is not None:
            self._end(span, result)
        elif result.attempts == 0 and not result.replayed:
            # Ended without starting: pending (awaits a person's decision), or rejected.
            self.call_skipped(result)

    def call_skipped(self, result: SkillResult) -> None:
        self._end(self._open(result.key, result.name, result.index), result)

    def run_deadline(self, at: float) -> None:
        if self._run is not None:
            self._run.add_event("deadline", {"at": at})

    def run_finished(self, at: float, error: BaseException | None) -> None:
        span, self._run = self._run, None
        for call_span in self._calls.values():  # closed early: calls cut short
            call_span.set_attribute("skillstream.status", "cancelled")
            call_span.end()
        self._calls = {}
        if span is None:
            return
        if error is not None:
            from opentelemetry.trace import Status as SpanStatus
            from opentelemetry.trace import StatusCode

            span.record_exception(error)
            span.set_status(SpanStatus(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
