"""Value types and constants every part of the Store interface shares.

The interfaces (`graph`, `records`, `operations`), the composed `Store` (`base`) and the
features written against them (`lineage.impact`, ...) import these from here, so that no
feature has to import `base` (which imports the features it offers as methods).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._model import EdgeSpec, NodeSpec

#: what `Store.bulk_load` accepts (see `lineage.store._bulk`)
BulkNodes = Iterable[NodeSpec] | Iterable[tuple[Any, ...]] | Any
BulkEdges = Iterable[EdgeSpec] | Iterable[tuple[Any, ...]] | Any

#: the depth of a walk given no depth: unbounded (walks are cycle-safe, so they end);
#: a backend may pass it on as a number
UNBOUNDED = 2**31 - 1
#: the default bound on traversal depth: none (kept as a name for older imports)
DEFAULT_MAX_DEPTH = UNBOUNDED

#: how `Store.apply(batch, merge=...)` combines a node's stored properties ({} for a new node)
#: with the batch's: (key, stored, given) -> the properties to write
MergeProperties = Callable[[str, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
#: how `Store.apply(batch, merge_edges=...)` combines an edge's stored properties ({} for a
#: new edge) with the batch's: ((src, dst, kind), stored, given) -> the properties to write
MergeEdgeProperties = Callable[[tuple[str, str, str], Mapping[str, Any], Mapping[str, Any]],
                               dict[str, Any]]
#: what `Store.apply(batch, run_ids=..., on_runs=...)` tells of the runIds it was asked about:
#: {runId: the keys of the stored runs that runId names (`Store.candidates(runId, [run])`)}
OnRuns = Callable[[dict[str, list[str]]], None]

# `lineage.store.base` re-exports exactly these, so a name added here is importable there too
__all__ = ["BulkNodes", "BulkEdges", "UNBOUNDED", "DEFAULT_MAX_DEPTH", "MergeProperties",
           "MergeEdgeProperties", "OnRuns"]
