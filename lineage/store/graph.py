"""The graph part of the Store interface: nodes, edges, schema snapshots, consumers'
contracts, and the walks over them (closure with paths, suffix resolution, subgraph).

Features that only read or write the lineage graph (impact, rendering, registration) are
written against `GraphStore`. Public methods check their input once, here, and call the
backend's hooks (the abstract `_`-prefixed methods): a backend implements storage and the
graph primitives that must run inside the database to scale (closure with paths, suffix
lookup, bulk load).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import AmbiguousName, NotFound, ValidationError
from .._keys import check_key_length, identity, is_key, kind_of, matches_suffix, suggest
from .._model import (
    ApplyResult,
    Closure,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRef,
    Subgraph,
)
from .._vocabulary import EdgeKind, NodeKind
from .common import (
    UNBOUNDED,
    BulkEdges,
    BulkNodes,
    MergeEdgeProperties,
    MergeProperties,
    OnRuns,
)

if TYPE_CHECKING:
    from . import _bulk


class GraphStore(ABC):
    """The lineage graph of a store: what `apply` and `bulk_load` write and every read and
    walk over it. A consumer's contracts belong here (they are what impact judges a change
    against); its channels, the outbox, tokens and audit are `OperationsStore`'s."""

    # ---------------------------------------------------------------- writes

    def apply(self, batch: GraphBatch, *, merge: MergeProperties | None = None,
              merge_edges: MergeEdgeProperties | None = None, run_ids: Collection[str] = (),
              on_runs: OnRuns | None = None) -> ApplyResult:
        """Upsert every node, edge and schema snapshot of `batch` in one transaction.

        Nodes are matched by key, edges by (src, dst, kind); properties given replace the
        stored ones, or with `merge`, each node gets `merge(key, stored, given)` (stored is
        {} for a new node; called in the order of `batch.nodes`, so a callback may carry
        what it merged of one node to those after it), and with `merge_edges` each edge of
        the batch gets `merge_edges((src, dst, kind), stored, given)`. The stored properties
        the callbacks see are read inside the write transaction, and no other writer can
        change those nodes (and the edges between them) until it commits (SQLite's write
        lock; a transaction-scoped advisory lock per node key on PostgreSQL), so concurrent
        writers merging into the same node (two events of one run) never lose each other's
        facts.

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

        `run_ids` with `on_runs`: before anything is written (and before the audit entries
        of the enclosing `Store.audited` blocks are rendered, so `on_runs` may still add to
        their `detail`), `on_runs({runId: [stored run keys]})` is called with, for each
        runId, the keys `candidates(runId, [NodeKind.RUN])` would give. An ingest checks
        there whether another job's run holds a new run's runId; a SQL backend reads them
        with the transaction's other reads (no round trip of their own), others before it.
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
        if on_runs is not None:
            return self._apply_finding_runs(batch, merge, merge_edges, sorted(set(run_ids)),
                                            on_runs)
        return self._apply(batch, merge, merge_edges)

    def bulk_load(
        self, nodes: BulkNodes, edges: BulkEdges, *, chunk_size: int = 100_000
    ) -> tuple[int, int]:
        """Load many nodes and edges fast, in one transaction; returns (nodes written,
        edges written), counted as written: should another client delete an end node
        meanwhile, the load either fails whole (SQL: ConflictError) or leaves out that
        node's edges and does not count them (Neo4j).

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
        from . import _bulk  # polars: only a bulk load pays for it

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
            run_id = identity(name) if name.startswith(f"{NodeKind.RUN.value}:") else ""
            if ref is None and run_id and "/" not in run_id:
                # `run:{runId}`, a run's key before keys held the job: the runId's runs
                name, wanted = run_id, {NodeKind.RUN} & (wanted or {NodeKind.RUN})
        matches = [
            ref
            # every candidate, however many: a cap would make resolution depend on the
            # store's size (the boundary check comes after the lookup)
            for ref in self._suffix_candidates(name, limit=UNBOUNDED)
            if matches_suffix(ref.key, name) and (wanted is None or ref.kind in wanted)
        ]
        return _best_candidates(name, matches)

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

    def stats(self) -> dict[str, int]:
        """Node counts by kind, plus `edges`."""
        return self._stats()

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

    def _apply_finding_runs(self, batch: GraphBatch, merge: MergeProperties | None,
                            merge_edges: MergeEdgeProperties | None, run_ids: list[str],
                            on_runs: OnRuns) -> ApplyResult:
        """`_apply` with `apply`'s `run_ids` and `on_runs`. This default looks the runs up
        first (a read of its own per runId), then writes; a backend that can read them in
        its write transaction overrides it."""
        on_runs({rid: [ref.key for ref in self.candidates(rid, [NodeKind.RUN])]
                 for rid in run_ids})
        return self._apply(batch, merge, merge_edges)

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


def _depth(max_depth: int | None) -> int:
    depth = UNBOUNDED if max_depth is None else max_depth
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValidationError(f"depth must be a whole number >= 0, got {max_depth!r}")
    return min(depth, UNBOUNDED)


def _best_candidates(name: str, matches: list[NodeRef]) -> list[NodeRef]:
    """`candidates`' choice among the nodes whose key ends with `name` at a boundary."""
    exact = [c for c in matches if identity(c.key) == name]
    # an exact identity match beats longer keys that merely end the same way
    return exact if len(exact) == 1 else matches


def run_candidates(run_id: str, rows: Iterable[tuple[str, str, str]]) -> list[str]:
    """The keys `candidates(run_id, [NodeKind.RUN])` gives, from the (key, kind, name) rows
    of a backend's suffix lookup of `run_id` (every node whose key ends with it). For a
    backend that reads them in its own way (`_apply_finding_runs`); `run_id` is no key."""
    matches = [NodeRef(k, NodeKind(kind), n) for k, kind, n in rows
               if kind == NodeKind.RUN.value and matches_suffix(k, run_id)]
    return [ref.key for ref in _best_candidates(run_id, matches)]
