"""API tokens with scopes, and who may assert what.

    info, secret = auth.create_token(store, "airflow-prod", ["write:lineage"])
    info, secret = auth.create_token(store, "fraud-scorer", ["assert"], origins=["ai_inferred"])
    principal = auth.authenticate(store, secret)        # per request, from `Bearer <secret>`
    auth.require(principal, "write:lineage")            # PermissionDenied when out of scope
    auth.require_origin(principal, "human_labelled")    # PermissionDenied for the scorer

Scopes (`SCOPES`): `read` (the read API), `write:lineage` (OpenLineage ingest), `assert`
(record assertions, of the origins the token lists: an inference job's token with origins
[ai_inferred] can never write human_labelled), `admin` (implies `read` and `write:lineage`,
plus the audit log; never `assert`, whose origins are always granted explicitly).

A secret is random (`secrets.token_urlsafe`, 256 bits, prefixed `lin_` so secret scanners
can spot it), shown once, and stored only as its SHA-256 hex digest. Creating and revoking
tokens are writes: each goes into the audit log in the same transaction, with its principal.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from ._access import SCOPES, Principal, TokenInfo
from ._errors import NotFound, PermissionDenied, ValidationError
from ._vocabulary import Origin
from .store.operations import OperationsStore

#: every secret starts with this, so a leaked one is recognisable (and scannable)
SECRET_PREFIX = "lin_"
#: the principal recorded for writes made without a token (the CLI, a script)
LOCAL = "local"
#: who requests act as when the server runs without authentication (`--no-auth`)
ANONYMOUS = Principal("anonymous", frozenset(SCOPES), frozenset(Origin))

__all__ = [
    "ANONYMOUS",
    "LOCAL",
    "SCOPES",
    "SECRET_PREFIX",
    "Principal",
    "TokenInfo",
    "authenticate",
    "create_token",
    "hash_secret",
    "list_tokens",
    "principal_of",
    "require",
    "require_origin",
    "revoke_token",
]


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest a secret is stored as."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(store: OperationsStore, name: str, scopes: Iterable[str],
                 origins: Iterable[Origin | str] = (), *,
                 principal: str | None = None) -> tuple[TokenInfo, str]:
    """Create a token; returns it and its secret. The secret is not stored and cannot be
    shown again: hand it to its user now.

    `principal` is who creates it, for the audit log (default `local`). Raises
    ValidationError (a bad name, an unknown scope or origin, `assert` without origins) or
    ConflictError (the name is taken).
    """
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    scope_list = [scopes] if isinstance(scopes, str) else list(scopes)
    origin_list = [origins] if isinstance(origins, str) else list(origins)
    detail = {"scopes": [str(s) for s in scope_list],
              "origins": [str(getattr(o, "value", o)) for o in origin_list]}
    with store.audited(principal or LOCAL, "token.create", name, detail):
        info = store.add_token(name, hash_secret(secret), scope_list, origin_list)
    return info, secret


def list_tokens(store: OperationsStore, *, include_revoked: bool = True) -> list[TokenInfo]:
    """Every token (never a secret), oldest first."""
    return store.tokens(include_revoked=include_revoked)


def revoke_token(store: OperationsStore, name: str, *, principal: str | None = None) -> TokenInfo:
    """Revoke a token from now on (its requests get 401); NotFound when there is none.
    The revocation is audited with `principal` (default `local`)."""
    with store.audited(principal or LOCAL, "token.revoke", name):
        return store.revoke_token(name)


def authenticate(store: OperationsStore, secret: str) -> Principal:
    """The principal a secret stands for, its use recorded (see `Store.use_token`).

    Raises NotFound when no token has this secret and PermissionDenied when its token is
    revoked. Neither message repeats the secret.
    """
    if not isinstance(secret, str) or not secret.strip():
        raise NotFound("no API token given")
    info = store.use_token(hash_secret(secret.strip()))
    if not info.active:
        raise PermissionDenied(f"API token '{info.name}' was revoked; ask for a new one")
    return principal_of(info)


def principal_of(info: TokenInfo) -> Principal:
    """The principal a stored token stands for."""
    return Principal(info.name, frozenset(info.scopes),
                     frozenset(Origin(o) for o in info.origins), info.id)


def require(principal: Principal, scope: str) -> None:
    """PermissionDenied unless `principal` holds `scope`."""
    if scope not in SCOPES:
        raise ValidationError(f"unknown scope {scope!r}; scopes are: {', '.join(SCOPES)}")
    if not principal.has(scope):
        held = ", ".join(sorted(principal.scopes)) or "none"
        raise PermissionDenied(f"'{principal.name}' lacks the {scope} scope (it has: {held}); "
                               f"use a token with {scope}")


def require_origin(principal: Principal, origin: Origin | str) -> None:
    """PermissionDenied unless `principal` may assert records of `origin`."""
    try:
        wanted = Origin(origin)
    except ValueError:
        raise ValidationError(f"unknown origin {origin!r}; origins are: "
                              f"{', '.join(o.value for o in Origin)}") from None
    require(principal, "assert")
    if not principal.may_assert(wanted):
        allowed = ", ".join(sorted(o.value for o in principal.origins)) or "none"
        raise PermissionDenied(f"'{principal.name}' may not assert {wanted.value} records "
                               f"(it may assert: {allowed})")
