"""Data health at job boundaries, answered through lineage.

    from lineage import health
    health.validate(store, "batch.csv", dataset="transactions")     # schema + contracts
    health.record_profile(store, "train.parquet", "user_features@2026-03")   # an artefact
    health.drift(store, "prod.parquet", "user_features")    # vs every model's training data
    health.freshness(store, "fraud@3")     # inputs past their SLA, runs that read late data
"""

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
    "FreshnessReport",
    "Profile",
    "ContractViolation",
    "ValidationReport",
    "Violation",
    "compare_profiles",
    "drift",
    "freshness",
    "parse_duration",
    "profile",
    "record_profile",
    "stored_profile",
    "training_references",
    "validate",
]
