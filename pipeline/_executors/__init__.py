"""Where an attempt runs: on the run's loop, in a thread, in a worker process, hedged
across copies, or as a Ray task.

May import: ``pipeline._core`` (and ``operators``).
"""

from . import _ray  # registers executor="ray" by name (Ray itself is imported on first use)

__all__: list[str] = []
