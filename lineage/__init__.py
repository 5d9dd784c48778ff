"""lineage: a lineage and provenance store for ML and data platforms.

    import lineage
    store = lineage.connect()                 # $LINEAGE_URL or ./lineage.db
    lineage.register(store, "examples/fraud/manifest.yaml")
    lineage.import_dbt(store, "examples/jaffle_shop/target")   # a dbt project
    report = lineage.impact(store, "transactions.category")

Everything public is importable from here; the underscored modules may move. The HTTP
server is `lineage.server` (imported on its own: it needs FastAPI and uvicorn).
"""

import sys
import types
from typing import TYPE_CHECKING, Any

# Light modules load with the package; everything that pulls in SQLAlchemy, pydantic,
# numpy or polars loads on first use of one of its names (PEP 562), so `lineage --help`
# and scripts that only need the errors do not pay ~1 s of imports.
from ._errors import (
    AmbiguousName,
    ConflictError,
    ContractViolation,
    DriftDetected,
    LineageError,
    NotFound,
    PermissionDenied,
    ProvenanceViolation,
    StoreError,
    UnmatchedLabels,
    ValidationError,
)
from ._settings import Settings
from ._vocabulary import (
    EDGE_READING,
    EDGE_VERB,
    EdgeKind,
    NodeKind,
    Origin,
    Transformation,
    edge_verb,
)

if TYPE_CHECKING:
    from . import auth, export, openlineage
    from ._access import AuditEntry, Principal, TokenInfo
    from ._model import (
        OUTBOX_STATES,
        ApplyResult,
        AssertionArrays,
        AssertionBatch,
        ChannelSpec,
        Closure,
        DeliveryOutcome,
        EdgeSpec,
        FieldSchema,
        GraphBatch,
        Node,
        NodeRef,
        NodeSpec,
        NotificationSpec,
        OutboxItem,
        OutboxState,
        Reached,
        Subgraph,
    )
    from .copy import CopyReport, copy_store
    from .dbt import DbtImportResult, import_dbt
    from .impact import ImpactReport, impact
    from .manifest import register
    from .notify import DeliveryStats, deliver, notifications_for, notify_change
    from .openlineage import IngestResult
    from .store import Store, connect

#: public name -> the module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # submodules, so `lineage.manifest.register_text(...)` works without importing it first
    **dict.fromkeys(["auth", "export", "openlineage", "manifest", "provenance", "guard",
                     "guard_spark", "schema", "consumers", "render", "store", "notify", "dbt"], ""),
    **dict.fromkeys(["AuditEntry", "Principal", "TokenInfo"], "._access"),
    **dict.fromkeys([
        "OUTBOX_STATES", "ApplyResult", "AssertionArrays", "AssertionBatch", "ChannelSpec",
        "Closure", "DeliveryOutcome", "EdgeSpec", "FieldSchema", "GraphBatch", "Node",
        "NodeRef", "NodeSpec", "NotificationSpec", "OutboxItem", "OutboxState", "Reached",
        "Subgraph"], "._model"),
    **dict.fromkeys(["CopyReport", "copy_store"], ".copy"),
    **dict.fromkeys(["ImpactReport", "impact"], ".impact"),
    **dict.fromkeys(["CopyReport", "copy_store"], ".copy"),
    "register": ".manifest",
    **dict.fromkeys(["DbtImportResult", "import_dbt"], ".dbt"),
    **dict.fromkeys(["DeliveryStats", "deliver", "notifications_for", "notify_change"],
                    ".notify"),
    "IngestResult": ".openlineage",
    **dict.fromkeys(["Store", "connect"], ".store"),
}


def __getattr__(name: str) -> Any:
    import importlib

    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'lineage' has no attribute '{name}'")
    value = (importlib.import_module(f".{name}", __name__) if where == ""
             else getattr(importlib.import_module(where, __name__), name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """`lineage.impact` is a function, and `lineage/impact.py` a module of the same name.
    Importing a submodule sets it as an attribute of the package; eagerly imported, the
    function was bound afterwards and won. Lazily, the module could be imported later and
    shadow the function, so the package keeps the function whenever the module is set."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "impact" and isinstance(value, types.ModuleType):
            value = value.impact
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__version__ = "0.1.0"

__all__ = [
    "OUTBOX_STATES",
    "AmbiguousName",
    "ApplyResult",
    "AssertionArrays",
    "AuditEntry",
    "AssertionBatch",
    "ChannelSpec",
    "Closure",
    "ConflictError",
    "CopyReport",
    "DbtImportResult",
    "ContractViolation",
    "DriftDetected",
    "DeliveryOutcome",
    "DeliveryStats",
    "EDGE_READING",
    "EDGE_VERB",
    "EdgeKind",
    "EdgeSpec",
    "FieldSchema",
    "GraphBatch",
    "ImpactReport",
    "IngestResult",
    "LineageError",
    "Node",
    "NodeKind",
    "NodeRef",
    "NodeSpec",
    "NotFound",
    "NotificationSpec",
    "Origin",
    "OutboxItem",
    "OutboxState",
    "PermissionDenied",
    "Principal",
    "ProvenanceViolation",
    "UnmatchedLabels",
    "Reached",
    "Subgraph",
    "Settings",
    "Store",
    "StoreError",
    "TokenInfo",
    "Transformation",
    "ValidationError",
    "auth",
    "connect",
    "copy_store",
    "deliver",
    "edge_verb",
    "export",
    "impact",
    "import_dbt",
    "notifications_for",
    "notify_change",
    "openlineage",
    "register",
]
