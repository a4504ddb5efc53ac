"""OpenTelemetry spans for runs and calls (the ``otel`` extra).

One span per run ("skillstream.run"), a child of the span current where the run started,
and one per call ("skillstream.call"), a child of its run's span, opened at the call's
first attempt and closed with its result. Attempts and retries are events on the call's
span; the result's status, key, attempts and error are its attributes, and a call that
ended without its own value has the ERROR status. Spans a skill makes itself (an HTTP
client's) are children of the caller's span: asyncio tasks and the thread pool carry the
caller's context in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._instruments import Instrument, Phase
from ._result import SkillResult, Status

if TYPE_CHECKING:
    from ._skill import SkillCall

__all__ = ["Tracing"]


def _otel() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("Tracing needs OpenTelemetry: pip install 'skillstream[otel]'") from None
    return trace


class Tracing(Instrument):
    """Record every run and call it instruments as OpenTelemetry spans.

    Examples:
        >>> tracing = Tracing()                      # the global tracer provider
        >>> results = await run(calls, instruments=[tracing]).collect()

    One ``Tracing`` follows one run at a time (make one per run to trace runs at once).

    Args:
        tracer_provider: where the spans go; OpenTelemetry's global provider by default.

    Raises:
        ImportError: without ``opentelemetry-api`` (``pip install 'skillstream[otel]'``).
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        trace = _otel()
        self._trace = trace
        self._tracer = trace.get_tracer("skillstream", tracer_provider=tracer_provider)
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

    def _span(self, call: SkillCall[Any], index: int) -> Any:
        span = self._calls.get(index)
        if span is None:
            span = self._tracer.start_span(
                "skillstream.call",
                context=self._run_context,
                attributes={
                    "skillstream.key": call.key,
                    "skillstream.skill": call.skill.options.name,
                    "skillstream.index": index,
                },
            )
            self._calls[index] = span
        return span

    def call_started(self, call: SkillCall[Any], index: int, attempt: int, at: float) -> None:
        self._span(call, index).add_event("attempt", {"attempt": attempt, "at": at})

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
        if result.status is not Status.SUCCESS:
            from opentelemetry.trace import Status as SpanStatus
            from opentelemetry.trace import StatusCode

            why = f"{result.status.value}: {result.error.message}" if result.error else result.status.value
            span.set_status(SpanStatus(StatusCode.ERROR, why))
        span.end()

    def call_finished(self, result: SkillResult) -> None:
        span = self._calls.pop(result.index, None)
        if span is not None:
            self._end(span, result)

    def call_skipped(self, result: SkillResult) -> None:
        span = self._tracer.start_span(
            "skillstream.call",
            context=self._run_context,
            attributes={"skillstream.key": result.key, "skillstream.skill": result.name, "skillstream.index": result.index},
        )
        self._end(span, result)

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
