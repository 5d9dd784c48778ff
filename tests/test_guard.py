"""The training guard on the failure it exists for: predictions that became labels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import lineage
from lineage import provenance
from lineage._model import AssertionArrays
from lineage.guard import Finding, GuardReport, Policy, check_training
from lineage.store.base import Store

from .conftest import snapshot

# fraud@2 writes predictions; a labels table is later rebuilt from a CSV export of them
# with no lineage at all; chargebacks are what disputes confirmed (observed).
SCENARIO = """\
namespace: s3://ml-warehouse
datasets:
  - name: fraud.predictions
    fields:
      - {name: transaction_id, type: string}
      - {name: predicted_fraud, type: boolean, concept: fraud_label}
  - name: fraud.labels_v3
    description: rebuilt from a CSV export; no lineage
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean, concept: fraud_label}
  - name: fraud.chargebacks
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean, concept: fraud_label}
  - name: fraud.reviewed
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean}
  - name: fraud.reviewed_copy
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean}
derivations:
  - {from: fraud.reviewed.is_fraud, to: fraud.reviewed_copy.is_fraud, transformation: identity}
models:
  - name: fraud
    versions:
      - {version: 2, outputs: [fraud.predictions.predicted_fraud]}
      - {version: 3}
"""

IDS = [f"t{i}" for i in range(10)]
PREDICTED = [i % 3 == 0 for i in range(10)]  # t0, t3, t6, t9 predicted fraud


@pytest.fixture
def scenario(store: Store, tmp_path: Path) -> Store:
    lineage.manifest.register_text(store, SCENARIO)
    predictions = pl.DataFrame({"transaction_id": IDS, "predicted_fraud": PREDICTED,
                                "score": [0.9] * 5 + [0.995] * 5})
    provenance.tag(store, predictions, dataset="fraud.predictions", field="predicted_fraud",
                   key="transaction_id", origin="ai_inferred", agent="fraud@2",
                   confidence_column="score")
    chargebacks = pl.DataFrame({"transaction_id": ["t0", "t1", "t20"],
                                "is_fraud": [True, True, False]})
    provenance.tag(store, chargebacks, dataset="fraud.chargebacks", field="is_fraud",
                   key="transaction_id", origin="observed", agent="disputes-system")
    return store


def _laundered(tmp_path: Path) -> pl.DataFrame:
    """The predictions after a trip through CSV: renamed, retyped, lineage gone."""
    path = tmp_path / "labels.csv"
    pl.DataFrame({"transaction_id": IDS,
                  "is_fraud": ["true" if p else "false" for p in PREDICTED]}).write_csv(path)
    return pl.read_csv(path)


def test_laundered_predictions_are_blocked_exactly(scenario: Store, tmp_path: Path) -> None:
    extra = pl.DataFrame({"transaction_id": ["t20", "t30"], "is_fraud": [False, True]})
    train = pl.concat([_laundered(tmp_path), extra])
    with pytest.raises(lineage.ProvenanceViolation) as err:
        check_training(scenario, train, key="transaction_id", label="is_fraud",
                       dataset="fraud.labels_v3")
    report = err.value.report
    # t0: the model said fraud and a chargeback confirmed it -> independent support.
    # t1: the model said "not fraud"; the chargeback says fraud -> the row contradicts it.
    assert report.counts == {"ground_truth": 2, "ai_only": 8, "contradicted": 1,
                             "unverified": 1}
    blocked = {e["key"]["transaction_id"]: e["verdict"] for e in report.examples
               if e["action"] == "block"}
    assert blocked == {"t1": "contradicted", **{f"t{i}": "ai_only" for i in range(2, 10)}}
    assert all(e["ai_agent"] == {"is_fraud": "model_version:fraud@2"}
               for e in report.examples if e["action"] == "block")


def test_a_human_label_that_agrees_with_the_model_passes(scenario: Store) -> None:
    reviewed = pl.DataFrame({"transaction_id": ["t3"], "is_fraud": [True]})
    result = provenance.review(scenario, reviewed, dataset="fraud.labels_v3", field="is_fraud",
                               key="transaction_id", reviewer="annotator/alice")
    assert (result.accepted, result.corrected, result.unmatched) == (1, 0, 0)
    report = check_training(scenario, reviewed, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3")
    assert report.passed and report.counts == {"ground_truth": 1}


def test_a_corrected_label_passes_with_the_corrected_value_only(scenario: Store) -> None:
    provenance.review(scenario, pl.DataFrame({"transaction_id": ["t4"], "is_fraud": [True]}),
                      dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                      reviewer="annotator/bob")
    corrected = pl.DataFrame({"transaction_id": ["t4"], "is_fraud": [True]})
    assert check_training(scenario, corrected, key="transaction_id", label="is_fraud",
                          dataset="fraud.labels_v3").passed
    model_value = pl.DataFrame({"transaction_id": ["t4"], "is_fraud": [False]})
    report = check_training(scenario, model_value, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", raise_on_block=False)
    # the model's value is what the reviewer corrected: it contradicts a human label
    assert report.counts == {"contradicted": 1} and not report.passed


def test_review_chain_is_queryable(scenario: Store) -> None:
    provenance.review(scenario, pl.DataFrame({"transaction_id": ["t4"], "is_fraud": [True]}),
                      dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                      reviewer="annotator/bob")
    chain = provenance.history(scenario, dataset="fraud.labels_v3", field="is_fraud",
                               key="t4", value=True)
    ai, human = chain
    assert ai.origin is lineage.Origin.AI_INFERRED and ai.matches_value is False
    assert human.origin is lineage.Origin.HUMAN_LABELLED and human.verdict == "corrected"
    assert human.reviews == (ai.batch, ai.row) and ai.reviewed_by == [(human.batch, human.row)]


@pytest.mark.parametrize(("action", "passes"), [("allow", True), ("warn", True),
                                                ("block", False)])
def test_rows_without_any_assertion_follow_the_policy(
    scenario: Store, action: str, passes: bool
) -> None:
    # t0 ties the table to what the store knows; t40 and t41 nobody asserted
    unknown = pl.DataFrame({"transaction_id": ["t0", "t40", "t41"],
                            "is_fraud": [True, True, False]})
    report = check_training(scenario, unknown, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", policy=Policy(unverified=action),
                            raise_on_block=False)
    assert report.counts == {"ground_truth": 1, "unverified": 2}
    assert report.passed is passes
    assert report.warned_rows == (2 if action == "warn" else 0)


@pytest.mark.parametrize(("action", "passes"), [("allow", True), ("warn", False),
                                                ("block", False)])
def test_a_table_nothing_recorded_matches_fails_unless_unverified_rows_are_allowed(
    scenario: Store, action: str, passes: bool
) -> None:
    unknown = pl.DataFrame({"transaction_id": ["t40", "t41"], "is_fraud": [True, False]})
    report = check_training(scenario, unknown, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", policy=Policy(unverified=action),
                            raise_on_block=False)
    assert report.counts == {"unverified": 2} and report.unmatched
    assert report.passed is passes
    assert report.matched == {"is_fraud": {"concepts": [], "matched_by": "none"}}
    if not passes:
        assert "no label column could be matched to recorded assertions" in report.summary()
        with pytest.raises(lineage.UnmatchedLabels) as err:
            check_training(scenario, unknown, key="transaction_id", label="is_fraud",
                           dataset="fraud.labels_v3", policy=Policy(unverified=action))
        assert err.value.exit_code == 8


def test_pseudo_labelling_is_explicit_and_counted(scenario: Store, tmp_path: Path) -> None:
    train = _laundered(tmp_path).filter(pl.col("transaction_id") != "t1")
    report = check_training(scenario, train, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", policy=Policy(allow_ai_above=0.99),
                            raise_on_block=False)
    # t5..t9 scored 0.995: pseudo-labels; t2..t4 scored 0.9: still AI-only
    assert report.counts == {"ground_truth": 1, "pseudo_label": 5, "ai_only": 3}


def test_low_confidence_human_labels_are_reported(scenario: Store) -> None:
    provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t50"], "is_fraud": [True]}),
                   dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                   origin="human_labelled", agent="crowd", confidence=0.6)
    row = pl.DataFrame({"transaction_id": ["t50"], "is_fraud": [True]})
    report = check_training(scenario, row, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", policy=Policy(min_confidence=0.8),
                            raise_on_block=False)
    assert report.counts == {"low_confidence": 1} and not report.passed


def test_lineage_carries_assertions_to_downstream_copies(scenario: Store) -> None:
    """A copy made through an identity derivation is checked against its source field."""
    provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t60"], "is_fraud": [True]}),
                   dataset="fraud.reviewed", field="is_fraud", key="transaction_id",
                   origin="ai_inferred", agent="fraud@2")
    copy = pl.DataFrame({"transaction_id": ["t60"], "is_fraud": [True]})
    report = check_training(scenario, copy, key="transaction_id", label="is_fraud",
                            dataset="fraud.reviewed_copy", raise_on_block=False)
    assert report.counts == {"ai_only": 1}


def test_training_the_next_version_on_its_predecessor_is_a_feedback_loop(
    scenario: Store, tmp_path: Path
) -> None:
    with pytest.raises(lineage.ProvenanceViolation) as err:
        check_training(scenario, _laundered(tmp_path), key="transaction_id", label="is_fraud",
                       dataset="fraud.labels_v3", model="fraud@3")
    loops = [f for f in err.value.report.findings if f.kind == "feedback_loop"]
    assert loops and loops[0].path == ["model_version:fraud@2"] and loops[0].rows == 9


def test_feedback_loop_through_lineage_reports_the_path(store: Store) -> None:
    lineage.manifest.register_text(store, """\
namespace: s3://w
datasets:
  - name: scores
    fields: [{name: id, type: int}, {name: score, type: float}]
  - name: labels
    fields: [{name: id, type: int}, {name: label, type: int}]
derivations:
  - {from: scores.score, to: labels.label, transformation: transformation}
models:
  - name: fraud
    versions:
      - {version: 2, outputs: [scores.score]}
      - {version: 3, fields: [labels.label]}
""")
    train = pl.DataFrame({"id": [1], "label": [1]})
    with pytest.raises(lineage.ProvenanceViolation) as err:
        check_training(store, train, key="id", label="label", dataset="labels", model="fraud@3",
                       policy=Policy(unverified="allow"))
    loop = next(f for f in err.value.report.findings if f.kind == "feedback_loop")
    assert loop.path == ["model_version:fraud@2", "field:s3://w/scores.score",
                         "field:s3://w/labels.label"]
    report = check_training(store, train, key="id", label="label", dataset="labels",
                            policy=Policy(unverified="allow"), raise_on_block=False)
    assert [f.kind for f in report.findings] == ["label_from_model_output"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pl.DataFrame({"transaction_id": ["t1"]}), "no column 'is_fraud'"),
        (pl.DataFrame({"id": ["t1"], "is_fraud": [True]}), "no column 'transaction_id'"),
        (pl.DataFrame({"transaction_id": [], "is_fraud": []}), "empty"),
        (pl.DataFrame({"transaction_id": ["t1", "t1"], "is_fraud": [True, False]}),
         "conflicting 'is_fraud' labels"),
        (pl.DataFrame({"transaction_id": [None, "t2"], "is_fraud": [True, False]}),
         "missing values"),
    ],
)
def test_unusable_training_tables_are_refused_with_the_reason(
    scenario: Store, table: pl.DataFrame, message: str
) -> None:
    with pytest.raises(lineage.ValidationError, match=message):
        check_training(scenario, table, key="transaction_id", label="is_fraud",
                       dataset="fraud.labels_v3")


def test_non_utf8_csv_is_refused(scenario: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("transaction_id,is_fraud\ncaf\xe9,true\n".encode("latin-1"))
    with pytest.raises(lineage.ValidationError, match="UTF-8"):
        check_training(scenario, path, key="transaction_id", label="is_fraud",
                       dataset="fraud.labels_v3")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(dataset="fraud.nope"), lineage.NotFound, "fraud.nope"),
        (dict(field="is_fruad"), lineage.ValidationError, "did you mean 'is_fraud'"),
        (dict(key="tx"), lineage.ValidationError, "no column 'tx'"),
        (dict(origin="guessed"), lineage.ValidationError, "unknown origin"),
        (dict(agent="fraud@9"), lineage.NotFound, "fraud@9"),
        (dict(confidence=1.5), lineage.ValidationError, r"\[0, 1\]"),
    ],
)
def test_a_bad_tag_call_writes_nothing(
    scenario: Store, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    before = snapshot(scenario), len(scenario.assertion_batches())
    args: dict[str, object] = dict(dataset="fraud.labels_v3", field="is_fraud",
                                   key="transaction_id", origin="ai_inferred", agent="fraud@2")
    args.update(kwargs)
    with pytest.raises(error, match=message):
        provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t1"], "is_fraud": [True]}),
                       **args)  # type: ignore[arg-type]
    assert (snapshot(scenario), len(scenario.assertion_batches())) == before


def test_confidence_column_out_of_range_names_the_row(scenario: Store) -> None:
    table = pl.DataFrame({"transaction_id": ["a", "b"], "is_fraud": [1, 0], "p": [0.5, 7.0]})
    with pytest.raises(lineage.ValidationError, match="column 'p', row 2 has 7"):
        provenance.tag(scenario, table, dataset="fraud.labels_v3", field="is_fraud",
                       key="transaction_id", origin="ai_inferred", agent="fraud@2",
                       confidence_column="p")


def test_summary_counts_origins_agents_and_confidence(scenario: Store) -> None:
    by_field = {s.field.rsplit(".", 1)[-1]: s for s in provenance.summary(scenario,
                                                                          "fraud.predictions")}
    s = by_field["predicted_fraud"]
    assert s.total == 10 and s.share("ai_inferred") == 1.0
    assert s.agents == {"model_version:fraud@2": 10}
    assert s.confidence[9] == 10  # 0.9 and 0.995 both fall in the top bin


def test_taint_finds_fields_downstream_of_ai_outputs(scenario: Store) -> None:
    provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t60"], "is_fraud": [True]}),
                   dataset="fraud.reviewed", field="is_fraud", key="transaction_id",
                   origin="ai_inferred", agent="fraud@2")
    tainted = {t.node.key: t for t in provenance.taint(scenario)}
    copy = tainted["field:s3://ml-warehouse/fraud.reviewed_copy.is_fraud"]
    assert copy.source.key == "field:s3://ml-warehouse/fraud.reviewed.is_fraud"


# ------------------------------------------------------------------ which agent is named

AGENTS = """\
namespace: s3://agents
datasets:
  - name: scores_a
    fields: [{name: id, type: string}, {name: fraud, type: boolean, concept: fraud_label}]
  - name: scores_b
    fields: [{name: id, type: string}, {name: fraud, type: boolean, concept: fraud_flag}]
  - name: labels
    fields: [{name: id, type: string}, {name: fraud, type: boolean, concept: fraud_label}]
derivations:
  - {from: scores_b.fraud, to: labels.fraud, transformation: identity}
models:
  - name: fraud
    versions: [{version: 1}, {version: 2}, {version: 3}]
"""
TRAIN = pl.DataFrame({"id": ["t1"], "fraud": [True]})


def _predict(store: Store, agent: str, confidence: float | None,
             dataset: str = "scores_a") -> None:
    provenance.tag(store, TRAIN, dataset=dataset, field="fraud", key="id",
                   origin="ai_inferred", agent=agent, confidence=confidence)


def _named(store: Store) -> tuple[dict[str, str] | None, list[str]]:
    """The agent the example names, and the agents feedback-loop findings blame."""
    report = check_training(store, TRAIN, key="id", label="fraud", dataset="labels",
                            model="fraud@3", raise_on_block=False)
    assert report.counts == {"ai_only": 1}
    blamed = [f.path[0] for f in report.findings if f.kind == "feedback_loop"
              and f.rows is not None]
    return report.examples[0]["ai_agent"], blamed


@pytest.mark.parametrize(("first", "second", "named"), [
    ((0.7, "fraud@1"), (0.6, "fraud@2"), "fraud@1"),  # the most confident, though older
    ((0.6, "fraud@1"), (0.7, "fraud@2"), "fraud@2"),
    ((None, "fraud@1"), (0.9, "fraud@2"), "fraud@2"),  # no confidence: unknown, ranks last
    ((0.8, "fraud@1"), (0.8, "fraud@2"), "fraud@2"),  # a tie: the most recent batch
    ((0.8, "fraud@2"), (0.8, "fraud@1"), "fraud@1"),
])
def test_an_offending_row_names_the_most_confident_ai_agent_then_the_latest(
    store: Store, first: tuple[float | None, str], second: tuple[float | None, str], named: str
) -> None:
    lineage.manifest.register_text(store, AGENTS)
    _predict(store, first[1], first[0])
    _predict(store, second[1], second[0])
    agent, blamed = _named(store)
    assert agent == {"fraud": f"model_version:{named}"}
    assert blamed == [f"model_version:{named}"]


@pytest.mark.parametrize("order", [("scores_a", "scores_b"), ("scores_b", "scores_a")])
def test_an_equal_confidence_tie_across_concepts_names_the_latest_batch(
    store: Store, order: tuple[str, str]
) -> None:
    """fraud@1 and fraud@2 asserted the row's value on two concepts the label reaches (its
    own, and an upstream field's), equally confident: the later batch wins, whichever
    concept it was on, and asking again gives the same answer."""
    lineage.manifest.register_text(store, AGENTS)
    _predict(store, "fraud@1", 0.8, dataset=order[0])
    _predict(store, "fraud@2", 0.8, dataset=order[1])
    assert _named(store) == ({"fraud": "model_version:fraud@2"}, ["model_version:fraud@2"])
    assert _named(store) == ({"fraud": "model_version:fraud@2"}, ["model_version:fraud@2"])


def test_a_more_confident_assertion_on_another_concept_is_named(store: Store) -> None:
    lineage.manifest.register_text(store, AGENTS)
    _predict(store, "fraud@1", 0.9, dataset="scores_b")
    _predict(store, "fraud@2", 0.6, dataset="scores_a")
    assert _named(store) == ({"fraud": "model_version:fraud@1"}, ["model_version:fraud@1"])


def test_a_fact_asserted_twice_by_humans_and_the_model_is_ground_truth_once(
    store: Store
) -> None:
    """Repeated facts on both sides take the deduplicating path; each row counts once."""
    lineage.manifest.register_text(store, AGENTS)
    table = pl.DataFrame({"id": ["t1", "t2", "t3"], "fraud": [True, False, True]})
    for agent in ("fraud@1", "fraud@2"):
        provenance.tag(store, table, dataset="scores_a", field="fraud", key="id",
                       origin="ai_inferred", agent=agent, confidence=0.9)
    for confidence in (0.4, 0.95):
        provenance.tag(store, table.head(2), dataset="labels", field="fraud", key="id",
                       origin="human_labelled", agent="annotator/alice", confidence=confidence)
    report = check_training(store, table, key="id", label="fraud", dataset="labels",
                            policy=Policy(min_confidence=0.9), raise_on_block=False)
    assert report.counts == {"ground_truth": 2, "ai_only": 1}
    assert report.examples[0]["key"] == {"id": "t3"}
    assert report.examples[0]["ai_agent"] == {"fraud": "model_version:fraud@2"}


# ------------------------------------------------------------------ never pass blind


def test_a_renamed_label_without_a_dataset_is_matched_by_content(
    scenario: Store, tmp_path: Path
) -> None:
    renamed = _laundered(tmp_path).rename({"is_fraud": "label"})
    with pytest.raises(lineage.ProvenanceViolation) as err:
        check_training(scenario, renamed, key="transaction_id", label="label")
    report = err.value.report
    assert report.matched == {"label": {"concepts": ["fraud_label"], "matched_by": "content"}}
    assert report.counts == {"ground_truth": 1, "ai_only": 8, "contradicted": 1}


def test_a_dataset_without_a_concept_is_matched_by_content(
    scenario: Store, tmp_path: Path
) -> None:
    lineage.manifest.register_text(scenario, """\
namespace: s3://ml-warehouse
datasets:
  - name: fraud.train_plain
    fields: [{name: transaction_id, type: string}, {name: target, type: boolean}]
""")
    table = _laundered(tmp_path).rename({"is_fraud": "target"})
    report = check_training(scenario, table, key="transaction_id", label="target",
                            dataset="fraud.train_plain", raise_on_block=False)
    assert report.matched["target"] == {"concepts": ["fraud_label"], "matched_by": "content"}
    assert report.counts.get("ai_only") == 8 and not report.passed


def test_a_renamed_key_is_matched_by_content(scenario: Store, tmp_path: Path) -> None:
    table = _laundered(tmp_path).rename({"transaction_id": "id", "is_fraud": "y"})
    report = check_training(scenario, table, key="id", label="y", raise_on_block=False)
    assert report.matched["y"]["matched_by"] == "content"
    assert report.counts.get("ai_only") == 8


def test_a_concept_named_explicitly_maps_the_column(scenario: Store, tmp_path: Path) -> None:
    table = _laundered(tmp_path).rename({"is_fraud": "y"})
    report = check_training(scenario, table, key="transaction_id", label="y",
                            concept={"y": "fraud_label"}, raise_on_block=False)
    assert report.matched == {"y": {"concepts": ["fraud_label"], "matched_by": "explicit"}}
    assert report.counts == {"ground_truth": 1, "ai_only": 8, "contradicted": 1}
    with pytest.raises(lineage.NotFound, match="fraud_lable.*did you mean 'fraud_label'"):
        check_training(scenario, table, key="transaction_id", label="y",
                       concept="fraud_lable")


# ------------------------------------------------------------------ no false blocks

ENTITIES = """\
namespace: s3://e
datasets:
  - name: churn
    fields: [{name: user_id, type: int64}, {name: label, type: boolean, concept: flag}]
  - name: payments
    fields: [{name: transaction_id, type: int64}, {name: label, type: boolean, concept: flag}]
models:
  - name: churn
    versions: [{version: 1}]
"""


def _entities(store: Store) -> pl.DataFrame:
    """churn@1 predicted a flag for users 0..99; disputes observed one for transactions
    0..49 (the same integers, other entities)."""
    lineage.manifest.register_text(store, ENTITIES)
    users = pl.DataFrame({"user_id": range(100), "label": [i % 2 == 0 for i in range(100)]})
    provenance.tag(store, users, dataset="churn", field="label", key="user_id",
                   origin="ai_inferred", agent="churn@1", confidence=0.9)
    payments = pl.DataFrame({"transaction_id": range(50),
                             "label": [i % 3 == 0 for i in range(50)]})
    provenance.tag(store, payments, dataset="payments", field="label", key="transaction_id",
                   origin="observed", agent="disputes-system")
    return pl.DataFrame({"transaction_id": range(100),
                         "label": [i % 3 == 0 if i < 50 else i % 2 == 0 for i in range(100)]})


def test_a_generic_label_without_a_dataset_is_not_blocked_by_another_entitys_model(
    store: Store
) -> None:
    train = _entities(store)
    report = check_training(store, train, key="transaction_id", label="label",
                            raise_on_block=False)
    assert report.counts == {"ground_truth": 50, "unverified": 50}
    assert not any(e["ai_agent"] for e in report.examples)


def test_one_concept_for_users_and_transactions_is_scoped_by_entity(store: Store) -> None:
    train = _entities(store)
    report = check_training(store, train, key="transaction_id", label="label",
                            dataset="payments", raise_on_block=False)
    assert report.counts == {"ground_truth": 50, "unverified": 50}
    users = pl.DataFrame({"user_id": [0, 1], "label": [True, False]})
    blocked = check_training(store, users, key="user_id", label="label", dataset="churn",
                             raise_on_block=False)
    assert blocked.counts == {"ai_only": 2}


@pytest.mark.parametrize(("collation", "verdict"), [("exact", "unverified"),
                                                    ("numeric", "ai_only")])
def test_a_key_with_leading_zeros_is_another_key_unless_declared_numeric(
    store: Store, collation: str, verdict: str
) -> None:
    lineage.manifest.register_text(store, f"""\
namespace: s3://z
datasets:
  - name: scores
    fields:
      - {{name: id, type: string, collation: {collation}}}
      - {{name: fraud, type: boolean, concept: fraud_label}}
models:
  - name: fraud
    versions: [{{version: 1}}]
""")
    tagged = pl.DataFrame({"id": ["00123", "7"], "fraud": [True, False]})
    provenance.tag(store, tagged, dataset="scores", field="fraud", key="id",
                   origin="ai_inferred", agent="fraud@1")
    train = pl.DataFrame({"id": ["123", "7"], "fraud": [True, False]})
    report = check_training(store, train, key="id", label="fraud", dataset="scores",
                            raise_on_block=False)
    expected = {"ai_only": 2} if verdict == "ai_only" else {"ai_only": 1, verdict: 1}
    assert report.counts == expected


# ------------------------------------------------------------------ trust is checked


@pytest.mark.parametrize("origin", ["human_labelled", "observed"])
def test_a_model_version_cannot_assert_human_or_observed_values(
    scenario: Store, origin: str
) -> None:
    before = snapshot(scenario), len(scenario.assertion_batches())
    with pytest.raises(lineage.ValidationError, match="fraud@2.*model version.*ai_inferred"):
        provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t5"], "is_fraud": [True]}),
                       dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                       origin=origin, agent="fraud@2")
    with pytest.raises(lineage.ValidationError, match="model version"):
        provenance.review(scenario, pl.DataFrame({"transaction_id": ["t5"],
                                                  "is_fraud": [True]}),
                          dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                          reviewer="fraud@2")
    assert (snapshot(scenario), len(scenario.assertion_batches())) == before


def test_an_ai_label_without_confidence_is_never_a_pseudo_label(scenario: Store) -> None:
    provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t70"], "is_fraud": [True]}),
                   dataset="fraud.predictions", field="predicted_fraud", key="transaction_id",
                   origin="ai_inferred", agent="fraud@2", value_column="is_fraud")
    row = pl.DataFrame({"transaction_id": ["t0", "t70"], "is_fraud": [True, True]})
    report = check_training(scenario, row, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", policy=Policy(allow_ai_above=0.5),
                            raise_on_block=False)
    assert report.counts == {"ground_truth": 1, "ai_only": 1} and not report.passed


def test_a_later_human_review_overrules_an_earlier_agreement(scenario: Store) -> None:
    """t3: fraud@2 said fraud; alice accepted it; bob later corrected it to not fraud."""
    for reviewer, value in (("annotator/alice", True), ("annotator/bob", False)):
        provenance.review(scenario, pl.DataFrame({"transaction_id": ["t3"],
                                                  "is_fraud": [value]}),
                          dataset="fraud.labels_v3", field="is_fraud", key="transaction_id",
                          reviewer=reviewer)
    model_value = pl.DataFrame({"transaction_id": ["t0", "t3"], "is_fraud": [True, True]})
    report = check_training(scenario, model_value, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", raise_on_block=False)
    assert report.counts == {"ground_truth": 1, "contradicted": 1}
    bobs = pl.DataFrame({"transaction_id": ["t3"], "is_fraud": [False]})
    assert check_training(scenario, bobs, key="transaction_id", label="is_fraud",
                          dataset="fraud.labels_v3").counts == {"ground_truth": 1}


def test_a_value_contradicting_recorded_ground_truth_is_contradicted(scenario: Store) -> None:
    # t20: the chargeback says not fraud; nobody, model or person, said fraud
    table = pl.DataFrame({"transaction_id": ["t0", "t20"], "is_fraud": [True, True]})
    report = check_training(scenario, table, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", raise_on_block=False)
    assert report.counts == {"ground_truth": 1, "contradicted": 1} and not report.passed
    example = report.examples[0]
    assert example["verdict"] == "contradicted" and example["key"] == {"transaction_id": "t20"}


def test_a_blank_label_where_the_model_returned_null_is_not_ai_only(scenario: Store) -> None:
    """A store written before tag refused rows without a value may hold a model's null."""
    predictions = pl.DataFrame({"transaction_id": ["t80", "t81"],
                                "predicted_fraud": [None, True]})
    entity, value = provenance.fingerprint_frame(predictions, "fraud_label",
                                                 ["transaction_id"], "predicted_fraud")
    batch = lineage.AssertionBatch(
        field="field:s3://ml-warehouse/fraud.predictions.predicted_fraud",
        concept="fraud_label", origin=lineage.Origin.AI_INFERRED,
        agent="model_version:fraud@2", asserted_at=datetime.now(UTC), rows=2)
    scenario.write_assertions(batch, AssertionArrays(entity, value,
                                                     np.full(2, np.nan, dtype=np.float32)))
    table = pl.DataFrame({"transaction_id": ["t80", "t81"], "is_fraud": [None, True]})
    report = check_training(scenario, table, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", raise_on_block=False)
    assert report.counts == {"unverified": 1, "ai_only": 1}


# ------------------------------------------------------------------ feedback loops, always


def _loops(report: GuardReport) -> list[Finding]:
    return [f for f in report.findings if f.kind == "feedback_loop"]


def test_a_feedback_loop_is_reported_when_pseudo_labels_are_allowed(
    scenario: Store, tmp_path: Path
) -> None:
    train = _laundered(tmp_path).filter(pl.col("transaction_id") != "t1")
    report = check_training(scenario, train, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", model="fraud@3",
                            policy=Policy(allow_ai_above=0.5), raise_on_block=False)
    assert report.counts == {"ground_truth": 1, "pseudo_label": 8}
    by_data = [f for f in _loops(report) if f.rows is not None]
    assert [(f.path, f.rows) for f in by_data] == [(["model_version:fraud@2"], 8)]
    assert not report.passed


def test_training_a_version_on_its_own_outputs_is_self_training(
    scenario: Store, tmp_path: Path
) -> None:
    report = check_training(scenario, _laundered(tmp_path), key="transaction_id",
                            label="is_fraud", dataset="fraud.labels_v3", model="fraud@2",
                            raise_on_block=False)
    loop = next(f for f in _loops(report) if f.rows is not None)
    assert loop.path == ["model_version:fraud@2"] and "self-training" in loop.message


@pytest.mark.parametrize(("model", "suggestion"), [("fraud@9", "fraud@"), ("fruad", "fraud")])
def test_an_unknown_model_is_an_error_with_suggestions(
    scenario: Store, tmp_path: Path, model: str, suggestion: str
) -> None:
    with pytest.raises(lineage.NotFound, match=f"did you mean.*{suggestion}") as err:
        check_training(scenario, _laundered(tmp_path), key="transaction_id",
                       label="is_fraud", dataset="fraud.labels_v3", model=model)
    assert err.value.exit_code == 4


def test_a_later_version_is_not_called_an_earlier_one(scenario: Store) -> None:
    lineage.manifest.register_text(scenario, """\
models:
  - name: fraud
    versions: [{version: 4}]
""")
    provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t90"], "is_fraud": [True]}),
                   dataset="fraud.predictions", field="predicted_fraud", key="transaction_id",
                   origin="ai_inferred", agent="fraud@4", value_column="is_fraud")
    row = pl.DataFrame({"transaction_id": ["t90"], "is_fraud": [True]})
    report = check_training(scenario, row, key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", model="fraud@3", raise_on_block=False)
    loop = next(f for f in _loops(report) if f.rows is not None)
    assert "a later version" in loop.message and "earlier" not in loop.message


def test_trained_on_a_dataset_whose_field_a_version_outputs_is_a_loop(store: Store) -> None:
    lineage.manifest.register_text(store, """\
namespace: s3://t
datasets:
  - name: scores
    fields: [{name: id, type: int64}, {name: predicted, type: boolean}]
    versions: [{version: "1"}]
models:
  - name: fraud
    versions:
      - {version: 2, outputs: [scores.predicted]}
      - {version: 3, trained_on: [scores@1]}
""")
    provenance.tag(store, pl.DataFrame({"id": [1], "predicted": [True]}), dataset="scores",
                   field="predicted", key="id", origin="observed", agent="labeller")
    report = check_training(store, pl.DataFrame({"id": [1], "predicted": [True]}), key="id",
                            label="predicted", dataset="scores", model="fraud@3",
                            raise_on_block=False)
    through = [f for f in _loops(report) if "dataset_version:s3://t/scores@1" in f.path]
    assert through and through[0].path[0] == "model_version:fraud@2"


def test_feedback_loop_counts_rows_not_labels(store: Store) -> None:
    lineage.manifest.register_text(store, """\
namespace: s3://r
datasets:
  - name: preds
    fields:
      - {name: id, type: int64}
      - {name: fraud, type: boolean, concept: fraud_label}
      - {name: risk, type: int64, concept: risk_band}
models:
  - name: fraud
    versions: [{version: 2}, {version: 3}]
""")
    table = pl.DataFrame({"id": [1, 2, 3], "fraud": [True, False, True], "risk": [1, 2, 3]})
    for field_name in ("fraud", "risk"):
        provenance.tag(store, table, dataset="preds", field=field_name, key="id",
                       origin="ai_inferred", agent="fraud@2", confidence=0.9)
    report = check_training(store, table, key="id", label=["fraud", "risk"], dataset="preds",
                            model="fraud@3", raise_on_block=False)
    assert [f.rows for f in _loops(report) if f.rows is not None] == [3]


# ------------------------------------------------------------------ equivalent values and keys

EQUIVALENT = """\
namespace: s3://q
datasets:
  - name: preds
    fields:
      - {name: region, type: string}
      - {name: day, type: date}
      - {name: user, type: string, collation: case_insensitive}
      - {name: fraud, type: boolean, concept: fraud_label}
      - {name: verdict, type: string, concept: verdict, values: {fraud: true, legit: false}}
      - {name: score, type: float64, concept: score, precision: 2}
      - {name: p, type: float32, concept: p}
  - name: train
    fields:
      - {name: region, type: string}
      - {name: day, type: date}
      - {name: user, type: string, collation: case_insensitive}
      - {name: fraud, type: boolean, concept: fraud_label}
      - {name: verdict, type: boolean, concept: verdict}
      - {name: score, type: float64, concept: score, precision: 2}
      - {name: p, type: float32, concept: p}
models:
  - name: fraud
    versions: [{version: 2}]
"""


@pytest.fixture
def equivalent(store: Store) -> Store:
    lineage.manifest.register_text(store, EQUIVALENT)
    return store


def _ai(store: Store, table: pl.DataFrame, field: str, key: list[str]) -> None:
    provenance.tag(store, table, dataset="preds", field=field, key=key, origin="ai_inferred",
                   agent="fraud@2", confidence=0.9)


def _counts(store: Store, table: pl.DataFrame, label: str, key: list[str]) -> dict[str, int]:
    return check_training(store, table, key=key, label=label, dataset="train",
                          raise_on_block=False).counts


def test_a_composite_key_matches_whatever_the_key_order(equivalent: Store) -> None:
    table = pl.DataFrame({"region": ["eu", "us"], "day": ["2026-01-01", "2026-01-02"],
                          "fraud": [True, False]})
    _ai(equivalent, table, "fraud", ["region", "day"])
    assert _counts(equivalent, table, "fraud", ["day", "region"]) == {"ai_only": 2}


@pytest.mark.parametrize("spelled", [["yes", "no"], ["y", "n"], ["t", "f"], ["Y", "N"]])
def test_booleans_spelled_otherwise_match_a_boolean_field(
    equivalent: Store, spelled: list[str]
) -> None:
    _ai(equivalent, pl.DataFrame({"user": ["a", "b"], "fraud": [True, False]}), "fraud",
        ["user"])
    table = pl.DataFrame({"user": ["a", "b"], "fraud": spelled})
    assert _counts(equivalent, table, "fraud", ["user"]) == {"ai_only": 2}


def test_declared_label_values_map_to_what_they_mean(equivalent: Store) -> None:
    _ai(equivalent, pl.DataFrame({"user": ["a", "b"], "verdict": ["Fraud", "legit"]}),
        "verdict", ["user"])
    table = pl.DataFrame({"user": ["a", "b"], "verdict": [True, False]})
    assert _counts(equivalent, table, "verdict", ["user"]) == {"ai_only": 2}


def test_floats_match_at_the_declared_precision(equivalent: Store) -> None:
    _ai(equivalent, pl.DataFrame({"user": ["a", "b"], "score": [0.7300000001, 0.25]}),
        "score", ["user"])
    table = pl.DataFrame({"user": ["a", "b"], "score": ["0.73", "0.25"]})
    assert _counts(equivalent, table, "score", ["user"]) == {"ai_only": 2}


def test_a_float32_round_trip_matches_a_float32_field(equivalent: Store,
                                                       tmp_path: Path) -> None:
    values = [0.73, 0.1, 0.3333333, 0.9876543]
    users = ["a", "b", "c", "d"]
    _ai(equivalent, pl.DataFrame({"user": users, "p": values}), "p", ["user"])
    path = tmp_path / "p.parquet"
    pl.DataFrame({"user": users, "p": pl.Series(values, dtype=pl.Float32)}).write_parquet(path)
    assert _counts(equivalent, pl.read_parquet(path), "p", ["user"]) == {"ai_only": 4}


def test_key_case_follows_the_declared_collation(equivalent: Store) -> None:
    _ai(equivalent, pl.DataFrame({"user": ["Alice", "BOB"], "fraud": [True, False]}), "fraud",
        ["user"])
    table = pl.DataFrame({"user": ["alice", "bob"], "fraud": [True, False]})
    assert _counts(equivalent, table, "fraud", ["user"]) == {"ai_only": 2}
    # without a declared collation, case is part of the key
    table = pl.DataFrame({"region": ["Alice"], "fraud": [True]})
    _ai(equivalent, table, "fraud", ["region"])
    lower = pl.DataFrame({"region": ["alice", "Alice"], "fraud": [True, True]})
    assert _counts(equivalent, lower, "fraud", ["region"]) == {"ai_only": 1,
                                                               "unverified": 1}


# ------------------------------------------------------------------ taint through lineage

TAINT = """\
namespace: s3://tn
datasets:
  - name: scores
    fields: [{name: id, type: int64}, {name: score, type: float64}]
  - name: hop1
    fields: [{name: id, type: int64}, {name: score, type: float64}]
  - name: hop2
    fields: [{name: id, type: int64}, {name: score, type: float64}]
  - name: labels
    fields: [{name: id, type: int64}, {name: label, type: boolean}]
  - name: table_level
    fields: [{name: id, type: int64}, {name: label, type: boolean}]
derivations:
  - {from: scores.score, to: labels.label, transformation: transformation,
     description: score > 0.5}
  - {from: scores.score, to: hop1.score, transformation: identity}
  - {from: hop1.score, to: hop2.score, transformation: identity}
jobs:
  - name: make_table_level
    inputs: [scores]
    outputs: [table_level]
models:
  - name: fraud
    versions: [{version: 2}]
"""


@pytest.mark.parametrize(("dataset", "label", "column_unknown"), [
    ("labels", "label", False),  # a threshold of the model's score
    ("hop2", "score", False),  # an identity copy two hops on
    ("table_level", "label", True),  # table-level lineage only
])
def test_a_label_derived_from_an_ai_inferred_field_is_model_derived_as_taint_says(
    store: Store, dataset: str, label: str, column_unknown: bool
) -> None:
    lineage.manifest.register_text(store, TAINT)
    provenance.tag(store, pl.DataFrame({"id": [1, 2], "score": [0.9, 0.2]}), dataset="scores",
                   field="score", key="id", origin="ai_inferred", agent="fraud@2",
                   confidence=0.8)
    tainted = {t.node.key: t for t in provenance.taint(store)}
    field_key = f"field:s3://tn/{dataset}.{label}"
    assert tainted[field_key].column_unknown is column_unknown
    table = pl.DataFrame({"id": [1, 2], label: [True, False] if label == "label"
                          else [0.5, 0.6]})
    report = check_training(store, table, key="id", label=label, dataset=dataset,
                            policy=Policy(unverified="allow"), raise_on_block=False)
    found = [f for f in report.findings if f.kind == "label_from_model_output"]
    assert found and not report.passed
    assert found[0].path == ["model_version:fraud@2",
                             *[n.key for _, n in tainted[field_key].path]]
    assert "fraud@2" in found[0].message


def test_content_matching_takes_truth_and_ai_recorded_under_other_key_names(
    scenario: Store, tmp_path: Path
) -> None:
    lineage.manifest.register_text(scenario, """\
namespace: s3://ml-warehouse
datasets:
  - name: fraud.disputes
    fields: [{name: id, type: string}, {name: confirmed, type: boolean, concept: fraud_label}]
""")
    provenance.tag(scenario, pl.DataFrame({"id": ["t2", "t3"], "confirmed": [False, True]}),
                   dataset="fraud.disputes", field="confirmed", key="id", origin="observed",
                   agent="disputes-system")
    table = _laundered(tmp_path).rename({"transaction_id": "tid", "is_fraud": "label"})
    report = check_training(scenario, table, key="tid", label="label", raise_on_block=False)
    assert report.matched["label"]["matched_by"] == "content"
    # t0 (chargeback), t2 and t3 (disputes) are confirmed; t1 contradicts the chargeback
    assert report.counts == {"ground_truth": 3, "ai_only": 6, "contradicted": 1}


def test_examples_show_every_offending_verdict(scenario: Store, tmp_path: Path) -> None:
    report = check_training(scenario, _laundered(tmp_path), key="transaction_id",
                            label="is_fraud", dataset="fraud.labels_v3",
                            policy=Policy(max_examples=2), raise_on_block=False)
    assert [e["verdict"] for e in report.examples] == ["ai_only", "contradicted"]
