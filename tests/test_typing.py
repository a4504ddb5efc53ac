"""The public API type-checks as users write it: mypy --strict over pipeline, operators and
the examples, and a file of typical uses whose revealed types are asserted."""

from __future__ import annotations

from pathlib import Path


from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parent.parent

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
    out, err, status = mypy_api.run(["--strict", "pipeline", "operators", *map(str, (ROOT / "examples").glob("*.py"))])
    assert status == 0, out + err


def test_awaiting_a_call_types_as_the_skills_value(tmp_path: Path) -> None:
    source = tmp_path / "uses.py"
    source.write_text(USES)
    out, _, _ = mypy_api.run(["--strict", "--no-incremental", str(source)])
    notes = [line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed type" in line]
    assert [n.replace("builtins.", "") for n in notes] == [
        '"dict[str, float]"',
        '"int"',
        '"list[str]"',
        '"list[int]"',
    ]
    assert 'Argument 1 to "__call__" of "Skill" has incompatible type "int"; expected "str"' in out
