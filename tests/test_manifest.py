"""Registration from YAML manifests: what lands, and what bad input is told."""

from __future__ import annotations

from pathlib import Path

import pytest

import lineage
from lineage import EdgeKind, NodeKind
from lineage.store.base import Store

from .conftest import EXAMPLE, snapshot

GOOD = """\
namespace: pg
datasets:
  - name: public.orders
    fields:
      - {name: id, type: int64, nullable: false}
      - {name: status, type: int}
    versions:
      - {version: 1}
  - name: marts.order_facts
    fields:
      - {name: status_label, type: string}
derivations:
  - {from: orders.status, to: order_facts.status_label, transformation: transformation}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_registering_the_example_builds_the_documented_graph(fraud_store: Store) -> None:
    stats = fraud_store.stats()
    assert stats["model_version"] == 3 and stats["consumer"] == 3
    field = fraud_store.node("field:postgres://db.prod:5432/public.transactions.category")
    assert field.properties["type"] == "int32"
    edges = {(e.kind, e.dst) for e, _ in fraud_store.neighbours("transactions.category")}
    assert (EdgeKind.DERIVED_FROM,
            "field:s3://ml-warehouse/features.user_features.category_share") in edges


def test_re_registering_the_same_manifest_changes_nothing(fraud_store: Store) -> None:
    before = snapshot(fraud_store)
    result = lineage.register(fraud_store, EXAMPLE)
    assert not result.changed
    assert snapshot(fraud_store) == before


def test_types_are_normalised(store: Store, tmp_path: Path) -> None:
    lineage.register(store, _write(tmp_path, "m.yaml", GOOD))
    assert store.node("field:pg/public.orders.status").properties["type"] == "int64"
    assert [f.type for f in store.schema("orders@1")] == ["int64", "int64"]


def test_references_resolve_against_the_store(store: Store, tmp_path: Path) -> None:
    lineage.register(store, _write(tmp_path, "a.yaml", GOOD))
    later = "features:\n  - {name: status_f, from: order_facts.status_label}\n"
    lineage.register(store, _write(tmp_path, "b.yaml", later))
    assert store.downstream("orders.status").keys() >= {"feature:status_f"}


@pytest.mark.parametrize(
    ("text", "message", "line", "key"),
    [
        ("datasets:\n  - name: x\n    fields: [ {name: a, type: int\n",
         "malformed YAML: while parsing a flow mapping (from line 3)", 4, None),
        ("datasets:\n  - name: x\n    fields:\n      - {name: a, type: strng}\n",
         "unknown field type 'strng'; did you mean 'string'?", 4, "datasets[0].fields[0].type"),
        ("datasets:\n  - name: x\n    fields:\n      - {name: a, type: int}\n"
         "      - {name: a, type: int}\n", "field 'a' appears twice", 5,
         "datasets[0].fields[1].name"),
        ("datasets:\n  - name: x\n    feilds: []\n", "unknown key 'feilds'; did you mean 'fields'?",
         3, "datasets[0].feilds"),
        # the contract's (ODCS) spelling on a dataset field: not 'values' (label spellings)
        ("datasets:\n  - name: x\n    fields:\n      - {name: a, type: int, validValues: [1]}\n",
         "unknown key 'validValues'; did you mean 'allowed_values'?", 4,
         "datasets[0].fields[0].validValues"),
        ("features:\n  - {name: f, from: nowhere.col}\n", "unknown field or feature 'nowhere.col'",
         2, "features[0].from[0]"),
        ("datasets:\n  - name: x\n    fields:\n      - {name: a, type: int, nullable: maybe}\n",
         "boolean", 4, "datasets[0].fields[0].nullable"),
        ("- just\n- a list\n", "a manifest is a mapping", 1, None),
    ],
)
def test_a_bad_manifest_is_rejected_whole_with_file_key_and_line(
    store: Store, tmp_path: Path, text: str, message: str, line: int, key: str | None
) -> None:
    lineage.register(store, _write(tmp_path, "ok.yaml", GOOD))
    before = snapshot(store)
    bad = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(lineage.ValidationError) as err:
        lineage.register(store, bad)
    assert message in err.value.message
    assert err.value.file == str(bad) and err.value.line == line and err.value.key == key
    assert snapshot(store) == before


def test_a_bad_second_file_keeps_the_first_file_out_too(store: Store, tmp_path: Path) -> None:
    before = snapshot(store)
    good = _write(tmp_path, "good.yaml", GOOD)
    bad = _write(tmp_path, "bad.yaml", "features:\n  - {name: f, from: order_facts.nope}\n")
    suggestion = "did you mean 'pg/marts.order_facts.status_label'"
    with pytest.raises(lineage.ValidationError, match=suggestion):
        lineage.register(store, good, bad)
    assert snapshot(store) == before


def test_an_ambiguous_reference_lists_the_candidates(store: Store, tmp_path: Path) -> None:
    text = GOOD + "  - {from: id, to: order_facts.status_label}\n".replace("  - ", "  - ", 1)
    text = text.replace("marts.order_facts\n    fields:\n",
                        "marts.order_facts\n    fields:\n      - {name: id, type: int64}\n")
    with pytest.raises(lineage.ValidationError, match="ambiguous") as err:
        lineage.register(store, _write(tmp_path, "m.yaml", text))
    assert "field:pg/public.orders.id" in err.value.message
    assert "field:pg/marts.order_facts.id" in err.value.message


def test_declaring_a_node_twice_names_both_places(store: Store, tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", "features:\n  - {name: f}\n")
    b = _write(tmp_path, "b.yaml", "\n\nfeatures:\n  - {name: f}\n")
    with pytest.raises(lineage.ValidationError, match=r"declared twice \(first at .*a.yaml:2\)"):
        lineage.register(store, a, b)


def test_missing_and_non_utf8_files_are_named(store: Store, tmp_path: Path) -> None:
    with pytest.raises(lineage.ValidationError, match="no such file"):
        lineage.register(store, tmp_path / "absent.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("features:\n  - {name: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(lineage.ValidationError, match="not UTF-8"):
        lineage.register(store, latin)


def test_model_versions_link_to_training_data_features_and_outputs(fraud_store: Store) -> None:
    up = fraud_store.upstream("fraud@3", max_depth=1)
    kinds = {(r.edge, r.node.kind) for r in up}
    assert (EdgeKind.TRAINED_ON, NodeKind.DATASET_VERSION) in kinds
    assert (EdgeKind.USES_FEATURE, NodeKind.FEATURE) in kinds
    down = fraud_store.downstream("fraud@3", max_depth=1).keys()
    assert "field:s3://ml-warehouse/fraud.scores.score" in down
    assert "model:fraud" in down
