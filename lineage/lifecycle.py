"""Retiring nodes: `deprecate` and `delete`, a soft state kept as node properties.

Nothing is removed from the graph: a retired node keeps its edges, schemas and history, and
gets `lifecycle` (`deprecated` or `deleted`), `lifecycle_at` (UTC, ISO 8601),
`lifecycle_reason` and `lifecycle_by` (the principal). Written through `Store.apply` with a
merge, so every backend stores it unchanged. Impact leaves deleted nodes out, and what only
they lead to (a deleted node cuts the walk), and marks deprecated ones; notifications never
go to a deleted consumer.

Retiring a dataset or a model retires what belongs to it too: a dataset's fields
(`has_field`) and versions (`version_of`), a model's versions (`version_of`).

OpenLineage events set the same properties (`lifecycle_by: openlineage`): a DROP retires a
dataset as `delete` does, a RENAME deprecates the old name, and a newer event brings it back
(lineage.openlineage._mapping); a state written here is never changed by events, and
`delete` of what events retired makes that state its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ._errors import ConflictError, ValidationError
from ._model import GraphBatch, Node, NodeRef
from ._vocabulary import EdgeKind, NodeKind
from .store.graph import GraphStore

State = Literal["deprecated", "deleted"]
STATES: tuple[State, ...] = ("deprecated", "deleted")
#: the node properties this module owns
PROPERTIES = ("lifecycle", "lifecycle_at", "lifecycle_reason", "lifecycle_by")
#: `lifecycle_by` of a state OpenLineage events set (lineage.openlineage._mapping): a newer
#: event may change it, so `delete` here takes it over (a person's state events never change)
BY_EVENTS = "openlineage"
#: the kinds that own other nodes, which follow their owner's state
_OWNERS = (NodeKind.DATASET, NodeKind.MODEL)


@dataclass
class LifecycleResult:
    """What `deprecate` / `delete` did: the node, what followed it, and who still depends
    on it (its downstream consumers and model versions, deleted ones left out)."""

    node: NodeRef
    state: State
    reason: str | None
    principal: str
    #: the nodes whose state was written (the node first, then what it owns), already in
    #: that state ones left out
    marked: list[str] = field(default_factory=list)
    #: True when the node was already in this state: nothing was written
    unchanged: bool = False
    #: the consumers and model versions downstream that are not deleted: where a
    #: deprecated node is still depended on
    dependents: list[NodeRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.node.key, "kind": self.node.kind.value, "name": self.node.name,
                "state": self.state, "reason": self.reason, "by": self.principal,
                "marked": self.marked, "unchanged": self.unchanged,
                "dependents": [{"key": r.key, "kind": r.kind.value, "name": r.name}
                               for r in self.dependents]}


def state_of(properties: dict[str, Any]) -> State | None:
    """A node's lifecycle state from its properties (None: live)."""
    value = properties.get("lifecycle")
    return value if value in STATES else None


def deprecate(store: GraphStore, name: str, reason: str | None = None,
              principal: str = "library") -> LifecycleResult:
    """Mark `name` (a key or unambiguous suffix) deprecated: still reported by impact, marked
    `deprecated`; the result lists where it is still depended on. A deleted node cannot be
    deprecated (ConflictError). NotFound / AmbiguousName when the name resolves to no or
    several nodes; nothing is written then."""
    return _retire(store, name, "deprecated", reason, principal)


def delete(store: GraphStore, name: str, reason: str | None = None,
           principal: str = "library") -> LifecycleResult:
    """Mark `name` deleted (soft: it stays in the graph and its history): impact leaves it
    out and notifications never reach it. NotFound / AmbiguousName as `deprecate`."""
    return _retire(store, name, "deleted", reason, principal)


def _retire(store: GraphStore, name: str, state: State, reason: str | None,
            principal: str) -> LifecycleResult:
    if reason is not None and not isinstance(reason, str):
        raise ValidationError(f"a reason must be text, got {reason!r}")
    ref = store.resolve(name)
    node = store.node(ref.key)
    current = state_of(node.properties)
    if current == "deleted" and state == "deprecated":
        raise ConflictError(f"{ref.kind.value} '{ref.key}' is deleted; a deleted node cannot be "
                            "deprecated (re-declare it in a manifest to bring it back)")
    result = LifecycleResult(ref, state, reason, principal)
    keys = [ref.key, *owned(store, ref)]
    nodes = store.nodes(keys)
    todo = [k for k in keys if k in nodes and _needs(nodes[k], state)]
    if todo:
        stamp = {"lifecycle": state, "lifecycle_at": datetime.now(UTC).isoformat(),
                 "lifecycle_reason": reason, "lifecycle_by": principal}
        batch = GraphBatch()
        for key in todo:
            n = nodes[key]
            batch.add_node(key, n.name, n.namespace)

        def merge(_key: str, stored: Mapping[str, Any], _given: Mapping[str, Any]
                  ) -> dict[str, Any]:
            kept = {k: v for k, v in stored.items() if k not in PROPERTIES}
            return {**kept, **{k: v for k, v in stamp.items() if v is not None}}

        store.apply(batch, merge=merge)
    result.marked = todo
    result.unchanged = not todo
    if state == "deprecated":
        result.dependents = dependents(store, ref.key)
    return result


def _needs(node: Node, state: State) -> bool:
    """Whether writing `state` changes the node (deleted beats deprecated); a state events
    set is a person's from now on, so a later write of the table does not undo it."""
    current = state_of(node.properties)
    if current == state and node.properties.get("lifecycle_by") == BY_EVENTS:
        return True
    return current != state and current != "deleted"


def owned(store: GraphStore, ref: NodeRef) -> list[str]:
    """What follows `ref`'s state: a dataset's fields and versions, a model's versions."""
    if ref.kind not in _OWNERS:
        return []
    found = [other.key for _, _, other in
             store.adjacent([ref.key], "downstream", [EdgeKind.HAS_FIELD])]
    found += [other.key for _, _, other in
              store.adjacent([ref.key], "upstream", [EdgeKind.VERSION_OF])]
    return sorted(set(found))


def dependents(store: GraphStore, key: str) -> list[NodeRef]:
    """The consumers and model versions downstream of `key` that are not deleted."""
    from .impact import impact  # impact builds on Store: import when called

    report = impact(store, key)  # deleted nodes cut its walk: none of them is reached
    return [r.node for r in report.closure.reached
            if r.node.kind in (NodeKind.CONSUMER, NodeKind.MODEL_VERSION)]
