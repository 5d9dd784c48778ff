"""Schema diffs and change impact: break/compatible/unknown, with reasons and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

import lineage
from lineage import FieldSchema, NodeKind
from lineage.impact import ChangeImpact, change_impact
from lineage.schema import diff, load_schema, parse_change, type_relation
from lineage.store.base import Store

from .conftest import snapshot

CATEGORY = "transactions.category"


@pytest.mark.parametrize(
    ("old", "new", "relation"),
    [("int32", "int64", "widening"), ("int64", "int32", "narrowing"),
     ("int", "string", "incompatible"), ("int32", "float64", "widening"),
     ("int64", "float64", "narrowing"), ("float32", "double", "widening"),
     ("decimal(12,2)", "decimal(14,2)", "widening"), ("decimal(12,2)", "decimal(12,4)",
                                                      "narrowing"),
     ("date", "timestamp", "widening"), ("timestamp", "timestamp_tz", "incompatible"),
     ("varchar(20)", "text", "widening"), ("character varying", "text", "same")],
)
def test_type_relations(old: str, new: str, relation: str) -> None:
    assert type_relation(old, new) == relation


def test_diff_classifies_every_kind_of_change() -> None:
    old = [FieldSchema(name="id", type="int32", nullable=False),
           FieldSchema(name="category", type="int32", allowed_values=[1, 2]),
           FieldSchema(name="user_name", type="string"),
           FieldSchema(name="legacy", type="string")]
    new = [FieldSchema(name="id", type="int64"),
           FieldSchema(name="category", type="string", allowed_values=[1, 2, 3]),
           FieldSchema(name="username", type="string"),
           FieldSchema(name="country", type="int16")]
    found = {(c.kind, c.field): c for c in diff(old, new)}
    assert found[("type_changed", "id")].compatibility == "compatible"
    assert found[("nullable", "id")].compatibility == "unknown"
    assert found[("type_changed", "category")].relation == "incompatible"
    assert found[("values_added", "category")].values == (3,)
    rename = found[("renamed", "user_name")]
    assert rename.new_name == "username" and not rename.declared
    assert found[("dropped", "legacy")].compatibility == "breaking"
    assert found[("added", "country")].compatibility == "compatible"


def test_declared_renames_win_over_guesses() -> None:
    old = [FieldSchema(name="a", type="int32"), FieldSchema(name="b", type="int32")]
    new = [FieldSchema(name="x", type="int32"), FieldSchema(name="b", type="int32")]
    (change,) = diff(old, new, renames={"a": "x"})
    assert (change.kind, change.new_name, change.declared) == ("renamed", "x", True)
    with pytest.raises(lineage.ValidationError, match="no such field"):
        diff(old, new, renames={"nope": "x"})


@pytest.mark.parametrize("spec", ["type:", "rename", "values:", "explode", "drop:now"])
def test_bad_change_specs_say_what_is_accepted(spec: str) -> None:
    with pytest.raises(lineage.ValidationError):
        parse_change(spec, "f")


def test_schema_files_read_yaml_json_and_openlineage_facets(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("- {name: a, type: int}\n- {name: b, type: str}\n")
    (tmp_path / "s.json").write_text(
        '{"facets": {"schema": {"fields": [{"name": "a", "type": "BIGINT"}]}}}')
    assert [f.type for f in load_schema(tmp_path / "s.yaml")] == ["int64", "string"]
    assert [f.type for f in load_schema(tmp_path / "s.json")] == ["int64"]
    (tmp_path / "bad.yaml").write_text("- {name: a}\n")
    with pytest.raises(lineage.ValidationError, match="name and a type"):
        load_schema(tmp_path / "bad.yaml")


def test_category_int_to_string_breaks_models_and_consumers_with_paths(
    fraud_store: Store,
) -> None:
    """Story 1: the type change nobody announced."""
    report = change_impact(fraud_store, CATEGORY, ["type:string"])
    breaking = {j.node.key for j in report.of("breaking")}
    assert {"model_version:fraud@2", "model_version:fraud@3", "model:fraud",
            "consumer:risk-rules-engine", "consumer:fraud-dashboard",
            "consumer:alerting-service"} <= breaking
    assert "model_version:fraud@1" not in {j.node.key for j in report.judged}
    share = next(j for j in report.judged if j.node.key.endswith("user_features.category_share"))
    assert "numeric aggregate" in share.reason
    engine = next(j for j in report.judged if j.node.key == "consumer:risk-rules-engine")
    assert [n.key for _, n in engine.path][0].endswith("public.transactions.category")
    assert engine.path[-1][1].key == "consumer:risk-rules-engine"


def test_store_impact_is_the_one_call_of_the_design(fraud_store: Store) -> None:
    """`store.impact(name)` is the plain report; `change=` adds verdicts, same as the functions."""
    plain = fraud_store.impact(CATEGORY)
    assert isinstance(plain, lineage.ImpactReport)
    assert plain.to_dict() == lineage.impact(fraud_store, CATEGORY).to_dict()
    judged = fraud_store.impact(CATEGORY, change="type:string")
    assert isinstance(judged, ChangeImpact)
    assert judged.to_dict() == change_impact(fraud_store, CATEGORY, ["type:string"]).to_dict()
    both = fraud_store.impact(CATEGORY, change=["type:string", "nullable"], max_depth=2)
    assert isinstance(both, ChangeImpact)
    near = {j.node.key for j in both.judged}
    assert near and near < {j.node.key for j in judged.judged}  # depth-bounded: fewer
    with pytest.raises(lineage.ValidationError):
        fraud_store.impact(CATEGORY, change="type:")


def test_widening_is_compatible_downstream(fraud_store: Store) -> None:
    report = change_impact(fraud_store, CATEGORY, ["type:int64"])
    assert report.counts()["breaking"] == 0 and report.counts()["compatible"] > 0


def test_identity_copies_pass_the_change_on(fraud_store: Store) -> None:
    report = change_impact(fraud_store, "transactions.user_id", ["type:string"])
    copy = next(j for j in report.judged if j.node.key.endswith("user_features.user_id"))
    assert copy.verdict == "breaking" and "identity" in copy.reason


def test_unknown_rather_than_a_guess(fraud_store: Store) -> None:
    report = change_impact(fraud_store, "users.age", ["values:+-1"])
    filled = next(j for j in report.judged if j.node.key.endswith("user_features.age_filled"))
    assert filled.verdict == "unknown" and "cannot tell" in filled.reason


CONTRACTS = """\
namespace: pg
datasets:
  - name: public.orders
    fields:
      - {name: id, type: int64, nullable: false}
      - {name: status, type: int32, nullable: false}
      - {name: amount, type: float64}
  - name: marts.daily
    fields:
      - {name: status, type: int32}
derivations:
  - {from: orders.status, to: daily.status, transformation: identity}
features:
  - {name: status_f, from: daily.status, transformation: identity}
consumers:
  - name: billing
    consumes: [public.orders]
    contracts:
      - asset: public.orders
        properties:
          - {name: status, physicalType: int32, required: true}
  - name: bi
    consumes: [public.orders]
    contracts:
      - asset: public.orders
        fields: [{name: amount}]
  - name: finance
    consumes: [daily.status]
"""


def test_nullable_under_a_consumer_whose_contract_requires_it(store: Store,
                                                             tmp_path: Path) -> None:
    """Story: a field becomes nullable under a consumer whose contract requires it."""
    lineage.manifest.register_text(store, CONTRACTS)
    report = change_impact(store, "orders.status", ["nullable"])
    verdicts = {j.node.key: j for j in report.judged}
    billing = verdicts["consumer:billing"]
    assert billing.verdict == "breaking" and "requires 'status'" in billing.reason
    assert billing.through is not None and billing.through.key == "dataset:pg/public.orders"
    assert verdicts["consumer:bi"].verdict == "compatible"  # its contract is on amount only


def test_a_contract_type_pins_widening_too(store: Store) -> None:
    lineage.manifest.register_text(store, CONTRACTS)
    report = change_impact(store, "orders.status", ["type:int64"])
    verdicts = {j.node.key: j.verdict for j in report.judged}
    assert verdicts["consumer:billing"] == "breaking"  # the contract says int32
    # no contract, but it reads daily.status, an int32 copy that int64 values overflow
    # (issue 12: an identity copy narrower than the new type breaks, and so does its reader)
    assert verdicts["field:pg/marts.daily.status"] == "breaking"
    assert verdicts["consumer:finance"] == "breaking"


def test_rename_under_a_feature_pipeline_breaks_it(store: Store) -> None:
    """Story: a column renamed under a feature pipeline."""
    lineage.manifest.register_text(store, CONTRACTS)
    report = change_impact(store, "orders.status", ["rename:order_status"])
    feature = next(j for j in report.judged if j.node.kind is NodeKind.FEATURE)
    assert feature.verdict == "breaking"
    assert [n.key for _, n in feature.path] == [
        "field:pg/public.orders.status", "field:pg/marts.daily.status", "feature:status_f"]


def test_contracts_must_name_real_fields(store: Store) -> None:
    before = snapshot(store)
    bad = CONTRACTS.replace("{name: status, physicalType: int32, required: true}",
                            "{name: stauts, physicalType: int32}")
    with pytest.raises(lineage.ValidationError, match="did you mean 'status'"):
        lineage.manifest.register_text(store, bad)
    assert snapshot(store) == before


def test_contracts_and_channels_are_stored_and_idempotent(store: Store) -> None:
    text = CONTRACTS + """\
  - name: ops
    consumes: [public.orders]
    channels:
      - {kind: webhook, url: "http://127.0.0.1:9/hook", secret_env: OPS_SECRET}
      - {kind: file, path: ops.ndjson}
"""
    lineage.manifest.register_text(store, text)
    assert not lineage.manifest.register_text(store, text).changed
    channels = store.channels(["consumer:ops"])["consumer:ops"]
    assert [(c.kind, c.target) for c in channels] == [("webhook", "http://127.0.0.1:9/hook"),
                                                      ("file", "ops.ndjson")]
    contracts = store.contracts(["consumer:billing"])["consumer:billing"]
    assert contracts["dataset:pg/public.orders"]["fields"][0]["required"] is True


def test_changes_only_apply_to_fields(fraud_store: Store) -> None:
    with pytest.raises(lineage.ValidationError, match="fields and features"):
        change_impact(fraud_store, "model:fraud", ["drop"])
