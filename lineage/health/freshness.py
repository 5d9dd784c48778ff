"""Freshness: inputs older than their SLA, and runs that read data which landed after their
window closed (story 2 in STORIES.md: the window that quietly went stale).

    report = freshness(store)                 # every dataset and feature with an SLA
    report = freshness(store, "fraud@3")      # the inputs upstream of fraud@3

Datasets and features declare an SLA in their manifest (`freshness: 6h`). A dataset's last
landing is the newest of its versions (their `created_at`: the declared date, or the event
time of the OpenLineage run that produced it, else when the store got it) and of the
completed runs that wrote it; a feature's is the newest landing of the datasets its
source fields belong to. Older than the SLA is stale.

A run whose window (OpenLineage `nominalTime`, the run's `nominal_end_time`) ended before
an input version it read had landed computed over an incomplete window: it is reported with
how late the input was, and what lies downstream of the run (model versions, consumers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .. import _keys as keys
from .._errors import ValidationError
from .._model import Node, NodeRef
from .._vocabulary import EdgeKind, NodeKind, path_words
from ..store.base import Store

#: nodes one unscoped listing looks at (the answer says when it stopped there)
MAX_LISTED = 10_000

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_SHORT = re.compile(r"^(?:(\d+(?:\.\d+)?)\s*([wdhms])\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: Any) -> timedelta:
    """`6h`, `30m`, `2d`, `1w`, `1h30m`, `90s`, or ISO 8601 (`PT6H`, `P1D`); positive.
    ValidationError otherwise."""
    value = str(text).strip() if isinstance(text, str | int | float) else ""
    lowered = value.lower()
    seconds: float | None = None
    if lowered and _SHORT.match(lowered):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(lowered))
    elif (m := _ISO.match(value.upper())) and value.upper() not in ("P", "PT"):
        w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = w * 604_800 + d * 86_400 + h * 3_600 + mi * 60 + s
    if not seconds or seconds <= 0:
        raise ValidationError(f"a freshness SLA is a positive duration such as 6h, 30m, 2d, "
                              f"1h30m or PT6H, got {text!r}")
    return timedelta(seconds=seconds)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes and not days else ""]
    return sign + ("".join(parts) or f"{seconds}s")


def _time(value: Any) -> datetime | None:
    """An aware UTC time from a stored value (ISO text, a date, a datetime); None if none."""
    if value is None:
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime(value.year, value.month, value.day)
    else:
        try:
            found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


@dataclass
class Downstream:
    """Model versions and consumers behind something, with paths (by name)."""

    model_versions: list[dict[str, Any]] = _field(default_factory=list)
    consumers: list[dict[str, Any]] = _field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model_versions": self.model_versions, "consumers": self.consumers}


@dataclass
class Freshness:
    """An input with an SLA: when it last landed, through what, and whether that is too old."""

    node: NodeRef
    sla: str
    last_landed: datetime | None
    #: the version or run that landed last
    landed_by: str | None
    age: timedelta | None
    stale: bool
    downstream: Downstream = _field(default_factory=Downstream)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.node.key, "kind": self.node.kind.value, "name": self.node.name,
                "sla": self.sla, "last_landed": self.last_landed and
                self.last_landed.isoformat(), "landed_by": self.landed_by,
                "age_seconds": None if self.age is None else self.age.total_seconds(),
                "age": None if self.age is None else _human(self.age), "stale": self.stale,
                "downstream": self.downstream.to_dict()}


@dataclass
class LateInput:
    """A run that read an input version which landed after the run's window had ended."""

    run: NodeRef
    job: str | None
    window_end: datetime
    version: NodeRef
    landed: datetime
    downstream: Downstream = _field(default_factory=Downstream)

    @property
    def lateness(self) -> timedelta:
        return self.landed - self.window_end

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.key, "job": self.job, "window_end": self.window_end.isoformat(),
                "input_version": self.version.key, "landed": self.landed.isoformat(),
                "lateness_seconds": self.lateness.total_seconds(),
                "lateness": _human(self.lateness), "downstream": self.downstream.to_dict()}


@dataclass
class FreshnessReport:
    now: datetime
    checked: list[Freshness]
    late: list[LateInput]
    scope: str | None = None
    notes: list[str] = _field(default_factory=list)

    @property
    def stale(self) -> list[Freshness]:
        return [f for f in self.checked if f.stale]

    @property
    def fresh(self) -> bool:
        return not self.stale and not self.late

    def summary(self) -> str:
        if self.fresh:
            return (f"fresh: {len(self.checked)} input(s) within their SLA, no run read data "
                    "that landed after its window")
        return (f"STALE: {len(self.stale)} of {len(self.checked)} input(s) older than their "
                f"SLA; {len(self.late)} run input(s) landed after the run's window")

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "scope": self.scope, "fresh": self.fresh,
                "summary": self.summary(), "checked": [f.to_dict() for f in self.checked],
                "late": [x.to_dict() for x in self.late], "notes": self.notes}


def freshness(store: Store, name: str | None = None, *, now: datetime | None = None
              ) -> FreshnessReport:
    """Every dataset and feature with a freshness SLA (with `name`: those upstream of it,
    and itself), whether it is older than its SLA, and every run (upstream of `name`) that
    read an input version which landed after the run's window ended; each with the model
    versions and consumers downstream. Raises NotFound/AmbiguousName for `name`."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    notes: list[str] = []
    if name is not None:
        start = store.resolve(name)
        closure = store.upstream(start.key)
        scope_keys = [start.key, *closure.keys()]
        nodes = store.nodes(scope_keys)
        runs = [k for k, n in nodes.items() if n.kind is NodeKind.RUN]
    else:
        start = None
        listed = store.find("", [NodeKind.DATASET, NodeKind.FEATURE], MAX_LISTED)
        run_refs = store.find("", [NodeKind.RUN], MAX_LISTED)
        for what, found in (("datasets and features", listed), ("runs", run_refs)):
            if len(found) >= MAX_LISTED:
                notes.append(f"looked at the first {MAX_LISTED:,} {what} only: name one to "
                             "check what is upstream of it")
        nodes = store.nodes([r.key for r in listed])
        runs = [r.key for r in run_refs]
    checked = []
    for key in sorted(nodes):
        node = nodes[key]
        sla = node.properties.get("freshness")
        if node.kind not in (NodeKind.DATASET, NodeKind.FEATURE) or not sla:
            continue
        checked.append(_check(store, node, str(sla), when))
    late = [item for run in sorted(runs) for item in _late_inputs(store, run)]
    if not checked:
        notes.append("no dataset or feature" + (f" upstream of {start.name}" if start else "")
                     + " declares a freshness SLA (freshness: 6h in its manifest)")
    for stale in checked:
        if stale.stale:
            stale.downstream = _downstream(store, stale.node.key)
    for item in late:
        item.downstream = _downstream(store, item.run.key)
    return FreshnessReport(when, checked, late, start.key if start else None, notes)


def _check(store: Store, node: Node, sla: str, now: datetime) -> Freshness:
    datasets = [node.key] if node.kind is NodeKind.DATASET else _feature_sources(store, node.key)
    last: datetime | None = None
    by: str | None = None
    for dataset in datasets:
        for when, what in _landings(store, dataset):
            if last is None or when > last:
                last, by = when, what
    age = None if last is None else now - last
    stale = age is None or age > parse_duration(sla)
    return Freshness(node.ref(), sla, last, by, age, stale)


def _feature_sources(store: Store, feature: str) -> list[str]:
    """The datasets of the fields a feature is computed from directly: the feature is as
    fresh as the table it is read from, not as the raw data behind that table."""
    found = {f"{NodeKind.DATASET.value}:{keys.identity(ref.key).rsplit('.', 1)[0]}"
             for edge, ref in store.neighbours(feature)
             if edge.kind is EdgeKind.DERIVED_FROM and edge.dst == feature
             and ref.kind is NodeKind.FIELD}
    return sorted(found & store.exists(found)) if found else []


def _landings(store: Store, dataset: str) -> Iterable[tuple[datetime, str]]:
    """(when, version or run key) for every version of the dataset and every completed run
    that wrote it."""
    versions, writers = [], []
    for edge, ref in store.neighbours(dataset):
        if edge.kind is EdgeKind.VERSION_OF and edge.dst == dataset:
            versions.append(ref.key)
        elif edge.kind is EdgeKind.WROTE and edge.dst == dataset and ref.kind is NodeKind.RUN:
            writers.append(ref.key)
    nodes = store.nodes([*versions, *writers])
    for key in versions:
        if key in nodes:
            landed = _landed(nodes[key])
            if landed is not None:
                yield landed, key
    for key in writers:
        states = (nodes[key].properties.get("states") or {}) if key in nodes else {}
        done = _time(states.get("COMPLETE"))
        if done is not None:
            yield done, key


def _landed(version: Node) -> datetime | None:
    """When a dataset version landed: its declared or event-time `created_at`, else when the
    store first got it."""
    return _time(version.properties.get("created_at")) or _time(version.created_at)


def _late_inputs(store: Store, run: str) -> list[LateInput]:
    nodes = store.nodes([run])
    if run not in nodes:
        return []
    node = nodes[run]
    window_end = _time(node.properties.get("nominal_end_time"))
    if window_end is None:
        return []
    inputs, job = [], None
    for edge, ref in store.neighbours(run):
        if edge.kind is EdgeKind.READ and edge.dst == run and \
                ref.kind is NodeKind.DATASET_VERSION:
            inputs.append(ref)
        elif edge.kind is EdgeKind.RUN_OF and edge.dst == run:
            job = ref.key
    versions = store.nodes([r.key for r in inputs])
    late = []
    for ref in inputs:
        landed = _landed(versions[ref.key]) if ref.key in versions else None
        if landed is not None and landed > window_end:
            late.append(LateInput(node.ref(), job, window_end, ref, landed))
    return late


def _downstream(store: Store, key: str) -> Downstream:
    groups = store.impact(key).groups  # type: ignore[union-attr]

    def named(reached: Any) -> dict[str, Any]:
        steps = reached.path
        text = path_words([n.name for _e, n in steps], [e for e, _n in steps[1:]])
        return {"key": reached.node.key, "name": reached.node.name, "path": text}

    return Downstream([named(r) for r in groups.get(NodeKind.MODEL_VERSION, [])],
                      [named(r) for r in groups.get(NodeKind.CONSUMER, [])])
