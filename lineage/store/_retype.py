"""Re-reading the field types a store holds from a system's spelling in that system's dialect
(`lineage._types.dialect_of`): INTEGER from PostgreSQL, Spark or DuckDB is ``int32`` now, it
was ``int64`` before (the library's own reading of `int`); BigQuery's and SQLite's stay
``int64``; Snowflake's is ``decimal(38,0)``.

A store written before holds the old reading. The SQL migration 0007 and the Neo4j graph's
schema version 3 call these rules, so they are written once. It is a re-reading of the same
declared type, not a change: no version is written and nobody is notified, and the same
events sent again then change nothing. What is re-read:

- a field node with a `source_type` (the producer's spelling, from an OpenLineage schema
  facet or a dbt catalog) whose `type` is what the old rule made of it: its new reading,
  in the dialect of the field's namespace (for dbt, the adapter type unless `--namespace`
  named another: then the SQL standard's reading). A type that is not the old reading of its
  spelling (a nested struct, whose members' spellings were not kept; a type a person set)
  is left as it is. A field without a `source_type` (registered from YAML) is untouched.
- each entry of a dataset version's schema snapshot whose field node is re-read and whose
  type is the old reading of that field's spelling. A snapshot keeps no spelling of its
  own, so an older version whose producer spelt the column otherwise but read the same
  (BIGINT then, INTEGER now: both int64 before) takes the current spelling's reading: the
  store before could not tell them apart either.
- a dbt version (``@<schema hash>``) whose snapshot changed is re-keyed to the hash of its
  re-read schema (what an import now computes), unless a version has that key already.
- a consumer contract's field with a `physical_type` (dbt's declared `data_type`) whose
  `type` is the old reading of it, in the dialect of the contracted asset's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._types import dialect_of
from ..openlineage._fieldtypes import field_type


def retyped(type_: Any, spelling: Any, namespace: str | None) -> str | None:
    """The type a field stored as `type_` with the producer's `spelling`, in `namespace`,
    reads as now; None when it stays (see the module docstring)."""
    if not isinstance(type_, str) or not isinstance(spelling, str) or not spelling.strip():
        return None
    if type_ != field_type(spelling):  # not the old reading of this spelling: leave it
        return None
    new = field_type(spelling, dialect=dialect_of(namespace or ""))
    return new if new != type_ else None


def retyped_field(properties: Mapping[str, Any], namespace: str | None
                  ) -> dict[str, Any] | None:
    """A field node's properties with its type re-read, or None when it stays."""
    new = retyped(properties.get("type"), properties.get("source_type"), namespace)
    return None if new is None else {**properties, "type": new}


def field_prefixes(keys: Iterable[str]) -> set[str]:
    """Every prefix of the field `keys` that ends in a dot: the fields' key prefix of a
    dataset (`lineage._keys.fields_prefix`) is among them when one of its fields is in
    `keys` (so only the versions of those datasets are read)."""
    return {key[:i + 1] for key in keys for i, ch in enumerate(key) if ch == "."}


def retyped_schema(fields: Sequence[Mapping[str, Any]],
                   spellings: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]] | None:
    """A schema snapshot (FieldSchema dicts, in order) with each entry re-read whose field
    `spellings` names (field name -> (old type, new type) of its node's re-reading) and
    whose type is that old type; None when no entry changes."""
    out, changed = [], False
    for entry in fields:
        moved = spellings.get(str(entry.get("name")))
        if moved is not None and entry.get("type") == moved[0]:
            entry = {**entry, "type": moved[1]}
            changed = True
        out.append(dict(entry))
    return out if changed else None


def retyped_contract(contract: Mapping[str, Any], namespace: str | None
                     ) -> dict[str, Any] | None:
    """A consumer's contract on one asset (``{"fields": [...]}``) with each field that
    carries a `physical_type` re-read; None when none changes."""
    fields = contract.get("fields")
    if not isinstance(fields, list):
        return None
    out, changed = [], False
    for entry in fields:
        if isinstance(entry, Mapping):
            new = retyped(entry.get("type"), entry.get("physical_type"), namespace)
            if new is not None:
                entry = {**entry, "type": new}
                changed = True
        out.append(entry)
    return {**contract, "fields": out} if changed else None


def dbt_version_key(key: str, properties: Mapping[str, Any], namespace: str, dataset: str,
                    schema: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(new key, new version) of a dbt dataset version `key` of `dataset` (its name) in
    `namespace` whose re-read `schema` hashes otherwise than its key says; None for
    another producer's version or an unchanged hash."""
    from .. import _keys as keys
    from ..dbt import schema_digest

    if properties.get("source") != "dbt" or "@" not in key:
        return None
    digest = schema_digest((str(f.get("name")), str(f.get("type")), bool(f.get("nullable")))
                           for f in schema)
    if key.rsplit("@", 1)[1] == digest:
        return None
    return keys.dataset_version_key(namespace, dataset, digest), digest
