"""Record provenance: who asserted each value — observed, human-labelled or AI-inferred.

    tag(store, "scores.parquet", dataset="fraud.scores", field="is_fraud",
        key="transaction_id", origin="ai_inferred", agent="fraud@2",
        confidence_column="score")
    review(store, reviewed_df, dataset="fraud.scores", field="is_fraud",
           key="transaction_id", reviewer="annotator/alice")
    summary(store, "fraud.scores")          # share by origin, confidence histogram, agents
    taint(store)                            # fields that derive from AI-inferred fields

Values are kept as fingerprints (see `_fingerprint`): `fingerprint(concept, key, value)`.
A field's concept is its own key unless its manifest declares a shared one
(`concept: fraud_label`), so copies under other names still match.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from .. import _keys as keys
from .._errors import ValidationError
from .._model import AssertionArrays, AssertionBatch, GraphBatch, NodeRef, Reached
from .._vocabulary import EdgeKind, NodeKind, Origin, path_step
from ..store.base import GraphRecordStore
from ..store.graph import GraphStore
from ..store.records import RecordStore
from ._fingerprint import entity_and_value_spread, fingerprint, fingerprint_frame, spread_column
from ._scope import (
    KeySpec,
    ValueSpec,
    fingerprints,
    first_conflict,
    key_specs,
    key_spreads,
    normalise_values,
    parse_scope,
    scope_of,
    value_spread,
)
from ._tables import Table, read_table, require_columns, require_keys

Progress = Callable[[str], None]

__all__ = [
    "FieldTarget",
    "ReviewResult",
    "AssertionRecord",
    "FieldSummary",
    "Tainted",
    "tag",
    "review",
    "history",
    "summary",
    "taint",
    "resolve_field",
    "key_columns_of",
    "batches_of",
    "fingerprint",
    "fingerprint_frame",
]


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class FieldTarget:
    """A field of a dataset, as record assertions address it."""

    dataset: NodeRef
    field: NodeRef
    name: str
    concept: str
    version: NodeRef | None = None
    #: how the field's values are spelled (type, `values:` mapping, precision)
    values: ValueSpec = ValueSpec()


def resolve_field(store: GraphStore, dataset: str, field_name: str,
                  version: str | None = None) -> FieldTarget:
    """The field `field_name` of `dataset` (a key or suffix); ValidationError naming the
    dataset's fields when it has no such field."""
    ds = store.node(store.resolve(dataset, [NodeKind.DATASET]).key)
    fkey = keys.fields_prefix(ds.key) + field_name
    found = store.nodes([fkey])
    if fkey not in found:
        fields = [ref.name.rsplit(".", 1)[-1] for edge, ref in store.neighbours(ds.key)
                  if edge.kind is EdgeKind.HAS_FIELD]
        import difflib

        close = difflib.get_close_matches(field_name, fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (
            f"; its fields are: {', '.join(sorted(fields))}" if fields else "; it has no fields")
        raise ValidationError(f"dataset '{ds.name}' has no field '{field_name}'{hint}")
    node = found[fkey]
    ref = None
    if version is not None:
        ref = store.resolve(version, [NodeKind.DATASET_VERSION])
        if not ref.key.startswith(f"{NodeKind.DATASET_VERSION}:{keys.identity(ds.key)}@"):
            raise ValidationError(f"'{ref.key}' is not a version of dataset '{ds.name}'")
    concept = str(node.properties.get("concept") or fkey)
    return FieldTarget(ds.ref(), node.ref(), field_name, concept, ref,
                       ValueSpec.of(node.properties))


def key_columns_of(store: GraphStore, dataset: str | None, columns: Sequence[str]) -> list[KeySpec]:
    """`columns` as key columns of `dataset` (a dataset key, or None: no declarations),
    each with the entity type and collation its field declares, in canonical order."""
    properties: dict[str, dict[str, Any]] = {}
    if dataset is not None:
        by_key = {keys.fields_prefix(dataset) + c: c for c in columns}
        for fkey, node in store.nodes(list(by_key)).items():
            properties[by_key[fkey]] = dict(node.properties)
    return key_specs(properties, columns)


def batches_of(store: RecordStore, concepts: Iterable[str]) -> list[AssertionBatch]:
    """Stored batches whose concept (whatever entity scope) is one of `concepts`, oldest
    first."""
    wanted = set(concepts)
    return [b for b in store.assertion_batches() if parse_scope(b.concept)[0] in wanted]


def _origin(origin: Origin | str) -> Origin:
    try:
        return Origin(origin)
    except ValueError:
        raise ValidationError(f"unknown origin '{origin}'; origins are: "
                              f"{', '.join(o.value for o in Origin)}") from None


def _agent(store: GraphStore, name: str, origin: Origin) -> tuple[str, GraphBatch | None]:
    """The agent's node key, and a batch creating it when it is new.

    `name@version` must be a registered model version (a typo must not invent a model);
    any other name is a person or system, created as an `agent:` node on first use.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("an agent is needed: a model version (fraud@3), a person or a "
                              "system")
    name = name.strip()
    if "@" in name and not name.startswith(f"{NodeKind.AGENT}:"):
        return _trusted(store.resolve(name, [NodeKind.MODEL_VERSION]), origin), None
    candidates = store.candidates(name, [NodeKind.AGENT, NodeKind.MODEL_VERSION])
    if len(candidates) == 1:
        return _trusted(candidates[0], origin), None
    key = name if name.startswith(f"{NodeKind.AGENT}:") else keys.agent_key(name)
    batch = GraphBatch()
    kind = {Origin.HUMAN_LABELLED: "person", Origin.OBSERVED: "system",
            Origin.AI_INFERRED: "software"}[origin]
    batch.add_node(key, keys.identity(key), type=kind)
    return key, batch


def _trusted(agent: NodeRef, origin: Origin) -> str:
    """A model version asserts only what it inferred: recorded as observed or
    human-labelled, its outputs would pass the guard as ground truth."""
    if agent.kind is NodeKind.MODEL_VERSION and origin is not Origin.AI_INFERRED:
        raise ValidationError(
            f"agent '{keys.identity(agent.key)}' is a model version: it cannot assert "
            f"{origin.value} values; tag its outputs with --origin ai_inferred, or name the "
            f"person or system that {'observed' if origin is Origin.OBSERVED else 'labelled'}"
            f" them")
    return agent.key


def _confidence(frame: pl.DataFrame, confidence: float | None,
                column: str | None) -> np.ndarray:
    n = frame.height
    if column is not None:
        require_columns(frame, [column])
        try:
            values = frame[column].cast(pl.Float32, strict=True)
        except pl.exceptions.PolarsError:
            raise ValidationError(f"confidence column '{column}' is not numeric") from None
        nan = values.is_nan().fill_null(False)
        if nan.any():  # an empty cell is "not given"; NaN is no number and no confidence
            row = int(nan.arg_max() or 0)
            raise ValidationError(f"confidence column '{column}', row {row + 1} has no "
                                  f"confidence (NaN); give a number in [0, 1], or leave "
                                  f"the cell empty for 'not given'")
        out = values.fill_null(float("nan")).to_numpy().astype(np.float32)
    elif confidence is not None:
        if not isinstance(confidence, int | float) or isinstance(confidence, bool):
            raise ValidationError(f"confidence must be a number in [0, 1], got {confidence!r}")
        out = np.full(n, confidence, dtype=np.float32)
    else:
        out = np.full(n, np.nan, dtype=np.float32)
    bad = ~np.isnan(out) & ((out < 0) | (out > 1))
    if bad.any():
        row = int(np.argmax(bad))
        where = f"column '{column}', row {row + 1}" if column else "--confidence"
        raise ValidationError(f"confidence must be in [0, 1]: {where} has {float(out[row]):g}")
    return out


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _prepare(store: GraphStore, table: Table, dataset: str, field_name: str,
             key: str | Sequence[str], value_column: str | None,
             version: str | None) -> tuple[FieldTarget, pl.DataFrame, list[str], str]:
    target = resolve_field(store, dataset, field_name, version)
    frame = read_table(table)
    key_columns = _as_list(key)
    value = value_column or field_name
    require_columns(frame, [*key_columns, value])
    if frame.height == 0:
        raise ValidationError("the table is empty: nothing to assert")
    require_keys(frame, key_columns)
    return target, frame, key_columns, value


# ------------------------------------------------------------------ ingest


def tag(
    store: GraphRecordStore,
    table: Table,
    *,
    dataset: str,
    field: str,
    key: str | Sequence[str],
    origin: Origin | str,
    agent: str,
    confidence: float | None = None,
    confidence_column: str | None = None,
    value_column: str | None = None,
    dataset_version: str | None = None,
    asserted_at: datetime | None = None,
    source: str | None = None,
    principal: str | None = None,
    progress: Progress | None = None,
) -> AssertionBatch:
    """Record that `agent` asserted, with `origin`, each row's value of `field` for the
    entity its `key` columns name. One batch, one transaction.

    The value is read from the column named like the field (or `value_column`); the
    confidence from `confidence` or `confidence_column` (NaN/None: not given).
    Raises ValidationError (unknown field, missing column, empty table, missing keys,
    confidence outside [0, 1]) or NotFound (unknown dataset or model version); nothing is
    written then.
    """
    say = progress or (lambda _step: None)
    kind = _origin(origin)
    say("reading")
    target, frame, key_columns, value = _prepare(store, table, dataset, field, key,
                                                 value_column, dataset_version)
    conf = _confidence(frame, confidence, confidence_column)
    agent_key, new_nodes = _agent(store, agent, kind)
    say("fingerprinting")
    scope, entity, values = _fingerprint_rows(store, target, frame, key_columns, value)
    arrays = AssertionArrays(entity, values, conf)
    version_key = target.version.key if target.version else None
    same = _stored_already(store, target.field.key, scope, kind, agent_key, version_key,
                           arrays)
    if same is not None:
        return same
    say("writing")
    batch = AssertionBatch(
        field=target.field.key, concept=scope, origin=kind, agent=agent_key,
        asserted_at=asserted_at or datetime.now(UTC), rows=frame.height,
        dataset_version=version_key,
        source=source or (str(table) if isinstance(table, str) else None), principal=principal)
    return store.write_assertions(batch, arrays, new_nodes)


def _fingerprint_rows(store: GraphStore, target: FieldTarget, frame: pl.DataFrame,
                      key_columns: list[str], value: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(scope, entity and value fingerprints) of the rows to assert; ValidationError
    naming the row for a row without a value, or one key with two values."""
    specs = key_columns_of(store, target.dataset.key, key_columns)
    scope = scope_of(target.concept, specs)
    values = normalise_values(frame[value], target.values)
    missing = values.is_null()
    if values.dtype == pl.Utf8:
        missing = missing | (values.str.strip_chars() == "")
    elif values.dtype.is_float():
        missing = missing | values.is_nan()
    if missing.any():
        row = int(missing.fill_null(True).arg_max() or 0)
        raise ValidationError(
            f"row {row + 1} ({_key_text(frame, key_columns, row)}) has no value in column "
            f"'{value}' ({int(missing.sum())} such rows); a missing value asserts nothing: "
            f"drop those rows")
    entity, fps = entity_and_value_spread(scope, key_spreads(frame, specs),
                                          spread_column(values))
    rows = first_conflict(entity, fps)
    if rows is not None:
        shown = " and ".join(repr(frame[value][r]) for r in rows[:2])
        raise ValidationError(
            f"rows {', '.join(str(r + 1) for r in rows)} give one key "
            f"({_key_text(frame, key_columns, rows[0])}) two values of '{value}': {shown}; "
            f"keep one value per key")
    return scope, entity, fps


def _key_text(frame: pl.DataFrame, key_columns: Sequence[str], row: int) -> str:
    return ", ".join(f"{c}={frame[c][row]!r}" for c in key_columns)


def _stored_already(store: RecordStore, field_key: str, scope: str, origin: Origin, agent: str,
                    version: str | None, arrays: AssertionArrays) -> AssertionBatch | None:
    """The stored batch that asserts exactly these rows (same field, origin, agent,
    version, rows and confidences), if any: tagging a file twice records nothing new."""
    for b in store.assertion_batches(fields=[field_key]):
        if (b.concept, b.origin, b.agent, b.dataset_version, b.rows) != (
                scope, origin, agent, version, len(arrays)) or b.id is None:
            continue
        stored = store.assertion_columns([b.id], ["entity", "value", "confidence"])[b.id]
        if (np.array_equal(stored["entity"], arrays.entity)
                and np.array_equal(stored["value"], arrays.value)
                and np.array_equal(stored["confidence"], arrays.confidence, equal_nan=True)):
            return dataclasses.replace(b, unchanged=True)
    return None


# ------------------------------------------------------------------ review


@dataclass(frozen=True)
class ReviewResult:
    """A human review batch: how many AI assertions it accepted or corrected, and how many
    rows had no AI assertion to review (stored as plain human labels)."""

    batch: AssertionBatch
    accepted: int
    corrected: int
    unmatched: int


def _latest_ai(store: RecordStore, concept: str) -> pl.DataFrame:
    """The newest AI assertion per entity of a (scoped) concept: entity, value, batch,
    row."""
    batches = [b for b in store.assertion_batches(concepts=[concept])
               if b.origin is Origin.AI_INFERRED and b.id is not None]
    arrays = store.assertion_arrays(b.id for b in batches if b.id is not None)
    parts = [pl.DataFrame({"entity": a.entity, "value": a.value,
                           "batch": np.full(len(a), bid, dtype=np.int64),
                           "row": np.arange(len(a), dtype=np.int64)})
             for bid, a in arrays.items()]
    if not parts:
        return pl.DataFrame(schema={"entity": pl.Int64, "value": pl.Int64, "batch": pl.Int64,
                                    "row": pl.Int64})
    return pl.concat(parts).sort("batch", "row").unique("entity", keep="last")


def review(
    store: GraphRecordStore,
    table: Table,
    *,
    dataset: str,
    field: str,
    key: str | Sequence[str],
    reviewer: str,
    value_column: str | None = None,
    confidence: float | None = 1.0,
    asserted_at: datetime | None = None,
    source: str | None = None,
    principal: str | None = None,
) -> ReviewResult:
    """Record a person's review of AI assertions: each row's value is the reviewer's.

    A row whose value equals the newest AI assertion for its entity *accepts* it; a row
    with another value *corrects* it; both are written as `human_labelled` assertions that
    point at the AI assertion reviewed, so the chain stays queryable (`history`).
    """
    target, frame, key_columns, value = _prepare(store, table, dataset, field, key,
                                                 value_column, None)
    agent_key, new_nodes = _agent(store, reviewer, Origin.HUMAN_LABELLED)
    scope, entity, values = _fingerprint_rows(store, target, frame, key_columns, value)
    joined = (pl.DataFrame({"entity": entity, "mine": values})
              .with_row_index("i")
              .join(_latest_ai(store, scope), on="entity", how="left")
              .sort("i"))
    reviewed = joined["batch"].is_not_null().to_numpy()
    same = (joined["value"] == joined["mine"]).fill_null(False).to_numpy()
    batch = AssertionBatch(
        field=target.field.key, concept=scope, origin=Origin.HUMAN_LABELLED,
        agent=agent_key, asserted_at=asserted_at or datetime.now(UTC), rows=frame.height,
        source=source or (str(table) if isinstance(table, str) else None), principal=principal)
    arrays = AssertionArrays(
        entity, values, _confidence(frame, confidence, None),
        reviewed_batch=joined["batch"].fill_null(-1).to_numpy().astype(np.int64),
        reviewed_row=joined["row"].fill_null(-1).to_numpy().astype(np.int64))
    stored = store.write_assertions(batch, arrays, new_nodes)
    return ReviewResult(stored, accepted=int((reviewed & same).sum()),
                        corrected=int((reviewed & ~same).sum()), unmatched=int((~reviewed).sum()))


# ------------------------------------------------------------------ history


@dataclass(frozen=True)
class AssertionRecord:
    """One assertion about one entity, for people reading a chain."""

    batch: int
    row: int
    origin: Origin
    agent: str
    asserted_at: datetime
    confidence: float | None
    field: str
    value_fingerprint: int
    matches_value: bool | None = None
    reviews: tuple[int, int] | None = None
    verdict: str | None = None  # for reviews: accepted / corrected
    reviewed_by: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch, "row": self.row, "origin": self.origin.value,
            "agent": self.agent, "asserted_at": self.asserted_at.isoformat(),
            "confidence": self.confidence, "field": self.field,
            "value_fingerprint": self.value_fingerprint, "matches_value": self.matches_value,
            "reviews": list(self.reviews) if self.reviews else None, "verdict": self.verdict,
            "reviewed_by": [list(r) for r in self.reviewed_by],
        }


def history(store: GraphRecordStore, *, dataset: str, field: str, key: Sequence[Any] | Any,
            value: Any = None) -> list[AssertionRecord]:
    """Every assertion about one entity's value of a field (and of every field sharing its
    concept), oldest first; reviews name what they accepted or corrected. With `value`,
    each record says whether it asserted that value."""
    target = resolve_field(store, dataset, field)
    key_values = list(key) if isinstance(key, list | tuple) else [key]
    # the key's values in the order given; a composite key of a scoped batch is matched
    # in every order of its columns, as the batch's entity order is not the caller's
    columns = {f"k{i}": [k] for i, k in enumerate(key_values)}
    one = pl.DataFrame({**columns, "v": [value]}, strict=False)
    wanted_spread = value_spread(one["v"], target.values)
    batches = {b.id: b for b in batches_of(store, [target.concept])}
    arrays = store.assertion_arrays(i for i in batches if i is not None)
    found: list[AssertionRecord] = []
    for bid, a in sorted(arrays.items()):
        meta = batches[bid]
        entity_fps, value_fps = set(), set()
        for order in itertools.permutations(columns):
            if len(order) == len(parse_scope(meta.concept)[1] or order):
                e, v = fingerprints(meta.concept, one, list(order), wanted_spread)
                entity_fps.add(int(e[0]))
                value_fps.add(int(v[0]))
        wanted_value = value_fps if value is not None else None
        for row in np.flatnonzero(np.isin(a.entity, list(entity_fps))):
            conf = float(a.confidence[row])
            reviews = None
            if a.reviewed_batch is not None and a.reviewed_row is not None \
                    and a.reviewed_batch[row] >= 0:
                reviews = (int(a.reviewed_batch[row]), int(a.reviewed_row[row]))
            found.append(AssertionRecord(
                batch=bid, row=int(row), origin=meta.origin, agent=meta.agent,
                asserted_at=meta.asserted_at, confidence=None if np.isnan(conf) else conf,
                field=meta.field, value_fingerprint=int(a.value[row]),
                matches_value=None if wanted_value is None else int(a.value[row]) in wanted_value,
                reviews=reviews))
    by_place = {(r.batch, r.row): r for r in found}
    result = []
    for record in found:
        if record.reviews and record.reviews in by_place:
            reviewed = by_place[record.reviews]
            reviewed.reviewed_by.append((record.batch, record.row))
            same = reviewed.value_fingerprint == record.value_fingerprint
            record = _with_verdict(record, "accepted" if same else "corrected")
            by_place[(record.batch, record.row)] = record
        result.append(by_place[(record.batch, record.row)])
    return sorted(result, key=lambda r: (r.asserted_at, r.batch, r.row))


def _with_verdict(record: AssertionRecord, verdict: str) -> AssertionRecord:
    from dataclasses import replace

    return replace(record, verdict=verdict)


# ------------------------------------------------------------------ summaries


@dataclass
class FieldSummary:
    """Who asserted a field's values: counts and shares by origin, agents, confidence."""

    field: str
    total: int = 0
    by_origin: dict[str, int] = dataclasses.field(default_factory=dict)
    agents: dict[str, int] = dataclasses.field(default_factory=dict)
    #: 10 bins over [0, 1] (the last includes 1.0), plus "not given"
    confidence: list[int] = dataclasses.field(default_factory=lambda: [0] * 10)
    confidence_not_given: int = 0

    def share(self, origin: Origin | str) -> float:
        return self.by_origin.get(str(Origin(origin).value), 0) / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "total": self.total, "by_origin": self.by_origin,
                "share": {o.value: round(self.share(o), 6) for o in Origin},
                "agents": self.agents, "confidence_histogram": self.confidence,
                "confidence_not_given": self.confidence_not_given}


def summary(store: GraphRecordStore, dataset: str,
            version: str | None = None) -> list[FieldSummary]:
    """Per field of `dataset` (optionally only assertions made on one version)."""
    ds = store.resolve(dataset, [NodeKind.DATASET, NodeKind.DATASET_VERSION])
    if ds.kind is NodeKind.DATASET_VERSION:
        version, ds = ds.key, store.resolve(ds.key.rsplit("@", 1)[0].replace(
            f"{NodeKind.DATASET_VERSION}:", f"{NodeKind.DATASET}:", 1), [NodeKind.DATASET])
    elif version is not None:
        version = store.resolve(version, [NodeKind.DATASET_VERSION]).key
    fields = [ref.key for edge, ref in store.neighbours(ds.key) if edge.kind is EdgeKind.HAS_FIELD]
    batches = [b for b in store.assertion_batches(fields=fields)
               if version is None or b.dataset_version == version]
    arrays = store.assertion_arrays(b.id for b in batches if b.id is not None)
    out: dict[str, FieldSummary] = {f: FieldSummary(f) for f in sorted(fields)}
    for b in batches:
        s = out[b.field]
        s.total += b.rows
        s.by_origin[b.origin.value] = s.by_origin.get(b.origin.value, 0) + b.rows
        s.agents[b.agent] = s.agents.get(b.agent, 0) + b.rows
        conf = arrays[b.id].confidence if b.id in arrays else np.array([], dtype=np.float32)
        given = conf[~np.isnan(conf)]
        s.confidence_not_given += int(len(conf) - len(given))
        hist, _ = np.histogram(given, bins=10, range=(0.0, 1.0))
        s.confidence = [x + int(y) for x, y in zip(s.confidence, hist, strict=True)]
    return list(out.values())


# ------------------------------------------------------------------ taint


@dataclass(frozen=True)
class Tainted:
    """A node that derives (transitively) from AI-inferred values, and how.
    `column_unknown`: reached only through dataset-level lineage (a job that read the AI
    field's dataset and wrote this field's, with no column lineage recorded for the field),
    so it may or may not use the AI values: it is counted as tainted."""

    node: NodeRef
    source: NodeRef
    path: list[tuple[EdgeKind | None, NodeRef]]
    column_unknown: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.node.key, "kind": self.node.kind.value, "source": self.source.key,
                "path": [path_step(e, n.key) for e, n in self.path],
                "column_unknown": self.column_unknown}


def ai_fields(store: GraphRecordStore) -> dict[str, str]:
    """Fields holding AI-inferred values, with why: tagged ai_inferred, or generated by a
    model version."""
    sources = {b.field: f"ai_inferred assertions by {b.agent}"
               for b in store.assertion_batches() if b.origin is Origin.AI_INFERRED}
    for version in store.find("", [NodeKind.MODEL_VERSION], limit=100_000):
        for edge, ref in store.neighbours(version.key):
            if edge.kind is EdgeKind.GENERATED and edge.src == version.key \
                    and ref.kind is NodeKind.FIELD:
                sources.setdefault(ref.key, f"generated by {version.key}")
    return sources


def taint(store: GraphRecordStore, kinds: Sequence[NodeKind] = (NodeKind.FIELD, NodeKind.FEATURE,
                                                      NodeKind.MODEL_VERSION)) -> list[Tainted]:
    """Every field, feature and model version downstream of an AI-inferred field, each
    with its nearest AI source and the path from it: through column lineage, else through
    dataset-level lineage (`column_unknown`) for fields with no column lineage recorded."""
    best: dict[str, Reached] = {}
    source_of: dict[str, NodeRef] = {}
    sources = sorted(ai_fields(store))
    for source in sources:
        closure = store.downstream(source)
        for reached in closure:
            if reached.node.kind in kinds:
                known = best.get(reached.node.key)
                if known is None or reached.depth < known.depth:
                    best[reached.node.key] = reached
                    source_of[reached.node.key] = closure.start.node
    found = {k: Tainted(r.node, source_of[k], r.path) for k, r in best.items()}
    for key, tainted in _dataset_level_taint(store, sources, kinds).items():
        found.setdefault(key, tainted)
    return [found[k] for k in sorted(found)]


def _dataset_level_taint(store: GraphStore, sources: Sequence[str],
                         kinds: Sequence[NodeKind]) -> dict[str, Tainted]:
    """What an AI field's dataset reaches through table-level lineage: fields of other
    datasets that have no column lineage of their own (a field with a recorded derivation
    is judged by it), and what derives from those."""
    found: dict[str, Tainted] = {}
    covered: dict[str, bool] = {}

    def has_column_lineage(field_key: str) -> bool:
        if field_key not in covered:
            covered[field_key] = any(
                edge.kind is EdgeKind.DERIVED_FROM and edge.dst == field_key
                for edge, _ in store.neighbours(field_key))
        return covered[field_key]

    for source in sources:
        datasets = [ref for edge, ref in store.neighbours(source)
                    if edge.kind is EdgeKind.HAS_FIELD and ref.kind is NodeKind.DATASET]
        source_ref = store.resolve(source)
        for dataset in datasets:
            for reached in store.downstream(dataset.key):
                if reached.node.kind is not NodeKind.FIELD or reached.depth <= 1 \
                        or reached.node.key in found or has_column_lineage(reached.node.key):
                    continue
                path = [(None, source_ref), (EdgeKind.HAS_FIELD, dataset), *reached.path[1:]]
                if reached.node.kind in kinds:
                    found[reached.node.key] = Tainted(reached.node, source_ref, path, True)
                for below in store.downstream(reached.node.key):
                    if below.depth and below.node.kind in kinds \
                            and below.node.key not in found:
                        found[below.node.key] = Tainted(below.node, source_ref,
                                                        [*path, *below.path[1:]], True)
    return found
