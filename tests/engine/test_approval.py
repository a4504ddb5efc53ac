"""Calls that wait for a person: needs_approval, pending results, Approve / Reject, resume."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline import (
    Approve,
    Journal,
    Reject,
    Results,
    Retry,
    SkillError,
    Status,
    run,
    skill,
)
from tests.support.vloop import vrun


class Bank:
    """Skills that record every execution (what ran, with which arguments, when)."""

    def __init__(self, **options: Any) -> None:
        self.sent: list[tuple[str, int]] = []
        self.looked_up: list[str] = []
        bank = self

        @skill(**{"needs_approval": True, **options})
        async def transfer(to: str, amount: int) -> str:
            bank.sent.append((to, amount))
            return f"sent {amount} to {to}"

        @skill
        async def balance(who: str, seconds: float = 0.0) -> int:
            await asyncio.sleep(seconds)
            bank.looked_up.append(who)
            return 1000

        self.transfer = transfer
        self.balance = balance


def test_a_call_that_needs_approval_does_not_run_and_is_reported_pending_with_its_arguments() -> None:
    bank = Bank()

    async def main() -> Results:
        return await run([bank.transfer("bob", 500), bank.balance("amy")]).collect()

    results, _ = vrun(main)
    assert bank.sent == []  # it did not run
    assert bank.looked_up == ["amy"]  # the other call did
    pending = results.pending()
    assert [(r.key, r.name, r.status, r.value) for r in pending] == [
        ("transfer", "transfer", Status.PENDING, {"to": "bob", "amount": 500})
    ]
    assert pending[0].attempts == 0 and pending[0].started_at is None and pending[0].error is None
    assert not pending[0].has_value and not results.ok
    with pytest.raises(SkillError, match=r"^transfer ended pending \(pending\)$"):
        pending[0].unwrap()


def test_a_predicate_on_the_arguments_decides_which_calls_wait() -> None:
    bank = Bank(needs_approval=lambda to, amount: amount > 100)

    async def main() -> Results:
        return await run(
            [bank.transfer("bob", 500).named("big"), bank.transfer("amy", 20).named("small")]
        ).collect()

    results, _ = vrun(main)
    assert bank.sent == [("amy", 20)]
    assert results["big"].status is Status.PENDING
    assert results["small"].status is Status.SUCCESS
    assert [r.key for r in results.pending()] == ["big"]


def test_the_pending_call_is_reported_at_once_while_its_siblings_stream() -> None:
    bank = Bank()
    seen: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        calls = [bank.balance("slow", 5), bank.transfer("bob", 500), bank.balance("fast", 1)]
        async for r in run(calls):
            seen.append((r.status.value, loop.time()))

    _, loop = vrun(main)
    # The pending result arrives at t=0, before the lookups of 1 s and 5 s end.
    assert seen == [("pending", 0), ("success", 1), ("success", 5)]
    assert loop.time() == 5


def test_approve_runs_the_call_and_what_finished_replays_from_the_journal(tmp_path: Path) -> None:
    bank = Bank()
    journal = Journal(tmp_path / "runs.db")

    async def main() -> tuple[Results, Results]:
        calls = [bank.transfer("bob", 500), bank.balance("amy")]
        first = await run(calls, journal=journal, run_id="r1").collect()
        second = await run(calls, journal=journal, run_id="r1", decisions={"transfer": Approve()}).collect()
        return first, second

    first, second = asyncio.run(main())
    journal.close()
    assert first["transfer"].status is Status.PENDING
    assert second["transfer"].value == "sent 500 to bob" and not second["transfer"].replayed
    assert second["balance"].replayed  # finished before: not run again
    assert bank.looked_up == ["amy"] and bank.sent == [("bob", 500)]


def test_approve_with_edited_arguments_runs_the_call_with_them() -> None:
    bank = Bank()

    async def main() -> Results:
        decisions = {"transfer": Approve(arguments={"amount": 50})}
        return await run([bank.transfer("bob", 500)], decisions=decisions).collect()

    results, _ = vrun(main)
    assert bank.sent == [("bob", 50)]  # amount replaced, "to" kept
    assert results["transfer"].value == "sent 50 to bob"


def test_reject_ends_the_call_as_an_error_without_running_it_or_its_fallback() -> None:
    bank = Bank(fallback="fallback")

    async def main() -> Results:
        return await run(
            [bank.transfer("bob", 500), bank.balance("amy")], decisions={"transfer": Reject("over the limit")}
        ).collect()

    results, _ = vrun(main)
    rejected = results["transfer"]
    assert bank.sent == []
    assert rejected.status is Status.ERROR and rejected.attempts == 0
    assert (rejected.error.type, rejected.error.message) == ("Rejected", "over the limit")  # type: ignore[union-attr]
    assert not rejected.fallback_used and rejected.value is None
    assert results["balance"].ok


def test_an_approved_call_runs_under_its_retry_and_timeout() -> None:
    tries: list[float] = []

    @skill(needs_approval=True, retry=Retry(attempts=3, backoff=1, jitter=0), timeout=2)
    async def charge(amount: int) -> int:
        tries.append(asyncio.get_running_loop().time())
        if len(tries) == 1:
            raise ConnectionError("card network down")
        if len(tries) == 2:
            await asyncio.sleep(10)  # past the timeout: retried again
        return amount

    async def main() -> Results:
        return await run([charge(9)], decisions={"charge": Approve()}).collect()

    results, _ = vrun(main)
    r = results["charge"]
    assert (r.status, r.value, r.attempts) == (Status.SUCCESS, 9, 3)
    # first try at 0, backoff 1 s; second at 1 times out at 3, backoff 2 s; third at 5.
    assert tries == [0, 1, 5]


def test_dependents_of_a_pending_call_are_skipped_then_run_after_approval() -> None:
    bank = Bank()
    runs: list[str] = []

    @skill
    async def receipt(text: str) -> str:
        runs.append(text)
        return "receipt: " + text

    pay = bank.transfer("bob", 500)
    calls = [pay, receipt(pay)]

    async def main() -> tuple[Results, Results]:
        first = await run(calls).collect()
        second = await run(calls, decisions={"transfer": Approve()}).collect()
        return first, second

    (first, second), _ = vrun(main)
    assert first["receipt"].status is Status.SKIPPED
    assert first["receipt"].error is not None
    assert first["receipt"].error.message == "dependency 'transfer' (#0) ended pending"
    assert [r.key for r in first.pending()] == ["transfer"]  # only the call to decide
    assert second["receipt"].value == "receipt: sent 500 to bob"
    assert runs == ["sent 500 to bob"]


def test_a_rejected_call_skips_its_dependents() -> None:
    bank = Bank()

    @skill
    async def receipt(text: str) -> str:
        return text

    pay = bank.transfer("bob", 500)

    async def main() -> Results:
        return await run([pay, receipt(pay)], decisions={"transfer": Reject("no")}).collect()

    results, _ = vrun(main)
    assert results["receipt"].status is Status.SKIPPED
    assert results["receipt"].error.message == "dependency 'transfer' (#0) ended error"  # type: ignore[union-attr]


def test_a_predicate_that_raises_fails_its_call_alone() -> None:
    def check(to: str, amount: int) -> bool:
        raise RuntimeError("limits service down")

    bank = Bank(needs_approval=check)

    async def main() -> Results:
        return await run([bank.transfer("bob", 5), bank.balance("amy")]).collect()

    results, _ = vrun(main)
    assert results["transfer"].status is Status.ERROR
    assert results["transfer"].error.type == "RuntimeError"  # type: ignore[union-attr]
    assert bank.sent == [] and results["balance"].ok


def test_a_pending_call_arrives_as_a_finished_event_and_shows_in_the_timeline() -> None:
    bank = Bank()

    async def main() -> list[Any]:
        return [e async for e in run([bank.transfer("bob", 500), bank.balance("amy")]).events()]

    events, _ = vrun(main)
    finished = [e for e in events if e.kind == "finished"]
    assert sorted(e.result.status.value for e in finished) == ["pending", "success"]
    assert not any(e.kind == "started" and e.key == "transfer" for e in events)
    results = Results([e.result for e in finished])
    text = results.timeline(width=80)
    assert re.search(r"transfer\s+pending\s+-\s+0× │\?", text)
    assert "? pending (awaits a decision)" in text


# -- decisions that cannot apply --------------------------------------------------------------


def test_a_decision_for_no_call_of_the_run_is_refused_before_anything_runs() -> None:
    bank = Bank()
    with pytest.raises(ValueError, match=r"^decisions\['trnsfer'\]: no call of this run has that key"):
        run([bank.transfer("bob", 5)], decisions={"trnsfer": Approve()})


def test_a_decision_for_a_call_whose_skill_never_needs_approval_is_refused() -> None:
    bank = Bank()
    with pytest.raises(ValueError, match=r"^decisions\['balance'\]: call balance\('amy'\) does not need approval"):
        run([bank.balance("amy")], decisions={"balance": Approve()})


def test_a_decision_for_a_call_its_predicate_lets_through_ends_the_run() -> None:
    bank = Bank(needs_approval=lambda to, amount: amount > 100)

    async def main() -> None:
        await run([bank.transfer("amy", 5)], decisions={"transfer": Approve()}).collect()

    with pytest.raises(ValueError, match=r"predicate returned false"):
        vrun(main)
    assert bank.sent == []


def test_a_decision_for_a_shared_key_is_refused() -> None:
    bank = Bank()
    with pytest.raises(ValueError, match=r"2 calls have that key; give them distinct keys"):
        run([bank.transfer("a", 1), bank.transfer("b", 2)], decisions={"transfer": Approve()})


def test_an_unknown_key_with_a_lazy_source_ends_the_stream_with_an_error() -> None:
    bank = Bank()

    async def main() -> None:
        calls = (c for c in [bank.transfer("a", 1)])
        await run(calls, decisions={"nope": Approve()}).collect()

    with pytest.raises(ValueError, match=r"^decisions for 'nope': no call of this run has that key"):
        vrun(main)


def test_edited_arguments_must_name_parameters_of_the_skill() -> None:
    bank = Bank()

    async def main() -> None:
        await run([bank.transfer("a", 1)], decisions={"transfer": Approve(arguments={"amt": 2})}).collect()

    with pytest.raises(ValueError, match=r"takes no argument 'amt' \(it takes: to, amount\)"):
        vrun(main)
    assert bank.sent == []


def test_decisions_and_needs_approval_of_the_wrong_type_are_refused() -> None:
    bank = Bank()
    with pytest.raises(TypeError, match=r"must be Approve\(\) or Reject\(reason\), got True"):
        run([bank.transfer("a", 1)], decisions={"transfer": True})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"Reject\(reason\) takes a str"):
        Reject(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"needs_approval must be True, False or a predicate"):
        skill(needs_approval="yes")(lambda: None)  # type: ignore[call-overload]


def test_with_options_can_ask_for_approval_of_one_call() -> None:
    bank = Bank(needs_approval=False)

    async def main() -> Results:
        return await run(
            [bank.transfer("a", 1).named("plain"), bank.transfer("b", 2).named("held").with_options(needs_approval=True)]
        ).collect()

    results, _ = vrun(main)
    assert bank.sent == [("a", 1)]
    assert [r.key for r in results.pending()] == ["held"]


def test_a_memory_journal_resumes_a_run_in_process_without_a_file() -> None:
    bank = Bank()
    journal = Journal(":memory:")

    async def main() -> Results:
        calls = [bank.transfer("bob", 500), bank.balance("amy")]
        await run(calls, journal=journal, run_id="r1").collect()
        return await run(calls, journal=journal, run_id="r1", decisions={"transfer": Reject("no")}).collect()

    results = asyncio.run(main())
    folder = Path(journal._file).parent
    assert folder.exists()
    journal.close()
    assert not folder.exists()  # nothing is left behind
    assert results["balance"].replayed and bank.looked_up == ["amy"]
    assert results["transfer"].error.type == "Rejected"  # type: ignore[union-attr]


def test_the_progress_view_counts_calls_awaiting_approval() -> None:
    import io

    from rich.console import Console

    from pipeline import ProgressView

    bank = Bank()
    view = ProgressView(console=Console(record=True, width=100, file=io.StringIO()))

    async def main() -> None:
        await run([bank.transfer("bob", 500), bank.balance("amy")], progress=view).collect()

    vrun(main)
    assert (view.done, view.failed, view.pending) == (1, 0, 1)
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(view.render())
    assert "awaiting approval 1" in console.export_text()


def test_awaiting_a_call_that_needs_approval_alone_raises_saying_it_is_pending() -> None:
    bank = Bank()

    async def main() -> None:
        await bank.transfer("bob", 500)

    with pytest.raises(SkillError, match=r"^transfer ended pending"):
        vrun(main)
    assert bank.sent == []


def test_a_pending_and_a_rejected_call_each_get_a_call_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from pipeline import Tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bank = Bank()

    async def main() -> None:
        calls = [bank.transfer("a", 1).named("held"), bank.transfer("b", 2).named("no"), bank.balance("c")]
        await run(calls, instruments=[Tracing(provider)], decisions={"no": Reject("not b")}).collect()

    vrun(main)
    calls = {s.attributes["skillstream.key"]: s for s in exporter.get_finished_spans() if s.name == "skillstream.call"}
    assert set(calls) == {"held", "no", "balance"}
    assert calls["held"].attributes["skillstream.status"] == "pending"
    assert calls["held"].status.status_code is StatusCode.UNSET  # waiting is not a failure
    assert calls["no"].attributes["error.type"] == "Rejected"
    assert calls["no"].status.status_code is StatusCode.ERROR
