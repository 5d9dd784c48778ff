"""The training guard on a Spark DataFrame: the same check where a table too large for one
machine lives.

    export_fingerprints(store, "fingerprints.parquet")   # lineage export-fingerprints
    report = check_spark(store, spark.read.parquet("s3://lake/fraud/train"),
                         "fingerprints.parquet", key="transaction_id", label="is_fraud",
                         dataset="fraud.labels", model="fraud@3")

What runs where. The driver does what needs the store and is small: which concepts and
scopes a label column is tied to, the lineage and feedback-loop checks, the report. The
executors do what grows with the table. Each partition is fingerprinted, as Arrow batches,
by the local guard's own functions (`provenance._scope.fingerprints` and `value_spread`:
one definition of key and value normalisation); the fingerprints are joined in Spark
against the export; each row gets its verdict from the local guard's own rule
(`guard._codes`). The export holds, per scope, what the local guard joins against,
computed by the function the local guard uses (`guard._scope_support`). So the report —
counts, examples with their row numbers, agents, findings, matched concepts, errors — is
the local guard's on the same rows (tests/test_guard_spark.py compares the two on the
guard's laundering scenarios). Row numbers count in the DataFrame's partition order: for a
Parquet file, or a frame built from a local table, the file's order.

pyspark is an optional dependency (`pip install 'lineage[spark]'`); this module imports
it only when `check_spark` runs. The export is a snapshot: `check_spark` refuses one that
lacks a batch the store holds on a scope the check consults (re-export then), so a stale
export never passes rows that a newer AI batch would block.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ._errors import ValidationError
from ._model import AssertionBatch
from ._vocabulary import NodeKind
from .guard import (
    _CODE,
    _SEVERITY_BY_CODE,
    _TRUTH,
    VERDICTS,
    Finding,
    GuardReport,
    Policy,
    _blank,
    _codes,
    _conflict_error,
    _content_candidates,
    _example,
    _explicit_concepts,
    _Label,
    _lineage_findings,
    _loop_findings,
    _model_versions,
    _offending,
    _pick_examples,
    _raise_if_blocked,
    _report,
    _scope_spec,
    _scope_support,
    _scopes,
    _select_matches,
    _tie_label,
    _trained_on_findings,
)
from .provenance import Tainted, key_columns_of, taint
from .provenance._scope import ValueSpec, fingerprints, scope_of, value_spread
from .provenance._tables import require_columns
from .store.base import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["FingerprintExport", "check_spark", "export_fingerprints"]

#: the Parquet key-value metadata entry that describes an export
META_KEY = b"lineage.fingerprints"
FORMAT = 1
#: the row number column the check adds (a name no training table is expected to use)
ROW = "__lineage_row"
# what an export row is: the truth or AI side a value is joined against (`_scope_support`),
# an entity the truth side speaks of, any recorded entity, any other recorded value (the
# last two for matching a column by content)
SIDES = ("truth", "ai", "truth_entity", "entity", "value")


# ------------------------------------------------------------------ the export


@dataclass(frozen=True)
class FingerprintExport:
    """An export's path, when it was written, and the batches it holds by scope."""

    path: str
    exported_at: str
    batches: dict[str, list[int]]
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "exported_at": self.exported_at, "rows": self.rows,
                "scopes": len(self.batches),
                "batches": sum(len(b) for b in self.batches.values())}


def export_fingerprints(store: Store, path: str | Path) -> FingerprintExport:
    """Write what the guard joins against, for every scope the store holds assertions on,
    to one Parquet file (`scope`, `side`, `fp`, `conf`, `batch`; see SIDES), with the
    batches it covers in the file's metadata. The file is replaced atomically. A store
    without assertions exports an empty file: checked against it, no label matches."""
    scopes = _scopes(store)
    parts = [_frame("", "", [])]
    parts += [part for scope in sorted(scopes) for part in _scope_rows(store, scope,
                                                                       scopes[scope])]
    table = pl.concat(parts, how="vertical").to_arrow()
    exported_at = datetime.now(UTC).isoformat()
    meta = {"format": FORMAT, "exported_at": exported_at,
            "batches": [{"id": b.id, "scope": b.concept, "origin": b.origin.value,
                         "agent": b.agent, "field": b.field, "rows": b.rows}
                        for bs in scopes.values() for b in bs]}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode("utf-8")})
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        pq.write_table(table, partial, row_group_size=1 << 20)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ValidationError(f"cannot write the fingerprint export: {exc.strerror or exc}",
                              file=str(target)) from None
    return FingerprintExport(str(target), exported_at,
                             {sc: [b.id for b in bs if b.id is not None]
                              for sc, bs in scopes.items()}, table.num_rows)


def _scope_rows(store: Store, scope: str,
                batches: Sequence[AssertionBatch]) -> list[pl.DataFrame]:
    truth_side = [b for b in batches if b.origin in _TRUTH]
    ai_side = [b for b in batches if b.origin not in _TRUTH]
    ids = [b.id for b in batches if b.id is not None]
    columns = store.assertion_columns(ids, ["entity", "value", "confidence"])
    if not columns:
        return []
    truth_ids = [b.id for b in truth_side if b.id is not None and b.id in columns]
    support, known_truth = _scope_support(truth_side, ai_side, columns,
                                          {i: columns[i] for i in truth_ids})

    truth = support["truth"].to_numpy()
    fp, conf, batch = (support[c].to_numpy() for c in ("fp", "conf", "batch"))
    values = pl.Series(np.concatenate([c["value"] for c in columns.values()])).unique()
    others = values.filter(~values.is_in(support["fp"].implode()))
    entities = pl.Series(np.concatenate([c["entity"] for c in columns.values()])).unique()
    return [_frame(scope, "truth", fp[truth], conf[truth], batch[truth]),
            _frame(scope, "ai", fp[~truth], conf[~truth], batch[~truth]),
            _frame(scope, "truth_entity", pl.Series(known_truth).unique().to_numpy()),
            _frame(scope, "entity", entities.to_numpy()),
            _frame(scope, "value", others.to_numpy())]


def _frame(scope: str, side: str, fp: Any, conf: Any = None,
           batch: Any = None) -> pl.DataFrame:
    n = len(fp)
    return pl.DataFrame({
        "scope": pl.Series([scope] * n, dtype=pl.Utf8),
        "side": pl.Series([side] * n, dtype=pl.Utf8),
        "fp": pl.Series(fp, dtype=pl.Int64),
        "conf": pl.Series(conf if conf is not None else [None] * n, dtype=pl.Float32),
        "batch": pl.Series(batch if batch is not None else [None] * n, dtype=pl.Int64)})


def read_export(path: str | Path) -> FingerprintExport:
    """An export's metadata (read from its Parquet footer only); ValidationError for a
    file that is not one."""
    try:
        schema = pq.read_schema(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise ValidationError(f"cannot read the fingerprint export: {exc}; write one with "
                              f"`lineage export-fingerprints`", file=str(path)) from None
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValidationError("not a fingerprint export (no lineage metadata); write one "
                              "with `lineage export-fingerprints`", file=str(path))
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValidationError(f"fingerprint export format {meta.get('format')} is not "
                              f"{FORMAT}; re-export with this version", file=str(path))
    batches: dict[str, list[int]] = {}
    for b in meta["batches"]:
        batches.setdefault(b["scope"], []).append(int(b["id"]))
    return FingerprintExport(str(path), meta["exported_at"], batches)


# ------------------------------------------------------------------ the check


@dataclass(frozen=True)
class _Slot:
    """One (scope, key order, value spelling) a label column is fingerprinted under."""

    slot: int
    sid: int  # the scope's number in this check
    scope: str
    order: tuple[str, ...]
    spec: ValueSpec


@dataclass
class _SparkLabel:
    codes: DataFrame  # ROW, code, agent, model_only
    touched: bool
    counts: dict[str, int]
    duplicates: int = 0


def check_spark(
    store: Store,
    df: DataFrame,
    fingerprints_path: str | Path,
    *,
    key: str | Sequence[str],
    label: str | Sequence[str],
    dataset: str | None = None,
    model: str | None = None,
    policy: Policy | None = None,
    raise_on_block: bool = True,
    concept: str | Mapping[str, str] | None = None,
) -> GuardReport:
    """`guard.check_training` on a Spark DataFrame, joining in Spark against an export of
    the store's fingerprints (`export_fingerprints`). Same arguments, same report, same
    errors (ProvenanceViolation, UnmatchedLabels, ValidationError, NotFound); also
    ValidationError for an export that is not one or lacks a batch the check needs."""
    check = _SparkCheck(store, df, fingerprints_path, key, label, policy or Policy())
    try:
        report = check.run(dataset, model, concept)
    finally:
        check.release()
    if raise_on_block:
        _raise_if_blocked(report)
    return report


class _SparkCheck:
    """One check: the indexed table, the export, and what the driver learnt so far."""

    def __init__(self, store: Store, df: DataFrame, path: str | Path,
                 key: str | Sequence[str], label: str | Sequence[str], policy: Policy) -> None:
        self.store, self.df, self.policy = store, df, policy
        self.key_columns = [key] if isinstance(key, str) else list(key)
        self.labels = [label] if isinstance(label, str) else list(label)
        self.export = read_export(path)
        self.path = str(path)
        self.spark = df.sparkSession
        self.cached: list[DataFrame] = []
        self.sids: dict[str, int] = {}
        self.exported: DataFrame | None = None

    def release(self) -> None:
        for frame in self.cached:
            frame.unpersist()

    def _keep(self, frame: DataFrame) -> DataFrame:
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self.cached.append(frame)
        return frame

    # -------------------------------------------------------------- the flow

    def run(self, dataset: str | None, model: str | None,
            concept: str | Mapping[str, str] | None) -> GuardReport:
        """The local guard's flow (`check_training`), step for step."""
        store, policy, key_columns, labels = self.store, self.policy, self.key_columns, \
            self.labels
        if not labels:
            raise ValidationError("at least one label column is needed")
        explicit = _explicit_concepts(store, concept, labels)
        versions = _model_versions(store, model) if model else None
        dataset_key = store.resolve(dataset, [NodeKind.DATASET]).key if dataset else None
        require_columns(pl.DataFrame(schema=dict.fromkeys(self.df.columns, pl.Utf8)),
                        [*key_columns, *labels], "training table")
        rows = self._index()

        specs = key_columns_of(store, dataset_key, key_columns)
        scopes = _scopes(store)
        self.scopes = scopes
        agent_of = {b.id: b.agent for bs in scopes.values() for b in bs if b.id is not None}
        duplicates = 0
        results: dict[str, _SparkLabel] = {}
        findings: list[Finding] = []
        checked: list[_Label] = []
        tainted: dict[str, Tainted] | None = None
        for column in labels:
            tie = _tie_label(store, column, dataset=dataset, explicit=explicit, scopes=scopes,
                             specs=specs, key_columns=key_columns,
                             check=partial(self._check_label, column, rows=rows),
                             match=partial(self._content_matches, column))
            result, spec, targets = tie.result, tie.spec, tie.targets
            checked.append(tie.label)
            if result is None:
                neutral = _Slot(0, 0, scope_of("", specs), tuple(s.column for s in specs),
                                spec)
                long = self._fingerprint(column, [neutral])
                duplicates = max(duplicates, self._conflicts(long, column, neutral))
                from pyspark.sql import functions as F

                codes = self.indexed.select(
                    F.col(ROW), F.lit(_CODE["unverified"]).cast("byte").alias("code"),
                    F.lit(-1).cast("long").alias("agent"), F.lit(False).alias("model_only"))
                result = _SparkLabel(codes, False, {"unverified": rows})
            duplicates = max(duplicates, result.duplicates)
            results[column] = result
            if targets and tainted is None:
                tainted = {t.node.key: t for t in taint(store, (NodeKind.FIELD,))}
            findings += _lineage_findings(store, targets, versions, tainted or {})
        findings += _trained_on_findings(store, versions)
        combined = self._combine(results)
        if versions is not None:
            findings += _loop_findings(versions, self._loop_counts(results, versions,
                                                                   agent_of))
        counts_by_label = {c: r.counts for c, r in results.items()}
        counts = (counts_by_label[labels[0]] if len(labels) == 1
                  else self._counts(combined))
        return _report(
            rows=rows, keys=key_columns, labels=labels, dataset=dataset, model=model,
            policy=policy, counts=counts, counts_by_label=counts_by_label,
            examples=self._examples(combined, agent_of), findings=findings,
            checked=checked, duplicates=duplicates)

    # -------------------------------------------------------------- rows

    def _index(self) -> int:
        """Number the rows in partition order (ROW, 0-based), refuse an empty table and
        missing keys as the local guard does; returns the row count. Each row gets its
        partition and its place in it in one pass, kept, so the numbers cannot change
        between the jobs that read them."""
        from pyspark import TaskContext
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType, LongType, StructField, StructType

        columns = list(dict.fromkeys([*self.key_columns, *self.labels]))
        source = self.df.select(*[F.col(f"`{c}`") for c in columns])

        def number(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            context = TaskContext.get()
            assert context is not None
            part, start = context.partitionId(), 0
            for batch in batches:
                n = batch.num_rows
                yield pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.array(np.full(n, part, dtype=np.int32)),
                     pa.array(np.arange(start, start + n, dtype=np.int64))],
                    names=[*batch.schema.names, "__part", ROW])
                start += n

        schema = StructType([*source.schema.fields, StructField("__part", IntegerType()),
                             StructField(ROW, LongType())])
        staged = self._keep(source.mapInArrow(number, schema))
        per_partition = staged.groupBy("__part").agg(
            F.count(F.lit(1)).alias("n"),
            *[F.sum(F.col(f"`{c}`").isNull().cast("long")).alias(f"null{i}")
              for i, c in enumerate(self.key_columns)]).collect()
        offsets: dict[int, int] = {}
        total = 0
        for part in sorted(per_partition, key=lambda r: r["__part"]):
            offsets[int(part["__part"])] = total
            total += int(part["n"])
        if total == 0:
            raise ValidationError("the training table is empty")
        offset = F.create_map(*[F.lit(x) for p, o in offsets.items() for x in (p, o)])
        self.indexed = staged.withColumn(ROW, F.col(ROW) + offset[F.col("__part")]).drop(
            "__part")
        if not self.key_columns:
            raise ValidationError("at least one key column is needed")
        for i, column in enumerate(self.key_columns):
            nulls = sum(int(p[f"null{i}"] or 0) for p in per_partition)
            if nulls:
                first = self.indexed.filter(F.col(f"`{column}`").isNull()).agg(
                    F.min(ROW)).collect()[0][0]
                raise ValidationError(f"training table: key column '{column}' has {nulls} "
                                      f"missing values (first at row {int(first) + 1})")
        return total

    def _sid(self, scope: str) -> int:
        """The scope's number in this check; ValidationError when the export lacks a batch
        the store holds on it (the export is older than the batch)."""
        if scope not in self.sids:
            stored = {b.id for b in self.scopes.get(scope, []) if b.id is not None}
            missing = sorted(stored - set(self.export.batches.get(scope, [])))
            if missing:
                raise ValidationError(
                    f"the fingerprint export (written {self.export.exported_at}) lacks "
                    f"batch(es) {', '.join(map(str, missing))} on '{scope}', recorded after "
                    f"it; re-run `lineage export-fingerprints`", file=self.path)
            self.sids[scope] = len(self.sids) + 1
        return self.sids[scope]

    def _fingerprint(self, column: str, slots: Sequence[_Slot]) -> DataFrame:
        """Per row and slot: ROW, slot, sid, the entity (`e`) and value (`v`) fingerprints
        and whether the label is blank — computed on the executors by the local guard's
        functions."""
        from pyspark.sql.types import (
            BooleanType,
            IntegerType,
            LongType,
            StructField,
            StructType,
        )

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                n = frame.height
                blank = pa.array(_blank(frame[column]))
                spreads: dict[ValueSpec, np.ndarray] = {}
                for slot in slots:
                    if slot.spec not in spreads:
                        spreads[slot.spec] = value_spread(frame[column], slot.spec)
                    entity, value = fingerprints(slot.scope, frame, list(slot.order),
                                                 spreads[slot.spec])
                    yield pa.RecordBatch.from_arrays(
                        [frame[ROW].to_arrow(), pa.array(np.full(n, slot.slot, np.int32)),
                         pa.array(np.full(n, slot.sid, np.int32)), pa.array(entity),
                         pa.array(value), blank],
                        names=[ROW, "slot", "sid", "e", "v", "blank"])

        schema = StructType([StructField(ROW, LongType()), StructField("slot", IntegerType()),
                             StructField("sid", IntegerType()), StructField("e", LongType()),
                             StructField("v", LongType()), StructField("blank", BooleanType())])
        return self._keep(self.indexed.mapInArrow(run, schema))

    def _sides(self, sides: Sequence[str], slots: Sequence[_Slot]) -> DataFrame:
        """The export's rows of `sides` on the slots' scopes, each with its `sid`."""
        from pyspark.sql import functions as F

        numbers = {s.scope: s.sid for s in slots}
        mapping = F.create_map(*[F.lit(x) for sc, sid in numbers.items() for x in (sc, sid)])
        if self.exported is None:  # read once, with its schema: no job to infer it
            self.exported = self.spark.read.schema(
                "scope string, side string, fp long, conf float, batch long").parquet(self.path)
        return (self.exported
                .filter(F.col("side").isin(list(sides)) & F.col("scope").isin(list(numbers)))
                .withColumn("sid", mapping[F.col("scope")].cast("int")))

    # -------------------------------------------------------------- one label

    def _check_label(self, column: str, tied: Sequence[tuple[str, list[str]]],
                     spec: ValueSpec, rows: int) -> _SparkLabel:
        """`guard._check_label` in Spark: conflicts on the first scope, then per row the
        best truth and AI support over every tied scope, then `_codes`."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import (
            BooleanType,
            ByteType,
            LongType,
            StructField,
            StructType,
        )

        slots = [_Slot(i, self._sid(scope), scope, tuple(order), spec)
                 for i, (scope, order) in enumerate(tied)]
        long = self._fingerprint(column, slots)
        support = (self._sides(["truth", "ai"], slots)
                   .select("sid", F.col("fp").alias("v"), "conf", "batch",
                           (F.col("side") == "truth").alias("truth")))
        # every row once, its support hits and whether truth speaks of its entity, folded
        # per row by one aggregation (one shuffle, where joins back would take three): the
        # best truth confidence, the best (confidence, batch) of the AI side
        no_conf = F.lit(None).cast("float")
        no_ai = F.lit(None).cast("struct<conf:float,batch:bigint>")
        no_blank = F.lit(None).cast("boolean")
        rows_once = long.filter(F.col("slot") == 0).select(
            ROW, no_conf.alias("t"), no_ai.alias("a"), F.lit(False).alias("spoken"), "blank")
        hits = long.join(support, ["sid", "v"]).select(
            ROW, F.when(F.col("truth"), F.col("conf")).alias("t"),
            F.when(~F.col("truth"), F.struct("conf", "batch")).alias("a"),
            F.lit(False).alias("spoken"), no_blank.alias("blank"))
        spoken = long.join(self._sides(["truth_entity"], slots)
                           .select("sid", F.col("fp").alias("e")), ["sid", "e"]).select(
            ROW, no_conf.alias("t"), no_ai.alias("a"), F.lit(True).alias("spoken"),
            no_blank.alias("blank"))
        per_row = (rows_once.unionByName(hits).unionByName(spoken).groupBy(ROW)
                   .agg(F.max("t").alias("t"), F.max("a").alias("a"),
                        F.max("spoken").alias("spoken"), F.max("blank").alias("blank"))
                   .select(ROW, "blank", "t", F.col("a.conf").alias("ai"),
                           F.col("a.batch").alias("agent"), "spoken"))
        policy = self.policy

        def assign(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                touched = (frame["t"].is_not_null() | frame["ai"].is_not_null()
                           | frame["spoken"].fill_null(False)).to_numpy()
                truth = frame["t"].fill_null(-1.0).cast(pl.Float32).to_numpy().copy()
                ai = frame["ai"].fill_null(-2.0).cast(pl.Float32).to_numpy().copy()
                agent = frame["agent"].fill_null(-1).cast(pl.Int64).to_numpy().copy()
                truth_entity = frame["spoken"].fill_null(False).to_numpy().copy()
                blank = frame["blank"].to_numpy()
                ai[blank], agent[blank], truth[blank], truth_entity[blank] = -2.0, -1, -1.0, \
                    False
                codes, model_only = _codes(truth, ai, truth_entity, policy)
                yield pa.RecordBatch.from_arrays(
                    [frame[ROW].to_arrow(), pa.array(codes), pa.array(agent),
                     pa.array(model_only), pa.array(touched)],
                    names=[ROW, "code", "agent", "model_only", "touched"])

        schema = StructType([StructField(ROW, LongType()), StructField("code", ByteType()),
                             StructField("agent", LongType()),
                             StructField("model_only", BooleanType()),
                             StructField("touched", BooleanType())])
        codes = self._keep(per_row.mapInArrow(assign, schema))
        # the conflict check's figures ride along the counts: one job for both; a
        # conflict is still raised before the counts are used, as the local guard does
        first = long.filter(F.col("slot") == 0)
        found = codes.groupBy("code", "touched").count().crossJoin(
            self._conflict_stats(first)).collect()
        duplicates = self._conflicts(first, column, slots[0], found[0])
        counts: dict[str, int] = {}
        touched = False
        for row in found:
            verdict = VERDICTS[int(row["code"])]
            counts[verdict] = counts.get(verdict, 0) + int(row["count"])
            touched = touched or bool(row["touched"])
        counts = {v: counts[v] for v in VERDICTS if counts.get(v)}
        return _SparkLabel(codes.drop("touched"), touched, counts, duplicates)

    @staticmethod
    def _conflict_stats(long: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        return long.agg(F.count(F.lit(1)).alias("n"), F.countDistinct("e").alias("n_e"),
                        F.countDistinct("v").alias("n_v"))

    def _conflicts(self, long: DataFrame, column: str, slot: _Slot,
                   stats: Any = None) -> int:
        """`guard._check_conflicts` in Spark: raise for one entity with two labels; return
        how many rows merely repeat a row. `stats`: `_conflict_stats`, when computed."""
        from pyspark.sql import functions as F

        if stats is None:
            stats = self._conflict_stats(long).collect()[0]
        n, entities, pairs = int(stats["n"]), int(stats["n_e"]), int(stats["n_v"])
        if entities == n:
            return 0
        if pairs != entities:
            first_rows = long.groupBy("e", "v").agg(F.min(ROW).alias("r"))
            conflicted = (first_rows.groupBy("e").agg(F.count(F.lit(1)).alias("k"),
                                                      F.min("r").alias("first"))
                          .filter(F.col("k") > 1))
            count = conflicted.count()
            first = conflicted.orderBy("first").first()
            assert first is not None
            rows = [int(r["r"]) for r in first_rows.filter(F.col("e") == first["e"])
                    .orderBy("r").limit(5).collect()]
            values = {int(r[ROW]): r for r in self.indexed.filter(F.col(ROW).isin(rows))
                      .collect()}
            raise _conflict_error(column, count,
                                  {c: values[rows[0]][c] for c in slot.order},
                                  [values[r][column] for r in rows], rows)
        return n - pairs

    def _content_matches(self, column: str, candidates: Sequence[str],
                         spec: ValueSpec) -> list[tuple[int, str, list[str]]]:
        """`guard._content_matches` in Spark: for every candidate scope and key order, the
        rows whose entity the scope knows and of those the rows whose value it recorded;
        the choice is the local guard's (`_select_matches`)."""
        from pyspark.sql import functions as F

        slots: list[_Slot] = []
        for scope, orders in _content_candidates(self.scopes, candidates, self.key_columns):
            batches = self.scopes[scope]
            if not any(b.id is not None for b in batches):
                continue
            value_spec = spec if spec != ValueSpec() else _scope_spec(self.store, batches)
            sid = self._sid(scope)
            slots += [_Slot(len(slots) + i, sid, scope, tuple(order), value_spec)
                      for i, order in enumerate(orders)]
        if not slots:
            return []
        long = self._fingerprint(column, slots).filter(~F.col("blank"))
        entities = self._sides(["entity"], slots).select("sid", F.col("fp").alias("e"))
        values = (self._sides(["truth", "ai", "value"], slots)
                  .select("sid", F.col("fp").alias("v")).distinct()
                  .withColumn("recorded", F.lit(True)))
        known = (long.join(entities, ["sid", "e"], "left_semi")
                 .join(values, ["sid", "v"], "left")
                 .groupBy("slot").agg(F.count(F.lit(1)).alias("known"),
                                      F.count("recorded").alias("agree")))
        found = {int(r["slot"]): (int(r["agree"]), int(r["known"])) for r in known.collect()}
        return _select_matches([(s.scope, list(s.order), *found.get(s.slot, (0, 0)))
                                for s in slots])

    # -------------------------------------------------------------- the table

    def _combine(self, results: Mapping[str, _SparkLabel]) -> DataFrame:
        """One row per row: the worst verdict over the labels (`code`) and each label's
        named agent (`agent{i}`)."""
        from pyspark.sql import functions as F

        frames = [r.codes.select(ROW, F.col("code").alias(f"code{i}"),
                                 F.col("agent").alias(f"agent{i}"))
                  for i, r in enumerate(results.values())]
        combined = frames[0]
        for frame in frames[1:]:
            combined = combined.join(frame, ROW)
        if len(frames) == 1:
            return combined.withColumn("code", F.col("code0"))
        severity = F.array(*[F.lit(int(s)) for s in _SEVERITY_BY_CODE])
        worst = F.greatest(*[F.struct(F.element_at(severity, F.col(f"code{i}").cast("int") + 1)
                                      .alias("s"), F.col(f"code{i}").alias("c"))
                             for i in range(len(frames))])
        return self._keep(combined.withColumn("code", worst["c"]))

    def _counts(self, combined: DataFrame) -> dict[str, int]:
        found = {VERDICTS[int(r["code"])]: int(r["count"])
                 for r in combined.groupBy("code").count().collect()}
        return {v: found[v] for v in VERDICTS if found.get(v)}

    def _examples(self, combined: DataFrame,
                  agent_of: Mapping[int, str]) -> list[dict[str, Any]]:
        """`guard._examples`: the first max_examples rows of each offending verdict."""
        from functools import reduce

        from pyspark.sql import functions as F

        limit = self.policy.max_examples
        wanted = _offending(self.policy)
        if limit == 0 or not wanted:
            return []
        # internal names that no training table's column can shadow in the join below
        firsts = reduce(lambda a, b: a.unionByName(b), [
            combined.filter(F.col("code") == _CODE[v]).orderBy(ROW).limit(limit)
            .select(ROW, F.col("code").alias("__code"),
                    *[F.col(f"agent{i}").alias(f"__agent{i}") for i in range(len(self.labels))])
            for v in wanted])
        # with the rows' keys and labels: at most max_examples rows a verdict, broadcast
        found = F.broadcast(firsts).join(self.indexed, ROW).collect()
        rows_of = {v: sorted(int(r[ROW]) for r in found if int(r["__code"]) == _CODE[v])
                   for v in wanted}
        picked = _pick_examples(rows_of, self.policy)
        agents = values = {int(r[ROW]): r for r in found}
        examples = []
        for row, verdict in picked:
            asserted_by = {c: agent_of.get(int(agents[row][f"__agent{i}"]), "?")
                           for i, c in enumerate(self.labels)
                           if agents[row][f"__agent{i}"] >= 0}
            examples.append(_example(row, verdict,
                                     {c: values[row][c] for c in self.key_columns},
                                     {c: values[row][c] for c in self.labels},
                                     asserted_by, self.policy))
        return examples

    def _loop_counts(self, results: Mapping[str, _SparkLabel], versions: Any,
                     agent_of: Mapping[int, str]) -> dict[str, int]:
        """Per version of the model being trained, the rows only its AI assertions
        support, on any label (`guard._feedback_by_data`)."""
        from functools import reduce

        from pyspark.sql import functions as F

        mine = {b: a for b, a in agent_of.items() if versions.relation(a) is not None}
        if not mine:
            return {}
        agent = F.create_map(*[F.lit(x) for b, a in mine.items() for x in (b, a)])
        rows = reduce(lambda a, b: a.unionByName(b), [
            r.codes.filter(F.col("model_only") & F.col("agent").isin(list(mine)))
            .select(ROW, agent[F.col("agent")].alias("who")) for r in results.values()])
        return {r["who"]: int(r["n"]) for r in
                rows.groupBy("who").agg(F.countDistinct(ROW).alias("n")).collect()}
