"""Profiles: compact per-field distributions, stored with the dataset version they describe.

    profile = record_profile(store, "out/user_features_2026-03.parquet",
                             "user_features@2026-03")          # what fraud@3 trained on
    profile.fields["avg_amount_7d"]["quantiles"]["0.5"]

A numeric field keeps count, nulls, mean, std, min, max, a few named quantiles, and a
*sketch*: the values at the quantiles of a fixed grid of `KNOTS` steps, each with the exact
number of values at or below it. When the field has at most `KNOTS` + 1 distinct values the
sketch holds every one of them and the distribution exactly; otherwise the sketch bounds
the distribution function between knots to within one grid step (1/256), which is what KS
needs (`lineage.health.drift` reports that bound). PSI bins are the reference's deciles,
chosen among the knots, so their counts are exact. A categorical field keeps its `TOP_K`
most frequent values with counts, the count of the rest, its cardinality and nulls. A field
costs about 6 KB of JSON at most.

Storage goes through the Store's public interface only: a dataset version's profile is the
`profile` property of its node; a run's profiles (what a training run saw, what a serving
job sent) are the `profiles` property of the run's node, by dataset version key, and the
run gets a `read` edge from that version. Every backend stores them as it stores any node
property, with no hook of its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from .. import _keys as keys
from .._errors import ConflictError, NotFound, ValidationError
from .._model import GraphBatch, NodeRef
from .._vocabulary import EdgeKind, NodeKind
from ..provenance._tables import read_table
from ..store.base import Store
from ._frames import columnar_file, lineage_type, read_batch, type_family

#: profile layout version, stored in every profile
FORMAT = 1
#: steps of the quantile grid of a numeric sketch (KNOTS + 1 values)
KNOTS = 256
#: most frequent values a categorical profile keeps
TOP_K = 50
#: PSI bins: the reference's deciles
PSI_BINS = 10
#: columns profiled at once (each in memory with its sorted copy)
PROFILE_THREADS = 4
#: named quantiles, for people
NAMED_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class Profile:
    """A batch's per-field profile. `fields` maps a field name to its profile (JSON)."""

    rows: int
    fields: dict[str, dict[str, Any]]
    source: str | None = None
    created_at: str | None = None
    #: where it is stored (a dataset version key) and for which run, once recorded
    dataset_version: str | None = None
    run: str | None = None

    def payload(self) -> dict[str, Any]:
        """What is stored (`from_dict` reads it back)."""
        return {"format": FORMAT, "rows": self.rows, "source": self.source,
                "created_at": self.created_at, "fields": self.fields}

    def to_dict(self) -> dict[str, Any]:
        """The answer about it (`lineage profile --format json`, the HTTP API): where it
        is stored, then what is stored."""
        return {"dataset_version": self.dataset_version, "run": self.run, **self.payload()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], dataset_version: str | None = None,
                  run: str | None = None) -> Profile:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError(f"not a profile of format {FORMAT}: {str(data)[:80]}")
        return cls(int(data["rows"]), dict(data["fields"]), data.get("source"),
                   data.get("created_at"), dataset_version, run)

    def same_as(self, other: Profile) -> bool:
        """Equal distributions (when and from which file it was made aside)."""
        return self.rows == other.rows and self.fields == other.fields


# ------------------------------------------------------------------ computing


def profile(batch: Any, fields: list[str] | None = None) -> Profile:
    """The profile of `batch` (a file, or a polars/pandas frame or Arrow table); `fields`
    limits it to some columns. Raises ValidationError for what cannot be read or a field
    the batch lacks."""
    columnar = columnar_file(batch)
    if columnar is not None:  # a wide file: one column in memory at a time
        columns, rows = columnar
        source: str | None = str(batch)
    else:
        frame, _typed, source = read_batch(batch)
        columns, rows = list(frame.columns), frame.height
    wanted = list(fields) if fields else columns
    missing = [f for f in wanted if f not in columns]
    if missing:
        raise ValidationError(f"the batch has no column '{missing[0]}'; columns are: "
                              f"{', '.join(columns[:20])}")

    def one(name: str) -> dict[str, Any]:
        series = read_table(batch, "batch", columns=[name])[name] if columnar else \
            frame[name]
        return profile_series(series)

    # columns side by side: polars and numpy release the GIL; at most PROFILE_THREADS
    # columns in memory at once
    workers = min(len(wanted), os.cpu_count() or 1, PROFILE_THREADS)
    if workers <= 1:
        result = {name: one(name) for name in wanted}
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            result = dict(zip(wanted, pool.map(one, wanted), strict=True))
    return Profile(rows, result, source, datetime.now(UTC).isoformat())


def profile_series(series: pl.Series) -> dict[str, Any]:
    """One field's profile (see the module docstring)."""
    type_ = lineage_type(series.dtype)
    family = type_family(type_)
    count, nulls = len(series), series.null_count()
    if family == "numeric":
        return {"kind": "numeric", "type": type_, "count": count, "nulls": nulls,
                **numeric_summary(series)}
    if family == "temporal":
        # compared on its physical value (microseconds, days, ...); the type says which
        return {"kind": "numeric", "type": type_, "count": count, "nulls": nulls,
                "physical": True,
                **numeric_summary(series.to_physical())}
    if family in ("string", "boolean"):
        return {"kind": "categorical", "type": type_, "count": count, "nulls": nulls,
                **categorical_summary(series)}
    return {"kind": "other", "type": type_, "count": count, "nulls": nulls}


def numeric_summary(values: pl.Series) -> dict[str, Any]:
    """Moments, named quantiles, the sketch and the PSI bins of numbers (nulls and NaN
    dropped: NaN is missing, as a lenient cast makes it; so are infinities, which no JSON
    answer or PostgreSQL column can hold and no mean or quantile sketch survives)."""
    present = values.drop_nulls()
    if present.dtype.is_float():
        present = present.filter(present.is_finite())
    n = len(present)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None,
                "quantiles": {}, "sketch": {"values": [], "cdf": [], "exact": True},
                "bins": {"edges": [], "counts": [0]}}
    # few distinct values (codes, counts, ages): counted by hash, no sort of the column;
    # a look at the first rows spares a continuous column the full distinct count
    counted = None
    if present.head(10_000).n_unique() <= KNOTS + 1:
        # one hash pass: counted, then kept only if few (a distinct count first was another)
        counted = present.value_counts(name="count")
        counted = counted.sort(present.name) if counted.height <= KNOTS + 1 else None
    if counted is not None:
        knots = counted[present.name].cast(pl.Float64).to_numpy()
        cdf, exact = np.cumsum(counted["count"].to_numpy()), True
        sorted_at = None
    else:
        # polars sorts on every core, and an integer column in its own type
        arr = present.sort().cast(pl.Float64).to_numpy()
        idx = np.floor(np.arange(KNOTS + 1) * (n - 1) / KNOTS).astype(np.int64)
        knots = np.unique(arr[idx])
        cdf, exact = np.searchsorted(arr, knots, side="right"), False
        sorted_at = arr
    edges = _decile_edges(knots, cdf, n)
    at = np.searchsorted(knots, edges)  # edges are knots: exact counts below each
    cumulative = np.append(cdf[at], n)
    counts = np.diff(np.concatenate([[0], cumulative]))

    def quantile(q: float) -> float:
        rank = min(n - 1, int(math.floor(q * (n - 1))))
        if sorted_at is not None:
            return float(sorted_at[rank])
        return float(knots[np.searchsorted(cdf, rank, side="right")])

    floats = present.cast(pl.Float64).to_numpy()
    return {
        "n": n, "mean": float(floats.mean()),
        "std": float(floats.std(ddof=1)) if n > 1 else 0.0,
        "min": float(knots[0]), "max": float(knots[-1]),
        "quantiles": {str(q): quantile(q) for q in NAMED_QUANTILES},
        "sketch": {"values": knots.tolist(), "cdf": cdf.tolist(), "exact": exact},
        "bins": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _decile_edges(knots: np.ndarray, cdf: np.ndarray, n: int) -> np.ndarray:
    """Interior PSI bin edges: for each decile, the first knot at or above it."""
    targets = np.arange(1, PSI_BINS) * n / PSI_BINS
    at = np.searchsorted(cdf, targets, side="left").clip(0, len(knots) - 1)
    edges = np.unique(knots[at])
    return edges[edges < knots[-1]]  # an edge at the maximum leaves an empty last bin


def categorical_summary(series: pl.Series) -> dict[str, Any]:
    values = series.drop_nulls()
    if series.dtype != pl.Boolean:
        values = values.cast(pl.String)
    counted = values.value_counts(sort=True, name="count")
    name = counted.columns[0]
    top = counted.head(TOP_K)
    kept = int(top["count"].sum()) if top.height else 0
    return {"n": len(values), "cardinality": counted.height,
            "top": [[v, int(c)] for v, c in zip(top[name].to_list(), top["count"].to_list(),
                                                  strict=True)],
            "other": len(values) - kept, "exact": counted.height <= TOP_K}


# ------------------------------------------------------------------ storing and reading


def _version(store: Store, dataset: str) -> NodeRef:
    ref = store.resolve(dataset, [NodeKind.DATASET, NodeKind.DATASET_VERSION])
    if ref.kind is not NodeKind.DATASET_VERSION:
        raise ValidationError(f"a profile belongs to a dataset version: name one, e.g. "
                              f"'{ref.name}@VERSION'")
    return ref


def run_key(store: Store, run: str) -> str:
    """The key of the run `run` names: a key, or a runId, which names the stored run of
    that id (AmbiguousName when several jobs' runs have it), else a new run known by its
    id alone."""
    candidates = store.candidates(run, [NodeKind.RUN])
    if len(candidates) == 1:
        return candidates[0].key
    if candidates:
        store.resolve(run, [NodeKind.RUN])  # raises AmbiguousName with the candidates
    return run if keys.is_key(run) else keys.run_key(run)


def record_profile(store: Store, batch: Any, dataset: str, *, run: str | None = None,
                   replace: bool = False, fields: list[str] | None = None) -> Profile:
    """Profile `batch` and store it with dataset version `dataset` (`name@VERSION`), or,
    with `run`, as what that run (a run id or key; created when unknown) saw of it.

    History is immutable: recording a profile where a different one is stored raises
    ConflictError unless `replace`; recording the same distribution again changes nothing.
    """
    version = _version(store, dataset)
    made = profile(batch, fields)
    made.dataset_version = version.key
    if run is None:
        stored = store.node(version.key)
        old = stored.properties.get("profile")
        if old is not None and not replace:
            if Profile.from_dict(old).same_as(made):
                return Profile.from_dict(old, version.key)
            raise ConflictError(f"{version.name} has a different profile already (made "
                                f"{old.get('created_at')}); a version's data does not change: "
                                "profile a new version, or replace it on purpose")
        batch_ = GraphBatch()
        batch_.add_node(version.key, stored.name, stored.namespace, profile=made.payload())
        store.apply(batch_, merge=lambda _k, s, g: {**s, **g})
        return made
    rkey = run_key(store, run)
    made.run = rkey
    existing = store.nodes([rkey]).get(rkey)
    if existing is not None and existing.kind is not NodeKind.RUN:
        raise ValidationError(f"'{run}' is not a run")
    old = (existing.properties.get("profiles") or {}).get(version.key) if existing else None
    if old is not None and not replace:
        if Profile.from_dict(old).same_as(made):
            return Profile.from_dict(old, version.key, rkey)
        raise ConflictError(f"run {keys.identity(rkey)} has a different profile of "
                            f"{version.name} already; replace it on purpose")
    batch_ = GraphBatch()
    batch_.add_node(rkey, existing.name if existing else keys.identity(rkey),
                    existing.namespace if existing else None,
                    profiles={version.key: made.payload()})

    def merge(_key: str, stored: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        profiles = {**(stored.get("profiles") or {}), **given["profiles"]}
        return {**stored, "profiles": profiles}

    batch_.add_edge(version.key, rkey, EdgeKind.READ)
    store.apply(batch_, merge=merge)
    return made


def stored_profile(store: Store, dataset: str, run: str | None = None) -> Profile | None:
    """The profile stored with dataset version `dataset` (or what `run` saw of it); None
    when none was recorded."""
    version = _version(store, dataset)
    if run is None:
        data = store.node(version.key).properties.get("profile")
        return None if data is None else Profile.from_dict(data, version.key)
    rkey = run_key(store, run)
    node = store.nodes([rkey]).get(rkey)
    if node is None:
        raise NotFound(f"no run '{run}'")
    data = (node.properties.get("profiles") or {}).get(version.key)
    return None if data is None else Profile.from_dict(data, version.key, rkey)


def field_size(field_profile: dict[str, Any]) -> int:
    """Bytes of one field's profile as stored (JSON)."""
    import json

    return len(json.dumps(field_profile, separators=(",", ":")))


__all__ = ["FORMAT", "KNOTS", "PSI_BINS", "TOP_K", "Profile", "field_size",
           "profile", "profile_series", "record_profile", "stored_profile"]
