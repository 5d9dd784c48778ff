"""History is immutable (issue 12, item 4): a registered dataset version's schema never
changes; a new schema is a new version, which goes through change impact."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import lineage
from lineage import Store
from lineage_cli.main import cli

from .conftest import EXAMPLE, snapshot

MANIFEST = EXAMPLE.read_text(encoding="utf-8")
CATEGORY = "{name: category, type: int32, description: merchant category code (MCC)}"
EDITED = MANIFEST.replace(CATEGORY, "{name: category, type: string}")
MARCH = '      - {version: "2026-03", created_at: 2026-03-31}\n'
WITH_APRIL = EDITED.replace(MARCH, MARCH + '      - {version: "2026-04", created_at: 2026-04-30}\n')


def test_editing_a_field_type_without_a_new_version_is_a_conflict(fraud_store: Store) -> None:
    before = snapshot(fraud_store)
    with pytest.raises(lineage.ConflictError) as caught:
        lineage.manifest.register_text(fraud_store, EDITED)
    message = str(caught.value)
    assert "public.transactions@2026-03" in message and "'category'" in message
    assert "int32" in message and "string" in message and "new version" in message
    assert caught.value.exit_code == 5
    assert snapshot(fraud_store) == before
    assert fraud_store.schema("transactions@2026-01")[3].type == "int32"


def test_changing_the_declared_fields_of_a_registered_version_is_a_conflict(
        fraud_store: Store) -> None:
    changed = MANIFEST.replace(
        "      - version: \"2026-01\"\n        fields:\n"
        "          - {name: user_id, type: int64, nullable: false}\n"
        "          - {name: avg_amount_7d, type: float64}\n",
        "      - version: \"2026-01\"\n        fields:\n"
        "          - {name: user_id, type: int64, nullable: false}\n"
        "          - {name: avg_amount_7d, type: float32}\n", 1)
    assert changed != MANIFEST
    with pytest.raises(lineage.ConflictError, match=r"user_features@2026-01.*avg_amount_7d"):
        lineage.manifest.register_text(fraud_store, changed)
    assert fraud_store.schema("user_features@2026-01")[1].type == "float64"


def test_a_new_version_keeps_the_old_ones_and_notifies_consumers(fraud_store: Store) -> None:
    result = lineage.manifest.register_text(fraud_store, WITH_APRIL)
    assert result.notifications_enqueued > 0
    for month in ("2026-01", "2026-02", "2026-03"):
        assert fraud_store.schema(f"transactions@{month}")[3].type == "int32"
    assert fraud_store.schema("transactions@2026-04")[3].type == "string"
    again = lineage.manifest.register_text(fraud_store, WITH_APRIL)
    assert not again.changed and again.notifications_enqueued == 0


def test_register_exits_5_on_a_rewritten_version(store_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", store_url, "register", str(EXAMPLE)]).exit_code == 0
    path = tmp_path / "edited.yaml"
    path.write_text(EDITED, encoding="utf-8")
    result = runner.invoke(cli, ["--store", store_url, "register", str(path)])
    assert result.exit_code == 5 and "new version" in result.output
    diff = runner.invoke(cli, ["--store", store_url, "schema", "diff", "transactions@2026-01",
                               "transactions@2026-03"])
    assert "no changes" in diff.stdout
