"""Reducers for scan: concat, merge_dicts, dedupe_by, top_k, chain_reducers."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.mockobserver import MockObserver

from operators import chain_reducers, concat, dedupe_by, merge_dicts, top_k

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


@dataclass(frozen=True)
class Result:
    """Shaped like pipeline.SkillResult where the reducers look (duck typing)."""

    value: Any
    ok: bool = True
    fallback_used: bool = False


@dataclass(frozen=True)
class Hit:
    url: str
    score: float


def _failed() -> Result:
    return Result(value=None, ok=False)


# -- concat -------------------------------------------------------------------------------


def test_concat_appends_a_value_and_extends_by_a_list_or_tuple() -> None:
    assert concat([1], 2) == [1, 2]
    assert concat([1], [2, 3]) == [1, 2, 3]
    assert concat([1], (2, 3)) == [1, 2, 3]
    assert concat([1], "ab") == [1, "ab"]  # a string is one value, not characters
    assert concat([1], None) == [1, None]
    assert concat(None, 1) == [1]


def test_concat_never_mutates_acc() -> None:
    acc = [1, 2]

    out = concat(acc, 3)

    assert acc == [1, 2]
    assert out is not acc


def test_concat_uses_the_value_of_ok_and_fallen_back_results() -> None:
    assert concat([], Result([1, 2])) == [1, 2]
    assert concat([0], Result("fb", ok=False, fallback_used=True)) == [0, "fb"]


def test_concat_skips_failed_results() -> None:
    acc = [1]

    assert concat(acc, _failed()) is acc
    assert concat(None, _failed()) == []


def test_concat_in_scan_in_virtual_time() -> None:
    scheduler = TestScheduler()
    xs = scheduler.create_hot_observable(
        on_next(210, Result(1)),
        on_next(220, _failed()),
        on_next(230, Result([2, 3])),
        on_completed(240),
    )

    results: MockObserver[list[Any]] = scheduler.start(lambda: xs.pipe(ops.scan(concat, [])))

    assert results.messages == [
        on_next(210, [1]),
        on_next(220, [1]),
        on_next(230, [1, 2, 3]),
        on_completed(240),
    ]
    assert xs.subscriptions == [subscribe(200, 240)]


# -- merge_dicts --------------------------------------------------------------------------


def test_merge_dicts_later_keys_win_and_acc_is_untouched() -> None:
    acc = {"a": 1, "b": 2}

    out = merge_dicts(acc, {"a": 3, "c": 4})

    assert out == {"a": 3, "b": 2, "c": 4}
    assert acc == {"a": 1, "b": 2}


def test_merge_dicts_accepts_pairs_none_and_results() -> None:
    assert merge_dicts(None, [("a", 1)]) == {"a": 1}
    assert merge_dicts({"a": 1}, None) == {"a": 1}
    assert merge_dicts({"a": 1}, ()) == {"a": 1}
    assert merge_dicts({"a": 1}, Result({"b": 2})) == {"a": 1, "b": 2}
    assert merge_dicts({"a": 1}, _failed()) == {"a": 1}
    assert merge_dicts(None, _failed()) == {}


def test_merge_dicts_rejects_a_non_mapping() -> None:
    with pytest.raises(TypeError):
        merge_dicts({}, 3)


def test_merge_dicts_merges_a_list_of_dicts_in_order() -> None:
    acc = {"a": 0}

    assert merge_dicts(acc, [{"a": 1, "b": 2}, {"b": 3, "c": 4}]) == {"a": 1, "b": 3, "c": 4}
    assert merge_dicts(None, Result([{"a": 1, "b": 2}])) == {"a": 1, "b": 2}
    assert merge_dicts(None, [{"a": 1}, ("b", 2)]) == {"a": 1, "b": 2}
    assert acc == {"a": 0}


@pytest.mark.parametrize(
    "bad",
    [3, "ab", ["ab"], [{"a": 1}, 3], [("a", 1, 2)], [{"a": 1}, "xy"]],
    ids=["int", "str", "list of str", "dict then int", "triple", "dict then str"],
)
def test_merge_dicts_rejects_what_is_neither_dicts_nor_pairs_naming_it(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"^merge_dicts: .*(neither|not)"):
        merge_dicts({}, bad)
    with pytest.raises(TypeError, match="merge_dicts"):
        merge_dicts({}, Result(bad))


# -- dedupe_by ----------------------------------------------------------------------------


def test_dedupe_by_dict_key_keeps_the_first_occurrence() -> None:
    dedupe = dedupe_by("url")
    acc = [{"url": "a", "n": 1}]

    out = dedupe(acc, [{"url": "a", "n": 2}, {"url": "b", "n": 3}, {"url": "b", "n": 4}])

    assert out == [{"url": "a", "n": 1}, {"url": "b", "n": 3}]
    assert acc == [{"url": "a", "n": 1}]


def test_dedupe_by_attribute_and_callable() -> None:
    hits = [Hit("a", 1), Hit("A", 2), Hit("b", 3)]

    assert dedupe_by("url")(None, hits) == hits
    assert dedupe_by(lambda h: h.url.lower())(None, hits) == [Hit("a", 1), Hit("b", 3)]


def test_dedupe_by_unhashable_keys() -> None:
    items = [{"k": [1], "n": 1}, {"k": [1], "n": 2}, {"k": [2], "n": 3}]

    assert dedupe_by("k")(None, items) == [items[0], items[2]]


def test_dedupe_by_skips_failed_results() -> None:
    acc = [{"url": "a"}]

    assert dedupe_by("url")(acc, _failed()) == [{"url": "a"}]


def test_dedupe_by_missing_key_raises() -> None:
    with pytest.raises(KeyError, match="url"):
        dedupe_by("url")(None, [{"link": "a"}])


# -- top_k --------------------------------------------------------------------------------


def test_top_k_over_an_item_without_the_key_names_the_reducer_the_key_and_the_item() -> None:
    with pytest.raises(KeyError) as info:
        top_k(2, "score")([{"score": 1}], [{"url": "x"}])
    assert str(info.value) == "top_k(2, 'score'): item {'url': 'x'} has no key 'score'"
    with pytest.raises(AttributeError, match=r"^top_k\(1, 'score'\): item Hit\(.*\) has no attribute 'score'"):
        top_k(1, "score")(None, [_NoScore()])


class _NoScore:
    def __repr__(self) -> str:
        return "Hit(url='a')"


def test_top_k_over_incomparable_keys_names_the_reducer() -> None:
    with pytest.raises(TypeError, match=r"^top_k\(2, 'score'\): cannot order"):
        top_k(2, "score")(None, [{"score": 1}, {"score": None}])


def test_dedupe_by_missing_key_names_the_reducer() -> None:
    with pytest.raises(KeyError, match=r"dedupe_by\('url'\): item \{'link': 'a'\} has no key 'url'"):
        dedupe_by("url")(None, [{"link": "a"}])


def test_top_k_keeps_the_k_largest_descending_and_stable() -> None:
    keep = top_k(3, key="score")
    items = [Hit("a", 1), Hit("b", 5), Hit("c", 3), Hit("d", 5), Hit("e", 3)]

    assert keep(None, items) == [Hit("b", 5), Hit("d", 5), Hit("c", 3)]


def test_top_k_by_dict_key_and_callable() -> None:
    assert top_k(1, "s")([{"s": 1}], {"s": 2}) == [{"s": 2}]
    assert top_k(2, abs)([1, -5], 3) == [-5, 3]


def test_top_k_never_mutates_acc() -> None:
    acc = [Hit("a", 1), Hit("b", 2)]
    before = copy.copy(acc)

    top_k(1, "score")(acc, Hit("c", 3))

    assert acc == before


@pytest.mark.parametrize("bad", [0, -1, 1.0, True])
def test_top_k_rejects_bad_k(bad: Any) -> None:
    with pytest.raises(ValueError, match=rf"^k must be an int >= 1, got {bad!r}$"):
        top_k(bad, "score")


@pytest.mark.parametrize("factory", [dedupe_by, lambda key: top_k(1, key)])
def test_key_must_be_a_str_or_callable(factory: Any) -> None:
    with pytest.raises(TypeError, match=r"^key must be a str or a callable, got 3$"):
        factory(3)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.integers(-5, 5), max_size=12),
    st.lists(st.integers(-5, 5), max_size=6),
    st.integers(1, 6),
)
def test_top_k_is_the_stable_sorted_prefix(acc: list[int], new: list[int], k: int) -> None:
    tagged_acc = [(v, i) for i, v in enumerate(acc)]
    tagged_new = [(v, len(acc) + i) for i, v in enumerate(new)]

    out = top_k(k, key=lambda t: t[0])(tagged_acc, tagged_new)

    everything = tagged_acc + tagged_new
    expected = sorted(everything, key=lambda t: (-t[0], t[1]))[:k]
    assert out == expected


# -- chain_reducers -----------------------------------------------------------------------


def test_chain_dedupes_then_keeps_the_top() -> None:
    best = chain_reducers(dedupe_by("url"), top_k(2, key="score"))
    acc: list[Hit] = []

    acc = best(acc, [Hit("a", 1), Hit("b", 2)])
    acc = best(acc, Hit("a", 9))  # a duplicate url: the first "a" is kept
    acc = best(acc, Hit("c", 3))

    assert acc == [Hit("c", 3), Hit("b", 2)]


def test_chain_passes_an_empty_tuple_to_later_reducers() -> None:
    calls: list[tuple[Any, Any]] = []

    def spy(acc: Any, item: Any) -> Any:
        calls.append((acc, item))
        return acc

    chained = chain_reducers(concat, spy, spy)

    assert chained([1], 2) == [1, 2]
    assert calls == [([1, 2], ()), ([1, 2], ())]


def test_chain_of_one_is_that_reducer() -> None:
    assert chain_reducers(concat)([1], 2) == [1, 2]


def test_chain_skips_failed_results() -> None:
    best = chain_reducers(dedupe_by("url"), top_k(2, key="score"))
    acc = [Hit("a", 1)]

    assert best(acc, _failed()) == [Hit("a", 1)]


def test_chain_in_scan_in_virtual_time() -> None:
    scheduler = TestScheduler()
    best = chain_reducers(dedupe_by("url"), top_k(1, key="score"))
    xs = scheduler.create_hot_observable(
        on_next(210, Result(Hit("a", 1))),
        on_next(220, Result(Hit("a", 9))),
        on_next(230, _failed()),
        on_next(240, Result([Hit("b", 5)])),
        on_completed(250),
    )

    results: MockObserver[list[Any]] = scheduler.start(lambda: xs.pipe(ops.scan(best, [])))

    assert results.messages == [
        on_next(210, [Hit("a", 1)]),
        on_next(220, [Hit("a", 1)]),
        on_next(230, [Hit("a", 1)]),
        on_next(240, [Hit("b", 5)]),
        on_completed(250),
    ]


def test_chain_needs_callables() -> None:
    with pytest.raises(ValueError, match=r"^chain_reducers needs at least one reducer$"):
        chain_reducers()
    with pytest.raises(TypeError, match=r"^every reducer must be callable, got 1$"):
        chain_reducers(concat, 1)  # type: ignore[arg-type]
