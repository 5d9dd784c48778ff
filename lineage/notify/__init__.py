"""Telling consumers about breaking (or possibly breaking) changes, reliably.

    from lineage.notify import notify_change, deliver
    notify_change(store, "transactions.category", ["type:string"])  # enqueue, per consumer
    deliver(store)                                                   # send what is due

Producing: `notifications_for(store, impact)` turns a `ChangeImpact` into one notification
per consumer judged breaking or unknown (told as "may break") and channel; `notify_change`
enqueues them for a proposed change, and registering a manifest enqueues them for the
dataset versions it adds, in the same transaction as the versions
(`new_version_notifications`).

Delivering: the store's outbox holds every notification until its channel (`webhook`,
`email`, `file`; see `Channel`) took it. `deliver` claims due items under a lease, sends
them and settles each batch at once: at-least-once, retried with exponential backoff and
jitter, dead-lettered after `max_attempts`, redriven with `Store.redrive`.
"""

from ._channels import (
    CHANNELS,
    Channel,
    DeliveryFailed,
    EmailChannel,
    FileChannel,
    NotifySettings,
    WebhookChannel,
    channel_for,
    register_channel,
)
from ._deliver import Backoff, DeliveryStats, deliver
from ._message import PAYLOAD_SCHEMA, SIGNATURE_TOLERANCE, body, signature, verify
from ._produce import (
    EVENTS,
    Event,
    latest_version,
    new_version_notifications,
    notifications_for,
    notify_change,
    schema_change_notifications,
)

__all__ = [
    "CHANNELS",
    "EVENTS",
    "PAYLOAD_SCHEMA",
    "Backoff",
    "Channel",
    "DeliveryFailed",
    "DeliveryStats",
    "EmailChannel",
    "Event",
    "FileChannel",
    "NotifySettings",
    "WebhookChannel",
    "body",
    "channel_for",
    "deliver",
    "latest_version",
    "new_version_notifications",
    "schema_change_notifications",
    "notifications_for",
    "notify_change",
    "register_channel",
    "signature",
    "verify",
    "SIGNATURE_TOLERANCE",
]
