"""The Alembic scripts and the table models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import lineage
from lineage.store.sql import engine as engines
from lineage.store.sql.tables import SCHEMA_REVISION, metadata


def test_schema_revision_constant_is_the_migration_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(engines.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrated_schema_matches_the_table_models(store_url: str) -> None:
    with lineage.connect(store_url) as store:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_reopening_a_store_keeps_its_data(store_url: str) -> None:
    with lineage.connect(store_url) as store:
        batch = lineage.GraphBatch()
        batch.add_node("feature:kept", "kept")
        store.apply(batch)
    with lineage.connect(store_url) as store:
        assert store.node("feature:kept").name == "kept"
