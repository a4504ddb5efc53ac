"""Durable runs: the journal (a :class:`Recorder` for the engine) and its stores.

May import: ``pipeline._core``, ``pipeline._engine`` (and what they may).
"""
