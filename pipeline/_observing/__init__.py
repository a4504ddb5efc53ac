"""Seeing a run: typed events, the live progress view, OpenTelemetry tracing. Each is an
:class:`~pipeline.Instrument`; the engine calls instruments and knows none of them.

May import: ``pipeline._core`` (and ``operators``).
"""
