"""The operations part of the Store interface: the store's lifecycle (close, `with`),
consumers' notification channels and the durable outbox, API tokens, the audit log, and
what copying a whole store needs beyond the graph and the records.

Features that deliver notifications or authenticate (`lineage.notify`'s deliverer,
`lineage.auth`) are written against `OperationsStore`.
"""

from __future__ import annotations

import difflib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from .._access import SCOPES, AuditEntry, TokenInfo
from .._errors import ConflictError, NotFound, ValidationError
from .._keys import check_key_length
from .._model import (
    OUTBOX_STATES,
    ChannelSpec,
    DeliveryOutcome,
    NotificationSpec,
    OutboxItem,
    OutboxState,
)
from .._vocabulary import Origin

#: a token's last_used_at is rewritten at most this often, so authenticating is a read
TOKEN_USE_RESOLUTION_SECONDS = 60.0

_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,99}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(eq=False)
class _PendingAudit:
    """An audit entry declared by `Store.audited`, waiting for the write it records."""

    store: OperationsStore
    entry: AuditEntry
    written: bool = False


#: the audit entries of the `audited` blocks the running code is inside (per thread/task)
_PENDING_AUDIT: ContextVar[tuple[_PendingAudit, ...]] = ContextVar("lineage_pending_audit",
                                                                   default=())


class OperationsStore(ABC):
    """A store's operations: its lifecycle, notification channels and outbox, API tokens,
    the audit log (and copying them)."""

    url: str

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    #: whether the database runs inside this process (SQLite): its writes cost this
    #: process's CPU rather than waiting on a server
    embedded: bool = False

    def shared_url(self) -> str | None:
        """The URL another process opens this same store by; None when only this process
        can reach it (an in-memory database)."""
        return self.url

    # ---------------------------------------------------------------- consumers' channels

    def channels(self, consumers: Iterable[str]) -> dict[str, list[ChannelSpec]]:
        """Stored notification channels by consumer key."""
        return self._channels(sorted(set(consumers)))

    # ---------------------------------------------------------------- notification outbox

    def enqueue(self, notifications: Iterable[NotificationSpec]) -> int:
        """Put notifications in the outbox, pending and due now, in one transaction; returns
        how many were added.

        A notification whose `idempotency_key` is already in the outbox (in any state), or
        repeats an earlier one of the same call, is skipped: enqueueing the same thing twice
        is a no-op. Each must name a channel its consumer has (by kind and target); when one
        does not, ValidationError is raised and nothing is written. To enqueue together with
        graph changes, put the notifications in `GraphBatch.notifications` and `apply` it.
        """
        specs = list(notifications)
        if any(not isinstance(n, NotificationSpec) for n in specs):
            raise ValidationError("enqueue takes NotificationSpec objects")
        unique: dict[str, NotificationSpec] = {}
        for n in specs:
            check_key_length(n.idempotency_key, "idempotency key")
            unique.setdefault(n.idempotency_key, n)
        return self._enqueue(list(unique.values())) if unique else 0

    def claim(self, limit: int = 100, lease_seconds: float = 60.0,
              now: datetime | None = None) -> list[OutboxItem]:
        """Lease up to `limit` due notifications for delivery, oldest due first.

        Due: pending, `next_attempt_at` <= now, and not leased (or the lease expired). Each
        claimed item is leased until now + `lease_seconds`; its `attempts` do not change
        (they count recorded outcomes: see `settle`). Concurrent claimers (processes,
        machines) never get the same item while its lease holds. Settle each item with
        `settle` (or `mark_delivered` / `mark_failed`) before the lease ends; an item left
        unsettled (its deliverer died) is claimed again.
        """
        if not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        if not lease_seconds > 0:
            raise ValidationError(f"lease_seconds must be positive, got {lease_seconds!r}")
        return self._claim(limit, float(lease_seconds), _utc(now))

    def settle(self, outcomes: Iterable[DeliveryOutcome], now: datetime | None = None) -> int:
        """Record how delivery attempts ended, all in one transaction; returns how many
        items changed.

        Each outcome counts one attempt: the item's `attempts` grow by one when the outcome
        changes it. Delivered items become `delivered` (from pending, or from dead after a
        redrive race). A failure of a pending item records the error and clears its lease;
        the item is retried at `retry_at`, or becomes `dead` when `retry_at` is None. A
        failure never undoes a delivery: outcomes for items no longer pending are ignored
        (and count no attempt). Deliverers call this as outcomes come, not once per claimed
        batch, so a crash loses only the outcomes of what was being sent.
        """
        items = list(outcomes)
        for outcome in items:
            if not isinstance(outcome, DeliveryOutcome) or outcome.id <= 0:
                raise ValidationError(f"settle takes DeliveryOutcome objects, got {outcome!r}")
        if not items:
            return 0
        items = [DeliveryOutcome(o.id, None if o.error is None else str(o.error)[:2000],
                                 None if o.retry_at is None else _utc(o.retry_at))
                 for o in items]
        return self._settle(items, _utc(now))

    def mark_delivered(self, ids: Iterable[int], now: datetime | None = None) -> int:
        """Mark outbox items delivered; returns how many changed (see `settle`)."""
        return self.settle([DeliveryOutcome(_outbox_id(i)) for i in ids], now)

    def mark_failed(self, id: int, error: str, next_attempt_at: datetime | None,
                    now: datetime | None = None) -> bool:
        """Record a failed attempt of a pending item: retried at `next_attempt_at`, or dead
        when it is None. Returns whether the item changed (see `settle`)."""
        if not isinstance(error, str) or not error:
            raise ValidationError("a failure needs an error message")
        return self.settle([DeliveryOutcome(_outbox_id(id), error, next_attempt_at)], now) > 0

    def outbox_status(self) -> dict[str, int]:
        """How many notifications the outbox holds in each state (every state present)."""
        counts = self._outbox_status()
        return {state: counts.get(state, 0) for state in OUTBOX_STATES}

    def outbox(self, state: OutboxState | None = None, limit: int = 100) -> list[OutboxItem]:
        """Notifications in the outbox, oldest first: all of them or those in `state`."""
        if state is not None and state not in OUTBOX_STATES:
            raise ValidationError(f"unknown outbox state '{state}'; states are "
                                  + ", ".join(OUTBOX_STATES))
        if not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        return self._outbox(state, limit)

    def redrive(self, ids: Iterable[int] | None = None, now: datetime | None = None) -> int:
        """Give dead notifications another round: back to pending, due now, attempts reset
        to 0 (the last error is kept until the next attempt). `ids` None: every dead one;
        ids that are not dead are left as they are. Returns how many were redriven."""
        wanted = None if ids is None else sorted({_outbox_id(i) for i in ids})
        if wanted == []:
            return 0
        return self._redrive(wanted, _utc(now))

    # ---------------------------------------------------------------- API tokens

    def add_token(self, name: str, token_hash: str, scopes: Iterable[str],
                  origins: Iterable[Origin | str] = (), now: datetime | None = None
                  ) -> TokenInfo:
        """Store a new API token: its name, the SHA-256 hex digest of its secret (never the
        secret), its scopes and the record origins it may assert. `lineage.auth.create_token`
        makes the secret and calls this.

        Names are 1-100 characters (letters, digits, `._@:/-`) and unique, revoked tokens
        included: ConflictError when the name is taken. Scopes come from
        `lineage.auth.SCOPES`; a token with the `assert` scope lists at least one origin, and
        only such a token lists origins (ValidationError otherwise).
        """
        if not isinstance(name, str) or not _TOKEN_NAME.match(name):
            raise ValidationError(f"a token name is 1-100 letters, digits or ._@:/- starting "
                                  f"with a letter or digit, got {name!r}")
        if not isinstance(token_hash, str) or not _SHA256_HEX.match(token_hash):
            raise ValidationError("a token is stored as the SHA-256 hex digest of its secret")
        scope_list = _scopes(scopes)
        origin_list = _origins(origins)
        if "assert" in scope_list and not origin_list:
            raise ValidationError("a token with the assert scope must list the origins it may "
                                  "assert (observed, human_labelled, ai_inferred)")
        if origin_list and "assert" not in scope_list:
            raise ValidationError("origins only apply to tokens with the assert scope; add it "
                                  "or drop the origins")
        if self._token(name, None) is not None:
            raise ConflictError(f"a token named '{name}' already exists (names stay taken "
                                "after revocation); choose another name")
        return self._add_token(name, token_hash, scope_list, origin_list, _utc(now))

    def tokens(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """Every stored token (without secrets), oldest first."""
        return self._tokens(bool(include_revoked))

    def token(self, name: str) -> TokenInfo:
        """The token named `name`; NotFound (with near names) otherwise."""
        found = self._token(name, None) if isinstance(name, str) else None
        if found is None:
            names = [t.name for t in self._tokens(True)]
            raise NotFound(f"no API token named {name!r}",
                           difflib.get_close_matches(str(name), names, n=3, cutoff=0.5))
        return found

    def use_token(self, token_hash: str, now: datetime | None = None) -> TokenInfo:
        """The token whose secret hashes to `token_hash`, its use recorded: `last_used_at`
        becomes now when it is older than TOKEN_USE_RESOLUTION_SECONDS, so most calls only
        read. NotFound when no token has this hash. A revoked token is returned untouched
        (with its `revoked_at`): refusing it is the caller's business."""
        if not isinstance(token_hash, str) or not _SHA256_HEX.match(token_hash):
            raise NotFound("no API token matches")
        found = self._token(None, token_hash)
        if found is None:
            raise NotFound("no API token matches")
        when = _utc(now)
        last = found.last_used_at
        if found.active and (last is None or
                             (when - last).total_seconds() >= TOKEN_USE_RESOLUTION_SECONDS):
            self._touch_token(found.id, when)
            found = TokenInfo(found.id, found.name, found.scopes, found.origins,
                              found.created_at, found.revoked_at, when)
        return found

    def revoke_token(self, name: str, now: datetime | None = None) -> TokenInfo:
        """Revoke the token named `name` from now on; NotFound when there is none. Revoking a
        revoked token changes nothing and returns it as it is."""
        found = self.token(name)
        if not found.active:
            return found
        revoked = self._revoke_token(found.id, _utc(now))
        return revoked or self.token(name)

    # ---------------------------------------------------------------- the audit log

    def audit(self, principal: str, action: str, target: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Append one entry to the audit log now, in its own transaction. To record a write
        in the very transaction that makes it, use `audited`."""
        self._audit([_audit_entry(principal, action, target, detail)])

    @contextmanager
    def audited(self, principal: str, action: str, target: str | None = None,
                detail: dict[str, Any] | None = None) -> Iterator[AuditEntry]:
        """Record the writes made inside the block (through this store, in this thread or
        task) in the audit log, in the same transaction as the first of them: the entry and
        the write commit together or not at all. A block that writes nothing still leaves its
        entry, written on its own when the block ends; a block that raises leaves none.

            with store.audited("airflow-prod", "ingest", "job:airflow/etl", {"events": 2}):
                openlineage.ingest(store, events, principal="airflow-prod")

        The block is given its entry: what it adds to `entry.detail` (plain JSON values)
        before the entry is written is written too; an `on_runs` callback of
        `Store.apply` still may (the entry is written after it).
        """
        pending = _PendingAudit(self, _audit_entry(principal, action, target, detail))
        token = _PENDING_AUDIT.set((*_PENDING_AUDIT.get(), pending))
        try:
            yield pending.entry
        finally:
            _PENDING_AUDIT.reset(token)
        if not pending.written:
            self._audit([pending.entry])
            pending.written = True

    def audit_log(self, limit: int = 100, since: datetime | None = None) -> list[AuditEntry]:
        """The newest `limit` audit entries (at or after `since`, when given), newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValidationError(f"limit must be a positive whole number, got {limit!r}")
        return self._audit_log(limit, None if since is None else _utc(since))

    def _pending_audit(self) -> list[_PendingAudit]:
        """The entries of the enclosing `audited` blocks still waiting for a write through
        this store. A backend writes them in its next write transaction and, once that has
        committed, marks them `written`."""
        return [p for p in _PENDING_AUDIT.get() if p.store is self and not p.written]

    # ---------------------------------------------------------------- copying a whole store
    # What `lineage.copy_store` needs beyond the methods above: tokens with their hashes, and
    # writes that keep the times and states of copied audit entries and outbox items.

    def tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]:
        """Every token (revoked ones too), oldest first, with the SHA-256 hex digest of its
        secret (never the secret itself): what another store needs to accept it."""
        return self._tokens_with_hashes()

    def import_tokens(self, tokens: Iterable[tuple[TokenInfo, str]]) -> int:
        """Store tokens copied from another store as they were (name, hash, scopes,
        origins, created/revoked/last-used times); a token whose name is already stored
        is skipped. One transaction; returns how many were added."""
        items = list(tokens)
        for info, token_hash in items:
            if not isinstance(info, TokenInfo) or not _SHA256_HEX.match(str(token_hash)):
                raise ValidationError("import_tokens takes (TokenInfo, SHA-256 hex) pairs")
        return self._import_tokens(items) if items else 0

    def import_audit(self, entries: Iterable[AuditEntry]) -> int:
        """Append audit entries copied from another store, each with its own `at`; an
        entry equal to a stored one (at, principal, action, target, detail) is skipped.
        One transaction; returns how many were added."""
        items = list(entries)
        if any(not isinstance(e, AuditEntry) or e.at is None for e in items):
            raise ValidationError("import_audit takes AuditEntry objects with their `at`")
        return self._import_audit(items) if items else 0

    def import_outbox(self, items: Iterable[OutboxItem]) -> int:
        """Put outbox items copied from another store in as they were (state, attempts,
        times, last error, lease); an item whose idempotency key is stored is skipped.
        Each item's consumer must have its channel (kind and target), else ValidationError
        and nothing is written. One transaction; returns how many were added."""
        given = list(items)
        if any(not isinstance(i, OutboxItem) for i in given):
            raise ValidationError("import_outbox takes OutboxItem objects")
        return self._import_outbox(given) if given else 0

    # ---------------------------------------------------------------- backend hooks

    @abstractmethod
    def _channels(self, consumers: list[str]) -> dict[str, list[ChannelSpec]]: ...

    @abstractmethod
    def _enqueue(self, notifications: list[NotificationSpec]) -> int: ...

    @abstractmethod
    def _claim(self, limit: int, lease_seconds: float, now: datetime) -> list[OutboxItem]:
        """Atomic against concurrent claimers: no item is leased to two of them at once."""

    @abstractmethod
    def _settle(self, outcomes: list[DeliveryOutcome], now: datetime) -> int: ...

    @abstractmethod
    def _outbox_status(self) -> dict[str, int]: ...

    @abstractmethod
    def _outbox(self, state: OutboxState | None, limit: int) -> list[OutboxItem]: ...

    @abstractmethod
    def _redrive(self, ids: list[int] | None, now: datetime) -> int: ...

    @abstractmethod
    def _add_token(self, name: str, token_hash: str, scopes: list[str], origins: list[str],
                   now: datetime) -> TokenInfo: ...

    @abstractmethod
    def _tokens(self, include_revoked: bool) -> list[TokenInfo]: ...

    @abstractmethod
    def _token(self, name: str | None, token_hash: str | None) -> TokenInfo | None:
        """The token with this name, or else with this hash; None when there is none."""

    @abstractmethod
    def _touch_token(self, token_id: int, now: datetime) -> None:
        """Set last_used_at; never joins a pending audit entry (it is not a write to audit)."""

    @abstractmethod
    def _revoke_token(self, token_id: int, now: datetime) -> TokenInfo | None: ...

    @abstractmethod
    def _audit(self, entries: list[AuditEntry]) -> None:
        """Append entries in one transaction of their own, `at` = now."""

    @abstractmethod
    def _audit_log(self, limit: int, since: datetime | None) -> list[AuditEntry]: ...

    @abstractmethod
    def _tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]: ...

    @abstractmethod
    def _import_tokens(self, tokens: list[tuple[TokenInfo, str]]) -> int: ...

    @abstractmethod
    def _import_audit(self, entries: list[AuditEntry]) -> int: ...

    @abstractmethod
    def _import_outbox(self, items: list[OutboxItem]) -> int: ...


def _utc(value: datetime | None) -> datetime:
    """`value` (or now) as an aware UTC time; a naive time is refused, not guessed."""
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"times must be timezone-aware datetimes, got {value!r}")
    return value.astimezone(UTC)


def _outbox_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"outbox ids are positive whole numbers, got {value!r}")
    return value


def _scopes(scopes: Iterable[str]) -> list[str]:
    given = [scopes] if isinstance(scopes, str) else list(scopes)
    unknown = [s for s in given if s not in SCOPES]
    if unknown or not given:
        what = f"unknown scope {unknown[0]!r}" if unknown else "a token needs at least one scope"
        raise ValidationError(f"{what}; scopes are: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in given]


def _origins(origins: Iterable[Origin | str]) -> list[str]:
    given = [origins] if isinstance(origins, str) else list(origins)
    result = []
    for origin in given:
        try:
            result.append(Origin(origin).value)
        except ValueError:
            raise ValidationError(f"unknown origin {origin!r}; origins are: "
                                  f"{', '.join(o.value for o in Origin)}") from None
    return [o.value for o in Origin if o.value in result]


def _audit_entry(principal: str, action: str, target: str | None,
                 detail: dict[str, Any] | None) -> AuditEntry:
    for what, value, longest in (("principal", principal, 200), ("action", action, 100)):
        if not isinstance(value, str) or not value.strip() or len(value) > longest:
            raise ValidationError(f"an audit {what} is a non-empty string of at most {longest} "
                                  f"characters, got {value!r}")
    if target is not None and (not isinstance(target, str) or len(target) > 2000):
        raise ValidationError("an audit target is a string of at most 2000 characters")
    try:  # stored in a JSON column: say so now, not in the middle of the write it records
        plain = json.loads(json.dumps(detail or {}, allow_nan=False, default=str))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"audit detail must be plain JSON: {exc}") from None
    if not isinstance(plain, dict):
        raise ValidationError("audit detail must be a mapping")
    return AuditEntry(principal=principal, action=action, target=target, detail=plain)
