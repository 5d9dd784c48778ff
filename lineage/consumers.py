"""Who depends on what: consumers, the assets they consume, their contracts and channels.

`consumers(store)` lists every registered consumer; `consumers(store, name)` lists those
that depend on `name` transitively (a consumer of a model depends on the fields its
features derive from), each with one shortest path from `name`, as `lineage.impact`
finds them. Written against the Store interface only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._model import ChannelSpec, EdgeKind, NodeKind, NodeRef, Reached
from .impact import impact
from .store.base import GraphOperationsStore

# consumers are few next to the graph; this bounds one listing, not the store
MAX_CONSUMERS = 100_000


@dataclass
class ConsumerUse:
    """A consumer, what it consumes directly, its contracts (asset key -> contract) and
    channels; `reached` is how it depends on the asked-about node (None in a full listing)."""

    consumer: NodeRef
    owner: str | None
    consumes: list[NodeRef] = field(default_factory=list)
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: list[ChannelSpec] = field(default_factory=list)
    reached: Reached | None = None
    #: its lifecycle state (lineage.lifecycle): `deprecated`, `deleted` or None (live)
    state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "consumer": self.consumer.name, "key": self.consumer.key, "owner": self.owner,
            "state": self.state,
            "consumes": [c.key for c in self.consumes], "contracts": self.contracts,
            # a webhook's secret stays in the store
            "channels": [{"kind": c.kind, "target": c.target} for c in self.channels],
        }
        if self.reached is not None:
            reached = self.reached.to_dict()
            data.update(depth=reached["depth"], path=reached["path"], through=reached["through"],
                        column_unknown=reached["column_unknown"])
        return data


class Consumers(list[ConsumerUse]):
    """The consumers `consumers` found; `truncated` says whether its `max_depth` (None:
    no bound) left out some that depend on the name asked about."""

    def __init__(self, uses: list[ConsumerUse], truncated: bool = False,
                 max_depth: int | None = None) -> None:
        super().__init__(uses)
        self.truncated = truncated
        self.max_depth = max_depth


def consumers(store: GraphOperationsStore, name: str | None = None, max_depth: int | None = None, *,
              include_deleted: bool = False) -> Consumers:
    """Every consumer (ordered by name), or those depending on `name` (ordered by depth,
    then name), each with its lifecycle `state`. A deleted consumer (`lineage delete`) is
    left out unless `include_deleted` (in the full listing: none depends on `name`, since a
    deleted node is never reached, see lineage.impact). With `max_depth`, the result's
    `truncated` says whether the bound left out any. Raises NotFound / AmbiguousName
    when `name` does not resolve."""
    truncated = False
    if name is None:
        refs = store.find("", [NodeKind.CONSUMER], MAX_CONSUMERS)
        reached: dict[str, Reached] = {}
    else:
        report = impact(store, name, max_depth)
        # the bound may have cut other nodes only: it cut a consumer when one lies deeper
        truncated = report.closure.truncated and _consumer_beyond(store, name, max_depth)
        found = report.groups.get(NodeKind.CONSUMER, [])
        reached = {r.node.key: r for r in found}
        refs = [r.node for r in found]
    states = store.lifecycle_states(r.key for r in refs)
    if not include_deleted:
        refs = [r for r in refs if states.get(r.key) != "deleted"]
    keys = [r.key for r in refs]
    nodes = store.nodes(keys)
    contracts = store.contracts(keys)
    channels = store.channels(keys)
    uses = []
    for ref in refs:
        consumed = sorted((other for edge, other in store.neighbours(ref.key)
                           if edge.kind is EdgeKind.CONSUMES and edge.dst == ref.key),
                          key=lambda n: n.key)
        owner = nodes[ref.key].properties.get("owner") if ref.key in nodes else None
        uses.append(ConsumerUse(ref, owner, consumed, contracts.get(ref.key, {}),
                                channels.get(ref.key, []), reached.get(ref.key),
                                states.get(ref.key)))
    if name is None:
        uses.sort(key=lambda u: u.consumer.name)
    return Consumers(uses, truncated, max_depth)


def _consumer_beyond(store: GraphOperationsStore, name: str, max_depth: int | None) -> bool:
    """Whether a consumer depends on `name` further than `max_depth` steps away."""
    whole = impact(store, name).groups.get(NodeKind.CONSUMER, [])
    return max_depth is not None and any(r.depth > max_depth for r in whole)
