"""Copy a whole store to another, between any two backends (`lineage copy`).

Written against the Store public interface only, so it works for every pair of backends:
the graph (nodes with their properties, edges, schema snapshots), consumers' contracts and
channels, record assertions, the notification outbox with each item's state, API tokens
(as hashes) and the audit log.

Idempotent: every part is matched against what the destination already holds, so a second
run writes nothing (its report says `changed: false`). Nodes and edges are upserted (the
source's properties win); an assertion batch already present (same field, concept,
origin, agent, times, rows, source and principal) is not written again; outbox items are
matched by idempotency key, tokens by name, audit entries by all their fields.
What a copy does not keep: node timestamps and assertion batches' `created_at` (the
destination's own bookkeeping), and batch ids (reviews are re-pointed at the new ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ._model import AssertionArrays, AssertionBatch, GraphBatch, NodeSpec
from ._vocabulary import NodeKind
from .store.base import Store

#: nodes (or schemas, or edges) per `apply` when the destination is not empty
CHUNK = 2000
#: "everything" for the reads that take a limit
_ALL = 2**62


@dataclass
class CopyReport:
    """How much a copy wrote, by part (0 everywhere when the destination already had it)."""

    nodes: int = 0
    edges: int = 0
    schemas: int = 0
    consumers: int = 0
    assertion_batches: int = 0
    assertion_rows: int = 0
    outbox_items: int = 0
    tokens: int = 0
    audit_entries: int = 0

    @property
    def changed(self) -> bool:
        return any(asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def copy_store(src: Store, dst: Store,
               progress: Callable[[str], None] | None = None) -> CopyReport:
    """Copy everything `src` holds into `dst` (see the module docstring); returns what was
    written. Raises what the stores raise (StoreError when one is unreachable); each part
    is written in its own transactions, so an interrupted copy is completed by running it
    again."""
    say = progress or (lambda _: None)
    report = CopyReport()
    say("graph")
    _copy_graph(src, dst, report)
    say("consumers")
    _copy_consumers(src, dst, report)
    say("record assertions")
    _copy_assertions(src, dst, report)
    say("outbox, tokens, audit log")
    report.outbox_items = dst.import_outbox(src.outbox(limit=_ALL))
    report.tokens = dst.import_tokens(src.tokens_with_hashes())
    report.audit_entries = dst.import_audit(reversed(src.audit_log(limit=_ALL)))
    return report


def _copy_graph(src: Store, dst: Store, report: CopyReport) -> None:
    keys = [r.key for r in src.find("", limit=_ALL)]
    nodes = src.nodes(keys)
    edges = src.edges_among(keys)
    specs = [NodeSpec(key=n.key, kind=n.kind, name=n.name, namespace=n.namespace,
                      properties=n.properties) for n in (nodes[k] for k in keys)]
    if dst.stats() == {"edges": 0}:  # an empty destination: one bulk load, much faster
        report.nodes, report.edges = dst.bulk_load(specs, edges)
    else:
        for start in range(0, len(specs), CHUNK):
            batch = GraphBatch(nodes={s.key: s for s in specs[start:start + CHUNK]})
            done = dst.apply(batch)
            report.nodes += done.nodes_created + done.nodes_updated
        for start in range(0, len(edges), CHUNK):
            batch = GraphBatch(edges={e.ident: e for e in edges[start:start + CHUNK]})
            done = dst.apply(batch)
            report.edges += done.edges_created + done.edges_updated
    versions = [k for k in keys if nodes[k].kind is NodeKind.DATASET_VERSION]
    for start in range(0, len(versions), CHUNK):
        schemas = {k: fields for k in versions[start:start + CHUNK]
                   if (fields := src.schema(k))}
        if schemas:
            report.schemas += dst.apply(GraphBatch(schemas=schemas)).schemas_written


def _copy_consumers(src: Store, dst: Store, report: CopyReport) -> None:
    consumers = [r.key for r in src.find("", [NodeKind.CONSUMER], limit=_ALL)]
    contracts = src.contracts(consumers)
    channels = src.channels(consumers)
    if contracts or channels:
        done = dst.apply(GraphBatch(contracts=contracts, channels=channels))
        report.consumers = done.consumers_updated


def _signature(batch: AssertionBatch) -> tuple[Any, ...]:
    return (batch.field, batch.concept, batch.origin, batch.agent, batch.asserted_at,
            batch.rows, batch.dataset_version, batch.source, batch.principal)


def _copy_assertions(src: Store, dst: Store, report: CopyReport) -> None:
    present: dict[tuple[Any, ...], list[int]] = {}
    for batch in dst.assertion_batches():
        assert batch.id is not None
        present.setdefault(_signature(batch), []).append(batch.id)
    new_id: dict[int, int] = {}  # source batch id -> destination batch id
    for batch in src.assertion_batches():  # oldest first: a review follows what it reviews
        assert batch.id is not None
        same = present.get(_signature(batch))
        if same:
            new_id[batch.id] = same.pop(0)
            continue
        arrays = src.assertion_arrays([batch.id])[batch.id]
        if arrays.reviewed_batch is not None:
            arrays = _repoint(arrays, new_id)
        written = dst.write_assertions(replace(batch, id=None, created_at=None), arrays)
        assert written.id is not None
        new_id[batch.id] = written.id
        report.assertion_batches += 1
        report.assertion_rows += batch.rows


def _repoint(arrays: AssertionArrays, new_id: dict[int, int]) -> AssertionArrays:
    """The arrays with reviewed batch ids mapped to the destination's (-1 stays)."""
    assert arrays.reviewed_batch is not None
    old = arrays.reviewed_batch
    mapped = old.copy()
    for value in np.unique(old).tolist():
        if value >= 0:
            mapped[old == value] = new_id.get(value, -1)
    return replace(arrays, reviewed_batch=mapped)


__all__ = ["CopyReport", "copy_store"]
