"""Alembic migrations of the SQL schema; run by `lineage.connect` on open."""
