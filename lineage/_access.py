"""Access control types: API tokens, the principal a request acts as, audit log entries.

Plain values, shared by the Store interface (which stores tokens and the audit log) and
`lineage.auth` (which issues and checks tokens). No SQL types here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._vocabulary import Origin

#: Scopes a token can carry:
#:   read           the read API (nodes, graph, impact, provenance, the training check)
#:   write:lineage  OpenLineage ingest
#:   assert         record assertions (tags), of the origins the token lists only
#:   admin          everything `read` and `write:lineage` allow, plus the audit log and
#:                  token management; it does NOT imply `assert` (origins are always explicit)
SCOPES: tuple[str, ...] = ("read", "write:lineage", "assert", "admin")
#: what `admin` implies besides itself
ADMIN_IMPLIES: frozenset[str] = frozenset({"read", "write:lineage"})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as stored, without its secret (which is shown once, at creation, and
    kept only as a SHA-256 hash)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    origins: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes),
                "origins": list(self.origins), "active": self.active,
                "created_at": _iso(self.created_at), "revoked_at": _iso(self.revoked_at),
                "last_used_at": _iso(self.last_used_at)}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a token's name, its scopes and the origins it may assert."""

    name: str
    scopes: frozenset[str]
    origins: frozenset[Origin] = field(default_factory=frozenset)
    token_id: int | None = None

    def has(self, scope: str) -> bool:
        """Whether the principal holds `scope` (`admin` implies `read` and `write:lineage`)."""
        return scope in self.scopes or ("admin" in self.scopes and scope in ADMIN_IMPLIES)

    def may_assert(self, origin: Origin | str) -> bool:
        """Whether the principal may record assertions of `origin`."""
        try:
            wanted = Origin(origin)
        except ValueError:
            return False
        return "assert" in self.scopes and wanted in self.origins

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scopes": sorted(self.scopes),
                "origins": sorted(o.value for o in self.origins)}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One write, as the audit log keeps it: who (`principal`), what (`action`, e.g.
    `ingest`, `tag`, `token.create`), on what (`target`), with what (`detail`), when (`at`,
    set when written)."""

    principal: str
    action: str
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": _iso(self.at), "principal": self.principal,
                "action": self.action, "target": self.target, "detail": self.detail}
