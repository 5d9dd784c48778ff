"""The Store interface: every storage operation once, with its contract.

`Store` composes the interfaces by concern, each in its own module with its contracts:

- `lineage.store.graph.GraphStore`: nodes, edges, schema snapshots, contracts, the walks;
- `lineage.store.records.RecordStore`: record assertions;
- `lineage.store.operations.OperationsStore`: lifecycle, channels and the outbox, API
  tokens, the audit log, copying.

A feature type-hints the part it uses (impact and lifecycle take a `GraphStore`, provenance
a `GraphRecordStore`, the consumer listing a `GraphOperationsStore`); `Store` is all of them,
and what `lineage.connect` returns. A backend implements every part's hooks (the abstract
`_`-prefixed methods), or hands some of them on (the Neo4j store gives records and
operations to a SQL store beside its graph). Shared value types live in
`lineage.store.common`; every name in its `__all__` stays importable from here for older
imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import common
from .common import *  # noqa: F403 (all of common.__all__, re-exported: see above)
from .graph import GraphStore
from .operations import TOKEN_USE_RESOLUTION_SECONDS, OperationsStore
from .records import RecordStore

if TYPE_CHECKING:
    from ..impact import ChangeImpact, ImpactReport
    from ..schema import Change


class GraphRecordStore(GraphStore, RecordStore):
    """The graph and the record assertions: what provenance uses (records name fields,
    datasets and agents of the graph)."""


class GraphOperationsStore(GraphStore, OperationsStore):
    """The graph and the operations part: what the consumer listing uses (channels)."""


class Store(GraphRecordStore, GraphOperationsStore):
    """A lineage store. Open one with `lineage.connect(url)`; close it (or use `with`)."""

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


__all__ = ["Store", "GraphStore", "RecordStore", "OperationsStore",
           "TOKEN_USE_RESOLUTION_SECONDS"]
__all__ += common.__all__
