"""Validation of OpenLineage events against the spec's JSON schemas shipped in `spec/`.

An event is told apart as the spec's top-level `oneOf` does: a RunEvent has `run` (and needs
`job`), a DatasetEvent has `dataset` and no `run`/`job`, a JobEvent has `job` and no `run`.
It is validated against that definition of the core schema, then each facet it carries is
validated against the facet file that defines that facet's name at that place (a `schema`
facet on a dataset against SchemaDatasetFacet.json, a `parent` run facet against
ParentRunFacet.json, ...). Names the spec does not define are custom facets and pass when
they satisfy the core `BaseFacet` (`_producer`, `_schemaURL`, anything else).

Formats: `uuid` (run ids) and `date-time` (event and nominal times, RFC 3339 with a time
zone offset) are checked, because the store keys runs by id and orders states by time;
`uri` is left as the annotation JSON Schema 2020-12 makes it by default.

Speed: every event is first checked by `jsonschema-rs` (compiled, ~0.1 ms an event); only an
event it rejects goes through the pure-Python `jsonschema` again, whose errors carry what the
messages need (the path, the failing keyword, `best_match`). The pure-Python verdict is the
one that counts, so the two can never disagree on what is accepted.

Lenient by default (`check_event`), as Marquez is with what real producers send: the core
event (kinds, run, runId, job, namespaces and names, inputs, outputs, eventTime, producer) is
checked strictly, but

- a facet the spec (or the core `BaseFacet`) rejects is dropped, and named in the answer
  (`CheckedEvent.dropped`: its JSON path and why), the rest of the event is kept; so is a
  facet the spec accepts whose names the store cannot key (`unkeyable`: a schema listing
  a column twice, an empty name in column lineage);
- an `eventTime` (or nominalTime facet time) without a time zone offset is read as UTC (a
  bare date as its midnight), with a warning; a missing `schemaURL` (event) or
  `_producer`/`_schemaURL` (facet) is accepted, with a warning; a null optional property
  inside a facet is read as absent, with a warning.

`strict=True` keeps whole-event rejection: the first error rejects the event. Leniency only
costs on an event jsonschema-rs rejects; a valid event is never copied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal
from uuid import UUID

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from .. import _keys as keys
from .._errors import LineageError, ValidationError
from .._plain import check_plain

#: the OpenLineage core spec version whose schemas ship in spec/
SPEC_VERSION = "2-0-2"
CORE_ID = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json"

EventKind = Literal["RunEvent", "DatasetEvent", "JobEvent"]
#: where a facet sits in an event; each facet file extends the core definition named here
Place = Literal["run", "job", "dataset", "input", "output"]
_PLACE_OF_BASE: dict[str, Place] = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "dataset",
    "InputDatasetFacet": "input",
    "OutputDatasetFacet": "output",
}


# ------------------------------------------------------------------ formats


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(text: str) -> datetime:
    """An RFC 3339 date-time with offset as an aware datetime (ValueError otherwise).
    Fractions beyond microseconds (Java producers send nanoseconds) are truncated."""
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 date-time with a time zone offset: {text!r}")
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    UUID(instance)
    # UUID() also takes braces, urn:uuid: and hex without dashes; the spec means the
    # canonical 8-4-4-4-12 form
    return len(instance) == 36 and all(instance[i] == "-" for i in (8, 13, 18, 23))


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(instance: object) -> bool:
    if isinstance(instance, str):
        parse_time(instance)
    return True


_FORMAT_HINT = {
    "uuid": "a UUID such as 0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f",
    "date-time": "an RFC 3339 date-time with a time zone offset, such as "
                 "2024-05-01T12:00:00.000Z",
}


# ------------------------------------------------------------------ the shipped schemas


def _spec_files() -> Iterator[tuple[str, dict[str, Any]]]:
    root = resources.files("lineage.openlineage") / "spec"
    yield "OpenLineage.json", json.loads((root / "OpenLineage.json").read_text("utf-8"))
    for entry in sorted((root / "facets").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            yield f"facets/{entry.name}", json.loads(entry.read_text("utf-8"))


def _passes(check: Any) -> Any:
    """A format check as jsonschema-rs calls it: True or False, never an exception."""

    def checked(instance: str) -> bool:
        try:
            return bool(check(instance))
        except (TypeError, ValueError):
            return False

    return checked


#: the formats jsonschema-rs checks, as `_FORMATS` does (`uri` stays an annotation)
_RS_FORMATS = {"uuid": _passes(_is_uuid), "date-time": _passes(_is_date_time),
               "uri": lambda _instance: True}


def _refuse(uri: str) -> Resource[Any]:
    """The registry's retrieve hook: only the shipped files resolve, never the network."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Schemas:
    """The compiled schemas: one validator per event kind and per facet place."""

    registry: Registry[Any]
    events: dict[EventKind, Draft202012Validator]
    facets: dict[Place, Draft202012Validator]
    #: facet names the spec defines, by place, with the file that defines each
    facet_files: dict[Place, dict[str, str]]


def _refuse_rs(uri: str) -> Any:
    raise ValueError(f"{uri} is not one of the shipped OpenLineage schemas")


@dataclass(frozen=True)
class FastSchemas:
    """The same schemas compiled by jsonschema-rs: a quick yes/no per event kind and place."""

    events: dict[EventKind, Any]
    facets: dict[Place, Any]


@cache
def fast_schemas() -> FastSchemas:
    """Compile the shipped schemas with jsonschema-rs once per process (offline: only the
    shipped files resolve)."""
    documents = dict(_spec_files())
    registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents.values()])

    def compiled(schema: dict[str, Any]) -> Any:
        return jsonschema_rs.Draft202012Validator(
            schema, registry=registry, formats=_RS_FORMATS, validate_formats=True,
            retriever=_refuse_rs)

    refs = _facet_refs(documents)
    return FastSchemas(
        events={kind: compiled({"$ref": f"{CORE_ID}#/$defs/{kind}"})
                for kind in ("RunEvent", "DatasetEvent", "JobEvent")},  # type: ignore[misc]
        facets={place: compiled({"type": "object",
                                 "properties": {n: {"$ref": r} for n, r in by_name.items()}})
                for place, by_name in refs.items()},
    )


def _facet_files(documents: dict[str, dict[str, Any]]) -> dict[Place, dict[str, str]]:
    """For each place, the spec file that defines each facet name there (once only)."""
    files: dict[Place, dict[str, str]] = {p: {} for p in _PLACE_OF_BASE.values()}
    for file, doc in documents.items():
        if file == "OpenLineage.json":
            continue
        for name in doc.get("properties", {}):
            for place in _places(doc, doc["properties"][name]):
                if name in files[place]:
                    raise LineageError(f"facet '{name}' is defined twice for {place} facets: "
                                       f"{files[place][name]} and {file}")
                files[place][name] = file
    return files


def _facet_refs(documents: dict[str, dict[str, Any]]
                ) -> dict[Place, dict[str, str]]:
    """For each place, the `$ref` of every facet the spec defines there."""
    return {place: {name: f"{documents[file]['$id']}#/properties/{name}"
                    for name, file in by_name.items()}
            for place, by_name in _facet_files(documents).items()}


@cache
def schemas() -> Schemas:
    """Load and compile the shipped schemas once per process."""
    documents = dict(_spec_files())
    registry: Registry[Any] = Registry(retrieve=_refuse).with_resources(  # type: ignore[call-arg]
        (doc["$id"], Resource.from_contents(doc)) for doc in documents.values()
    )
    core = documents["OpenLineage.json"]
    if core["$id"] != CORE_ID:
        raise LineageError(f"shipped OpenLineage.json is {core['$id']}, expected {CORE_ID}")
    events = {
        kind: Draft202012Validator({"$ref": f"{CORE_ID}#/$defs/{kind}"}, registry=registry,
                                   format_checker=_FORMATS)
        for kind in ("RunEvent", "DatasetEvent", "JobEvent")
    }
    facet_files = _facet_files(documents)
    refs = _facet_refs(documents)
    # A place's validator checks each facet the spec defines there against its file; the
    # others (custom facets) were checked against BaseFacet by the core schema already.
    facets: dict[Place, Draft202012Validator] = {
        place: Draft202012Validator(
            {"type": "object", "properties": {n: {"$ref": r} for n, r in by_name.items()}},
            registry=registry, format_checker=_FORMATS)
        for place, by_name in refs.items()
    }
    return Schemas(registry, events, facets, facet_files)  # type: ignore[arg-type]


def _places(doc: dict[str, Any], prop: dict[str, Any]) -> set[Place]:
    """Where a facet file's facet sits: the core facet definitions it extends."""
    found: set[Place] = set()
    pending = [prop]
    while pending:
        node = pending.pop()
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            pending.append(doc["$defs"][ref.removeprefix("#/$defs/")])
        elif "/OpenLineage.json#/$defs/" in ref:
            base = ref.rsplit("/", 1)[1]
            if base in _PLACE_OF_BASE:
                found.add(_PLACE_OF_BASE[base])
        for combinator in ("allOf", "oneOf", "anyOf"):
            branches = node.get(combinator, [])
            # allOf: the first branch is the base definition; the rest are the facet's own
            # properties, which may refer to other facet kinds (a parent run's job facets)
            pending.extend(branches[:1] if combinator == "allOf" else branches)
    if not found:
        raise LineageError(f"cannot tell where facet file {doc.get('$id')} applies")
    return found


# ------------------------------------------------------------------ validating an event


def event_kind(event: Mapping[str, Any]) -> EventKind:
    """RunEvent, DatasetEvent or JobEvent, told apart as the spec's oneOf does.
    Raises ValidationError when the event is none of them, or both a DatasetEvent and a
    JobEvent."""
    if "run" in event:
        return "RunEvent"
    if "dataset" in event and "job" in event:
        raise ValidationError("an event with 'dataset' and 'job' but no 'run' is both a "
                              "DatasetEvent and a JobEvent; send the dataset and the job in "
                              "separate events", key="dataset")
    if "dataset" in event:
        return "DatasetEvent"
    if "job" in event:
        return "JobEvent"
    raise ValidationError("not an OpenLineage event: a RunEvent has 'run' and 'job', a "
                          "DatasetEvent 'dataset', a JobEvent 'job'; this one has "
                          + (", ".join(f"'{k}'" for k in list(event)[:8]) or "no keys"))


def validate_event(event: Any) -> EventKind:
    """Check one parsed event (a dict) against the spec, strictly; returns its kind.

    Raises ValidationError whose `key` is the JSON path of the offending field
    (`run.runId`, `inputs[0].namespace`, `outputs[1].facets.schema.fields[0].name`).
    """
    return check_event(event, strict=True).kind


@dataclass(frozen=True)
class CheckedEvent:
    """One event as ingest reads it: `event` is the event as given when it is valid, else a
    copy without the dropped facets and with the repairs the warnings name."""

    event: Mapping[str, Any]
    kind: EventKind
    #: facets left out: {"path": "run.facets.errorMessage", "facet": "errorMessage",
    #: "reason": "stackTrace: must be a string, got null"}
    dropped: tuple[dict[str, str], ...] = ()
    #: what was read leniently: {"path": "eventTime", "message": "..."}
    warnings: tuple[dict[str, str], ...] = ()


def check_event(event: Any, *, strict: bool = False, plain: bool = False) -> CheckedEvent:
    """Check one parsed event against the spec (see the module docstring for what lenient
    means). Raises ValidationError, with `key` the JSON path of the offending field, for a
    core-event error, or in `strict` mode for any error. `plain`: the caller knows the
    event holds nothing `check_plain` refuses (see `_ingest.prepare`), so it is not walked."""
    if not isinstance(event, Mapping):
        raise ValidationError(f"an OpenLineage event is a JSON object, got {_json_type(event)}")
    if not plain:
        check_plain(event)  # first: what the store cannot keep is refused before it is read
    kind = event_kind(event)
    maps = list(_facet_maps(kind, event))  # walked once, for both checks of a valid event
    if _fast_valid(kind, event, maps):
        return _keyed(kind, CheckedEvent(event, kind), strict, maps)
    compiled = schemas()
    if strict:
        _raise_first(compiled.events[kind], event, [])
        for path, place, facets in _facet_maps(kind, event):
            _raise_first(compiled.facets[place], _live(facets), path)
        return _keyed(kind, CheckedEvent(event, kind), strict)
    return _keyed(kind, _lenient(kind, event, compiled), strict)


def _keyed(kind: EventKind, checked: CheckedEvent, strict: bool,
           maps: list[tuple[list[str | int], Place, Mapping[str, Any]]] | None = None
           ) -> CheckedEvent:
    """`checked` without the facets whose names the store cannot key (`unkeyable`): each is
    dropped and named like a facet the spec rejects, or in `strict` mode rejects the event.
    Before this, one such facet (a schema listing a column twice, an empty field name in
    column lineage) rejected the whole event with its lineage, although the spec allows it.
    `maps`: `_facet_maps(kind, checked.event)` when the caller has them already."""
    bad = unkeyable(kind, checked.event, maps)
    if not bad:
        return checked
    if strict:
        path, (inner, message) = next(iter(bad.items()))
        raise ValidationError(message, key=path_text([*path, *inner]))
    dropped = tuple({"path": path_text(list(path)), "facet": str(path[-1]),
                     "reason": f"{path_text(inner)}: {message}" if inner else message}
                    for path, (inner, message) in bad.items())
    return CheckedEvent(_without(checked.event, list(bad)), kind, checked.dropped + dropped,
                        checked.warnings)


#: why a name cannot be a key part (`keys._need`'s test)
def _unnamed(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def unkeyable(kind: EventKind, event: Mapping[str, Any],
              maps: list[tuple[list[str | int], Place, Mapping[str, Any]]] | None = None
              ) -> dict[tuple[str | int, ...], tuple[list[str | int], str]]:
    """The facets the mapping would refuse to key, valid as the spec may find them: a path
    per facet, with the path inside it and why. These are the names the mapping makes node
    keys of (`lineage._keys`: non-empty, at most MAX_KEY_BYTES a key): schema field names
    (and a name listed twice), column lineage and LineageFacet names, a quality assertion's
    column, a dataset version, a parent's job. Only the facets present are walked.
    `maps`: `_facet_maps(kind, event)`, when the caller has them already."""
    bad: dict[tuple[str | int, ...], tuple[list[str | int], str]] = {}
    for prefix, place, facets in (_facet_maps(kind, event) if maps is None else maps):
        named = _KEYED_AT[place].intersection(facets) if facets else None
        if not named:
            continue
        owner = _at(event, prefix[:-1]) if place != "run" and place != "job" else None
        if owner is not None and (_unnamed(owner.get("namespace"))
                                  or _unnamed(owner.get("name"))):
            continue  # the dataset itself is unnamed: a core error, the mapping's to say
        for name in sorted(named):
            facet = facets[name]
            if not isinstance(facet, Mapping) or facet.get("_deleted") is True:
                continue
            check = _KEYED[(place, name)]
            try:
                check(facet, owner)
            except _Unkeyable as exc:
                bad[(*prefix, name)] = (exc.inner, exc.message)
    return bad


class _Unkeyable(Exception):  # noqa: N818 - internal signal, never raised out of here
    def __init__(self, inner: list[str | int], message: str) -> None:
        super().__init__(message)
        self.inner, self.message = inner, message


#: parts whose UTF-8 cannot exceed this many bytes together always fit in a key (the kind
#: and separators take at most 20 more)
_SURE_FIT = (keys.MAX_KEY_BYTES - 20) // 4


def _need_key(inner: list[str | int], make: Any, *parts: Any) -> None:
    """Raise _Unkeyable at `inner` when `make(*parts)` is no valid key."""
    # the common case, told without building the key (this runs for every field of every
    # event): non-blank strings short enough to fit whatever their characters
    total = 0
    for part in parts:
        if type(part) is not str or not part or part.isspace():
            total = _SURE_FIT + 1
            break
        total += len(part)
    if total <= _SURE_FIT:
        return
    try:
        keys.check_key_length(make(*parts))
    except ValidationError as exc:
        raise _Unkeyable(inner, exc.message) from None


def _all_fit(names: list[Any], room: int) -> bool:
    """Whether every name is a non-blank string of at most `room` characters, told at C
    speed (the common case; the exact checks run only when this says no)."""
    try:
        return min(map(len, map(str.strip, names)), default=1) > 0 and \
            max(map(len, names), default=0) <= room
    except TypeError:  # not a string
        return False


def _check_schema(facet: Mapping[str, Any], owner: Any) -> None:
    fields = facet.get("fields") or []
    # dicts as parsed (a Mapping check per field costs more than the rest of this)
    names = [f.get("name") if type(f) is dict else None for f in fields]
    if len(set(names)) == len(names) and _all_fit(
            names, _SURE_FIT - len(owner["namespace"]) - len(owner["name"])):
        return
    seen: dict[str, int] = {}
    for j, f in enumerate(facet.get("fields") or []):
        name = f.get("name") if isinstance(f, Mapping) else None
        inner: list[str | int] = ["fields", j, "name"]
        if isinstance(name, str) and name in seen:
            raise _Unkeyable(inner, f"field '{name}' appears twice in the schema facet "
                                    f"(fields[{seen[name]}] and fields[{j}])")
        _need_key(inner, keys.field_key, owner["namespace"], owner["name"], name)
        seen[str(name)] = j


def _check_source(inner: list[str | int], source: Any, *, field: bool) -> None:
    """A column lineage input field, or a LineageFacet source (`field` optional there)."""
    if not isinstance(source, Mapping) or source.get("type") == "JOB":
        if isinstance(source, Mapping) and ("name" in source or "namespace" in source):
            _need_key(inner, keys.job_key, source.get("namespace"), source.get("name"))
        return
    if field or "field" in source:
        _need_key(inner, keys.field_key, source.get("namespace"), source.get("name"),
                  source.get("field"))
    else:
        _need_key(inner, keys.dataset_key, source.get("namespace"), source.get("name"))


def _check_column_lineage(facet: Mapping[str, Any], owner: Any) -> None:
    outputs = facet.get("fields") or {}
    sources = [s for spec in outputs.values() for s in spec.get("inputFields") or []]
    sources += facet.get("dataset") or []
    try:
        # each of a source's three parts within a third of the room: all three fit
        if _all_fit(list(outputs), _SURE_FIT - len(owner["namespace"]) - len(owner["name"])) \
                and _all_fit([s[k] for s in sources for k in ("namespace", "name", "field")],
                             _SURE_FIT // 3):
            return
    except (TypeError, KeyError):
        pass  # the exact checks below say where
    for out, spec in outputs.items():
        _need_key(["fields", out], keys.field_key, owner["namespace"], owner["name"], out)
        for k, source in enumerate(spec.get("inputFields") or []):
            _check_source(["fields", out, "inputFields", k], source, field=True)
    for k, source in enumerate(facet.get("dataset") or []):
        _check_source(["dataset", k], source, field=True)


def _check_lineage_target(inner: list[str | int], entry: Mapping[str, Any],
                          namespace: Any, name: Any) -> None:
    for k, source in enumerate(entry.get("inputs") or []):
        _check_source([*inner, "inputs", k], source, field=False)
    for out, spec in (entry.get("fields") or {}).items():
        _need_key([*inner, "fields", out], keys.field_key, namespace, name, out)
        for k, source in enumerate(spec.get("inputs") or []):
            _check_source([*inner, "fields", out, "inputs", k], source, field=False)


def _check_dataset_lineage(facet: Mapping[str, Any], owner: Any) -> None:
    _check_lineage_target([], facet, owner["namespace"], owner["name"])


def _check_job_lineage(facet: Mapping[str, Any], _owner: Any) -> None:
    for i, entry in enumerate(facet.get("entries") or []):
        inner: list[str | int] = ["entries", i]
        if not isinstance(entry, Mapping):
            continue
        if entry.get("type") == "DATASET":
            _need_key(inner, keys.dataset_key, entry.get("namespace"), entry.get("name"))
            _check_lineage_target(inner, entry, entry.get("namespace"), entry.get("name"))
            continue
        _check_source(inner, {**entry, "type": "JOB"}, field=False)
        for k, source in enumerate(entry.get("inputs") or []):
            _check_source([*inner, "inputs", k], source, field=False)


def _check_assertions(facet: Mapping[str, Any], owner: Any) -> None:
    for k, assertion in enumerate(facet.get("assertions") or []):
        column = assertion.get("column") if isinstance(assertion, Mapping) else None
        if isinstance(column, str) and column:  # the mapping skips an empty one
            _need_key(["assertions", k, "column"], keys.field_key, owner["namespace"],
                      owner["name"], column)


def _check_version(facet: Mapping[str, Any], owner: Any) -> None:
    version = facet.get("datasetVersion")
    if isinstance(version, str) and version.strip():  # the mapping skips a blank one
        _need_key(["datasetVersion"], keys.dataset_version_key, owner["namespace"],
                  owner["name"], version)


def _check_parent(facet: Mapping[str, Any], _owner: Any) -> None:
    job = facet.get("job")
    _need_key(["job"], keys.job_key, _get_str(job, "namespace"), _get_str(job, "name"))
    root = facet.get("root")
    root_job = root.get("job") if isinstance(root, Mapping) else None
    # the mapping names a root's job only when it has both parts
    if isinstance(root_job, Mapping) and root_job.get("namespace") and root_job.get("name"):
        _need_key(["root", "job"], keys.job_key, root_job["namespace"], root_job["name"])


def _check_symlinks(facet: Mapping[str, Any], owner: Any) -> None:
    """Each identifier becomes a dataset, with the fields the owner's schema lists."""
    schema = _get_str(owner.get("facets"), "schema")
    fields = _get_str(schema, "fields")
    names = [f.get("name") for f in fields if isinstance(f, Mapping)] \
        if isinstance(fields, list) else []
    try:
        if isinstance(schema, Mapping):
            _check_schema(schema, owner)
    except _Unkeyable:
        names = []  # the schema is dropped (`unkeyable` says so): no fields to link
    longest = max((len(n) for n in names if isinstance(n, str)), default=0)
    for k, ident in enumerate(facet.get("identifiers") or []):
        if not isinstance(ident, Mapping):
            continue
        inner: list[str | int] = ["identifiers", k]
        _need_key(inner, keys.dataset_key, ident.get("namespace"), ident.get("name"))
        if longest and len(ident["namespace"]) + len(ident["name"]) + longest > _SURE_FIT:
            for name in names:
                _need_key(inner, keys.field_key, ident["namespace"], ident["name"], name)


def _check_lifecycle(facet: Mapping[str, Any], owner: Any) -> None:
    """A RENAME's previousIdentifier becomes a dataset, with the fields the owner's schema
    lists (the mapping reads it on any change: a name it cannot key is no change to read)."""
    previous = facet.get("previousIdentifier")
    if not isinstance(previous, Mapping):
        return
    inner: list[str | int] = ["previousIdentifier"]
    _need_key(inner, keys.dataset_key, previous.get("namespace"), previous.get("name"))
    fields = _get_str(_get_str(owner.get("facets"), "schema"), "fields")
    for f in fields if isinstance(fields, list) else []:
        name = f.get("name") if isinstance(f, Mapping) else None
        if isinstance(name, str) and name.strip():  # else the schema check says so
            _need_key(inner, keys.field_key, previous["namespace"], previous["name"], name)


def _get_str(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


#: (place, facet name) -> the check of the names that facet gives the mapping
_KEYED: dict[tuple[str, str], Any] = {
    ("dataset", "schema"): _check_schema,
    ("dataset", "columnLineage"): _check_column_lineage,
    ("dataset", "lineage"): _check_dataset_lineage,
    ("dataset", "dataQualityAssertions"): _check_assertions,  # dbt-ol sends it here
    ("input", "dataQualityAssertions"): _check_assertions,
    ("dataset", "version"): _check_version,
    ("dataset", "symlinks"): _check_symlinks,
    ("dataset", "lifecycleStateChange"): _check_lifecycle,
    ("run", "parent"): _check_parent,
    ("job", "lineage"): _check_job_lineage,
}
#: place -> the names `_KEYED` checks there
_KEYED_AT: dict[str, frozenset[str]] = {
    place: frozenset(n for p, n in _KEYED if p == place)
    for place in ("run", "job", "dataset", "input", "output")}


def _fast_valid(kind: EventKind, event: Mapping[str, Any],
                maps: list[tuple[list[str | int], Place, Mapping[str, Any]]] | None = None
                ) -> bool:
    """Whether jsonschema-rs finds the event and each of its facet maps valid (`maps`:
    `_facet_maps(kind, event)`, when the caller has them already)."""
    fast = fast_schemas()
    # an empty facet map is valid against every place's schema (an object of optional
    # properties): not handed to the validator (most inputFacets and outputFacets)
    return bool(fast.events[kind].is_valid(event)) and all(
        fast.facets[place].is_valid(_live(facets))
        for _path, place, facets in (_facet_maps(kind, event) if maps is None else maps)
        if facets)


#: where a facet's name sits in an event's JSON path (after these keys)
_FACET_MAP_KEYS = ("facets", "inputFacets", "outputFacets")
_NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)?$")


def _as_utc(text: Any) -> str | None:
    """A date-time without offset (or a bare date: its midnight) as UTC; None for anything
    else."""
    if not isinstance(text, str) or not _NAIVE_TIME.match(text):
        return None
    return text + "Z" if len(text) > 10 else text + "T00:00:00Z"


def _lenient(kind: EventKind, event: Mapping[str, Any], compiled: Schemas) -> CheckedEvent:
    """An event the fast check rejected: core errors raise; an invalid facet is read
    without its null values (null for an optional property means absent, as Marquez reads
    it) when that makes it valid, else dropped."""
    warnings: list[dict[str, str]] = []
    work = _repaired(kind, event, warnings)
    bad = _bad_facets(kind, work, compiled)
    if not bad:
        return CheckedEvent(work, kind, (), tuple(warnings))
    stripped = work
    nulls: dict[tuple[str | int, ...], list[list[str | int]]] = {}
    for path in bad:
        facet, found = _without_nulls(_at(work, list(path)), [])
        if found:
            stripped = _replaced(stripped, list(path), facet)
            nulls[path] = found
    still = _bad_facets(kind, stripped, compiled) if nulls else bad
    for path, found in nulls.items():
        if path not in still:
            warnings.extend({"path": path_text([*path, *inner]),
                             "message": "null read as absent"} for inner in found)
    cleaned = _without(stripped, list(still))
    if not _fast_valid(kind, cleaned):  # what is left must pass as it is (it always should)
        return check_event(cleaned, strict=True)
    return CheckedEvent(cleaned, kind, tuple(
        {"path": path_text(list(path)), "facet": str(path[-1]),
         "reason": reason} for path, reason in still.items()), tuple(warnings))


def _bad_facets(kind: EventKind, event: Mapping[str, Any], compiled: Schemas
                ) -> dict[tuple[str | int, ...], str]:
    """The facets of `event` the spec rejects, each with why. Raises ValidationError for
    an error of the core event."""
    bad: dict[tuple[str | int, ...], str] = {}
    core: list[SchemaError] = []
    for error in compiled.events[kind].iter_errors(event):
        for leaf in _leaves(error):
            facet = _facet_path(list(leaf.absolute_path))
            if facet is None:
                core.append(leaf)
            else:
                bad.setdefault(facet, _reason(leaf, facet))
    if core:
        _raise_first(compiled.events[kind], event, [])
        # best_match chose an error inside a facet although a core one exists: say that one
        path, message = describe(core[0])
        raise ValidationError(message, key=path_text(path) or None)
    for prefix, place, facets in _facet_maps(kind, event):
        live = {n: f for n, f in _live(facets).items() if (*prefix, n) not in bad}
        for error in compiled.facets[place].iter_errors(live):
            for leaf in _leaves(error):
                inner = list(leaf.absolute_path)
                if inner:
                    facet = (*prefix, inner[0])
                    bad.setdefault(facet, _reason(leaf, facet, prefix))
    return bad


def _without_nulls(value: Any, at: list[str | int]) -> tuple[Any, list[list[str | int]]]:
    """`value` without the null members of its objects (at any depth), and their paths."""
    found: list[list[str | int]] = []
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if v is None:
                found.append([*at, k])
                continue
            out[k], inner = _without_nulls(v, [*at, k])
            found.extend(inner)
        return out, found
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            item, inner = _without_nulls(v, [*at, i])
            items.append(item)
            found.extend(inner)
        return items, found
    return value, found


def _leaves(error: SchemaError) -> Iterator[SchemaError]:
    """The innermost errors under a combinator's error (a facet map's `anyOf`)."""
    if not error.context:
        yield error
        return
    for sub in error.context:
        yield from _leaves(sub)


def _facet_path(path: list[str | int]) -> tuple[str | int, ...] | None:
    """The path of the facet an error lies in (`('run', 'facets', 'errorMessage')`), or None
    for an error of the core event (a facet map that is not an object is one)."""
    for i, part in enumerate(path[:-1]):
        if part in _FACET_MAP_KEYS and i in (1, 2) and isinstance(path[i + 1], str):
            return tuple(path[: i + 2])
    return None


def _reason(error: SchemaError, facet: tuple[str | int, ...],
            prefix: tuple[str | int, ...] | list[str | int] = ()) -> str:
    path, message = describe(error)
    inner = [*prefix, *path][len(facet):]
    return f"{path_text(inner)}: {message}" if inner else message


def _repaired(kind: EventKind, event: Mapping[str, Any],
              warnings: list[dict[str, str]]) -> Mapping[str, Any]:
    """`event`, or a copy of it with a naive eventTime read as UTC, a missing schemaURL
    set to the core spec's, and facets missing `_producer`/`_schemaURL` given them; each
    repair adds a warning."""
    out = dict(event)
    time = out.get("eventTime")
    utc = _as_utc(time)
    if utc is not None:
        out["eventTime"] = utc
        warnings.append({"path": "eventTime", "message": f"no time zone offset in {time!r}: "
                         "read as UTC"})
    if "schemaURL" not in out:
        out["schemaURL"] = CORE_ID
        warnings.append({"path": "schemaURL", "message": "missing: read as OpenLineage "
                         f"{SPEC_VERSION}"})
    producer = out.get("producer") if isinstance(out.get("producer"), str) else "unknown"
    for prefix, _place, facets in list(_facet_maps(kind, out)):
        fixed: dict[str, Any] = {}
        for name, facet in facets.items():
            if not isinstance(facet, Mapping) or facet.get("_deleted") is True:
                continue
            missing = [k for k in ("_producer", "_schemaURL") if k not in facet]
            new = dict(facet)
            if missing:
                new.update({"_producer": producer, "_schemaURL": CORE_ID}
                           if len(missing) == 2 else
                           {missing[0]: producer if missing[0] == "_producer" else CORE_ID})
                warnings.append({"path": path_text([*prefix, name]),
                                 "message": f"missing {' and '.join(missing)}: accepted"})
            if name == "nominalTime" and prefix == ["run", "facets"]:
                for key in ("nominalStartTime", "nominalEndTime"):
                    value = new.get(key)
                    utc = _as_utc(value)
                    if utc is not None:
                        new[key] = utc
                        warnings.append({"path": path_text([*prefix, name, key]),
                                         "message": f"no time zone offset in {value!r}: "
                                                    "read as UTC"})
            if new != facet:
                fixed[name] = new
        if fixed:
            out = _replaced(out, prefix, {**facets, **fixed})
    return out


def _replaced(event: Mapping[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    """A copy of `event` with the value at `path` replaced, copying only along the path."""
    root: Any = dict(event)
    node = root
    for part in path[:-1]:
        child = node[part]
        child = list(child) if isinstance(child, list) else dict(child)
        node[part] = child
        node = child
    node[path[-1]] = value
    return dict(root)


def _without(event: Mapping[str, Any], facets: list[tuple[str | int, ...]]
             ) -> Mapping[str, Any]:
    """A copy of `event` without the facets at these paths (copying only along them)."""
    out: Mapping[str, Any] = event
    for path in facets:
        parent = _at(out, list(path[:-1]))
        out = _replaced(out, list(path[:-1]),
                        {k: v for k, v in parent.items() if k != path[-1]})
    return out


def _at(obj: Any, path: list[str | int]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def _live(facets: Mapping[str, Any]) -> Mapping[str, Any]:
    """The facets that are not deletion markers (`{"_deleted": true}` is not checked)."""
    if not any(isinstance(f, Mapping) and f.get("_deleted") is True for f in facets.values()):
        return facets
    return {name: facet for name, facet in facets.items()
            if not (isinstance(facet, Mapping) and facet.get("_deleted") is True)}


def _facet_maps(kind: EventKind, event: Mapping[str, Any]
                ) -> Iterator[tuple[list[str | int], Place, Mapping[str, Any]]]:
    """Every facet map of an event: its path, its place and the map ({} where the event
    has none, or something else than an object)."""

    def facets(obj: Any, key: str) -> Mapping[str, Any]:
        # parsed JSON is dicts: the exact type told first, without the Mapping ABC's check
        value = obj.get(key) if type(obj) is dict or isinstance(obj, Mapping) else None
        return value if type(value) is dict or isinstance(value, Mapping) else {}

    if kind == "DatasetEvent":
        yield ["dataset", "facets"], "dataset", facets(event.get("dataset"), "facets")
        return
    if kind == "RunEvent":
        yield ["run", "facets"], "run", facets(event.get("run"), "facets")
    yield ["job", "facets"], "job", facets(event.get("job"), "facets")
    for side, own in (("inputs", "input"), ("outputs", "output")):
        datasets = event.get(side)
        for i, dataset in enumerate(datasets if isinstance(datasets, list) else []):
            yield [side, i, "facets"], "dataset", facets(dataset, "facets")
            own_key = "inputFacets" if own == "input" else "outputFacets"
            yield [side, i, own_key], own, facets(dataset, own_key)  # type: ignore[misc]


def _raise_first(validator: Draft202012Validator, instance: Any,
                 prefix: list[str | int]) -> None:
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return
    # best_match stops at an anyOf/oneOf whose branches fail equally (a custom facet missing
    # both _producer and _schemaURL); the deepest error inside says more
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    path, message = describe(error)
    raise ValidationError(message, key=path_text([*prefix, *path]) or None)


def describe(error: SchemaError) -> tuple[list[str | int], str]:
    """The path and a plain-words message for one schema error."""
    path: list[str | int] = list(error.absolute_path)
    value = error.instance
    validator = error.validator
    if validator == "required":
        missing = [r for r in error.validator_value
                   if isinstance(value, Mapping) and r not in value]
        if missing:
            return [*path, missing[0]], "is required but missing"
    if validator == "type":
        wanted = error.validator_value
        wanted_text = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return path, f"must be {_article(wanted_text)} {wanted_text}, got {_show(value)}"
    if validator == "format":
        hint = _FORMAT_HINT.get(error.validator_value, error.validator_value)
        return path, f"must be {hint}, got {_show(value)}"
    if validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return path, f"must be one of {allowed}, got {_show(value)}"
    return path, error.message


def path_text(path: list[str | int]) -> str:
    """`['inputs', 0, 'namespace']` -> `inputs[0].namespace`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{_json_type(value)} {text}"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
