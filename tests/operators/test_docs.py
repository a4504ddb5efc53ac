"""The ``Examples:`` in the public docstrings run and print what they claim."""

from __future__ import annotations

import doctest

import operators


def test_docstring_examples() -> None:
    # The timeout and retry examples wait on real thread timers (10-30 ms): a docstring
    # example has no virtual clock to show.
    result = doctest.testmod(operators, optionflags=doctest.ELLIPSIS)

    assert result.attempted >= len(operators.__all__)
    assert result.failed == 0
