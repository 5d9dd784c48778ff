"""lineage: a lineage and provenance store for ML and data platforms.

    import lineage
    store = lineage.connect()                 # $LINEAGE_URL or ./lineage.db
    lineage.register(store, "examples/fraud/manifest.yaml")
    report = lineage.impact(store, "transactions.category")

Everything public is importable from here; the underscored modules may move. The HTTP
server is `lineage.server` (imported on its own: it needs FastAPI and uvicorn).
"""

from . import auth, export, openlineage
from ._access import AuditEntry, Principal, TokenInfo
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
    ValidationError,
)
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
from ._settings import Settings
from ._vocabulary import EDGE_READING, EdgeKind, NodeKind, Origin, Transformation
from .impact import ImpactReport, impact
from .manifest import register
from .notify import DeliveryStats, deliver, notifications_for, notify_change
from .openlineage import IngestResult
from .store import Store, connect

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
    "ContractViolation",
    "DriftDetected",
    "DeliveryOutcome",
    "DeliveryStats",
    "EDGE_READING",
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
    "deliver",
    "export",
    "impact",
    "notifications_for",
    "notify_change",
    "openlineage",
    "register",
]
