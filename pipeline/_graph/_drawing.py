"""A compiled graph's drawing: its nodes and edges, and Mermaid text as LangGraph draws it."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ._routing import END, START, _Branch

__all__ = ["DrawableGraph", "Edge", "Node"]


class Node(NamedTuple):
    """A node of a :class:`DrawableGraph`: its id, name and function (``None`` for START
    and END)."""

    id: str
    name: str
    data: Any = None
    metadata: dict[str, Any] | None = None


class Edge(NamedTuple):
    """An edge of a :class:`DrawableGraph`: ``conditional`` for a router's, with the
    router's answer as ``data`` where it differs from the target's name."""

    source: str
    target: str
    data: str | None = None
    conditional: bool = False


_STYLES = (
    "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
    "\tclassDef first fill-opacity:0\n"
    "\tclassDef last fill:#bfb6fc\n"
)
_SAFE = frozenset(string.ascii_letters + string.digits + "_-")


def _safe_id(label: str) -> str:
    return "".join(ch if ch in _SAFE else "\\" + format(ord(ch), "x") for ch in label)


class DrawableGraph:
    """What :meth:`CompiledStateGraph.get_graph` returns: ``nodes`` (id to :class:`Node`),
    ``edges`` (a list of :class:`Edge`) and :meth:`draw_mermaid`.

    Examples:
        >>> print(app.get_graph().draw_mermaid())
        >>> [(e.source, e.target) for e in app.get_graph().edges]
        [('__start__', 'stock'), ...]
    """

    def __init__(self, nodes: dict[str, Node], edges: list[Edge]) -> None:
        self.nodes = nodes
        self.edges = edges

    def first_node(self) -> Node | None:
        """The one node no edge goes to, or ``None`` if there is not exactly one."""
        targets = {e.target for e in self.edges}
        found = [n for n in self.nodes.values() if n.id not in targets]
        return found[0] if len(found) == 1 else None

    def last_node(self) -> Node | None:
        """The one node no edge leaves, or ``None`` if there is not exactly one."""
        sources = {e.source for e in self.edges}
        found = [n for n in self.nodes.values() if n.id not in sources]
        return found[0] if len(found) == 1 else None

    def draw_mermaid(self, *, with_styles: bool = True, wrap_label_n_words: int = 9) -> str:
        """The graph as Mermaid flowchart text, as LangGraph draws it: plain edges
        ``a --> b``, a router's edges dashed ``a -.-> b`` (labelled with its answer where
        that is not the target's name), START and END as ``__start__`` and ``__end__``,
        and a subgraph drawn with ``get_graph(xray=True)`` in a ``subgraph`` block.

        Examples:
            >>> text = app.get_graph().draw_mermaid()
            >>> "__start__ --> stock;" in text
            True
        """
        first, last = self.first_node(), self.last_node()
        formats = {
            **({first.id: "{0}([{1}]):::first"} if first else {}),
            **({last.id: "{0}([{1}]):::last"} if last else {}),
        }
        text = (
            "---\nconfig:\n  flowchart:\n    curve: linear\n---\ngraph TD;\n" if with_styles else "graph TD;\n"
        )

        def node_line(key: str, node: Node) -> str:
            name = node.name.split(":")[-1]
            special = "*_`"
            label = f"<p>{name}</p>" if name[:1] in special and name[-1:] in special else name
            return "\t" + formats.get(key, "{0}({1})").format(_safe_id(key), label) + "\n"

        # As LangGraph (langchain_core) draws it: a subgraph's nodes ("sub:node") in a block
        # of their own, each edge in the block of what its ends have in common (a node's
        # edges to itself after the others, in a block of their own when there are several).
        inner: dict[str, dict[str, Node]] = {}
        for key, node in self.nodes.items():
            if ":" in key:
                inner.setdefault(key.rsplit(":", 1)[0], {})[key] = node
            elif with_styles:
                text += node_line(key, node)
        groups: dict[str, list[Edge]] = {}
        for edge in self.edges:
            common = ":".join(a for a, b in zip(edge.source.split(":"), edge.target.split(":")) if a == b)
            groups.setdefault(common, []).append(edge)
        seen: set[str] = set()

        def block(edges: list[Edge], prefix: str) -> str:
            out = ""
            self_loop = len(edges) == 1 and edges[0].source == edges[0].target
            if prefix and not self_loop:
                name = prefix.rsplit(":", 1)[-1]
                if name in seen:
                    raise ValueError(
                        f"Found duplicate subgraph '{name}' -- this likely means that you're "
                        "reusing a subgraph node with the same name. Please adjust your graph "
                        "to have subgraph nodes with unique names."
                    )
                seen.add(name)
                out += f"\tsubgraph {name}\n"
                if with_styles:
                    out += "".join(node_line(k, n) for k, n in inner.get(prefix, {}).items())
            out += "".join(_edge_line(edge, wrap_label_n_words) for edge in edges)
            for nested, nested_edges in groups.items():
                if nested == prefix or not nested.startswith(prefix + ":"):
                    continue
                if ":" not in nested[len(prefix) + 1 :]:  # its own blocks, one level down
                    out += block(nested_edges, nested)
            if prefix and not self_loop:
                out += "\tend\n"
            return out

        text += block(groups.get("", []), "")
        for prefix, edges in groups.items():
            if prefix and ":" not in prefix:
                text += block(edges, prefix)
                seen.add(prefix)
        if with_styles:
            for prefix, nodes in inner.items():  # subgraphs with no edge inside
                if ":" not in prefix and prefix not in seen:
                    text += f"\tsubgraph {prefix}\n" + "".join(node_line(k, n) for k, n in nodes.items()) + "\tend\n"
            text += _STYLES
        return text

    def _trim(self) -> None:
        """Drop START and END where the rest still has a first and a last node (LangGraph
        draws a subgraph so, inside its parent)."""
        first = self.first_node()
        if first and _end_node(self, "first", {first.id}) and sum(e.source == first.id for e in self.edges) == 1:
            self._remove(first.id)
        last = self.last_node()
        if last and _end_node(self, "last", {last.id}) and sum(e.target == last.id for e in self.edges) == 1:
            self._remove(last.id)

    def _remove(self, key: str) -> None:
        del self.nodes[key]
        self.edges = [e for e in self.edges if key not in (e.source, e.target)]

    def _expand(self, name: str, sub: DrawableGraph) -> None:
        """Draw node ``name`` as the subgraph ``sub`` (``get_graph(xray=True)``)."""
        if len(sub.nodes) <= 1 or name not in self.nodes or not sub.first_node() or not sub.last_node():
            return
        sub._trim()
        del self.nodes[name]
        self.nodes.update({f"{name}:{k}": Node(f"{name}:{k}", n.name, n.data, n.metadata) for k, n in sub.nodes.items()})
        self.edges.extend(
            Edge(f"{name}:{e.source}", f"{name}:{e.target}", e.data, e.conditional) for e in sub.edges
        )
        first, last = sub.first_node(), sub.last_node()
        for i, edge in enumerate(self.edges):
            if edge.source == name and last is not None:
                edge = edge._replace(source=f"{name}:{last.id}")
            if edge.target == name and first is not None:
                edge = edge._replace(target=f"{name}:{first.id}")
            self.edges[i] = edge


def _end_node(graph: DrawableGraph, which: str, exclude: set[str]) -> Node | None:
    """The one first (or last) node of ``graph`` without ``exclude``, if exactly one."""
    if which == "first":
        linked = {e.target for e in graph.edges if e.source not in exclude}
    else:
        linked = {e.source for e in graph.edges if e.target not in exclude}
    found = [n for n in graph.nodes.values() if n.id not in exclude and n.id not in linked]
    return found[0] if len(found) == 1 else None


def _edge_line(edge: Edge, wrap_label_n_words: int) -> str:
    if edge.data is None:
        arrow = " -.-> " if edge.conditional else " --> "
    else:
        words = str(edge.data).split()
        data = str(edge.data)
        if len(words) > wrap_label_n_words:  # a long label: a line break every n words
            data = "&nbsp<br>&nbsp".join(
                " ".join(words[i : i + wrap_label_n_words]) for i in range(0, len(words), wrap_label_n_words)
            )
        arrow = f" -. &nbsp;{data}&nbsp; .-> " if edge.conditional else f" -- &nbsp;{data}&nbsp; --> "
    return f"\t{_safe_id(edge.source)}{arrow}{_safe_id(edge.target)};\n"


def draw(
    nodes: Mapping[str, Any],
    edges: Mapping[str, Sequence[str]],
    joins: Sequence[tuple[tuple[str, ...], str]],
    branches: Mapping[str, Sequence[_Branch]],
    command_targets: Callable[[Any], tuple[str, ...] | None],
    subgraphs: Mapping[str, DrawableGraph] | None = None,
) -> DrawableGraph:
    """A builder's graph as LangGraph draws it: the edges sorted, then an edge to END from
    every node that has none leaving it. A router whose targets are not declared may go
    to any node or END: it is drawn so (LangGraph draws no edge for it)."""
    found: set[tuple[str, str, bool, str | None]] = set()
    for source, targets in edges.items():
        for target in targets:
            if target != END:  # LangGraph draws these with the nodes nothing leaves
                found.add((source, target, False, None))
    for sources, target in joins:
        if target != END:
            for source in sources:
                found.add((source, target, False, None))
    everywhere = (*nodes, END)
    for source, routers in branches.items():
        for branch in routers:
            if branch.mapping is not None:
                for answer, target in branch.mapping.items():
                    label = None if str(answer) == target else str(answer)
                    found.add((source, target, True, label))
            else:
                for target in branch.targets if branch.targets is not None else everywhere:
                    found.add((source, target, True, None))
    for name, fn in nodes.items():
        goto = command_targets(fn)
        for target in goto or ():
            if target in nodes or target == END:
                found.add((name, target, True, None))
    ordered = sorted(found, key=lambda e: (e[0], e[1], e[2], e[3] or ""))
    drawn = [Edge(s, t, None if label == t else label, cond) for s, t, cond, label in ordered]
    termini = {t for _, t, _, _ in ordered if t != END} - {s for s, _, _, _ in ordered}
    drawn.extend(Edge(name, END) for name in sorted(termini))
    graph_nodes = {START: Node(START, START)}
    graph_nodes.update({name: Node(name, name, fn) for name, fn in nodes.items()})
    if any(e.target == END for e in drawn):
        graph_nodes[END] = Node(END, END)
    graph = DrawableGraph(graph_nodes, drawn)
    for name, sub in (subgraphs or {}).items():
        graph._expand(name, sub)
    return graph
