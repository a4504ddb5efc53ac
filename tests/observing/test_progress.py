"""The live progress view, rendered to recorded rich consoles (virtual time)."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from typing import Any

import pytest
from rich.console import Console

from pipeline import ProgressView, Retry, Results, run, skill
from tests.support.vloop import vrun


def recorder(width: int = 100) -> Console:
    return Console(record=True, width=width, force_terminal=True, color_system="truecolor", file=io.StringIO())


def snapshot(view: ProgressView) -> str:
    console = recorder()
    console.print(view.render())
    return console.export_text()


@skill
async def sleep(n: float) -> float:
    await asyncio.sleep(n)
    return n


@skill
async def broken() -> None:
    await asyncio.sleep(0.5)
    raise ValueError("bad")


def test_the_view_counts_in_flight_done_failed_waiting_and_names_the_slowest() -> None:
    tries = 0

    @skill(retry=Retry(attempts=2, backoff=2, jitter=0))
    async def flaky() -> str:
        nonlocal tries
        tries += 1
        await asyncio.sleep(1)
        if tries == 1:
            raise ConnectionError("busy")
        return "ok"

    view = ProgressView(console=recorder(), refresh_per_second=4)
    shots: dict[float, str] = {}

    async def main() -> Results:
        async def watch() -> None:
            for t in (0.25, 1.5, 2.75, 3.5, 20):
                await asyncio.sleep(t - asyncio.get_running_loop().time())
                shots[t] = snapshot(view)

        watcher = asyncio.create_task(watch())
        calls = [sleep(3).named("slow"), sleep(0.2).named("quick"), broken(), flaky(), sleep(1).named("last")]
        results = await run(calls, max_concurrency=3, instruments=[view]).collect()
        await watcher
        return results

    results, _ = vrun(main)
    assert [r.status.value for r in results] == ["success", "success", "error", "success", "success"]
    # 0.25 s: quick is done (0.2 s), flaky took its slot; last waits for one.
    assert "in flight 3  ·  done 1  ·  failed 0  ·  waiting slot 1" in shots[0.25]
    assert "1/5" in shots[0.25]
    assert "slowest: slow 0.2s, broken 0.2s, flaky 0.0s" in shots[0.25]
    # 1.5 s: broken failed, flaky backs off (holding its slot), last runs.
    assert "in flight 2  ·  done 1  ·  failed 1  ·  retries 1  ·  waiting backoff 1" in shots[1.5]
    assert "slowest: slow 1.5s, last 1.0s" in shots[1.5]
    assert "2/5" in shots[1.5]
    # 2.75 s: last is done (1.5 s); flaky still backs off (1.2 s to 3.2 s).
    assert "in flight 1  ·  done 2  ·  failed 1  ·  retries 1  ·  waiting backoff 1" in shots[2.75]
    assert "slowest: slow 2.8s\n" in shots[2.75] and "3/5" in shots[2.75]
    # 3.5 s: flaky's second attempt runs: no longer waiting.
    assert "in flight 1  ·  done 3  ·  failed 1  ·  retries 1\n" in shots[3.5]
    assert "slowest: flaky 3.3s" in shots[3.5]
    assert "done 4  ·  failed 1" in shots[20] and "5/5" in shots[20] and "slowest" not in shots[20]
    # The live display drew on its console and left the final counts there.
    assert view.console is not None
    final = view.console.export_text()
    assert "in flight 0  ·  done 4  ·  failed 1  ·  retries 1" in final


def test_progress_true_is_silent_and_adds_nothing_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not sys.stdout.isatty()
    stream = run([sleep(1)], progress=True)
    assert stream._spec.instruments == ()
    results, _ = vrun(lambda: stream.collect())
    assert results.ok
    assert capsys.readouterr().out == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_true_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    stream = run([sleep(1), sleep(2), broken()], progress=True)
    assert [type(i).__name__ for i in stream._spec.instruments] == ["ProgressView"]
    vrun(lambda: stream.collect())
    drawn = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())  # colours and cursor codes
    assert "in flight 0  ·  done 2  ·  failed 1" in drawn and "3/3" in drawn


def test_a_view_as_a_context_manager_spans_several_runs() -> None:
    console = recorder()

    async def main() -> None:
        with ProgressView(console=console) as view:
            await run([sleep(1), sleep(1)], instruments=[view]).collect()
            await run([sleep(1), broken()], instruments=[view]).collect()
            assert view._live is not None  # still showing between the runs

    vrun(main)
    text = console.export_text()
    assert "done 3  ·  failed 1" in text and "4/4" in text


def test_an_unsized_source_shows_no_bar() -> None:
    view = ProgressView(console=recorder())

    async def main() -> None:
        await run((sleep(1) for _ in range(3)), instruments=[view]).collect()

    vrun(main)
    shot = snapshot(view)
    assert "done 3" in shot and "/" not in shot


def test_progress_must_be_a_bool_or_a_view() -> None:
    with pytest.raises(TypeError, match=r"^progress must be True, False or a ProgressView, got 'yes'$"):
        run([sleep(1)], progress="yes")  # type: ignore[arg-type]


def test_a_given_view_is_used_as_is() -> None:
    view = ProgressView(console=recorder())
    stream = run([sleep(1)], progress=view)
    assert stream._spec.instruments == (view,)
    vrun(lambda: stream.collect())
    assert "done 1" in snapshot(view)


def test_the_view_renders_its_screenshot(tmp_path: Any) -> None:
    view = ProgressView(console=recorder())

    async def main() -> None:
        await run([sleep(1), broken()], instruments=[view]).collect()

    vrun(main)
    console = Console(record=True, width=80, file=io.StringIO(), force_terminal=True)
    console.print(view.render())
    svg = console.export_svg(title="skillstream")
    assert svg.startswith("<svg") and "done" in svg


def test_the_bar_of_a_dag_counts_its_dependencies() -> None:
    @skill
    async def add(a: float, b: float) -> float:
        return a + b

    view = ProgressView(console=recorder())
    shared = sleep(1)
    stream = run([add(shared, sleep(2)), add(shared, 1.0).named("again")], progress=view)
    vrun(lambda: stream.collect())
    shot = snapshot(view)
    assert "done 4" in shot and "4/4" in shot  # two listed calls, two dependencies (one shared)


def test_one_view_shared_by_two_runs_at_once_counts_both_and_stays_up_until_the_last_ends() -> None:
    console = recorder()
    view = ProgressView(console=console)
    shots: dict[float, tuple[str, bool]] = {}

    async def main() -> None:
        async def watch() -> None:
            for t in (0.5, 1.5):
                await asyncio.sleep(t - asyncio.get_running_loop().time())
                shots[t] = (snapshot(view), view._live is not None)

        await asyncio.gather(
            run([sleep(1), sleep(1)], instruments=[view]).collect(),
            run([sleep(2), broken()], instruments=[view]).collect(),
            watch(),
        )

    vrun(main)
    # Index 0 and 1 of both runs are in flight at once: four calls, not two.
    assert "in flight 4  ·  done 0" in shots[0.5][0] and "0/4" in shots[0.5][0]
    assert "in flight 1  ·  done 2  ·  failed 1" in shots[1.5][0]
    assert shots[1.5][1]  # the first run's end did not take the display down
    assert view._live is None  # the last one's did
    text = console.export_text()
    assert "done 3  ·  failed 1" in text and "4/4" in text
