"""What a notification says: its payload (the JSON every channel sends), its one-paragraph
summary (Slack's top-level `text`), its idempotency key and its signature.

The payload is stored in the outbox once, at enqueue time; every channel renders it the same
way at every attempt (`body`), so a redelivery carries the same bytes and the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from .._keys import identity
from .._model import ChannelSpec
from ..impact import ChangeImpact, Judged

#: version of the payload's shape; receivers can switch on it
PAYLOAD_SCHEMA = "lineage.notification/1"
#: breaking dependents listed in a payload's `impact.breaking` (the count is always whole)
MAX_LISTED = 100


def body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed) for a payload: canonical JSON, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


#: how old a signed request a receiver should accept by default (`verify`), in seconds
SIGNATURE_TOLERANCE = 300


def signature(secret: str, data: bytes, timestamp: int | str) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>." + data>`, the value of the
    X-Lineage-Signature header sent with `X-Lineage-Timestamp: <timestamp>` (Unix seconds).
    The timestamp is signed with the body, so a captured request cannot be replayed later
    under a fresh timestamp."""
    signed = str(timestamp).encode("ascii") + b"." + data
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(secret: str, data: bytes, signature_header: str, timestamp_header: str, *,
           tolerance: float = SIGNATURE_TOLERANCE, now: float | None = None) -> bool:
    """For receivers: whether a request's body `data`, X-Lineage-Signature and
    X-Lineage-Timestamp headers are signed with `secret` and the timestamp is within
    `tolerance` seconds of `now` (default: this machine's clock). A receiver also drops a
    repeated X-Lineage-Idempotency-Key: redeliveries are the same notification."""
    if not timestamp_header.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp_header)) > tolerance:
        return False
    expected = signature(secret, data, timestamp_header)
    return hmac.compare_digest(expected.encode("ascii"), signature_header.encode("utf-8"))


def idempotency_key(consumer: str, channel: ChannelSpec, event: str, impact: ChangeImpact,
                    dataset_version: str | None) -> str:
    """The same consumer, channel, event, field, changes and version give the same key,
    so producing the same notification twice never enqueues it twice."""
    ident = [consumer, channel.kind, channel.target, event, impact.start.key,
             [c.to_dict() for c in impact.changes], dataset_version]
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def path_names(judged: Judged) -> str:
    return " -> ".join(node.name for _edge, node in judged.path)


def summary(judged: Judged, impact: ChangeImpact, event: str,
            context: Mapping[str, Any]) -> str:
    """One paragraph for people (and Slack's `text`): what changed, what it breaks, how."""
    what = "; ".join(c.describe() for c in impact.changes)
    where = impact.start.name
    version = context.get("dataset_version")
    sure = judged.verdict == "breaking"
    kind = "Breaking change" if sure else "Possibly breaking change"
    if event == "new_version" and version:
        head = f"{kind} in new version {identity(str(version))}"
    else:
        head = f"Proposed {kind[0].lower()}{kind[1:]}"
    others = len(impact.of("breaking")) - (1 if sure else 0)
    tail = f" {others} other dependent(s) break{' too' if sure else ''}." if others > 0 \
        else ""
    effect = (f"It breaks consumer {judged.node.name}" if sure else
              f"It may break consumer {judged.node.name} (verdict unknown)")
    return (f"{head} to {where}: {what}. {effect}: {judged.reason}. Path: "
            f"{path_names(judged)}.{tail}")


def subject(judged: Judged, impact: ChangeImpact) -> str:
    """An email subject naming the change and the consumer it breaks (or may break)."""
    what = "; ".join(c.describe() for c in impact.changes)
    if judged.verdict == "breaking":
        return (f"[lineage] Breaking change: {impact.start.name}: {what} (breaks "
                f"{judged.node.name})")
    return (f"[lineage] Possibly breaking change: {impact.start.name}: {what} (may break "
            f"{judged.node.name}: verdict unknown)")


def report(impact: ChangeImpact) -> dict[str, Any]:
    """The impact report as payloads carry it: the change, the counts and the breaking
    dependents with their paths (at most MAX_LISTED; the counts stay whole). Computed once
    per impact and shared by its notifications."""
    breaking = impact.of("breaking")
    return {
        "start": {"key": impact.start.key, "kind": impact.start.kind.value,
                  "name": impact.start.name},
        "changes": [c.to_dict() for c in impact.changes],
        "counts": impact.counts(),
        "breaking": [j.to_dict() for j in breaking[:MAX_LISTED]],
        "breaking_not_listed": max(0, len(breaking) - MAX_LISTED),
    }


def payload(judged: Judged, impact: ChangeImpact, event: str, key: str,
            context: Mapping[str, Any], impact_report: Mapping[str, Any]) -> dict[str, Any]:
    """The document every channel sends for one consumer: the summary, the consumer's own
    verdict with its path, and the impact report (see `report`)."""
    verdict = judged.to_dict()
    return {
        "schema": PAYLOAD_SCHEMA,
        "idempotency_key": key,
        "event": event,
        "text": summary(judged, impact, event, context),
        "subject": subject(judged, impact),
        "consumer": {"key": judged.node.key, "name": judged.node.name},
        "field": impact.start.key,
        "dataset_version": context.get("dataset_version"),
        "changes": impact_report["changes"],
        "verdict": verdict,
        "path": [step["key"] for step in verdict["path"]],
        "impact": {k: v for k, v in impact_report.items() if k != "changes"},
        "context": dict(context),
    }
