"""The public API type-checks as users write it: mypy --strict over pipeline, operators and
the examples, and a file of typical uses whose revealed types are asserted."""

from __future__ import annotations

from pathlib import Path

from tests.support.typecheck import mypy

ROOT = Path(__file__).resolve().parents[2]

USES = '''
from collections.abc import AsyncIterator
from pipeline import skill

@skill
async def fetch(symbol: str) -> dict[str, float]: ...

@skill(timeout=1)
async def count(n: int) -> int: ...

@skill
def parse(text: str) -> list[str]: ...

@skill
async def items(n: int) -> AsyncIterator[int]:
    yield n

async def main() -> None:
    reveal_type(await fetch("AAPL"))
    reveal_type(await count(1))
    reveal_type(await parse("x"))
    reveal_type(await items(2))
    fetch(1)
'''


def test_library_and_examples_are_strictly_typed() -> None:
    out, err, status = mypy(["--strict", "pipeline", "operators", *map(str, (ROOT / "examples").glob("*.py"))])
    assert status == 0, out + err


def test_awaiting_a_call_types_as_the_skills_value(tmp_path: Path) -> None:
    source = tmp_path / "uses.py"
    source.write_text(USES)
    out, _, _ = mypy(["--strict", "--no-incremental", str(source)])
    notes = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type" in line]
    assert [n.replace("builtins.", "") for n in notes] == [
        '"dict[str, float]"',
        '"int"',
        '"list[str]"',
        '"list[int]"',
    ]
    # With the project's mypy plugin a parameter takes a value or a call of its type.
    assert 'Argument 1 to "__call__" of "Skill" has incompatible type "int"; expected "str | SkillCall[str]"' in out


DAG_USES = '''
from pipeline import gather, skill

@skill
async def fetch_stock(symbol: str) -> dict[str, float]:
    return {}

@skill
async def fetch_news(query: str) -> list[str]:
    return []

@skill
def summarize(stock: dict[str, float], news: list[str]) -> str:
    return ""

@skill
async def count(n: int) -> int:
    return n

async def main() -> None:
    reveal_type(await summarize(fetch_stock("AAPL"), fetch_news("Apple")))
    reveal_type(await gather(fetch_stock("AAPL"), count(1)))
    await summarize(stock=fetch_stock("AAPL"), news=["x"])
    summarize(count(1), ["x"])
'''


def test_a_skill_takes_a_value_or_a_call_of_its_type_and_gather_keeps_types(tmp_path: Path) -> None:
    # The README's DAG snippet failed mypy (arg-type) before the plugin.
    source = tmp_path / "dag.py"
    source.write_text(DAG_USES)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nplugins = pipeline.mypy_plugin\n")
    out, _, _ = mypy(["--strict", "--no-incremental", "--config-file", str(config), str(source)])
    notes = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type" in line]
    assert [n.replace("builtins.", "") for n in notes] == ['"str"', '"tuple[dict[str, float], int]"']
    errors = [line for line in out.splitlines() if "error:" in line]
    # Only the call of the wrong type is refused.
    assert len(errors) == 1, out
    assert 'incompatible type "SkillCall[int]"; expected "dict[str, float] | SkillCall[dict[str, float]]"' in errors[0]
