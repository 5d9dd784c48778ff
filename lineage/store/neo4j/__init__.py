"""The Neo4j backend: the lineage graph in Neo4j, the records in a SQL store beside it.

Open one with ``lineage.connect("bolt://host:7687?records=sqlite:///lineage-records.db")``
(or ``neo4j://``; ``bolt://user:password@host:7687`` when the server wants credentials;
``database=name`` picks a database other than the server's default).

Design notes
------------

**What lives where.** Neo4j holds the graph: nodes (label ``LineageNode`` plus one label
per kind, e.g. ``Field``, ``ModelVersion``; properties ``key``, ``kind``, ``name``,
``namespace``, ``properties`` as JSON text, ``rtail`` for suffix lookups, timestamps),
edges (one relationship type per edge kind, e.g. ``DERIVED_FROM``, in data-flow direction,
``properties`` as JSON text) and each dataset version's schema snapshot (a ``schema``
property on its node: it is read and written with the node, and a snapshot only ever
belongs to one version). Teams query that with Cypher and explore it in Bloom. Everything
else is tabular, append-heavy or queue-like and belongs in SQL: record assertions (10^7
rows as column segments), consumers' contracts and channels (the outbox references channel
rows), the notification outbox (claimed with row locks), API tokens and the audit log.
They live in the SQL store named by the URL parameter ``records=`` (default
``sqlite:///lineage-records.db``, a file in the working directory where the graph is first
opened, remembered by absolute path on the graph's schema node so that any directory opens
the same records; give
``records=postgresql://...``, percent-encoded if it has its own query, for a shared store).

**Composition, not a second set of mixins.** `Neo4jStore` implements the graph hooks in
Cypher and hands every record hook to a full `SqlStore` (``store.records``), which keeps
all its guarantees (leases, idempotent enqueue, audit joined to writes) unchanged. The SQL
tables reference nodes by id, so the SQL side keeps a stub row (key, kind, name, no
properties) of each node a record names (a contract's consumer and asset, an assertion's
field, agent and version); the graph stays the only source of the graph. Reusing the SQL
mixins on the Neo4j class would have mixed two stores' transactions in one object.

**Transactions and their order.** A write opens the Neo4j transaction first and does the
graph part, then runs the SQL part (contracts, channels, notifications, assertion rows,
the pending audit entry) in its own SQL transaction, which commits, and only then commits
the graph. Any error before that point (a bad edge, a notification for an unknown channel,
a constraint) rolls back both: the store is exactly as it was. The one window is a Neo4j
commit that fails after the SQL commit (the server dies in between): the SQL side then
holds contracts/notifications/assertions whose new graph nodes are missing. That is the
safe direction: every SQL write of `apply` is idempotent (contracts and channels replace,
notifications are keyed), so re-running the write repairs it, and no graph answer (impact,
closure) ever shows a node that was not committed. The other order would let a committed
graph change lose its outbox notification, which is the failure the outbox exists to
prevent.

**Schema versions.** A ``LineageSchema`` node holds the graph's schema version; connecting
runs the missing steps of `store.SCHEMA_VERSION` (constraints: unique ``key``; indexes on
``rtail`` and ``kind``), each idempotent, and refuses a graph newer than the release. The
SQL side migrates with its own Alembic scripts.

**Closure by the server's procedure, when it has it.** `lineage.walk` (Java,
tests/neo4j/src/main/java/lineage/neo4j/Walk.java; the test launcher installs it, a server
takes it as a plugin jar) does the walk below in one call on the kernel's cursors and
returns the same rows in one record; the store asks the server once whether it has it
(`Neo4jStore.server_walk`: None asks, False keeps the Cypher walk) and falls back to the
Cypher walk otherwise. Why: each Cypher level pays per frontier node (an element-id seek)
and per far node (an aggregation), which kept a 28,000-node hub walk at ~2.2x the plainest
variable-length Cypher query (issue 16 asks for 2x); the procedure is ~1x. The two are
compared on random graphs with cycles, parallel edges, deleted and deprecated nodes,
foreign nodes and relationship types and keys whose UTF-16 and code-point orders differ
(tests/test_neo4j_server_walk.py). Subgraphs (`subgraph`, which also return every edge's
properties) still walk in Cypher.

**Closure in Cypher.** Breadth-first, one Cypher query per level inside one read transaction, the
frontier passed in key order: a node's parent is the one with the smallest key, then the
smallest edge kind, so every backend returns the same shortest path. Cycle-safe (a node is
reached once) and bounded by ``max_depth``. Each level comes back as one record of parallel
lists, one entry per far node, its parent chosen on the server as one integer (so `adjacent`
and the dataset-consumer lookup return one record too): the Python driver's cost per record,
then per nested list, was most of a hub's walk. The walk keeps its nodes' element ids, and
impact's follow-ups on the same closure (`closure_datasets`, `closure_dataset_consumers`) read
from them in one query, returning only the datasets that feed something or are consumed (a
hub's 10^4 others stay on the server); lineage never deletes a node, so the ids still hold.
Bulk loads go in batched ``UNWIND`` statements (one transaction
up to 50,000 rows; above, one per batch, node batches `BULK_WRITERS` at once, edges one writer:
concurrent edge batches deadlock on the relationships heading their ends' chains); edges
find their ends by element id, read or returned when the node was created, rather than by
a unique-index seek per end (see bench/NOTES-2026-12.md).

**Errors.** Every driver exception is translated where it is raised: unreachable server or
refused credentials -> StoreError (CLI exit 7), constraint violation -> ConflictError.

**The interface by concern.** `Store` composes `GraphStore` (lineage.store.graph),
`RecordStore` (lineage.store.records) and `OperationsStore` (lineage.store.operations).
This class implements the graph hooks in Cypher and hands the records' and operations'
hooks to `self.records`; it still derives from the composed `Store` so that every caller
gets one object.
"""

from .store import DEFAULT_RECORDS_URL, SCHEMA_VERSION, Neo4jStore, parse_url

__all__ = ["Neo4jStore", "DEFAULT_RECORDS_URL", "SCHEMA_VERSION", "parse_url"]
