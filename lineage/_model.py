"""Domain types: what the library takes and returns. No SQL types here.

Nodes, edges and what a write takes are plain pydantic models; the SQL backend's tables
(SQLModel, lineage/store/sql/tables.py) are separate classes.
Traversal results are slotted dataclasses: a hub column reaches 10^5 nodes, and building that
many validated models would cost more than the query.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from ._errors import LineageError
from ._keys import kind_of
from ._types import normalize_type
from ._vocabulary import EdgeKind, NodeKind, Origin, edge_verb, path_step

if TYPE_CHECKING:
    import numpy as np


class _Model(BaseModel):
    """The domain types' base: plain pydantic, configured as SQLModel's base was (they were
    SQLModel models; plain pydantic keeps SQLAlchemy out of a read's imports)."""

    model_config = ConfigDict(from_attributes=True)


class NodeSpec(_Model):
    """A node as written: its key, kind, display name and free-form properties."""

    key: str
    kind: NodeKind
    name: str
    namespace: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        return NodeKind(value)


class Node(NodeSpec):
    """A node as stored."""

    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands times back without a zone; every time this store writes is UTC
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def ref(self) -> NodeRef:
        return NodeRef(self.key, self.kind, self.name)


class EdgeSpec(_Model):
    """An edge as written, in data-flow direction: `src` upstream, `dst` downstream."""

    src: str
    dst: str
    kind: EdgeKind
    properties: dict[str, Any] = Field(default_factory=dict)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.src, self.dst, self.kind.value)


class FieldSchema(_Model):
    """One field of a schema snapshot."""

    name: str
    type: str
    nullable: bool = True
    description: str | None = None
    allowed_values: list[Any] | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        try:
            return normalize_type(value)
        except LineageError as exc:  # pydantic reports ValueError with the field's location
            raise ValueError(exc.message) from None


class ChannelSpec(_Model):
    """Where a consumer is notified: `webhook` (target: URL), `email` (target: address) or
    `file` (target: path of an NDJSON file; `-` is stdout). A webhook signs its body with
    `secret`, or with the secret in the environment variable named `secret_env`."""

    kind: str
    target: str
    secret: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ("webhook", "email", "file"):
            raise ValueError(f"unknown channel kind '{value}'; kinds are webhook, email, file")
        return value


class NotificationSpec(_Model):
    """A notification to put in the outbox: tell `consumer` (a consumer key) through its
    channel (`channel_kind`, `channel_target`: one of the consumer's stored channels) about
    `event` (e.g. `proposed_change`, `new_version`); `payload` is the JSON document sent.

    `idempotency_key` identifies the notification: enqueueing one whose key is already in
    the outbox, in any state, does nothing, and receivers get it with every (re)delivery.
    `lineage.notify.notifications_for` builds these from an impact report."""

    idempotency_key: str
    consumer: str
    channel_kind: str
    channel_target: str
    event: str
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("idempotency_key", "event", "channel_target")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value or not value.strip() or len(value) > 2000:
            raise ValueError("must be a non-empty string of at most 2000 characters")
        return value

    @field_validator("consumer")
    @classmethod
    def _consumer(cls, value: str) -> str:
        try:
            kind = kind_of(value)
        except LineageError as exc:
            raise ValueError(exc.message) from None
        if kind is not NodeKind.CONSUMER:
            raise ValueError(f"notifications go to consumers, not '{value}'")
        return value

    @field_validator("channel_kind")
    @classmethod
    def _channel_kind(cls, value: str) -> str:
        if value not in ("webhook", "email", "file"):
            raise ValueError(f"unknown channel kind '{value}'; kinds are webhook, email, file")
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:  # it is stored in a JSON column and sent as JSON: say so now, not at delivery
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the payload must be plain JSON: {exc}") from None
        return value


@dataclass(slots=True)
class NodeRecord:
    """A node as a trusted writer puts it in a `GraphBatch`: NodeSpec's fields, not
    validated. OpenLineage ingest builds tens of nodes and edges per event from values it
    has already validated, and a pydantic model each cost more than the rest of the mapping;
    everyone else gives `NodeSpec`s (`GraphBatch.add_node`)."""

    key: str
    kind: NodeKind
    name: str
    namespace: str | None
    properties: dict[str, Any]


@dataclass(slots=True)
class EdgeRecord:
    """An edge as a trusted writer puts it in a `GraphBatch` (see `NodeRecord`)."""

    src: str
    dst: str
    kind: EdgeKind
    properties: dict[str, Any]

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.src, self.dst, self.kind.value)


def _as_given(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A record is kept as it is; anything else is validated as a spec (so callers giving
    dicts get NodeSpec's errors, not a union's)."""
    return value if isinstance(value, NodeRecord | EdgeRecord) else handler(value)


if TYPE_CHECKING:
    _Node = NodeSpec | NodeRecord
    _Edge = EdgeSpec | EdgeRecord
else:
    _Node = Annotated[NodeSpec, WrapValidator(_as_given)]
    _Edge = Annotated[EdgeSpec, WrapValidator(_as_given)]


class GraphBatch(_Model):
    """Everything one write call applies, in one transaction.

    `nodes` and `edges` hold `NodeSpec`s and `EdgeSpec`s (`add_node`, `add_edge`), or, from
    a trusted writer that validated its input itself (OpenLineage ingest), `NodeRecord`s
    and `EdgeRecord`s: the same fields, read the same way.
    `schemas` maps a dataset-version key to its schema snapshot (fields in order).
    `contracts` maps a consumer key to its contracts by asset key, and `channels` a consumer
    key to its channels; both replace what the consumer had.
    """

    nodes: dict[str, _Node] = Field(default_factory=dict)
    edges: dict[tuple[str, str, str], _Edge] = Field(default_factory=dict)
    schemas: dict[str, list[FieldSchema]] = Field(default_factory=dict)
    contracts: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    channels: dict[str, list[ChannelSpec]] = Field(default_factory=dict)
    #: notifications to put in the outbox with the rest of the batch (the durable outbox
    #: pattern: a new version and the notice of its breaking change commit together)
    notifications: list[NotificationSpec] = Field(default_factory=list)
    #: edges (src, dst, kind) the batch retires: deleted when stored, not written when also
    #: in `edges`. Read after the batch's nodes are merged, so a `Store.apply` merge
    #: callback may add to it (a removal that depends on what the store holds)
    removed_edges: set[tuple[str, str, str]] = Field(default_factory=set)

    def add_node(
        self, key: str, name: str, namespace: str | None = None, **properties: Any
    ) -> NodeSpec:
        spec = NodeSpec(key=key, kind=kind_of(key), name=name, namespace=namespace,
                        properties={k: v for k, v in properties.items() if v is not None})
        self.nodes[key] = spec
        return spec

    def add_edge(self, src: str, dst: str, kind: EdgeKind | str, **properties: Any) -> EdgeSpec:
        spec = EdgeSpec(src=src, dst=dst, kind=EdgeKind(kind),
                        properties={k: v for k, v in properties.items() if v is not None})
        self.edges[spec.ident] = spec
        return spec


@dataclass(frozen=True, slots=True)
class NodeRef:
    """The identity of a node, as traversals return it."""

    key: str
    kind: NodeKind
    name: str


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What a write changed. Re-applying the same batch gives all zeros but `unchanged`."""

    nodes_created: int = 0
    nodes_updated: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    schemas_written: int = 0
    consumers_updated: int = 0
    unchanged: int = 0
    #: notifications the batch added to the outbox (duplicates of stored ones are not counted)
    notifications_enqueued: int = 0
    #: stored edges deleted (`GraphBatch.removed_edges`)
    edges_removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.nodes_created or self.nodes_updated or self.edges_created
                    or self.edges_updated or self.schemas_written or self.consumers_updated
                    or self.edges_removed)


@dataclass(slots=True)
class Reached:
    """A node reached by a traversal, with the edge that first reached it.

    `via` is the previous node on one shortest path from the start (None for the start
    itself); `edge` is the kind of the edge from `via` to this node.
    """

    node: NodeRef
    depth: int
    via: Reached | None = None
    edge: EdgeKind | None = None
    #: for a consumer of a field's dataset: the dataset it consumes the field through
    through: NodeRef | None = None
    #: reached only through dataset-level lineage (a job or model that reads a whole
    #: dataset without recorded column lineage): it may or may not depend on the start
    column_unknown: bool = False
    # the path's steps, built once: a child's path extends its parent's, so walking every
    # path of a 10^5-node closure costs one tuple per node instead of one per step
    _steps: tuple[tuple[EdgeKind | None, NodeRef], ...] | None = field(
        default=None, init=False, repr=False, compare=False)

    @property
    def path(self) -> list[tuple[EdgeKind | None, NodeRef]]:
        """One shortest path from the start: [(None, start), (edge, node), ..., (edge, self)]."""
        return list(self._path_steps())

    def _path_steps(self) -> tuple[tuple[EdgeKind | None, NodeRef], ...]:
        if self._steps is None:
            pending: list[Reached] = []
            cur: Reached | None = self
            while cur is not None and cur._steps is None:  # a loop: paths can be long
                pending.append(cur)
                cur = cur.via
            steps = () if cur is None else cur._steps
            for item in reversed(pending):
                steps = (*steps, (item.edge, item.node))  # type: ignore[misc]
                item._steps = steps
        return self._steps  # type: ignore[return-value]

    def path_text(self) -> str:
        """The path in one line, each step read the way data flows along a downstream walk:
        `a -feeds-> b -is used by-> c`."""
        parts: list[str] = []
        for edge, node in self._path_steps():
            parts.append(node.key if edge is None else f"-{edge_verb(edge)}-> {node.key}")
        if self.through is not None:
            how = "consumes" if self.edge is EdgeKind.CONSUMES else "through"
            parts.append(f"({how} dataset {self.through.key})")
        if self.column_unknown:
            parts.append("[dataset-level lineage, column unknown]")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.node.key,
            "kind": self.node.kind.value,
            "name": self.node.name,
            "depth": self.depth,
            "path": [path_step(e, n.key) for e, n in self._path_steps()],
            "through": None if self.through is None else self.through.key,
            "column_unknown": self.column_unknown,
        }


Direction = Literal["downstream", "upstream"]

_NODE_KINDS = {k.value: k for k in NodeKind}
_EDGE_KINDS = {k.value: k for k in EdgeKind}


@dataclass(frozen=True, slots=True)
class WalkTable:
    """A traversal as parallel columns, one row per reached node (the start excluded),
    ordered by depth then key; `parent[i]` is the row of the node that first reached row i
    (-1: the start), `edge[i]` the kind of that edge. Backends return this; `Closure` builds
    `Reached` objects from it only when they are asked for."""

    keys: list[str]
    kinds: list[str]
    names: list[str]
    depths: list[int]
    parents: list[int]
    edges: list[str]
    #: rows added after the walk (`Closure.extend`) that came through a dataset: row -> it.
    #: Such rows sit after the walk's, so the rows are no longer in (depth, key) order.
    through: dict[int, NodeRef] = field(default_factory=dict)
    #: rows reached only through dataset-level lineage (`Reached.column_unknown`)
    unknown: set[int] = field(default_factory=set)
    #: the backend's own ids of the walk's rows and of the start, when it keeps them, for its
    #: follow-up queries on the same closure (`Store.closure_dataset_consumers`); rows added
    #: by `Closure.extend` have none
    ids: list[int] | None = None
    start_id: int | None = None
    #: the walk's depth bound left out a node (see `Closure.truncated`)
    truncated: bool = False
    #: a walk that skipped deleted nodes (`skip_deleted`): the lifecycle state of the
    #: deleted nodes it met and cut, and of the deprecated nodes it reached, by key
    retired: dict[str, str] = field(default_factory=dict)
    #: what the backend worked out from `ids` for one follow-up query and keeps for the
    #: next on the same walk (its rows never change; `Closure.extend` only appends)
    derived: dict[str, Any] = field(default_factory=dict)
    #: lifecycle states (None: none) of nodes outside the rows that the backend read along
    #: with a follow-up query (a dataset's consumers, `Store.closure_dataset_consumers`),
    #: by key: `impact` screens those nodes with them instead of asking again
    states: dict[str, str | None] = field(default_factory=dict)


class Closure:
    """The nodes reachable from `start` in one direction, each with one shortest path.

    `reached` excludes the start and is ordered by depth, then key. It is built on first
    use: a hub reaches 10^5 nodes, and a caller that only counts them or wants their keys
    should not pay for 10^5 `Reached` objects.

    `retired` (from a walk that skipped deleted nodes, see `Store.downstream`): the deleted
    nodes the walk met and did not pass through, and the deprecated nodes it reached, each
    with its lifecycle state (see lineage.lifecycle).
    """

    __slots__ = ("start", "direction", "max_depth", "_reached", "_table", "truncated",
                 "retired", "_rows")

    def __init__(self, start: Reached, direction: Direction, max_depth: int,
                 reached: list[Reached] | None = None, *, table: WalkTable | None = None,
                 truncated: bool = False) -> None:
        self.start = start
        self.direction: Direction = direction
        self.max_depth = max_depth
        #: `max_depth` left something out: the answer is incomplete and must say so
        self.truncated = truncated
        self.retired: dict[str, str] = dict(table.retired) if table is not None else {}
        #: key -> row of the table (the start: -1; None: not in it) of the keys `extend`
        #: asked for so far: a map of a hub's 10^5 keys cost more than finding the 10^4
        #: an extend needs in one pass over them
        self._rows: dict[str, int | None] | None = None
        self._reached: list[Reached] | None = reached
        self._table = table if reached is None else None
        if reached is None and table is None:
            self._reached = []

    @property
    def reached(self) -> list[Reached]:
        if self._reached is None:
            self._reached = self._build()
        return self._reached

    @reached.setter
    def reached(self, items: list[Reached]) -> None:
        self._reached, self._table, self._rows = items, None, None

    def _build(self) -> list[Reached]:
        t = self._table
        assert t is not None
        nk, ek, start = _NODE_KINDS, _EDGE_KINDS, self.start
        items: list[Reached] = []
        append = items.append
        start_steps = start._path_steps()
        paused = gc.isenabled()
        gc.disable()  # 10^5 new objects at once: collections would rescan them again and again
        try:
            through, unknown = t.through, t.unknown
            for row, (key, kind, name, depth, parent, edge) in enumerate(zip(
                    t.keys, t.kinds, t.names, t.depths, t.parents, t.edges, strict=True)):
                via = start if parent < 0 else items[parent]
                node = NodeRef(key, nk[kind], name)
                edge_kind = ek[edge]
                item = Reached(node, depth, via, edge_kind, through.get(row), row in unknown)
                # the path too: one tuple per node now is cheaper than building it later
                item._steps = (*(start_steps if parent < 0 else via._steps),  # type: ignore[misc]
                               (edge_kind, node))
                append(item)
        finally:
            if paused:
                gc.enable()
        if t.through or t.unknown:  # rows added after the walk: back into (depth, key) order
            items.sort(key=lambda r: (r.depth, r.node.key))
        self._table = None
        return items

    def __iter__(self) -> Iterator[Reached]:
        return iter(self.reached)

    def __len__(self) -> int:
        return len(self._table.keys) if self._reached is None and self._table else len(
            self.reached)

    def __repr__(self) -> str:
        return (f"Closure(start={self.start.node.key!r}, direction={self.direction!r}, "
                f"max_depth={self.max_depth}, reached={len(self)})")

    def keys(self) -> set[str]:
        if self._reached is None and self._table is not None:
            return set(self._table.keys)
        return {r.node.key for r in self.reached}

    def of_kind(self, *kinds: NodeKind) -> list[Reached]:
        return [r for r in self.reached if r.node.kind in kinds]

    @property
    def table(self) -> WalkTable | None:
        """The walk as columns while no `Reached` objects are built (None after)."""
        return self._table if self._reached is None else None

    def count_by_kind(self) -> dict[NodeKind, int]:
        """How many reached nodes there are of each kind (no `Reached` objects built)."""
        if self._reached is None and self._table is not None:
            return {_NODE_KINDS[k]: n for k, n in Counter(self._table.kinds).items()}
        return dict(Counter(r.node.kind for r in self.reached))

    def first_of_kind(self, kind: NodeKind, limit: int) -> list[Reached]:
        """The first `limit` reached nodes of `kind`, in (depth, key) order, with their paths.
        On a closure still held as a table only those and their ancestors are built (a table
        of the first 50 of a hub's 10^5 fields costs 50 objects, not 10^5)."""
        if self._reached is not None or self._table is None:
            return [r for r in self.reached if r.node.kind is kind][:limit]
        t = self._table
        rows = [row for row, k in enumerate(t.kinds) if k == kind.value]
        if t.through or t.unknown:  # rows added after the walk are out of order
            rows.sort(key=lambda row: (t.depths[row], t.keys[row]))
        built: dict[int, Reached] = {}

        def item(row: int) -> Reached:
            chain = []  # the row and its ancestors not yet built, nearest first
            while row >= 0 and row not in built:
                chain.append(row)
                row = t.parents[row]
            via = self.start if row < 0 else built[row]
            for r in reversed(chain):
                node = NodeRef(t.keys[r], _NODE_KINDS[t.kinds[r]], t.names[r])
                via = built[r] = Reached(node, t.depths[r], via, _EDGE_KINDS[t.edges[r]],
                                         t.through.get(r), r in t.unknown)
            return via

        return [item(row) for row in rows[:limit]]

    def keys_of_kind(self, kind: NodeKind) -> list[str]:
        """The keys of the nodes of `kind`, the start first if it is one (no `Reached`
        objects are built for it)."""
        first = [self.start.node.key] if self.start.node.kind is kind else []
        if self._reached is None and self._table is not None:
            t = self._table
            value = kind.value  # once: an enum's .value costs a descriptor call
            if value not in t.kinds:  # a C scan; a hub reaches no dataset: 20 ms of zip saved
                return first
            return first + [k for k, kd in zip(t.keys, t.kinds, strict=True) if kd == value]
        return first + [r.node.key for r in self.reached if r.node.kind is kind]

    def extend(self, additions: Iterable[tuple[str, NodeRef, EdgeKind, NodeRef | None]],
               *, column_unknown: bool = False, nearest_first: bool = False,
               taken: list[int] | None = None) -> int:
        """Add nodes reached one step beyond the walk: each `(via, node, edge, through)` adds
        `node`, reached from the node keyed `via` by `edge` (and `through` a dataset), unless
        `node` is already in the closure, `via` is not, or one step from `via` exceeds
        `max_depth`. The first addition of a node wins; with `nearest_first`, the additions
        are taken by the depth of their `via`, then its key, then the node's key, so a node
        offered from several is reached from the nearest (its path is a shortest one).
        Returns how many were added; `reached` stays in (depth, key) order. On a closure
        still held as a table, no `Reached` objects are built.
        A node added is `column_unknown` when `column_unknown` is given or its `via` is.
        With `taken` (and not `nearest_first`), the index in `additions` of each addition
        taken is appended to it: several walks merged in one call say which added what."""
        start = self.start
        if self._reached is None and self._table is not None:
            t = self._table
            additions = list(additions)
            row_of = self._rows_of(t, {a[0] for a in additions} | {a[1].key for a in additions})
            if nearest_first:
                def nearest(a: tuple[str, NodeRef, EdgeKind, NodeRef | None]
                            ) -> tuple[int, str, str]:
                    row = row_of.get(a[0])
                    return (start.depth if row is None or row < 0 else t.depths[row], a[0],
                            a[1].key)

                additions.sort(key=nearest)
            added = 0
            for index, (via_key, node, edge, through) in enumerate(additions):
                via = row_of.get(via_key)
                if row_of.get(node.key) is not None or via is None:
                    continue  # via None: not reached, or itself beyond max_depth
                depth = (start.depth if via < 0 else t.depths[via]) + 1
                if depth > self.max_depth:
                    self.truncated = True
                    continue
                row_of[node.key] = len(t.keys)
                if through is not None:
                    t.through[len(t.keys)] = through
                if column_unknown or via in t.unknown:
                    t.unknown.add(len(t.keys))
                t.keys.append(node.key)
                t.kinds.append(node.kind.value)
                t.names.append(node.name)
                t.depths.append(depth)
                t.parents.append(via)
                t.edges.append(edge.value)
                added += 1
                if taken is not None:
                    taken.append(index)
            return added
        by_key = {r.node.key: r for r in [start, *self.reached]}
        if nearest_first:
            additions = sorted(additions, key=lambda a: (
                by_key[a[0]].depth if a[0] in by_key else 0, a[0], a[1].key))
        new = []
        for index, (via_key, node, edge, through) in enumerate(additions):
            via_item = by_key.get(via_key)
            if node.key in by_key or via_item is None:
                continue
            if via_item.depth + 1 > self.max_depth:
                self.truncated = True
                continue
            item = Reached(node, via_item.depth + 1, via_item, edge, through=through,
                           column_unknown=column_unknown or via_item.column_unknown)
            by_key[node.key] = item
            new.append(item)
            if taken is not None:
                taken.append(index)
        if new:
            self.reached = sorted([*self.reached, *new], key=lambda r: (r.depth, r.node.key))
        return len(new)

    def note_rows(self, rows: dict[str, int | None]) -> None:
        """Tell `extend` the rows of keys the caller already knows (None: not in the
        table), so that it need not look for them: a backend that placed its walk's
        consumers by node id spares a pass over a hub's 10^5 keys. Only while the closure
        is held as a table; the rows must be right."""
        if self._reached is None and self._table is not None:
            known = self._rows
            if known is None:
                known = self._rows = {self.start.node.key: -1}
            known.update(rows)

    def _rows_of(self, t: WalkTable, wanted: set[str]) -> dict[str, int | None]:
        """The rows of `wanted` keys (None: not in the table), found with one pass over the
        keys for those not asked for before, and kept."""
        known = self._rows
        if known is None:
            known = self._rows = {self.start.node.key: -1}
        missing = {k for k in wanted if k not in known}
        if missing:
            keys = t.keys
            for row in [i for i, k in enumerate(keys) if k in missing]:
                known[keys[row]] = row
            for k in missing:
                known.setdefault(k, None)
        return known

    def mark_column_unknown(self, keys: set[str]) -> None:
        """Mark the reached nodes keyed in `keys` `column_unknown` (in place; no `Reached`
        objects are built for a closure still held as a table). Nodes added later through a
        marked one inherit the mark (see `extend`)."""
        if not keys:
            return
        if self._reached is None and self._table is not None:
            t = self._table
            t.unknown.update(row for row, key in enumerate(t.keys) if key in keys)
            return
        for r in self.reached:
            if r.node.key in keys:
                r.column_unknown = True

    def get(self, key: str) -> Reached | None:
        for r in self.reached:
            if r.node.key == key:
                return r
        return None


#: an edge of a `Subgraph`: (src key, dst key, kind, properties), in data-flow direction
SubgraphEdge = tuple[str, str, EdgeKind, dict[str, Any]]


@dataclass(slots=True)
class Subgraph:
    """A closure and what reasoning over its region needs, fetched with it: the properties
    of every node in it (the start included) by key, and every edge between two of its
    nodes, in data-flow direction (`src` upstream) whatever the walk's direction."""

    closure: Closure
    properties: dict[str, dict[str, Any]]
    edges: list[SubgraphEdge]

    def to_networkx(self) -> Any:
        """The region as a `networkx.MultiDiGraph`, for analysis in a notebook.

        Nodes are keyed by node key with attributes `kind`, `name`, `depth` (edges from the
        start; 0 for the start) and `properties`; edges run in data-flow direction (upstream
        to downstream, whatever the walk's direction), keyed by edge kind, with attributes
        `kind` and `properties`. A MultiDiGraph because two nodes can be joined by edges of
        several kinds. Example::

            g = store.subgraph("transactions.category").to_networkx()
            networkx.shortest_path(g, source=g.graph["start"], target=some_key)
        """
        import networkx  # only this method needs it; `import lineage` stays light

        graph = networkx.MultiDiGraph(start=self.closure.start.node.key,
                                      direction=self.closure.direction)
        start = self.closure.start.node
        graph.add_node(start.key, kind=start.kind.value, name=start.name, depth=0,
                       properties=self.properties.get(start.key, {}))
        for reached in self.closure.reached:
            node = reached.node
            graph.add_node(node.key, kind=node.kind.value, name=node.name,
                           depth=reached.depth, properties=self.properties.get(node.key, {}))
        for src, dst, kind, properties in self.edges:
            graph.add_edge(src, dst, key=kind.value, kind=kind.value, properties=properties)
        return graph


@dataclass(frozen=True, slots=True)
class AssertionBatch:
    """One ingest of record assertions: everything its rows share.

    `field` and `agent` are node keys; `concept` is the field's concept at ingest time
    scoped by the entity types of its key, ``fraud_label|entity:transaction_id`` (what the
    fingerprints were computed with; see `lineage.provenance._scope`; a batch stored
    before scopes holds the bare concept). `id` is None until stored.
    """

    field: str
    concept: str
    origin: Origin
    agent: str
    asserted_at: datetime
    rows: int
    dataset_version: str | None = None
    source: str | None = None
    principal: str | None = None
    id: int | None = None
    created_at: datetime | None = None
    #: set by `provenance.tag` when these very rows were already stored (this batch):
    #: nothing new was written. Not stored.
    unchanged: bool = False


@dataclass(slots=True)
class AssertionArrays:
    """The rows of a batch, column by column.

    `entity` and `value` are int64 fingerprints (see lineage.provenance); `confidence` is
    float32 with NaN for "not given"; `reviewed_batch`/`reviewed_row` (int64, -1 for none)
    point a human review at the AI assertion it accepted or corrected.
    """

    entity: np.ndarray
    value: np.ndarray
    confidence: np.ndarray
    reviewed_batch: np.ndarray | None = None
    reviewed_row: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.value)


#: AssertionArrays' columns, as `Store.assertion_columns` names them
ASSERTION_COLUMNS = ("entity", "value", "confidence", "reviewed_batch", "reviewed_row")


# ------------------------------------------------------------------ the notification outbox

OutboxState = Literal["pending", "delivered", "dead"]
#: every outbox state, in the order a notification goes through them
OUTBOX_STATES: tuple[OutboxState, ...] = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification in the outbox, with the channel it goes to.

    `attempts` counts delivery attempts whose outcome was recorded (`Store.settle`); a
    claim alone counts none. A `pending` item whose
    `lease_until` is in the future is being delivered right now; when a deliverer dies,
    its lease expires and the item is claimed again."""

    id: int
    idempotency_key: str
    consumer: str
    channel: ChannelSpec
    event: str
    payload: dict[str, Any]
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    lease_until: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the channel's secret, JSON-ready."""
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {"id": self.id, "idempotency_key": self.idempotency_key,
                "consumer": self.consumer, "channel": {"kind": self.channel.kind,
                                                      "target": self.channel.target},
                "event": self.event, "state": self.state, "attempts": self.attempts,
                "next_attempt_at": iso(self.next_attempt_at),
                "lease_until": iso(self.lease_until), "last_error": self.last_error,
                "created_at": iso(self.created_at), "delivered_at": iso(self.delivered_at),
                "payload": self.payload}


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one delivery attempt of outbox item `id` ended.

    `error` None: delivered. Otherwise it failed with `error`, and is retried at
    `retry_at`, or, when `retry_at` is None, is dead (dead-lettered)."""

    id: int
    error: str | None = None
    retry_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None
