"""Producing notifications: one per consumer that a change breaks or may break (verdict
`unknown`), per channel it has.

    impact = change_impact(store, "transactions.category", ["type:string"])
    store.enqueue(notifications_for(store, impact))         # or: notify_change(...)

Registration (`lineage.manifest.register`) calls `new_version_notifications` for the
dataset versions a manifest adds, and puts the result in the same batch as the versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .._errors import ValidationError
from .._keys import fields_prefix, kind_of
from .._model import ChannelSpec, GraphBatch, NotificationSpec
from .._vocabulary import EdgeKind, NodeKind
from ..impact import ChangeImpact, change_impact
from ..schema import Change, diff
from ..store.base import Store
from ..store.graph import GraphStore
from . import _message

Event = Literal["proposed_change", "new_version"]
EVENTS: tuple[Event, ...] = ("proposed_change", "new_version")


def notifications_for(store: Store, impact: ChangeImpact, event: Event = "proposed_change",
                      context: Mapping[str, Any] | None = None, *,
                      channels: Mapping[str, Sequence[ChannelSpec]] | None = None,
                      ) -> list[NotificationSpec]:
    """The notifications `impact` calls for: one per consumer judged breaking or unknown
    (its dependency may break: no recorded lineage or contract says it is safe), per
    channel of that consumer, each with the consumer's verdict (`verdict.verdict` in the
    payload: `breaking` or `unknown`) and path in its payload.

    `context` (JSON) goes into every payload; its `dataset_version`, when the change is a
    new version's, is part of the idempotency key, with the consumer, the channel, the
    event, the field and the changes: producing the same notifications again gives the same
    keys, so enqueueing them again does nothing. `channels` (consumer key -> channels)
    replaces the stored channels of the consumers it names (a batch that sets them too).
    Consumers without channels get nothing.
    """
    if event not in EVENTS:
        raise ValidationError(f"unknown event '{event}'; events are {', '.join(EVENTS)}")
    context = dict(context or {})
    # an unknown verdict is told too, as such: skipping it would leave a consumer whose
    # dependency may break (a job without column lineage, an unrecorded transformation)
    # to find out in production
    told = impact.of("breaking", NodeKind.CONSUMER) + impact.of("unknown", NodeKind.CONSUMER)
    # a deleted consumer is never notified, whoever built the impact (lineage.lifecycle)
    states = store.lifecycle_states(j.node.key for j in told)
    told = [j for j in told if states.get(j.node.key) != "deleted"]
    if not told:
        return []
    given = dict(channels or {})
    stored = store.channels([j.node.key for j in told if j.node.key not in given])
    version = context.get("dataset_version")
    report = _message.report(impact)
    specs = []
    for judged in told:
        consumer = judged.node.key
        for channel in given.get(consumer, stored.get(consumer, [])):
            key = _message.idempotency_key(consumer, channel, event, impact,
                                           None if version is None else str(version))
            specs.append(NotificationSpec(
                idempotency_key=key, consumer=consumer, channel_kind=channel.kind,
                channel_target=channel.target, event=event,
                payload=_message.payload(judged, impact, event, key, context, report)))
    return specs


def notify_change(store: Store, field: str, changes: Sequence[str | Change], *,
                  context: Mapping[str, Any] | None = None,
                  max_depth: int | None = None) -> int:
    """Tell the consumers that a proposed change to `field` would or may break (see
    `lineage.impact.change_impact` for the change specs); returns how many notifications
    were enqueued (0 when the same change was announced before)."""
    impact = change_impact(store, field, changes, max_depth)
    return store.enqueue(notifications_for(store, impact, "proposed_change", context))


def new_version_notifications(store: Store, batch: GraphBatch) -> list[NotificationSpec]:
    """Notifications for the dataset versions `batch` adds (not yet stored) whose schema
    differs from the dataset's latest stored version: for each changed field that the
    store holds, the consumers its changes break or may break. Computed against the store as it is
    before the batch, so put them in the batch (`batch.notifications`) and apply it."""
    versions = [k for k in batch.schemas if kind_of(k) is NodeKind.DATASET_VERSION]
    datasets = {e.src: e.dst for e in batch.edges.values()
                if e.kind is EdgeKind.VERSION_OF and e.src in batch.schemas}
    stored = store.exists([*versions, *datasets.values()])
    specs: list[NotificationSpec] = []
    for version in versions:
        dataset = datasets.get(version)
        if version in stored or dataset not in stored:  # not new, or nothing to compare to
            continue
        previous = latest_version(store, dataset)
        if previous is None:
            continue
        context = {"dataset": dataset, "dataset_version": version,
                   "previous_version": previous}
        specs += schema_change_notifications(
            store, dataset, diff(store.schema(previous), batch.schemas[version]), context,
            channels=batch.channels)
    return specs


def schema_change_notifications(store: Store, dataset: str, changes: Sequence[Change],
                                context: Mapping[str, Any],
                                channels: Mapping[str, Sequence[ChannelSpec]] | None = None
                                ) -> list[NotificationSpec]:
    """Notifications (event `new_version`) for a change of `dataset`'s schema (`changes`,
    as `lineage.schema.diff` tells them): for each changed field the store holds, the
    consumers its changes break or may break. `context` goes into every payload."""
    by_field: dict[str, list[Change]] = {}
    for change in changes:
        if change.kind != "added":  # nobody depends on a field that was not there
            by_field.setdefault(fields_prefix(dataset) + change.field, []).append(change)
    specs: list[NotificationSpec] = []
    for field in sorted(store.exists(by_field)):
        impact = change_impact(store, field, by_field[field])
        specs += notifications_for(store, impact, "new_version", context, channels=channels)
    return specs


def latest_version(store: GraphStore, dataset: str) -> str | None:
    """The stored version of `dataset` created last: by its declared `created_at`, else by
    when it was stored; None when it has none."""
    keys = [ref.key for edge, ref in store.neighbours(dataset)
            if edge.kind is EdgeKind.VERSION_OF and edge.dst == dataset
            and ref.kind is NodeKind.DATASET_VERSION]
    if not keys:
        return None
    nodes = store.nodes(keys)

    def order(key: str) -> tuple[str, str, str]:
        node = nodes[key]
        stored_at = node.created_at.isoformat() if node.created_at else ""
        return (str(node.properties.get("created_at") or stored_at), stored_at, key)

    return max(nodes, key=order)
