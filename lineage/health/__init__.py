"""Data health at job boundaries, answered through lineage.

    from lineage import health
    health.validate(store, "batch.csv", dataset="transactions")     # schema + contracts
"""

from .validate import (
    ColumnReport,
    ContractViolation,
    ValidationReport,
    Violation,
    validate,
)

__all__ = [
    "ColumnReport",
    "ContractViolation",
    "ValidationReport",
    "Violation",
    "validate",
]
