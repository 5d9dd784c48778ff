"""Standard exports of the lineage graph: W3C PROV-JSON, PROV-O (Turtle) and DOT.

    doc = export.prov_json(store)                               # the whole store, a dict
    text = export.prov_turtle(store, ["orders.status"], direction="down", depth=3)
    dot = export.dot(store, "orders.status")

The mapping follows `ontology/lineage.ttl` (tests/test_export.py proves they agree):

- Runs are PROV activities; consumers and agents are agents; everything else is an entity,
  a job also a `prov:Plan`, a dataset a `prov:Collection` (its fields are members), and a
  model version also a `prov:SoftwareAgent` (values it generates are attributed to it).
- Each edge kind is the PROV relation the ontology names (`lin:provProperty`), read in its
  `lin:provDirection`: has_field hadMember, version_of specializationOf, derived_from /
  trained_on / uses_feature / uses_field wasDerivedFrom, read used, wrote wasGeneratedBy,
  run_of wasInfluencedBy, parent_of wasInformedBy, generated wasAttributedTo, consumes used.
  Where a relation would give a node a role PROV does not allow it (a job "used" a dataset,
  but a job is a plan, not an activity; a consumer is an agent), the export states the
  general `prov:wasInfluencedBy` instead, so the document stays valid PROV.
- Every relation carries `lin:edgeKind` (the store's edge kind) and the edge's properties
  (`lin:transformation`, ...); every node `lin:key`, `lin:kind`, `prov:label` and its
  properties (scalars as they are, lists and objects as JSON text). In Turtle the plain PROV
  triple is written and, beside it, the qualified form (`prov:qualifiedDerivation [...]`)
  that carries those attributes.

Node identifiers are `https://lineage.dev/node/` + the node key (percent-encoded where a key
has characters an IRI cannot hold); pass `base` for your own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from ._errors import ValidationError
from ._model import EdgeSpec, Node
from ._vocabulary import EdgeKind, NodeKind
from .render import Direction, subgraph, to_dot
from .store.base import Store

LIN = "https://lineage.dev/ontology#"
PROV = "http://www.w3.org/ns/prov#"
NODE_BASE = "https://lineage.dev/node/"

ProvFormat = Literal["json", "turtle"]
Role = Literal["entity", "activity", "agent"]

#: PROV property and reading direction per edge kind, as ontology/lineage.ttl states them
PROV_RELATION: dict[EdgeKind, tuple[str, Literal["src_to_dst", "dst_to_src"]]] = {
    EdgeKind.HAS_FIELD: ("hadMember", "src_to_dst"),
    EdgeKind.VERSION_OF: ("specializationOf", "src_to_dst"),
    EdgeKind.DERIVED_FROM: ("wasDerivedFrom", "dst_to_src"),
    EdgeKind.READ: ("used", "dst_to_src"),
    EdgeKind.WROTE: ("wasGeneratedBy", "dst_to_src"),
    EdgeKind.RUN_OF: ("wasInfluencedBy", "dst_to_src"),
    EdgeKind.PARENT_OF: ("wasInformedBy", "dst_to_src"),
    EdgeKind.TRAINED_ON: ("wasDerivedFrom", "dst_to_src"),
    EdgeKind.USES_FEATURE: ("wasDerivedFrom", "dst_to_src"),
    EdgeKind.USES_FIELD: ("wasDerivedFrom", "dst_to_src"),
    EdgeKind.GENERATED: ("wasAttributedTo", "dst_to_src"),
    EdgeKind.CONSUMES: ("used", "dst_to_src"),
}

#: the ontology's class per node kind (lin:Dataset, ...) and the PROV classes it extends
LIN_CLASS: dict[NodeKind, str] = {k: "".join(p.title() for p in k.value.split("_"))
                                  for k in NodeKind}
PROV_CLASSES: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.DATASET: ("Entity", "Collection"),
    NodeKind.DATASET_VERSION: ("Entity",),
    NodeKind.FIELD: ("Entity",),
    NodeKind.FEATURE: ("Entity",),
    NodeKind.MODEL: ("Entity",),
    NodeKind.MODEL_VERSION: ("Entity", "SoftwareAgent"),
    NodeKind.JOB: ("Entity", "Plan"),
    NodeKind.RUN: ("Activity",),
    NodeKind.CONSUMER: ("Agent",),
    NodeKind.AGENT: ("Agent",),
}
_AGENT_TYPES = {"person": "Person", "software": "SoftwareAgent", "organization": "Organization"}


@dataclass(frozen=True)
class _Relation:
    """A PROV relation: its PROV-JSON roles (subject first), what each end must be, and its
    qualified form in PROV-O (property, class, property pointing at the object)."""

    subject_role: str
    subject_is: Role | None
    object_role: str
    object_is: Role | None
    qualified: tuple[str, str, str] | None


RELATIONS: dict[str, _Relation] = {
    "wasDerivedFrom": _Relation("prov:generatedEntity", "entity", "prov:usedEntity", "entity",
                                ("qualifiedDerivation", "Derivation", "entity")),
    "used": _Relation("prov:activity", "activity", "prov:entity", "entity",
                      ("qualifiedUsage", "Usage", "entity")),
    "wasGeneratedBy": _Relation("prov:entity", "entity", "prov:activity", "activity",
                                ("qualifiedGeneration", "Generation", "activity")),
    "wasAttributedTo": _Relation("prov:entity", "entity", "prov:agent", "agent",
                                 ("qualifiedAttribution", "Attribution", "agent")),
    "specializationOf": _Relation("prov:specificEntity", "entity", "prov:generalEntity",
                                  "entity", None),
    "hadMember": _Relation("prov:collection", "entity", "prov:entity", "entity", None),
    "wasInformedBy": _Relation("prov:informed", "activity", "prov:informant", "activity",
                               ("qualifiedCommunication", "Communication", "activity")),
    "wasInfluencedBy": _Relation("prov:influencee", None, "prov:influencer", None,
                                 ("qualifiedInfluence", "Influence", "influencer")),
}


def roles(kind: NodeKind) -> set[Role]:
    """What a node of this kind is in PROV."""
    found: set[Role] = set()
    for cls in PROV_CLASSES[kind]:
        if cls == "Activity":
            found.add("activity")
        elif cls in ("Agent", "SoftwareAgent", "Person", "Organization"):
            found.add("agent")
        else:
            found.add("entity")
    return found


def statement(edge: EdgeSpec, kinds: dict[str, NodeKind]) -> tuple[str, str, str]:
    """The PROV statement for a stored edge: (subject key, PROV relation, object key)."""
    relation, direction = PROV_RELATION[edge.kind]
    subject, obj = (edge.src, edge.dst) if direction == "src_to_dst" else (edge.dst, edge.src)
    spec = RELATIONS[relation]
    fits = ((spec.subject_is is None or spec.subject_is in roles(kinds[subject]))
            and (spec.object_is is None or spec.object_is in roles(kinds[obj])))
    if not fits:
        # e.g. a job (a plan) "used" a dataset: only an activity can use; say influence
        subject, obj, relation = edge.dst, edge.src, "wasInfluencedBy"
    return subject, relation, obj


# ------------------------------------------------------------------ choosing the graph


def graph(store: Store, names: Sequence[str] = (), *, direction: Direction = "both",
          depth: int | None = None) -> tuple[list[Node], list[EdgeSpec]]:
    """The nodes and edges to export: the whole store when `names` is empty, else each named
    node and what it reaches `direction` ("down", "up" or "both") within `depth`.
    Raises NotFound / AmbiguousName for a name that does not resolve."""
    if direction not in ("down", "up", "both"):
        raise ValidationError(f"direction must be down, up or both, got {direction!r}")
    if not names:
        total = sum(v for k, v in store.stats().items() if k != "edges")
        keys = [r.key for r in store.find("", limit=max(total, 1))]
    else:
        wanted: dict[str, None] = {}
        for name in names:
            for walk in ("down", "up"):
                if direction not in (walk, "both"):
                    continue
                closure = (store.downstream(name, depth) if walk == "down"
                           else store.upstream(name, depth))
                wanted[closure.start.node.key] = None
                wanted.update(dict.fromkeys(r.node.key for r in closure.reached))
        keys = list(wanted)
    nodes = store.nodes(keys)
    edges = sorted(store.edges_among(nodes), key=lambda e: (e.src, e.dst, e.kind.value))
    return [nodes[k] for k in sorted(nodes)], edges


# ------------------------------------------------------------------ PROV-JSON


def prov_json(store: Store, names: Sequence[str] = (), *, direction: Direction = "both",
              depth: int | None = None, base: str = NODE_BASE) -> dict[str, Any]:
    """The graph (see `graph`) as a W3C PROV-JSON document (a dict ready for json.dumps)."""
    return prov_json_of(*graph(store, names, direction=direction, depth=depth), base=base)


def prov_json_of(nodes: Iterable[Node], edges: Iterable[EdgeSpec], *,
                 base: str = NODE_BASE) -> dict[str, Any]:
    """PROV-JSON for given nodes and the edges among them."""
    doc: dict[str, Any] = {"prefix": {"lin": LIN, "node": base}}
    kinds: dict[str, NodeKind] = {}
    for node in nodes:
        kinds[node.key] = node.kind
        attrs = _node_attributes(node)
        for role in sorted(roles(node.kind)):
            doc.setdefault(role, {})[_qname(node.key)] = attrs
    for n, edge in enumerate(edges, start=1):
        if edge.src not in kinds or edge.dst not in kinds:
            continue
        subject, relation, obj = statement(edge, kinds)
        spec = RELATIONS[relation]
        attrs = {spec.subject_role: _qname(subject), spec.object_role: _qname(obj),
                 "lin:edgeKind": edge.kind.value}
        attrs.update({f"lin:{_local(k)}": _value(v) for k, v in sorted(edge.properties.items())
                      if v is not None})
        doc.setdefault(relation, {})[f"_:e{n}"] = attrs
    return doc


def _node_attributes(node: Node) -> dict[str, Any]:
    types = [f"lin:{LIN_CLASS[node.kind]}"]
    types += [f"prov:{c}" for c in PROV_CLASSES[node.kind] if c not in ("Entity", "Activity",
                                                                         "Agent")]
    if node.kind is NodeKind.AGENT and str(node.properties.get("type")) in _AGENT_TYPES:
        types.append(f"prov:{_AGENT_TYPES[str(node.properties['type'])]}")
    attrs: dict[str, Any] = {
        "prov:type": [{"$": t, "type": "prov:QUALIFIED_NAME"} for t in types],
        "prov:label": node.name,
        "lin:key": node.key,
        "lin:kind": node.kind.value,
    }
    if node.namespace:
        attrs["lin:namespace"] = node.namespace
    for key, value in sorted(node.properties.items()):
        if value is not None and f"lin:{_local(key)}" not in attrs:
            attrs[f"lin:{_local(key)}"] = _value(value)
    return attrs


def _qname(key: str) -> str:
    return "node:" + _encode(key)


def _encode(key: str) -> str:
    # keys are mostly IRI-safe already (scheme://host/path, @, .); escape anything else
    return quote(key, safe=":/@")


def _local(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "_"


def _value(value: Any) -> Any:
    """A property value as PROV-JSON and RDF literals take it: scalars as they are, lists
    and objects as canonical JSON text."""
    if isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------ PROV-O (Turtle)


def prov_turtle(store: Store, names: Sequence[str] = (), *, direction: Direction = "both",
                depth: int | None = None, base: str = NODE_BASE) -> str:
    """The graph (see `graph`) as PROV-O in Turtle."""
    return prov_turtle_of(*graph(store, names, direction=direction, depth=depth), base=base)


def prov_turtle_of(nodes: Iterable[Node], edges: Iterable[EdgeSpec], *,
                   base: str = NODE_BASE) -> str:
    """PROV-O Turtle for given nodes and the edges among them."""
    from rdflib import BNode, Graph, Literal, Namespace, URIRef
    from rdflib.namespace import RDF, RDFS

    lin, prov = Namespace(LIN), Namespace(PROV)
    g = Graph()
    g.bind("lin", lin)
    g.bind("prov", prov)
    g.bind("node", Namespace(base))

    def iri(key: str) -> URIRef:
        return URIRef(base + _encode(key))

    def literal(value: Any) -> Literal:
        return Literal(_value(value))

    kinds: dict[str, NodeKind] = {}
    for node in nodes:
        kinds[node.key] = node.kind
        subject = iri(node.key)
        for prov_class in PROV_CLASSES[node.kind]:
            g.add((subject, RDF.type, prov[prov_class]))
        g.add((subject, RDF.type, lin[LIN_CLASS[node.kind]]))
        if node.kind is NodeKind.AGENT and str(node.properties.get("type")) in _AGENT_TYPES:
            g.add((subject, RDF.type, prov[_AGENT_TYPES[str(node.properties["type"])]]))
        g.add((subject, RDFS.label, Literal(node.name)))
        g.add((subject, lin.key, Literal(node.key)))
        g.add((subject, lin.kind, Literal(node.kind.value)))
        if node.namespace:
            g.add((subject, lin.namespace, Literal(node.namespace)))
        for key, value in sorted(node.properties.items()):
            if value is not None and key not in ("key", "kind", "namespace"):
                g.add((subject, lin[_local(key)], literal(value)))
    for edge in edges:
        if edge.src not in kinds or edge.dst not in kinds:
            continue
        subject_key, relation, object_key = statement(edge, kinds)
        subject, obj = iri(subject_key), iri(object_key)
        g.add((subject, prov[relation], obj))
        qualified = RELATIONS[relation].qualified
        if qualified is None:
            continue  # specializationOf and hadMember have no qualified form in PROV-O
        prop, cls, pointer = qualified
        influence = BNode()
        g.add((subject, prov[prop], influence))
        g.add((influence, RDF.type, prov[cls]))
        g.add((influence, prov[pointer], obj))
        g.add((influence, lin.edgeKind, Literal(edge.kind.value)))
        for key, value in sorted(edge.properties.items()):
            if value is not None:
                g.add((influence, lin[_local(key)], literal(value)))
    return g.serialize(format="turtle")


# ------------------------------------------------------------------ one entry point


def prov(store: Store, names: Sequence[str] = (), *, fmt: ProvFormat = "json",
         direction: Direction = "both", depth: int | None = None,
         base: str = NODE_BASE) -> str:
    """The graph as PROV text: PROV-JSON (`fmt="json"`) or PROV-O Turtle (`"turtle"`)."""
    if fmt == "json":
        doc = prov_json(store, names, direction=direction, depth=depth, base=base)
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if fmt == "turtle":
        return prov_turtle(store, names, direction=direction, depth=depth, base=base)
    raise ValidationError(f"PROV formats are json and turtle, not {fmt!r}")


def dot(store: Store, name: str, *, direction: Direction = "both",
        depth: int | None = None) -> str:
    """The lineage around `name` as Graphviz DOT source (see `lineage.render`)."""
    return str(to_dot(*subgraph(store, name, direction, depth)).source)
