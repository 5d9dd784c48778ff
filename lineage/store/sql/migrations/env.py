"""Alembic environment: always run with a connection handed in by `lineage.store.sql`.

New revision: `alembic -c lineage/store/sql/migrations/alembic.ini revision -m "..."`
against a scratch database, then write the operations by hand and bump SCHEMA_REVISION.
"""

from alembic import context

from lineage.store.sql.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # command-line use: build an engine from sqlalchemy.url
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")
    connection = engine.connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
