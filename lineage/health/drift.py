"""Drift: a batch against the training profile of every model version trained on its dataset,
then, through lineage, what the drifted fields reach.

    report = drift(store, "out/user_features_prod.parquet", "user_features")
    report.drifted_fields        # ['avg_amount_7d']
    report.impact["avg_amount_7d"]["model_versions"]   # fraud@1..3, with paths

Model versions are found through `trained_on` edges from the dataset's versions; each
version's stored profile (`lineage.health.record_profile`) is the reference for the model
versions trained on it. Per field: PSI over the reference's decile bins (categorical: its
top values, the rest, and missing values as one more bin each), and for numbers the two-
sample Kolmogorov-Smirnov statistic and p-value. Against a raw batch the PSI is exact and
the KS statistic is exact when the reference's sketch is (at most 257 distinct values), else
within `ks_error` (reported with each figure; about one step of the sketch's 1/256 grid
when the distributions are close). The batch is never sorted: each column is counted once,
in one pass, at the union of its references' knots, which is all KS and PSI need. The
p-value is
the asymptotic Kolmogorov distribution with Stephens' small-sample correction, as
`scipy.stats.ks_2samp` uses for large samples (within ~0.015 of it).

A numeric field that arrives as text is compared after the lenient cast a job would do:
what the cast loses becomes missing, and the missing-value bin shows it (story 1 in
STORIES.md as drift rather than as a contract violation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from .. import _keys as keys
from .._errors import DriftDetected, NotFound, ValidationError
from .._files import read_text
from .._model import NodeRef
from .._vocabulary import EdgeKind, NodeKind, path_words
from ..store.base import Store
from ._frames import lineage_type, read_batch, type_family
from .profile import Profile, profile_series, stored_profile
from .validate import resolve_dataset

#: a share below this counts as this in PSI (an empty bin would make it infinite)
PSI_FLOOR = 1e-4


# ------------------------------------------------------------------ the policy


@dataclass
class DriftPolicy:
    """When a field has drifted: PSI at or above `psi`, or a KS statistic at or above
    `ks_statistic` with a p-value below `ks_pvalue`. `fields` overrides any of the three
    per field name. Load from YAML::

        psi: 0.2
        ks_statistic: 0.1
        ks_pvalue: 0.01
        fields:
          age_filled: {psi: 0.1}
    """

    psi: float = 0.2
    ks_statistic: float = 0.1
    ks_pvalue: float = 0.01
    fields: dict[str, dict[str, float]] = _field(default_factory=dict)

    _KEYS = ("psi", "ks_statistic", "ks_pvalue")

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: float | None) -> DriftPolicy:
        """The defaults, then the YAML file at `path`, then `overrides` that are not None.
        ValidationError (with the file and key) for an unknown key or a bad value."""
        data: Any = {}
        file = None if path is None else str(path)
        if path is not None:
            try:
                data = yaml.safe_load(read_text(path)) or {}
            except yaml.YAMLError as exc:
                raise ValidationError(f"malformed YAML: {exc}", file=file) from None
        return cls.from_mapping(data, file=file, overrides=overrides)

    @classmethod
    def from_mapping(cls, data: Any, *, file: str | None = None, where: str = "",
                     overrides: dict[str, float | None] | None = None) -> DriftPolicy:
        """The defaults, then `data` (the YAML file's mapping, or a JSON object), then
        `overrides` that are not None. ValidationError naming the key (after `where`, the
        mapping's own place, e.g. `policy.`) for an unknown key or a bad value."""
        if not isinstance(data, dict):
            raise ValidationError("a drift policy is a mapping (psi, ks_statistic, "
                                  "ks_pvalue, fields)", file=file, key=where.rstrip(".") or None)
        data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        policy = cls()
        for key, value in data.items():
            if key == "fields":
                if not isinstance(value, dict):
                    raise ValidationError("fields maps a field name to its thresholds",
                                          file=file, key=f"{where}fields")
                for name, limits in value.items():
                    if not isinstance(limits, dict):
                        raise ValidationError("thresholds are a mapping", file=file,
                                              key=f"{where}fields.{name}")
                    policy.fields[str(name)] = {
                        k: _threshold(k, v, file, f"{where}fields.{name}.{k}")
                        for k, v in limits.items()}
            else:
                setattr(policy, key, _threshold(key, value, file, f"{where}{key}"))
        return policy

    def limits(self, name: str) -> tuple[float, float, float]:
        own = self.fields.get(name, {})
        return (own.get("psi", self.psi), own.get("ks_statistic", self.ks_statistic),
                own.get("ks_pvalue", self.ks_pvalue))

    def to_dict(self) -> dict[str, Any]:
        return {"psi": self.psi, "ks_statistic": self.ks_statistic,
                "ks_pvalue": self.ks_pvalue, "fields": self.fields}


def _threshold(key: str, value: Any, file: str | None, where: str) -> float:
    if key not in DriftPolicy._KEYS:
        raise ValidationError(f"unknown key '{key}'; a drift policy has psi, ks_statistic, "
                              "ks_pvalue and fields", file=file, key=where)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
            key != "psi" and value > 1):
        raise ValidationError(f"{key} must be a number >= 0" + ("" if key == "psi" else
                                                                  " and <= 1"),
                              file=file, key=where)
    return float(value)


# ------------------------------------------------------------------ distributions


class _Numeric:
    """A numeric distribution as knots with the count at or below each: exact (every
    distinct value) or a sketch, linear between knots."""

    def __init__(self, knots: np.ndarray, cdf: np.ndarray, total: int, exact: bool) -> None:
        self.knots, self.cdf, self.exact = knots, cdf.astype(np.float64), exact
        self.n = int(cdf[-1]) if len(cdf) else 0
        self.total = total  # rows, missing ones included
        self.missing = total - self.n

    @classmethod
    def from_profile(cls, f: dict[str, Any]) -> _Numeric:
        sketch = f["sketch"]
        return cls(np.asarray(sketch["values"], dtype=np.float64),
                   np.asarray(sketch["cdf"], dtype=np.int64), int(f["count"]),
                   bool(sketch["exact"]))

    def at(self, points: np.ndarray) -> np.ndarray:
        """Share of values at or below each point."""
        if self.n == 0:
            return np.zeros(len(points))
        if points is self.knots and self.exact:
            return self.cdf / self.n
        if self.exact:
            idx = np.searchsorted(self.knots, points, side="right") - 1
            return np.where(idx >= 0, self.cdf[idx.clip(0)], 0.0) / self.n
        return np.interp(points, self.knots, self.cdf / self.n, left=0.0, right=1.0)

    @property
    def error(self) -> float:
        """Largest error of `at` (0 when exact): one step of the sketch."""
        if self.exact or self.n == 0:
            return 0.0
        return float(np.diff(np.concatenate([[0.0], self.cdf])).max() / self.n)


class _Counted:
    """A batch column's numbers counted at a set of knots (the union of every reference's
    knots for the field) in one pass, no sort of the batch (`count_at`). Each reference
    then reads the batch's distribution function at its own knots exactly."""

    def __init__(self, values: np.ndarray, total: int, knots: np.ndarray) -> None:
        self.values, self.knots = values, knots
        self.n, self.total = len(values), total
        self.missing = total - self.n
        self.le, self.lt = count_at(values, knots)

    def _read(self, points: np.ndarray, table: np.ndarray, strict: bool) -> np.ndarray:
        if self.n == 0:
            return np.zeros(len(points))
        at = np.searchsorted(self.knots, points).clip(0, max(len(self.knots) - 1, 0))
        if len(self.knots) and bool((self.knots[at] == points).all()):
            return table[at] / self.n
        # a point that is not a knot (never from a stored profile): count it directly
        compare = np.less if strict else np.less_equal
        return np.array([compare(self.values, p).sum() for p in points]) / self.n

    def at(self, points: np.ndarray) -> np.ndarray:
        """Share of values at or below each point."""
        return self._read(points, self.le, strict=False)

    def below(self, points: np.ndarray) -> np.ndarray:
        """Share of values strictly below each point."""
        return self._read(points, self.lt, strict=True)


#: most buckets `count_at` spreads a column over
MAX_BUCKETS = 1 << 18


def count_at(values: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values <= each point, values < each point) as float counts, for sorted distinct
    `points`; exact.

    A binary search per value (`np.searchsorted`) costs ~12 mispredicted branches against
    3,000 points: ~70-90 ms per 10^6 values. Instead every value goes to a bucket of an
    even grid over the central points (the first and last 1% of them fall in the two end
    buckets, so a long tail does not coarsen the grid) by arithmetic. The bucket is
    monotone in the value (IEEE subtraction of a constant, a positive scale, clip and
    truncation all are; points and values go through the same arithmetic), so a value in
    a bucket holding no point is below exactly the points of later buckets: one histogram
    and a cumulative sum count those. Only values sharing a bucket with a point are
    compared with it: equal to the bucket's only point (integer codes, counts: all of
    them) counted by index, the rest (a few % of a continuous column) placed by a sort of
    their own. Any input is counted exactly; only the time depends on how values spread."""
    m, n = len(points), len(values)
    if m == 0 or n == 0:
        return np.zeros(m), np.zeros(m)
    trim = m // 100
    lo, hi = float(points[trim]), float(points[m - 1 - trim])
    size = min(MAX_BUCKETS, max(1024, 4 * n))
    scale = size / (hi - lo) if hi > lo else math.inf
    if not math.isfinite(lo) or not math.isfinite(hi) or not math.isfinite(scale):
        ordered = np.sort(values)
        return (np.searchsorted(ordered, points, side="right").astype(np.float64),
                np.searchsorted(ordered, points, side="left").astype(np.float64))

    shift = lo - 1 / scale  # so that lo falls in bucket 1, and bucket 0 holds what is below

    def bucket_of(x: np.ndarray) -> np.ndarray:
        b = x - shift
        b *= scale
        np.clip(b, 0, size + 2, out=b)  # below lo, above hi (and infinities): the ends
        return b.astype(np.int32)  # truncation is monotone too

    slots = size + 3
    at = bucket_of(points)
    per_bucket = np.bincount(at, minlength=slots)
    marked = per_bucket > 0
    # the index of a bucket's point when it is the only one there, else -1
    owner = np.full(slots, -1, dtype=np.int32)
    alone = per_bucket[at] == 1
    owner[at[alone]] = np.flatnonzero(alone)
    buckets = bucket_of(values)
    histogram = np.bincount(buckets, minlength=slots)
    histogram[marked] = 0  # values beside a point are counted below, exactly
    below = np.concatenate([[0], np.cumsum(histogram)])[at]
    # equal to its bucket's only point (-1 reads the NaN after the points: never equal)
    own = owner[buckets]
    equal = np.append(points, np.nan)[own] == values
    on_point = np.bincount(np.where(equal, own, m), minlength=m + 1)[:m]
    cumulative = np.cumsum(on_point)
    rest = np.sort(values[marked[buckets] & ~equal])
    le = below + cumulative + np.searchsorted(rest, points, side="right")
    lt = below + cumulative - on_point + np.searchsorted(rest, points, side="left")
    return le.astype(np.float64), lt.astype(np.float64)


def ks_batch(reference: _Numeric, current: _Counted) -> tuple[float, float, float]:
    """(statistic, p-value, error bound) of a raw batch against a reference profile.

    Both distribution functions are known exactly at the reference's knots (the batch's
    at and just below each). An exact reference is constant between its knots, so the
    largest gap is at one of them: the statistic is exact. A sketched reference is only
    bounded between knots (by its neighbours' counts): the exact statistic lies between
    the largest gap at the knots and the largest gap those bounds allow; the answer is the
    midpoint, and the error half their distance."""
    if reference.n == 0 or current.n == 0:
        return math.nan, math.nan, 0.0
    knots, ref = reference.knots, reference.cdf / reference.n
    at, below = current.at(knots), current.below(knots)
    before = np.concatenate([[0.0], ref[:-1]])  # the reference just below each knot
    low = float(np.abs(ref - at).max())
    if reference.exact:
        statistic = max(low, float(np.abs(before - below).max()))
        return statistic, ks_pvalue(statistic, reference.n, current.n), 0.0
    # between knots i and i+1: the reference lies in [ref_i, ref_i+1], the batch in
    # [at_i, below_i+1]; below the first knot the reference is 0, above the last 1
    high = max(low, float(below[0]), float((ref[1:] - at[:-1]).max(initial=0.0)),
               float((below[1:] - ref[:-1]).max(initial=0.0)))
    # the estimate: also at points inside each step, where the batch is known exactly and
    # the reference is interpolated (a distribution function is close to linear over
    # 1/256 of its mass); the exact statistic stays within [low, high] whatever it is
    inner = _inner_points(knots)
    guess = float(np.abs(np.interp(inner, knots, ref) - current.at(inner)).max(initial=0.0))
    statistic = min(max(low, guess), high)
    error = max(high - statistic, statistic - low)
    return statistic, ks_pvalue(statistic, reference.n, current.n), error


#: points per step of a sketch at which a batch is also counted (see `ks_batch`)
INNER_POINTS = 3


def _inner_points(knots: np.ndarray) -> np.ndarray:
    if len(knots) < 2:
        return np.array([], dtype=np.float64)
    steps = np.arange(1, INNER_POINTS + 1) / (INNER_POINTS + 1)
    return (knots[:-1, None] + np.diff(knots)[:, None] * steps[None, :]).ravel()


def evaluation_points(sketch: dict[str, Any]) -> np.ndarray:
    """Where a batch is counted to be compared with a stored numeric profile: its knots,
    and for a sketch (not exact) `INNER_POINTS` inside each step."""
    knots = np.asarray(sketch["values"], dtype=np.float64)
    if sketch["exact"]:
        return knots
    return np.union1d(knots, _inner_points(knots))


def ks(reference: _Numeric, current: _Numeric) -> tuple[float, float, float]:
    """(statistic, p-value, error bound on the statistic)."""
    if reference.n == 0 or current.n == 0:
        return math.nan, math.nan, 0.0
    # both distribution functions only jump at their knots: the largest gap is at one of
    # them (evaluating at the union needs no sort: each side looks points up in its own)
    statistic = max(
        float(np.abs(reference.at(current.knots) - current.at(current.knots)).max()),
        float(np.abs(reference.at(reference.knots) - current.at(reference.knots)).max()))
    return statistic, ks_pvalue(statistic, reference.n, current.n), reference.error + \
        current.error


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Two-sided p-value of a two-sample KS statistic: the Kolmogorov distribution at
    (sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D, en = n m / (n + m) (Stephens' correction)."""
    en = n * m / (n + m)
    lam = (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * statistic
    if lam < 0.2:  # the series converges slowly there, and the answer is 1 to 1e-9
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return float(min(1.0, max(0.0, 2 * total)))


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins; shares below
    PSI_FLOOR count as PSI_FLOOR."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_psi(f: dict[str, Any], current: _Numeric | _Counted) -> float:
    """PSI over the reference's decile bins plus a missing-value bin (when either side
    has missing values)."""
    edges = np.asarray(f["bins"]["edges"], dtype=np.float64)
    ref_counts = np.asarray(f["bins"]["counts"], dtype=np.float64)
    total_ref = float(f["count"])
    ref_missing = total_ref - ref_counts.sum()
    if current.n:
        below = current.at(edges) * current.n
        cur_counts = np.diff(np.concatenate([[0.0], below, [current.n]]))
    else:
        cur_counts = np.zeros(len(ref_counts))
    expected = list(ref_counts / total_ref) if total_ref else [0.0] * len(ref_counts)
    actual = list(cur_counts / current.total) if current.total else [0.0] * len(cur_counts)
    if ref_missing or current.missing:
        expected.append(ref_missing / total_ref if total_ref else 0.0)
        actual.append(current.missing / current.total if current.total else 0.0)
    return psi(expected, actual)


def _categorical_psi(f: dict[str, Any], counts: dict[str, int], total: int, missing: int
                     ) -> float:
    """PSI over the reference's top values, the rest, and missing values."""
    top = [_key(v) for v, _c in f["top"]]
    ref_total = float(f["count"])
    expected = [c / ref_total for _v, c in f["top"]]
    actual = [counts.get(v, 0) / total for v in top]
    rest_ref = f["other"] / ref_total
    rest_cur = (total - missing - sum(counts.get(v, 0) for v in top)) / total
    if rest_ref or rest_cur:
        expected.append(rest_ref)
        actual.append(rest_cur)
    if f["nulls"] or missing:
        expected.append(f["nulls"] / ref_total)
        actual.append(missing / total)
    return psi(expected, actual)


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------ one field


@dataclass
class FieldDrift:
    """One field against one reference profile."""

    field: str
    kind: str
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    #: bound on |ks_statistic - the exact two-sample statistic| (0: exact)
    ks_error: float = 0.0
    reference_missing: float = 0.0
    current_missing: float = 0.0
    drifted: bool = False
    reasons: list[str] = _field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else x

        return {"field": self.field, "kind": self.kind, "psi": num(self.psi),
                "ks_statistic": num(self.ks_statistic), "ks_pvalue": num(self.ks_pvalue),
                "ks_error": self.ks_error, "reference_missing": self.reference_missing,
                "current_missing": self.current_missing, "drifted": self.drifted,
                "reasons": self.reasons, "note": self.note}


class BatchColumn:
    """A batch's column, prepared once for every reference profile it is compared with:
    its numbers are counted once at the union of the references' knots (`knots`), its
    values counted once."""

    def __init__(self, series: pl.Series, knots: np.ndarray | None = None) -> None:
        self.series = series
        self.knots = knots
        self._numbers: tuple[np.ndarray | None, str | None] | None = None
        self._counted: dict[bytes, _Counted] = {}
        self._values: pl.DataFrame | None = None

    def numbers(self) -> tuple[np.ndarray | None, str | None]:
        """The column's numbers (text through a lenient cast; nulls, NaN and infinities
        dropped, as a profile drops them), and a note on how they were read."""
        if self._numbers is None:
            self._numbers = self._as_numbers()
        return self._numbers

    def _as_numbers(self) -> tuple[np.ndarray | None, str | None]:
        series, note = self.series, None
        family = type_family(lineage_type(series.dtype))
        if family == "string":
            values = series.str.strip_chars().cast(pl.Float64, strict=False)
            lost = int((values.is_null() & series.is_not_null()).sum())
            note = (f"arrived as text: compared after a lenient numeric cast, which turned "
                    f"{lost:,} value(s) ({lost / max(len(series), 1):.1%}) into missing ones")
        elif family == "temporal":
            values = series.to_physical().cast(pl.Float64)
        elif family == "numeric":
            values = series.cast(pl.Float64)
        else:
            return None, f"arrived as {lineage_type(series.dtype)}: not comparable"
        values = values.drop_nulls()
        return values.filter(values.is_finite()).to_numpy().astype(np.float64, copy=False), note

    def counted(self, reference_knots: np.ndarray) -> tuple[_Counted | None, str | None]:
        """The numbers counted at points holding `reference_knots` (a reference's
        evaluation points; the union over every reference when the column was given it)."""
        values, note = self.numbers()
        if values is None:
            return None, note
        knots = self.knots
        if knots is None or not np.isin(reference_knots, knots).all():
            knots = reference_knots
        key = knots.tobytes()
        if key not in self._counted:
            self._counted[key] = _Counted(values, len(self.series), knots)
        return self._counted[key], note

    def prepare(self) -> None:
        """Count what the references will read: the numbers at `knots` when given (a
        numeric reference), else the values (a categorical one)."""
        if self.knots is not None:
            self.counted(self.knots)
        else:
            self.counts([])

    def counts(self, values: list[str]) -> tuple[dict[str, int], int, int]:
        """Counts of `values` (as text), rows, missing rows."""
        if self._values is None:
            present = self.series.drop_nulls()
            if present.dtype == pl.Boolean:
                present = present.cast(pl.String).str.to_lowercase()
            self._values = present.cast(pl.String).value_counts(name="count")
        counted = self._values
        name = counted.columns[0]
        hits = counted.filter(pl.col(name).is_in(values))
        found = dict(zip(hits[name].to_list(), hits["count"].to_list(), strict=True))
        return ({v: int(c) for v, c in found.items()}, len(self.series),
                self.series.null_count())


#: what the current side of a comparison is: a column of the batch, or a stored profile
Current = BatchColumn | pl.Series | dict[str, Any]


def compare_field(name: str, reference: dict[str, Any], current: Current,
                  policy: DriftPolicy) -> FieldDrift:
    """Compare one field's reference profile with the batch's column (or its profile)."""
    if isinstance(current, pl.Series):
        current = BatchColumn(current)
    kind = reference["kind"]
    result = FieldDrift(name, kind)
    total_ref = reference["count"] or 1
    if kind == "numeric":
        result.reference_missing = (reference["count"] - reference["n"]) / total_ref
        ref = _Numeric.from_profile(reference)
        cur: _Numeric | _Counted | None
        if isinstance(current, BatchColumn):
            cur, result.note = current.counted(evaluation_points(reference["sketch"]))
            if cur is not None:
                result.ks_statistic, result.ks_pvalue, result.ks_error = ks_batch(ref, cur)
        elif current.get("kind") == "numeric":
            cur = _Numeric.from_profile(current)
            result.note = "profile against profile: PSI and KS from both sketches"
            result.ks_statistic, result.ks_pvalue, result.ks_error = ks(ref, cur)
        else:
            cur, result.note = None, (f"now {current.get('type')}: not comparable with a "
                                      "numeric profile")
        if cur is None:
            return result
        result.current_missing = cur.missing / cur.total if cur.total else 0.0
        result.psi = _numeric_psi(reference, cur)
    elif kind == "categorical":
        result.reference_missing = reference["nulls"] / total_ref
        counts, total, missing = _categorical_current(reference, current, result)
        if total == 0:
            result.note = result.note or "the batch has no rows"
            return result
        result.current_missing = missing / total
        result.psi = _categorical_psi(reference, counts, total, missing)
    else:
        result.note = f"{reference['type']} fields are not compared"
        return result
    limit_psi, limit_ks, limit_p = policy.limits(name)
    if result.psi is not None and result.psi >= limit_psi:
        result.reasons.append(f"PSI {result.psi:.3f} >= {limit_psi}")
    if result.ks_statistic is not None and not math.isnan(result.ks_statistic) and \
            result.ks_statistic >= limit_ks and (result.ks_pvalue or 0.0) < limit_p:
        result.reasons.append(f"KS {result.ks_statistic:.3f} >= {limit_ks} "
                              f"(p {result.ks_pvalue:.2g} < {limit_p})")
    result.drifted = bool(result.reasons)
    return result


def _categorical_current(reference: dict[str, Any], current: BatchColumn | dict[str, Any],
                         result: FieldDrift) -> tuple[dict[str, int], int, int]:
    if isinstance(current, BatchColumn):
        return current.counts([_key(v) for v, _c in reference["top"]])
    if current.get("kind") != "categorical":
        result.note = f"now {current.get('type')}: not comparable with a categorical profile"
        return {}, 0, 0
    if not current.get("exact"):
        result.note = "profile against profile: values outside its top ones are pooled"
    counts = {_key(v): int(c) for v, c in current["top"]}
    return counts, int(current["count"]), int(current["nulls"])


# ------------------------------------------------------------------ the report


@dataclass
class Comparison:
    """The batch against one reference profile: a dataset version the listed model
    versions trained on."""

    reference: str
    model_versions: list[str]
    fields: list[FieldDrift] = _field(default_factory=list)
    #: False when the reference has no stored profile (nothing was compared)
    profiled: bool = True
    note: str | None = None

    @property
    def drifted(self) -> list[FieldDrift]:
        return [f for f in self.fields if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "model_versions": self.model_versions,
                "profiled": self.profiled, "note": self.note,
                "drifted": [f.field for f in self.drifted],
                "fields": [f.to_dict() for f in self.fields]}


@dataclass
class DriftReport:
    dataset: NodeRef
    rows: int
    policy: DriftPolicy
    comparisons: list[Comparison]
    source: str | None = None
    #: per drifted field: the features, model versions and consumers it reaches, with paths
    impact: dict[str, dict[str, list[dict[str, Any]]]] = _field(default_factory=dict)
    notes: list[str] = _field(default_factory=list)
    notifications: int = 0

    @property
    def drifted_fields(self) -> list[str]:
        return sorted({f.field for c in self.comparisons for f in c.drifted})

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_fields)

    def summary(self) -> str:
        compared = [c for c in self.comparisons if c.profiled]
        if not self.drifted:
            return (f"no drift: {self.rows:,} rows against {len(compared)} training "
                    "profile(s)")
        models = sorted({m for c in compared if c.drifted for m in c.model_versions})
        reached = sorted({r["key"] for i in self.impact.values()
                          for r in i.get("consumers", [])})
        return (f"DRIFT: {', '.join(self.drifted_fields)} drifted from what "
                f"{', '.join(keys.identity(m) for m in models)} trained on; reaches "
                f"{len(reached)} consumer(s)")

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.key, "source": self.source, "rows": self.rows,
                "drifted": self.drifted, "drifted_fields": self.drifted_fields,
                "summary": self.summary(), "policy": self.policy.to_dict(),
                "comparisons": [c.to_dict() for c in self.comparisons],
                "impact": self.impact, "notes": self.notes,
                "notifications": self.notifications}


def training_references(store: Store, dataset: NodeRef) -> tuple[dict[str, list[str]],
                                                                   list[str]]:
    """Dataset version key -> the model versions trained on it (through `trained_on`),
    for every version of `dataset`; and notes on what could not be placed."""
    notes = []
    by_version: dict[str, list[str]] = {}
    for edge, ref in store.neighbours(dataset.key):
        if edge.kind is EdgeKind.VERSION_OF and edge.dst == dataset.key:
            trained = sorted(other.key for e, other in store.neighbours(ref.key)
                             if e.kind is EdgeKind.TRAINED_ON and e.src == ref.key)
            if trained:
                by_version[ref.key] = trained
        elif edge.kind is EdgeKind.TRAINED_ON and edge.src == dataset.key:
            notes.append(f"{keys.identity(edge.dst)} trained on {dataset.name} without a "
                         "version: no training profile to compare with")
    return by_version, notes


def drift(store: Store, batch: Any | None, dataset: str, *, against: str | None = None,
          current: str | None = None, run: str | None = None,
          policy: DriftPolicy | None = None, notify: bool = False,
          raise_on_drift: bool = False) -> DriftReport:
    """Compare `batch` (a file or a frame) with the training profile of every model version
    trained on a version of `dataset` (or only with `against`, a `name@VERSION` whose
    profile is stored), then follow each drifted field downstream.

    Without a batch, `current` names a stored profile to compare instead (`name@VERSION`,
    with `run` for a run's). Raises NotFound when there is nothing to compare with,
    DriftDetected (carrying the report) when `raise_on_drift` and a field drifted.
    With `notify`, the consumers the drift reaches are told through their channels.
    """
    policy = policy or DriftPolicy()
    ref, _version = resolve_dataset(store, dataset)
    frame: pl.DataFrame | None = None
    source: str | None = None
    current_profile: Profile | None = None
    if batch is not None:
        frame, _typed, source = read_batch(batch)
    elif current is not None:
        current_profile = stored_profile(store, current, run)
        if current_profile is None:
            raise NotFound(f"no profile stored for {current}" + (f" (run {run})" if run else ""))
        source = current + (f" (run {run})" if run else "")
    else:
        raise ValidationError("give a batch to compare, or a stored profile (current=)")
    if against is not None:
        version, _v = resolve_dataset(store, against)
        if _v is None:
            raise ValidationError(f"--against names a dataset version: '{against}@VERSION'")
        trained, _notes = training_references(store, ref)
        references, notes = {_v: trained.get(_v, [])}, list[str]()
    else:
        references, notes = training_references(store, ref)
        if not references:
            raise NotFound(f"no model version was trained on a version of {ref.name}; name "
                           "a profiled version to compare with (--against NAME@VERSION)")
    comparisons = []
    rows = frame.height if frame is not None else (current_profile.rows
                                                   if current_profile else 0)
    stored_by_version = {v: stored_profile(store, v) for v in references}
    knots: dict[str, list[np.ndarray]] = {}
    categorical: set[str] = set()
    for found in stored_by_version.values():
        for name, f in (found.fields if found else {}).items():
            if f.get("kind") == "numeric":
                knots.setdefault(name, []).append(evaluation_points(f["sketch"]))
            elif f.get("kind") == "categorical":
                categorical.add(name)
    union = {name: np.unique(np.concatenate(k)) for name, k in knots.items()}
    prepared: dict[str, BatchColumn] = {}
    if frame is not None:
        # each column counted once, for every reference, all of them side by side
        for name in [*union, *sorted(categorical - set(union))]:
            if name in frame.columns:
                prepared[name] = BatchColumn(frame[name], union.get(name))
        _count_in_threads(list(prepared.values()))
    for version_key in sorted(references):
        models = references[version_key]
        stored = stored_by_version[version_key]
        if stored is None:
            comparisons.append(Comparison(
                version_key, models, profiled=False,
                note=f"no profile stored for {keys.identity(version_key)}: "
                     f"{', '.join(keys.identity(m) for m in models) or 'it'} not compared; "
                     "record one with `lineage profile`"))
            continue
        comparison = Comparison(version_key, models)
        for name, reference in sorted(stored.fields.items()):
            if frame is not None:
                if name not in frame.columns:
                    comparison.fields.append(FieldDrift(name, reference["kind"],
                                                        note="missing from the batch"))
                    continue
                if name not in prepared:
                    prepared[name] = BatchColumn(frame[name], union.get(name))
                comparison.fields.append(compare_field(name, reference, prepared[name],
                                                       policy))
            else:
                assert current_profile is not None
                other = current_profile.fields.get(name)
                if other is None:
                    comparison.fields.append(FieldDrift(name, reference["kind"],
                                                        note="missing from the profile"))
                    continue
                comparison.fields.append(compare_field(name, reference, other, policy))
        comparisons.append(comparison)
    if not any(c.profiled for c in comparisons):
        notes.append("no training profile is stored: nothing was compared")
    report = DriftReport(ref, rows, policy, comparisons, source, notes=notes)
    report.impact = _impact(store, ref, report.drifted_fields)
    if notify and report.drifted:
        report.notifications = _notify(store, report)
    if raise_on_drift and report.drifted:
        raise DriftDetected(report.summary(), report)
    return report


def _count_in_threads(columns: list[BatchColumn]) -> None:
    """Count the columns side by side (`BatchColumn.prepare`): numpy's and polars' work
    releases the GIL, so a column per core."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(columns), os.cpu_count() or 1, 8)
    if workers <= 1:
        for column in columns:
            column.prepare()
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(BatchColumn.prepare, columns))


def _impact(store: Store, dataset: NodeRef, fields: list[str]
            ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """For each drifted field: the features, model versions and consumers downstream."""
    prefix = keys.fields_prefix(dataset.key)
    existing = store.exists(prefix + f for f in fields) if fields else set()
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in fields:
        key = prefix + name
        if key not in existing:
            result[name] = {"features": [], "model_versions": [], "consumers": [],
                            "note": [{"text": f"no field node {key}: lineage unknown"}]}
            continue
        groups = store.impact(key).groups  # type: ignore[union-attr]
        result[name] = {
            "features": [_reached(r) for r in groups.get(NodeKind.FEATURE, [])],
            "model_versions": [_reached(r) for r in groups.get(NodeKind.MODEL_VERSION, [])],
            "consumers": [_reached(r) for r in groups.get(NodeKind.CONSUMER, [])],
        }
    return result


def _reached(r: Any) -> dict[str, Any]:
    """A reached node with its path, by names for people and by keys for machines."""
    steps = r.path
    text = path_words([n.name for _e, n in steps], [e for e, _n in steps[1:]])
    return {"key": r.node.key, "name": r.node.name, "path": text,
            "path_keys": [n.key for _e, n in steps]}


def _notify(store: Store, report: DriftReport) -> int:
    """One notification per reached consumer and channel; the same drift of the same batch
    announced twice enqueues nothing new (the idempotency key holds both)."""
    import hashlib
    import json

    from .._model import NotificationSpec

    consumers: dict[str, list[str]] = {}
    for name, reached in report.impact.items():
        for c in reached.get("consumers", []):
            consumers.setdefault(c["key"], []).append(name)
    if not consumers:
        return 0
    channels = store.channels(list(consumers))
    digest = hashlib.sha256(json.dumps(
        [c.to_dict() for c in report.comparisons], sort_keys=True, default=str
    ).encode()).hexdigest()[:16]
    drifted = [{"reference": c.reference, "model_versions": c.model_versions,
                "fields": [f.to_dict() for f in c.drifted]} for c in report.comparisons
               if c.drifted]
    specs = []
    for consumer, fields in sorted(consumers.items()):
        names = sorted(set(fields))
        text = (f"drift in {report.dataset.name}: {', '.join(names)} drifted from the "
                f"training data of models you depend on. {report.summary()}")
        for channel in channels.get(consumer, []):
            key = f"drift:{consumer}:{channel.kind}:{channel.target}:{digest}"
            specs.append(NotificationSpec(
                idempotency_key=key, consumer=consumer, channel_kind=channel.kind,
                channel_target=channel.target, event="drift",
                payload={"schema": "lineage.drift/1", "idempotency_key": key,
                         "event": "drift", "text": text,
                         "subject": f"drift in {report.dataset.name}: {', '.join(names)}",
                         "consumer": {"key": consumer, "name": keys.identity(consumer)},
                         "dataset": report.dataset.key, "fields": names, "drift": drifted,
                         "impact": {n: report.impact[n] for n in names}}))
    return store.enqueue(specs)


def compare_profiles(reference: Profile, current: Profile,
                     policy: DriftPolicy | None = None) -> list[FieldDrift]:
    """Field-by-field drift between two stored profiles (PSI and KS from sketches)."""
    policy = policy or DriftPolicy()
    return [compare_field(name, f, current.fields[name], policy)
            for name, f in sorted(reference.fields.items()) if name in current.fields]


__all__ = ["BatchColumn", "Comparison", "DriftPolicy", "DriftReport", "FieldDrift", "compare_field",
           "compare_profiles", "count_at", "drift", "ks_pvalue", "profile_series", "psi",
           "training_references"]
