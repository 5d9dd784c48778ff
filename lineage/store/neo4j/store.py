"""The Neo4j store: the graph in Neo4j (Cypher through the official driver), every other
concern in a SQL store beside it. The design notes are in this package's docstring.

Every driver exception is translated here, at the boundary, into a `LineageError`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress, count, islice
from operator import itemgetter, not_
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from ..._access import AuditEntry, TokenInfo
from ..._errors import ConflictError, LineageError, NotFound, StoreError, ValidationError
from ..._keys import tail
from ..._model import (
    ApplyResult,
    AssertionArrays,
    AssertionBatch,
    ChannelSpec,
    Closure,
    DeliveryOutcome,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRef,
    NotificationSpec,
    OutboxItem,
    OutboxState,
    Reached,
    Subgraph,
    SubgraphEdge,
    WalkTable,
)
from ..._vocabulary import EdgeKind, NodeKind
from ..base import MergeEdgeProperties, MergeProperties, Store
from ..sql import SqlStore
from ..sql.graph import _canonical, _json_text
from ..sql.light import sqlite_file

if TYPE_CHECKING:
    # a read needs neither: polars only for a bulk load, numpy only for record assertions
    import numpy as np
    import polars as pl

    from .._bulk import BulkInput

#: the version of the graph's schema (constraints, indexes, property layout) this release
#: writes; `_MIGRATIONS[v]` brings a graph from version v - 1 to v
SCHEMA_VERSION = 3
#: where the records live when the URL names no `records=` and the graph was never paired
#: with a records store: a SQLite file in the working directory (recorded as an absolute
#: path on the graph's schema node when the store is created, see `_paired_records`)
DEFAULT_RECORDS_URL = "sqlite:///lineage-records.db"
#: the label every lineage node carries (beside its kind's label, e.g. `Field`)
NODE = "LineageNode"
_VERSION_NODE = "LineageSchema"

T = TypeVar("T")
#: tries of a write that Neo4j failed transiently (deadlock detected), backing off
_ATTEMPTS = 5
#: a bulk load of at most this many nodes + edges is one transaction (see `_bulk_load`)
ONE_TRANSACTION_ROWS = 50_000
#: rows handed to one UNWIND (bounded also by a bulk load's `chunk_size`)
_UNWIND = 10_000
#: sessions a bulk load of several transactions writes its node batches through at once
#: (one transaction runs on one server core). 1: two writers gained nothing measurable on
#: the 2-core bench machine (10^5: 11.2-11.8 s vs 10.0-12.4 s, ~15% more server CPU);
#: a server with idle cores may gain (bench/NOTES-2026-12.md, "Neo4j, round 4")
BULK_WRITERS = 1

def _run_keys_with_job(store: Neo4jStore) -> None:
    """Version 2: runs keyed ``run:{job}/{runId}`` instead of ``run:{runId}`` (what the SQL
    migration 0006 does; the rule is `lineage.store._runkeys`), in one transaction."""
    from .._runkeys import REFERRING_KINDS, new_run_key, rewritten, rtail

    with store._tx("migrating run keys") as tx:
        moved: dict[str, str] = {}
        for r in tx.run(f"MATCH (n:{NODE} {{kind: 'run'}}) WHERE NOT n.key CONTAINS '/' "
                        "RETURN n.key AS key, n.properties AS p"):
            new = new_run_key(r["key"], _props(r["p"]))
            if new is not None:
                moved[r["key"]] = new
        if not moved:
            return
        rows = [{"old": old, "new": new, "t": rtail(new)} for old, new in moved.items()]
        for chunk in _chunks(rows, _UNWIND):
            tx.run(f"UNWIND $rows AS row MATCH (n:{NODE} {{key: row.old}}) "
                   "SET n.key = row.new, n.rtail = row.t", rows=chunk)
        changed = []
        for r in tx.run(f"MATCH (n:{NODE}) WHERE n.kind IN $kinds AND n.properties "
                        "CONTAINS '\"run:' RETURN n.key AS key, n.properties AS p",
                        kinds=list(REFERRING_KINDS)):
            props = rewritten(_props(r["p"]), moved)
            if props is not None:
                changed.append({"key": r["key"], "p": _json_text(_canonical(props))})
        for chunk in _chunks(changed, _UNWIND):
            tx.run(f"UNWIND $rows AS row MATCH (n:{NODE} {{key: row.key}}) "
                   "SET n.properties = row.p", rows=chunk)


def _system_integer_width(store: Neo4jStore) -> None:
    """Version 3: a system's INTEGER re-read in its dialect (``int32`` from PostgreSQL or
    Spark, where the graph held ``int64``): field nodes with a `source_type`, their datasets'
    versions' snapshots and dbt versions' hash keys, in place (what the SQL migration 0007
    does; the rules are `lineage.store._retype`), in one transaction. Contracts live in the
    records store, whose own migration 0007 re-reads them."""
    from ..._keys import field_key, fields_prefix
    from .._retype import dbt_version_key, field_prefixes, retyped_field, retyped_schema

    with store._tx("re-reading the types of system spellings") as tx:
        moved: dict[str, tuple[str, str]] = {}
        changed = []
        for r in tx.run(f"MATCH (n:{NODE} {{kind: 'field'}}) WHERE n.properties CONTAINS "
                        "'\"source_type\"' RETURN n.key AS key, n.namespace AS ns, "
                        "n.properties AS p"):
            props = _props(r["p"])
            new = retyped_field(props, r["ns"])
            if new is not None:
                moved[r["key"]] = (props["type"], new["type"])
                changed.append({"key": r["key"], "p": _json_text(_canonical(new))})
        for chunk in _chunks(changed, _UNWIND):
            tx.run(f"UNWIND $rows AS row MATCH (n:{NODE} {{key: row.key}}) "
                   "SET n.properties = row.p", rows=chunk)
        if not moved:
            return
        versions = list(tx.run(
            f"MATCH (v:{NODE} {{kind: 'dataset_version'}})-[:{_REL_TYPE[EdgeKind.VERSION_OF]}]->"
            f"(d:{NODE} {{kind: 'dataset'}}) WHERE v.schema IS NOT NULL AND d.namespace IS NOT "
            "NULL RETURN v.key AS key, v.properties AS p, v.schema AS s, d.namespace AS ns, "
            "d.name AS name, d.key AS dkey ORDER BY v.key"))
        prefixes = field_prefixes(moved)
        taken: set[str] = set()
        for r in versions:
            if fields_prefix(r["dkey"]) not in prefixes:
                continue  # none of its dataset's fields was re-read
            fields = _schema_of(r["s"])
            spellings = {str(f.get("name")): moved[k] for f in fields
                         if (k := field_key(r["ns"], r["name"], str(f.get("name")))) in moved}
            schema = retyped_schema(fields, spellings) if spellings else None
            if schema is None:
                continue
            tx.run(f"MATCH (n:{NODE} {{key: $key}}) SET n.schema = $s", key=r["key"],
                   s=json.dumps(schema, sort_keys=True))
            props = _props(r["p"])
            rekey = dbt_version_key(r["key"], props, r["ns"], r["name"], schema)
            if rekey is None:
                continue
            new_key, digest = rekey
            if new_key in taken or tx.run(f"MATCH (n:{NODE} {{key: $k}}) RETURN n.key",
                                          k=new_key).single() is not None:
                continue  # two versions that now read alike: each keeps its key
            taken.add(new_key)
            tx.run(f"MATCH (n:{NODE} {{key: $key}}) SET n.key = $k, n.rtail = $t, "
                   "n.name = $n, n.properties = $p", key=r["key"], k=new_key,
                   t=tail(new_key)[::-1], n=f"{r['name']}@{digest}",
                   p=_json_text(_canonical({**props, "version": digest})))


#: per version, Cypher schema statements (each idempotent) or a data step (a function of
#: the store, one transaction)
_MIGRATIONS: dict[int, list[str | Callable[[Neo4jStore], None]]] = {
    1: [
        f"CREATE CONSTRAINT lineage_node_key IF NOT EXISTS FOR (n:{NODE}) REQUIRE n.key IS UNIQUE",
        f"CREATE INDEX lineage_node_rtail IF NOT EXISTS FOR (n:{NODE}) ON (n.rtail)",
        f"CREATE INDEX lineage_node_kind IF NOT EXISTS FOR (n:{NODE}) ON (n.kind)",
        f"CREATE CONSTRAINT lineage_schema_id IF NOT EXISTS FOR (s:{_VERSION_NODE}) "
        "REQUIRE s.id IS UNIQUE",
    ],
    2: [_run_keys_with_job],
    3: [_system_integer_width],
}

# Seek hints on every lookup by key. Neo4j caches a query's plan, and a plan made while the
# database was small (right after connect, before a bulk load) scanned the whole key index
# for each key (620,000 index rows for 62 keys at 10^4 nodes: 1 s per impact) where a seek
# finds each node at once.
_SEEK_N = f"USING INDEX SEEK n:{NODE}(key)"
_SEEK_A = f"USING INDEX SEEK a:{NODE}(key)"
_SEEK_B = f"USING INDEX SEEK b:{NODE}(key)"

_LABEL = {k: "".join(part.title() for part in k.value.split("_")) for k in NodeKind}
_REL_TYPE = {k: k.value.upper() for k in EdgeKind}
_EDGE_OF_TYPE = {t: k for k, t in _REL_TYPE.items()}
_KIND_VALUE_OF_TYPE = {t: k.value for k, t in _REL_TYPE.items()}  # per walked row: no enum
#: relationship types in the order of their edge kinds' values (the walk's tie-break)
_TYPES_BY_RANK = [_REL_TYPE[k] for k in sorted(EdgeKind, key=lambda k: k.value)]
_TYPE_RANK = {t: i for i, t in enumerate(_TYPES_BY_RANK)}
_KIND_VALUES_BY_RANK = [_KIND_VALUE_OF_TYPE[t] for t in _TYPES_BY_RANK]
assert len(_TYPES_BY_RANK) < 32  # a walk codes (frontier index, kind rank) as i * 32 + rank
#: the `lineage.walk` procedure this release calls (tests/neo4j/.../Walk.java), as the
#: server lists it
_WALK_SIGNATURE = (
    "lineage.walk(start :: STRING, outgoing :: BOOLEAN, maxDepth :: INTEGER, types :: "
    "LIST<STRING>, skipDeleted :: BOOLEAN) :: (keys :: LIST<STRING>, kinds :: LIST<STRING>, "
    "names :: LIST<STRING>, depths :: LIST<INTEGER>, parents :: LIST<INTEGER>, ranks :: "
    "LIST<INTEGER>, ids :: LIST<STRING>, truncated :: BOOLEAN, retiredKeys :: LIST<STRING>, "
    "retiredStates :: LIST<STRING>)")
#: `WalkTable.derived` entry of a Neo4j walk: (the start's element id, the rows' element ids)
_WALK_IDS = "neo4j_ids"
#: `WalkTable.derived` entry: what `Neo4jStore._walk_datasets` found
_WALK_DATASETS = "neo4j_datasets"
#: element ids handed to one `_WALK_DATASETS_QUERY` (a hub's 10^5 fields: one or two)
_FIELDS_A_QUERY = 100_000
_FEEDS = "READ|TRAINED_ON|DERIVED_FROM"
assert all(_REL_TYPE[k] in _FEEDS.split("|") for k in (EdgeKind.READ, EdgeKind.TRAINED_ON,
                                                         EdgeKind.DERIVED_FROM))
# Per dataset holding one of the fields `$ids` (element ids): the fields' positions in
# `$ids`, the dataset, whether it feeds something as a whole, and its consumers with
# their properties when these mention lifecycle ('' otherwise); only datasets that feed
# or are consumed come back (a hub's 10^4 others never leave the server).
_WALK_DATASETS_QUERY = (
    "UNWIND range(0, size($ids) - 1) AS i MATCH (f) WHERE elementId(f) = $ids[i] "
    f"MATCH (f)<-[:{_REL_TYPE[EdgeKind.HAS_FIELD]}]-(d:{NODE}) WITH d, collect(i) AS at "
    f"WITH d, at, [(d)-[:{_REL_TYPE[EdgeKind.CONSUMES]}]->(c:{NODE}) | [c.key, c.name, "
    "CASE WHEN c.properties CONTAINS 'lifecycle' THEN c.properties ELSE '' END]] AS users, "
    f"(EXISTS {{ (d)-[:{_FEEDS}]->() }} OR EXISTS {{ (d)<-[:{_REL_TYPE[EdgeKind.VERSION_OF]}]-()"
    f"-[:{_FEEDS}]->() }}) AS feeds "
    "WHERE feeds OR size(users) > 0 "
    "RETURN collect([at, d.key, d.kind, d.name, feeds, users]) AS rows")
_KIND_OF = {k.value: k for k in NodeKind}


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _props(text: Any) -> dict[str, Any]:
    if not text or text == "{}":
        return {}
    return dict(json.loads(text))


def _native(value: Any) -> datetime | None:
    return None if value is None else value.to_native()


def _picked(values: list[T], at: list[int]) -> list[T]:
    """`[values[i] for i in at]`, the loop in C (a hub's walk picks 10^5 values)."""
    if len(at) > 1:
        return list(itemgetter(*at)(values))
    return [values[i] for i in at]


def _live(fresh: list[int], keys: list[str], states: list[str], cut: set[str],
          retired: dict[str, str]) -> list[int]:
    """Of a level's new far nodes (indexes `fresh` into its columns), those not deleted;
    the deleted ones join `cut`, they and the deprecated ones `retired` (by key). `states`:
    each far node's properties text when it mentions lifecycle, else ''."""
    live = []
    for j in fresh:
        text = states[j]
        state = _props(text).get("lifecycle") if text else None
        if state in ("deleted", "deprecated"):
            retired[keys[j]] = state
            if state == "deleted":
                cut.add(keys[j])
                continue
        live.append(j)
    return live


def parse_url(url: str) -> tuple[str, tuple[str, str] | None, str | None, str]:
    """(the driver's URI, auth or None, database or None, the records store's URL) of a
    `neo4j://` / `bolt://` store URL: ``bolt://user:password@host:7687?records=URL&database=
    name``. `records` (percent-encode it when it has its own `?` or `&`) defaults to
    DEFAULT_RECORDS_URL; no user means the server runs without authentication."""
    parts = urlsplit(url)
    # not parse_qsl: it reads "+" as a space, and records=postgresql+psycopg://... has one
    params = {unquote(name): unquote(value) for name, _, value in
              (item.partition("=") for item in parts.query.split("&") if item)}
    unknown = sorted(set(params) - {"records", "database"})
    if unknown:
        raise ValidationError(f"unknown parameter(s) {', '.join(unknown)} in the Neo4j URL; "
                              "it takes records=<SQL store URL> and database=<name>")
    host = parts.hostname or "localhost"
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    auth = None
    if parts.username:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    records = params.get("records") or DEFAULT_RECORDS_URL
    if records.split("://", 1)[0].split("+", 1)[0] not in ("sqlite", "postgresql", "postgres"):
        raise ValidationError(f"records={records!r}: the records of a Neo4j store live in a "
                              "SQL store; give a sqlite:/// or postgresql:// URL")
    return (urlunsplit((parts.scheme, netloc, "", "", "")), auth,
            params.get("database") or None, records)


def _records_given(url: str) -> bool:
    """Whether a Neo4j store URL names its records store (`records=`)."""
    return any(item.partition("=")[0] == "records" and item.partition("=")[2]
               for item in urlsplit(url).query.split("&"))


def _safe(url: str) -> str:
    """The URL without passwords (its own and the records URL's), for messages."""
    return _PASSWORD.sub(r"\1***@", unquote(url))


_PASSWORD = re.compile(r"(://[^/:@?&]*:)[^@/?&]*@")


@dataclass
class _WalkDatasets:
    """What `Neo4jStore._walk_datasets` found for a walk whose rows have element ids `ids`:
    the datasets feeding something as a whole, each with its nearest field's row (-1: the
    start), and the consumed ones: (their fields' rows, the dataset, its consumers)."""

    ids: list[str]
    feeding: list[tuple[NodeRef, int]] = field(default_factory=list)
    consumed: list[tuple[list[int], NodeRef, list[NodeRef]]] = field(default_factory=list)


class _RecordsStore(SqlStore):
    """The SQL store beside the graph. Its node table holds a stub (key, kind, name) of each
    node a record refers to: its tables reference nodes by id. The audit entries of the
    Neo4j store's `audited` blocks join its write transactions."""

    def __init__(self, url: str, owner: Neo4jStore, create: bool) -> None:
        super().__init__(url, create=create)
        self.owner = owner

    def _pending_audit(self) -> list[Any]:
        return self.owner._pending_audit()


class Neo4jStore(Store):
    """A Store whose graph lives in Neo4j and whose records live in a SQL store beside it."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Connect, and create or migrate the graph's schema; with `create=False` (what
        read-only commands use) a graph that holds no lineage store yet (no schema-version
        node) is left alone: NotFound says so and how to make one."""
        from neo4j import GraphDatabase  # imported here: only Neo4j users pay for it

        self.url = url
        uri, auth, self.database, records_url = parse_url(url)
        #: walk with the server's `lineage.walk` procedure (tests/neo4j/: the launcher
        #: installs it) when the server has it: None asks the server on the first walk;
        #: False keeps the Cypher walk (the same answers; tests compare the two)
        self.server_walk: bool | None = None
        try:
            # Neo4j warns of each relationship type or property a query names that the graph
            # holds none of yet (a graph without models has no TRAINED_ON): every walk level
            # drew ~6 such warnings, which the driver logged to the user's stderr, and each
            # cost the client a log record
            self.driver = GraphDatabase.driver(
                uri, auth=auth, notifications_disabled_classifications=["UNRECOGNIZED"])
        except Exception as exc:  # the driver refuses a malformed URI with ValueError & co
            raise ValidationError(f"cannot use the Neo4j URL {_safe(url)}: {exc}") from exc
        try:
            with self._errors("connecting"):
                self.driver.verify_connectivity()
                self._migrate(create)
                records_url = self._paired_records(records_url, _records_given(url), create)
            self.records = _RecordsStore(records_url, self, create)
        except BaseException:
            self.driver.close()
            raise

    def close(self) -> None:
        self.driver.close()
        if hasattr(self, "records"):
            self.records.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_safe(self.url)!r})"

    # ---------------------------------------------------------------- the boundary

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate the driver's exceptions raised inside into LineageErrors."""
        from neo4j import exceptions as neo

        try:
            yield
        except LineageError:
            raise
        except neo.ConstraintError as exc:
            raise ConflictError(f"{what}: the write conflicts with stored data: "
                                f"{exc.message}") from exc
        except (neo.ServiceUnavailable, neo.SessionExpired) as exc:
            raise StoreError(f"{what}: Neo4j at {_safe(self.url)} is unreachable ({exc}); "
                             "check that the server runs and the URL is right") from exc
        except neo.AuthError as exc:
            raise StoreError(f"{what}: Neo4j at {_safe(self.url)} refused the credentials "
                             f"({exc.message}); give bolt://user:password@host:port") from exc
        except (neo.Neo4jError, neo.DriverError) as exc:
            raise StoreError(f"{what} failed on {self!r}: {exc}") from exc

    def _query(self, cypher: str, **params: Any) -> list[Any]:
        """One auto-committed read query's records."""
        from neo4j import RoutingControl

        with self._errors("reading"):
            return list(self.driver.execute_query(cypher, params, database_=self.database,
                                                  routing_=RoutingControl.READ).records)

    @contextmanager
    def _tx(self, what: str = "writing") -> Iterator[Any]:
        """One explicit transaction: committed when the block ends, rolled back on any
        error (so a failed write leaves the graph exactly as it was)."""
        with self._errors(what):
            with self.driver.session(database=self.database) as session:
                tx = session.begin_transaction()
                try:
                    yield tx
                except BaseException:
                    tx.rollback()
                    raise
                tx.commit()

    def _paired_records(self, records_url: str, given: bool, create: bool) -> str:
        """The records store to open. A graph remembers the SQLite records file it was first
        opened with (absolute path, property `records` of its schema node), and a URL that
        names no `records=` opens that one: without it, the default file is relative to
        the working directory, so `lineage` run from another directory would silently see
        other consumers, outbox and audit beside the same graph. A PostgreSQL records store
        is never remembered (its URL may hold a password): name it in every URL."""
        paired = self._paired
        if paired and not given:
            path = sqlite_file(paired)
            if path is not None and not Path(path).exists():
                raise StoreError(
                    f"the Neo4j graph at {_safe(self.url)} keeps its records in {paired}, "
                    "which is not on this machine: name the records store in the URL "
                    "(?records=sqlite:///PATH, or records=postgresql://... for one that a "
                    "team shares)")
            return str(paired)
        path = sqlite_file(records_url)
        if path is None:
            return records_url
        absolute = f"sqlite:///{Path(path).resolve()}"
        if not paired and create:
            self.driver.execute_query(
                f"MATCH (s:{_VERSION_NODE} {{id: 'lineage'}}) WHERE s.records IS NULL "
                "SET s.records = $r", r=absolute, database_=self.database)
        return absolute

    def _migrate(self, create: bool = True) -> None:
        """Bring the graph's schema to SCHEMA_VERSION, recorded on a `LineageSchema` node.
        Schema statements run outside data transactions (Neo4j forbids mixing them); each
        is idempotent, so two processes migrating at once both succeed. With `create`
        False, a graph never set up by lineage is NotFound and left untouched."""
        found = self.driver.execute_query(
            f"MATCH (s:{_VERSION_NODE} {{id: 'lineage'}}) RETURN s.version AS v, "
            "s.records AS r",
            database_=self.database).records
        current = int(found[0]["v"]) if found else 0
        #: the records file this graph was paired with (see _paired_records), if any
        self._paired = str(found[0]["r"]) if found and found[0]["r"] else None
        if not found and not create:
            raise NotFound(f"no store at {_safe(self.url)}: run `lineage register MANIFEST` "
                           "(or `lineage init`) to create one, or point --store / LINEAGE_URL "
                           "at an existing one")
        if current > SCHEMA_VERSION:
            raise StoreError(f"the Neo4j graph at {_safe(self.url)} has schema version "
                             f"{current}, newer than this release's {SCHEMA_VERSION}; "
                             "upgrade lineage")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                if callable(statement):
                    statement(self)
                else:
                    self.driver.execute_query(statement, database_=self.database)
            self.driver.execute_query(
                f"MERGE (s:{_VERSION_NODE} {{id: 'lineage'}}) SET s.version = $v, "
                "s.migrated_at = datetime()", {"v": version}, database_=self.database)

    # ---------------------------------------------------------------- writes

    def _retrying(self, write: Callable[[], T]) -> T:
        """Run `write` (one transaction), again when Neo4j reports a transient failure (a
        deadlock between concurrent writers, detected while the graph statements run, so
        before the SQL part has written anything): the transaction was rolled back whole."""
        from neo4j.exceptions import TransientError

        for attempt in range(_ATTEMPTS):
            try:
                return write()
            except StoreError as exc:
                if not isinstance(exc.__cause__, TransientError) or attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _apply(self, batch: GraphBatch, merge: MergeProperties | None,
               merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        records = self._records_part(batch)
        return self._retrying(lambda: self._apply_once(batch, merge, merge_edges, records))

    def _apply_once(self, batch: GraphBatch, merge: MergeProperties | None,
                    merge_edges: MergeEdgeProperties | None,
                    records: tuple[GraphBatch, int] | None) -> ApplyResult:
        with self._tx() as tx:
            result = _apply_graph(tx, batch, merge, merge_edges)
            # The SQL side commits inside the open graph transaction: a failure of either
            # write (a bad notification, a constraint) rolls the graph back; see the notes.
            if records is not None or self._pending_audit():
                part, stubs = records if records is not None else (GraphBatch(), 0)
                done = self.records._apply(part, None)
                stub_unchanged = stubs - done.nodes_created - done.nodes_updated
                result = ApplyResult(
                    nodes_created=result.nodes_created, nodes_updated=result.nodes_updated,
                    edges_created=result.edges_created, edges_updated=result.edges_updated,
                    schemas_written=result.schemas_written,
                    consumers_updated=done.consumers_updated,
                    unchanged=result.unchanged + done.unchanged - stub_unchanged,
                    notifications_enqueued=done.notifications_enqueued,
                    edges_removed=result.edges_removed)
        return result

    def _records_part(self, batch: GraphBatch) -> tuple[GraphBatch, int] | None:
        """The part of `batch` the SQL side stores (contracts, channels, notifications) with
        stubs of the nodes they name; None when there is none."""
        if not (batch.contracts or batch.channels or batch.notifications):
            return None
        keys = set(batch.contracts) | set(batch.channels) | {n.consumer for n in
                                                              batch.notifications}
        keys |= {asset for by_asset in batch.contracts.values() for asset in by_asset}
        part = GraphBatch(contracts=batch.contracts, channels=batch.channels,
                          notifications=batch.notifications)
        self._add_stubs(part, keys, batch)
        return part, len(part.nodes)

    def _add_stubs(self, part: GraphBatch, keys: set[str], batch: GraphBatch | None) -> None:
        given = batch.nodes if batch is not None else {}
        outside = sorted(k for k in keys if k not in given)
        stored = self._refs(outside)
        for key in sorted(keys):
            spec = given.get(key)
            if spec is not None:
                part.nodes[key] = Node(key=key, kind=spec.kind, name=spec.name,
                                       namespace=spec.namespace)
            elif key in stored:
                ref = stored[key]
                part.nodes[key] = Node(key=key, kind=ref.kind, name=ref.name)

    def _refs(self, keys: list[str]) -> dict[str, NodeRef]:
        found: dict[str, NodeRef] = {}
        for chunk in _chunks(keys, _UNWIND):
            for r in self._query(f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} "
                                 "RETURN n.key AS key, n.kind AS kind, n.name AS name",
                                 keys=chunk):
                found[r["key"]] = NodeRef(r["key"], _KIND_OF[r["kind"]], r["name"])
        return found

    def _bulk_load(self, load: BulkInput, chunk_size: int) -> tuple[int, int]:
        """One transaction up to ONE_TRANSACTION_ROWS rows. A larger load would outgrow
        Neo4j's transaction memory (a 10^5-node load needed more than the server's 700 MB);
        it is checked whole first (endpoints, repeats: a ValidationError writes nothing),
        then written in transactions of one UNWIND each. Should the server fail midway,
        running the same load again completes it: stored nodes and edges are skipped."""
        nodes, edges = load.nodes, load.edges
        _check_no_repeated_edges(edges)
        if nodes.height + edges.height <= ONE_TRANSACTION_ROWS:
            with self._tx("bulk loading") as tx:
                result = _load(lambda query, **params: list(tx.run(query, **params)), load,
                               chunk_size, one_transaction=True, writers=1)
                # a bulk load writes no records, but an `audited` block's entry joins it
                if self._pending_audit():
                    with self.records._write():
                        pass
            return result

        def run(query: str, **params: Any) -> list[Any]:
            return list(self.driver.execute_query(query, params,
                                                  database_=self.database).records)

        with self._errors("bulk loading"):
            result = _load(run, load, chunk_size, one_transaction=False, writers=BULK_WRITERS)
        if self._pending_audit():
            with self.records._write():
                pass
        return result

    # ---------------------------------------------------------------- reads

    def _nodes(self, keys: list[str]) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for chunk in _chunks(keys, _UNWIND):
            for r in self._query(
                    f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} RETURN n.key AS key, "
                    "n.kind AS kind, n.name AS name, n.namespace AS ns, n.properties AS p, "
                    "n.created_at AS c, n.updated_at AS u", keys=chunk):
                found[r["key"]] = Node(key=r["key"], kind=_KIND_OF[r["kind"]], name=r["name"],
                                       namespace=r["ns"], properties=_props(r["p"]),
                                       created_at=_native(r["c"]), updated_at=_native(r["u"]))
        return found

    def _existing(self, keys: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(keys), _UNWIND):
            found |= {r["key"] for r in self._query(
                f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} RETURN n.key AS key",
                keys=chunk)}
        return found

    def _ref(self, key: str) -> NodeRef | None:
        return self._refs([key]).get(key)

    def _lifecycle_states(self, keys: list[str]) -> dict[str, str]:
        # one query per 10^4 keys, and only nodes whose properties name a lifecycle come
        # back (the default built every reached Node: a hub's impact read 10^5 of them)
        found: dict[str, str] = {}
        for chunk in _chunks(keys, _UNWIND):
            for r in self._query(f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} "
                                 "WHERE n.properties CONTAINS '\"lifecycle\"' "
                                 "RETURN n.key AS key, n.properties AS p", keys=chunk):
                state = _props(r["p"]).get("lifecycle")
                if isinstance(state, str):
                    found[r["key"]] = state
        return found

    def _adjacent(self, keys: list[str], direction: Direction, kinds: list[EdgeKind]
                  ) -> list[tuple[str, EdgeKind, NodeRef]]:
        # one query per 10^4 keys (the default asks `_neighbours` twice per key); the
        # relationship types go in the pattern, so only those relationships are expanded
        types = "|".join(_REL_TYPE[k] for k in kinds)
        pattern = f"-[r:{types}]->" if direction == "downstream" else f"<-[r:{types}]-"
        return [(k, _EDGE_OF_TYPE[t], NodeRef(key, _KIND_OF[kind], name))
                for k, t, key, kind, name in self._listed_rows(
                    f"UNWIND $keys AS k MATCH (a:{NODE} {{key: k}}){pattern}(b:{NODE}) "
                    f"{_SEEK_A} WHERE a <> b "
                    "RETURN collect([k, type(r), b.key, b.kind, b.name]) AS rows", keys)]

    def _listed_rows(self, cypher: str, keys: list[str]) -> Iterator[list[Any]]:
        """The rows of a read that takes `$keys` (UNWIND, 10^4 keys a query) and returns ONE
        record whose `rows` column lists them: the driver's cost per record was most of
        such a read (see `_walk_levels`)."""
        for chunk in _chunks(keys, _UNWIND):
            yield from self._query(cypher, keys=chunk)[0]["rows"]

    def _suffix_candidates(self, suffix: str, limit: int) -> list[NodeRef]:
        # as in SQL: a prefix scan of the reversed tails (an index), then the key's end
        rows = self._query(f"MATCH (n:{NODE}) WHERE n.rtail STARTS WITH $low AND n.key ENDS "
                           "WITH $suffix RETURN n.key AS key, n.kind AS kind, n.name AS name "
                           "LIMIT $limit", low=tail(suffix)[::-1], suffix=suffix, limit=limit)
        return [NodeRef(r["key"], _KIND_OF[r["kind"]], r["name"]) for r in rows]

    def _find(self, text: str, kinds: list[NodeKind] | None, limit: int) -> list[NodeRef]:
        rows = self._query(f"MATCH (n:{NODE}) WHERE ($kinds IS NULL OR n.kind IN $kinds) AND "
                           "toLower(n.key) CONTAINS $text RETURN n.key AS key, n.kind AS kind, "
                           "n.name AS name ORDER BY n.key LIMIT $limit", text=text.lower(),
                           kinds=[k.value for k in kinds] if kinds else None, limit=limit)
        return [NodeRef(r["key"], _KIND_OF[r["kind"]], r["name"]) for r in rows]

    def _neighbours(self, key: str) -> list[tuple[EdgeSpec, NodeRef]]:
        result = []
        for outgoing, pattern in ((True, "-[r]->"), (False, "<-[r]-")):
            for r in self._query(f"MATCH (n:{NODE} {{key: $key}}){pattern}(m:{NODE}) {_SEEK_N} "
                                 "RETURN type(r) AS t, r.properties AS p, m.key AS key, "
                                 "m.kind AS kind, m.name AS name", key=key):
                ref = NodeRef(r["key"], _KIND_OF[r["kind"]], r["name"])
                src, dst = (key, ref.key) if outgoing else (ref.key, key)
                result.append((EdgeSpec(src=src, dst=dst, kind=_EDGE_OF_TYPE[r["t"]],
                                        properties=_props(r["p"])), ref))
        result.sort(key=lambda pair: (pair[0].kind.value, pair[1].key))
        return result

    def _closure(self, start: NodeRef, direction: Direction, max_depth: int,
                 skip_deleted: bool = False) -> Closure:
        """Breadth-first, one Cypher query per level, all in one read transaction (one
        snapshot). The frontier goes in key order, so a node's parent is the one with the
        smallest key, then the smallest edge kind: the one shortest path the SQL walk
        picks. Terminates on cycles (a node is reached once) and at `max_depth`. With
        `skip_deleted`, a far node whose properties say `lifecycle: deleted` is cut: never
        a row, never expanded (its properties come with the level only when their text
        mentions `lifecycle`). The walk's element ids are kept (`WalkTable.derived`) for
        the follow-up queries on the same closure (`_walk_datasets`)."""
        # lineage's relationship types only: another program's relationship between two
        # lineage nodes is no edge of the graph (and has no rank)
        types = "|".join(_TYPES_BY_RANK)
        pattern = f"-[r:{types}]->" if direction == "downstream" else f"<-[r:{types}]-"
        # Each level is ONE record of parallel lists, one entry per far node (a record per
        # node, or a list per node, cost the driver more than the server's whole level).
        # A far node's parent (its smallest frontier index, then edge kind) is chosen on
        # the server as one integer, index * 32 + the kind's rank: a list per edge to
        # compare cost more. The frontier goes by element id, not key: an index seek per
        # frontier node cost as much as the expansion. (Neo4j reuses a deleted node's id
        # only once every transaction open at the deletion has ended, so this
        # transaction's ids hold.)
        level_query = (
            "UNWIND range(0, size($ids) - 1) AS i MATCH (a) WHERE elementId(a) = $ids[i] "
            f"MATCH (a){pattern}(b:{NODE}) WITH b, min(i * 32 + $rank[type(r)]) AS first "
            "RETURN collect(first) AS first, collect(b.key) AS keys, collect(b.kind) AS kinds, "
            "collect(b.name) AS names, collect(elementId(b)) AS ids" + (
                # a deleted node is cut as the level reaches it: its properties come
                # along only when they mention lifecycle ('' otherwise: collect drops nulls)
                ", collect(CASE WHEN b.properties CONTAINS 'lifecycle' THEN b.properties "
                "ELSE '' END) AS states" if skip_deleted else ""))
        row_of: dict[str, int] = {start.key: -1}
        keys: list[str] = []
        kinds: list[str] = []
        names: list[str] = []
        depths: list[int] = []
        parents: list[int] = []
        edge_kinds: list[str] = []
        walk_ids: list[str] = []
        cut: set[str] = set()
        retired: dict[str, str] = {}
        truncated = False
        server_walk = self._has_server_walk()
        with self._errors("walking the graph"):
            with self.driver.session(database=self.database,
                                     default_access_mode="READ") as session:
                with session.begin_transaction() as tx:
                    first = tx.run(f"MATCH (n:{NODE} {{key: $key}}) {_SEEK_N} "
                                   "RETURN elementId(n) AS id", key=start.key).single()
                    if first is None:  # deleted since it was resolved
                        raise NotFound(f"no node with key '{start.key}'")
                    start_id = first["id"]
                    if server_walk:
                        return self._server_closure(tx, start, start_id, direction,
                                                    max_depth, skip_deleted)
                    frontier = [start_id]  # element ids, in key order
                    base = -1  # the frontier's first row (-1: the start)
                    depth = 0
                    while frontier:
                        found = tx.run(level_query, ids=frontier, rank=_TYPE_RANK).single()
                        if found is None:
                            break
                        far = found["keys"]
                        if len({len(far), len(found["kinds"]), len(found["names"]),
                                len(found["first"])}) > 1:
                            # collect() skips nulls: a node lineage did not write
                            raise StoreError(f"a {NODE} node reached from '{start.key}' "
                                             "lacks its key, kind or name; lineage writes "
                                             "them on every node it stores")
                        # the far nodes not reached before, the loop in C (10^4 a level)
                        fresh = list(compress(count(), map(not_, map(row_of.__contains__,
                                                                     far))))
                        if cut:
                            fresh = [j for j in fresh if far[j] not in cut]
                        if depth == max_depth:
                            # the edges leaving the deepest level to a node not reached:
                            # the bound cut it (the answer must say so); a deleted node
                            # beyond the bound is no loss, nor recorded as met
                            truncated = bool(_live(fresh, far, found["states"], set(), {})
                                             if skip_deleted else fresh)
                            break
                        if skip_deleted and fresh:
                            fresh = _live(fresh, far, found["states"], cut, retired)
                        depth += 1
                        fresh.sort(key=far.__getitem__)
                        at = len(keys)
                        level_keys = _picked(far, fresh)
                        row_of.update(zip(level_keys, range(at, at + len(fresh)), strict=True))
                        keys += level_keys
                        kinds += _picked(found["kinds"], fresh)
                        names += _picked(found["names"], fresh)
                        depths += [depth] * len(fresh)
                        codes = _picked(found["first"], fresh)
                        # index * 32 + rank decoded in C: code >> 5, code & 31
                        parents += [-1] * len(fresh) if base < 0 else map(
                            base.__add__, map((5).__rrshift__, codes))
                        edge_kinds += map(_KIND_VALUES_BY_RANK.__getitem__,
                                          map((31).__and__, codes))
                        frontier = _picked(found["ids"], fresh)
                        walk_ids += frontier
                        base = at
        table = WalkTable(keys, kinds, names, depths, parents, edge_kinds, truncated=truncated,
                          retired=retired)
        table.derived[_WALK_IDS] = (start_id, walk_ids)
        return Closure(Reached(start, 0), direction, max_depth, table=table,
                       truncated=truncated)

    def _has_server_walk(self) -> bool:
        """Whether the server has lineage's `lineage.walk` procedure, in the signature this
        release calls (asked once): a plugin of another release is left alone, and the
        walk runs in Cypher."""
        if self.server_walk is None:
            found = self._query("SHOW PROCEDURES YIELD name, signature "
                                "WHERE name = 'lineage.walk' RETURN signature")
            self.server_walk = bool(found) and found[0]["signature"] == _WALK_SIGNATURE
        return self.server_walk

    @staticmethod
    def _server_closure(tx: Any, start: NodeRef, start_id: str, direction: Direction,
                        max_depth: int, skip_deleted: bool) -> Closure:
        """`_closure`'s walk by the server's `lineage.walk` procedure in the same read
        transaction: the same rows in the same order, in one call (see
        tests/neo4j/src/main/java/lineage/neo4j/Walk.java for why)."""
        found = tx.run("CALL lineage.walk($id, $outgoing, $depth, $types, $skip) "
                       "YIELD keys, kinds, names, depths, parents, ranks, ids, truncated, "
                       "retiredKeys, retiredStates RETURN *", id=start_id,
                       outgoing=direction == "downstream", depth=max_depth,
                       types=_TYPES_BY_RANK, skip=skip_deleted).single()
        truncated = bool(found["truncated"])
        table = WalkTable(list(found["keys"]), list(found["kinds"]), list(found["names"]),
                          list(found["depths"]), list(found["parents"]),
                          list(map(_KIND_VALUES_BY_RANK.__getitem__, found["ranks"])),
                          truncated=truncated,
                          retired=dict(zip(found["retiredKeys"], found["retiredStates"],
                                           strict=True)))
        table.derived[_WALK_IDS] = (start_id, list(found["ids"]))
        return Closure(Reached(start, 0), direction, max_depth, table=table,
                       truncated=truncated)

    def _subgraph(self, start: NodeRef, direction: Direction, max_depth: int,
                  skip_deleted: bool = False) -> Subgraph:
        table, properties, edges = self._walk_levels(start, direction, max_depth,
                                                     skip_deleted=skip_deleted)
        closure = Closure(Reached(start, 0), direction, max_depth, table=table,
                          truncated=table.truncated)
        return Subgraph(closure, properties, edges)

    def _walk_levels(self, start: NodeRef, direction: Direction, max_depth: int,
                     skip_deleted: bool = False
                     ) -> tuple[WalkTable, dict[str, dict[str, Any]], list[SubgraphEdge]]:
        """`_closure`'s walk for `_subgraph`: the same rows, plus every node's properties
        and every edge traversed (one row per edge, not per far node)."""
        types = "|".join(_TYPES_BY_RANK)  # as `_closure`: lineage's relationships only
        pattern = f"-[r:{types}]->" if direction == "downstream" else f"<-[r:{types}]-"
        # Each level comes back as ONE record holding a list of rows [i, key, kind, name,
        # type, edge properties, node properties, element id]: the driver's cost per record
        # (~0.1 ms on a busy machine) was most of a hub's walk, 28,065 records at 10^5
        # nodes. The frontier goes by element id, not key: an index seek per frontier node
        # cost as much as the expansion. (Neo4j reuses a deleted node's id only once every
        # transaction open at the deletion has ended, so this transaction's ids hold.)
        level_query = (f"UNWIND range(0, size($ids) - 1) AS i MATCH (a) WHERE elementId(a) "
                       f"= $ids[i] MATCH (a){pattern}(b:{NODE}) "
                       "RETURN collect([i, b.key, b.kind, b.name, type(r), r.properties, "
                       "b.properties, elementId(b)]) AS rows")

        def level(ids: list[str]) -> list[list[Any]]:
            found = tx.run(level_query, ids=ids).single()
            return [] if found is None else list(found["rows"])

        cut: set[str] = set()
        retired: dict[str, str] = {}

        def state_of(r: list[Any]) -> str | None:
            """The far node's lifecycle state (skip_deleted), remembered when retired."""
            if not skip_deleted or r[6] is None or "lifecycle" not in r[6]:
                return None
            value = _props(r[6]).get("lifecycle")
            if value in ("deleted", "deprecated"):
                retired[r[1]] = value
                if value == "deleted":
                    cut.add(r[1])
                return str(value)
            return None

        row_of: dict[str, int] = {start.key: -1}
        keys: list[str] = []
        kinds: list[str] = []
        names: list[str] = []
        depths: list[int] = []
        parents: list[int] = []
        edge_kinds: list[str] = []
        properties: dict[str, dict[str, Any]] = {}
        traversed: list[tuple[int, str, str, Any]] = []  # (row of near end, far key, type, p)
        with self._errors("walking the graph"):
            with self.driver.session(database=self.database,
                                     default_access_mode="READ") as session:
                with session.begin_transaction() as tx:
                    first = tx.run(f"MATCH (n:{NODE} {{key: $key}}) {_SEEK_N} "
                                   "RETURN n.properties AS p, elementId(n) AS id",
                                   key=start.key).single()
                    if first is None:  # deleted since it was resolved
                        raise NotFound(f"no node with key '{start.key}'")
                    properties[start.key] = _props(first["p"])
                    frontier = [first["id"]]  # element ids, in key order
                    base = -1
                    depth = 0
                    truncated = False
                    while frontier:
                        if depth == max_depth:
                            # the edges leaving the deepest level: back into the region
                            # (kept), or out of it, which the bound cut (the answer must
                            # say so)
                            for i, far, _, _, rel, rp, p, _ in level(frontier):
                                if far in row_of:
                                    traversed.append((base + i, far, rel, rp))
                                elif far not in cut and (
                                        not skip_deleted or _props(p).get(
                                            "lifecycle") != "deleted"):
                                    truncated = True
                            break
                        rows = level(frontier)
                        depth += 1
                        first_row = len(keys)
                        new: dict[str, tuple[int, str, list[Any]]] = {}
                        for r in rows:
                            i, far, rel = r[0], r[1], r[4]
                            traversed.append((base + i, far, rel, r[5]))
                            if far in row_of or far in cut:
                                continue
                            if state_of(r) == "deleted":
                                continue
                            kind = _KIND_VALUE_OF_TYPE[rel]
                            best = new.get(far)
                            if best is None or (i, kind) < (best[0], best[1]):
                                new[far] = (i, kind, r)
                        reached = sorted(new)
                        frontier = [new[far][2][7] for far in reached]
                        for far in reached:
                            rank, kind, r = new[far]
                            row_of[far] = len(keys)
                            keys.append(far)
                            kinds.append(r[2])
                            names.append(r[3])
                            depths.append(depth)
                            parents.append(-1 if base < 0 else base + rank)
                            edge_kinds.append(kind)
                            properties[far] = _props(r[6])
                        base = first_row
        table = WalkTable(keys, kinds, names, depths, parents, edge_kinds, truncated=truncated,
                          retired=retired)
        # the order `Store.subgraph` promises: near end's row, edge kind, far key
        ordered = sorted(((near_row, _EDGE_OF_TYPE[rel].value, far_key, props)
                          for near_row, far_key, rel, props in traversed if far_key in row_of),
                         key=lambda t: t[:3])
        edges: list[SubgraphEdge] = []
        for near_row, kind, far_key, props in ordered:
            near_key = start.key if near_row < 0 else keys[near_row]
            src, dst = (near_key, far_key) if direction == "downstream" else (far_key, near_key)
            edges.append((src, dst, EdgeKind(kind), _props(props)))
        return table, properties, edges

    def _edges_among(self, keys: set[str]) -> list[EdgeSpec]:
        result = []
        for chunk in _chunks(sorted(keys), _UNWIND):
            for r in self._query(f"UNWIND $keys AS k MATCH (a:{NODE} {{key: k}})-[r]->"
                                 f"(b:{NODE}) {_SEEK_A} RETURN k AS s, b.key AS d, type(r) AS t, "
                                 "r.properties AS p", keys=chunk):
                if r["d"] in keys:
                    result.append(EdgeSpec(src=r["s"], dst=r["d"], kind=_EDGE_OF_TYPE[r["t"]],
                                           properties=_props(r["p"])))
        return result

    def _schema(self, version_key: str) -> list[FieldSchema]:
        rows = self._query(f"MATCH (n:{NODE} {{key: $key}}) RETURN n.schema AS s",
                           key=version_key)
        if not rows or rows[0]["s"] is None:
            return []
        return [FieldSchema(**f) for f in json.loads(rows[0]["s"])]

    def _stats(self) -> dict[str, int]:
        counts = {r["kind"]: int(r["n"]) for r in self._query(
            f"MATCH (n:{NODE}) RETURN n.kind AS kind, count(*) AS n")}
        counts["edges"] = int(self._query(
            f"MATCH (:{NODE})-[r]->(:{NODE}) RETURN count(r) AS n")[0]["n"])
        return counts

    def _dataset_consumers(self, fields: list[str]) -> list[tuple[str, NodeRef, NodeRef]]:
        found = [(k, NodeRef(dk, NodeKind.DATASET, dn), NodeRef(ck, NodeKind.CONSUMER, cn))
                 for k, dk, dn, ck, cn in self._listed_rows(
                     f"UNWIND $keys AS k MATCH (f:{NODE} {{key: k}})<-[:HAS_FIELD]-(d:{NODE})"
                     f"-[:CONSUMES]->(c:{NODE}) USING INDEX SEEK f:{NODE}(key) "
                     "RETURN collect([k, d.key, d.name, c.key, c.name]) AS rows", fields)]
        return sorted(found, key=lambda t: (t[0], t[2].key))

    def _closure_datasets(self, closure: Closure) -> list[tuple[NodeRef, str]]:
        # From the walk's element ids (`_walk_datasets`): only the datasets that feed
        # something as a whole, which the contract allows (no dataset-level step starts
        # from the others); looking a hub's 10^5 fields up by key again cost more than
        # the walk
        t = closure.table
        found = self._walk_datasets(closure)
        if t is None or found is None or len(found.ids) != len(t.keys):
            return super()._closure_datasets(closure)
        start = closure.start.node.key
        return sorted(((ref, start if row < 0 else t.keys[row])
                       for ref, row in found.feeding), key=lambda pair: pair[0].key)

    def _closure_dataset_consumers(self, closure: Closure
                                   ) -> list[tuple[str, NodeRef, NodeRef]]:
        # the walk's fields from its element ids (`_walk_datasets`), the rows added to the
        # closure after the walk (`Closure.extend`) by key
        t = closure.table
        found = self._walk_datasets(closure)
        if t is None or found is None:
            return super()._closure_dataset_consumers(closure)
        start = closure.start.node.key
        pairs = [(start if row < 0 else t.keys[row], dataset, consumer)
                 for rows, dataset, consumers in found.consumed
                 for row in rows for consumer in consumers]
        field_kind = NodeKind.FIELD.value
        extra = [t.keys[row] for row in range(len(found.ids), len(t.keys))
                 if t.kinds[row] == field_kind]
        if extra:
            pairs += self.dataset_consumers(extra)
        return sorted(pairs, key=lambda p: (p[0], p[2].key))

    def closure_properties(self, closure: Closure, name: str,
                           kinds: Iterable[NodeKind]) -> dict[str, Any]:
        # From the walk's element ids, and only the nodes whose properties text mentions
        # the name come back: the default read a hub's 18,470 fields whole, by key, to find
        # the few with quality checks. Rows added after the walk (`Closure.extend`) by key.
        t = closure.table
        walk = t.derived.get(_WALK_IDS) if t is not None else None
        if t is None or walk is None:
            return super().closure_properties(closure, name, kinds)
        start_id, ids = walk
        values = {NodeKind(k).value for k in kinds}
        given = [start_id] if closure.start.node.kind.value in values else []
        given += [i for i, kind in zip(ids, t.kinds, strict=False) if kind in values]
        needle = json.dumps(name)  # as the stored text spells it (`_json_text`)
        found: dict[str, Any] = {}
        for chunk in _chunks(given, _FIELDS_A_QUERY):
            for key, text in self._query(
                    "UNWIND $ids AS id MATCH (n) WHERE elementId(n) = id AND n.properties "
                    "CONTAINS $name RETURN collect([n.key, n.properties]) AS rows",
                    ids=chunk, name=needle)[0]["rows"]:
                props = _props(text)
                if name in props:  # not merely mentioned inside another value
                    found[key] = props[name]
        extra = [k for k, kind in zip(t.keys[len(ids):], t.kinds[len(ids):], strict=True)
                 if kind in values]
        if extra:
            found.update(self._properties_named(extra, name))
        return found

    def _walk_datasets(self, closure: Closure) -> _WalkDatasets | None:
        """The datasets of the walk's fields (its start included) that are consumed or feed
        something as a whole (a read, trained_on or derived_from edge leaves them or one of
        their versions), read once per walk from its element ids and kept in
        `WalkTable.derived`; the consumers' lifecycle states go to `WalkTable.states`
        (impact screens them). None when the walk kept no ids. (The ids still name the
        walk's nodes: lineage never deletes a node, `lineage delete` marks it, and Neo4j
        reuses an id only once its node is deleted.)"""
        t = closure.table
        if t is None:
            return None
        known = t.derived.get(_WALK_DATASETS)
        if isinstance(known, _WalkDatasets):
            return known
        walk = t.derived.get(_WALK_IDS)
        if walk is None:
            return None
        start_id, ids = walk
        field_kind = NodeKind.FIELD.value
        rows = [-1] if closure.start.node.kind is NodeKind.FIELD else []
        rows += [row for row, kind in enumerate(t.kinds[:len(ids)]) if kind == field_kind]
        result = _WalkDatasets(ids)
        t.derived[_WALK_DATASETS] = result
        if not rows:
            return result
        given = [start_id if row < 0 else ids[row] for row in rows]
        feeding: dict[str, tuple[NodeRef, int]] = {}
        consumed: dict[str, tuple[list[int], NodeRef, list[NodeRef]]] = {}
        for at in range(0, len(given), _FIELDS_A_QUERY):
            for positions, key, kind, name, feeds, consumers in self._query(
                    _WALK_DATASETS_QUERY, ids=given[at:at + _FIELDS_A_QUERY])[0]["rows"]:
                field_rows = sorted(rows[at + p] for p in positions)
                ref = NodeRef(key, _KIND_OF[kind], name)
                if feeds and (key not in feeding or field_rows[0] < feeding[key][1]):
                    feeding[key] = (ref, field_rows[0])
                if consumers:
                    users = [NodeRef(c_key, NodeKind.CONSUMER, c_name)
                             for c_key, c_name, _ in consumers]
                    # the same reference as `_dataset_consumers`: a consumer of a dataset
                    named = NodeRef(key, NodeKind.DATASET, name)
                    if key in consumed:
                        consumed[key][0].extend(field_rows)
                    else:
                        consumed[key] = (field_rows, named, users)
                    for c_key, _, text in consumers:
                        state = _props(text).get("lifecycle") if text else None
                        t.states[c_key] = state if isinstance(state, str) else None
        result.feeding = list(feeding.values())
        result.consumed = list(consumed.values())
        return result

    # ---------------------------------------------------------------- the SQL side

    def _contracts(self, consumers: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        return self.records._contracts(consumers)

    def _channels(self, consumers: list[str]) -> dict[str, list[ChannelSpec]]:
        return self.records._channels(consumers)

    def _write_assertions(self, batch: AssertionBatch, arrays: AssertionArrays,
                          nodes: GraphBatch | None) -> AssertionBatch:
        keys = {k for k in (batch.field, batch.agent, batch.dataset_version) if k}
        stubs = GraphBatch()
        if nodes is not None and nodes.nodes:
            new_nodes = nodes

            def write() -> AssertionBatch:
                with self._tx() as tx:  # new nodes (an agent) first, committed after the rows
                    _apply_graph(tx, new_nodes, None)
                    self._add_stubs(stubs, keys, new_nodes)
                    return self.records._write_assertions(batch, arrays, stubs)

            return self._retrying(write)
        self._add_stubs(stubs, keys, None)
        return self.records._write_assertions(batch, arrays, stubs)

    def _assertion_batches(self, concepts: list[str] | None,
                           fields: list[str] | None) -> list[AssertionBatch]:
        return self.records._assertion_batches(concepts, fields)

    def _assertion_columns(self, batch_ids: list[int],
                           columns: list[str]) -> dict[int, dict[str, np.ndarray]]:
        return self.records._assertion_columns(batch_ids, columns)

    def _enqueue(self, notifications: list[NotificationSpec]) -> int:
        return self.records._enqueue(notifications)

    def _claim(self, limit: int, lease_seconds: float, now: datetime) -> list[OutboxItem]:
        return self.records._claim(limit, lease_seconds, now)

    def _settle(self, outcomes: list[DeliveryOutcome], now: datetime) -> int:
        return self.records._settle(outcomes, now)

    def _outbox_status(self) -> dict[str, int]:
        return self.records._outbox_status()

    def _outbox(self, state: OutboxState | None, limit: int) -> list[OutboxItem]:
        return self.records._outbox(state, limit)

    def _redrive(self, ids: list[int] | None, now: datetime) -> int:
        return self.records._redrive(ids, now)

    def _add_token(self, name: str, token_hash: str, scopes: list[str], origins: list[str],
                   now: datetime) -> TokenInfo:
        return self.records._add_token(name, token_hash, scopes, origins, now)

    def _tokens(self, include_revoked: bool) -> list[TokenInfo]:
        return self.records._tokens(include_revoked)

    def _token(self, name: str | None, token_hash: str | None) -> TokenInfo | None:
        return self.records._token(name, token_hash)

    def _touch_token(self, token_id: int, now: datetime) -> None:
        self.records._touch_token(token_id, now)

    def _revoke_token(self, token_id: int, now: datetime) -> TokenInfo | None:
        return self.records._revoke_token(token_id, now)

    def _audit(self, entries: list[AuditEntry]) -> None:
        self.records._audit(entries)

    def _audit_log(self, limit: int, since: datetime | None) -> list[AuditEntry]:
        return self.records._audit_log(limit, since)

    def _tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]:
        return self.records._tokens_with_hashes()

    def _import_tokens(self, tokens: list[tuple[TokenInfo, str]]) -> int:
        return self.records._import_tokens(tokens)

    def _import_audit(self, entries: list[AuditEntry]) -> int:
        return self.records._import_audit(entries)

    def _import_outbox(self, items: list[OutboxItem]) -> int:
        return self.records._import_outbox(items)


# -------------------------------------------------------------------- apply, in Cypher


def _load(run: Callable[..., Any], load: BulkInput, chunk_size: int,
          one_transaction: bool, writers: int = 1) -> tuple[int, int]:
    """A checked bulk load through `run` (a transaction's, or one transaction per call):
    endpoints checked before anything is written, then new nodes, then edges not stored.

    Edges find their ends by element id (read or returned when the node was created), not by
    key: a unique-index seek per end cost more server time than creating the edge. An id
    can be reused once its node is deleted, so an end that another transaction could have
    deleted meanwhile (a stored node; with `one_transaction` False, every node) is also
    checked by key; an edge whose end has gone is not written, nor counted.

    With `writers` > 1 (`run` then callable from several threads, one transaction per
    call), that many node batches are written at once: they never conflict (distinct
    keys). Edges are written by one writer (see below)."""
    import polars as pl

    size = max(1, min(chunk_size, _UNWIND))
    nodes, edges = load.nodes, load.edges
    stamp = _now()
    loaded = set(nodes["key"].to_list())
    endpoints = set(edges["src"].to_list()) | set(edges["dst"].to_list())
    ids: dict[str, str] = {}  # key -> element id
    # An empty graph (Neo4j keeps its node count: O(1)) has no key to look up: the lookup
    # of every key of a 10^5-node load into one cost 1.5-3 s of a 30-80 s load, busy.
    empty = not run(f"MATCH (n:{NODE}) RETURN count(n) AS n")[0]["n"]
    for chunk in _chunks([] if empty else sorted(loaded | endpoints), size):
        for r in run(f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} "
                     "RETURN n.key AS key, elementId(n) AS id", keys=chunk):
            ids[r["key"]] = r["id"]
    stored = set(ids)
    dangling = [(s, d) for s, d in edges.select("src", "dst").iter_rows()
                if (s not in loaded and s not in stored) or (d not in loaded and d not in stored)]
    if dangling:
        shown = ", ".join(f"{s} -> {d}" for s, d in dangling[:5])
        raise ValidationError(f"bulk load: {len(dangling)} edge(s) name nodes that are "
                              f"neither in the load nor in the store: {shown}")
    props = _PropsText()
    new_nodes = nodes.filter(~pl.col("key").is_in(sorted(stored)))
    node_batches: list[tuple[str, list[dict[str, Any]]]] = []
    for (kind,), group in new_nodes.group_by(["kind"], maintain_order=True):
        label = _LABEL[_KIND_OF[str(kind)]]
        rows = [{"key": k, "rtail": tail(k)[::-1], "kind": kd, "name": n, "namespace": ns,
                 "properties": props(p)}
                for k, kd, n, ns, p in group.select(
                    "key", "kind", "name", "namespace", "properties").iter_rows()]
        node_batches += [(label, chunk) for chunk in _chunks(rows, size)]

    def create(label: str, chunk: list[dict[str, Any]]) -> list[Any]:
        # one record with every (row, id) pair: a record each cost more than the node
        created = run(f"UNWIND range(0, size($rows) - 1) AS i WITH i, $rows[i] AS row "
                      f"CREATE (n:{NODE}:{label}) "
                      "SET n = row, n.created_at = $now, n.updated_at = $now "
                      "RETURN collect([i, elementId(n)]) AS ids", rows=chunk, now=stamp)
        return list(created[0]["ids"])

    for (_, chunk), created in zip(node_batches, _parallel(writers, create, node_batches),
                                   strict=True):
        for i, element_id in created:
            ids[chunk[i]["key"]] = element_id
    # an edge may be stored already only when both its ends were stored before the load
    maybe = edges.filter(pl.col("src").is_in(sorted(stored))
                         & pl.col("dst").is_in(sorted(stored)))
    present: set[tuple[str, str, str]] = set()
    for chunk in _chunks([list(r) for r in maybe.select("src", "dst", "kind").iter_rows()],
                         size):
        for r in run(f"UNWIND $rows AS e MATCH (a:{NODE} {{key: e[0]}})-[r]->"
                     f"(b:{NODE} {{key: e[1]}}) {_SEEK_A} WHERE type(r) = toUpper(e[2]) "
                     "RETURN e[0] AS s, e[1] AS d, e[2] AS k", rows=chunk):
            present.add((r["s"], r["d"], r["k"]))

    def check(key: str) -> str | None:
        """The key to check an end's id against; None for a node this transaction made."""
        return None if one_transaction and key not in stored else key

    by_type: dict[str, list[list[str | None]]] = {}
    for (kind,), group in edges.group_by(["kind"], maintain_order=True):
        by_type[_REL_TYPE[EdgeKind(str(kind))]] = [
            [ids[s], ids[d], check(s), check(d), props(p)]
            for s, d, k, p in group.select("src", "dst", "kind", "properties").iter_rows()
            if (s, d, k) not in present]
    # One writer: edge batches written at once deadlock even when they share no end node
    # (a new relationship locks the first relationship of each end's chain, and one
    # relationship heads the chains of both its ends).
    return new_nodes.height, _write_edges(run, by_type, size)


def _parallel(writers: int, call: Callable[..., T], args: list[tuple[Any, ...]]) -> list[T]:
    """`call(*a)` for each `a` of `args`, up to `writers` at once; the results in order.
    The first error raised is raised once the calls running have ended; calls not yet
    started are dropped, as a one-writer load stops at its first failed batch."""
    if writers <= 1 or len(args) <= 1:
        return [call(*a) for a in args]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=writers)
    try:
        futures = [pool.submit(call, *a) for a in args]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _write_edges(run: Callable[..., Any], by_type: dict[str, list[list[str | None]]],
                 size: int) -> int:
    """Create the edges (rows [src id, dst id, src key or None, dst key or None, properties]
    by relationship type); returns how many were created, as the server counted them: an
    edge whose end another writer deleted since its id was read is not written, and so not
    counted either."""
    written = 0
    for rel, rows in by_type.items():
        for chunk in _chunks(rows, size):
            found = run(f"UNWIND $rows AS e MATCH (a) WHERE elementId(a) = e[0] "
                        "AND (e[2] IS NULL OR a.key = e[2]) "
                        "MATCH (b) WHERE elementId(b) = e[1] AND (e[3] IS NULL OR b.key = e[3]) "
                        f"CREATE (a)-[:{rel} {{properties: e[4]}}]->(b) RETURN count(*) AS n",
                        rows=chunk)
            written += int(found[0]["n"])
    return written


class _PropsText:
    """`_bulk_props`, each distinct text converted once (a load repeats a few texts)."""

    def __init__(self) -> None:
        self.seen: dict[Any, str] = {}

    def __call__(self, text: Any) -> str:
        found = self.seen.get(text)
        if found is None:
            found = self.seen[text] = _bulk_props(text)
        return found


def _bulk_props(text: Any) -> str:
    """A bulk load's property text (JSON object or null) as stored: canonical JSON."""
    if text is None or text == "{}" or text == "":
        return "{}"
    return _json_text(_canonical(json.loads(text)))


def _check_no_repeated_edges(edges: pl.DataFrame) -> None:
    import polars as pl

    repeated = edges.filter(pl.struct("src", "dst", "kind").is_duplicated())
    if repeated.height:
        text = ", ".join(f"{s} -[{k}]-> {d}" for s, d, k in repeated.select(
            "src", "dst", "kind").unique(maintain_order=True).head(5).rows())
        count = repeated.height - repeated.select("src", "dst", "kind").n_unique()
        raise ValidationError(f"bulk load: {count} edge(s) repeat a (src, dst, kind) given "
                              f"earlier in the same load: {text}; give each edge once")


def _apply_graph(tx: Any, batch: GraphBatch, merge: MergeProperties | None,
                 merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
    """Nodes, edges and schema snapshots of `batch` in the open transaction `tx`.

    Every node of the batch is MERGEd and marked first, which takes Neo4j's write lock on
    it (a new node's key is locked by the unique constraint's index entry): a concurrent
    writer merging into the same node waits until this transaction ends, then reads what
    it committed, so `merge` never loses a fact."""
    now = _now()
    counts = dict(nodes_created=0, nodes_updated=0, edges_created=0, edges_updated=0,
                  schemas_written=0, unchanged=0, edges_removed=0)
    stored: dict[str, Mapping[str, Any]] = {}
    by_kind: dict[NodeKind, list[dict[str, Any]]] = {}
    # Nodes are locked in one order, (kind, key), whatever the batch's: two writers sharing
    # nodes then wait for each other instead of deadlocking.
    for spec in sorted(batch.nodes.values(), key=lambda n: (n.kind.value, n.key)):
        by_kind.setdefault(spec.kind, []).append(
            {"key": spec.key, "kind": spec.kind.value, "name": spec.name,
             "rtail": tail(spec.key)[::-1]})
    for kind, rows in sorted(by_kind.items(), key=lambda item: item[0].value):
        for chunk in _chunks(rows, _UNWIND):
            for r in tx.run(f"UNWIND $rows AS row MERGE (n:{NODE} {{key: row.key}}) "
                            f"ON CREATE SET n:{_LABEL[kind]}, n.kind = row.kind, "
                            "n.rtail = row.rtail, n.name = row.name, n.properties = '{}', "
                            "n.created_at = $now, n.updated_at = $now, n.lineage_new = true "
                            "SET n.lineage_lock = true RETURN n.key AS key, n.name AS name, "
                            "n.namespace AS ns, n.properties AS p, n.lineage_new AS new",
                            rows=chunk, now=now):
                stored[r["key"]] = r
    writes = []
    for spec in batch.nodes.values():
        row = stored[spec.key]
        created = bool(row["new"])
        old = {} if created else _props(row["p"])
        given = spec.properties
        if merge is not None:
            given = merge(spec.key, old, given)
        props = _canonical(given)
        if created:
            counts["nodes_created"] += 1
            touch = True
        elif (row["name"], row["ns"], old) != (spec.name, spec.namespace, props):
            counts["nodes_updated"] += 1
            touch = True
        else:
            counts["unchanged"] += 1
            touch = False
        writes.append({"key": spec.key, "name": spec.name, "ns": spec.namespace,
                       "p": _json_text(props), "touch": touch})
    for chunk in _chunks(writes, _UNWIND):
        tx.run(f"UNWIND $rows AS row MATCH (n:{NODE} {{key: row.key}}) {_SEEK_N} "
               "SET n.name = row.name, n.namespace = row.ns, n.properties = row.p, "
               "n.updated_at = CASE WHEN row.touch THEN $now ELSE n.updated_at END "
               "REMOVE n.lineage_lock, n.lineage_new", rows=chunk, now=now).consume()

    # read only now: a merge callback may have added to it
    removed = set(batch.removed_edges)
    if removed:
        gone = [[src, dst, _REL_TYPE[EdgeKind(kind)]] for src, dst, kind in sorted(removed)]
        for chunk in _chunks(gone, _UNWIND):
            for r in tx.run(f"UNWIND $rows AS e MATCH (a:{NODE} {{key: e[0]}})-[r]->"
                            f"(b:{NODE} {{key: e[1]}}) {_SEEK_A} WHERE type(r) = e[2] "
                            "DELETE r RETURN count(r) AS n", rows=chunk):
                counts["edges_removed"] += int(r["n"])
    written = [e for e in batch.edges.values() if (e.src, e.dst, e.kind.value) not in removed]
    if written:
        wanted = {(e.src, e.dst, e.kind): _json_text(_canonical(e.properties))
                  for e in written}
        idents = [[s, d, _REL_TYPE[k]] for s, d, k in wanted]
        found: dict[tuple[str, str, EdgeKind], str] = {}
        for chunk in _chunks(idents, _UNWIND):
            for r in tx.run(f"UNWIND $rows AS e MATCH (a:{NODE} {{key: e[0]}})-[r]->"
                            f"(b:{NODE} {{key: e[1]}}) {_SEEK_A} WHERE type(r) = e[2] "
                            "RETURN e[0] AS s, e[1] AS d, e[2] AS t, r.properties AS p",
                            rows=chunk):
                found[(r["s"], r["d"], _EDGE_OF_TYPE[r["t"]])] = r["p"]
        if merge_edges is not None:
            for e in written:
                old_text = found.get((e.src, e.dst, e.kind))
                wanted[(e.src, e.dst, e.kind)] = _json_text(_canonical(merge_edges(
                    (e.src, e.dst, e.kind.value),
                    _props(old_text) if old_text is not None else {}, e.properties)))
        by_type: dict[EdgeKind, list[dict[str, str]]] = {}
        for (s, d, k), p in wanted.items():
            old_p = found.get((s, d, k))
            if old_p is None:
                counts["edges_created"] += 1
            elif _props(old_p) != json.loads(p):
                counts["edges_updated"] += 1
            else:
                counts["unchanged"] += 1
                continue
            by_type.setdefault(k, []).append({"s": s, "d": d, "p": p})
        for edge_kind, edge_rows in by_type.items():
            for chunk in _chunks(edge_rows, _UNWIND):
                # MERGE, not CREATE: a concurrent writer may have added the same edge
                tx.run(f"UNWIND $rows AS e MATCH (a:{NODE} {{key: e.s}}) {_SEEK_A} "
                       f"MATCH (b:{NODE} {{key: e.d}}) {_SEEK_B} "
                       f"MERGE (a)-[r:{_REL_TYPE[edge_kind]}]->(b) SET r.properties = e.p",
                       rows=chunk).consume()

    if batch.schemas:
        given_schemas = {key: json.dumps([f.model_dump() for f in fields], sort_keys=True)
                         for key, fields in batch.schemas.items()}
        old_schemas = {r["key"]: r["s"] for r in tx.run(
            f"UNWIND $keys AS k MATCH (n:{NODE} {{key: k}}) {_SEEK_N} RETURN n.key AS key, "
            "n.schema AS s", keys=sorted(given_schemas))}
        changed = [{"key": k, "s": s} for k, s in given_schemas.items()
                   if _schema_of(old_schemas.get(k)) != json.loads(s)]
        counts["schemas_written"] = len(changed)
        counts["unchanged"] += len(given_schemas) - len(changed)
        if changed:
            tx.run(f"UNWIND $rows AS row MATCH (n:{NODE} {{key: row.key}}) {_SEEK_N} "
                   "SET n.schema = row.s", rows=changed).consume()
    return ApplyResult(**counts)


def _schema_of(text: str | None) -> list[Any]:
    return [] if text is None else list(json.loads(text))
