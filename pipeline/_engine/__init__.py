"""One run: its nodes, each call's attempts in a slot of the bounded merge, timeouts,
the deadline, back-pressure, and clean-up of whatever it started.

May import: ``pipeline._core``, ``pipeline._admission``, ``pipeline._executors``,
``pipeline._observing`` (and ``operators``). A journal plugs in through the
:class:`Recorder` protocol defined here.
"""
