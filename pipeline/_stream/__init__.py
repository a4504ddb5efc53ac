"""What users hold: ``run()``, ``gather()``, :class:`ResultStream` and :class:`EventStream`.

May import: every layer below (``_durable``, ``_engine``, ``_observing``, ``_executors``,
``_admission``, ``_core``, ``operators``).
"""
