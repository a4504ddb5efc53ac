"""The ``Examples:`` in the public docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import inspect

import operators


def test_every_public_function_has_an_example() -> None:
    missing = [
        name
        for name in operators.__all__
        if ">>>" not in (inspect.getdoc(getattr(operators, name)) or "")
    ]

    assert missing == []


def test_docstring_examples() -> None:
    # The timeout and retry examples wait on real thread timers (10-30 ms): a docstring
    # example has no virtual clock to show.
    result = doctest.testmod(operators, optionflags=doctest.ELLIPSIS)

    assert result.attempted > 0
    assert result.failed == 0
