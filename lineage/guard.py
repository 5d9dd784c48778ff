"""The training guard: AI outputs never re-enter training as ground truth.

    report = check_training(store, "train.parquet", key="transaction_id",
                            label="is_fraud", dataset="fraud.labels", model="fraud@3")

For every row it asks who asserted that label value for that entity — on the label field,
on every field upstream of it through column lineage, and on every field sharing a concept
with those (which catches a copy whose lineage was lost: the fingerprint still matches):

==================  ========================================================  ===========
verdict             when                                                      default
==================  ========================================================  ===========
``ground_truth``    an observed or human assertion supports the value,        allow
                    at or above the policy's ``min_confidence``
``low_confidence``  only observed/human support below ``min_confidence``      block
``pseudo_label``    only AI support, at or above ``allow_ai_above``           allow (counted)
``ai_only``         only AI assertions support the value                      block
``unverified``      nobody asserted this value for this entity                warn
==================  ========================================================  ===========

An offending row's example names the AI agent behind it: of the AI assertions of that value
for that entity (on any of the concepts consulted), the most confident one — a missing
confidence counts as 1.0 — and among equally confident ones the most recent batch. The same
agent is the one a feedback loop found by fingerprint is attributed to.

Lineage-level checks run as well: the label field descends from a model's output, and the
model being trained descends from an earlier version's outputs (a feedback loop) — by
lineage, and by the agents behind AI-only rows. A blocked check raises ProvenanceViolation
carrying the report (the CLI exits 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from . import _keys as keys
from ._errors import ProvenanceViolation, ValidationError
from ._model import AssertionBatch, NodeRef
from ._vocabulary import EdgeKind, NodeKind, Origin
from .provenance import FieldTarget, resolve_field
from .provenance._fingerprint import entity_and_value_spread, spread_column
from .provenance._tables import Table, read_table, require_columns, require_keys
from .store.base import Store

Action = Literal["allow", "warn", "block"]
VERDICTS = ("ground_truth", "pseudo_label", "unverified", "low_confidence", "ai_only")
# worst first, for rows with several labels
_SEVERITY = {"ai_only": 4, "low_confidence": 3, "unverified": 2, "pseudo_label": 1,
             "ground_truth": 0}
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
        if verdict == "ai_only":
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

    @property
    def blocked_rows(self) -> int:
        return sum(n for v, n in self.counts.items() if self.policy.action(v) == "block")

    @property
    def warned_rows(self) -> int:
        return sum(n for v, n in self.counts.items() if self.policy.action(v) == "warn")

    @property
    def passed(self) -> bool:
        blocked_by_lineage = self.policy.lineage == "block" and bool(self.findings)
        return self.blocked_rows == 0 and not blocked_by_lineage

    def summary(self) -> str:
        if self.passed:
            return (f"passed: {self.counts.get('ground_truth', 0)} of {self.rows} rows are "
                    f"ground truth; {self.warned_rows} warned")
        reasons = []
        if self.blocked_rows:
            parts = ", ".join(f"{self.counts[v]} {v}" for v in VERDICTS
                              if self.counts.get(v) and self.policy.action(v) == "block")
            reasons.append(f"{self.blocked_rows} of {self.rows} rows blocked ({parts})")
        if self.findings and self.policy.lineage == "block":
            reasons.append("; ".join(f.message for f in self.findings))
        return "blocked: " + "; ".join(reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "summary": self.summary(), "rows": self.rows,
            "keys": self.keys, "labels": self.labels, "dataset": self.dataset,
            "model": self.model, "counts": {v: self.counts.get(v, 0) for v in VERDICTS},
            "counts_by_label": self.counts_by_label, "blocked_rows": self.blocked_rows,
            "warned_rows": self.warned_rows, "duplicate_rows": self.duplicate_rows,
            "examples": self.examples, "findings": [f.to_dict() for f in self.findings],
            "concepts": self.concepts, "policy": self.policy.model_dump(),
        }


# ------------------------------------------------------------------ the check


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
) -> GuardReport:
    """Check a training table before fitting. Returns the report when it passes; raises
    ProvenanceViolation (with `.report`) when the policy blocks it, unless
    `raise_on_block=False`. Raises ValidationError for unusable input: missing columns,
    an empty table, missing keys, one key with conflicting labels."""
    policy = policy or Policy()
    key_columns = [key] if isinstance(key, str) else list(key)
    labels = [label] if isinstance(label, str) else list(label)
    if not labels:
        raise ValidationError("at least one label column is needed")
    frame = read_table(table, "training table", columns=[*key_columns, *labels])
    require_columns(frame, [*key_columns, *labels], "training table")
    if frame.height == 0:
        raise ValidationError("the training table is empty")
    require_keys(frame, key_columns, "training table")

    keys_spread = [spread_column(frame[c]) for c in key_columns]
    duplicates = 0
    verdicts = np.zeros(0, dtype=np.int8)  # the first label's, then the worst per row
    reasons: dict[str, np.ndarray] = {}
    counts_by_label: dict[str, dict[str, int]] = {}
    findings: list[Finding] = []
    all_concepts: list[str] = []
    ai_agents: dict[int, int] = {}
    agent_of: dict[int, str] = {}
    for column in labels:
        value_spread = spread_column(frame[column])
        targets = _label_targets(store, dataset, column)
        concepts = sorted({t.concept for t in targets} | _upstream_concepts(store, targets))
        all_concepts += [c for c in concepts if c not in all_concepts]
        # any one concept's (entity, value) fingerprints tell repeated rows and conflicts
        first = concepts[0] if concepts else ""
        entity_ids, pair_ids = entity_and_value_spread(first, keys_spread, value_spread)
        duplicates = max(duplicates, _check_conflicts(frame, key_columns, column, entity_ids,
                                                      pair_ids))
        del entity_ids

        def value_fingerprints(concept: str, first: str = first, pairs: np.ndarray = pair_ids,
                               value: np.ndarray = value_spread) -> np.ndarray:
            if concept == first:
                return pairs
            return entity_and_value_spread(concept, keys_spread, value)[1]

        label_verdicts, agent_per_row, batches = _verdicts(
            store, concepts, value_fingerprints, frame.height, policy)
        del pair_ids, value_spread
        agent_of.update({b.id: b.agent for b in batches if b.id is not None})
        counts_by_label[column] = _count(label_verdicts)
        if len(counts_by_label) == 1:
            verdicts = label_verdicts
        else:
            worse = _severity(label_verdicts) > _severity(verdicts)
            verdicts = np.where(worse, label_verdicts, verdicts)
        reasons[column] = agent_per_row
        for agent, n in _agents_of(label_verdicts, agent_per_row).items():
            ai_agents[agent] = ai_agents.get(agent, 0) + n
        findings += _lineage_findings(store, targets, model)
    findings += _feedback_by_data(store, model, ai_agents, agent_of)
    report = GuardReport(
        rows=frame.height, keys=key_columns, labels=labels, dataset=dataset, model=model,
        policy=policy,
        counts=counts_by_label[labels[0]] if len(labels) == 1 else _count(verdicts),
        counts_by_label=counts_by_label,
        examples=_examples(frame, key_columns, labels, verdicts, reasons, agent_of, policy),
        findings=findings, concepts=all_concepts, duplicate_rows=duplicates)
    if not report.passed and raise_on_block:
        raise ProvenanceViolation(f"training table refused: {report.summary()}", report)
    return report


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
    """Refuse one entity with two labels; return how many rows merely repeat a row.

    The usual table names every entity once, which one sort settles; otherwise `pair_ids`
    fingerprint (key, label): as many distinct pairs as distinct keys means no key has two
    labels, and that takes two hash counts, not a group-by."""
    ordered = np.sort(entity_ids)
    if not (ordered[1:] == ordered[:-1]).any():
        return 0
    del ordered
    distinct_pairs = pl.Series(pair_ids).n_unique()
    duplicate_rows = len(pair_ids) - distinct_pairs
    if distinct_pairs == pl.Series(entity_ids).n_unique():
        return duplicate_rows
    pairs = pl.DataFrame({"e": entity_ids, "v": pair_ids}).with_row_index("row")
    conflicted = pairs.unique(["e", "v"], keep="first").filter(pl.col("e").is_duplicated())
    if conflicted.height:
        first = conflicted.sort("row")["e"][0]
        rows = pairs.filter(pl.col("e") == first)["row"].head(5).to_list()
        shown = ", ".join(f"{c}={frame[c][rows[0]]!r}" for c in key_columns)
        values = sorted({repr(frame[label][r]) for r in rows})
        entities = conflicted["e"].n_unique()
        raise ValidationError(
            f"training table: {entities} key(s) have conflicting '{label}' labels; e.g. "
            f"{shown} is labelled {' and '.join(values)} "
            f"(rows {', '.join(str(r + 1) for r in rows)}); deduplicate before training")
    return duplicate_rows


def _label_targets(store: Store, dataset: str | None, label: str) -> list[FieldTarget]:
    """The field(s) a label column stands for: the dataset's field, or without a dataset,
    every field of that name."""
    if dataset is not None:
        return [resolve_field(store, dataset, label)]
    found = []
    for ref in store.find(f".{label}", [NodeKind.FIELD], limit=10_000):
        if ref.key.endswith(f".{label}"):
            node = store.node(ref.key)
            concept = str(node.properties.get("concept") or ref.key)
            dataset_key = f"{NodeKind.DATASET}:{keys.identity(ref.key)[: -len(label) - 1]}"
            found.append(FieldTarget(NodeRef(dataset_key, NodeKind.DATASET, dataset_key),
                                     ref, label, concept))
    return found


def _upstream_concepts(store: Store, targets: Sequence[FieldTarget]) -> set[str]:
    concepts: set[str] = set()
    for target in targets:
        upstream = [r.node.key for r in store.upstream(target.field.key)
                    if r.node.kind is NodeKind.FIELD]
        for node in store.nodes(upstream).values():
            concepts.add(str(node.properties.get("concept") or node.key))
    return concepts


def _verdicts(store: Store, concepts: Sequence[str],
              value_fingerprints: Callable[[str], np.ndarray], n: int,
              policy: Policy) -> tuple[np.ndarray, np.ndarray, list[AssertionBatch]]:
    """Per row: the verdict code, and the batch id of the AI assertion named for it (-1:
    none); and the batches consulted.

    Membership is one join per concept of the rows' value fingerprints against the stored
    ones, the truth (observed/human) and the AI side each deduplicated apart, and only when
    it repeats a fact (a label that confirms the model's is the same fact on both sides, so
    deduplicating them together would group every assertion). A concept nobody asserted
    costs nothing, not even its fingerprints. The AI assertion named for a row is the most
    confident one (a missing confidence counts as 1.0), the most recent batch among equals
    (see `_best_ai`), whichever concept it was made on."""
    truth = np.full(n, -1.0, dtype=np.float32)  # best observed/human confidence, -1: none
    ai = np.full(n, -1.0, dtype=np.float32)  # best AI confidence, -1: none
    agent = np.full(n, -1, dtype=np.int64)  # batch id of the AI assertion named, -1: none
    batches = [b for b in store.assertion_batches(concepts=concepts) if b.id is not None]
    columns = store.assertion_columns([b.id for b in batches if b.id is not None],
                                      ["value", "confidence"])  # not entity, nor reviews
    seen_ai = False
    for concept in concepts:
        mine = [b for b in batches if b.concept == concept and b.id in columns]
        if not mine:
            continue
        probe = pl.DataFrame({"fp": value_fingerprints(concept)}).with_row_index("i")
        # one probe for both sides; each side is deduplicated, so a row matches at most
        # once per side
        sides = [_support(group, columns).with_columns(truth=pl.lit(side))
                 for side in (True, False)
                 if (group := [b for b in mine if (b.origin in _TRUTH) is side])]
        hit = _matches(probe, pl.concat(sides, rechunk=False))
        on_truth = hit["truth"].to_numpy()
        rows, conf, batch = hit["i"].to_numpy(), hit["conf"].to_numpy(), hit["batch"].to_numpy()
        if on_truth.any():
            found = rows[on_truth]
            truth[found] = np.maximum(truth[found], conf[on_truth])
            rows, conf, batch = rows[~on_truth], conf[~on_truth], batch[~on_truth]
        if seen_ai:  # the rule of _best_ai across concepts too
            known = ai[rows]
            better = (conf > known) | ((conf == known) & (batch > agent[rows]))
            rows, conf, batch = rows[better], conf[better], batch[better]
        ai[rows], agent[rows] = conf, batch
        seen_ai = seen_ai or bool(rows.size)
        del probe
    codes = np.full(n, _CODE["unverified"], dtype=np.int8)
    has_ai = ai >= 0
    codes[has_ai] = _CODE["ai_only"]
    if policy.allow_ai_above is not None:
        codes[has_ai & (ai >= policy.allow_ai_above)] = _CODE["pseudo_label"]
    codes[truth >= 0] = _CODE["low_confidence"]
    codes[truth >= policy.min_confidence] = _CODE["ground_truth"]
    return codes, agent, batches


def _matches(probe: pl.DataFrame, support: pl.DataFrame) -> pl.DataFrame:
    """The rows of `probe` (`i`, `fp`) whose fingerprint `support` holds, with its columns,
    in no particular order. Polars' streaming engine joins 10^7 x 5*10^6 in about half the
    time of the in-memory one here."""
    return (probe.lazy().join(support.lazy(), on="fp", how="inner")
            .collect(engine="streaming"))


def _support(batches: Sequence[AssertionBatch],
             columns: dict[int, dict[str, np.ndarray]]) -> pl.DataFrame:
    """One row per value fingerprint asserted by `batches` (all truth or all AI): `fp`,
    `conf` (the best; a missing confidence counts as 1.0) and `batch` (`_best_ai`)."""
    parts = []
    for b in batches:
        assert b.id is not None
        conf = columns[b.id]["confidence"]
        parts.append(pl.DataFrame({
            "fp": columns[b.id]["value"],
            "conf": np.where(np.isnan(conf), np.float32(1.0), conf),
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


def _agents_of(codes: np.ndarray, agent_batch: np.ndarray) -> dict[int, int]:
    """AI-only rows per batch id of the AI assertion behind them."""
    ids = agent_batch[codes == _CODE["ai_only"]]  # every ai_only row has an AI batch
    if not ids.size:
        return {}
    if ids.max() < 1 << 20:  # batch ids count writes: a small table of counts
        counts = np.bincount(ids)
        return {int(i): int(counts[i]) for i in np.flatnonzero(counts)}
    found, counts = np.unique(ids, return_counts=True)
    return {int(i): int(c) for i, c in zip(found, counts, strict=True)}


def _model_versions(store: Store, model: str) -> tuple[str, str | None, list[NodeRef]]:
    """(model name, the version being trained if named, every registered version)."""
    name, _, version = model.partition("@")
    name = keys.identity(name) if keys.is_key(name) else name
    versions = [r for r in store.find(f"{NodeKind.MODEL_VERSION}:{name}@",
                                      [NodeKind.MODEL_VERSION], limit=10_000)
                if r.key.startswith(f"{NodeKind.MODEL_VERSION}:{name}@")]
    return name, version or None, versions


def _lineage_findings(store: Store, targets: Sequence[FieldTarget],
                      model: str | None) -> list[Finding]:
    findings: list[Finding] = []
    own: set[str] = set()
    if model:
        name, version, versions = _model_versions(store, model)
        own = {v.key for v in versions
               if version is None or v.key != keys.model_version_key(name, version)}
    for target in targets:
        for reached in store.upstream(target.field.key):
            if reached.node.kind is not NodeKind.MODEL_VERSION:
                continue
            path = [n.key for _, n in reversed(reached.path)]
            if reached.node.key in own:
                findings.append(Finding(
                    "feedback_loop",
                    f"feedback loop: {model} would train on labels that descend from "
                    f"{reached.node.name}'s outputs", path))
            else:
                findings.append(Finding(
                    "label_from_model_output",
                    f"label '{target.field.name}' descends from the output of "
                    f"{reached.node.name}", path))
    if model and "@" in model:
        name, version, _ = _model_versions(store, model)
        trained = store.candidates(keys.model_version_key(name, version or ""),
                                   [NodeKind.MODEL_VERSION])
        if trained:
            for reached in store.upstream(trained[0].key):
                if reached.node.key in own and reached.edge is not EdgeKind.VERSION_OF:
                    path = [n.key for _, n in reversed(reached.path)]
                    findings.append(Finding(
                        "feedback_loop",
                        f"feedback loop: {trained[0].name} was trained on data that descends "
                        f"from {reached.node.name}'s outputs", path))
    unique: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for f in findings:
        unique.setdefault((f.kind, tuple(f.path)), f)
    return list(unique.values())


def _feedback_by_data(store: Store, model: str | None, ai_rows_by_batch: dict[int, int],
                      agent_of: dict[int, str]) -> list[Finding]:
    """AI-only rows asserted by another version of the model being trained: a feedback
    loop found by fingerprint, whatever the lineage says."""
    if not model or not ai_rows_by_batch:
        return []
    name, version, versions = _model_versions(store, model)
    own = {v.key for v in versions if version is None or not v.key.endswith(f"@{version}")}
    per_agent: dict[str, int] = {}
    for batch_id, n in ai_rows_by_batch.items():
        agent = agent_of.get(batch_id)
        if agent is not None and agent in own:
            per_agent[agent] = per_agent.get(agent, 0) + n
    return [Finding("feedback_loop",
                    f"feedback loop: {n} label(s) were asserted only by {keys.identity(agent)}, "
                    f"an earlier version of {name}", [agent], rows=n)
            for agent, n in sorted(per_agent.items())]


def _examples(frame: pl.DataFrame, key_columns: list[str], labels: list[str],
              codes: np.ndarray, agents: dict[str, np.ndarray], agent_of: dict[int, str],
              policy: Policy) -> list[dict[str, Any]]:
    """Up to max_examples offending rows (blocked first, then warned)."""
    wanted = [v for v in VERDICTS if policy.action(v) == "block"]
    wanted += [v for v in VERDICTS if policy.action(v) == "warn"]
    picked: list[tuple[int, str]] = []
    for verdict in wanted:
        for row in np.flatnonzero(codes == _CODE[verdict])[: policy.max_examples]:
            picked.append((int(row), verdict))
    picked = picked[: policy.max_examples]
    reasons = {
        "ai_only": "only AI assertions support this value",
        "low_confidence": f"human/observed support below {policy.min_confidence}",
        "unverified": "nobody asserted this value for this key",
    }
    examples = []
    for row, verdict in picked:
        asserted_by = {c: agent_of.get(int(agents[c][row]), "?") for c in labels
                       if agents[c][row] >= 0}
        examples.append({
            "row": row + 1, "verdict": verdict, "action": policy.action(verdict),
            "reason": reasons.get(verdict, verdict),
            "key": {c: _plain(frame[c][row]) for c in key_columns},
            "label": {c: _plain(frame[c][row]) for c in labels},
            "ai_agent": asserted_by or None,
        })
    return examples


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
