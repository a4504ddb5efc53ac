"""What every benchmark hands back to ``python -m benchmarks``, and the ``--size`` option
they share.

Each benchmark module has a ``bench(size) -> Figures`` beside its ``main(argv)``: the same
measurement, returned instead of only printed, so one entry point can run them all, write
their figures to ``benchmarks/RESULTS.md`` and the smoke test can check them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

SIZE_NAMES = ("small", "full")


@dataclass
class Figures:
    """One benchmark's figures.

    ``rows``: implementation (skillstream, a peer, a variant) -> figure name -> value. Every
    value there is a measured quantity that is positive and finite (a time, a rate, a ratio
    of times). ``derived``: figures that may be zero or negative (a difference, a count of
    rejections), finite. ``text``: what the benchmark prints, a markdown table when
    ``markdown`` is true, else fixed-width text. ``params``: the sizes it ran at (and, for
    the core harness, every figure of its JSON).
    """

    title: str
    text: str
    rows: dict[str, dict[str, float]]
    derived: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    markdown: bool = True
    #: the benchmark's own section of RESULTS.md, when it writes more than ``text``
    section: str | None = None

    def problems(self) -> list[str]:
        """What is wrong with these figures (empty: well formed)."""
        out = []
        if not self.rows:
            out.append("no rows")
        for row, values in self.rows.items():
            if not values:
                out.append(f"{row}: no figures")
            for name, v in values.items():
                if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                    out.append(f"{row} / {name}: {v!r} is not a positive finite number")
        for name, v in self.derived.items():
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                out.append(f"{name}: {v!r} is not a finite number")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "rows": self.rows, "derived": self.derived,
                "params": self.params, "text": self.text}


T = TypeVar("T")


def rotated(items: Sequence[T], round_: int) -> list[T]:
    """``items`` in the order round ``round_`` runs them: each first in turn, so that when
    modes are interleaved round by round none always runs first (warmest, or coldest)."""
    k = round_ % len(items) if items else 0
    return [*items[k:], *items[:k]]


def size_option(ap: argparse.ArgumentParser, sizes: Mapping[str, Mapping[str, Any]],
                argv: Sequence[str] | None) -> argparse.Namespace:
    """Add ``--size small|full`` to ``ap`` and parse ``argv``: the size sets the defaults of
    the other options (``sizes[size]``: option dest -> value), explicit options win."""
    ap.add_argument("--size", choices=SIZE_NAMES, default="full",
                    help="small: a smoke run in seconds; full: the figures (default)")
    known, _ = ap.parse_known_args(argv)
    ap.set_defaults(**sizes[known.size])
    return ap.parse_args(argv)


def size_argv(size: str) -> list[str]:
    if size not in SIZE_NAMES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZE_NAMES)}")
    return ["--size", size]


def exit_if_missing(key: str) -> None:
    """When benchmark ``key`` cannot run here (a package or program missing), say so in one
    line and exit: ``python -m benchmarks.<module>`` run alone, as the entry point does."""
    import sys

    from benchmarks.suite import missing, registry

    why = missing(registry()[key])
    if why:
        print(f"{key}: skipped: {why}", file=sys.stderr)
        raise SystemExit(0)
