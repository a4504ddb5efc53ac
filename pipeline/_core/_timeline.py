"""Pictures of a finished run: a text timeline, a matplotlib plot, a table, HTML.

Everything here reads what the results already hold (``started_at``, ``attempt_spans``,
``finished_at``, ``status``) plus the run's dependency edges that ``collect()`` keeps, so
a run pays nothing for it. The gaps tell the waits apart: before the first attempt, a
permit wait (e.g. a rate-limit token); between two attempts, a backoff (or settling);
after the last, an async fallback.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._status import Status

if TYPE_CHECKING:
    from ._result import SkillResult
    from matplotlib.figure import Figure

__all__ = ["critical_path", "plot", "table", "table_html", "timeline"]

Edges = Mapping[int, tuple[int, ...]]

# Text marks: the last attempt shows the call's status; earlier attempts all failed.
_MARK = {Status.SUCCESS: "█", Status.ERROR: "✗", Status.TIMEOUT: "!", Status.SKIPPED: "-", Status.PENDING: "?"}
# Calls that never ran: one mark where they ended (a pending call waits for a person).
_UNRUN = (Status.SKIPPED, Status.PENDING)
_FAILED_ATTEMPT = "▒"
_WAIT = "·"

# Plot colours, by status; earlier (failed, retried) attempts are a lighter red.
_COLOUR = {
    Status.SUCCESS: "#2e9e4f",
    Status.ERROR: "#d62728",
    Status.TIMEOUT: "#ff8c00",
    Status.SKIPPED: "#9e9e9e",
    Status.PENDING: "#1f77b4",
}
_RETRIED = "#f4a6a6"


def _width(width: int | None) -> int:
    return width if width is not None else shutil.get_terminal_size((100, 24)).columns


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``: readable tick marks."""
    import math

    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)


def critical_path(results: Sequence[SkillResult], edges: Edges) -> list[int]:
    """The chain of calls that set the run's length: from the call that finished last,
    back through the dependency that finished last, to a call with none. Indices, first
    call first."""
    ran = {r.index: r for r in results if r.finished_at is not None and r.status not in _UNRUN}
    if not ran:
        return []
    current = max(ran.values(), key=lambda r: (r.finished_at or 0.0, -r.index))
    path = [current.index]
    while True:
        deps = [ran[i] for i in edges.get(current.index, ()) if i in ran]
        if not deps:
            break
        current = max(deps, key=lambda r: r.finished_at or 0.0)
        path.append(current.index)
    path.reverse()
    return path


def _gaps(r: SkillResult, min_gap: float) -> list[tuple[float, float, str]]:
    """The waits of one call longer than ``min_gap``: (start, end, what). Shorter ones are
    the few microseconds between the engine's own steps, not waits."""
    spans = r.attempt_spans
    if not spans or r.started_at is None:
        return []
    out: list[tuple[float, float, str]] = []
    if spans[0][0] - r.started_at > min_gap:
        out.append((r.started_at, spans[0][0], "permit"))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start - end > min_gap:
            out.append((end, start, "backoff"))
    if r.fallback_used and r.finished_at is not None and r.finished_at - spans[-1][1] > min_gap:
        out.append((spans[-1][1], r.finished_at, "fallback"))
    return out


def timeline(results: Sequence[SkillResult], edges: Edges, width: int | None = None) -> str:
    """One row per call: key, status, duration, attempts, then a bar over the run's time."""
    width = _width(width)
    if not results:
        return "(no calls)"
    # Without edges every call stands alone: no chain to mark.
    on_path = set(critical_path(results, edges)) if edges else set()
    keys = {r.index: r.key for r in results}
    key_w = min(max(max(len(r.key) for r in results), 4) + 2, 28)
    head_w = key_w + 21  # key, status, duration, attempts, then the bar's left edge
    bar_w = max(width - head_w - 1, 10)
    end = max((r.finished_at or 0.0) for r in results) or 1e-9

    def col(t: float) -> int:  # the cell a moment falls in
        return min(int(t / end * bar_w), bar_w - 1)

    def upto(t: float) -> int:  # the cells a span ending at t covers, end excluded
        return min(round(t / end * bar_w), bar_w)

    lines: list[str] = []
    scale = [" "] * bar_w
    tick = _nice_step(end / max(min(bar_w // 12, 6), 1))
    t = 0.0
    while t <= end + 1e-9:
        label = f"{t:g}s"
        at = col(t)
        if at + len(label) <= bar_w and all(c == " " for c in scale[max(at - 1, 0) : at + len(label)]):
            scale[at : at + len(label)] = label
        t += tick
    head = " key".ljust(key_w) + "status".ljust(8) + "time".rjust(7) + " att"
    lines.append(head.ljust(head_w) + "".join(scale))
    for r in results:
        cells = [" "] * bar_w
        for start, stop, _ in _gaps(r, end / bar_w / 2):
            for c in range(col(start), max(upto(stop), col(start) + 1)):
                cells[c] = _WAIT
        spans = r.attempt_spans
        for n, (start, stop) in enumerate(spans):
            mark = _MARK[r.status] if n == len(spans) - 1 else _FAILED_ATTEMPT
            for c in range(col(start), max(upto(stop), col(start) + 1)):
                cells[c] = mark
        if not spans:  # never ran (skipped, pending, rejected): one mark where it ended
            cells[col(r.finished_at or 0.0)] = _MARK[r.status]
        star = "*" if r.index in on_path else " "
        key = (star + r.key)[: key_w - 1].ljust(key_w)
        dur = f"{r.duration:.2f}s" if r.duration is not None else "-"
        row = f"{key}{r.status.value:<8}{dur:>7} {r.attempts:>2}× │{''.join(cells)}│"
        after = edges.get(r.index)
        if after:
            row += " ← " + ", ".join(keys.get(i, f"#{i}") for i in after)
        lines.append(row)
    legend = (
        f"{_MARK[Status.SUCCESS]} success  {_MARK[Status.ERROR]} error  {_MARK[Status.TIMEOUT]} timeout  "
        f"{_FAILED_ATTEMPT} failed attempt (retried)  {_WAIT} wait (permit, backoff, fallback)  "
        f"{_MARK[Status.SKIPPED]} skipped"
    )
    if any(r.status is Status.PENDING for r in results):
        legend += f"  {_MARK[Status.PENDING]} pending (awaits a decision)"
    if edges:
        legend += "  ← depends on  * critical path"
    while len(legend) > width and "  " in legend:  # wrap at a mark, not inside one
        cut = legend.rfind("  ", 0, width)
        if cut <= 0:
            break
        lines.append(legend[:cut])
        legend = legend[cut + 2 :]
    lines.append(legend)
    return "\n".join(lines)


def plot(
    results: Sequence[SkillResult],
    edges: Edges,
    path: str | os.PathLike[str] | None,
    *,
    title: str | None = None,
) -> Figure:
    """Draw the run (one bar per attempt); save it to ``path`` (``.png``, ``.svg``, ...)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Results.plot() needs matplotlib: pip install 'skillstream[plot]'"
        ) from None
    n = len(results)
    fig = Figure(figsize=(10, 0.5 * n + 1.6), layout="constrained")
    ax = fig.add_subplot()
    on_path = critical_path(results, edges) if edges else []
    path_set = set(on_path)
    path_edges = set(zip(on_path, on_path[1:]))
    row = {r.index: n - 1 - i for i, r in enumerate(results)}  # first call on top
    run_end = max((r.finished_at or 0.0) for r in results) if results else 0.0
    by_index = {r.index: r for r in results}
    for r in results:
        y = row[r.index]
        bold = r.index in path_set
        for start, stop, what in _gaps(r, run_end * 0.002):
            ax.barh(
                y, stop - start, left=start, height=0.5, fill=False, hatch="///",
                edgecolor="#555555", linewidth=0.6, gid=f"wait:{what}",
            )
        spans = r.attempt_spans
        for k, (start, stop) in enumerate(spans):
            last = k == len(spans) - 1
            ax.barh(
                y, max(stop - start, 1e-9), left=start, height=0.6,
                color=_COLOUR[r.status] if last else _RETRIED,
                edgecolor="black" if bold else "white", linewidth=2.0 if bold else 0.5,
                gid=f"attempt:{r.index}:{k + 1}",
            )
        if r.status in _UNRUN:
            ax.plot([r.finished_at or 0.0], [y], marker="x" if r.status is Status.SKIPPED else "D",
                    color=_COLOUR[r.status], markersize=9, gid=f"{r.status.value}:{r.index}")
    for child, deps in edges.items():
        c = by_index.get(child)
        if c is None:
            continue
        for d_index in deps:
            d = by_index.get(d_index)
            if d is None or d.finished_at is None:
                continue
            x_to = c.started_at if c.started_at is not None else (c.finished_at or d.finished_at)
            critical = (d_index, child) in path_edges
            ax.annotate(
                "", xy=(x_to, row[child]), xytext=(d.finished_at, row[d_index]),
                arrowprops={
                    "arrowstyle": "-|>", "color": "#c2185b" if critical else "#7f7f7f",
                    "linewidth": 1.6 if critical else 0.8, "shrinkA": 0, "shrinkB": 2,
                },
                gid=f"edge:{d_index}->{child}",
            )
    ax.set_yticks([row[r.index] for r in results])
    ax.set_yticklabels([r.key for r in results])
    for label, r in zip(ax.get_yticklabels(), results):
        if r.index in path_set:
            label.set_fontweight("bold")
    ax.set_xlabel("seconds since the run began")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.7, n - 0.3)
    ax.grid(axis="x", alpha=0.3)
    handles: list[Any] = [
        Patch(color=_COLOUR[Status.SUCCESS], label="success"),
        Patch(color=_COLOUR[Status.ERROR], label="error"),
        Patch(color=_COLOUR[Status.TIMEOUT], label="timeout"),
        Patch(color=_RETRIED, label="failed attempt (retried)"),
        Patch(fill=False, hatch="///", edgecolor="#555555", label="wait (permit / backoff)"),
    ]
    if any(r.status is Status.SKIPPED for r in results):
        handles.append(Line2D([], [], marker="x", color=_COLOUR[Status.SKIPPED], linestyle="", label="skipped"))
    if any(r.status is Status.PENDING for r in results):
        handles.append(Line2D([], [], marker="D", color=_COLOUR[Status.PENDING], linestyle="", label="pending"))
    if edges:
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2, label="critical path"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.3 / max(n, 1)),
              ncol=min(len(handles), 4), fontsize="small", frameon=False)
    ax.set_title(title or f"{n} calls, {run_end:.2f} s")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _value_or_error(r: SkillResult) -> str:
    if r.error is not None and not r.fallback_used:
        return f"{r.error.type}: {r.error.message}"
    text = repr(r.value)
    return f"{text} (fallback)" if r.fallback_used else text


def _rows(results: Sequence[SkillResult]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            r.key,
            r.status.value,
            f"{r.duration:.3f}s" if r.duration is not None else "-",
            str(r.attempts),
            _value_or_error(r).replace("\n", " "),
        )
        for r in results
    ]


_HEAD = ("key", "status", "duration", "attempts", "value or error")


def table(results: Sequence[SkillResult], width: int | None = None) -> str:
    """Results as an aligned text table, each line cut to ``width`` (the terminal's)."""
    width = _width(width)
    rows = [_HEAD, *_rows(results)]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for row in rows:
        line = "  ".join(cell.ljust(w) if c != 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths)))
        line += "  " + row[4]
        lines.append(line if len(line) <= width else line[: max(width - 1, 0)] + "…")
    return "\n".join(lines)


def table_html(results: Sequence[SkillResult]) -> str:
    """Results as an HTML table (a notebook's ``_repr_html_``)."""
    colours: dict[str, str] = {s.value: c for s, c in _COLOUR.items()}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _HEAD)
    body = []
    for key, status, dur, attempts, value in _rows(results):
        cut = value if len(value) <= 200 else value[:199] + "…"
        body.append(
            f"<tr><td>{html.escape(key)}</td>"
            f'<td style="color:{colours[status]}">{status}</td>'
            f"<td>{dur}</td><td>{attempts}</td><td>{html.escape(cut)}</td></tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def dependency_edges(nodes: Any) -> dict[int, tuple[int, ...]]:
    """``index -> dependency indices`` of a run's nodes that have dependencies."""
    return {n.index: tuple(d.index for d in n.deps) for n in nodes if n.deps}
