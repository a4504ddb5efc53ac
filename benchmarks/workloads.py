"""Workload definitions: sizes, seeded inputs and the analytic ideals they are scored against.

Everything here is pure data and arithmetic: no event loop, no peer. Each peer receives
the same inputs (same seeds) so the figures are comparable.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

SEED = 20240606
#: Per-call timeout given to every peer that has one (never reached by these workloads).
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Sizes:
    """How big each workload is for one ``--size``."""

    name: str
    reps: int
    overhead_n: int
    overhead_cap: int
    langgraph_n: int  # LangGraph is ~100x slower per call: it runs a smaller fan-out
    latency_n: int
    latency_cap: int
    latency_range: tuple[float, float]  # seconds
    first_n: int
    first_range: tuple[float, float]  # seconds, fastest and slowest skill
    dag_n: int
    dag_range: tuple[float, float]  # seconds
    memory_n: int
    rss_sizes: tuple[int, ...]
    rss_cap: int
    throughput_n: int
    warmup_n: int = 200


FULL = Sizes(
    name="full",
    reps=3,
    overhead_n=20_000,
    overhead_cap=100,
    langgraph_n=2_000,
    latency_n=50,
    latency_cap=10,
    latency_range=(0.050, 0.250),
    first_n=10,
    first_range=(0.010, 1.0),
    dag_n=30,
    dag_range=(0.020, 0.200),
    memory_n=10_000,
    rss_sizes=(10**4, 10**5, 10**6),
    rss_cap=100,
    throughput_n=100_000,
)

SMALL = Sizes(
    name="small",
    reps=1,
    overhead_n=500,
    overhead_cap=100,
    langgraph_n=100,
    latency_n=50,
    latency_cap=10,
    latency_range=(0.010, 0.050),
    first_n=10,
    first_range=(0.010, 0.200),
    dag_n=30,
    dag_range=(0.005, 0.050),
    memory_n=500,
    rss_sizes=(10**4,),
    rss_cap=100,
    throughput_n=2_000,
    warmup_n=50,
)

SIZES = {"full": FULL, "small": SMALL}


# --------------------------------------------------------------------------- latency


def latency_durations(n: int, lo: float, hi: float, seed: int = SEED) -> list[float]:
    """``n`` sleep durations drawn uniformly from ``[lo, hi]`` (seeded)."""
    rng = random.Random(seed)
    return [rng.uniform(lo, hi) for _ in range(n)]


def greedy_makespan(durations: list[float], machines: int | None) -> float:
    """Makespan of greedy list scheduling: each job, in order, goes to the earliest-free machine.

    ``machines=None`` means unbounded: the makespan is the longest job.
    """
    if not durations:
        return 0.0
    if machines is None or machines >= len(durations):
        return max(durations)
    free = [0.0] * machines
    end = 0.0
    for d in durations:
        t = heapq.heappop(free) + d
        end = max(end, t)
        heapq.heappush(free, t)
    return end


# --------------------------------------------------------------------------- first result


def first_result_durations(n: int, lo: float, hi: float, seed: int = SEED) -> list[float]:
    """``n`` durations evenly spaced from ``lo`` to ``hi``, shuffled so the fastest is not first."""
    step = (hi - lo) / (n - 1) if n > 1 else 0.0
    ds = [lo + i * step for i in range(n)]
    rng = random.Random(seed)
    while True:
        rng.shuffle(ds)
        if n < 2 or ds[0] != lo:
            return ds


# --------------------------------------------------------------------------- DAG


@dataclass(frozen=True)
class Node:
    id: int
    layer: int
    duration: float
    deps: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"n{self.id}"


@dataclass(frozen=True)
class Dag:
    nodes: tuple[Node, ...]  # topological order (by layer)
    layers: tuple[tuple[int, ...], ...] = field(default=())

    @property
    def sinks(self) -> list[Node]:
        used = {d for n in self.nodes for d in n.deps}
        return [n for n in self.nodes if n.id not in used]

    def critical_path(self) -> float:
        finish: dict[int, float] = {}
        for n in self.nodes:
            finish[n.id] = n.duration + max((finish[d] for d in n.deps), default=0.0)
        return max(finish.values())

    def level_by_level(self) -> float:
        """Makespan of running the layers one after the other (a barrier per layer)."""
        by_id = {n.id: n for n in self.nodes}
        return sum(max(by_id[i].duration for i in layer) for layer in self.layers)


def make_dag(n: int, lo: float, hi: float, seed: int = SEED, n_layers: int = 6) -> Dag:
    """A random layered DAG: ``n`` nodes over ``n_layers`` layers, 1–3 dependencies each.

    Every node past the first layer depends on one node of the layer just before it (so its
    layer is its depth) and on up to two more nodes of any earlier layer.
    """
    rng = random.Random(seed)
    # split n into n_layers non-empty layers
    cuts = sorted(rng.sample(range(1, n), n_layers - 1))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
    nodes: list[Node] = []
    layers: list[tuple[int, ...]] = []
    next_id = 0
    for layer, size in enumerate(sizes):
        ids = []
        earlier = [x.id for x in nodes]  # every node of the layers before this one
        for _ in range(size):
            if layer == 0:
                deps: tuple[int, ...] = ()
            else:
                prev = layers[layer - 1]
                k = rng.randint(1, 3)
                first = rng.choice(prev)
                others = [x for x in earlier if x != first]
                extra = rng.sample(others, min(k - 1, len(others)))
                deps = tuple(sorted({first, *extra}))
            nodes.append(Node(next_id, layer, round(rng.uniform(lo, hi), 4), deps))
            ids.append(next_id)
            next_id += 1
        layers.append(tuple(ids))
    return Dag(tuple(nodes), tuple(layers))
