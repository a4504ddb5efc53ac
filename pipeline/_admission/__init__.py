"""Admission: what an attempt must be granted before it starts (rate limits, circuit
breakers), as per-API state shared by every run in the process.

Each policy is a :class:`Gate` source: the engine asks the gates of a call's policies in
turn and tells them how the attempt ended; it names no policy.

May import: ``pipeline._core`` (and ``operators``).
"""
