"""One scale measurement in a fresh process:
``python -m benchmarks._scale_child IMPL N CAP LOOP HEAP_OBJECTS``.

``IMPL`` is a key of :data:`benchmarks.scale.IMPLS`. Runs ``N`` calls that suspend once
(``await asyncio.sleep(0)``), pulled lazily from a generator, at most ``CAP`` in flight, on
the ``LOOP`` event loop (``asyncio`` or ``uvloop``), with ``HEAP_OBJECTS`` small GC-tracked
objects kept alive the whole time (0: none), and prints one JSON line:
``{"ok", "seconds", "calls_per_s"}``. A warm-up run of 1,000 calls comes first (imports,
caches); the heap is built after it and before the timed run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import Any


async def suspend_once(_: object) -> None:
    await asyncio.sleep(0)


def make_heap(n: int) -> list[Any]:
    """``n`` small objects that stay alive and tracked by the GC: ``n // 2`` tuples, each
    holding a one-item list (a tuple of atoms alone would be untracked by the collector at
    its first pass, and cost it nothing)."""
    return [(i, [i]) for i in range(n // 2)]


def main() -> int:
    impl, n, cap, loop_name, heap_n = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                       sys.argv[4], int(sys.argv[5]))
    from benchmarks.peers import all_peers
    from benchmarks.scale import IMPLS

    peer_key, timeout = IMPLS[impl]
    peer = {p.key: p for p in all_peers()}[peer_key]
    if loop_name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop

    def go(count: int) -> tuple[int, float]:
        with asyncio.Runner(loop_factory=factory) as runner:
            t0 = time.perf_counter()
            ok = runner.run(peer.map(suspend_once, (i for i in range(count)), cap, timeout))
            return ok, time.perf_counter() - t0

    go(1000)
    heap = make_heap(heap_n)  # noqa: F841 - alive for the timed run
    gc.collect()
    ok, seconds = go(n)
    if ok != n:
        print(f"{ok} of {n} calls succeeded", file=sys.stderr)
        return 1
    print(json.dumps({"ok": ok, "seconds": seconds, "calls_per_s": n / seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
