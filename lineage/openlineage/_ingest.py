"""Reading events (objects, JSON text, JSON and NDJSON files) and ingesting them."""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import _keys as keys
from .._errors import LineageError, ValidationError
from .._files import read_text
from .._model import ApplyResult, GraphBatch
from .._vocabulary import EdgeKind, NodeKind
from ..store.base import Store
from ._mapping import (  # noqa: F401 - merge_node: bench/
    BatchBuilder,
    Event,
    SchemaChanged,
    merge_edge,
    merge_node,
    run_refs,
    shared_run_message,
)
from ._validate import check_event

#: file suffixes read as one event per line; other files are JSON (one event or a list),
#: and fall back to NDJSON when they hold several JSON values one after another
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

Events = Mapping[str, Any] | str | bytes | Iterable[Mapping[str, Any] | str | bytes]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest call did: how many events of each kind it read, how many distinct
    runs, jobs, datasets, dataset versions and fields they named, how many derivations
    (`derived_from` edges) they carry, and what the store write changed (`applied`).

    `dropped_facets` and `warnings` say what was not read as sent (see `Prepared`);
    `rejected` lists the events refused one by one (only with `per_event=True`), each
    `{"index": i, "error": "ValidationError", "message": ..., "key": ...}`; they are not
    counted in `events`."""

    events: int
    run_events: int
    dataset_events: int
    job_events: int
    runs: int
    jobs: int
    datasets: int
    dataset_versions: int
    fields: int
    derivations: int
    applied: ApplyResult
    principal: str | None = None
    dropped_facets: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()
    rejected: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # fields by name, not dataclasses.asdict: its deep copy cost ~30 us, once per ingest
        # transaction of the server; every value here is a scalar or a list of flat dicts
        result = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("dropped_facets", "warnings", "rejected"):
            result[name] = list(result[name])
        applied = self.applied
        result["applied"] = {**{f.name: getattr(applied, f.name) for f in fields(applied)},
                             "changed": applied.changed}
        return result


@dataclass
class Prepared:
    """Events read and checked, not yet written (`prepare`; `write` writes them).

    `events`: the events to write (facets dropped where they were invalid).
    `dropped_facets`: `{"event": i, "path": "run.facets.errorMessage", "facet":
    "errorMessage", "reason": ...}` per facet left out (i: the 0-based position in what was
    given). `warnings`: `{"event": i, "path": "eventTime", "message": ...}` per value read
    leniently. `rejected`: `{"index": i, "error": ..., "message": ..., "key": ...}` per event
    refused (only with `per_event=True`; otherwise the first bad event raises)."""

    events: list[Event]
    received: int
    dropped_facets: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    #: whether `note_shared_runs` has added its warnings (once, before the audit entry)
    runs_noted: bool = False

    def audit_detail(self, limit: int = 20) -> dict[str, Any]:
        """What the audit entry of the write says about it (the first `limit` of each)."""
        detail: dict[str, Any] = {}
        for name in ("dropped_facets", "warnings", "rejected"):
            items = getattr(self, name)
            if items:
                detail[name] = items[:limit]
                if len(items) > limit:
                    detail[f"{name}_total"] = len(items)
        return detail


@dataclass
class _Raw:
    """An event as read, before validation, and where it came from."""

    value: Any
    file: str | None = None
    line: int | None = None


def ingest(store: Store, events: Events, *, principal: str | None = None,
           strict: bool = False, per_event: bool = False) -> IngestResult:
    """Validate OpenLineage events and write what they say to `store`, in one transaction.

    `events` is one event (a dict), JSON text (bytes or str: one event or an array of
    events), or an iterable of dicts / JSON texts of one event each. Every event is parsed
    and validated before any is mapped, and all of them become one GraphBatch applied in one
    transaction. `principal` (the authenticated caller, if any) is recorded in the
    `reported_by` property of the runs the events report.

    The core of each event is checked strictly; an invalid facet is dropped and listed in
    `IngestResult.dropped_facets`, a naive eventTime is read as UTC with a warning
    (`_validate.check_event`). `strict=True`: an invalid facet rejects its event too.
    A rejected event rejects the whole call (the store is unchanged) unless `per_event`:
    then it is listed in `IngestResult.rejected` and the others are written.

    Raises ValidationError (with `key` the JSON path of the offending field, and the event's
    position when there are several) for malformed JSON or an event the spec rejects.
    Re-ingesting the same events changes nothing.
    """
    return write(store, [prepare(events, strict=strict, per_event=per_event)],
                 principal=principal)


def ingest_file(store: Store, path: str | Path, *, principal: str | None = None,
                strict: bool = False) -> IngestResult:
    """Ingest the events of one file: JSON (one event or an array of events) or NDJSON
    (one event per line; `.ndjson`/`.jsonl`, or any file holding one JSON value per line).
    Errors carry the file and the 1-based line of the offending event."""
    return ingest_files(store, [path], principal=principal, strict=strict)


def ingest_files(store: Store, paths: Sequence[str | Path], *, principal: str | None = None,
                 strict: bool = False) -> IngestResult:
    """Ingest the events of several files in one transaction (see `ingest_file`)."""
    return write(store, [prepare_files(paths, strict=strict)], principal=principal)


def prepare_files(paths: Sequence[str | Path], *, strict: bool = False) -> Prepared:
    """`prepare` for the events of files (see `ingest_file`)."""
    if not paths:
        raise ValidationError("no OpenLineage event file given")
    raw: list[_Raw] = []
    for path in paths:
        raw.extend(read_events(path))
    return _prepare(raw, strict, per_event=False)


def prepare(events: Events, *, strict: bool = False, per_event: bool = False,
            plain: bool = False) -> Prepared:
    """Parse and check events without writing them (what `ingest` does first); see
    `ingest` for `strict` and `per_event`. Raises ValidationError as `ingest` does.

    `plain=True` says the events were parsed by `lineage.server._http.parse_json` from a
    body without any `\\u` escape, so they cannot hold what `check_plain` refuses: that
    parse decodes UTF-8 strictly (no encoded surrogate gets through), JSON refuses a raw
    NUL in a string, only a `\\u` escape can spell either, and it bounds the nesting
    itself; the walk (~10% of the server writer's CPU an event) is then skipped."""
    return _prepare(_raw_events(events), strict, per_event, plain)


#: per store, the run keys known to be stored (bounded, newest kept): a known run is not
#: new, so needs no lookup (a run is never unstored); the event's parent run and a run's
#: COMPLETE after its START are the common case
_KNOWN_RUNS: weakref.WeakKeyDictionary[Store, OrderedDict[str, None]] = \
    weakref.WeakKeyDictionary()
_KNOWN_RUNS_MAX = 100_000


def _known_runs(store: Store) -> OrderedDict[str, None]:
    try:
        return _KNOWN_RUNS.setdefault(store, OrderedDict())
    except TypeError:  # a store that cannot be weakly referenced: nothing remembered
        return OrderedDict()


def _remember(known: OrderedDict[str, None], run_keys: Iterable[str]) -> None:
    for key in run_keys:
        known[key] = None
        known.move_to_end(key)
    while len(known) > _KNOWN_RUNS_MAX:
        known.popitem(last=False)


def note_shared_runs(store: Store, prepared: Sequence[Prepared]) -> None:
    """Warn, in each `Prepared.warnings`, of every new run whose runId another job's run
    holds too, in the store or among these events: `{"event": i, "path": "run.runId",
    "message": "runId X is also a run of job 'J1'; stored as a separate run of 'J2' ..."}`.
    Both are stored, each its own run (`keys.run_key`); the warning goes to the first
    event naming the new run. A run already stored is not warned of again (a replay).

    `write` does this itself, inside its write transaction (the store's reads of the runs
    go with its other reads), for what it was not called for; call this first only to
    see the warnings before writing. Reads the store: one suffix lookup (indexed) per
    runId of a run this process has not seen stored."""
    check = _SharedRuns(store, prepared)
    if check.todo:
        check.found({rid: [ref.key for ref in store.candidates(rid, [NodeKind.RUN])]
                     for rid in check.run_ids})


class _SharedRuns:
    """`note_shared_runs` in two steps: which runIds to look up (`run_ids`: those of the
    runs not known to be stored), then, given the stored runs of each, the warnings
    (`found`, which also marks each `Prepared` as noted)."""

    def __init__(self, store: Store, prepared: Sequence[Prepared]) -> None:
        self.todo = [p for p in prepared if not p.runs_noted]
        # where the warnings go in each one's list: before the mapping's own, as before
        self.marks = [len(p.warnings) for p in self.todo]
        self.named: dict[tuple[str, str], list[tuple[Prepared, int, str]]] = {}
        for done in self.todo:
            for ev in done.events:
                for rid, job, path in run_refs(ev):
                    self.named.setdefault((rid, job), []).append((done, ev.index, path))
        self.known = _known_runs(store)
        self.unknown = {(rid, job) for rid, job in self.named
                        if keys.run_key(rid, job) not in self.known}
        self.run_ids = sorted({rid for rid, _ in self.unknown})

    def found(self, runs: Mapping[str, Sequence[str]]) -> None:
        """Add the warnings, given `runs`: {runId: the keys of its stored runs} for every
        runId of `run_ids`."""
        jobs: dict[str, set[str]] = {}
        for rid, job in self.named:
            jobs.setdefault(rid, set()).add(job)
        stored: dict[str, set[str]] = {}  # runId -> the jobs of its stored runs
        for rid in self.run_ids:
            parts = {keys.run_parts(key) for key in runs.get(rid, ())}
            stored[rid] = {j for j, same in parts if j is not None and same == rid}
            _remember(self.known, (keys.run_key(rid, j) for j in stored[rid]))
        added: dict[int, list[dict[str, Any]]] = {}
        for rid, job in sorted(self.named):
            if (rid, job) not in self.unknown or job in stored[rid]:
                continue  # known to be stored, or stored already: a replay
            others = (jobs[rid] | stored[rid]) - {job}
            if not others:
                continue
            warned: set[int] = set()
            for done, index, path in self.named[(rid, job)]:
                if id(done) in warned:
                    continue  # once per request
                warned.add(id(done))
                added.setdefault(id(done), []).append(
                    {"event": index, "path": path,
                     "message": shared_run_message(rid, sorted(others), job)})
        for done, mark in zip(self.todo, self.marks, strict=True):
            done.warnings[mark:mark] = added.get(id(done), [])
            done.runs_noted = True


def write(store: Store, prepared: Sequence[Prepared], *,
          principal: str | None = None,
          on_warnings: Callable[[], None] | None = None) -> IngestResult:
    """Write prepared events (of one or several `prepare` calls) in one transaction. The
    result's `dropped_facets`, `warnings` and `rejected` are those of every `Prepared`, in
    order. Raises ValidationError when an event cannot be mapped (a blank dataset or job
    name; a facet naming what cannot be keyed was dropped by `prepare`): nothing is
    written then.

    A newer event whose schema changes a dataset's current columns or types enqueues, in
    the same transaction, notifications for the consumers the changes break or may break
    (`_apply_telling_schema_changes`: nothing is read unless a schema changes).

    The shared-runId warnings (`note_shared_runs`) are added inside the write transaction,
    before anything is written; `on_warnings()` is called then, when every `Prepared`
    holds all its warnings (to put them in the audit entries of the enclosing
    `Store.audited` blocks, which are written after it)."""
    events = [ev for p in prepared for ev in p.events]
    shared = _SharedRuns(store, prepared)
    builder = BatchBuilder(principal)
    for done in prepared:
        for ev in done.events:
            before = len(builder.warnings)
            builder.add(ev)
            # what an event says that the store cannot hold: its request's warnings
            done.warnings.extend({"event": ev.index, **w} for w in builder.warnings[before:])
    builder.follow_lifecycle(store)  # a dropped dataset's stored fields and versions
    batch = builder.unmerged()

    def found(runs: dict[str, list[str]]) -> None:
        shared.found(runs)
        if on_warnings is not None:
            on_warnings()

    if events:
        applied = _apply_telling_schema_changes(store, builder, batch, shared.run_ids, found)
    else:
        found({})
        applied = ApplyResult()
    # committed: known from now on (the events' runs and their parents)
    run_prefix = f"{NodeKind.RUN.value}:"  # `kind_of(k) is RUN`, told without the enum
    _remember(_known_runs(store), (k for k in builder.pending if k.startswith(run_prefix)))
    kinds = [ev.kind for ev in events]
    c = builder.counts
    return IngestResult(
        events=len(events),
        run_events=kinds.count("RunEvent"),
        dataset_events=kinds.count("DatasetEvent"),
        job_events=kinds.count("JobEvent"),
        runs=len(c.runs),
        jobs=len(c.jobs),
        datasets=len(c.datasets),
        dataset_versions=len(c.versions),
        fields=len(c.fields),
        # a symlink's links say two names are one dataset: no derivation the events carry
        derivations=sum(1 for e in batch.edges.values() if e.kind is EdgeKind.DERIVED_FROM
                        and (not e.properties or e.properties.get("declared") != "symlink")),
        applied=applied,
        principal=principal,
        dropped_facets=tuple(d for p in prepared for d in p.dropped_facets),
        warnings=tuple(w for p in prepared for w in p.warnings),
        rejected=tuple(r for p in prepared for r in p.rejected),
    )


#: how many times a write is tried again when another writer changed a schema meanwhile
_SCHEMA_RETRIES = 3


def _apply_telling_schema_changes(store: Store, builder: BatchBuilder, batch: GraphBatch,
                                  run_ids: Sequence[str], found: Callable[..., None]
                                  ) -> ApplyResult:
    """Apply the batch, with notifications for the consumers any change of a dataset's
    current schema breaks, in the same transaction. Optimistic: the merge watches for such
    a change (`BatchBuilder._watch`, from the stored properties it is given: no read) and
    raises SchemaChanged, which rolls the transaction back; the changes are then read and
    diffed (`schema_changes`), their notifications put in the batch, and the batch applied
    again, expecting exactly those changes (again if another writer changed the schema
    meanwhile). The common case, a schema as stored, costs nothing; the shared-runId
    reads happen in the first attempt only (their warnings are kept)."""
    from ..notify import schema_change_notifications  # (here: notify imports the store)

    builder.expected_changes = set()
    try:
        return store.apply(batch, merge=builder.merge, merge_edges=merge_edge,
                           run_ids=run_ids, on_runs=found)
    except SchemaChanged:
        pass
    told = list(batch.notifications)
    for attempt in range(_SCHEMA_RETRIES + 1):
        builder.expected_changes = set()
        notes = []
        for dataset, version, changes in builder.schema_changes(store):
            notes += schema_change_notifications(
                store, dataset, changes, {"dataset": dataset, "dataset_version": version})
        batch.notifications = told + notes
        if attempt == _SCHEMA_RETRIES:
            builder.expected_changes = None  # changed under us every time: write, untold
        try:
            return store.apply(batch, merge=builder.merge, merge_edges=merge_edge)
        except SchemaChanged:
            continue
    raise AssertionError("unreachable: the last attempt does not watch")


def to_batch(store: Store, events: Events, *, principal: str | None = None,
             strict: bool = False) -> GraphBatch:
    """The GraphBatch `ingest` would apply, without applying it (a dry run)."""
    return _build(prepare(events, strict=strict).events, principal).finish(store)


def validate(events: Events, *, strict: bool = False) -> list[dict[str, Any]]:
    """Parse, validate and map events without a store (what `ingest` checks before it
    writes); returns them as dicts, as they would be written (invalid facets left out
    unless `strict`). Raises ValidationError as `ingest` does."""
    checked = prepare(events, strict=strict).events
    _build(checked, None)
    return [dict(ev.data) for ev in checked]


# ------------------------------------------------------------------ internals


def _build(events: list[Event], principal: str | None) -> BatchBuilder:
    builder = BatchBuilder(principal)
    for ev in events:
        builder.add(ev)
    return builder


def _validated(raw: list[_Raw]) -> list[Event]:
    """Validate every event before any is mapped; the first error rejects them all."""
    return _prepare(raw, False, per_event=False).events


def _prepare(raw: list[_Raw], strict: bool, per_event: bool, plain: bool = False
             ) -> Prepared:
    """Check every event before any is mapped. Without `per_event` the first error
    rejects them all; with it, each bad event is listed (and also checked by mapping it
    alone, so that what is written cannot fail on it)."""
    if not raw:
        raise ValidationError("no OpenLineage events given")
    prepared = Prepared([], len(raw))
    for i, item in enumerate(raw):
        try:
            value = item.value
            if isinstance(value, str | bytes | bytearray):
                value = _loads(value, item, i, len(raw))
            try:
                checked = check_event(value, strict=strict,
                                      plain=plain and value is item.value)
            except ValidationError as exc:
                # the same error, told where: the file and line, or the event's position
                where = Event(value if isinstance(value, Mapping) else {}, "RunEvent", i,
                              len(raw), item.file, item.line)
                raise where.error(exc.reason, [exc.key] if exc.key else []) from None
            ev = Event(checked.event, checked.kind, i, len(raw), item.file, item.line)
            if per_event:
                BatchBuilder(None).add(ev)  # a mapping error is this event's alone
        except ValidationError as exc:
            if not per_event:
                raise
            prepared.rejected.append({"index": i, "error": type(exc).__name__,
                                      "message": exc.message, "key": exc.key})
            continue
        prepared.events.append(ev)
        prepared.dropped_facets.extend({"event": i, **d} for d in checked.dropped)
        prepared.warnings.extend({"event": i, **w} for w in checked.warnings)
    return prepared


def _raw_events(events: Events) -> list[_Raw]:
    if isinstance(events, Mapping):
        return [_Raw(events)]
    if isinstance(events, str | bytes | bytearray):
        parsed = _loads(events, _Raw(None), 0, 1)
        return [_Raw(e) for e in parsed] if isinstance(parsed, list) else [_Raw(parsed)]
    try:
        items = list(events)
    except TypeError:
        raise ValidationError("events must be a dict, JSON text, or a list of them; got "
                              f"{type(events).__name__}") from None
    return [_Raw(e) for e in items]


def _loads(text: str | bytes | bytearray, item: _Raw, index: int, total: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" (event {index + 1} of {total})" if total > 1 and item.line is None else ""
        line = item.line if item.line is not None else (exc.lineno if total == 1 else None)
        raise ValidationError(f"malformed JSON: {exc.msg} at line {exc.lineno} column "
                              f"{exc.colno}{where}", file=item.file, line=line) from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                              file=item.file, line=item.line) from None


def read_events(path: str | Path) -> list[_Raw]:
    """The events of a JSON or NDJSON file, each with its 1-based line; not yet validated."""
    file = str(path)
    text = read_text(path, encoding="utf-8-sig")
    if Path(path).suffix.lower() in NDJSON_SUFFIXES:
        return _ndjson(text, file)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several JSON values: one event per line
            return _ndjson(text, file)
        raise ValidationError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=file,
                              line=exc.lineno) from None
    if isinstance(value, list):
        events = [_Raw(v, file, line) for v, line in _array_items(text)]
    else:
        events = [_Raw(value, file, _first_line(text))]
    if not events:
        raise ValidationError("the file holds no events", file=file)
    return events


def _ndjson(text: str, file: str) -> list[_Raw]:
    events = [_Raw(line, file, n) for n, line in enumerate(text.splitlines(), start=1)
              if line.strip()]
    if not events:
        raise ValidationError("the file holds no events", file=file)
    return events


def _first_line(text: str) -> int:
    stripped = text.lstrip()
    return text[: len(text) - len(stripped)].count("\n") + 1


def _array_items(text: str) -> list[tuple[Any, int]]:
    """The elements of a JSON array (already known to parse) with the line each starts on."""
    decoder = json.JSONDecoder()
    items: list[tuple[Any, int]] = []
    pos, line = 0, 1

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def advance(to: int) -> None:
        nonlocal pos, line
        line += text.count("\n", pos, to)
        pos = to

    i = skip(0)
    if text[i] != "[":
        raise LineageError("not a JSON array")  # callers check first; never reached
    i = skip(i + 1)
    while i < len(text) and text[i] != "]":
        advance(i)
        value, end = decoder.raw_decode(text, i)
        items.append((value, line))
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i = skip(i + 1)
    return items
