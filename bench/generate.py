"""Synthetic lineage graphs shaped like a real warehouse, deterministic from a seed.

    from bench.generate import generate
    g = generate(100_000, seed=0)
    store.bulk_load(g.nodes, g.edges)
    g.typical      # a few column keys whose downstream closure has ~100-300 nodes
    g.hub          # the column with the largest downstream closure (raw events.user_id)

The graph follows data through the layers of a warehouse, every edge in data-flow direction
(``src`` upstream, ``dst`` downstream), with the real key helpers of `lineage._keys`:

    source tables (OLTP databases, one Kafka event table)
      -> staging tables (one per source; identity columns, a few computed ones)
        -> marts (join 1-3 staging tables, and 90% of them the core events table on user_id)
          -> reporting marts (join 1-3 marts)
            -> feature tables (feature store; aggregate/window columns of marts)
              -> features -> model versions (-> their model) -> consumers (services)
    marts, reporting marts and their fields -> consumers (dashboards, exports)

Edge kinds: ``has_field`` (dataset -> field), ``derived_from`` (field -> field and
field -> feature, with ``{"transformation": ...}``), ``uses_feature`` (feature -> model
version), ``uses_field`` (field -> model version), ``version_of`` (model version -> model),
``consumes`` (model version / dataset / field -> consumer).

Reach: a mart's key column feeds some of its other columns (an indirect ``join``
dependency, as OpenLineage records it), and nearly every mart joins the core events table on
``user_id``, so ``events.user_id`` reaches a constant share of the graph (~28%: 281,105
nodes at 10^6) and ``events.event_ts`` about half as many. Every other table is picked by a
bounded number of marts whatever the size, so ordinary columns keep the same reach at every
size: source and staging columns reach a median of ~100 nodes (p25 ~45, p90 ~300-450), about
87% of them between 10 and 1,000; mart columns reach fewer (many are leaves). About 2.54
edges per node.

Internally nodes and edges are integer arrays and string lists; `NodeSpec` / `EdgeSpec`
objects are built lazily, one at a time, by the `nodes` / `edges` iterators.
"""

from __future__ import annotations

import json
import random
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from lineage import EdgeKind, EdgeSpec, NodeKind, NodeSpec, Transformation
from lineage._keys import (
    consumer_key,
    dataset_key,
    feature_key,
    field_key,
    model_key,
    model_version_key,
)

# ------------------------------------------------------------------ vocabulary codes

#: node and edge kinds as small integer codes (bytearray storage); index = code
NODE_KINDS: tuple[NodeKind, ...] = tuple(NodeKind)
EDGE_KINDS: tuple[EdgeKind, ...] = tuple(EdgeKind)
TRANSFORMATIONS: tuple[Transformation, ...] = tuple(Transformation)
_NK = {k: i for i, k in enumerate(NODE_KINDS)}
_EK = {k: i for i, k in enumerate(EDGE_KINDS)}
_TR = {t: i + 1 for i, t in enumerate(TRANSFORMATIONS)}  # 0 = no properties
_NO_TRANSFORMATION = 0

HAS_FIELD, DERIVED_FROM, USES_FEATURE, USES_FIELD, VERSION_OF, CONSUMES = (
    _EK[EdgeKind.HAS_FIELD], _EK[EdgeKind.DERIVED_FROM], _EK[EdgeKind.USES_FEATURE],
    _EK[EdgeKind.USES_FIELD], _EK[EdgeKind.VERSION_OF], _EK[EdgeKind.CONSUMES],
)
T = Transformation

# ------------------------------------------------------------------ shape parameters

#: nodes per source table, all layers included; calibrated so that `n_nodes` is reached
#: with only a small pad of extra consumers
NODES_PER_SOURCE_TABLE = 490.0
#: marts, reporting marts and feature tables per source table
MARTS_PER_SOURCE, REPORTS_PER_SOURCE, FEATURE_TABLES_PER_SOURCE = 12.0, 4.0, 12.0
#: columns per mart / reporting mart, and how many upstream columns each one reads
MART_COLUMNS, REPORT_COLUMNS = (5, 16), (6, 20)
COLUMN_INPUTS = (1, 1, 1, 2)
#: share of marts that join the core events table (on user_id): what makes the hub a hub
P_JOIN_EVENTS = 0.9
#: share of marts (joining events) that carry an event_date column (event_ts's reach)
P_EVENT_DATE = 0.6
#: share of a mart's columns that depend on its join key (OpenLineage "indirect" JOIN)
P_KEY_DEPENDENCY = 0.15
#: features in a model's pool and versions per model
MODEL_POOL, VERSIONS = (20, 80), (1, 5)
#: features per model (sets how many model versions use each feature)
FEATURES_PER_MODEL = 50
#: share of source tables that are "popular" (picked 4x as often by marts)
P_POPULAR, POPULAR_WEIGHT = 0.1, 4.0

SOURCE_DBS = ("orders", "accounts", "payments", "catalog", "support", "marketing",
              "logistics", "identity")
WAREHOUSE = "snowflake://acme.eu-west-1"
FEATURE_STORE = "feast://prod"
EVENTS_NS = "kafka://events.prod:9092"

NOUNS = ("orders", "accounts", "payments", "refunds", "products", "tickets", "campaigns",
         "shipments", "sessions", "invoices", "subscriptions", "merchants", "devices",
         "addresses", "coupons", "reviews", "carts", "transfers", "balances", "logins")
COLUMNS = ("amount", "currency", "status", "created_at", "updated_at", "country", "channel",
           "device_type", "price", "quantity", "category", "merchant_id", "account_id",
           "session_id", "email", "phone", "plan", "tier", "score", "discount", "tax",
           "region", "city", "zip", "reason", "source", "medium", "is_active", "balance",
           "fee", "method", "provider", "segment", "language", "age_days", "flags")
AGGREGATES = ("sum", "avg", "max", "min", "count", "p90", "last", "first", "std", "ratio")
WINDOWS = ("1d", "7d", "30d", "90d", "365d")
EVENT_COLUMNS = ("user_id", "event_ts", "event_type", "session_id", "device_type",
                 "country", "page", "amount", "referrer", "app_version")

#: how computed columns are computed, weighted like real column lineage
_MART_TRANSFORMS = ((T.IDENTITY, 4), (T.TRANSFORMATION, 4), (T.AGGREGATION, 4),
                    (T.CONDITIONAL, 1), (T.WINDOW, 1), (T.FILTER, 1), (T.MASKING, 1))


# ------------------------------------------------------------------ fast spec construction

_new = object.__new__
_set = object.__setattr__
_NODE_FIELDS = frozenset(NodeSpec.model_fields)
_EDGE_FIELDS = frozenset(EdgeSpec.model_fields)


def _node_spec(key: str, kind: NodeKind, name: str, namespace: str | None) -> NodeSpec:
    """A NodeSpec from trusted values, as `model_construct` builds it but ~3x cheaper.

    SQLModel's `model_construct` is no cheaper than validation (~7 us per object); this
    sets the same instance state directly. `_check_fast_specs` proves the result equal.
    """
    spec = _new(NodeSpec)
    _set(spec, "__dict__", {"key": key, "kind": kind, "name": name, "namespace": namespace,
                            "properties": {}})
    _set(spec, "__pydantic_fields_set__", set(_NODE_FIELDS))
    _set(spec, "__pydantic_extra__", None)
    _set(spec, "__pydantic_private__", None)
    return spec


def _edge_spec(src: str, dst: str, kind: EdgeKind, properties: dict[str, Any]) -> EdgeSpec:
    """An EdgeSpec from trusted values (see `_node_spec`)."""
    spec = _new(EdgeSpec)
    _set(spec, "__dict__", {"src": src, "dst": dst, "kind": kind, "properties": properties})
    _set(spec, "__pydantic_fields_set__", set(_EDGE_FIELDS))
    _set(spec, "__pydantic_extra__", None)
    _set(spec, "__pydantic_private__", None)
    return spec


def _check_fast_specs() -> bool:
    """True when the direct construction gives objects equal to validated ones."""
    try:
        n = _node_spec("field:a/b.c", NodeKind.FIELD, "c", "a")
        e = _edge_spec("field:a/b.c", "feature:c", EdgeKind.DERIVED_FROM,
                       {"transformation": "identity"})
        return (n == NodeSpec(key="field:a/b.c", kind="field", name="c", namespace="a")
                and e == EdgeSpec(src="field:a/b.c", dst="feature:c", kind="derived_from",
                                  properties={"transformation": "identity"})
                and n.kind.value == "field" and e.ident[2] == "derived_from")
    except Exception:  # a pydantic/SQLModel upgrade changed the internals: validate instead
        return False


if not _check_fast_specs():  # pragma: no cover - depends on installed pydantic
    def _node_spec(key: str, kind: NodeKind, name: str, namespace: str | None) -> NodeSpec:
        return NodeSpec(key=key, kind=kind, name=name, namespace=namespace)

    def _edge_spec(src: str, dst: str, kind: EdgeKind, properties: dict[str, Any]) -> EdgeSpec:
        return EdgeSpec(src=src, dst=dst, kind=kind, properties=properties)


# ------------------------------------------------------------------ the graph


@dataclass
class Graph:
    """A generated graph: compact arrays, with lazy `NodeSpec` / `EdgeSpec` iterators.

    Node ``i`` has key ``keys[i]``; edge ``j`` goes ``src[j] -> dst[j]`` (node indices).
    `nodes` and `edges` return a fresh iterator on every access.
    """

    seed: int
    keys: list[str]
    names: list[str]
    kinds: bytearray
    namespace_of: array  # index into `namespaces`, -1 for none
    namespaces: list[str]
    src: array
    dst: array
    edge_kinds: bytearray
    transformations: bytearray
    hub: str = ""
    hubs: dict[str, int] = field(default_factory=dict)
    typical: list[str] = field(default_factory=list)
    reach: dict[str, int] = field(default_factory=dict)
    _csr: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.keys)

    @property
    def n_edges(self) -> int:
        return len(self.src)

    @property
    def nodes(self) -> Iterator[NodeSpec]:
        """A fresh iterator of `NodeSpec`, built one at a time."""
        keys, names, kinds, ns_of, nss = (self.keys, self.names, self.kinds,
                                          self.namespace_of, self.namespaces)
        node_kinds = NODE_KINDS
        for i in range(len(keys)):
            j = ns_of[i]
            yield _node_spec(keys[i], node_kinds[kinds[i]], names[i], nss[j] if j >= 0 else None)

    @property
    def edges(self) -> Iterator[EdgeSpec]:
        """A fresh iterator of `EdgeSpec`, built one at a time."""
        keys, edge_kinds = self.keys, EDGE_KINDS
        props = [{}] + [{"transformation": t.value} for t in TRANSFORMATIONS]
        for s, d, k, t in zip(self.src, self.dst, self.edge_kinds, self.transformations,
                              strict=True):
            # a fresh dict per edge: callers may mutate properties
            yield _edge_spec(keys[s], keys[d], edge_kinds[k], dict(props[t]) if t else {})

    def node_frame(self) -> pl.DataFrame:
        """The nodes as the columnar input of `Store.bulk_load` (key, kind, name, namespace)."""
        kind_text = pl.Series([k.value for k in NODE_KINDS], dtype=pl.String)
        ns_text = pl.Series([*self.namespaces, None], dtype=pl.String)
        ns_of = np.frombuffer(self.namespace_of, dtype=np.int32)
        return pl.DataFrame({
            "key": pl.Series(self.keys, dtype=pl.String),
            "kind": kind_text.gather(np.frombuffer(self.kinds, dtype=np.uint8)),
            "name": pl.Series(self.names, dtype=pl.String),
            # -1 (no namespace) picks the trailing None
            "namespace": ns_text.gather(np.where(ns_of >= 0, ns_of, len(self.namespaces))),
        })

    def edge_frame(self) -> pl.DataFrame:
        """The edges as the columnar input of `Store.bulk_load` (src, dst, kind, properties
        as JSON text)."""
        keys = pl.Series(self.keys, dtype=pl.String)
        kind_text = pl.Series([k.value for k in EDGE_KINDS], dtype=pl.String)
        props = pl.Series(["{}"] + [json.dumps({"transformation": t.value})
                                    for t in TRANSFORMATIONS], dtype=pl.String)
        return pl.DataFrame({
            "src": keys.gather(np.frombuffer(self.src, dtype=np.int32)),
            "dst": keys.gather(np.frombuffer(self.dst, dtype=np.int32)),
            "kind": kind_text.gather(np.frombuffer(self.edge_kinds, dtype=np.uint8)),
            "properties": props.gather(np.frombuffer(self.transformations, dtype=np.uint8)),
        })

    def edge_pairs(self) -> Iterator[tuple[str, str]]:
        """(src key, dst key) per edge, e.g. for `networkx.DiGraph(g.edge_pairs())`."""
        keys = self.keys
        return ((keys[s], keys[d]) for s, d in zip(self.src, self.dst, strict=True))

    def index(self, key: str) -> int:
        """The node index of a key (linear scan: for a handful of lookups only)."""
        return self.keys.index(key)

    def downstream_count(self, key: str) -> int:
        """How many nodes `key` reaches downstream (itself excluded), by a numpy BFS."""
        return int(self._descendants(self.index(key)).size)

    def _descendants(self, start: int) -> np.ndarray:
        if self._csr is None:
            src = np.frombuffer(self.src, dtype=np.int32)
            dst = np.frombuffer(self.dst, dtype=np.int32)
            order = np.argsort(src, kind="stable")
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(src, minlength=self.n_nodes), out=indptr[1:])
            self._csr = (indptr, dst[order])
        indptr, targets = self._csr
        seen = np.zeros(self.n_nodes, dtype=bool)
        seen[start] = True
        frontier = np.array([start], dtype=np.int64)
        while frontier.size:
            starts, counts = indptr[frontier], indptr[frontier + 1] - indptr[frontier]
            total = int(counts.sum())
            if not total:
                break
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            nxt = targets[np.repeat(starts, counts) + offsets]
            nxt = np.unique(nxt[~seen[nxt]])
            seen[nxt] = True
            frontier = nxt
        seen[start] = False
        return np.flatnonzero(seen)

    def describe(self) -> str:
        """One line: sizes, edges per node, hub and typical reach."""
        typ = ", ".join(str(self.reach[k]) for k in self.typical)
        return (f"{self.n_nodes:,} nodes, {self.n_edges:,} edges "
                f"({self.n_edges / max(self.n_nodes, 1):.2f}/node); hub reaches "
                f"{self.reach.get(self.hub, 0):,}; typical reach {typ}")


# ------------------------------------------------------------------ the builder


class _Builder:
    """Accumulates nodes and edges as compact arrays."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.keys: list[str] = []
        self.names: list[str] = []
        self.kinds = bytearray()
        self.namespace_of = array("i")
        self.namespaces: list[str] = []
        self._ns_index: dict[str, int] = {}
        self.src, self.dst = array("i"), array("i")
        self.edge_kinds, self.transformations = bytearray(), bytearray()

    def node(self, key: str, kind: NodeKind, name: str, namespace: str | None = None) -> int:
        if namespace is None:
            j = -1
        elif (j := self._ns_index.get(namespace, -1)) < 0:
            j = self._ns_index[namespace] = len(self.namespaces)
            self.namespaces.append(namespace)
        self.keys.append(key)
        self.names.append(name)
        self.kinds.append(_NK[kind])
        self.namespace_of.append(j)
        return len(self.keys) - 1

    def edge(self, src: int, dst: int, kind: int, transformation: int = _NO_TRANSFORMATION
             ) -> None:
        self.src.append(src)
        self.dst.append(dst)
        self.edge_kinds.append(kind)
        self.transformations.append(transformation)

    def derive(self, dst: int, inputs: Sequence[int], transformation: Transformation) -> None:
        """``derived_from`` edges from each of `inputs` to `dst`."""
        n = len(inputs)
        self.src.extend(inputs)
        self.dst.extend([dst] * n)
        self.edge_kinds.extend(bytes((DERIVED_FROM,)) * n)
        self.transformations.extend(bytes((_TR[transformation],)) * n)

    def table(self, namespace: str, name: str, columns: Sequence[str]) -> _Table:
        """A dataset node with one field node per column (and its has_field edges)."""
        ds = self.node(dataset_key(namespace, name), NodeKind.DATASET, name, namespace)
        fields = []
        for col in columns:
            f = self.node(field_key(namespace, name, col), NodeKind.FIELD, col, namespace)
            self.edge(ds, f, HAS_FIELD)
            fields.append(f)
        return _Table(ds, fields)

    def graph(self) -> Graph:
        return Graph(self.seed, self.keys, self.names, self.kinds, self.namespace_of,
                     self.namespaces, self.src, self.dst, self.edge_kinds,
                     self.transformations)


@dataclass
class _Table:
    """A generated table: its dataset node and field nodes; field 0 is the join key."""

    dataset: int
    fields: list[int]

    @property
    def key(self) -> int:
        return self.fields[0]

    @property
    def values(self) -> list[int]:
        """The non-key fields."""
        return self.fields[1:]


def _column_names(rng: random.Random, key: str, count: int) -> list[str]:
    """`key` then `count` distinct column names drawn from COLUMNS (suffixed when reused)."""
    names, used = [key], {key}
    while len(names) <= count:
        base = rng.choice(COLUMNS)
        name, i = base, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names.append(name)
    return names


def _pick(rng: random.Random, items: Sequence[int], k: int) -> list[int]:
    return rng.sample(items, min(k, len(items)))


_TRANSFORM_POOL = tuple(t for t, w in _MART_TRANSFORMS for _ in range(w))


def _transform(rng: random.Random) -> Transformation:
    return rng.choice(_TRANSFORM_POOL)


def _mart(b: _Builder, name: str, inputs: Sequence[_Table], *, events: _Table | None,
          event_ts: int | None, n_columns: int) -> _Table:
    """A table joining `inputs` on their keys (and `events` on user_id when given)."""
    rng = b.rng
    joined = ([events] if events is not None else []) + list(inputs)
    with_date = events is not None and event_ts is not None and rng.random() < P_EVENT_DATE
    columns = ["user_id" if events is not None else f"entity_{rng.randrange(4)}_id"]
    if with_date:
        columns.append("event_date")
    agg_names = set(columns)
    while len(columns) < n_columns + 1:
        col = f"{rng.choice(AGGREGATES)}_{rng.choice(COLUMNS)}_{rng.choice(WINDOWS)}"
        if col not in agg_names:
            agg_names.add(col)
            columns.append(col)
    table = b.table(WAREHOUSE, name, columns)
    b.derive(table.key, [t.key for t in joined], T.JOIN)
    pool = [f for t in joined for f in t.values if f != event_ts]
    first_value = 1
    if with_date:
        assert event_ts is not None
        b.derive(table.fields[1], [event_ts], T.TRANSFORMATION)
        first_value = 2
    for f in table.fields[first_value:]:
        b.derive(f, _pick(rng, pool, rng.choice(COLUMN_INPUTS)), _transform(rng))
        if rng.random() < P_KEY_DEPENDENCY:
            b.edge(table.key, f, DERIVED_FROM, _TR[T.JOIN])
        if with_date and rng.random() < 0.15:
            b.edge(table.fields[1], f, DERIVED_FROM, _TR[T.FILTER])
    return table


def generate(n_nodes: int, seed: int = 0, *, find_typical: int = 5) -> Graph:
    """A warehouse-shaped lineage graph of about `n_nodes` nodes (at least 1,000).

    Deterministic for a given (n_nodes, seed). `Graph.hub` is the core events table's
    ``user_id``; `Graph.typical` holds `find_typical` source/staging columns whose
    downstream closure has 100-300 nodes (closest to 200 first; in graphs too small to have
    enough of them, the closest to 200 nodes stand in), found by sampling and a
    numpy BFS; `Graph.reach` gives the closure size of every sampled key and of the hubs
    (`Graph.hubs`). About 14 s and 400 MB at 10^6 nodes.
    """
    n_nodes = max(int(n_nodes), 1_000)
    b = _Builder(seed)
    rng = b.rng
    n_sources = max(2, round(n_nodes / NODES_PER_SOURCE_TABLE))

    # -- sources: table 0 is the core event stream; the rest are OLTP tables
    events_src = b.table(EVENTS_NS, "raw.events", EVENT_COLUMNS)
    sources = [events_src]
    for i in range(1, n_sources):
        db = SOURCE_DBS[i % len(SOURCE_DBS)]
        key = "user_id" if rng.random() < 0.7 else rng.choice(("account_id", "merchant_id"))
        cols = _column_names(rng, key, rng.randint(5, 18))
        sources.append(b.table(f"postgres://{db}.prod:5432",
                               f"public.{rng.choice(NOUNS)}_{i:05d}", cols))

    # -- staging: one per source; identity columns (some dropped), a few computed ones
    staging: list[_Table] = []
    for src in sources:
        src_name = b.names[src.dataset].split(".", 1)[1]
        kept = [src.key] + [f for f in src.values if rng.random() < 0.9]
        extra = rng.randint(0, 2)
        cols = [b.names[f] for f in kept] + [f"derived_{j}" for j in range(extra)]
        stg = b.table(WAREHOUSE, f"staging.stg_{src_name}", cols)
        for f_src, f_stg in zip(kept, stg.fields, strict=False):
            b.derive(f_stg, [f_src], T.IDENTITY)
        for f_stg in stg.fields[len(kept):]:
            b.derive(f_stg, _pick(rng, src.values, 2), rng.choice((T.TRANSFORMATION,
                                                                   T.CONDITIONAL)))
        staging.append(stg)
    events_stg, others = staging[0], staging[1:]
    event_ts_stg = events_stg.fields[EVENT_COLUMNS.index("event_ts")]
    weights = [POPULAR_WEIGHT if rng.random() < P_POPULAR else 1.0 for _ in others]

    # -- marts: join 1-3 staging tables, nearly always with the events table
    marts: list[_Table] = []
    for i in range(round(n_sources * MARTS_PER_SOURCE)):
        inputs = list({id(t): t for t in rng.choices(others, weights, k=rng.randint(1, 3))
                       }.values())
        with_events = rng.random() < P_JOIN_EVENTS
        marts.append(_mart(b, f"marts.{rng.choice(NOUNS)}_daily_{i:05d}", inputs,
                           events=events_stg if with_events else None,
                           event_ts=event_ts_stg, n_columns=rng.randint(*MART_COLUMNS)))

    # -- reporting marts: join 1-3 marts (uniformly: each mart feeds O(1) reports)
    reports: list[_Table] = []
    for i in range(round(n_sources * REPORTS_PER_SOURCE)):
        inputs = rng.sample(marts, rng.randint(1, 3))
        reports.append(_mart(b, f"reporting.rpt_{rng.choice(NOUNS)}_{i:05d}", inputs,
                             events=None, event_ts=None, n_columns=rng.randint(*REPORT_COLUMNS)))

    # -- feature tables and features: window aggregates of marts' / reports' columns
    features: list[int] = []
    feature_tables: list[_Table] = []
    upstream = marts + reports
    for i in range(round(n_sources * FEATURE_TABLES_PER_SOURCE)):
        inputs = rng.sample(upstream, rng.randint(1, 2))
        name = f"fs.{rng.choice(NOUNS)}_features_{i:05d}"
        cols = ["user_id"] + [f"{c}_{i}" for c in _column_names(rng, "x", rng.randint(4, 14))[1:]]
        ft = b.table(FEATURE_STORE, name, cols)
        b.derive(ft.key, [t.key for t in inputs], T.JOIN)
        pool = [f for t in inputs for f in t.values]
        for f in ft.values:
            b.derive(f, _pick(rng, pool, rng.choice((1, 1, 2))),
                     rng.choice((T.AGGREGATION, T.WINDOW)))
            if rng.random() < P_KEY_DEPENDENCY:
                b.edge(ft.key, f, DERIVED_FROM, _TR[T.GROUP_BY])
            fname = f"{name.split('.', 1)[1]}__{b.names[f]}"
            feat = b.node(feature_key(fname), NodeKind.FEATURE, fname)
            b.derive(feat, [f], T.IDENTITY)
            features.append(feat)
        feature_tables.append(ft)

    # -- models and versions: each model draws a pool of features; versions use most of it
    service_pool: list[int] = []
    n_models = max(2, round(len(features) / FEATURES_PER_MODEL))
    for m in range(n_models):
        name = f"{rng.choice(('fraud', 'churn', 'ltv', 'ranking', 'credit', 'reco'))}_{m:04d}"
        model = b.node(model_key(name), NodeKind.MODEL, name)
        pool = _pick(rng, features, rng.randint(*MODEL_POOL))
        raw_fields = _pick(rng, upstream, 1)[0].values
        for v in range(1, rng.randint(*VERSIONS) + 1):
            mv = b.node(model_version_key(name, str(v)), NodeKind.MODEL_VERSION, f"{name}@{v}")
            b.edge(mv, model, VERSION_OF)
            for feat in pool:
                if rng.random() < 0.85:
                    b.edge(feat, mv, USES_FEATURE)
            for f in _pick(rng, raw_fields, rng.randint(0, 2)):
                b.edge(f, mv, USES_FIELD)
            if rng.random() < 0.5 or not service_pool:
                cname = f"svc-{name}-v{v}"
                service_pool.append(b.node(consumer_key(cname), NodeKind.CONSUMER, cname))
            for c in _pick(rng, service_pool[-30:], rng.randint(1, 3)):
                b.edge(mv, c, CONSUMES)

    # -- dashboards and exports: consume marts/reports (whole tables and some columns),
    #    as many as it takes to reach n_nodes
    i = 0
    while len(b.keys) < n_nodes:
        cname = f"dash-{rng.choice(NOUNS)}-{i:06d}"
        c = b.node(consumer_key(cname), NodeKind.CONSUMER, cname)
        for t in _pick(rng, upstream, rng.randint(1, 2)):
            b.edge(t.dataset, c, CONSUMES)
            for f in _pick(rng, t.values, rng.randint(0, 3)):
                b.edge(f, c, CONSUMES)
        i += 1

    g = b.graph()
    g.hub = b.keys[events_src.key]
    for f in (events_src.key, events_src.fields[EVENT_COLUMNS.index("event_ts")]):
        g.hubs[b.keys[f]] = g.reach[b.keys[f]] = int(g._descendants(f).size)
    _find_typical(g, rng, sources[1:], staging[1:], find_typical)
    return g


def _find_typical(g: Graph, rng: random.Random, sources: Sequence[_Table],
                  staging: Sequence[_Table], wanted: int) -> None:
    """Pick up to `wanted` source/staging value columns reaching 100-300 nodes."""
    if wanted <= 0:
        return
    tables = list(sources) + list(staging)
    found: list[tuple[int, str]] = []
    others: list[tuple[int, str]] = []
    for _ in range(max(60, 12 * wanted)):
        t = rng.choice(tables)
        if not t.values:
            continue
        f = rng.choice(t.values)
        key = g.keys[f]
        if key in g.reach:
            continue
        size = int(g._descendants(f).size)
        g.reach[key] = size
        (found if 100 <= size <= 300 else others).append((abs(size - 200), key))
    # small graphs may have too few such columns: then the closest to 200 nodes stand in
    g.typical = [k for _, k in (sorted(found) + sorted(others))[:wanted]]
