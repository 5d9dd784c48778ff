"""The Store interface: every storage operation once, with its contract.

Public methods check their input once, here, and call the backend's hooks (the abstract
`_`-prefixed methods). A backend implements storage and the graph primitives that must run
inside the database to scale: closure with paths, suffix lookup, bulk load. Features
(impact, registration, rendering, ...) are written against the public methods only.
"""

from __future__ import annotations

import difflib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from .._access import SCOPES, AuditEntry, TokenInfo
from .._errors import AmbiguousName, ConflictError, NotFound, ValidationError
from .._keys import check_key_length, identity, is_key, kind_of, matches_suffix, suggest
from .._model import (
    ASSERTION_COLUMNS,
    OUTBOX_STATES,
    ApplyResult,
    AssertionArrays,
    AssertionBatch,
    ChannelSpec,
    Closure,
    DeliveryOutcome,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRef,
    NodeSpec,
    NotificationSpec,
    OutboxItem,
    OutboxState,
    Subgraph,
)
from .._vocabulary import EdgeKind, NodeKind, Origin
from . import _bulk

if TYPE_CHECKING:
    from ..impact import ChangeImpact, ImpactReport
    from ..schema import Change

#: what `Store.bulk_load` accepts (see `lineage.store._bulk`)
BulkNodes = Iterable[NodeSpec] | Iterable[tuple[Any, ...]] | Any
BulkEdges = Iterable[EdgeSpec] | Iterable[tuple[Any, ...]] | Any

#: the depth of a walk given no depth: unbounded (walks are cycle-safe, so they end);
#: a backend may pass it on as a number
UNBOUNDED = 2**31 - 1
#: the default bound on traversal depth: none (kept as a name for older imports)
DEFAULT_MAX_DEPTH = UNBOUNDED
#: a token's last_used_at is rewritten at most this often, so authenticating is a read
TOKEN_USE_RESOLUTION_SECONDS = 60.0

_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,99}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(eq=False)
class _PendingAudit:
    """An audit entry declared by `Store.audited`, waiting for the write it records."""

    store: Store
    entry: AuditEntry
    written: bool = False


#: how `Store.apply(batch, merge=...)` combines a node's stored properties ({} for a new node)
#: with the batch's: (key, stored, given) -> the properties to write
MergeProperties = Callable[[str, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
#: how `Store.apply(batch, merge_edges=...)` combines an edge's stored properties ({} for a
#: new edge) with the batch's: ((src, dst, kind), stored, given) -> the properties to write
MergeEdgeProperties = Callable[[tuple[str, str, str], Mapping[str, Any], Mapping[str, Any]],
                               dict[str, Any]]

#: the audit entries of the `audited` blocks the running code is inside (per thread/task)
_PENDING_AUDIT: ContextVar[tuple[_PendingAudit, ...]] = ContextVar("lineage_pending_audit",
                                                                   default=())


class Store(ABC):
    """A lineage store. Open one with `lineage.connect(url)`; close it (or use `with`)."""

    url: str

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    #: whether the database runs inside this process (SQLite): its writes cost this
    #: process's CPU rather than waiting on a server
    embedded: bool = False

    def shared_url(self) -> str | None:
        """The URL another process opens this same store by; None when only this process
        can reach it (an in-memory database)."""
        return self.url

    # ---------------------------------------------------------------- writes

    def apply(self, batch: GraphBatch, *, merge: MergeProperties | None = None,
              merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        """Upsert every node, edge and schema snapshot of `batch` in one transaction.

        Nodes are matched by key, edges by (src, dst, kind); properties given replace the
        stored ones, or with `merge`, each node gets `merge(key, stored, given)` (stored is
        {} for a new node), and with `merge_edges` each edge of the batch gets
        `merge_edges((src, dst, kind), stored, given)`. The stored properties the callbacks
        see are read inside the write transaction, and no other writer can change those
        nodes (and the edges between them) until it commits (SQLite's write lock; a
        transaction-scoped advisory lock per node key on PostgreSQL), so concurrent writers
        merging into the same node (two events of one run) never lose each other's facts.

        Order inside the transaction: nodes are merged and written first; then
        `batch.removed_edges` is read (a `merge` callback may have added to it): those edges
        are deleted when stored (`ApplyResult.edges_removed`) and not written when also in
        `batch.edges`; an absent one is ignored. Then the other edges, then the schemas. A
        schema snapshot replaces the stored snapshot of that version.
        Re-applying the same batch changes nothing (`ApplyResult.changed` is False).
        Raises ValidationError when an edge or schema names a node that is neither in the
        batch nor in the store, or a key is longer than `lineage._keys.MAX_KEY_BYTES`
        (2,048 bytes of UTF-8, every backend); nothing is written then. An exception raised
        by a callback aborts the write: nothing is written.
        """
        referenced = {k for e in batch.edges.values() for k in (e.src, e.dst)}
        referenced |= set(batch.schemas)
        referenced |= set(batch.contracts) | set(batch.channels)
        referenced |= {asset for by_asset in batch.contracts.values() for asset in by_asset}
        outside = referenced - set(batch.nodes)
        # the same bound on every backend, before anything is read or written (a longer
        # key is a client's error, not a store failure)
        for key in (*batch.nodes, *outside):
            check_key_length(key)
        # an ingest's batch names only its own nodes: no read then
        missing = sorted(outside - self._existing(outside)) if outside else []
        if missing:
            raise ValidationError("the batch refers to nodes that exist neither in it nor in "
                                  "the store: " + ", ".join(missing[:10]))
        for key in batch.schemas:
            if kind_of(key) is not NodeKind.DATASET_VERSION:
                raise ValidationError(f"schema snapshots belong to dataset versions, not '{key}'")
        for key in [*batch.contracts, *batch.channels]:
            if kind_of(key) is not NodeKind.CONSUMER:
                raise ValidationError(f"contracts and channels belong to consumers, not '{key}'")
        return self._apply(batch, merge, merge_edges)

    def bulk_load(
        self, nodes: BulkNodes, edges: BulkEdges, *, chunk_size: int = 100_000
    ) -> tuple[int, int]:
        """Load many nodes and edges fast, in one transaction; returns (nodes written,
        edges written).

        Meant for initial loads and benchmarks. `nodes` and `edges` are each an iterable of
        `NodeSpec` / `EdgeSpec`, an iterable of plain tuples (nodes ``(key, kind, name[,
        namespace[, properties]])``, edges ``(src, dst, kind[, properties])``), or a polars
        DataFrame / pyarrow Table with those columns (`namespace` and `properties` optional;
        properties as JSON object text or a struct column). See `lineage.store._bulk`.

        Nodes already stored keep their properties and edges already stored are skipped (so
        loading the same input twice writes nothing the second time). Raises ValidationError,
        and writes nothing, when a kind is unknown, a value is missing, one load names the
        same node key or the same (src, dst, kind) twice, or an edge names a node that is
        neither in the load nor in the store. `chunk_size` bounds the rows a backend hands
        its driver at once. (Neo4j: a load too large for one transaction's memory is
        checked whole, then committed in parts; running it again completes an interrupted
        one. See lineage.store.neo4j.)
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValidationError("chunk_size must be a positive whole number")
        return self._bulk_load(_bulk.normalise(nodes, edges), chunk_size)

    # ---------------------------------------------------------------- reads

    def node(self, key: str) -> Node:
        """The node with this exact key; NotFound (with suggestions) otherwise."""
        found = self._nodes([key])
        if key not in found:
            raise NotFound(f"no node with key '{key}'", self._suggest(key))
        return found[key]

    def nodes(self, keys: Iterable[str]) -> dict[str, Node]:
        """The nodes among `keys` that exist, by key."""
        return self._nodes(list(dict.fromkeys(keys)))

    def exists(self, keys: Iterable[str]) -> set[str]:
        """The subset of `keys` that name stored nodes."""
        return self._existing(set(keys))

    def resolve(self, name: str, kinds: Sequence[NodeKind] | None = None) -> NodeRef:
        """Resolve a full key or an unambiguous suffix of one to a node.

        A suffix must start at a boundary of the key (after ``:``, ``/``, ``.``, ``@``):
        ``transactions.category`` names ``field:…/public.transactions.category`` but not
        ``…/public.old_transactions.category``. `kinds` narrows the candidates.
        Raises NotFound (with near misses) or AmbiguousName (with every candidate), and
        ValidationError for a name longer than any key (`lineage._keys.MAX_KEY_BYTES`).
        """
        text = name.strip() if isinstance(name, str) else ""
        if not text:
            raise ValidationError(f"a node name must be a non-empty string, got {name!r}")
        check_key_length(text, "node name")  # nothing longer is stored: say so, briefly
        wanted = set(kinds) if kinds else None
        candidates = self.candidates(text, kinds)
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise AmbiguousName(text, sorted(c.key for c in candidates))
        what = "/".join(sorted(k.value for k in wanted)) if wanted else "node"
        suggestions = self._suggest(text, wanted)
        if not suggestions and not self._find("", None, 1):
            # an empty store is the likeliest reason, and says what to do about it
            raise NotFound(f"{what} '{text}' not found: the store is empty; register a "
                           "manifest (`lineage register MANIFEST`) or ingest events first")
        raise NotFound(f"{what} '{text}' not found", suggestions)

    def candidates(self, name: str, kinds: Sequence[NodeKind] | None = None) -> list[NodeRef]:
        """Every node `name` could mean: the node with that exact key, else the nodes whose
        key ends with `name` at a boundary, and among several, the one whose identity is
        exactly `name` if there is one. `resolve` is this plus its errors."""
        wanted = set(kinds) if kinds else None
        if is_key(name):
            ref = self._ref(name)
            if ref is not None and (wanted is None or ref.kind in wanted):
                return [ref]
        matches = [
            ref
            # every candidate, however many: a cap would make resolution depend on the
            # store's size (the boundary check comes after the lookup)
            for ref in self._suffix_candidates(name, limit=UNBOUNDED)
            if matches_suffix(ref.key, name) and (wanted is None or ref.kind in wanted)
        ]
        exact = [c for c in matches if identity(c.key) == name]
        # an exact identity match beats longer keys that merely end the same way
        return exact if len(exact) == 1 else matches

    def find(
        self, text: str = "", kinds: Sequence[NodeKind] | None = None, limit: int = 100
    ) -> list[NodeRef]:
        """Nodes whose key contains `text` (case-insensitive), optionally of some kinds,
        ordered by key, at most `limit`."""
        if limit <= 0:
            raise ValidationError("limit must be positive")
        return self._find(text, list(kinds) if kinds else None, limit)

    def lifecycle_states(self, keys: Iterable[str]) -> dict[str, str]:
        """The `lifecycle` property (see lineage.lifecycle: `deprecated` or `deleted`) of the
        nodes among `keys` that have one, by key; live nodes and unknown keys are left out.
        Impact asks this of every node it reached, so a backend should answer it without
        building the nodes: the default reads them whole (correct, slower); the SQL backend
        overrides `_lifecycle_states` with one query reading that property alone."""
        given = list(dict.fromkeys(keys))
        return self._lifecycle_states(given) if given else {}

    def neighbours(self, name: str) -> list[tuple[EdgeSpec, NodeRef]]:
        """Every edge touching the node, with the node at its other end."""
        ref = self.resolve(name)
        return self._neighbours(ref.key)

    def impact(self, name: str, change: str | Change | Sequence[str | Change] | None = None,
               max_depth: int | None = None, *, precise: bool = False
               ) -> ImpactReport | ChangeImpact:
        """What is affected if `name` changes: `store.impact("orders.status")` gives the
        dependents grouped by kind, each with its path (an ImpactReport); with
        `change="type:string"` (or several changes) each dependent also gets a breaking /
        compatible / unknown verdict (a ChangeImpact). What only dataset-level lineage
        reaches (a job reading a dataset without column lineage) is included and marked
        `column_unknown` unless `precise`. See lineage.impact, written once for every
        backend."""
        from ..impact import change_impact, impact  # they build on Store: import when called
        from ..schema import Change as ChangeSpec

        if change is None:
            return impact(self, name, max_depth, precise=precise)
        changes = [change] if isinstance(change, str | ChangeSpec) else list(change)
        return change_impact(self, name, changes, max_depth, precise=precise)

    def downstream(self, name: str, max_depth: int | None = None, *,
                   skip_deleted: bool = False) -> Closure:
        """Everything that depends on the node, each with one shortest path from it; all of
        it unless `max_depth` is given (then `Closure.truncated` says whether it cut).

        `skip_deleted`: a node whose `lifecycle` property is `deleted` (lineage.lifecycle),
        the start excepted, is neither reached nor walked through, so what only it leads to
        is left out too; `Closure.retired` names the deleted nodes met and the deprecated
        nodes reached. Impact asks this; without it the walk sees the whole graph (history,
        provenance checks)."""
        return self._walk(name, "downstream", max_depth, skip_deleted)

    def upstream(self, name: str, max_depth: int | None = None, *,
                 skip_deleted: bool = False) -> Closure:
        """Everything the node depends on, each with one shortest path to it
        (`skip_deleted` as in `downstream`)."""
        return self._walk(name, "upstream", max_depth, skip_deleted)

    def subgraph(self, name: str, direction: Direction = "downstream",
                 max_depth: int | None = None, *, skip_deleted: bool = False) -> Subgraph:
        """The region `downstream` (or `upstream`) of the node, in one walk: its closure
        (exactly what `downstream`/`upstream` return, `skip_deleted` alike), every node's
        properties, and every edge among the region's nodes with its properties. For
        features that reason over the region (change impact) without a query per node or
        edge. The edges come in one order on every backend: by the walk's row of their near
        end (the start first, then by depth and key), then edge kind, then the far end's
        key; so a feature that iterates them answers the same on every store holding the
        same graph."""
        if direction not in ("downstream", "upstream"):
            raise ValidationError(f"direction must be 'downstream' or 'upstream', got "
                                  f"{direction!r}")
        return self._subgraph(self.resolve(name), direction, _depth(max_depth),
                              bool(skip_deleted))

    def _walk(self, name: str, direction: Direction, max_depth: int | None,
              skip_deleted: bool = False) -> Closure:
        return self._closure(self.resolve(name), direction, _depth(max_depth),
                             bool(skip_deleted))

    def adjacent(self, keys: Iterable[str], direction: Direction,
                 kinds: Iterable[EdgeKind]) -> list[tuple[str, EdgeKind, NodeRef]]:
        """The edges of `kinds` leaving (`downstream`) or entering (`upstream`) each node of
        `keys`, in one call: `(key, edge kind, node at the other end)`, sorted by key, edge
        kind, then the other end's key. Keys naming no node give nothing. For features that
        take one step from many nodes at once (impact's dataset-level fallback)."""
        if direction not in ("downstream", "upstream"):
            raise ValidationError(f"direction must be 'downstream' or 'upstream', got "
                                  f"{direction!r}")
        wanted = sorted({EdgeKind(k) for k in kinds})
        given = sorted(set(keys))
        if not wanted or not given:
            return []
        return sorted(self._adjacent(given, direction, wanted),
                      key=lambda row: (row[0], row[1].value, row[2].key))

    def _adjacent(self, keys: list[str], direction: Direction, kinds: list[EdgeKind]
                  ) -> list[tuple[str, EdgeKind, NodeRef]]:
        """`adjacent` for sorted, distinct keys and kinds (any order out). This default asks
        `_neighbours` per existing key; a backend answers it in one query."""
        found = []
        for key in self._existing(set(keys)):
            for edge, ref in self._neighbours(key):
                near = edge.src if direction == "downstream" else edge.dst
                if near == key and edge.kind in kinds and edge.src != edge.dst:
                    found.append((key, edge.kind, ref))
        return found

    def edges_among(self, keys: Iterable[str]) -> list[EdgeSpec]:
        """The edges whose both ends are in `keys` (for pictures and path analysis)."""
        return self._edges_among(set(keys))

    def schema(self, version: str) -> list[FieldSchema]:
        """The schema snapshot of a dataset version, fields in order ([] if none stored)."""
        ref = self.resolve(version, [NodeKind.DATASET_VERSION])
        return self._schema(ref.key)

    def dataset_consumers(self, fields: Iterable[str]) -> list[tuple[str, NodeRef, NodeRef]]:
        """Consumers of the datasets that hold `fields` (keys): (field, dataset, consumer).
        A consumer of a dataset depends on each of its fields."""
        return self._dataset_consumers(sorted(set(fields)))

    def closure_dataset_consumers(self, closure: Closure) -> list[tuple[str, NodeRef, NodeRef]]:
        """`dataset_consumers` of the fields of `closure`, its start included. A backend may
        answer from what its walk kept (node ids) rather than look each field up by key: a
        hub's closure holds 10^5 fields."""
        return self._closure_dataset_consumers(closure)

    def _closure_dataset_consumers(self, closure: Closure
                                   ) -> list[tuple[str, NodeRef, NodeRef]]:
        return self.dataset_consumers(closure.keys_of_kind(NodeKind.FIELD))

    def closure_datasets(self, closure: Closure) -> list[tuple[NodeRef, str]]:
        """The datasets holding a field of `closure` (its start included), each once with
        its field nearest the start: the first in the closure's (depth, key) order, the
        start before all. Sorted by dataset key. Like `closure_dataset_consumers`, a
        backend may answer from what its walk kept (node ids): a hub's closure holds 10^5
        fields. A backend may leave out a dataset that feeds nothing as a whole (no
        `read`, `trained_on` or `derived_from` edge leaves it or one of its versions):
        impact's dataset-level fallback (`lineage.impact.dataset_steps`) finds no step from
        it, and a hub's 10^4 datasets mostly are such. This default takes `adjacent` from
        the fields' keys and leaves out none."""
        return self._closure_datasets(closure)

    def _closure_datasets(self, closure: Closure) -> list[tuple[NodeRef, str]]:
        fields = closure.keys_of_kind(NodeKind.FIELD)  # the start first, then row order
        rank = {key: i for i, key in enumerate(fields)}
        nearest: dict[str, tuple[NodeRef, str]] = {}
        for field_key, _, dataset in self.adjacent(fields, "upstream", [EdgeKind.HAS_FIELD]):
            known = nearest.get(dataset.key)
            if known is None or rank[field_key] < rank[known[1]]:
                nearest[dataset.key] = (dataset, field_key)
        return [nearest[k] for k in sorted(nearest)]

    def closure_properties(self, closure: Closure, name: str,
                           kinds: Iterable[NodeKind]) -> dict[str, Any]:
        """The value of property `name` of the nodes of `closure` (its start included) of
        `kinds` that have it, by key (impact's quality checks: the `quality_checks` of the
        fields and datasets it reached). A backend may answer from what its walk kept (node
        ids), reading only the nodes whose properties mention `name`; this default reads
        the nodes of those kinds whole."""
        wanted = {NodeKind(k) for k in kinds}
        keys: list[str] = []
        for kind in wanted:
            keys += closure.keys_of_kind(kind)
        return self._properties_named(keys, name)

    def _properties_named(self, keys: list[str], name: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for at in range(0, len(keys), 10_000):
            for key, node in self._nodes(list(dict.fromkeys(keys[at:at + 10_000]))).items():
                if name in node.properties:
                    found[key] = node.properties[name]
        return found

    def contracts(self, consumers: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Stored contracts: consumer key -> asset key -> contract."""
        return self._contracts(sorted(set(consumers)))

    def channels(self, consumers: Iterable[str]) -> dict[str, list[ChannelSpec]]:
        """Stored notification channels by consumer key."""
        return self._channels(sorted(set(consumers)))

    def stats(self) -> dict[str, int]:
        """Node counts by kind, plus `edges`."""
        return self._stats()

    # ---------------------------------------------------------------- record assertions

    def write_assertions(
        self, batch: AssertionBatch, arrays: AssertionArrays, nodes: GraphBatch | None = None
    ) -> AssertionBatch:
        """Store one batch of record assertions (and `nodes`, e.g. a new agent) in one
        transaction; returns the batch with its id. The field, agent and dataset version
        must exist (or be in `nodes`); confidences must be in [0, 1] or NaN."""
        n = len(arrays)
        columns = [arrays.entity, arrays.value, arrays.confidence]
        if arrays.reviewed_batch is not None or arrays.reviewed_row is not None:
            if arrays.reviewed_batch is None or arrays.reviewed_row is None:
                raise ValidationError("reviewed_batch and reviewed_row go together")
            columns += [arrays.reviewed_batch, arrays.reviewed_row]
        if n == 0 or batch.rows != n or any(len(c) != n for c in columns):
            raise ValidationError(f"an assertion batch needs rows, all columns of {batch.rows}")
        conf = arrays.confidence
        bad = ~np.isnan(conf) & ((conf < 0) | (conf > 1))
        if bad.any():
            raise ValidationError(f"confidence must be in [0, 1]: row {int(np.argmax(bad))} "
                                  f"has {float(conf[np.argmax(bad)])}")
        pending = set(nodes.nodes) if nodes else set()
        needed = {k for k in (batch.field, batch.agent, batch.dataset_version) if k}
        missing = sorted(needed - pending - self._existing(needed - pending))
        if missing:
            raise ValidationError(f"record assertions refer to unknown nodes: {', '.join(missing)}")
        return self._write_assertions(batch, arrays, nodes)

    def assertion_batches(
        self, *, concepts: Iterable[str] | None = None, fields: Iterable[str] | None = None
    ) -> list[AssertionBatch]:
        """Stored batches whose concept is in `concepts` or whose field is in `fields`
        (every batch when both are None), oldest first."""
        return self._assertion_batches(
            None if concepts is None else sorted(set(concepts)),
            None if fields is None else sorted(set(fields)),
        )

    def assertion_arrays(self, batch_ids: Iterable[int]) -> dict[int, AssertionArrays]:
        """The rows of the given batches, by batch id."""
        found = self._assertion_columns(sorted(set(batch_ids)), list(ASSERTION_COLUMNS))
        return {i: AssertionArrays(**columns) for i, columns in found.items()}

    def assertion_columns(self, batch_ids: Iterable[int],
                          columns: Iterable[str]) -> dict[int, dict[str, np.ndarray]]:
        """Only the named columns of the given batches' rows, by batch id (a reader that
        needs two of the five columns need not load the rest). Columns are those of
        AssertionArrays: `entity`, `value` (int64), `confidence` (float32),
        `reviewed_batch`, `reviewed_row` (int64; left out for a batch that reviews
        nothing). Unknown batch ids are left out; ValidationError for an unknown column."""
        wanted = list(dict.fromkeys(columns))
        unknown = [c for c in wanted if c not in ASSERTION_COLUMNS]
        if unknown or not wanted:
            raise ValidationError(f"assertion columns are {', '.join(ASSERTION_COLUMNS)}; "
                                  f"got {', '.join(map(repr, unknown)) or 'none'}")
        return self._assertion_columns(sorted(set(batch_ids)), wanted)

    # ---------------------------------------------------------------- notification outbox

    def enqueue(self, notifications: Iterable[NotificationSpec]) -> int:
        """Put notifications in the outbox, pending and due now, in one transaction; returns
        how many were added.

        A notification whose `idempotency_key` is already in the outbox (in any state), or
        repeats an earlier one of the same call, is skipped: enqueueing the same thing twice
        is a no-op. Each must name a channel its consumer has (by kind and target); when one
        does not, ValidationError is raised and nothing is written. To enqueue together with
        graph changes, put the notifications in `GraphBatch.notifications` and `apply` it.
        """
        specs = list(notifications)
        if any(not isinstance(n, NotificationSpec) for n in specs):
            raise ValidationError("enqueue takes NotificationSpec objects")
        unique: dict[str, NotificationSpec] = {}
        for n in specs:
            check_key_length(n.idempotency_key, "idempotency key")
            unique.setdefault(n.idempotency_key, n)
        return self._enqueue(list(unique.values())) if unique else 0

    def claim(self, limit: int = 100, lease_seconds: float = 60.0,
              now: datetime | None = None) -> list[OutboxItem]:
        """Lease up to `limit` due notifications for delivery, oldest due first.

        Due: pending, `next_attempt_at` <= now, and not leased (or the lease expired). Each
        claimed item is leased until now + `lease_seconds`; its `attempts` do not change
        (they count recorded outcomes: see `settle`). Concurrent claimers (processes,
        machines) never get the same item while its lease holds. Settle each item with
        `settle` (or `mark_delivered` / `mark_failed`) before the lease ends; an item left
        unsettled (its deliverer died) is claimed again.
        """
        if not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        if not lease_seconds > 0:
            raise ValidationError(f"lease_seconds must be positive, got {lease_seconds!r}")
        return self._claim(limit, float(lease_seconds), _utc(now))

    def settle(self, outcomes: Iterable[DeliveryOutcome], now: datetime | None = None) -> int:
        """Record how delivery attempts ended, all in one transaction; returns how many
        items changed.

        Each outcome counts one attempt: the item's `attempts` grow by one when the outcome
        changes it. Delivered items become `delivered` (from pending, or from dead after a
        redrive race). A failure of a pending item records the error and clears its lease;
        the item is retried at `retry_at`, or becomes `dead` when `retry_at` is None. A
        failure never undoes a delivery: outcomes for items no longer pending are ignored
        (and count no attempt). Deliverers call this as outcomes come, not once per claimed
        batch, so a crash loses only the outcomes of what was being sent.
        """
        items = list(outcomes)
        for outcome in items:
            if not isinstance(outcome, DeliveryOutcome) or outcome.id <= 0:
                raise ValidationError(f"settle takes DeliveryOutcome objects, got {outcome!r}")
        if not items:
            return 0
        items = [DeliveryOutcome(o.id, None if o.error is None else str(o.error)[:2000],
                                 None if o.retry_at is None else _utc(o.retry_at))
                 for o in items]
        return self._settle(items, _utc(now))

    def mark_delivered(self, ids: Iterable[int], now: datetime | None = None) -> int:
        """Mark outbox items delivered; returns how many changed (see `settle`)."""
        return self.settle([DeliveryOutcome(_outbox_id(i)) for i in ids], now)

    def mark_failed(self, id: int, error: str, next_attempt_at: datetime | None,
                    now: datetime | None = None) -> bool:
        """Record a failed attempt of a pending item: retried at `next_attempt_at`, or dead
        when it is None. Returns whether the item changed (see `settle`)."""
        if not isinstance(error, str) or not error:
            raise ValidationError("a failure needs an error message")
        return self.settle([DeliveryOutcome(_outbox_id(id), error, next_attempt_at)], now) > 0

    def outbox_status(self) -> dict[str, int]:
        """How many notifications the outbox holds in each state (every state present)."""
        counts = self._outbox_status()
        return {state: counts.get(state, 0) for state in OUTBOX_STATES}

    def outbox(self, state: OutboxState | None = None, limit: int = 100) -> list[OutboxItem]:
        """Notifications in the outbox, oldest first: all of them or those in `state`."""
        if state is not None and state not in OUTBOX_STATES:
            raise ValidationError(f"unknown outbox state '{state}'; states are "
                                  + ", ".join(OUTBOX_STATES))
        if not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        return self._outbox(state, limit)

    def redrive(self, ids: Iterable[int] | None = None, now: datetime | None = None) -> int:
        """Give dead notifications another round: back to pending, due now, attempts reset
        to 0 (the last error is kept until the next attempt). `ids` None: every dead one;
        ids that are not dead are left as they are. Returns how many were redriven."""
        wanted = None if ids is None else sorted({_outbox_id(i) for i in ids})
        if wanted == []:
            return 0
        return self._redrive(wanted, _utc(now))

    # ---------------------------------------------------------------- API tokens

    def add_token(self, name: str, token_hash: str, scopes: Iterable[str],
                  origins: Iterable[Origin | str] = (), now: datetime | None = None
                  ) -> TokenInfo:
        """Store a new API token: its name, the SHA-256 hex digest of its secret (never the
        secret), its scopes and the record origins it may assert. `lineage.auth.create_token`
        makes the secret and calls this.

        Names are 1-100 characters (letters, digits, `._@:/-`) and unique, revoked tokens
        included: ConflictError when the name is taken. Scopes come from
        `lineage.auth.SCOPES`; a token with the `assert` scope lists at least one origin, and
        only such a token lists origins (ValidationError otherwise).
        """
        if not isinstance(name, str) or not _TOKEN_NAME.match(name):
            raise ValidationError(f"a token name is 1-100 letters, digits or ._@:/- starting "
                                  f"with a letter or digit, got {name!r}")
        if not isinstance(token_hash, str) or not _SHA256_HEX.match(token_hash):
            raise ValidationError("a token is stored as the SHA-256 hex digest of its secret")
        scope_list = _scopes(scopes)
        origin_list = _origins(origins)
        if "assert" in scope_list and not origin_list:
            raise ValidationError("a token with the assert scope must list the origins it may "
                                  "assert (observed, human_labelled, ai_inferred)")
        if origin_list and "assert" not in scope_list:
            raise ValidationError("origins only apply to tokens with the assert scope; add it "
                                  "or drop the origins")
        if self._token(name, None) is not None:
            raise ConflictError(f"a token named '{name}' already exists (names stay taken "
                                "after revocation); choose another name")
        return self._add_token(name, token_hash, scope_list, origin_list, _utc(now))

    def tokens(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """Every stored token (without secrets), oldest first."""
        return self._tokens(bool(include_revoked))

    def token(self, name: str) -> TokenInfo:
        """The token named `name`; NotFound (with near names) otherwise."""
        found = self._token(name, None) if isinstance(name, str) else None
        if found is None:
            names = [t.name for t in self._tokens(True)]
            raise NotFound(f"no API token named {name!r}",
                           difflib.get_close_matches(str(name), names, n=3, cutoff=0.5))
        return found

    def use_token(self, token_hash: str, now: datetime | None = None) -> TokenInfo:
        """The token whose secret hashes to `token_hash`, its use recorded: `last_used_at`
        becomes now when it is older than TOKEN_USE_RESOLUTION_SECONDS, so most calls only
        read. NotFound when no token has this hash. A revoked token is returned untouched
        (with its `revoked_at`): refusing it is the caller's business."""
        if not isinstance(token_hash, str) or not _SHA256_HEX.match(token_hash):
            raise NotFound("no API token matches")
        found = self._token(None, token_hash)
        if found is None:
            raise NotFound("no API token matches")
        when = _utc(now)
        last = found.last_used_at
        if found.active and (last is None or
                             (when - last).total_seconds() >= TOKEN_USE_RESOLUTION_SECONDS):
            self._touch_token(found.id, when)
            found = TokenInfo(found.id, found.name, found.scopes, found.origins,
                              found.created_at, found.revoked_at, when)
        return found

    def revoke_token(self, name: str, now: datetime | None = None) -> TokenInfo:
        """Revoke the token named `name` from now on; NotFound when there is none. Revoking a
        revoked token changes nothing and returns it as it is."""
        found = self.token(name)
        if not found.active:
            return found
        revoked = self._revoke_token(found.id, _utc(now))
        return revoked or self.token(name)

    # ---------------------------------------------------------------- the audit log

    def audit(self, principal: str, action: str, target: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Append one entry to the audit log now, in its own transaction. To record a write
        in the very transaction that makes it, use `audited`."""
        self._audit([_audit_entry(principal, action, target, detail)])

    @contextmanager
    def audited(self, principal: str, action: str, target: str | None = None,
                detail: dict[str, Any] | None = None) -> Iterator[None]:
        """Record the writes made inside the block (through this store, in this thread or
        task) in the audit log, in the same transaction as the first of them: the entry and
        the write commit together or not at all. A block that writes nothing still leaves its
        entry, written on its own when the block ends; a block that raises leaves none.

            with store.audited("airflow-prod", "ingest", "job:airflow/etl", {"events": 2}):
                openlineage.ingest(store, events, principal="airflow-prod")
        """
        pending = _PendingAudit(self, _audit_entry(principal, action, target, detail))
        token = _PENDING_AUDIT.set((*_PENDING_AUDIT.get(), pending))
        try:
            yield
        finally:
            _PENDING_AUDIT.reset(token)
        if not pending.written:
            self._audit([pending.entry])
            pending.written = True

    def audit_log(self, limit: int = 100, since: datetime | None = None) -> list[AuditEntry]:
        """The newest `limit` audit entries (at or after `since`, when given), newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        return self._audit_log(limit, None if since is None else _utc(since))

    def _pending_audit(self) -> list[_PendingAudit]:
        """The entries of the enclosing `audited` blocks still waiting for a write through
        this store. A backend writes them in its next write transaction and, once that has
        committed, marks them `written`."""
        return [p for p in _PENDING_AUDIT.get() if p.store is self and not p.written]

    # ---------------------------------------------------------------- copying a whole store
    # What `lineage.copy_store` needs beyond the methods above: tokens with their hashes, and
    # writes that keep the times and states of copied audit entries and outbox items.

    def tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]:
        """Every token (revoked ones too), oldest first, with the SHA-256 hex digest of its
        secret (never the secret itself): what another store needs to accept it."""
        return self._tokens_with_hashes()

    def import_tokens(self, tokens: Iterable[tuple[TokenInfo, str]]) -> int:
        """Store tokens copied from another store as they were (name, hash, scopes,
        origins, created/revoked/last-used times); a token whose name is already stored
        is skipped. One transaction; returns how many were added."""
        items = list(tokens)
        for info, token_hash in items:
            if not isinstance(info, TokenInfo) or not _SHA256_HEX.match(str(token_hash)):
                raise ValidationError("import_tokens takes (TokenInfo, SHA-256 hex) pairs")
        return self._import_tokens(items) if items else 0

    def import_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Append audit entries copied from another store, each with its own `at`; an
        entry equal to a stored one (at, principal, action, target, detail) is skipped.
        One transaction; returns how many were added."""
        items = list(entries)
        if any(not isinstance(e, AuditEntry) or e.at is None for e in items):
            raise ValidationError("import_audit takes AuditEntry objects with their `at`")
        return self._import_audit(items) if items else 0

    def import_outbox(self, items: Iterable[OutboxItem]) -> int:
        """Put outbox items copied from another store in as they were (state, attempts,
        times, last error, lease); an item whose idempotency key is stored is skipped.
        Each item's consumer must have its channel (kind and target), else ValidationError
        and nothing is written. One transaction; returns how many were added."""
        given = list(items)
        if any(not isinstance(i, OutboxItem) for i in given):
            raise ValidationError("import_outbox takes OutboxItem objects")
        return self._import_outbox(given) if given else 0

    # ---------------------------------------------------------------- helpers

    def _suggest(self, text: str, kinds: set[NodeKind] | None = None) -> list[str]:
        """Near misses for an unknown name: keys sharing its leading part, closest first."""
        head = text.rsplit(".", 1)[0] if "." in text else text[:3]
        kind_list = list(kinds) if kinds else None
        pool = self._find(head, kind_list, 2000) or self._find("", kind_list, 2000)
        return suggest(text, [r.key for r in pool])

    # ---------------------------------------------------------------- backend hooks

    @abstractmethod
    def _apply(self, batch: GraphBatch, merge: MergeProperties | None,
               merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        """Write a checked batch in one transaction, as `apply` states (callbacks, order,
        `removed_edges`)."""

    @abstractmethod
    def _bulk_load(self, load: _bulk.BulkInput, chunk_size: int) -> tuple[int, int]:
        """Write a checked load in one transaction: new nodes, then edges not yet stored;
        ValidationError (nothing written: the transaction rolls back) when an edge
        endpoint is neither loaded nor stored."""

    @abstractmethod
    def _nodes(self, keys: list[str]) -> dict[str, Node]: ...

    @abstractmethod
    def _existing(self, keys: set[str]) -> set[str]: ...

    def _lifecycle_states(self, keys: list[str]) -> dict[str, str]:
        return {k: state for k, n in self._nodes(keys).items()
                if isinstance(state := n.properties.get("lifecycle"), str)}

    def _ref(self, key: str) -> NodeRef | None:
        """The node with this key, as a reference (every walk resolves its start: a backend
        may answer this cheaper than `_nodes`)."""
        found = self._nodes([key])
        return found[key].ref() if key in found else None

    @abstractmethod
    def _suffix_candidates(self, suffix: str, limit: int) -> list[NodeRef]:
        """Nodes whose key ends with `suffix` (boundary checks happen above)."""

    @abstractmethod
    def _find(self, text: str, kinds: list[NodeKind] | None, limit: int) -> list[NodeRef]: ...

    @abstractmethod
    def _neighbours(self, key: str) -> list[tuple[EdgeSpec, NodeRef]]: ...

    @abstractmethod
    def _closure(self, start: NodeRef, direction: Direction, max_depth: int,
                 skip_deleted: bool = False) -> Closure:
        """Closure computed inside the database: depth-bounded (UNBOUNDED: complete),
        terminating on cycles, one shortest path per reached node. `Closure.truncated` is
        True exactly when `max_depth` left out a node: an edge leads from the deepest level
        to a node not reached (a deleted node skipped is not one).

        `skip_deleted`: a node other than the start whose properties hold `lifecycle`
        `deleted` is neither reached nor expanded (read with the level that reaches it,
        not by a query per node); `WalkTable.retired` maps each such node met, and each
        reached node whose `lifecycle` is `deprecated`, to that state. Shortest paths are
        those of the graph without the deleted nodes."""

    @abstractmethod
    def _subgraph(self, start: NodeRef, direction: Direction, max_depth: int,
                  skip_deleted: bool = False) -> Subgraph:
        """`_closure` plus the region's node properties and the edges among its nodes
        (none to a skipped deleted node)."""

    @abstractmethod
    def _edges_among(self, keys: set[str]) -> list[EdgeSpec]: ...

    @abstractmethod
    def _schema(self, version_key: str) -> list[FieldSchema]: ...

    @abstractmethod
    def _stats(self) -> dict[str, int]: ...

    @abstractmethod
    def _dataset_consumers(self, fields: list[str]) -> list[tuple[str, NodeRef, NodeRef]]: ...

    @abstractmethod
    def _contracts(self, consumers: list[str]) -> dict[str, dict[str, dict[str, Any]]]: ...

    @abstractmethod
    def _channels(self, consumers: list[str]) -> dict[str, list[ChannelSpec]]: ...

    @abstractmethod
    def _write_assertions(self, batch: AssertionBatch, arrays: AssertionArrays,
                          nodes: GraphBatch | None) -> AssertionBatch: ...

    @abstractmethod
    def _assertion_batches(self, concepts: list[str] | None,
                           fields: list[str] | None) -> list[AssertionBatch]: ...

    @abstractmethod
    def _assertion_columns(self, batch_ids: list[int],
                           columns: list[str]) -> dict[int, dict[str, np.ndarray]]: ...

    @abstractmethod
    def _enqueue(self, notifications: list[NotificationSpec]) -> int: ...

    @abstractmethod
    def _claim(self, limit: int, lease_seconds: float, now: datetime) -> list[OutboxItem]:
        """Atomic against concurrent claimers: no item is leased to two of them at once."""

    @abstractmethod
    def _settle(self, outcomes: list[DeliveryOutcome], now: datetime) -> int: ...

    @abstractmethod
    def _outbox_status(self) -> dict[str, int]: ...

    @abstractmethod
    def _outbox(self, state: OutboxState | None, limit: int) -> list[OutboxItem]: ...

    @abstractmethod
    def _redrive(self, ids: list[int] | None, now: datetime) -> int: ...

    @abstractmethod
    def _add_token(self, name: str, token_hash: str, scopes: list[str], origins: list[str],
                   now: datetime) -> TokenInfo: ...

    @abstractmethod
    def _tokens(self, include_revoked: bool) -> list[TokenInfo]: ...

    @abstractmethod
    def _token(self, name: str | None, token_hash: str | None) -> TokenInfo | None:
        """The token with this name, or else with this hash; None when there is none."""

    @abstractmethod
    def _touch_token(self, token_id: int, now: datetime) -> None:
        """Set last_used_at; never joins a pending audit entry (it is not a write to audit)."""

    @abstractmethod
    def _revoke_token(self, token_id: int, now: datetime) -> TokenInfo | None: ...

    @abstractmethod
    def _audit(self, entries: list[AuditEntry]) -> None:
        """Append entries in one transaction of their own, `at` = now."""

    @abstractmethod
    def _audit_log(self, limit: int, since: datetime | None) -> list[AuditEntry]: ...

    @abstractmethod
    def _tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]: ...

    @abstractmethod
    def _import_tokens(self, tokens: list[tuple[TokenInfo, str]]) -> int: ...

    @abstractmethod
    def _import_audit(self, entries: list[AuditEntry]) -> int: ...

    @abstractmethod
    def _import_outbox(self, items: list[OutboxItem]) -> int: ...


def _depth(max_depth: int | None) -> int:
    depth = UNBOUNDED if max_depth is None else max_depth
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValidationError(f"depth must be a whole number >= 0, got {max_depth!r}")
    return min(depth, UNBOUNDED)


def _utc(value: datetime | None) -> datetime:
    """`value` (or now) as an aware UTC time; a naive time is refused, not guessed."""
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"times must be timezone-aware datetimes, got {value!r}")
    return value.astimezone(UTC)


def _outbox_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"outbox ids are positive whole numbers, got {value!r}")
    return value


def _scopes(scopes: Iterable[str]) -> list[str]:
    given = [scopes] if isinstance(scopes, str) else list(scopes)
    unknown = [s for s in given if s not in SCOPES]
    if unknown or not given:
        what = f"unknown scope {unknown[0]!r}" if unknown else "a token needs at least one scope"
        raise ValidationError(f"{what}; scopes are: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in given]


def _origins(origins: Iterable[Origin | str]) -> list[str]:
    given = [origins] if isinstance(origins, str) else list(origins)
    result = []
    for origin in given:
        try:
            result.append(Origin(origin).value)
        except ValueError:
            raise ValidationError(f"unknown origin {origin!r}; origins are: "
                                  f"{', '.join(o.value for o in Origin)}") from None
    return [o.value for o in Origin if o.value in result]


def _audit_entry(principal: str, action: str, target: str | None,
                 detail: dict[str, Any] | None) -> AuditEntry:
    for what, value, longest in (("principal", principal, 200), ("action", action, 100)):
        if not isinstance(value, str) or not value.strip() or len(value) > longest:
            raise ValidationError(f"an audit {what} is a non-empty string of at most {longest} "
                                  f"characters, got {value!r}")
    if target is not None and (not isinstance(target, str) or len(target) > 2000):
        raise ValidationError("an audit target is a string of at most 2000 characters")
    try:  # stored in a JSON column: say so now, not in the middle of the write it records
        plain = json.loads(json.dumps(detail or {}, allow_nan=False, default=str))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"audit detail must be plain JSON: {exc}") from None
    if not isinstance(plain, dict):
        raise ValidationError("audit detail must be a mapping")
    return AuditEntry(principal=principal, action=action, target=target, detail=plain)
