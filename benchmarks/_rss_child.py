"""One peak-RSS measurement in a fresh process: ``python -m benchmarks._rss_child PEER N CAP``.

Runs N no-op calls from a generator (pulled lazily where the peer can) at the given cap and
prints one JSON line: ``{"ok", "seconds", "maxrss_kb", "baseline_kb", "ru_maxrss_kb"}``.

``maxrss_kb`` is the peak RSS of this process image: ``VmHWM`` from ``/proc/self/status`` on
Linux, else ``ru_maxrss``. (On Linux ``ru_maxrss`` survives fork + exec: a child started
from a 100 MB parent reports at least the parent's RSS at fork time, which would hide the
growth being measured. ``VmHWM`` belongs to the new address space only.) ``baseline_kb`` is
the same figure after imports and a warm-up run.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

from benchmarks.peers import all_peers
from benchmarks.workloads import CALL_TIMEOUT


async def noop(_: object) -> None:
    return None


def peak_rss_kb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    key, n, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    peer = {p.key: p for p in all_peers()}[key]
    asyncio.run(peer.map(noop, (i for i in range(100)), cap, CALL_TIMEOUT))  # imports, warm-up
    baseline = peak_rss_kb()
    t0 = time.perf_counter()
    ok = asyncio.run(peer.map(noop, (i for i in range(n)), cap, CALL_TIMEOUT))
    seconds = time.perf_counter() - t0
    if ok != n:
        print(f"{ok} of {n} calls succeeded", file=sys.stderr)
        return 1
    print(json.dumps({"ok": ok, "seconds": seconds, "maxrss_kb": peak_rss_kb(),
                      "baseline_kb": baseline,
                      "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
