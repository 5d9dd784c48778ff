"""OpenLineage events -> one GraphBatch.

What each event becomes (keys as in `lineage._keys`; edges in data-flow direction):

- every event: its job `job:{ns}/{name}` and datasets `dataset:{ns}/{name}`; a dataset's
  schema facet gives its fields `field:{ns}/{name}.{field}` (`has_field` dataset -> field;
  types per `_fieldtypes`), its symlinks facet a `symlinks` property and, per identifier,
  a dataset (`symlink_of`) linked both ways to it and to its listed fields by identity
  `derived_from` edges (`declared: symlink`; see `BatchBuilder._symlinked`).
- RunEvent, any state: run `run:{job ns}/{job name}/{runId}` (see "Runs" below) with `job
  -run_of-> run`; inputs `dataset -read-> job` and `dataset -read-> run`; outputs `job
  -wrote-> dataset`; a ParentRunFacet adds the parent run (keyed by the parent's job) and
  job, `parent job -run_of-> parent run -parent_of-> run`. A dataset with a
  DatasetVersionDatasetFacet among the inputs gets its version node (`version -version_of->
  dataset`, `version -read-> run`, schema snapshot from its schema facet).
- RunEvent COMPLETE only: `run -wrote-> dataset`; per output a version
  `dataset_version:{ns}/{name}@{v}` (v = the version facet's datasetVersion, else the runId)
  with `version -version_of-> dataset`, `run -wrote-> version` and its schema snapshot; and
  the outputs' column lineage as `derived_from` edges. FAIL and ABORT record the state only:
  nothing is derived and no output version exists, as the run produced nothing to trust.
- DatasetEvent and JobEvent carry static lineage: their column lineage becomes `derived_from`
  edges whatever the state, and datasets with a version facet get their version node.

Column lineage (ColumnLineageDatasetFacet): each `fields.<out>.inputFields[]` entry is an edge
`input field -derived_from-> output field`; its `transformation` is the lowercased subtype
of the entry's DIRECT transformation (of several, the least preserving by
`Transformation.loss`: window, aggregation, transformation, identity), else of its first
one: identity, transformation, aggregation, filter, join, group_by, sort, window,
conditional; a DIRECT entry without subtype is `transformation`, anything else `unknown`.
`masking` is true when any transformation masks, and `transformations` lists every
`TYPE/SUBTYPE` seen. The older form
(`transformationType` IDENTITY or MASKED, `transformationDescription`) gives `identity` or
`masking` (masking true). The dataset-wide `dataset` entries (fields that filter, join,
group or sort the whole output) become `input field -derived_from-> output dataset` edges
with `scope: dataset` and the indirect subtype as transformation.

The spec's explicit LineageFacet (`lineage`, after 1.52.0; see spec/README.md), on any
dataset of any event and on the job: a dataset-level source (`inputs`) becomes `source
dataset (or field) -derived_from-> dataset` with `scope: dataset`; a field-level source
(`fields.<f>.inputs`) `source field (or dataset) -derived_from-> field`, with the
transformation as column lineage gives it and `declared: lineage_facet`; a JOB source
`job -wrote-> dataset` (and its run's, with `runId`). In the job form, a DATASET entry is
a target as above, a JOB entry (named, or unnamed: the event's own job) reads its DATASET
sources (`dataset -read-> job`, and its run). Job-to-job entries, and an unnamed job on a
DatasetEvent, are not stored: `BatchBuilder.warnings` says so, and the answer with it.

Lifecycle (LifecycleStateChangeDatasetFacet), on a COMPLETE run's outputs and a
DatasetEvent's dataset (what happened; a JobEvent's outputs are what its job would do): the
change is the dataset's `lifecycle_change` (`{"change": "DROP"}`), stamped with the event
time, so the newest event's wins; its fields and versions take it too (those of the batch,
and the stored ones `follow_lifecycle` reads). From it `merge_node` derives
`lineage.lifecycle`'s properties: DROP `deleted`, the old name of a RENAME (`{"change":
"RENAME", "to": new key}`) `deprecated`, any other change live again; `lifecycle_by:
openlineage`, and a state a person set is never changed. A write (a COMPLETE run's output,
a DatasetEvent's dataset with a schema; not a DROP's own) stamps the dataset and the fields
its schema lists with `last_written`: a node written after the change is live, so a table
built again by a producer that sends no lifecycle facet comes back. A RENAME's
previousIdentifier is linked to the new name as a symlink one way: `old -derived_from->
new` (`scope: dataset`, `declared: rename`, identity), and field to field for the columns
the event's schema lists.

Runs: `state` is the strongest state seen, terminal (COMPLETE, FAIL, ABORT) over
non-terminal (START, RUNNING, OTHER) whatever order events arrive in, then the later event
time; `states` keeps each state's event time. Stored properties are merged, not replaced:
the stored node is read and the event's facts are laid over it, so duplicate delivery
changes nothing and COMPLETE-before-START ends in the same graph as START-then-COMPLETE.

State follows event time, not arrival (the async client and retries reorder events):
every property an event sets is stamped with its eventTime (`event_times`: property ->
time), and a stored value is replaced only by one from a newer event (at the same time,
the larger value, so that the outcome never depends on order). So field types, job SQL and
facets, descriptions and owners are those of the newest event that said them; an older
event arriving late still adds its run and its dataset versions (history), and fills what
no newer event said. `derived_from` edges are stamped the same way (`event_time`): the
newest event's transformation wins. A dataset's schema facet also sets its `fields` (the
current column list, newest event wins); a field that a newer schema no longer lists is
retired: its `has_field` edge from the dataset is removed (so impact of the dataset no
longer reaches it), while its node, its lineage and the older versions' schema snapshots
keep it (`lineage schema diff` reports the drop).

Runs are identified by their job and runId together (`keys.run_key`: the key is the job's
identity, then the runId, which is canonical lowercase). The spec says a runId names one
run, but producers reuse them: OpenLineage's own dbt fixtures report five runIds for runs of
different jobs. Keying by the runId alone had to refuse the second job's events (events
Marquez stores lost) or merge two jobs' runs into one; keying by (job, runId) stores each
as its own run, and the key depends on nothing but the event, so the store is the same in
whatever order events arrive. The runId alone still names its run while one job has it (a
suffix of the key, `Store.resolve`); once two jobs have it, it is ambiguous
(AmbiguousName lists both keys). The event that adds a second job's run is answered with a
warning at `run.runId`: "runId X is also a run of job 'J1'; stored as a separate run of
'J2' (key)" (`write` finds the stored runs with the write transaction's reads, before
the audit entry is written, so the audit log has it too; `note_shared_runs` ahead). A
parent run is keyed by the parent facet's job, a `root` by the root's job. An output
version named after the runId (no version facet) is one node for the runs of one runId
that write one dataset, its `run` that of the newest event (the larger key at equal times).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any
from uuid import UUID

from .. import _keys as keys
from .._errors import ValidationError
from .._model import EdgeRecord, EdgeSpec, FieldSchema, GraphBatch, NodeRecord
from .._types import dialect_of
from .._vocabulary import EdgeKind, NodeKind, Transformation
from ..lifecycle import BY_EVENTS
from ..lifecycle import PROPERTIES as LIFECYCLE_PROPERTIES
from ..schema import Change, diff
from ..store.base import Store
from ._fieldtypes import field_type
from ._validate import EventKind, parse_time, path_text

TERMINAL = ("COMPLETE", "FAIL", "ABORT")
#: tie-breaks between states at the same event time; higher wins (pessimistic on terminals)
_STATE_ORDER = {"OTHER": 0, "START": 1, "RUNNING": 2, "COMPLETE": 3, "ABORT": 4, "FAIL": 5}
#: properties merged as sets (sorted lists) rather than replaced
_UNION = ("facets", "reported_by", "symlinks", "symlink_of")
#: properties merged by their own rule, never stamped with an event time (a run's `job`
#: is part of its key, so never changes; each quality check keeps its newest result)
_UNTIMED = frozenset((*_UNION, "states", "event_times", "job", "quality_checks"))
_KNOWN_SUBTYPES = {t.value for t in Transformation} - {"masking", "unknown"}
# `lifecycle_by` of a dataset an event dropped or renamed away (with its fields and
# versions) is `BY_EVENTS`: the events own that state, so a newer event brings the dataset
# back; a state a person set (`lineage deprecate` / `delete`) no event changes
#: the node kinds whose `lifecycle` follows the events' lifecycleStateChange
_LIFECYCLE_KINDS = (NodeKind.DATASET, NodeKind.FIELD, NodeKind.DATASET_VERSION)


@dataclass
class Event:
    """One parsed, validated event and where it came from (for error messages)."""

    data: Mapping[str, Any]
    kind: EventKind
    index: int
    total: int
    file: str | None = None
    line: int | None = None

    @cached_property
    def time(self) -> str | None:
        """The eventTime (validated, so an RFC 3339 string); read once (~20 times an
        event: every property is stamped with it)."""
        value = self.data.get("eventTime")
        return value if isinstance(value, str) else None

    def error(self, message: str, path: Sequence[str | int] = ()) -> ValidationError:
        if self.total > 1 and self.line is None:
            message += f" (event {self.index + 1} of {self.total})"
        return ValidationError(message, file=self.file, key=path_text(list(path)) or None,
                               line=self.line)


@dataclass
class Counts:
    runs: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    datasets: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)


class BatchBuilder:
    """Accumulates the facts of many events, then merges them with the store's nodes."""

    def __init__(self, principal: str | None = None) -> None:
        self.principal = principal
        self.batch = GraphBatch()
        # key -> (name, namespace, properties laid over the stored ones)
        self.pending: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        self.counts = Counts()
        #: dataset key -> every field name its schema facets in this batch listed
        self.listed: dict[str, set[str]] = {}
        #: field or dataset version key -> its dataset's key
        self.dataset_of: dict[str, str] = {}
        #: the datasets whose lifecycle an event of this batch changes (`follow_lifecycle`)
        self.lifecycle_changed: set[str] = set()
        #: dataset key -> the other names a symlinks facet of this batch links it to
        self.linked: dict[str, set[str]] = {}
        #: dataset key -> (event time, version key or None) of the newest event of this batch
        #: that gives its schema (`schema_changes`)
        self.described: dict[str, tuple[Any, str | None]] = {}
        #: `merge` raises SchemaChanged on a change of a described dataset's current schema
        #: not in this set: (field key, old type, new type) or (dataset key, dropped name, None)
        #: (see `openlineage.write`); None: not watched
        self.expected_changes: set[tuple[str, Any, Any]] | None = None
        #: dataset key -> its merged (`lifecycle_change`, event time), as `merge` saw it
        self._dataset_change: dict[str, tuple[Any, Any]] = {}
        #: what was read but not stored: {"path": ..., "message": ...} (see `add`)
        self.warnings: list[dict[str, str]] = []

    # ---------------------------------------------------------------- nodes and edges

    def edge(self, src: str, dst: str, kind: EdgeKind, *, at: str | None = None,
             **properties: Any) -> None:
        """What `GraphBatch.add_edge` does, as a record: keys and kind are this module's
        own, made from validated events. Properties are stamped with the event time `at`;
        of two events' properties for one edge, the newer's are kept (`merge_edge`)."""
        props = {k: v for k, v in properties.items() if v is not None}
        if props and at is not None:
            props["event_time"] = at
        ident = (src, dst, kind.value)
        known = self.batch.edges.get(ident)
        if known is not None and known.properties:
            props = merge_edge(ident, known.properties, props)
        self.batch.edges[ident] = EdgeRecord(src, dst, kind, props)

    def node(self, key: str, name: str, namespace: str | None, *, at: str | None = None,
             **properties: Any) -> str:
        """Add facts about a node; each property is stamped with the event time `at`."""
        props = {k: v for k, v in properties.items() if v is not None}
        if at is not None:
            stamped = {k: at for k in props if k not in _UNTIMED}
            if stamped:
                props["event_times"] = stamped
        if key in self.pending:
            _, _, known = self.pending[key]
            props = merge_properties(known, props)
        self.pending[key] = (name, namespace, props)
        return key

    def dataset(self, ev: Event, path: list[str | int], namespace: Any, name: Any) -> str:
        key = _key(ev, path, keys.dataset_key, namespace, name)
        self.counts.datasets.add(key)
        return self.node(key, name, namespace)

    def field(self, ev: Event, path: list[str | int], dataset: str, namespace: str,
              name: str, field_name: Any, **properties: Any) -> str:
        key = _key(ev, path, keys.field_key, namespace, name, field_name,
                   names=(None, None, None))
        self.counts.fields.add(key)
        self.node(key, f"{name}.{field_name}", namespace, at=ev.time, **properties)
        self.edge(dataset, key, EdgeKind.HAS_FIELD)
        self.dataset_of[key] = dataset
        return key

    def job(self, ev: Event, path: list[str | int], job: Mapping[str, Any]) -> str:
        ns, name = job["namespace"], job["name"]
        key = _key(ev, path, keys.job_key, ns, name)
        facets = _facets(job)
        self.counts.jobs.add(key)
        return self.node(
            key, name, ns, at=ev.time,
            facets=sorted(facets) or None,
            description=_get(facets, "documentation", "description"),
            job_type=_plain(facets.get("jobType")),
            sql=_get(facets, "sql", "query"),
            source_code_location=_get(facets, "sourceCodeLocation", "url"),
        )

    def run(self, ev: Event, path: list[str | int], run_id: Any, job_key: str,
            job_ns: str, **properties: Any) -> str:
        """A run of `job_key`, keyed by the job and the runId (`keys.run_key`): a runId that
        another job reports too is another run, whichever arrives first (the ingest warns
        of it: `_ingest._SharedRuns`)."""
        rid = _run_id(ev, path, run_id)
        key = keys.run_key(rid, job_key)
        return self.node(key, rid, job_ns, at=ev.time, job=job_key, **properties)

    # ---------------------------------------------------------------- events

    def add(self, ev: Event) -> None:
        """Map one event; what it says that the store cannot hold goes to `warnings`."""
        if ev.kind == "RunEvent":
            self._run_event(ev)
        elif ev.kind == "JobEvent":
            job = self.job(ev, ["job"], ev.data["job"])
            self._io(ev, job, None, derive=True, outputs_written=False)
            self._job_lineage(ev, job, None)
        else:
            data = ev.data["dataset"]
            dkey = self._dataset(ev, ["dataset"], data, role="static")
            self._column_lineage(ev, ["dataset"], data, dkey, None)
            self._dataset_lineage(ev, ["dataset"], data, dkey, None)

    def _run_event(self, ev: Event) -> None:
        data = ev.data
        job = self.job(ev, ["job"], data["job"])
        run = data["run"]
        facets = _facets(run)
        state = data.get("eventType")
        states = {state: data["eventTime"]} if state else None
        parent = facets.get("parent")
        parent_key = None
        if isinstance(parent, Mapping):
            pjob = self.job(ev, ["run", "facets", "parent", "job"], parent["job"])
            parent_key = self.run(ev, ["run", "facets", "parent", "run", "runId"],
                                  parent["run"]["runId"], pjob, parent["job"]["namespace"])
            self.edge(pjob, parent_key, EdgeKind.RUN_OF)
        root = _get(facets, "parent", "root", "run", "runId")
        root_job = _get(facets, "parent", "root", "job")
        root_key = None
        if isinstance(root, str):
            # validated: a root names its job too (the spec requires it); without one
            # the root is known by its id only
            root_key = keys.run_key(str(UUID(root)), keys.job_key(
                root_job["namespace"], root_job["name"]) if isinstance(root_job, Mapping)
                and root_job.get("namespace") and root_job.get("name") else None)
        rkey = self.run(
            ev, ["run", "runId"], run["runId"], job, data["job"]["namespace"],
            states=states,
            facets=sorted(facets) or None,
            nominal_start_time=_get(facets, "nominalTime", "nominalStartTime"),
            nominal_end_time=_get(facets, "nominalTime", "nominalEndTime"),
            error_message=_get(facets, "errorMessage", "message"),
            parent=parent_key,
            root=root_key,
            reported_by=[self.principal] if self.principal else None,
        )
        self.counts.runs.add(rkey)
        self.edge(job, rkey, EdgeKind.RUN_OF)
        if parent_key is not None and parent_key != rkey:
            self.edge(parent_key, rkey, EdgeKind.PARENT_OF)
        complete = state == "COMPLETE"
        self._io(ev, job, rkey, derive=complete, outputs_written=complete,
                 run_id=keys.run_parts(rkey)[1])
        self._job_lineage(ev, job, rkey)

    def _io(self, ev: Event, job: str, run: str | None, *, derive: bool,
            outputs_written: bool, run_id: str | None = None) -> None:
        read: set[str] = set()
        for i, data in enumerate(ev.data.get("inputs") or []):
            dkey = self._dataset(ev, ["inputs", i], data, run=run, role="input")
            read.add(dkey)
            self.edge(dkey, job, EdgeKind.READ)
            if run is not None:
                self.edge(dkey, run, EdgeKind.READ)
            self._dataset_lineage(ev, ["inputs", i], data, dkey, job)
            self._quality_checks(ev, ["inputs", i], data, dkey, job, run)
        check = _is_quality_check(ev.data["job"])
        sources: set[str] = set()
        for i, data in enumerate(ev.data.get("outputs") or []):
            path: list[str | int] = ["outputs", i]
            if check or _is_test_audit(data["name"]):
                continue  # a test's audit table: no dataset downstream of what it tests
            if run is None:
                role = "static"
            else:
                role = "produced" if outputs_written else "pending"
            dkey = self._dataset(ev, path, data, run=run, role=role, run_id=run_id)
            self.edge(job, dkey, EdgeKind.WROTE)
            if outputs_written and run is not None:
                self.edge(run, dkey, EdgeKind.WROTE)
            if derive:
                sources |= self._column_lineage(ev, path, data, dkey, job)
            self._dataset_lineage(ev, path, data, dkey, job)
        # datasets named only in column lineage were read all the same: table-level too
        for source in sorted(sources - read):
            self.edge(source, job, EdgeKind.READ)
            if run is not None:
                self.edge(source, run, EdgeKind.READ)

    def _quality_checks(self, ev: Event, path: list[str | int], data: Mapping[str, Any],
                        dkey: str, job: str, run: str | None) -> None:
        """A dataset's `dataQualityAssertions` (an input facet, or a dataset facet as dbt-ol
        sends it) as the `quality_checks` of the dataset, and of the column each names:
        `{"<job>|<assertion>|<column>": {assertion, success, column, severity, description,
        job, run, at}}`, the newest result of each check kept."""
        for where in ("inputFacets", "facets"):
            facet = _facet(data, "dataQualityAssertions", where)
            assertions = _get(facet, "assertions")
            if not isinstance(assertions, list):
                continue
            ns, name = data["namespace"], data["name"]
            for k, a in enumerate(assertions):
                if not isinstance(a, Mapping) or not isinstance(a.get("assertion"), str):
                    continue
                column = a.get("column") if isinstance(a.get("column"), str) else None
                entry = {key: value for key, value in {
                    "assertion": a["assertion"], "success": a.get("success"),
                    "column": column, "severity": a.get("severity"),
                    "description": a.get("description"), "job": job, "run": run,
                    "at": ev.time}.items() if value is not None}
                checks = {f"{job}|{a['assertion']}|{column or ''}": entry}
                self.node(dkey, name, ns, quality_checks=checks)
                if column:
                    self.field(ev, [*path, where, "dataQualityAssertions", "assertions", k,
                                    "column"], dkey, ns, name, column, quality_checks=checks)

    def _dataset(self, ev: Event, path: list[str | int], data: Mapping[str, Any], *,
                 role: str, run: str | None = None, run_id: str | None = None) -> str:
        """A dataset, its fields, and its version node when it has one; returns its key.

        `role`: "input" (read by `run`; a version node when the version facet names one),
        "produced" (written by a completed `run`; a version node always, named by the
        version facet or else the run id), "pending" (an output of a run that has not
        completed: no version), "static" (a DatasetEvent's or JobEvent's dataset; a version
        node when the version facet names one)."""
        ns, name = data["namespace"], data["name"]
        dkey = self.dataset(ev, path, ns, name)
        facets = _facets(data)
        written = self._write_time(ev, role, facets)
        self.node(dkey, name, ns, at=ev.time,
                  last_written=written,
                  facets=sorted(facets) or None,
                  symlinks=_symlinks(facets.get("symlinks")),
                  description=_get(facets, "documentation", "description"),
                  owners=_plain(_get(facets, "ownership", "owners")),
                  dataset_type=_get(facets, "datasetType", "datasetType"))
        schema = facets.get("schema")
        # (name, type, description) per field; FieldSchemas only for a version node
        snapshot: list[tuple[Any, str, Any]] | None = None
        if isinstance(schema, Mapping) and isinstance(schema.get("fields"), list):
            snapshot = []
            seen: dict[str, int] = {}
            dialect = dialect_of(ns)
            for j, f in enumerate(schema["fields"]):
                fpath = [*path, "facets", "schema", "fields", j, "name"]
                if f["name"] in seen:
                    raise ev.error(f"field '{f['name']}' appears twice in the schema facet "
                                   f"(fields[{seen[f['name']]}] and fields[{j}])", fpath)
                seen[f["name"]] = j
                spelling = f.get("type") if isinstance(f.get("type"), str) else None
                # read as the dataset's system spells it: INTEGER is 32 bits in PostgreSQL
                # and Spark, 64 in BigQuery (lineage._types.dialect_of)
                canonical = field_type(spelling, f.get("fields"), dialect)
                self.field(ev, fpath, dkey, ns, name, f["name"],
                           type=canonical if spelling or f.get("fields") else None,
                           source_type=spelling, description=f.get("description"),
                           last_written=written)
                snapshot.append((f["name"], canonical, f.get("description")))
            # the dataset's current columns, as of this event (see the module docstring)
            names = [str(n) for n, _, _ in snapshot]
            self.node(dkey, name, ns, at=ev.time, fields=names)
            self.listed.setdefault(dkey, set()).update(names)
        if snapshot is not None:
            self._describe(dkey, ev.time, None)
        self._symlinked(ev, path, facets.get("symlinks"), dkey, ns, name,
                        [str(n) for n, _, _ in snapshot or ()], written)
        if role == "produced" or ev.kind == "DatasetEvent":
            # a change that happened: a completed run's output, or a dataset's own event
            # (a JobEvent's outputs say what the job writes, not what it did)
            self._lifecycle(ev, path, facets.get("lifecycleStateChange"), dkey, ns, name,
                            [str(n) for n, _, _ in snapshot or ()])
        named = _get(facets, "version", "datasetVersion")
        version = named if isinstance(named, str) and named.strip() else None
        if role == "produced" and version is None:
            version = run_id
        if version is None or role == "pending":
            return dkey
        produced = role == "produced"
        vpath = [*path, "facets", "version", "datasetVersion"]
        vkey = _key(ev, vpath, keys.dataset_version_key, ns, name, version,
                    names=(None, None, None))
        self.counts.versions.add(vkey)
        if snapshot is not None:
            self._describe(dkey, ev.time, vkey)
        # stamped like every other fact: two runs reporting one named version at one time
        # end with the same `run` whichever arrived last (the larger value wins the tie)
        self.node(vkey, f"{name}@{version}", ns, at=ev.time, version=version,
                  run=run if produced else None,
                  created_at=ev.data.get("eventTime") if produced else None,
                  last_written=None if produced else written)  # a DatasetEvent's write
        self.edge(vkey, dkey, EdgeKind.VERSION_OF)
        self.dataset_of[vkey] = dkey
        if run is not None and produced:
            self.edge(run, vkey, EdgeKind.WROTE)
        elif run is not None and role == "input":
            self.edge(vkey, run, EdgeKind.READ)
        if snapshot is not None:
            self.batch.schemas[vkey] = [FieldSchema(name=n, type=t, description=d)
                                        for n, t, d in snapshot]
        return dkey

    def _symlinked(self, ev: Event, path: list[str | int], facet: Any, dkey: str, ns: str,
                   name: str, fields: list[str], written: str | None = None) -> None:
        """A SymlinksDatasetFacet's identifiers are other names of this very dataset (Spark
        names a table by its warehouse path and gives its Hive or Glue name as a symlink,
        while Trino, Hive or Airflow name it by the table name): each is a dataset linked
        both ways to this one, `derived_from` with `scope: dataset`, `transformation:
        identity` and `declared: symlink`, and so is each field this event's schema lists,
        so that impact and upstream cross from one name to the other at table and column
        level whichever name a producer used. Links, not one node: which name an event uses
        depends on its producer, and the store must not depend on which arrived first.
        A write of this name (`written`, `_write_time`) is one of the other names too."""
        identifiers = _get(facet, "identifiers")
        if not isinstance(identifiers, list):
            return
        for k, ident in enumerate(identifiers):
            if not isinstance(ident, Mapping):
                continue
            ipath: list[str | int] = [*path, "facets", "symlinks", "identifiers", k]
            sns, sname = ident["namespace"], ident["name"]
            alias = self.dataset(ev, ipath, sns, sname)
            if alias == dkey:
                continue
            self.linked.setdefault(dkey, set()).add(alias)
            self.node(alias, sname, sns, at=written, symlink_of=[dkey], last_written=written)
            if fields:  # the same table's current columns, under its other name too
                self.node(alias, sname, sns, at=ev.time, fields=fields)
                self.listed.setdefault(alias, set()).update(fields)
            for src, dst in ((dkey, alias), (alias, dkey)):
                self.edge(src, dst, EdgeKind.DERIVED_FROM, at=ev.time, scope="dataset",
                          transformation=Transformation.IDENTITY.value, declared="symlink")
            for field_name in fields:
                own = keys.field_key(ns, name, field_name)
                other = self.field(ev, ipath, alias, sns, sname, field_name,
                                   last_written=written)
                for src, dst in ((own, other), (other, own)):
                    self.edge(src, dst, EdgeKind.DERIVED_FROM, at=ev.time,
                              transformation=Transformation.IDENTITY.value,
                              declared="symlink")

    def _describe(self, dkey: str, at: Any, version: str | None) -> None:
        known = self.described.get(dkey)
        if known is None or _time_or_min(at) > _time_or_min(known[0]) or (
                at == known[0] and version is not None):
            self.described[dkey] = (at, version)

    def schema_changes(self, store: Store) -> list[tuple[str, str | None, list[Change]]]:
        """What this batch changes in the current schema of each dataset an event of it
        gives a schema of: `lineage.schema.diff` of the stored current columns and types
        and what the merge will make of them (event time deciding, as in `merge`), with the
        version of the newest such event. An older event arriving late changes nothing
        current, so nothing here; neither does a dataset new to the store. Names and types
        only (a description is no change a reader breaks on). One read, two when a column
        leaves the current schema; none without schemas."""
        if not self.described:
            return []
        datasets = sorted(self.described)
        given = {k: d for k, d in self.dataset_of.items()
                 if d in self.described and k.startswith(_FIELD_PREFIX) and k in self.pending}
        stored = store.nodes([*datasets, *sorted(given)])
        found: list[tuple[str, str | None, list[Change]]] = []
        for dkey in datasets:
            old = stored.get(dkey)
            if old is None or not isinstance(before := old.properties.get("fields"), list) \
                    or not before:
                continue  # nothing to compare with
            merged = merge_node(dkey, old.properties, self.pending[dkey][2],
                                kind=NodeKind.DATASET)
            after = merged.get("fields")
            after = after if isinstance(after, list) else before
            prefix = keys.fields_prefix(dkey)
            missing = [prefix + n for n in before
                       if prefix + n not in stored and prefix + n not in given]
            if missing:  # a column this batch does not list (it left the schema)
                stored.update(store.nodes(missing))
            old_types = {n: _stored_type(stored.get(prefix + n)) for n in before}
            new_types = {}
            for n in after:
                fkey = prefix + n
                node = stored.get(fkey)
                if fkey in given:
                    new_types[n] = merge_node(fkey, node.properties if node else {},
                                              self.pending[fkey][2],
                                              kind=NodeKind.FIELD).get("type")
                else:
                    new_types[n] = _stored_type(node)
            if before == after and old_types == new_types:
                continue  # the common case: the schema as stored
            changes = [c for c in diff(_schema(before, old_types), _schema(after, new_types))
                       if c.kind != "added"]
            if changes:
                found.append((dkey, self.described[dkey][1], changes))
            # what the merge will do, for `merge` to check it against (`_watch`)
            self.expected_changes = (self.expected_changes or set()) | {
                (prefix + n, old_types[n], new_types[n]) for n in after
                if n in old_types and old_types[n] is not None
                and new_types[n] != old_types[n]} | {
                (dkey, n, None) for n in set(before) - set(after)}
        return found

    @staticmethod
    def _write_time(ev: Event, role: str, facets: Mapping[str, Any]) -> str | None:
        """The event time when this event writes the dataset, else None: a completed run's
        output, or a DatasetEvent's dataset with a schema (what happened, as in
        `_lifecycle`), unless the event drops it. Stamped as the dataset's and its listed
        fields' `last_written`, it brings back what an older DROP retired (`_with_lifecycle`)
        whether or not the writer says a lifecycleStateChange (dbt and Airflow do not)."""
        if role != "produced" and (ev.kind != "DatasetEvent" or "schema" not in facets):
            return None
        if _get(facets, "lifecycleStateChange", "lifecycleStateChange") == "DROP":
            return None
        return ev.time

    def _lifecycle(self, ev: Event, path: list[str | int], facet: Any, dkey: str, ns: str,
                   name: str, fields: list[str]) -> None:
        """A LifecycleStateChangeDatasetFacet: the change, stamped with the event time, is
        the dataset's `lifecycle_change` (`{"change": "DROP"}`; the newest event's wins, as
        every stamped property), from which `merge_node` derives its `lifecycle`. A RENAME
        with a previousIdentifier links the previous name to this one, `derived_from` with
        `scope: dataset`, `transformation: identity` and `declared: rename` (and each field
        this event's schema lists, field to field), so impact of the old name reaches the
        new one; the old name's change is `{"change": "RENAME", "to": <this key>}`."""
        change = _get(facet, "lifecycleStateChange")
        if not isinstance(change, str):
            return
        value: dict[str, Any] = {"change": change}
        previous = _get(facet, "previousIdentifier")
        if change == "RENAME" and isinstance(previous, Mapping):
            ppath: list[str | int] = [*path, "facets", "lifecycleStateChange",
                                      "previousIdentifier"]
            pns, pname = previous["namespace"], previous["name"]
            old = self.dataset(ev, ppath, pns, pname)
            if old != dkey:
                value["from"] = old
                self._lifecycle_change(ev, old, pname, pns, {"change": change, "to": dkey})
                self.edge(old, dkey, EdgeKind.DERIVED_FROM, at=ev.time, scope="dataset",
                          transformation=Transformation.IDENTITY.value, declared="rename")
                for field_name in fields:
                    self.edge(self.field(ev, ppath, old, pns, pname, field_name),
                              keys.field_key(ns, name, field_name), EdgeKind.DERIVED_FROM,
                              at=ev.time, transformation=Transformation.IDENTITY.value,
                              declared="rename")
        elif change == "RENAME":
            self.warnings.append({"path": path_text([*path, "facets", "lifecycleStateChange"]),
                                  "message": "a RENAME without previousIdentifier: the "
                                  "previous name is unknown, so nothing is linked to it"})
        self._lifecycle_change(ev, dkey, name, ns, value)

    def _lifecycle_change(self, ev: Event, dkey: str, name: str, ns: str,
                          value: dict[str, Any]) -> None:
        self.node(dkey, name, ns, at=ev.time, lifecycle_change=value)
        self.lifecycle_changed.add(dkey)

    def _column_lineage(self, ev: Event, path: list[str | int], data: Mapping[str, Any],
                        dkey: str, job: str | None) -> set[str]:
        """The facet's derivations; returns the keys of the datasets its inputs name."""
        facet = _facet(data, "columnLineage")
        if not isinstance(facet, Mapping):
            return set()
        base = [*path, "facets", "columnLineage"]
        ns, name = data["namespace"], data["name"]
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for out_name, spec in (facet.get("fields") or {}).items():
            out_path = [*base, "fields", out_name]
            target = self.field(ev, out_path, dkey, ns, name, out_name)
            legacy = _legacy_transformation(spec)
            for k, source in enumerate(spec.get("inputFields") or []):
                origin = self._input_field(ev, [*out_path, "inputFields", k], source)
                if origin == target:
                    continue  # a field computed from its own previous value: no edge
                found.setdefault((origin, target), []).extend(
                    _transformations(source) or legacy)
        for k, source in enumerate(facet.get("dataset") or []):
            origin = self._input_field(ev, [*base, "dataset", k], source)
            found.setdefault((origin, dkey), []).extend(_transformations(source))
        for (origin, target), seen in found.items():
            props = _edge_properties(seen)
            if target == dkey:
                props["scope"] = "dataset"
            self.edge(origin, target, EdgeKind.DERIVED_FROM, at=ev.time, job=job, **props)
        sources = {self.dataset_of[origin] for origin, _ in found} - {dkey}
        if job is None:  # static lineage of a DatasetEvent: the inputs derive the dataset
            for source in sorted(sources):
                self.edge(source, dkey, EdgeKind.DERIVED_FROM, at=ev.time, scope="dataset",
                          transformation=Transformation.UNKNOWN.value)
        return sources

    # ---------------------------------------------------------------- the LineageFacet

    def _dataset_lineage(self, ev: Event, path: list[str | int], data: Mapping[str, Any],
                         dkey: str, own_job: str | None) -> None:
        """The dataset form of the spec's LineageFacet (`facets.lineage` with `inputs` and
        `fields`) on a dataset of the event."""
        facet = _facet(data, "lineage")
        if isinstance(facet, Mapping):
            self._lineage_target(ev, [*path, "facets", "lineage"], facet, dkey,
                                 data["namespace"], data["name"], own_job)

    def _job_lineage(self, ev: Event, job: str, run: str | None) -> None:
        """The job form of the LineageFacet (`job.facets.lineage.entries`): a DATASET entry
        is a target dataset with its sources, as the dataset form; a JOB entry (named, or
        without a name: this event's job) reads its DATASET sources."""
        facet = _facet(ev.data["job"], "lineage")
        if not isinstance(facet, Mapping):
            return
        for i, entry in enumerate(facet.get("entries") or []):
            path: list[str | int] = ["job", "facets", "lineage", "entries", i]
            if not isinstance(entry, Mapping):
                continue
            if entry.get("type") == "DATASET":
                ns, name = entry["namespace"], entry["name"]
                dkey = self.dataset(ev, path, ns, name)
                self._lineage_target(ev, path, entry, dkey, ns, name, job)
                continue
            target = self._lineage_job(ev, path, entry, job)
            if target is None:
                continue
            target_run = self._lineage_run(ev, path, entry, target) or (
                run if target == job else None)
            for k, source in enumerate(entry.get("inputs") or []):
                spath: list[str | int] = [*path, "inputs", k]
                if source.get("type") != "DATASET":
                    self.warnings.append({"path": path_text(spath), "message":
                                          "job-to-job lineage is not stored: the store links "
                                          "jobs through the datasets between them"})
                    continue
                src = self.dataset(ev, spath, source["namespace"], source["name"])
                if isinstance(source.get("field"), str):
                    self.field(ev, [*spath, "field"], src, source["namespace"],
                               source["name"], source["field"])
                self.edge(src, target, EdgeKind.READ)
                if target_run is not None:
                    self.edge(src, target_run, EdgeKind.READ)

    def _lineage_target(self, ev: Event, base: list[str | int], entry: Mapping[str, Any],
                        dkey: str, ns: str, name: str, own_job: str | None) -> None:
        """The sources of one target dataset: `inputs` feed the whole dataset, `fields`
        each field."""
        for k, source in enumerate(entry.get("inputs") or []):
            self._lineage_source(ev, [*base, "inputs", k], source, dkey, None, own_job)
        for out_name, spec in (entry.get("fields") or {}).items():
            fpath: list[str | int] = [*base, "fields", out_name]
            target = self.field(ev, fpath, dkey, ns, name, out_name)
            for k, source in enumerate(spec.get("inputs") or []):
                self._lineage_source(ev, [*fpath, "inputs", k], source, dkey, target, own_job)

    def _lineage_source(self, ev: Event, path: list[str | int], source: Mapping[str, Any],
                        dkey: str, target: str | None, own_job: str | None) -> None:
        """One source feeding `target` (a field key; None: the dataset `dkey` as a whole).
        A dataset or field source derives it (`derived_from`, with the transformation as
        column lineage gives it, `scope: dataset` when it feeds the whole dataset); a job
        source wrote the dataset (`job -wrote-> dataset`, and its run's when it names one)."""
        if not isinstance(source, Mapping):
            return
        if source.get("type") == "JOB":
            job = self._lineage_job(ev, path, source, own_job)
            if job is not None:
                self.edge(job, dkey, EdgeKind.WROTE)
                run = self._lineage_run(ev, path, source, job)
                if run is not None:
                    self.edge(run, dkey, EdgeKind.WROTE)
            return
        sns, sname = source["namespace"], source["name"]
        origin = self.dataset(ev, path, sns, sname)
        if isinstance(source.get("field"), str):
            origin = self.field(ev, [*path, "field"], origin, sns, sname, source["field"])
        into = target or dkey
        if origin == into:
            return
        props = _edge_properties(_transformations(source))
        if target is None:
            props["scope"] = "dataset"
        self.edge(origin, into, EdgeKind.DERIVED_FROM, at=ev.time, job=own_job,
                  declared="lineage_facet", **props)

    def _lineage_job(self, ev: Event, path: list[str | int], ref: Mapping[str, Any],
                     own_job: str | None) -> str | None:
        """The job a LineageFacet entry or source names; without a name, the event's own
        job (None, with a warning, on a DatasetEvent, which has none)."""
        if "name" not in ref and "namespace" not in ref:
            if own_job is None:
                self.warnings.append({"path": path_text(path), "message":
                                      "a JOB without a name means the event's own job, and a "
                                      "DatasetEvent has none: not stored"})
            return own_job
        return self.job(ev, path, {"namespace": ref["namespace"], "name": ref["name"]})

    def _lineage_run(self, ev: Event, path: list[str | int], ref: Mapping[str, Any],
                     job: str) -> str | None:
        run_id = ref.get("runId")
        if not isinstance(run_id, str):
            return None
        own = ev.data.get("job")
        namespace = ref.get("namespace") or (own or {}).get("namespace") or ""
        rkey = self.run(ev, [*path, "runId"], run_id, job, str(namespace))
        self.edge(job, rkey, EdgeKind.RUN_OF)
        return rkey

    def _input_field(self, ev: Event, path: list[str | int], source: Mapping[str, Any]) -> str:
        ns, name = source["namespace"], source["name"]
        dkey = self.dataset(ev, path, ns, name)
        return self.field(ev, [*path, "field"], dkey, ns, name, source["field"])

    # ---------------------------------------------------------------- finishing

    def finish(self, store: Store) -> GraphBatch:
        """Lay the accumulated facts over the stored nodes and return the batch (what
        `unmerged()` applied with `merge_node` would write, read outside any transaction:
        for a dry run)."""
        self.follow_lifecycle(store)
        stored = store.nodes(self.pending)
        for key, (name, namespace, props) in self.pending.items():
            old = stored.get(key)
            self.batch.add_node(key, name, namespace, **self._merged(
                key, keys.kind_of(key), old.properties if old else {}, props))
        # a dry run's caller gets specs, as from any other batch
        self.batch.edges = {ident: EdgeSpec(src=e.src, dst=e.dst, kind=e.kind,
                                            properties=e.properties)
                            for ident, e in self.batch.edges.items()}
        return self.batch

    def merge(self, key: str, old: Mapping[str, Any], new: Mapping[str, Any]
              ) -> dict[str, Any]:
        """`merge_node`, and for a dataset whose current `fields` no longer list a field the
        store or this batch knew it by, that field's `has_field` edge goes into the batch's
        `removed_edges` (the store reads it after merging the nodes)."""
        kind = keys.kind_of(key)
        merged = self._merged(key, kind, old, new)
        current = merged.get("fields")
        if isinstance(current, list) and kind is NodeKind.DATASET:
            before = old.get("fields")
            known = set(before if isinstance(before, list) else []) | self.listed.get(key, set())
            name, namespace, _ = self.pending[key]
            for gone in known - set(current):
                self.batch.removed_edges.add(
                    (key, keys.field_key(str(namespace), name, gone), EdgeKind.HAS_FIELD.value))
        if self.expected_changes is not None and old:
            self._watch(key, kind, old, merged)
        return merged

    def _watch(self, key: str, kind: NodeKind, old: Mapping[str, Any],
               merged: Mapping[str, Any]) -> None:
        """Raise SchemaChanged when this merge changes the current schema of a dataset an
        event of the batch describes in a way `expected_changes` does not list: a typed
        column's type, or a column leaving the dataset's `fields`. Told by the stored
        properties the merge is given anyway: nothing is read."""
        expected = self.expected_changes or set()
        if kind is NodeKind.FIELD and self.dataset_of.get(key) in self.described:
            before, after = old.get("type"), merged.get("type")
            if before is not None and after != before and (key, before, after) not in expected:
                raise SchemaChanged(key)
        elif kind is NodeKind.DATASET and key in self.described:
            before, after = old.get("fields"), merged.get("fields")
            if isinstance(before, list) and isinstance(after, list):
                for gone in set(before) - set(after):
                    if (key, gone, None) not in expected:
                        raise SchemaChanged(key)

    def _merged(self, key: str, kind: NodeKind, old: Mapping[str, Any],
                new: Mapping[str, Any]) -> dict[str, Any]:
        if self._dataset_change and kind in (NodeKind.FIELD, NodeKind.DATASET_VERSION):
            new = self._inherited(key, old, new)
        elif self._dataset_change and kind is NodeKind.DATASET and "symlink_of" in new:
            new = self._symlink_inherited(new)
        merged = merge_node(key, old, new, kind=kind)
        if kind is NodeKind.DATASET and "lifecycle_change" in merged:
            self._dataset_change[key] = _stamped_change(merged)
        return merged

    def _inherited(self, key: str, old: Mapping[str, Any], new: Mapping[str, Any]
                   ) -> Mapping[str, Any]:
        """A field's or version's facts with its dataset's merged lifecycle change laid
        over them (so it follows the dataset's state, as `lineage delete` retires a
        dataset's fields and versions with it), when the node is new to it or the dataset's
        change is in this batch. Relies on the store merging a batch's nodes in its order
        (`GraphStore.apply`): a field's or version's dataset is always put in before it."""
        dataset = self.dataset_of.get(key)
        found = self._dataset_change.get(dataset) if dataset is not None else None
        if found is None or ("lifecycle_change" in old
                             and dataset not in self.lifecycle_changed):
            return new
        value, at = found
        stamp: dict[str, Any] = {"lifecycle_change": value}
        if at is not None:
            stamp["event_times"] = {"lifecycle_change": at}
        return merge_properties(new, stamp)

    def _symlink_inherited(self, new: Mapping[str, Any]) -> Mapping[str, Any]:
        """Another name of a dataset (`symlink_of`) linked in this batch takes the merged
        lifecycle change that dataset has (a link reported after the dataset was dropped);
        its newest change wins as any (`merge_properties`). Relies on the batch order as
        `_inherited` does: `_symlinked` puts the alias in after the dataset."""
        for owner in new["symlink_of"]:
            found = self._dataset_change.get(owner)
            if found is not None:
                value, at = found
                stamp: dict[str, Any] = {"lifecycle_change": value}
                if at is not None:
                    stamp["event_times"] = {"lifecycle_change": at}
                new = merge_properties(new, stamp)
        return new

    def _follow_symlinks(self, store: Store) -> None:
        """Each dataset whose lifecycle this batch changes passes the change on to its
        other names (the symlinks facet's identifiers and the datasets it is one of, as
        this batch or the store has them): they name the same table, so a DROP of the
        Spark warehouse path retires the Hive table name too. The change itself is laid on
        them, stamped with its event time, so the newest wins whatever the order."""
        changed = sorted(self.lifecycle_changed)
        stored = store.nodes(changed)
        passed: list[tuple[str, Any, Any]] = []  # (other name, change, its event time)
        for dkey in changed:
            _, _, props = self.pending[dkey]
            value, at = _stamped_change(props)
            found = stored.get(dkey)
            if value is not None:
                aliases = _aliases(props) | _aliases(found.properties if found else {})
                passed.extend((alias, value, at) for alias in sorted(aliases - {dkey}))
        unknown = {alias for alias, _, _ in passed if alias not in self.pending}
        others = store.nodes(unknown) if unknown else {}
        for alias, value, at in passed:
            if alias in self.pending:
                name, ns, _ = self.pending[alias]
            elif alias in others:
                name, ns = others[alias].name, others[alias].namespace
            else:
                continue  # named by a symlinks facet the store never kept
            self._pass_change(alias, name, ns, value, at)

    def _adopt_linked_changes(self, store: Store) -> None:
        """Two names a symlinks facet of this batch links take each other's stored
        lifecycle change: the Hive table name dropped by an event that named no symlinks,
        before the event linking it to the warehouse path arrived, retires the path as the
        other order does (`_follow_symlinks`); and a name this batch mentions before the
        link (several events in one request) takes its linked name's stored DROP whatever
        the batch's order (`_symlink_inherited` needs the linked name merged first). One
        read, only in batches with a symlinks facet; changes this batch makes itself are
        passed on by `_follow_symlinks`."""
        if not self.linked:
            return
        pairs = sorted({(a, b) for dkey, aliases in self.linked.items() for alias in aliases
                        for a, b in ((dkey, alias), (alias, dkey))})
        stored = store.nodes(sorted({a for a, _ in pairs}))
        for source, target in pairs:
            found = stored.get(source)
            value, at = _stamped_change(found.properties if found is not None else {})
            if value is not None:
                name, ns, _ = self.pending[target]
                self._pass_change(target, name, ns, value, at)

    def _pass_change(self, target: str, name: str, ns: str | None, value: Any,
                     at: Any) -> None:
        """Lay another name's lifecycle change on `target`, stamped with its event time
        (the newest wins whatever the order), and follow it there (`follow_lifecycle`)."""
        self.node(target, name, ns, at=at, lifecycle_change=value)
        self.lifecycle_changed.add(target)

    def follow_lifecycle(self, store: Store) -> None:
        """Put into the batch the stored fields and versions of each dataset whose
        lifecycle an event of it changes, for `merge` to give them the dataset's state, and
        its other names (`_follow_symlinks`) with theirs.
        Read before the write transaction (the store offers no read inside it): a field
        another writer adds meanwhile takes the state its own merge finds. No read when no
        event of the batch changes a lifecycle (the common case)."""
        self._adopt_linked_changes(store)
        if not self.lifecycle_changed:
            return
        self._follow_symlinks(store)
        datasets = sorted(self.lifecycle_changed)
        owned = {ref.key: d for d, _, ref in store.adjacent(datasets, "downstream",
                                                             [EdgeKind.HAS_FIELD])}
        owned.update({ref.key: d for d, _, ref in store.adjacent(datasets, "upstream",
                                                                  [EdgeKind.VERSION_OF])})
        for key, node in store.nodes(k for k in owned if k not in self.pending).items():
            self.node(key, node.name, node.namespace)
            self.dataset_of[key] = owned[key]

    def unmerged(self) -> GraphBatch:
        """The batch with only this call's facts per node, to be applied with
        `Store.apply(batch, merge=self.merge, merge_edges=merge_edge)`: the store merges them
        over what it holds inside its write transaction, so concurrent ingests of one run keep
        every state."""
        nodes = self.batch.nodes
        for key, (name, namespace, props) in self.pending.items():
            # records, not NodeSpecs: `node` already left out None values
            nodes[key] = NodeRecord(key, keys.kind_of(key), name, namespace, props)
        return self.batch


# ------------------------------------------------------------------ runs shared by jobs


def run_refs(ev: Event) -> list[tuple[str, str, str]]:
    """The runs a RunEvent names with their jobs, as (runId, job key, JSON path): its own
    run and its parent's. Values the mapping refuses are left out (it says why)."""
    if ev.kind != "RunEvent":
        return []
    found: list[tuple[str, str, str]] = []
    data = ev.data
    parent = _facet(data["run"], "parent")
    for run, job, path in ((data["run"], data["job"], "run.runId"),
                           (_get(parent, "run"), _get(parent, "job"),
                            "run.facets.parent.run.runId")):
        try:
            rid = str(UUID(run["runId"]))
            found.append((rid, keys.job_key(job["namespace"], job["name"]), path))
        except (TypeError, ValueError, KeyError, AttributeError, ValidationError):
            continue
    return found


def shared_run_message(run_id: str, others: Sequence[str], job: str) -> str:
    """The warning for a run stored beside other jobs' runs of the same runId."""
    also = ", ".join(f"'{keys.identity(o)}'" for o in sorted(others))
    plural = "s" if len(others) > 1 else ""
    return (f"runId {run_id} is also a run of job{plural} {also}; stored as a separate run of "
            f"'{keys.identity(job)}' ({keys.run_key(run_id, job)}): a runId names one run of "
            "one job, so the producer reuses it; name the run by its key, as the runId alone "
            "is now ambiguous")


# ------------------------------------------------------------------ merging


def merge_node(key: str, old: Mapping[str, Any], new: Mapping[str, Any], *,
               kind: NodeKind | None = None) -> dict[str, Any]:
    """A node's stored properties merged with an ingest's (`merge_properties`), a run's
    `state` derived from its merged `states`, and a dataset's, field's or version's
    `lifecycle` from its merged `lifecycle_change` when the ingest says one
    (`_with_lifecycle`). `kind` is `keys.kind_of(key)`, given by a caller that has it.
    (A run's key holds its job, so a run's stored `job` and an event's always agree.)"""
    merged = merge_properties(old, new)
    if kind is None:
        kind = keys.kind_of(key)
    if kind is NodeKind.RUN:
        merged = _with_state(merged)
    elif kind in _LIFECYCLE_KINDS and ("lifecycle_change" in new or (
            "lifecycle_change" in old and ("last_written" in new or "created_at" in new))):
        # a change, or a write of what a change retired (a live node's write: no work)
        merged = _with_lifecycle(merged)
    return merged


def merge_properties(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`new` laid over `old`: set-like lists are united, `states` keeps each state's latest
    event time; a property stamped with an event time (`event_times`) replaces the stored
    one only when newer (see `_newer`), an unstamped one replaces it. Commutative, so
    events merge to the same node in any order."""
    if not old:  # a new node (the common case of a first sighting): nothing to weigh
        return dict(new)
    out = dict(old)
    stored_times = old.get("event_times")
    old_times: Mapping[str, Any] = stored_times if isinstance(stored_times, dict) else {}
    given_times = new.get("event_times")
    new_times: Mapping[str, Any] = given_times if isinstance(given_times, dict) else {}
    times = dict(old_times)
    for key, value in new.items():
        if key == "event_times":
            continue
        if key in _UNION and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = _union(out[key], value)
        elif key == "states" and isinstance(out.get(key), dict) and isinstance(value, dict):
            states = dict(out[key])
            for state, when in value.items():
                if state not in states or _later(when, states[state]):
                    states[state] = when
            out[key] = states
        elif (key == "quality_checks" and isinstance(out.get(key), dict)
              and isinstance(value, dict)):
            checks = dict(out[key])
            for name, result in value.items():
                known = checks.get(name)
                if not isinstance(known, dict) or _newer(result.get("at"), result,
                                                         known.get("at"), known):
                    checks[name] = result
            out[key] = checks
        elif key in new_times and key in out and key in old_times:
            if _newer(new_times[key], value, old_times[key], out[key]):
                out[key], times[key] = value, new_times[key]
        else:
            out[key] = value
            if key in new_times:
                times[key] = new_times[key]
            else:
                times.pop(key, None)
    if times:
        out["event_times"] = times
    else:
        out.pop("event_times", None)
    return out


def merge_edge(ident: tuple[str, str, str], old: Mapping[str, Any], new: Mapping[str, Any]
               ) -> dict[str, Any]:
    """An edge's stored properties and an ingest's: those of the newer event (`event_time`,
    as `_newer` decides); unstamped ones replace the stored ones."""
    t_old, t_new = old.get("event_time"), new.get("event_time")
    if not old or t_old is None or t_new is None or _newer(t_new, new, t_old, old):
        return dict(new)
    return dict(old)


def _newer(t_new: Any, v_new: Any, t_old: Any, v_old: Any) -> bool:
    """Whether the value stamped `t_new` replaces the one stamped `t_old`: a later time
    wins; at the same time the larger value (as canonical JSON), so that the outcome does
    not depend on which arrived first."""
    if t_new == t_old:  # said at the same time (a replay, or twice in one event)
        return v_new != v_old and _canonical(v_new) > _canonical(v_old)
    a, b = _time_or_min(t_new), _time_or_min(t_old)
    if a != b:
        return a > b
    if v_new != v_old:
        return _canonical(v_new) > _canonical(v_old)
    # one instant spelled two ways (`.000Z`, `Z`, `+00:00`): the larger spelling is kept,
    # so that the stamp too does not depend on which arrived first
    return str(t_new) > str(t_old)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _with_state(props: dict[str, Any]) -> dict[str, Any]:
    states = props.get("states")
    if not isinstance(states, dict) or not states:
        return props

    def rank(item: tuple[str, str]) -> tuple[bool, datetime, int]:
        state, when = item
        return (state in TERMINAL, _time_or_min(when), _STATE_ORDER.get(state, -1))

    return {**props, "state": max(states.items(), key=rank)[0]}


def _with_lifecycle(props: dict[str, Any]) -> dict[str, Any]:
    """The `lifecycle` the newest lifecycleStateChange gives (`lineage.lifecycle`'s
    properties): DROP `deleted`, a RENAME away (`to`) `deprecated`, any other change live;
    live too when the node was written after the change (`last_written`, a version's
    `created_at`; at the change's own time the change wins, so a DROP's own output is no
    write after it). A state a person set (`lifecycle_by` not BY_EVENTS) is kept whatever
    the events say."""
    change = props.get("lifecycle_change")
    if not isinstance(change, dict) or (props.get("lifecycle") is not None
                                        and props.get("lifecycle_by") != BY_EVENTS):
        return props
    out = {k: v for k, v in props.items() if k not in LIFECYCLE_PROPERTIES}
    times = props.get("event_times")
    if not isinstance(times, dict):
        times = {}
    at = _time_or_min(times.get("lifecycle_change"))
    # written after the change (a version: created after it): a table built again
    written = _time_or_min(times.get("last_written") or times.get("created_at"))
    if written > at:
        return out
    stamp = {"lifecycle_at": at.isoformat(), "lifecycle_by": BY_EVENTS}
    if change.get("change") == "DROP":
        out.update(lifecycle="deleted", lifecycle_reason="dropped (OpenLineage "
                   "lifecycleStateChange DROP)", **stamp)
    elif change.get("change") == "RENAME" and isinstance(change.get("to"), str):
        out.update(lifecycle="deprecated", lifecycle_reason=f"renamed to "
                   f"'{keys.identity(change['to'])}' (OpenLineage lifecycleStateChange "
                   "RENAME)", **stamp)
    return out


def _later(a: Any, b: Any) -> bool:
    """Whether time `a` is after `b`; at one instant spelled two ways, the larger spelling
    (see `_newer`)."""
    x, y = _time_or_min(a), _time_or_min(b)
    return bool(x > y or (x == y and str(a) > str(b)))


def _time_or_min(text: Any) -> datetime:
    return _parsed(text) if isinstance(text, str) else _NO_TIME


_NO_TIME = datetime.min.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        return _NO_TIME


def _union(a: list[Any], b: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in [*a, *b]:
        seen.setdefault(repr(sorted(item.items())) if isinstance(item, dict) else repr(item),
                        item)
    return [seen[k] for k in sorted(seen)]


# ------------------------------------------------------------------ facets


class SchemaChanged(Exception):
    """Raised inside a write transaction by `BatchBuilder.merge` (when watching) on a change
    of a dataset's current schema the batch carries no notifications for: the transaction
    rolls back, and `openlineage.write` works the notifications out and writes again."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the current schema of '{key}' changes")
        self.key = key


_FIELD_PREFIX = f"{NodeKind.FIELD.value}:"


def _stored_type(node: Any) -> Any:
    return node.properties.get("type") if node is not None else None


def _schema(names: Sequence[Any], types: Mapping[Any, Any]) -> list[FieldSchema]:
    """The fields of a current schema that have a type (a column never typed has no
    type to change), in order."""
    return [FieldSchema(name=str(n), type=t) for n in names
            if isinstance(t := types.get(n), str) and t]


def _stamped_change(props: Mapping[str, Any]) -> tuple[Any, Any]:
    """A node's `lifecycle_change` and its event time (None for either it lacks)."""
    times = props.get("event_times")
    return props.get("lifecycle_change"), (
        times.get("lifecycle_change") if isinstance(times, Mapping) else None)


def _aliases(props: Mapping[str, Any]) -> set[str]:
    """The keys of a dataset's other names: its `symlinks` and what it is a `symlink_of`."""
    found = {k for k in props.get("symlink_of") or () if isinstance(k, str)}
    for ident in props.get("symlinks") or ():
        try:
            found.add(keys.dataset_key(ident["namespace"], ident["name"]))
        except (KeyError, TypeError, ValidationError):
            continue
    return found


def _facets(obj: Mapping[str, Any], key: str = "facets") -> dict[str, Any]:
    """The live facets of an object (facets marked `_deleted` are left out)."""
    facets = obj.get(key)
    if not isinstance(facets, Mapping):
        return {}
    return {name: f for name, f in facets.items()
            if not (isinstance(f, Mapping) and f.get("_deleted") is True)}


def _facet(obj: Mapping[str, Any], name: str, key: str = "facets") -> Any:
    """`_facets(obj, key).get(name)` without building the live facets' dict (an event's
    datasets are asked for several facets each)."""
    facets = obj.get(key)
    if type(facets) is not dict and not isinstance(facets, Mapping):
        return None
    facet = facets.get(name)
    if (type(facet) is dict or isinstance(facet, Mapping)) and facet.get("_deleted") is True:
        return None
    return facet


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        # parsed JSON is dicts: the exact type told first, without the Mapping ABC's check
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _is_quality_check(job: Mapping[str, Any]) -> bool:
    """Whether a job is a test (a dbt test, any job typed TEST): its outputs are audit
    tables, not data anyone reads downstream."""
    kind = _get(_facet(job, "jobType"), "jobType")
    return isinstance(kind, str) and kind.upper() == "TEST"


def _is_test_audit(name: Any) -> bool:
    """dbt's store-failures tables (`<schema>_dbt_test__audit.<test>`), which older dbt-ol
    reports as a test's output even without a jobType facet."""
    return isinstance(name, str) and any(part.endswith("dbt_test__audit")
                                         for part in name.split(".")[:-1])


def _plain(facet: Any) -> Any:
    """A facet's payload without the `_producer`/`_schemaURL` bookkeeping."""
    if isinstance(facet, Mapping):
        return {k: v for k, v in facet.items() if not k.startswith("_")} or None
    return facet or None


def _symlinks(facet: Any) -> list[dict[str, str]] | None:
    identifiers = _get(facet, "identifiers")
    if not isinstance(identifiers, list):
        return None
    return _union([], [{"namespace": i["namespace"], "name": i["name"], "type": i["type"]}
                       for i in identifiers if isinstance(i, Mapping)]) or None


def _transformations(source: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = source.get("transformations")
    return [dict(t) for t in found if isinstance(t, Mapping)] if isinstance(found, list) else []


def _legacy_transformation(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = spec.get("transformationType")
    description = spec.get("transformationDescription")
    if not isinstance(kind, str):
        return [{"description": description}] if isinstance(description, str) else []
    upper = kind.upper()
    entry: dict[str, Any] = {"legacy": upper, "description": description}
    if upper == "MASKED":
        entry["masking"] = True
    return [entry]


def _subtype_loss(transformation: Mapping[str, Any]) -> int:
    """`Transformation.loss` of a transformation's subtype; one it does not know, or none,
    ranks as TRANSFORMATION, which it is read as."""
    subtype = str(transformation.get("subtype", "")).lower()
    known = subtype in _KNOWN_SUBTYPES
    return (Transformation(subtype) if known else Transformation.TRANSFORMATION).loss()


def _edge_properties(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """One derived_from edge's properties from every transformation seen for the pair."""
    direct = [t for t in seen if str(t.get("type", "")).upper() == "DIRECT"]
    # several DIRECT subtypes for one pair (CASE WHEN a THEN a ELSE a + 1): the output is
    # only as much a copy as the least preserving of them, whatever order they are listed
    direct.sort(key=lambda t: -_subtype_loss(t))
    chosen = (direct or seen or [{}])[0]
    masking = any(t.get("masking") is True for t in seen)
    subtype = chosen.get("subtype")
    legacy = chosen.get("legacy")
    if isinstance(subtype, str) and subtype.lower() in _KNOWN_SUBTYPES:
        transformation = subtype.lower()
    elif legacy == "IDENTITY":
        transformation = Transformation.IDENTITY.value
    elif legacy == "MASKED":
        transformation = Transformation.MASKING.value
    elif isinstance(legacy, str) and legacy.lower() in _KNOWN_SUBTYPES:
        transformation = legacy.lower()
    elif str(chosen.get("type", "")).upper() == "DIRECT":
        transformation = Transformation.TRANSFORMATION.value
    else:
        transformation = Transformation.UNKNOWN.value
    listed = sorted({"/".join(str(t[k]).upper() for k in ("type", "subtype") if t.get(k))
                     or str(t.get("legacy", "")) for t in seen} - {""})
    descriptions = sorted({t["description"] for t in seen
                           if isinstance(t.get("description"), str) and t["description"]})
    return {
        "transformation": transformation,
        "masking": masking,
        "transformations": listed or None,
        "description": "; ".join(descriptions) or None,
    }


# ------------------------------------------------------------------ keys


def _key(ev: Event, path: list[str | int], make: Any, *parts: Any,
         names: Sequence[str | None] = ("namespace", "name")) -> str:
    """A node key, or a ValidationError at the path of the first empty part (`names` gives
    each part's place under `path`; None: `path` itself)."""
    try:
        key: str = make(*parts)
    except ValidationError as exc:
        for part, sub in zip(parts, [*names, *[None] * len(parts)], strict=False):
            if not isinstance(part, str) or not part.strip():
                raise ev.error(exc.message, [*path, sub] if sub else path) from None
        raise ev.error(exc.message, path) from None
    return key


def _run_id(ev: Event, path: list[str | int], run_id: Any) -> str:
    """The canonical (lowercase, dashed) form of a run id, so clients that spell a UUID
    in upper case report the same run."""
    try:
        return str(UUID(run_id))
    except (TypeError, ValueError, AttributeError):
        raise ev.error(f"must be a UUID, got {run_id!r}", path) from None
