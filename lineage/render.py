"""Pictures of the lineage graph with graphviz: DOT always, SVG/PNG/PDF through `dot`."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import graphviz

from ._errors import LineageError, ValidationError
from ._model import EdgeSpec, NodeRef
from ._vocabulary import EdgeKind, NodeKind
from .store.base import Store

#: the largest picture we draw; beyond it a picture helps nobody, so ask for a smaller depth
MAX_NODES = 1500

# Shapes and colours per kind, so a reader tells datasets from models at a glance.
STYLE: dict[NodeKind, dict[str, str]] = {
    NodeKind.DATASET: {"shape": "cylinder", "fillcolor": "#dbe9f6"},
    NodeKind.DATASET_VERSION: {"shape": "cylinder", "fillcolor": "#eef4fb",
                               "style": "filled,dashed"},
    NodeKind.FIELD: {"shape": "box", "fillcolor": "#f5f5f5", "style": "filled,rounded"},
    NodeKind.FEATURE: {"shape": "hexagon", "fillcolor": "#e3f4e1"},
    NodeKind.MODEL: {"shape": "component", "fillcolor": "#fbe3c8"},
    NodeKind.MODEL_VERSION: {"shape": "box3d", "fillcolor": "#fdf0dd"},
    NodeKind.JOB: {"shape": "cds", "fillcolor": "#ece3f5"},
    NodeKind.RUN: {"shape": "ellipse", "fillcolor": "#f6effa"},
    NodeKind.CONSUMER: {"shape": "house", "fillcolor": "#f9d9d9"},
    NodeKind.AGENT: {"shape": "octagon", "fillcolor": "#fff7c2"},
}
EDGE_STYLE: dict[EdgeKind, dict[str, str]] = {
    EdgeKind.HAS_FIELD: {"style": "dotted", "arrowhead": "none", "color": "#999999"},
    EdgeKind.VERSION_OF: {"style": "dashed", "color": "#999999"},
    EdgeKind.CONSUMES: {"color": "#c0392b"},
    EdgeKind.GENERATED: {"color": "#d35400", "style": "bold"},
}

Format = Literal["dot", "svg", "png", "pdf"]
Direction = Literal["down", "up", "both"]


def subgraph(store: Store, name: str, direction: Direction = "down",
             depth: int | None = None) -> tuple[NodeRef, list[NodeRef], list[EdgeSpec]]:
    """The node, the nodes reached in `direction` within `depth`, and the edges among them."""
    nodes: dict[str, NodeRef] = {}
    start: NodeRef | None = None
    for walk in ("down", "up"):
        if direction not in (walk, "both"):
            continue
        closure = store.downstream(name, depth) if walk == "down" else store.upstream(name, depth)
        start = closure.start.node
        nodes.update({r.node.key: r.node for r in closure.reached})
    assert start is not None
    nodes[start.key] = start
    if len(nodes) > MAX_NODES:
        raise ValidationError(f"the picture would have {len(nodes)} nodes (at most {MAX_NODES}); "
                              "use a smaller --depth or one direction")
    return start, sorted(nodes.values(), key=lambda n: n.key), store.edges_among(nodes)


def literal(text: str) -> str:
    """`text` as a DOT attribute value that Graphviz draws exactly as written: backslashes
    doubled (so `\\N`, `\\G`, `\\l` and a final `\\` are not escapes, and cannot
    swallow the closing quote), never an HTML label, line breaks as centred `\\n`.
    `graphviz.quote` then escapes the double quotes."""
    escaped = graphviz.escape(text)
    lines = escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return graphviz.nohtml("\\n".join(lines))


def to_dot(
    start: NodeRef, nodes: Iterable[NodeRef], edges: Iterable[EdgeSpec]
) -> graphviz.Digraph:
    """A graphviz Digraph; the queried node is drawn with a thick red border. Every name,
    key and property drawn is `literal`: a name is never read as DOT or as an escape."""
    dot = graphviz.Digraph("lineage", graph_attr={"rankdir": "LR", "fontname": "Helvetica",
                                                  "label": literal(f"lineage of {start.key}"),
                                                  "labelloc": "t"},
                           node_attr={"style": "filled", "fontname": "Helvetica",
                                      "fontsize": "10"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    # DOT reads "a:b" as node a, port b, so nodes get plain ids and the key as tooltip.
    ids: dict[str, str] = {}
    for node in nodes:
        ids[node.key] = f"n{len(ids)}"
        attrs = dict(STYLE[node.kind])
        if node.key == start.key:
            attrs.update(penwidth="3", color="#c0392b")
        label = literal(f"{node.name}\n[{node.kind.value}]")
        dot.node(ids[node.key], label=label, tooltip=literal(node.key), **attrs)
    for edge in edges:
        attrs = dict(EDGE_STYLE.get(edge.kind, {}))
        label = edge.kind.value
        if transformation := edge.properties.get("transformation"):
            label += f"\n({transformation})"
        dot.edge(ids[edge.src], ids[edge.dst], label=literal(label), **attrs)
    return dot


def render(store: Store, name: str, output: str | Path, *, direction: Direction = "down",
           depth: int | None = None, fmt: Format | None = None) -> Path:
    """Draw the lineage around `name` to `output`; the format follows the file's suffix
    (.dot, .svg, .png, .pdf) unless `fmt` is given. Returns the written path."""
    out = Path(output)
    chosen = fmt or (out.suffix.lstrip(".").lower() or "svg")
    if chosen == "gv":
        chosen = "dot"
    if chosen not in ("dot", "svg", "png", "pdf"):
        raise ValidationError(f"cannot draw '{out.name}': formats are dot, svg, png, pdf")
    if not out.parent.is_dir():
        raise ValidationError(f"cannot write {out}: folder {out.parent} does not exist")
    dot = to_dot(*subgraph(store, name, direction, depth))
    if chosen == "dot":
        out.write_text(dot.source, encoding="utf-8")
        return out
    if shutil.which("dot") is None:
        raise LineageError("drawing SVG/PNG/PDF needs Graphviz's `dot` program: install it "
                           "(apt-get install graphviz / brew install graphviz) or write .dot")
    try:
        out.write_bytes(dot.pipe(format=chosen))
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        raise LineageError(f"graphviz failed to draw {out}: {exc}") from exc
    return out
