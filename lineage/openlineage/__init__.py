"""OpenLineage ingest: RunEvent, DatasetEvent and JobEvent, validated against the spec's JSON
schemas (shipped in `spec/`, pinned to core spec 2-0-2) and written to a store in one
transaction.

    import lineage
    from lineage import openlineage

    store = lineage.connect()
    result = openlineage.ingest(store, body, principal="airflow-prod")  # bytes, str or dicts
    result = openlineage.ingest_file(store, "events.ndjson")
    result.dropped_facets   # invalid optional facets left out, with their JSON paths

How events become nodes and edges is documented in `_mapping.py`; how schema-facet types
become canonical field types in `_fieldtypes.py`; what is validated in `_validate.py`.
"""

from typing import TYPE_CHECKING, Any

# Reading the quality checks an answer shows is light; everything else (JSON schema
# validation, the mapping, polars) loads on first use of its name (PEP 562), so that
# `lineage impact` does not pay for an ingest it does not run.
from ._checks import checks_covering, checks_of

if TYPE_CHECKING:
    from ._fieldtypes import field_type
    from ._ingest import (
        IngestResult,
        Prepared,
        ingest,
        ingest_file,
        ingest_files,
        note_shared_runs,
        prepare,
        prepare_files,
        to_batch,
        validate,
        write,
    )
    from ._validate import CORE_ID, SPEC_VERSION, CheckedEvent, check_event, event_kind, schemas

_LAZY = {
    **dict.fromkeys(("IngestResult", "Prepared", "ingest", "ingest_file", "ingest_files",
                     "note_shared_runs", "prepare", "prepare_files", "to_batch", "validate",
                     "write"), "._ingest"),
    **dict.fromkeys(("CORE_ID", "SPEC_VERSION", "CheckedEvent", "check_event", "event_kind",
                     "schemas"), "._validate"),
    "field_type": "._fieldtypes",
}


def __getattr__(name: str) -> Any:
    import importlib

    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "CORE_ID",
    "CheckedEvent",
    "IngestResult",
    "Prepared",
    "SPEC_VERSION",
    "check_event",
    "checks_covering",
    "checks_of",
    "event_kind",
    "field_type",
    "ingest",
    "ingest_file",
    "ingest_files",
    "note_shared_runs",
    "prepare",
    "prepare_files",
    "schemas",
    "to_batch",
    "validate",
    "write",
]
