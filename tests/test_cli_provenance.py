"""The provenance commands and the guard through the `lineage` command, on every backend."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import lineage
from lineage_cli.main import cli

from .conftest import EXAMPLE, ROOT, snapshot

MAKE_DATA = ROOT / "examples" / "fraud" / "make_data.py"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(MAKE_DATA), str(out)], check=True,
                   capture_output=True)
    return out


@pytest.fixture
def run(store_url: str) -> Any:
    runner = CliRunner()

    def invoke(*args: Any) -> Result:
        return runner.invoke(cli, ["--store", store_url, *(str(a) for a in args)],
                             catch_exceptions=False)

    assert invoke("register", EXAMPLE).exit_code == 0
    return invoke


def _tag_predictions(run: Any, data: Path) -> Result:
    return run("tag", data / "predictions.csv", "--dataset", "fraud.scores", "--field",
               "predicted_fraud", "--key", "transaction_id", "--origin", "ai_inferred",
               "--agent", "fraud@2", "--confidence-column", "confidence", "--format", "json")


def test_tag_then_check_training_blocks_laundered_labels(run: Any, data: Path) -> None:
    tagged = _tag_predictions(run, data)
    assert tagged.exit_code == 0, tagged.output
    assert json.loads(tagged.output)["rows"] == 2000
    assert run("tag", data / "chargebacks.csv", "--dataset", "fraud.labels", "--field",
               "is_fraud", "--key", "transaction_id", "--origin", "observed", "--agent",
               "disputes-system").exit_code == 0
    result = run("check-training", data / "labels_exported.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--dataset", "fraud.training_labels", "--model",
                 "fraud@3", "--format", "json")
    assert result.exit_code == 3
    report = json.loads(result.output)
    # 1,500 rows only fraud@2 asserted; 50 where a chargeback says otherwise
    assert report["counts"]["ai_only"] == 1500 and report["counts"]["contradicted"] == 50
    assert report["counts"]["ground_truth"] == 450 and report["blocked_rows"] == 1550
    assert any(f["kind"] == "feedback_loop" for f in report["findings"])
    passed = run("check-training", data / "labels_confirmed.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--dataset", "fraud.training_labels")
    assert passed.exit_code == 0 and "passed" in passed.output


def test_policy_file_and_flags(run: Any, data: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("unverified: block\nmax_examples: 3\n")
    result = run("check-training", data / "labels_confirmed.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--dataset", "fraud.training_labels", "--policy",
                 policy, "--format", "json", "--report", tmp_path / "r.json")
    assert result.exit_code == 8  # nothing is tagged yet: nothing could be checked
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["unverified"] == 500
    allowed = run("check-training", data / "labels_confirmed.csv", "--key", "transaction_id",
                  "--label", "is_fraud", "--dataset", "fraud.training_labels", "--policy",
                  policy, "--unverified", "allow")
    assert allowed.exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("unverified: sometimes\n")
    result = run("check-training", data / "labels_confirmed.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--policy", bad)
    assert result.exit_code == 2 and "unverified" in result.output


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ({"--field": "predicted_fruad"}, 2, "did you mean 'predicted_fraud'"),
        ({"--key": "tx_id"}, 2, "no column 'tx_id'"),
        ({"--agent": "fraud@9"}, 4, "fraud@9"),
        ({"--confidence": "0.5", "--confidence-column": "confidence"}, 2, "not both"),
        ({"--confidence-column": "score_typo"}, 2, "no column 'score_typo'"),
    ],
)
def test_a_bad_tag_exits_non_zero_and_writes_nothing(
    run: Any, data: Path, store_url: str, override: dict[str, str], code: int, message: str
) -> None:
    with lineage.connect(store_url) as s:
        before = snapshot(s), len(s.assertion_batches())
    options = {"--dataset": "fraud.scores", "--field": "predicted_fraud",
               "--key": "transaction_id", "--origin": "ai_inferred", "--agent": "fraud@2",
               **override}
    result = run("tag", data / "predictions.csv", *[x for kv in options.items() for x in kv])
    assert result.exit_code == code, result.output
    assert message in result.output
    with lineage.connect(store_url) as s:
        assert (snapshot(s), len(s.assertion_batches())) == before


def test_non_utf8_training_csv_is_a_usage_error(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("transaction_id,is_fraud\ncaf\xe9,true\n".encode("latin-1"))
    result = run("check-training", path, "--key", "transaction_id", "--label", "is_fraud")
    assert result.exit_code == 2 and "UTF-8" in result.output


def test_review_history_provenance_and_taint(run: Any, data: Path, tmp_path: Path) -> None:
    _tag_predictions(run, data)
    reviewed = tmp_path / "reviewed.csv"
    reviewed.write_text("transaction_id,predicted_fraud\ntx-00001,true\ntx-00002,false\n")
    result = run("review", reviewed, "--dataset", "fraud.scores", "--field",
                 "predicted_fraud", "--key", "transaction_id", "--reviewer", "alice",
                 "--format", "json")
    assert json.loads(result.output)["corrected"] + json.loads(result.output)["accepted"] == 2
    chain = json.loads(run("history", "fraud.scores", "predicted_fraud", "tx-00001",
                           "--format", "json").output)
    assert [c["origin"] for c in chain] == ["ai_inferred", "human_labelled"]
    summary = json.loads(run("provenance", "fraud.scores", "--format", "json").output)
    predicted = next(s for s in summary if s["field"].endswith("predicted_fraud"))
    assert predicted["by_origin"] == {"ai_inferred": 2000, "human_labelled": 2}
    assert run("taint").exit_code == 0


def test_schema_diff_between_versions_and_a_proposed_file(run: Any, tmp_path: Path) -> None:
    result = run("schema", "diff", "user_features@2026-01", "user_features@2026-03",
                 "--format", "json")
    kinds = {(c["kind"], c["field"]) for c in json.loads(result.output)["changes"]}
    assert ("added", "category_share") in kinds and ("added", "activity_7d") in kinds
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text("- {name: transaction_id, type: string}\n"
                        "- {name: category, type: string}\n")
    result = run("schema", "diff", "transactions@2026-03", proposed)
    assert result.exit_code == 0
    assert "incompatible" in result.output and "dropped" in result.output
    assert run("schema", "diff", "transactions@2026-03", "nope@1").exit_code == 4


def test_export_fingerprints_writes_what_the_guard_joins_against(
        run: Any, data: Path, tmp_path: Path) -> None:
    assert _tag_predictions(run, data).exit_code == 0
    out = tmp_path / "fingerprints.parquet"
    result = run("export-fingerprints", out, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["scopes"], summary["batches"]) == (1, 1)
    from lineage.guard_spark import read_export

    (scope, batches), = read_export(out).batches.items()
    assert scope.startswith("fraud_label|entity:") and len(batches) == 1
    import polars as pl

    sides = pl.read_parquet(out).group_by("side").len()
    # 2,000 predictions: one AI fingerprint and one entity each, no ground truth
    assert dict(sides.iter_rows()) == {"ai": 2000, "entity": 2000}
    unwritable = run("export-fingerprints", tmp_path / "no" / "such" / "dir" / "fp.parquet")
    assert unwritable.exit_code == 2 and "cannot write the fingerprint export" in (
        unwritable.output)


def test_every_provenance_command_has_help_with_examples() -> None:
    for name in ("tag", "review", "history", "provenance", "taint", "check-training",
                 "export-fingerprints"):
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Examples" in result.output
    result = CliRunner().invoke(cli, ["schema", "diff", "--help"])
    assert result.exit_code == 0 and "Examples" in result.output


def test_the_readme_tour_runs(tmp_path: Path) -> None:
    """examples/tour.sh, as a new user runs it (a real subprocess of the installed command)."""
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("LINEAGE_URL", None)
    result = subprocess.run(["bash", str(ROOT / "examples" / "tour.sh")], capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Tour done" in result.stdout
    assert "fraud@2" in result.stdout and "risk-rules-engine" in result.stdout


def test_check_training_with_nothing_to_match_exits_8_unless_unverified_allowed(
    run: Any, data: Path, tmp_path: Path
) -> None:
    assert _tag_predictions(run, data).exit_code == 0
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("transaction_id,label\nzz-1,true\nzz-2,false\n")
    args = ("check-training", unknown, "--key", "transaction_id", "--label", "label")
    result = run(*args)
    assert result.exit_code == 8
    assert "no label column could be matched to recorded assertions" in result.output
    assert run(*args, "--unverified", "allow").exit_code == 0


def test_check_training_concept_option_maps_a_renamed_column(run: Any, data: Path) -> None:
    assert _tag_predictions(run, data).exit_code == 0
    result = run("check-training", data / "labels_exported.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--concept", "is_fraud=fraud_label", "--format",
                 "json")
    assert result.exit_code == 3
    report = json.loads(result.output)
    assert report["matched"] == {"is_fraud": {"concepts": ["fraud_label"],
                                              "matched_by": "explicit"}}
    assert report["counts"] == {**{v: 0 for v in report["counts"]}, "ai_only": 2000}
    missing = run("check-training", data / "labels_exported.csv", "--key", "transaction_id",
                  "--label", "is_fraud", "--concept", "fraud_lbl")
    assert missing.exit_code == 4 and "fraud_label" in missing.output


def test_tag_refuses_a_model_version_as_an_observer_with_exit_2(
    run: Any, data: Path, store_url: str
) -> None:
    with lineage.connect(store_url) as store:
        before = snapshot(store), len(store.assertion_batches())
    result = run("tag", data / "chargebacks.csv", "--dataset", "fraud.labels", "--field",
                 "is_fraud", "--key", "transaction_id", "--origin", "observed", "--agent",
                 "fraud@2")
    assert result.exit_code == 2 and "model version" in result.output
    with lineage.connect(store_url) as store:
        assert (snapshot(store), len(store.assertion_batches())) == before


def test_check_training_with_an_unknown_model_exits_4(run: Any, data: Path) -> None:
    result = run("check-training", data / "labels_exported.csv", "--key", "transaction_id",
                 "--label", "is_fraud", "--dataset", "fraud.training_labels", "--model",
                 "fraud@9")
    assert result.exit_code == 4 and "fraud@9" in result.output


def test_tagging_the_same_file_twice_writes_nothing_new(run: Any, data: Path,
                                                        store_url: str) -> None:
    first = _tag_predictions(run, data)
    second = _tag_predictions(run, data)
    assert second.exit_code == 0 and json.loads(second.output)["unchanged"] is True
    assert json.loads(second.output)["id"] == json.loads(first.output)["id"]
    again = run("tag", data / "predictions.csv", "--dataset", "fraud.scores", "--field",
                "predicted_fraud", "--key", "transaction_id", "--origin", "ai_inferred",
                "--agent", "fraud@2", "--confidence-column", "confidence")
    assert "nothing new" in again.output
    with lineage.connect(store_url) as store:
        assert len(store.assertion_batches()) == 1
    summary = json.loads(run("provenance", "fraud.scores", "--format", "json").output)
    assert next(s for s in summary if s["field"].endswith("predicted_fraud"))["total"] == 2000


@pytest.mark.parametrize(("csv", "message"), [
    ("transaction_id,is_fraud\ntx-1,true\ntx-2,false\ntx-1,false\n",
     r"rows 1, 3 give one key \(transaction_id='tx-1'\) two values"),
    ("transaction_id,is_fraud\ntx-1,true\ntx-2,\n",
     r"row 2 \(transaction_id='tx-2'\) has no value"),
    ("transaction_id,is_fraud,p\ntx-1,true,0.5\ntx-2,false,NaN\n",
     r"confidence column 'p', row 2 has no confidence"),
])
def test_tag_refuses_ambiguous_rows_naming_the_row(
    run: Any, tmp_path: Path, store_url: str, csv: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(csv)
    with lineage.connect(store_url) as store:
        before = snapshot(store), len(store.assertion_batches())
    args = ["--confidence-column", "p"] if ",p" in csv else []
    result = run("tag", path, "--dataset", "fraud.labels", "--field", "is_fraud", "--key",
                 "transaction_id", "--origin", "observed", "--agent", "disputes", *args)
    assert result.exit_code == 2
    assert re.search(message, " ".join(result.output.split())), result.output
    with lineage.connect(store_url) as store:
        assert (snapshot(store), len(store.assertion_batches())) == before
