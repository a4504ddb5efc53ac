"""A process skill for the tracing tests: a worker process imports it by name."""

from __future__ import annotations

from pipeline import skill


@skill(executor="process")
def current_span_ids() -> tuple[int, int, str]:
    """The trace and span id current in the worker process, and the baggage it sees."""
    from opentelemetry import baggage, trace

    context = trace.get_current_span().get_span_context()
    return context.trace_id, context.span_id, str(baggage.get_baggage("tenant"))
