"""Data health at job boundaries, answered through lineage.

    from lineage import health
    health.validate(store, "batch.csv", dataset="transactions")     # schema + contracts
    health.record_profile(store, "train.parquet", "user_features@2026-03")   # an artefact
    health.drift(store, "prod.parquet", "user_features")    # vs every model's training data
    health.freshness(store, "fraud@3")     # inputs past their SLA, runs that read late data
    health.skew(store, "fraud@3")          # training vs serving derivation of each input

A batch is a file (Parquet, CSV, NDJSON, Arrow), a polars/pandas frame, an Arrow table, or
`FileBytes(name, content)`: a file's bytes read as that file would be (an HTTP upload).
"""

from ..provenance._tables import FileBytes
from .drift import (
    Comparison,
    DriftPolicy,
    DriftReport,
    FieldDrift,
    compare_profiles,
    drift,
    training_references,
)
from .freshness import FreshnessReport, freshness, parse_duration
from .profile import Profile, profile, record_profile, stored_profile
from .skew import SkewReport, skew
from .validate import (
    ColumnReport,
    ContractViolation,
    ValidationReport,
    Violation,
    validate,
)

__all__ = [
    "ColumnReport",
    "Comparison",
    "DriftPolicy",
    "DriftReport",
    "FieldDrift",
    "FileBytes",
    "FreshnessReport",
    "Profile",
    "SkewReport",
    "ContractViolation",
    "ValidationReport",
    "Violation",
    "compare_profiles",
    "drift",
    "freshness",
    "parse_duration",
    "profile",
    "record_profile",
    "skew",
    "stored_profile",
    "training_references",
    "validate",
]
