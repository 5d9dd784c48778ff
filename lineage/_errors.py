"""The errors `lineage` raises, as one tree.

    LineageError                 every error the library raises on purpose
    ├── NotFound                 a name or key matches nothing (carries suggestions)
    ├── AmbiguousName            a suffix matches several nodes (carries the candidates)
    ├── ValidationError          bad input: a manifest, a file, an argument (carries file/key/line)
    ├── ConflictError            the input contradicts what the store already holds
    ├── ProvenanceViolation      the training guard refused a table (carries the report)
    │   └── UnmatchedLabels      no label column could be matched to recorded assertions
    ├── PermissionDenied         a principal lacks the scope or origin it tried to use
    ├── StoreError               the backend failed (connection, migration, driver error)
    ├── ContractViolation        a batch broke its schema or a consumer contract (carries report)
    └── DriftDetected            a batch drifted past the policy thresholds (carries report)

Messages say what was wrong, where, and what to do. The CLI prints them without a
traceback and exits with the code documented in `lineage --help`; the HTTP server answers
4xx with the same message in a JSON body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LineageError(Exception):
    """Root of every error `lineage` raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message}


class NotFound(LineageError):
    """A name or key matches no node (or no row). `suggestions` lists near misses."""

    exit_code = 4

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = list(suggestions)
        if self.suggestions:
            message += "; did you mean " + " or ".join(f"'{s}'" for s in self.suggestions[:3]) + "?"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "suggestions": self.suggestions}


class AmbiguousName(LineageError):
    """A suffix matches more than one node. `candidates` holds their full keys."""

    exit_code = 4

    def __init__(self, name: str, candidates: Sequence[str]) -> None:
        self.name = name
        self.candidates = list(candidates)
        shown = "\n  ".join(self.candidates[:20])
        more = f"\n  ... and {len(self.candidates) - 20} more" if len(self.candidates) > 20 else ""
        super().__init__(
            f"'{name}' is ambiguous: it matches {len(self.candidates)} nodes; "
            f"use a longer suffix or a full key:\n  {shown}{more}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "candidates": self.candidates}


class ValidationError(LineageError):
    """Bad input. `file`, `key` (a dotted path such as `datasets[0].fields[2].type`) and
    `line` (1-based) say where, when known."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file, self.key, self.line = file, key, line
        where = ""
        if file is not None:
            where = file + (f":{line}" if line is not None else "")
        if key:
            where = f"{where} ({key})" if where else key
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "file": self.file, "key": self.key, "line": self.line}


class ConflictError(LineageError):
    """The input contradicts what the store already holds."""

    exit_code = 5


class ProvenanceViolation(LineageError):
    """The training guard refused a table. `report` is the full guard report."""

    exit_code = 3

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class UnmatchedLabels(ProvenanceViolation):
    """The training guard could not tie any label column to what the store knows: nothing
    was checked, so nothing passes (unless the policy allows unverified rows)."""

    exit_code = 8


class PermissionDenied(LineageError):
    """A principal lacks the scope, or the record origin, it tried to use."""

    exit_code = 6


class StoreError(LineageError):
    """The backend failed: connection refused, migration failed, a driver error."""

    exit_code = 7


class ContractViolation(LineageError):
    """A batch broke its dataset's schema or a consumer's contract (`lineage validate`).
    `report` is the full `lineage.health.ValidationReport`."""

    exit_code = 10

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class DriftDetected(LineageError):
    """A batch drifted past the policy's thresholds from what a model version trained on
    (`lineage drift`). `report` is the full `lineage.health.DriftReport`."""

    exit_code = 11

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
