"""Dependency graphs from nested calls: start-when-ready, shared nodes, skips, deadlines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline import Retry, SkillCall, run, skill
from tests.support.vloop import vrun


class Recorder:
    def __init__(self) -> None:
        self.starts: dict[str, float] = {}
        self.ends: dict[str, float] = {}
        self.runs: dict[str, int] = {}

    def make(self, name: str = "step", **options: Any):  # noqa: ANN201
        rec = self

        @skill(name=name, **options)
        async def step(tag: str, seconds: float, *inputs: Any, fail: bool = False, **named: Any) -> Any:
            loop = asyncio.get_running_loop()
            rec.starts[tag] = loop.time()
            rec.runs[tag] = rec.runs.get(tag, 0) + 1
            await asyncio.sleep(seconds)
            rec.ends[tag] = loop.time()
            if fail:
                raise RuntimeError(f"{tag} failed")
            return {"tag": tag, "inputs": list(inputs), **named}

        return step


def test_a_node_starts_the_moment_its_own_dependencies_finish() -> None:
    rec = Recorder()
    step = rec.make()
    # Two chains side by side: fast-a -> fast-b and slow-a -> slow-b. Level-by-level
    # execution would hold fast-b until slow-a (level 1) is done at t=5.
    fast_b = step("fast-b", 1, step("fast-a", 1))
    slow_b = step("slow-b", 1, step("slow-a", 5))

    async def main() -> Any:
        return await run([fast_b, slow_b]).collect()

    results, loop = vrun(main)
    assert rec.starts == {"fast-a": 0, "slow-a": 0, "fast-b": 1, "slow-b": 5}
    assert loop.time() == 6  # the critical path, not the sum of level maxima (5 + 1 ... )
    assert results.ok
    assert [r.value["tag"] for r in results] == ["fast-a", "fast-b", "slow-a", "slow-b"]


def test_values_replace_calls_positional_keyword_and_nested() -> None:
    @skill
    async def num(x: int) -> int:
        await asyncio.sleep(x)
        return x

    @skill
    async def combine(a: int, pair: tuple[int, int], items: list[int], mapping: dict[str, int], *, k: int) -> Any:
        return {"a": a, "pair": pair, "items": items, "mapping": mapping, "k": k}

    call = combine(num(1), (num(2), 5), [num(3), 7], {"x": num(4)}, k=num(1))

    async def main() -> Any:
        return await call

    value, loop = vrun(main)
    assert value == {"a": 1, "pair": (2, 5), "items": [3, 7], "mapping": {"x": 4}, "k": 1}
    assert loop.time() == 4  # all five lookups ran at once


def test_a_shared_dependency_runs_once() -> None:
    rec = Recorder()
    step = rec.make()
    shared = step("shared", 2)
    left = step("left", 1, shared)
    right = step("right", 1, shared)
    top = step("top", 1, left, right)

    async def main() -> Any:
        return await run([top, shared]).collect()

    results, _ = vrun(main)
    assert rec.runs == {"shared": 1, "left": 1, "right": 1, "top": 1}
    assert len(results) == 4
    assert rec.starts["left"] == rec.starts["right"] == 2 and rec.starts["top"] == 3


def test_failure_skips_dependents_transitively_and_spares_other_paths() -> None:
    rec = Recorder()
    step = rec.make()
    bad = step("bad", 1, fail=True)
    child = step("child", 1, bad)
    grandchild = step("grandchild", 1, child)
    other = step("other", 3)

    async def main() -> Any:
        return await run([grandchild, other]).collect()

    results, _ = vrun(main)
    by_tag = {r.index: r for r in results}
    statuses = [(r.status.value, r.error.type if r.error else None) for r in results]
    assert statuses == [
        ("error", "RuntimeError"),
        ("skipped", "DependencyFailed"),
        ("skipped", "DependencyFailed"),
        ("success", None),
    ]
    assert results[1].error.message == "dependency 'step' (#0) ended error"  # type: ignore[union-attr]
    assert results[2].error.message == "dependency 'step' (#1) ended skipped"  # type: ignore[union-attr]
    assert results[1].started_at is None and results[1].attempts == 0
    assert "child" not in rec.starts and "grandchild" not in rec.starts
    assert rec.ends["other"] == 3
    assert len(by_tag) == 4


def test_a_fallback_flows_into_dependents() -> None:
    @skill(fallback={"price": 0.0})
    async def quote() -> dict[str, float]:
        raise ConnectionError("feed down")

    @skill
    async def report(q: dict[str, float]) -> str:
        return f"price {q['price']}"

    async def main() -> Any:
        return await run(report(quote())).collect()

    results, _ = vrun(main)
    assert [(r.status.value, r.value) for r in results] == [
        ("error", {"price": 0.0}),
        ("success", "price 0.0"),
    ]


def test_skipped_call_with_fallback_unblocks_its_dependents() -> None:
    @skill
    async def broken() -> int:
        raise ValueError("no")

    @skill(fallback=-1)
    async def middle(x: int) -> int:
        return x

    @skill
    async def top(x: int) -> int:
        return x * 10

    async def main() -> Any:
        return await run(top(middle(broken()))).collect()

    results, _ = vrun(main)
    assert [(r.status.value, r.value) for r in results] == [
        ("error", None),
        ("skipped", -1),
        ("success", -10),
    ]


def test_sequential_chain_reads_naturally() -> None:
    @skill
    async def rewrite(q: str) -> str:
        await asyncio.sleep(0.01)  # the chain's shape is the point, not its time
        return q.upper()

    @skill
    async def search(q: str) -> list[str]:
        await asyncio.sleep(0.01)  # the chain's shape is the point, not its time
        return [f"{q}-1", f"{q}-2"]

    @skill
    def summarize(hits: list[str]) -> str:
        return " | ".join(hits)

    async def main() -> Any:
        return await summarize(search(rewrite("apple")))

    value = asyncio.run(main())
    assert value == "APPLE-1 | APPLE-2"


def test_order_only_edge_waits_without_taking_the_value() -> None:
    rec = Recorder()
    step = rec.make()
    migrate = step("migrate", 2)
    query = step("query", 1).after_calls(migrate)

    async def main() -> Any:
        return await run(query).collect()

    results, _ = vrun(main)
    assert rec.starts["query"] == 2
    assert results[1].value == {"tag": "query", "inputs": []}  # no value was passed in


def test_order_only_edge_to_a_failed_call_skips() -> None:
    rec = Recorder()
    step = rec.make()
    query = step("query", 1).after_calls(step("migrate", 1, fail=True))

    async def main() -> Any:
        return await run(query).collect()

    results, _ = vrun(main)
    assert [r.status.value for r in results] == ["error", "skipped"]


def test_cap_and_deadline_cover_every_node_of_a_graph() -> None:
    rec = Recorder()
    step = rec.make()
    leaves = [step(f"leaf{i}", 1) for i in range(6)]
    middle = step("middle", 1, *leaves[:3])
    late = step("late", 1, *leaves[3:])
    top = step("top", 1, middle, late)

    async def main() -> Any:
        return await run(top, max_concurrency=3, timeout=2.5).collect()

    results, loop = vrun(main)
    # Ready calls start first come, first served: leaves 0-2 at t=0, leaves 3-5 at t=1
    # (ready before middle), then middle and late at t=2, both in flight at the deadline.
    assert rec.starts == {
        "leaf0": 0, "leaf1": 0, "leaf2": 0, "leaf3": 1, "leaf4": 1, "leaf5": 1,
        "middle": 2, "late": 2,
    }
    assert loop.time() == 2.5
    assert [r.status.value for r in results] == [
        "success", "success", "success", "timeout",  # leaves 0-2, middle
        "success", "success", "success", "timeout",  # leaves 3-5, late
        "skipped",  # top
    ]
    assert results[8].error.type == "DeadlineExceeded"  # type: ignore[union-attr]


def test_deadline_in_the_middle_of_a_graph_keeps_finished_nodes() -> None:
    rec = Recorder()
    step = rec.make()
    a = step("a", 1)
    b = step("b", 3, a)
    c = step("c", 1, b)
    d = step("d", 0.5, a)

    async def main() -> Any:
        return await run([c, d], timeout=2).collect()

    results, _ = vrun(main)
    assert [(r.value["tag"] if r.value else None, r.status.value) for r in results] == [
        ("a", "success"),
        (None, "timeout"),
        (None, "skipped"),
        ("d", "success"),
    ]


def test_retry_inside_a_graph_then_dependents_run() -> None:
    attempts = 0

    @skill(retry=Retry(attempts=3, backoff=0.5))
    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset")
        return 7

    @skill
    async def double(x: int) -> int:
        return 2 * x

    async def main() -> Any:
        return await run(double(flaky())).collect()

    results, loop = vrun(main)
    assert [r.value for r in results] == [7, 14]
    assert results[0].attempts == 3 and results[1].started_at == pytest.approx(1.5)


def test_a_dependency_cycle_is_refused_naming_it() -> None:
    @skill
    async def node(*xs: Any) -> int:
        return 1

    inputs: list[Any] = []
    a = node(inputs)
    b = node(a).named("b")
    inputs.append(b)  # a -> b -> a, made by mutating an argument after the fact

    async def main() -> None:
        with pytest.raises(ValueError, match=r"^dependency cycle: node -> b -> node$"):
            await run(a).collect()

    vrun(main)


def test_diamond_of_many_runs_every_node_once_in_dependency_order() -> None:
    @skill
    async def node(i: int, *deps: int) -> int:
        await asyncio.sleep(0.1 * (i % 3))
        return i

    layer0 = [node(i) for i in range(5)]
    layer1 = [node(10 + i, *layer0) for i in range(5)]
    root = node(99, *layer1)

    async def main() -> Any:
        return await run(root, max_concurrency=2).collect()

    results, _ = vrun(main)
    assert sorted(r.value for r in results) == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 99]
    ends = {r.value: r.finished_at for r in results}
    starts = {r.value: r.started_at for r in results}
    assert all(starts[10 + i] >= max(ends[j] for j in range(5)) for i in range(5))
    assert starts[99] >= max(ends[10 + i] for i in range(5))


def test_calls_deeper_than_one_container_level_are_data_not_inputs() -> None:
    @skill
    async def tool(x: int) -> int:
        return x

    @skill
    async def node(state: dict[str, Any]) -> Any:
        return state["calls"][0]

    stored = tool(1)

    async def main() -> Any:
        return await run(node({"calls": [stored]})).collect()

    results, _ = vrun(main)
    assert len(results) == 1  # tool(1) did not run: it sits two levels down, as data
    assert results[0].value is stored


# -- regressions (defects issue) ------------------------------------------------------------


def test_one_call_shared_by_two_runs_at_once_runs_in_each() -> None:
    # The engine kept its node on the call object: the second run overwrote the first's
    # and run A's dependent failed with "'NoneType' object has no attribute 'value'".
    rec = Recorder()
    step = rec.make()
    shared = step("dep", 0.1)

    async def main() -> Any:
        return await asyncio.gather(
            run([step("A", 0.1, shared)]).collect(), run([step("B", 0.2, shared)]).collect()
        )

    (a, b), _ = vrun(main)
    assert [r.status.value for r in a] == ["success", "success"]
    assert [r.status.value for r in b] == ["success", "success"]
    assert a[1].value["inputs"][0]["tag"] == "dep" and b[1].value["inputs"][0]["tag"] == "dep"
    assert rec.runs["dep"] == 2  # once in each run: each run has its own node for it
    assert not hasattr(shared, "_node")  # nothing of a run is stored on the call


def test_containers_without_calls_are_passed_as_they_are_and_with_calls_keep_their_type() -> None:
    from collections import defaultdict
    from typing import NamedTuple

    class Pair(NamedTuple):
        left: Any
        right: Any

    seen: dict[str, Any] = {}

    @skill
    async def value(x: int) -> int:
        return x

    @skill
    async def look(dep: int, plain: list[int], pair: Pair, table: defaultdict[str, Any], **kw: Any) -> None:
        seen.update(dep=dep, plain=plain, pair=pair, table=table, kw=kw)
        plain.append(99)

    mine = [1, 2]
    table: defaultdict[str, Any] = defaultdict(list, {"a": value(3)})

    async def main() -> Any:
        return await run(look(value(1), mine, Pair(value(2), "r"), table, more=[value(4), 5])).collect()

    results, _ = vrun(main)
    assert all(r.ok for r in results), results
    assert seen["plain"] is mine and mine == [1, 2, 99]  # the caller's own list
    assert type(seen["pair"]) is Pair and seen["pair"] == Pair(2, "r")
    assert type(seen["table"]) is defaultdict and seen["table"]["a"] == 3
    assert seen["table"].default_factory is list and isinstance(table["a"], SkillCall)
    assert seen["kw"] == {"more": [4, 5]}


def test_a_generator_dag_whose_input_finished_long_before_does_not_run_it_again() -> None:
    # A lazy source's finished calls are forgotten once nobody holds them (memory stays
    # O(cap)); one still held is remembered, so a later dependent gets its value.
    rec = Recorder()
    step = rec.make()

    def source() -> Any:
        first = step("first", 0.1)
        yield first
        for i in range(20):
            yield step(f"filler{i}", 0.1)
        yield step("late", 0.1, first)

    async def main() -> Any:
        return await run(source(), max_concurrency=2).collect()

    results, _ = vrun(main)
    assert rec.runs["first"] == 1 and len(results) == 22
    assert results[-1].value["tag"] == "late"
    assert results[-1].value["inputs"][0]["tag"] == "first"
