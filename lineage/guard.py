"""The training guard: AI outputs never re-enter training as ground truth.

    report = check_training(store, "train.parquet", key="transaction_id",
                            label="is_fraud", dataset="fraud.labels", model="fraud@3")

For every row it asks who asserted that label value for that entity — on the label field,
on every field upstream of it through column lineage, and on every field sharing a concept
with those (which catches a copy whose lineage was lost: the fingerprint still matches).
Assertions are scoped by the entity type of the key (see `provenance._scope`): a user 123
is not a transaction 123. A label column tied to nothing the store knows about the table's
entities (renamed, no dataset, a field without a concept) is matched by content: against
the concept whose recorded keys and values it matches best; `concept=` names it outright.

==================  ========================================================  ===========
verdict             when                                                      default
==================  ========================================================  ===========
``ground_truth``    an observed or human assertion supports the value,        allow
                    at or above the policy's ``min_confidence``
``low_confidence``  only observed/human support below ``min_confidence``      block
``pseudo_label``    only AI support, at or above ``allow_ai_above``           allow (counted)
``ai_only``         only AI assertions support the value                      block
``contradicted``    ground truth for this entity gives another value          block
``unverified``      nobody asserted this value for this entity; no label      warn
==================  ========================================================  ===========

A person's label stands until a later person's label for the same entity overrules it. An
AI assertion without a confidence has an unknown one: it is never a pseudo-label.

An offending row's example names the AI agent behind it: of the AI assertions of that value
for that entity (on any of the concepts consulted), the most confident one — a missing
confidence ranks below every given one — and among equally confident ones the most recent
batch. The same agent is the one a feedback loop found by fingerprint is attributed to.

Lineage-level checks run as well: the label field descends from a model's output (through
column lineage, or as `provenance.taint` finds it), and the model being trained descends
from its own or another version's outputs (a feedback loop) — by lineage, through what it
was trained on, and by the agents behind rows only a model supports (pseudo-labels too).
A blocked check raises ProvenanceViolation carrying the report (the CLI exits 3); a table
none of whose label columns could be tied to anything recorded raises UnmatchedLabels
(exit 8) unless the policy allows unverified rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from . import _keys as keys
from ._errors import NotFound, ProvenanceViolation, UnmatchedLabels, ValidationError
from ._model import AssertionBatch, NodeRef
from ._vocabulary import EdgeKind, NodeKind, Origin
from .provenance import FieldTarget, Tainted, key_columns_of, resolve_field, taint
from .provenance._scope import (
    KeySpec,
    ValueSpec,
    fingerprints,
    first_conflict,
    parse_scope,
    scope_of,
    value_spread,
)
from .provenance._tables import Table, read_table, require_columns, require_keys
from .store.base import Store
from .store.graph import GraphStore
from .store.records import RecordStore

Action = Literal["allow", "warn", "block"]
VERDICTS = ("ground_truth", "pseudo_label", "unverified", "low_confidence", "ai_only",
            "contradicted")
# worst first, for rows with several labels
_SEVERITY = {"contradicted": 5, "ai_only": 4, "low_confidence": 3, "unverified": 2,
             "pseudo_label": 1, "ground_truth": 0}
_TRUTH = (Origin.OBSERVED, Origin.HUMAN_LABELLED)


class Policy(BaseModel):
    """What the guard allows. Load from YAML with `Policy.load(path)`; flags override."""

    model_config = ConfigDict(extra="forbid")

    #: observed/human assertions below this are `low_confidence` (no confidence: 1.0)
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    #: rows nobody asserted
    unverified: Action = "warn"
    #: rows supported only by observed/human assertions below min_confidence
    low_confidence: Action = "block"
    #: pseudo-labelling on purpose: AI assertions at or above this confidence are allowed
    allow_ai_above: float | None = Field(default=None, ge=0.0, le=1.0)
    #: label descends from a model's output, or a feedback loop, found through lineage
    lineage: Action = "block"
    #: how many offending rows the report shows
    max_examples: int = Field(default=20, ge=0)

    def action(self, verdict: str) -> Action:
        if verdict in ("ground_truth", "pseudo_label"):
            return "allow"
        if verdict in ("ai_only", "contradicted"):
            return "block"
        return self.unverified if verdict == "unverified" else self.low_confidence

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Policy:
        """A policy from a YAML file (optional) with `overrides` (None values ignored)."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ValidationError("no such policy file", file=str(path)) from None
            except yaml.YAMLError as exc:
                raise ValidationError(f"malformed YAML: {exc}", file=str(path)) from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ValidationError("a policy is a mapping", file=str(path))
            data.update(loaded or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except PydanticError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValidationError(f"policy {where}: {err['msg']}",
                                  file=None if path is None else str(path)) from None


@dataclass
class Finding:
    """A lineage-level problem: `kind` is label_from_model_output or feedback_loop."""

    kind: str
    message: str
    path: list[str] = field(default_factory=list)
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "path": self.path, "rows": self.rows}


@dataclass
class GuardReport:
    """The guard's answer: counts per verdict, offending examples, lineage findings."""

    rows: int
    keys: list[str]
    labels: list[str]
    dataset: str | None
    model: str | None
    policy: Policy
    counts: dict[str, int]
    counts_by_label: dict[str, dict[str, int]]
    examples: list[dict[str, Any]]
    findings: list[Finding]
    concepts: list[str]
    duplicate_rows: int = 0
    #: per label column: the concepts it was checked against and how they were found
    #: (declared: its field's concept and those upstream; explicit: --concept; content:
    #: the recorded keys and values it matches; none: nothing it could be tied to)
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def unmatched(self) -> bool:
        """No label column could be tied to anything the store knows: nothing was
        checked, which passes only when the policy allows unverified rows."""
        return bool(self.matched) and all(m["matched_by"] == "none"
                                          for m in self.matched.values())

    @property
    def lineage_blocked(self) -> bool:
        return self.policy.lineage == "block" and bool(self.findings)

    @property
    def blocked_rows(self) -> int:
        return sum(n for v, n in self.counts.items() if self.policy.action(v) == "block")

    @property
    def warned_rows(self) -> int:
        return sum(n for v, n in self.counts.items() if self.policy.action(v) == "warn")

    @property
    def passed(self) -> bool:
        blind = self.unmatched and self.policy.unverified != "allow"
        return self.blocked_rows == 0 and not self.lineage_blocked and not blind

    def summary(self) -> str:
        if self.passed:
            return (f"passed: {self.counts.get('ground_truth', 0)} of {self.rows} rows are "
                    f"ground truth; {self.warned_rows} warned")
        reasons = []
        if self.blocked_rows:
            parts = ", ".join(f"{self.counts[v]} {v}" for v in VERDICTS
                              if self.counts.get(v) and self.policy.action(v) == "block")
            reasons.append(f"{self.blocked_rows} of {self.rows} rows blocked ({parts})")
        if self.lineage_blocked:
            reasons.append("; ".join(f.message for f in self.findings))
        if self.unmatched and self.policy.unverified != "allow":
            reasons.append("no label column could be matched to recorded assertions "
                           f"({', '.join(self.labels)}): nothing was checked; name the "
                           "dataset (--dataset) or the concept (--concept), or allow "
                           "unverified rows")
        return "blocked: " + "; ".join(reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "summary": self.summary(), "rows": self.rows,
            "keys": self.keys, "labels": self.labels, "dataset": self.dataset,
            "model": self.model, "counts": {v: self.counts.get(v, 0) for v in VERDICTS},
            "counts_by_label": self.counts_by_label, "blocked_rows": self.blocked_rows,
            "warned_rows": self.warned_rows, "duplicate_rows": self.duplicate_rows,
            "examples": self.examples, "findings": [f.to_dict() for f in self.findings],
            "concepts": self.concepts, "matched": self.matched, "unmatched": self.unmatched,
            "policy": self.policy.model_dump(),
        }


# ------------------------------------------------------------------ the check


@dataclass
class _Label:
    """What one label column was checked against."""

    column: str
    concepts: list[str]  # the concepts consulted (bare)
    scopes: list[str]  # the stored scopes consulted
    matched_by: str  # declared / explicit / content / none
    key_order: list[str]  # the key columns, in the order the scopes fold them


def check_training(
    store: Store,
    table: Table,
    *,
    key: str | Sequence[str],
    label: str | Sequence[str],
    dataset: str | None = None,
    model: str | None = None,
    policy: Policy | None = None,
    raise_on_block: bool = True,
    concept: str | Mapping[str, str] | None = None,
) -> GuardReport:
    """Check a training table before fitting. Returns the report when it passes; raises
    ProvenanceViolation (with `.report`) when the policy blocks it, or UnmatchedLabels
    when no label column could be tied to anything the store knows (unless the policy
    allows unverified rows), unless `raise_on_block=False`.

    `concept` maps label columns to concepts explicitly: one name for every label, or
    {column: concept}. Without it a column is tied to its field's concept (through
    `dataset`, else the fields named like it) and the concepts upstream of it; when those
    hold nothing about the table's entities, to the concept whose recorded keys and values
    the column matches best (`matched_by: content` in the report).

    Raises ValidationError for unusable input: missing columns, an empty table, missing
    keys, one key with conflicting labels; NotFound for an unknown dataset, model or
    concept."""
    policy = policy or Policy()
    key_columns = [key] if isinstance(key, str) else list(key)
    labels = [label] if isinstance(label, str) else list(label)
    if not labels:
        raise ValidationError("at least one label column is needed")
    explicit = _explicit_concepts(store, concept, labels)
    versions = _model_versions(store, model) if model else None
    dataset_key = store.resolve(dataset, [NodeKind.DATASET]).key if dataset else None
    frame = read_table(table, "training table", columns=[*key_columns, *labels])
    require_columns(frame, [*key_columns, *labels], "training table")
    if frame.height == 0:
        raise ValidationError("the training table is empty")
    require_keys(frame, key_columns, "training table")

    specs = key_columns_of(store, dataset_key, key_columns)
    scopes = _scopes(store)
    duplicates = 0
    verdicts = np.zeros(0, dtype=np.int8)  # the first label's, then the worst per row
    reasons: dict[str, np.ndarray] = {}
    counts_by_label: dict[str, dict[str, int]] = {}
    findings: list[Finding] = []
    checked: list[_Label] = []
    loop_rows: dict[int, list[np.ndarray]] = {}  # batch id -> rows only its AI supports
    agent_of: dict[int, str] = {b.id: b.agent for bs in scopes.values() for b in bs
                                if b.id is not None}
    tainted: dict[str, Tainted] | None = None
    for column in labels:
        blank = _blank(frame[column])
        tie = _tie_label(
            store, column, dataset=dataset, explicit=explicit, scopes=scopes, specs=specs,
            key_columns=key_columns,
            check=partial(_check_label, store, frame, column, scopes=scopes, policy=policy,
                          blank=blank),
            match=partial(_content_matches, store, frame, key_columns, column, scopes=scopes,
                          blank=blank))
        result, spec, targets = tie.result, tie.spec, tie.targets
        checked.append(tie.label)
        if result is None:
            neutral = scope_of("", specs)  # conflicts in the table need no concept
            entity, pairs = fingerprints(neutral, frame, [s.column for s in specs],
                                         value_spread(frame[column], spec))
            duplicates = max(duplicates, _check_conflicts(
                frame, [s.column for s in specs], column, entity, pairs))
            del entity, pairs
            label_verdicts = np.full(frame.height, _CODE["unverified"], dtype=np.int8)
            agent_per_row = np.full(frame.height, -1, dtype=np.int64)
            result = _LabelResult(label_verdicts, agent_per_row, np.zeros(frame.height, bool),
                                  False)
        duplicates = max(duplicates, result.duplicates)
        label_verdicts, agent_per_row = result.codes, result.agent
        counts_by_label[column] = _count(label_verdicts)
        if len(counts_by_label) == 1:
            verdicts = label_verdicts
        else:
            worse = _severity(label_verdicts) > _severity(verdicts)
            verdicts = np.where(worse, label_verdicts, verdicts)
        reasons[column] = agent_per_row
        rows = np.flatnonzero(result.model_only)
        behind = agent_per_row[rows]
        # a hash count, not np.unique: that sorts (or hashes slowly) every row
        for batch_id in pl.Series(behind).unique().to_list():
            loop_rows.setdefault(int(batch_id), []).append(rows[behind == batch_id])
        if targets and tainted is None:  # one walk for every label column
            tainted = {t.node.key: t for t in taint(store, (NodeKind.FIELD,))}
        findings += _lineage_findings(store, targets, versions, tainted or {})
    findings += _trained_on_findings(store, versions)
    findings += _feedback_by_data(versions, loop_rows, agent_of, frame.height)
    report = _report(
        rows=frame.height, keys=key_columns, labels=labels, dataset=dataset, model=model,
        policy=policy,
        counts=counts_by_label[labels[0]] if len(labels) == 1 else _count(verdicts),
        counts_by_label=counts_by_label,
        examples=_examples(frame, key_columns, labels, verdicts, reasons, agent_of, policy),
        findings=findings, checked=checked, duplicates=duplicates)
    if raise_on_block:
        _raise_if_blocked(report)
    return report


def _report(*, rows: int, keys: list[str], labels: list[str], dataset: str | None,
            model: str | None, policy: Policy, counts: dict[str, int],
            counts_by_label: dict[str, dict[str, int]], examples: list[dict[str, Any]],
            findings: Sequence[Finding], checked: Sequence[_Label],
            duplicates: int) -> GuardReport:
    """The report, findings deduplicated by kind and path (the local and Spark checks)."""
    unique: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for f in findings:
        unique.setdefault((f.kind, tuple(f.path)), f)
    return GuardReport(
        rows=rows, keys=keys, labels=labels, dataset=dataset, model=model, policy=policy,
        counts=counts, counts_by_label=counts_by_label, examples=examples,
        findings=list(unique.values()),
        concepts=list(dict.fromkeys(c for lab in checked for c in lab.concepts)),
        duplicate_rows=duplicates,
        matched={lab.column: {"concepts": [parse_scope(s)[0] for s in lab.scopes],
                              "matched_by": lab.matched_by} for lab in checked})


def _raise_if_blocked(report: GuardReport) -> None:
    if not report.passed:
        if report.unmatched and not report.lineage_blocked:
            raise UnmatchedLabels(f"training table refused: {report.summary()}", report)
        raise ProvenanceViolation(f"training table refused: {report.summary()}", report)


def parse_concepts(items: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
    """`--concept` items as {label column: concept}: ``CONCEPT`` maps every label,
    ``COLUMN=CONCEPT`` one column (later items win). ValidationError for an item with an
    empty side. Shared by the CLI and the HTTP API, so both read the option alike."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, name = item.partition("=")
        if not sep and item.strip():
            mapping.update({label: item.strip() for label in labels})
        elif not column.strip() or not name.strip():
            raise ValidationError(f"concept '{item}': expected CONCEPT or COLUMN=CONCEPT")
        else:
            mapping[column.strip()] = name.strip()
    return mapping


def _explicit_concepts(store: RecordStore, concept: str | Mapping[str, str] | None,
                       labels: list[str]) -> dict[str, str]:
    """{label column: concept} from `concept`; NotFound for a concept nothing declares or
    asserted, ValidationError for a column that is not a label."""
    if concept is None:
        return {}
    mapping = {c: concept for c in labels} if isinstance(concept, str) else dict(concept)
    for column, name in mapping.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"the concept for label column '{column}' must be a "
                                  f"non-empty name, got {name!r}")
        if column not in labels:
            raise ValidationError(f"--concept names column '{column}', which is not a label "
                                  f"column; labels are: {', '.join(labels)}")
    known = {parse_scope(b.concept)[0] for b in store.assertion_batches()}
    for name in set(mapping.values()):
        if name not in known:
            import difflib

            raise NotFound(f"no assertions were recorded for concept '{name}'",
                           difflib.get_close_matches(name, sorted(known), n=3))
    return mapping


def _scopes(store: RecordStore) -> dict[str, list[AssertionBatch]]:
    """The stored assertion batches by scope (the guard's view of what was recorded)."""
    scopes: dict[str, list[AssertionBatch]] = {}
    for b in store.assertion_batches():
        if b.id is not None:
            scopes.setdefault(b.concept, []).append(b)
    return scopes


def _tied_scopes(scopes: Mapping[str, list[AssertionBatch]], concepts: Sequence[str],
                 specs: Sequence[KeySpec],
                 key_columns: list[str]) -> list[tuple[str, list[str]]]:
    """The stored scopes of `concepts` about the table's entity types, each with the key
    columns in its fold order (a batch written before scopes: as given)."""
    wanted = set(concepts)
    tokens = tuple((s.entity, s.collation) for s in specs)
    tied = []
    for scope in sorted(scopes):
        concept, entities = parse_scope(scope)
        if concept not in wanted:
            continue
        if entities is None:
            tied.append((scope, key_columns))
        elif entities == tokens:
            tied.append((scope, [s.column for s in specs]))
    return tied


class _Checked(Protocol):
    """What checking a label column against its tied scopes found (local or Spark)."""

    touched: bool  # any row's entity is known to the scopes consulted


_Result = TypeVar("_Result", bound=_Checked)
#: a label column checked against scopes with their key orders, its values spelled so
_CheckLabel = Callable[[Sequence[tuple[str, list[str]]], ValueSpec], _Result]
#: the candidate scopes a label column's content matches: (score, scope, key order) each
_MatchContent = Callable[[Sequence[str], ValueSpec], list[tuple[int, str, list[str]]]]


@dataclass
class _LabelTie(Generic[_Result]):
    """How one label column was tied to what the store recorded, and what checking it
    found (None: tied to no scope, nothing checked)."""

    label: _Label
    result: _Result | None
    spec: ValueSpec  # how its values are spelled
    targets: list[FieldTarget]  # the fields it stands for (none: explicit or unknown)


def _tie_label(store: Store, column: str, *, dataset: str | None, explicit: Mapping[str, str],
               scopes: Mapping[str, list[AssertionBatch]], specs: Sequence[KeySpec],
               key_columns: list[str], check: _CheckLabel[_Result],
               match: _MatchContent) -> _LabelTie[_Result]:
    """Tie a label column to concepts and check it: to the concept `explicit` names for it,
    else to its field's concept and the concepts upstream of it; when those scopes know
    none of the table's entities (and no concept was named), to the concept whose scopes
    `match` by content best, with every scope of that concept that matches. The local
    guard and the Spark guard share this flow and differ in how they check a column
    against scopes (`check`) and match its content (`match`), so both tie a column alike."""
    targets = [] if column in explicit else _label_targets(store, dataset, column)
    spec = targets[0].values if targets else ValueSpec()
    if column in explicit:
        concepts, matched_by = [explicit[column]], "explicit"
    else:
        concepts = sorted({t.concept for t in targets} | _upstream_concepts(store, targets))
        matched_by = "declared"
    tied = _tied_scopes(scopes, concepts, specs, key_columns)
    result = check(tied, spec) if tied else None
    if (result is None or not result.touched) and column not in explicit:
        done = {t for t, _ in tied}
        matches = match([sc for sc in sorted(scopes) if sc not in done], spec)
        if matches:
            best = max(matches, key=lambda m: m[0])
            concept_of_best = parse_scope(best[1])[0]
            # the best match, and what else matches on its concept (truth and AI may
            # have been recorded with key columns named differently)
            tied = [(sc, order) for _, sc, order in matches
                    if parse_scope(sc)[0] == concept_of_best]
            matched_by = "content"
            if not targets:
                spec = _scope_spec(store, scopes[best[1]])
            concepts = [concept_of_best]
            result = check(tied, spec)
    if result is None or not result.touched:
        matched_by = "none"
    label = _Label(column, concepts, [t for t, _ in tied] if matched_by != "none" else [],
                   matched_by, tied[0][1] if tied else [s.column for s in specs])
    return _LabelTie(label, result, spec, targets)


def _blank(values: pl.Series) -> np.ndarray:
    """Rows without a label (null, NaN, blank text): no assertion is about them."""
    missing = values.is_null()
    if values.dtype.is_float():
        missing = missing | values.is_nan()
    elif values.dtype == pl.Utf8:
        missing = missing | (values.str.strip_chars() == "")
    return missing.fill_null(True).to_numpy()


def _scope_spec(store: GraphStore, batches: Sequence[AssertionBatch]) -> ValueSpec:
    """How the values of a scope's field are spelled (its first batch's field)."""
    node = store.nodes([batches[0].field]).get(batches[0].field)
    return ValueSpec.of(node.properties) if node is not None else ValueSpec()


#: a scope tied by content holds at least this share of the values of the rows whose
#: entities it knows: a copy of what was recorded agrees everywhere, while a label about
#: other entities that merely share key values (user 7, transaction 7) agrees by chance
MIN_AGREEMENT = 0.9


def _content_matches(store: Store, frame: pl.DataFrame, key_columns: list[str], column: str,
                     candidates: Sequence[str], spec: ValueSpec, *,
                     scopes: Mapping[str, list[AssertionBatch]],
                     blank: np.ndarray) -> list[tuple[int, str, list[str]]]:
    """The candidate scopes whose recorded entities and values the column matches, each
    with its score (agreements minus twice the disagreements) and the key column order
    that matches best (every order of up to three key columns is tried). A scope matches
    when at least MIN_AGREEMENT of the rows whose entities it knows carry a value it
    recorded for them."""
    stats: list[tuple[str, list[str], int, int]] = []
    for scope, orders in _content_candidates(scopes, candidates, key_columns):
        batches = scopes[scope]
        stored = store.assertion_columns([b.id for b in batches if b.id is not None],
                                         ["entity", "value"])
        if not stored:
            continue
        known_entities = pl.Series(np.concatenate([c["entity"] for c in stored.values()]))
        known_values = pl.Series(np.concatenate([c["value"] for c in stored.values()]))
        value = value_spread(frame[column], spec if spec != ValueSpec()
                             else _scope_spec(store, batches))
        for order in orders:
            entity, pairs = fingerprints(scope, frame, order, value)
            on_entity = pl.Series(entity).is_in(known_entities.implode()).to_numpy() & ~blank
            agree = int((pl.Series(pairs).is_in(known_values.implode()).to_numpy()
                         & on_entity).sum())
            stats.append((scope, order, agree, int(on_entity.sum())))
    return _select_matches(stats)


def _content_candidates(scopes: Mapping[str, list[AssertionBatch]], candidates: Sequence[str],
                        key_columns: list[str]) -> list[tuple[str, list[list[str]]]]:
    """The candidate scopes a column may be matched to by content, each with the key
    column orders to try (every order of up to three key columns): those whose entity
    types are as many as the key columns, or written before scopes."""
    found = []
    for scope in candidates:
        entities = parse_scope(scope)[1]
        if entities is not None and len(entities) != len(key_columns):
            continue
        orders = (itertools.permutations(key_columns) if len(key_columns) <= 3
                  else [tuple(key_columns)])
        found.append((scope, [list(o) for o in orders]))
    return found


def _select_matches(stats: Sequence[tuple[str, list[str], int, int]],
                    ) -> list[tuple[int, str, list[str]]]:
    """From (scope, key order, rows that agree, rows whose entity the scope knows) in
    candidate order: per scope, the first best-scoring order (agreements minus twice the
    disagreements) that reaches MIN_AGREEMENT, as (score, scope, order)."""
    best: dict[str, tuple[int, str, list[str]]] = {}
    for scope, order, agree, known in stats:
        score = agree - 2 * (known - agree)
        if agree and agree >= MIN_AGREEMENT * known and (
                scope not in best or score > best[scope][0]):
            best[scope] = (score, scope, order)
    return list(best.values())


@dataclass
class _LabelResult:
    codes: np.ndarray  # verdict code per row
    agent: np.ndarray  # batch id of the AI assertion named per row, -1: none
    model_only: np.ndarray  # rows whose value only AI assertions support
    touched: bool  # any row's entity is known to the scopes consulted
    duplicates: int = 0


def _check_label(store: RecordStore, frame: pl.DataFrame, column: str,
                 tied: Sequence[tuple[str, list[str]]], spec: ValueSpec, *,
                 scopes: Mapping[str, list[AssertionBatch]], policy: Policy,
                 blank: np.ndarray) -> _LabelResult:
    value = value_spread(frame[column], spec)
    duplicates = 0
    fps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, (scope, order) in enumerate(tied):
        entity, pairs = fingerprints(scope, frame, order, value)
        if i == 0:  # any one scope's fingerprints tell repeated rows and conflicts
            duplicates = _check_conflicts(frame, order, column, entity, pairs)
        fps[scope] = (entity, pairs)
    del value
    result = _verdicts(store, [(scope, scopes[scope]) for scope, _ in tied], fps,
                       frame.height, policy, blank)
    result.duplicates = duplicates
    return result


# verdict codes, in VERDICTS order
_CODE = {v: i for i, v in enumerate(VERDICTS)}
_SEVERITY_BY_CODE = np.array([_SEVERITY[v] for v in VERDICTS], dtype=np.int8)


def _severity(codes: np.ndarray) -> np.ndarray:
    return _SEVERITY_BY_CODE[codes]


def _count(codes: np.ndarray) -> dict[str, int]:
    # a comparison per verdict reads int8s; bincount would first widen them all to int64
    counts = {v: int(np.count_nonzero(codes == i)) for i, v in enumerate(VERDICTS)}
    return {v: n for v, n in counts.items() if n}


def _check_conflicts(frame: pl.DataFrame, key_columns: list[str], label: str,
                     entity_ids: np.ndarray, pair_ids: np.ndarray) -> int:
    """Refuse one entity with two labels; return how many rows merely repeat a row."""
    # hash counts, not a sort (a 10^7-row table: ~0.2 s each against ~0.8 s for the sort),
    # each taken once: as many distinct (entity, label) pairs as entities is no conflict
    entities = pl.Series(entity_ids).n_unique()
    if entities == len(entity_ids):
        return 0
    distinct_pairs = pl.Series(pair_ids).n_unique()
    duplicate_rows = len(pair_ids) - distinct_pairs
    rows = None if distinct_pairs == entities else first_conflict(entity_ids, pair_ids)
    if rows is not None:
        pairs = pl.DataFrame({"e": entity_ids, "v": pair_ids})
        entities = pairs.unique().filter(pl.col("e").is_duplicated())["e"].n_unique()
        raise _conflict_error(label, entities, {c: frame[c][rows[0]] for c in key_columns},
                              [frame[label][r] for r in rows], rows)
    return duplicate_rows


def _conflict_error(label: str, entities: int, key: Mapping[str, Any],
                    values: Sequence[Any], rows: Sequence[int]) -> ValidationError:
    """One entity with two labels: how many entities, the first one's key, its values
    and (0-based) rows."""
    shown = ", ".join(f"{c}={v!r}" for c, v in key.items())
    labelled = sorted({repr(v) for v in values})
    return ValidationError(
        f"training table: {entities} key(s) have conflicting '{label}' labels; e.g. "
        f"{shown} is labelled {' and '.join(labelled)} "
        f"(rows {', '.join(str(r + 1) for r in rows)}); deduplicate before training")


def _label_targets(store: Store, dataset: str | None, label: str) -> list[FieldTarget]:
    """The field(s) a label column stands for: the dataset's field, or without a dataset,
    every field of that name (each scoped by its entities, so an unrelated field of the
    same name about other entities matches nothing). A dataset without a field of that
    name ties the column to nothing: it is matched by content."""
    if dataset is not None:
        try:
            return [resolve_field(store, dataset, label)]
        except ValidationError:
            return []
    found = []
    for ref in store.find(f".{label}", [NodeKind.FIELD], limit=10_000):
        if ref.key.endswith(f".{label}"):
            node = store.node(ref.key)
            concept = str(node.properties.get("concept") or ref.key)
            dataset_key = f"{NodeKind.DATASET}:{keys.identity(ref.key)[: -len(label) - 1]}"
            found.append(FieldTarget(NodeRef(dataset_key, NodeKind.DATASET, dataset_key),
                                     ref, label, concept, values=ValueSpec.of(node.properties)))
    return found


def _upstream_concepts(store: GraphStore, targets: Sequence[FieldTarget]) -> set[str]:
    concepts: set[str] = set()
    for target in targets:
        upstream = [r.node.key for r in store.upstream(target.field.key)
                    if r.node.kind is NodeKind.FIELD]
        for node in store.nodes(upstream).values():
            concepts.add(str(node.properties.get("concept") or node.key))
    return concepts


def _verdicts(store: RecordStore, scopes: Sequence[tuple[str, list[AssertionBatch]]],
              fps: Mapping[str, tuple[np.ndarray, np.ndarray]], n: int, policy: Policy,
              blank: np.ndarray) -> _LabelResult:
    """Per row: the verdict code, and the batch id of the AI assertion named for it.

    Membership is one join per scope of the rows' value fingerprints against the stored
    ones, the truth (observed/human) and the AI side each deduplicated apart, and only when
    it repeats a fact (a label that confirms the model's is the same fact on both sides, so
    deduplicating them together would group every assertion). On the truth side a person's
    label stands until a later person's label for the same entity overrules it. A row whose
    value no truth supports, about an entity truth speaks of, is `contradicted`. The AI
    assertion named for a row is the most confident one (a missing confidence is unknown,
    below any given one), the most recent batch among equals (see `_best_ai`), whichever
    scope it was made on."""
    truth = np.full(n, -1.0, dtype=np.float32)  # best observed/human confidence, -1: none
    ai = np.full(n, -2.0, dtype=np.float32)  # best AI confidence, -1: unknown, -2: none
    agent = np.full(n, -1, dtype=np.int64)  # batch id of the AI assertion named, -1: none
    truth_entity = np.zeros(n, dtype=bool)  # truth speaks of the row's entity
    touched = False
    for scope, batches in scopes:
        truth_side = [b for b in batches if b.origin in _TRUTH]
        ai_side = [b for b in batches if b.origin not in _TRUTH]
        ids = [b.id for b in batches if b.id is not None]
        columns = store.assertion_columns(ids, ["value", "confidence"])
        entities = store.assertion_columns([b.id for b in truth_side if b.id is not None],
                                           ["entity"])
        if not columns:
            continue
        entity, pairs = fps[scope]
        probe = pl.DataFrame({"fp": pairs}).with_row_index("i")
        support, known_truth = _scope_support(truth_side, ai_side, columns, entities)
        hit = _matches(probe, support)
        on_truth = hit["truth"].to_numpy()
        rows, conf, batch = hit["i"].to_numpy(), hit["conf"].to_numpy(), hit["batch"].to_numpy()
        touched = touched or bool(rows.size)
        if on_truth.any():
            found = rows[on_truth]
            truth[found] = np.maximum(truth[found], conf[on_truth])
            rows, conf, batch = rows[~on_truth], conf[~on_truth], batch[~on_truth]
        known = ai[rows]  # the rule of _best_ai across scopes too
        better = (conf > known) | ((conf == known) & (batch > agent[rows]))
        rows, conf, batch = rows[better], conf[better], batch[better]
        ai[rows], agent[rows] = conf, batch
        if known_truth.size:
            open_rows = np.flatnonzero(truth < 0)
            # a hash lookup: np.isin sorts both sides
            spoken = open_rows[pl.Series(entity[open_rows]).is_in(
                pl.Series(known_truth).implode()).to_numpy()]
            truth_entity[spoken] = True
            touched = touched or bool(spoken.size)
        del probe
    ai[blank], agent[blank], truth[blank], truth_entity[blank] = -2.0, -1, -1.0, False
    codes, model_only = _codes(truth, ai, truth_entity, policy)
    return _LabelResult(codes, agent, model_only, touched)


def _codes(truth: np.ndarray, ai: np.ndarray, truth_entity: np.ndarray,
           policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the verdict code and whether only AI supports the value, from the best
    observed/human confidence (`truth`, -1: none), the best AI confidence (`ai`, -1:
    unknown, -2: none) and whether truth speaks of the row's entity. The one rule both
    the local guard and the Spark check (`guard_spark`) apply."""
    codes = np.full(len(truth), _CODE["unverified"], dtype=np.int8)
    has_ai = ai > -2
    codes[has_ai] = _CODE["ai_only"]
    if policy.allow_ai_above is not None:  # an unknown confidence (-1) never reaches it
        codes[has_ai & (ai >= policy.allow_ai_above)] = _CODE["pseudo_label"]
    codes[truth_entity & (truth < 0)] = _CODE["contradicted"]
    codes[truth >= 0] = _CODE["low_confidence"]
    codes[truth >= policy.min_confidence] = _CODE["ground_truth"]
    return codes, has_ai & (truth < 0)


def _scope_support(truth_side: Sequence[AssertionBatch], ai_side: Sequence[AssertionBatch],
                   columns: Mapping[int, Mapping[str, np.ndarray]],
                   entities: Mapping[int, Mapping[str, np.ndarray]],
                   ) -> tuple[pl.DataFrame, np.ndarray]:
    """What a row's value fingerprint is joined against on one scope: `fp`, `conf`,
    `batch`, `truth` (the truth side, overruled human labels left out, and the AI side,
    each deduplicated apart), and every entity the truth side speaks of. The Spark
    check's fingerprint export (`guard_spark.export_fingerprints`) writes exactly this."""
    sides = []
    known_truth = np.zeros(0, dtype=np.int64)
    if truth_side:
        support, known_truth = _truth_support(truth_side, columns, entities)
        sides.append(support.with_columns(truth=pl.lit(True)))
    if ai_side:
        sides.append(_support(ai_side, columns, unknown=-1.0)
                     .with_columns(truth=pl.lit(False)))
    return pl.concat(sides, rechunk=False), known_truth


def _matches(probe: pl.DataFrame, support: pl.DataFrame) -> pl.DataFrame:
    """The rows of `probe` (`i`, `fp`) whose fingerprint `support` holds, with its columns,
    in no particular order. Polars' streaming engine joins 10^7 x 5*10^6 in about half the
    time of the in-memory one here."""
    return (probe.lazy().join(support.lazy(), on="fp", how="inner")
            .collect(engine="streaming"))


def _truth_support(batches: Sequence[AssertionBatch],
                   columns: Mapping[int, Mapping[str, np.ndarray]],
                   entities: Mapping[int, Mapping[str, np.ndarray]],
                   ) -> tuple[pl.DataFrame, np.ndarray]:
    """The truth side (`_support`) with overruled human labels left out: of a person's
    labels for one entity only the latest (batch, then row) stands. Also every entity the
    truth side speaks of."""
    humans = [b for b in batches if b.origin is Origin.HUMAN_LABELLED and b.id is not None]
    support = _support(batches, columns, unknown=1.0)
    ids = [b.id for b in batches if b.id is not None and b.id in entities]
    known = np.concatenate([entities[i]["entity"] for i in ids])
    if len(humans) > 1:
        said = pl.concat([pl.DataFrame({
            "e": entities[b.id]["entity"], "fp": columns[b.id]["value"],
            "batch": np.full(b.rows, b.id, dtype=np.int64),
            "row": np.arange(b.rows, dtype=np.int64)}) for b in humans if b.id is not None])
        latest = said.sort("batch", "row").unique("e", keep="last").select("e", latest="fp")
        overruled = (said.join(latest, on="e").filter(pl.col("fp") != pl.col("latest"))
                     .select("fp").unique())
        if overruled.height:
            # an observed fact is not overruled by a person, so drop only the human rows
            observed = [b for b in batches if b.origin is Origin.OBSERVED]
            human_support = _support(humans, columns, unknown=1.0).join(
                overruled, on="fp", how="anti")
            parts = [human_support]
            if observed:
                parts.append(_support(observed, columns, unknown=1.0))
            support = _best_ai(pl.concat(parts))
    return support, known


def _support(batches: Sequence[AssertionBatch],
             columns: Mapping[int, Mapping[str, np.ndarray]], unknown: float) -> pl.DataFrame:
    """One row per value fingerprint asserted by `batches` (all truth or all AI): `fp`,
    `conf` (the best; a missing confidence counts as `unknown`) and `batch` (`_best_ai`)."""
    parts = []
    for b in batches:
        assert b.id is not None
        conf = columns[b.id]["confidence"]
        parts.append(pl.DataFrame({
            "fp": columns[b.id]["value"],
            "conf": np.where(np.isnan(conf), np.float32(unknown), conf),
            "batch": np.full(len(conf), b.id, dtype=np.int64),
        }))
    support = pl.concat(parts) if len(parts) > 1 else parts[0]
    ordered = np.sort(support["fp"].to_numpy())
    if not (ordered[1:] == ordered[:-1]).any():  # the usual case: one assertion per fact
        return support
    return _best_ai(support)


def _best_ai(support: pl.DataFrame) -> pl.DataFrame:
    """Per fingerprint, the assertion with the highest confidence; among equal confidences
    the most recent batch (batch ids grow with every write). For truth only the confidence
    matters; for AI this is the rule that names the agent behind a row."""
    return (support.sort(["conf", "batch"], descending=[True, True])
            .unique("fp", keep="first"))


@dataclass(frozen=True)
class _Model:
    """The model being trained: its name, the version if named, and every version."""

    name: str
    version: NodeRef | None
    versions: list[NodeRef]

    def relation(self, other: str) -> str | None:
        """How the version `other` (a key) stands to the one being trained: "its own
        outputs", "an earlier version", "a later version", "another version" (no version
        named), or None when it is not a version of this model."""
        if other not in {v.key for v in self.versions}:
            return None
        if self.version is None:
            return "another version"
        if other == self.version.key:
            return "its own outputs"
        mine, theirs = (_version_order(k) for k in (self.version.key, other))
        return "an earlier version" if theirs < mine else "a later version"


def _version_order(key: str) -> tuple[int, int, str]:
    version = key.rsplit("@", 1)[-1]
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _model_versions(store: GraphStore, model: str) -> _Model:
    """The model named `model` (fraud or fraud@3); NotFound (with near misses) when it is
    not registered, so a typo cannot silently drop the feedback-loop checks."""
    if "@" in model.rpartition(":")[2]:
        version = store.resolve(model, [NodeKind.MODEL_VERSION])
        name = keys.identity(version.key).rsplit("@", 1)[0]
    else:
        version = None
        name = keys.identity(store.resolve(model, [NodeKind.MODEL]).key)
    versions = [r for r in store.find(f"{NodeKind.MODEL_VERSION}:{name}@",
                                      [NodeKind.MODEL_VERSION], limit=10_000)
                if r.key.startswith(f"{NodeKind.MODEL_VERSION}:{name}@")]
    return _Model(name, version, versions)


def _loop_message(model: _Model, source: str, what: str) -> str:
    relation = model.relation(source)
    trained = model.version.name if model.version else model.name
    if relation == "its own outputs":
        return f"feedback loop (self-training): {trained} would train on {what} its own outputs"
    return (f"feedback loop: {trained} would train on {what} the outputs of "
            f"{keys.identity(source)}, {relation} of {model.name}")


def _lineage_findings(store: Store, targets: Sequence[FieldTarget], model: _Model | None,
                      tainted: Mapping[str, Tainted]) -> list[Finding]:
    """A label field that descends from a model's output: through column lineage, or as
    `taint` finds it (tagged AI-inferred fields, fields a model generates, and what
    derives from them); a feedback loop when that model is a version of `model`."""
    findings: list[Finding] = []
    for target in targets:
        sources: list[tuple[str, list[str]]] = []
        for reached in store.upstream(target.field.key):
            if reached.node.kind is NodeKind.MODEL_VERSION:
                sources.append((reached.node.key,
                                [n.key for _, n in reversed(reached.path)]))
        found = tainted.get(target.field.key)
        if found is not None and not sources:
            path = [n.key for _, n in found.path]
            agents = _ai_agents_of(store, found.source.key)
            sources += [(a, [a, *path]) for a in agents] or [(found.source.key, path)]
        for source, path in sources:
            if model is not None and model.relation(source) is not None:
                findings.append(Finding(
                    "feedback_loop", _loop_message(model, source, "labels that descend from"),
                    path))
            else:
                findings.append(Finding(
                    "label_from_model_output",
                    f"label '{target.field.name}' descends from the output of "
                    f"{keys.identity(source)}", path))
    return findings


def _ai_agents_of(store: Store, field_key: str) -> list[str]:
    """The model versions behind an AI field: those that generate it, those whose
    AI-inferred assertions are on it."""
    agents = [ref.key for edge, ref in store.neighbours(field_key)
              if edge.kind is EdgeKind.GENERATED and ref.kind is NodeKind.MODEL_VERSION]
    agents += [b.agent for b in store.assertion_batches(fields=[field_key])
               if b.origin is Origin.AI_INFERRED and b.agent.startswith(
                   f"{NodeKind.MODEL_VERSION}:")]
    return sorted(set(agents))


def _trained_on_findings(store: GraphStore, model: _Model | None) -> list[Finding]:
    """The version being trained descends from a version of its own model: through what
    it was trained on, and through the fields of the datasets it was trained on (a model
    version's `outputs:` are fields, which a dataset-level walk does not reach)."""
    if model is None or model.version is None:
        return []
    findings = []
    starts: list[tuple[str, list[str]]] = [(model.version.key, [])]
    for reached in store.upstream(model.version.key):
        if reached.node.kind in (NodeKind.DATASET, NodeKind.DATASET_VERSION):
            dataset = reached.node.key
            if reached.node.kind is NodeKind.DATASET_VERSION:
                dataset = f"{NodeKind.DATASET}:{keys.identity(dataset).rsplit('@', 1)[0]}"
            via = [n.key for _, n in reversed(reached.path)]
            for edge, ref in store.neighbours(dataset):
                if edge.kind is EdgeKind.HAS_FIELD and ref.kind is NodeKind.FIELD:
                    starts.append((ref.key, via))
    seen: set[tuple[str, ...]] = set()
    for start, via in starts:
        for reached in store.upstream(start):
            relation = model.relation(reached.node.key)
            if relation is None or reached.edge is EdgeKind.VERSION_OF:
                continue
            if reached.node.key == model.version.key and start == model.version.key:
                continue  # the version itself, reached through its own model node
            path = [n.key for _, n in reversed(reached.path)] + via
            if tuple(path) in seen:
                continue
            seen.add(tuple(path))
            findings.append(Finding(
                "feedback_loop",
                _loop_message(model, reached.node.key, "data that descends from"), path))
    return findings


def _feedback_by_data(model: _Model | None, loop_rows: Mapping[int, list[np.ndarray]],
                      agent_of: Mapping[int, str], n: int) -> list[Finding]:
    """Rows whose label only a version of the model being trained asserted (ai_only,
    pseudo-labels allowed on purpose, values that contradict the truth): a feedback loop
    found by fingerprint, whatever the lineage says. Counted in rows, once a row however
    many of its labels the version asserted."""
    if model is None or not loop_rows:
        return []
    per_agent: dict[str, list[np.ndarray]] = {}
    for batch_id, rows in loop_rows.items():
        agent = agent_of.get(batch_id)
        if agent is not None and model.relation(agent) is not None:
            per_agent.setdefault(agent, []).extend(rows)
    counts = {}
    for agent, parts in per_agent.items():
        if len(parts) == 1:  # rows of one label: distinct already
            counts[agent] = int(parts[0].size)
        else:
            seen = np.zeros(n, dtype=bool)
            for part in parts:
                seen[part] = True
            counts[agent] = int(np.count_nonzero(seen))
    return _loop_findings(model, counts)


def _loop_findings(model: _Model, rows_by_agent: Mapping[str, int]) -> list[Finding]:
    """A feedback loop per version of the model and the rows only it labelled."""
    return [Finding("feedback_loop",
                    _loop_message(model, agent, f"{count} row(s) labelled only by"),
                    [agent], rows=count)
            for agent, count in sorted(rows_by_agent.items()) if count]


def _examples(frame: pl.DataFrame, key_columns: list[str], labels: list[str],
              codes: np.ndarray, agents: dict[str, np.ndarray], agent_of: dict[int, str],
              policy: Policy) -> list[dict[str, Any]]:
    """Up to max_examples offending rows (blocked first, then warned)."""
    rows_of = {v: np.flatnonzero(codes == _CODE[v])[: policy.max_examples]
               for v in _offending(policy)}
    examples = []
    for row, verdict in _pick_examples(rows_of, policy):
        asserted_by = {c: agent_of.get(int(agents[c][row]), "?") for c in labels
                       if agents[c][row] >= 0}
        examples.append(_example(row, verdict, {c: frame[c][row] for c in key_columns},
                                 {c: frame[c][row] for c in labels}, asserted_by, policy))
    return examples


def _offending(policy: Policy) -> list[str]:
    """The verdicts examples are shown for: blocked ones first, then warned ones."""
    wanted = [v for v in VERDICTS if policy.action(v) == "block"]
    return wanted + [v for v in VERDICTS if policy.action(v) == "warn"]


def _pick_examples(rows_of: Mapping[str, Sequence[int] | np.ndarray],
                   policy: Policy) -> list[tuple[int, str]]:
    """(row, verdict) of the examples to show, from the first `max_examples` rows (0-based,
    in order) of each offending verdict."""
    wanted = _offending(policy)
    found = {v: np.asarray(rows_of[v]) for v in wanted if len(rows_of.get(v, ()))}
    # every offending verdict gets a share of the examples, so a few contradicted rows
    # are not hidden behind many ai_only ones; what is left goes in order
    share = policy.max_examples // len(found) if found else 0
    picked = [(int(r), v) for v, rows in found.items() for r in rows[: max(share, 1)]]
    taken = set(picked)
    picked += [(int(r), v) for v, rows in found.items() for r in rows
               if (int(r), v) not in taken]
    order = {v: i for i, v in enumerate(wanted)}
    return sorted(picked[: policy.max_examples], key=lambda p: (order[p[1]], p[0]))


def _example(row: int, verdict: str, key: Mapping[str, Any], label: Mapping[str, Any],
             asserted_by: Mapping[str, str], policy: Policy) -> dict[str, Any]:
    """One offending row as the report shows it (`row` 0-based)."""
    reasons = {
        "ai_only": "only AI assertions support this value",
        "low_confidence": f"human/observed support below {policy.min_confidence}",
        "unverified": "nobody asserted this value for this key",
        "contradicted": "recorded ground truth gives this key another value",
    }
    return {
        "row": row + 1, "verdict": verdict, "action": policy.action(verdict),
        "reason": reasons.get(verdict, verdict),
        "key": {c: _plain(v) for c, v in key.items()},
        "label": {c: _plain(v) for c, v in label.items()},
        "ai_agent": dict(asserted_by) or None,
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
