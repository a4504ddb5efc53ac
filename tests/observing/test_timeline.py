"""``Results.timeline()``, ``Results.plot()``, the results table and its HTML (virtual time)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline import Results, Retry, SkillResult, run, skill
from pipeline._core._timeline import critical_path
from tests.support.vloop import vrun


def briefing_run() -> Results:
    """flaky (fails once, backs off 0.5 s, succeeds) and pages feed dep; hangs times out
    and its dependent dep2 is skipped."""
    tries = 0

    @skill(retry=Retry(attempts=3, backoff=0.5, jitter=0))
    async def flaky() -> str:
        nonlocal tries
        tries += 1
        await asyncio.sleep(1)
        if tries < 2:
            raise ConnectionError("down")
        return "up"

    @skill
    async def pages() -> Any:
        for i in range(3):
            await asyncio.sleep(0.3)
            yield i

    @skill(timeout=2)
    async def hangs() -> None:
        await asyncio.sleep(100)

    @skill
    async def dep(x: Any, y: Any = None) -> Any:
        await asyncio.sleep(0.5)
        return x

    async def main() -> Results:
        return await run([dep(flaky(), pages()), dep(hangs()).named("dep2")]).collect()

    results, _ = vrun(main)
    return results


def test_collect_keeps_the_dependency_edges_and_the_critical_path_follows_the_last_finisher() -> None:
    results = briefing_run()
    index = {r.key: r.index for r in results}
    assert results._edges == {
        index["dep"]: (index["flaky"], index["pages"]),
        index["dep2"]: (index["hangs"],),
    }
    # dep finishes last (3.0 s); of its inputs flaky finished last (2.5 s).
    assert critical_path(list(results), results._edges) == [index["flaky"], index["dep"]]


def test_the_text_timeline_shows_attempts_waits_status_and_edges() -> None:
    text = briefing_run().timeline(width=72)
    lines = text.splitlines()
    assert lines[0].startswith(" key   status     time att  0s")
    rows = {line.split()[0].lstrip("*"): line for line in lines[1:6]}
    assert list(rows) == ["flaky", "pages", "dep", "hangs", "dep2"]
    bar = {k: v.split("│")[1] for k, v in rows.items()}
    assert {len(b) for b in bar.values()} == {72 - 28 - 1}  # one shared time axis
    # flaky: a failed attempt (0-1 s), a backoff (1-1.5 s), the successful one (1.5-2.5 s).
    assert bar["flaky"].strip() == "▒" * 14 + "·" * 7 + "█" * 15
    assert bar["dep"].strip() == "█" * 8 and bar["dep"].endswith("█")
    assert set(bar["hangs"].strip()) == {"!"}
    assert bar["dep2"].strip() == "-"
    assert rows["flaky"].startswith("*flaky success   2.50s  2×")
    assert rows["dep"].startswith("*dep ") and rows["pages"].startswith(" pages")
    assert rows["dep"].endswith("← flaky, pages") and rows["dep2"].endswith("← hangs")
    assert "critical path" in text and "wait" in lines[-2] + lines[-1]
    assert all(len(line) <= 72 for line in lines if "←" not in line)


def test_a_timeline_of_results_built_by_hand_has_no_edges() -> None:
    results = Results([
        SkillResult(name="a", key="a", index=0, status="success", attempts=1,
                    started_at=0.0, finished_at=2.0, attempt_spans=((0.0, 2.0),)),
        SkillResult(name="b", key="b", index=1, status="error", attempts=2,
                    started_at=0.5, finished_at=2.0, attempt_spans=((1.0, 1.5), (1.8, 2.0))),
    ])
    lines = results.timeline(width=50).splitlines()
    assert "←" not in "\n".join(lines) and "*" not in lines[1] + lines[2]
    b = lines[2].split("│")[1]
    # A permit wait before the first attempt, a backoff between the two, the error last.
    assert b.strip().startswith("·") and "▒" in b and b.rstrip().endswith("✗")
    assert Results([]).timeline() == "(no calls)"


def _patches(fig: Any, prefix: str) -> list[Any]:
    ax = fig.axes[0]
    return [p for p in ax.patches if (p.get_gid() or "").startswith(prefix)]


def test_the_plot_has_one_bar_per_attempt_hatched_waits_edges_and_the_critical_path(tmp_path: Path) -> None:
    results = briefing_run()
    path = tmp_path / "run.png"
    fig = results.plot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    attempts = _patches(fig, "attempt:")
    assert len(attempts) == sum(r.attempts for r in results) == 5
    index = {r.key: r.index for r in results}
    flaky = index["flaky"]
    spans = {p.get_gid(): (p.get_x(), p.get_x() + p.get_width()) for p in attempts}
    assert spans[f"attempt:{flaky}:1"] == pytest.approx((0.0, 1.0))
    assert spans[f"attempt:{flaky}:2"] == pytest.approx((1.5, 2.5))
    colour = {p.get_gid(): p.get_facecolor() for p in attempts}
    assert colour[f"attempt:{flaky}:1"] != colour[f"attempt:{flaky}:2"]  # retried vs success
    assert colour[f"attempt:{index['hangs']}:1"] != colour[f"attempt:{flaky}:2"]  # timeout
    waits = _patches(fig, "wait:")
    assert [(w.get_gid(), w.get_hatch()) for w in waits] == [("wait:backoff", "///")]
    assert waits[0].get_x() == pytest.approx(1.0) and waits[0].get_width() == pytest.approx(0.5)
    edges = sorted(t.get_gid() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("edge:"))
    assert edges == sorted(
        [f"edge:{index['flaky']}->{index['dep']}", f"edge:{index['pages']}->{index['dep']}",
         f"edge:{index['hangs']}->{index['dep2']}"]
    )
    thick = {p.get_gid() for p in attempts if p.get_linewidth() == 2.0}
    assert thick == {f"attempt:{flaky}:1", f"attempt:{flaky}:2", f"attempt:{index['dep']}:1"}
    skipped = [ln for ln in fig.axes[0].lines if (ln.get_gid() or "").startswith("skipped:")]
    assert len(skipped) == 1

    svg = tmp_path / "run.svg"
    results.plot(svg, title="briefing")
    assert svg.read_text().lstrip().startswith("<?xml") and "briefing" in svg.read_text()


def test_plot_names_the_extra_when_matplotlib_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"^Results.plot\(\) needs matplotlib: pip install 'skillstream\[plot\]'$"):
        Results([]).plot(None)


def test_results_print_as_a_table_cut_to_the_width_and_as_html() -> None:
    results = briefing_run()
    table = str(results)
    lines = table.splitlines()
    assert lines[0].split() == ["key", "status", "duration", "attempts", "value", "or", "error"]
    assert lines[1].split()[:5] == ["flaky", "success", "2.500s", "2", "'up'"]
    assert "SkillTimeout: attempt 1 exceeded the timeout of 2 s" in table
    assert lines[5].startswith("dep2") and "DependencyFailed" in lines[5]
    from pipeline._core._timeline import table as make_table

    narrow = make_table(list(results), width=40).splitlines()
    assert all(len(line) <= 40 for line in narrow) and narrow[4].endswith("…")
    assert repr(results).startswith("Results([")  # repr stays short

    html = results._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 6
    assert "<td>dep2</td>" in html and "dependency &#x27;hangs&#x27;" in html
