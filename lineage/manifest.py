"""Declarative registration: YAML manifests -> one GraphBatch -> one transaction.

A manifest (see `examples/fraud/manifest.yaml` for a full one)::

    namespace: postgres://db.prod:5432        # default for datasets and jobs below
    datasets:
      - name: public.transactions
        fields:
          - {name: category, type: int32, nullable: false}
        versions:
          - {version: "2026-01"}              # schema snapshot = the fields above
    jobs:
      - name: features.rolling_spend_7d
        inputs: [public.transactions]
        outputs: [features.user_features]
        derivations:
          - {from: [transactions.amount], to: user_features.avg_amount_7d,
             transformation: aggregation}
    features:
      - {name: avg_amount_7d, from: [user_features.avg_amount_7d]}
    models:
      - name: fraud
        versions:
          - {version: "1", trained_on: [user_features@2026-01], features: [avg_amount_7d]}
    consumers:
      - {name: risk-rules-engine, owner: risk-team, consumes: [fraud]}

References (`inputs`, `from`, `trained_on`, `consumes`, ...) are full keys or unambiguous
suffixes, resolved against the manifests being registered and the store. Any error — bad
YAML, an unknown key, a bad type, a duplicate, an unknown or ambiguous reference — rejects
every file of the call, with the file, the key path and the line; the store is unchanged.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError

from . import _keys as keys
from ._errors import ConflictError, ValidationError
from ._files import read_text
from ._model import ApplyResult, ChannelSpec, FieldSchema, GraphBatch
from ._types import parse_type
from ._vocabulary import EdgeKind, NodeKind, Transformation
from .store.base import UNBOUNDED, Store

DEFAULT_NAMESPACE = "default"

# ------------------------------------------------------------------ YAML with line numbers


class _Map(dict[str, Any]):
    """A mapping that remembers the 1-based line of each key."""

    line: int = 0
    lines: dict[str, int]


class _Seq(list[Any]):
    line: int = 0
    lines: list[int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Map:  # type: ignore[override]
        result = _Map()
        result.line, result.lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if not isinstance(key, str | int | float | bool):
                raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark,
                                           "a key must be a scalar", key_node.start_mark)
            key = str(key)
            if key in result:
                raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark,
                                           f"duplicate key '{key}'", key_node.start_mark)
            result[key] = self.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
            result.lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> _Seq:  # type: ignore[override]
        result = _Seq(self.construct_object(child, deep=True) for child in node.value)  # type: ignore[no-untyped-call]
        result.line = node.start_mark.line + 1
        result.lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                            _LineLoader.construct_sequence)


def _line_of(data: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest element of `path` that the document has."""
    line = getattr(data, "line", None)
    node = data
    for part in path:
        if isinstance(node, _Map) and isinstance(part, str) and part in node:
            line, node = node.lines[part], node[part]
        elif isinstance(node, _Seq) and isinstance(part, int) and 0 <= part < len(node):
            line, node = node.lines[part], node[part]
        else:
            break
    return line


def _path_text(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ------------------------------------------------------------------ the manifest's shape


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldDecl(FieldSchema):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    #: a shared name for what the values mean, so copies under other names match
    #: (record fingerprints are computed per concept; default: the field's own key)
    concept: str | None = None
    #: for a key field: the entity type it names (default: the field's name); assertions
    #: are scoped by it, so a user 123 is not a transaction 123
    entity: str | None = Field(default=None, pattern=r"^[^,~|]+$")
    #: for a key field: exact (default: "00123" is not "123"), case_insensitive, or
    #: numeric ("00123" is 123)
    collation: str | None = None
    #: label spellings and what they mean, e.g. {fraud: true, legit: false}
    values: dict[str, Any] | None = None
    #: floats compare rounded to this many decimal places
    precision: int | None = Field(default=None, ge=0, le=15)


    @field_validator("collation")
    @classmethod
    def _collation(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = _COLLATIONS.get(value.strip().lower().replace("-", "_"))
        if found is None:
            raise ValueError(f"unknown collation '{value}'; collations are: exact, "
                             f"case_insensitive (nocase), numeric")
        return found


_COLLATIONS = {"exact": "exact", "binary": "exact", "case_sensitive": "exact",
               "case_insensitive": "case_insensitive", "nocase": "case_insensitive",
               "ci": "case_insensitive", "insensitive": "case_insensitive",
               "numeric": "numeric", "canonical": "numeric"}

#: FieldDecl's record-matching declarations, kept on the field node, not in schemas
MATCHING = ("concept", "entity", "collation", "values", "precision")


class VersionDecl(_Strict):
    version: str | int
    created_at: datetime | date | None = None
    description: str | None = None
    fields: list[FieldDecl] | None = None


def _freshness(value: Any) -> Any:
    """A freshness SLA ("6h", "30m", "2d", "1h30m", ISO 8601 "PT6H"), kept as written."""
    if value is None:
        return None
    from .health.freshness import parse_duration

    try:
        parse_duration(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from None
    return str(value).strip()


class DatasetDecl(_Strict):
    name: str
    namespace: str | None = None
    description: str | None = None
    owner: str | None = None
    #: how old its latest version (or run) may be: `lineage freshness` reports it when older
    freshness: str | None = None
    fields: list[FieldDecl] = Field(default_factory=list)
    versions: list[VersionDecl] = Field(default_factory=list)

    _fresh = field_validator("freshness", mode="before")(_freshness)


class DerivationDecl(_Strict):
    to: str
    from_: list[str] = Field(alias="from", min_length=1)
    transformation: Transformation = Transformation.UNKNOWN
    #: the aggregate function of an aggregation (count, count_distinct, min, max, sum,
    #: mean, ...): change impact judges a type change by it
    function: str | None = None
    description: str | None = None
    #: how missing values are filled (median, 0, ...): `lineage skew` compares it between
    #: the training and the serving derivation of a model input
    fill: str | int | float | None = None

    _list = field_validator("from_", mode="before")(_as_list)


class JobDecl(_Strict):
    name: str
    namespace: str | None = None
    description: str | None = None
    owner: str | None = None
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    derivations: list[DerivationDecl] = Field(default_factory=list)

    _list = field_validator("inputs", "outputs", mode="before")(_as_list)


class FeatureDecl(_Strict):
    name: str
    description: str | None = None
    owner: str | None = None
    type: str | None = None
    freshness: str | None = None
    from_: list[str] = Field(default_factory=list, alias="from")
    transformation: Transformation = Transformation.UNKNOWN

    _list = field_validator("from_", mode="before")(_as_list)
    _fresh = field_validator("freshness", mode="before")(_freshness)


class ModelVersionDecl(_Strict):
    version: str | int
    description: str | None = None
    stage: str | None = None
    trained_on: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)

    _list = field_validator("trained_on", "features", "fields", "outputs", mode="before")(_as_list)


class ModelDecl(_Strict):
    name: str
    description: str | None = None
    owner: str | None = None
    versions: list[ModelVersionDecl] = Field(default_factory=list)


class ContractFieldDecl(_Strict):
    """One field a consumer relies on (names follow the Open Data Contract Standard where
    it has one: physicalType, required, validValues)."""

    name: str
    type: str | None = Field(default=None, alias="physicalType")
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed_values: list[Any] | None = Field(default=None, alias="validValues")
    #: the largest share of nulls the consumer accepts in a batch (`lineage validate`)
    max_null_rate: float | None = Field(default=None, alias="maxNullRate", ge=0, le=1)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        return None if value is None else FieldSchema(name="x", type=value).type


class ContractDecl(_Strict):
    asset: str
    fields: list[ContractFieldDecl] = Field(default_factory=list, alias="properties")


class ChannelDecl(_Strict):
    kind: Literal["webhook", "email", "file"]
    url: str | None = None
    to: str | None = None
    path: str | None = None
    secret: str | None = None
    secret_env: str | None = None

    def target(self) -> str | None:
        return {"webhook": self.url, "email": self.to, "file": self.path}[self.kind]


class ConsumerDecl(_Strict):
    name: str
    owner: str | None = None
    description: str | None = None
    consumes: list[str] = Field(default_factory=list)
    contracts: list[ContractDecl] | None = None
    channels: list[ChannelDecl] | None = None

    _list = field_validator("consumes", mode="before")(_as_list)


class AgentDecl(_Strict):
    name: str
    type: str | None = None  # person, software, system
    description: str | None = None


class Manifest(_Strict):
    namespace: str = DEFAULT_NAMESPACE
    datasets: list[DatasetDecl] = Field(default_factory=list)
    jobs: list[JobDecl] = Field(default_factory=list)
    derivations: list[DerivationDecl] = Field(default_factory=list)
    features: list[FeatureDecl] = Field(default_factory=list)
    models: list[ModelDecl] = Field(default_factory=list)
    consumers: list[ConsumerDecl] = Field(default_factory=list)
    agents: list[AgentDecl] = Field(default_factory=list)


def _check_channel(src: _Source, where: list[str | int], kind: str, target: str) -> None:
    """A webhook's URL is http(s); a file channel's path lies below the notifications root
    (LINEAGE_NOTIFICATIONS_ROOT) and crosses no symbolic link (issue 15)."""
    from ._settings import Settings
    from .notify._channels import check_file_target, check_webhook_url

    try:
        if kind == "webhook":
            check_webhook_url(target)
        elif kind == "file":
            check_file_target(target, Settings.from_env().notifications_root)
    except ValidationError as exc:
        raise src.error(exc.message, [*where, "url" if kind == "webhook" else "path"]) from None


# ------------------------------------------------------------------ loading


@dataclass
class _Source:
    """One parsed manifest and where it came from, for error messages."""

    file: str
    data: Any
    manifest: Manifest

    def error(self, message: str, path: Sequence[str | int]) -> ValidationError:
        return ValidationError(message, file=self.file, key=_path_text(path) or None,
                               line=_line_of(self.data, path))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_at(data: Any) -> list[str | int] | None:
    """The path of the first key or string that no store can keep (NUL, a lone surrogate:
    YAML's "\\ud800" escape makes one), or None. Each container is visited once, however
    many YAML aliases share it."""
    seen: set[int] = set()
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return path
        elif isinstance(item, dict | list) and id(item) not in seen:
            seen.add(id(item))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for k, v in pairs:
                if isinstance(k, str) and _UNSTORABLE.search(k):
                    return [*path, k]
                stack.append((v, [*path, k]))
    return None


def parse(text: str, file: str = "<manifest>") -> _Source:
    """Parse and validate one manifest's text (no references resolved yet)."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        context = exc.context or ""
        if exc.context_mark and mark is not None and exc.context_mark.line != mark.line:
            context += f" (from line {exc.context_mark.line + 1})"
        problem = " ".join(str(p) for p in (context, exc.problem) if p)
        raise ValidationError(f"malformed YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"malformed YAML: {exc}", file=file) from None
    if data is None:
        data = _Map()
    if not isinstance(data, dict):
        raise ValidationError("a manifest is a mapping with keys such as 'datasets', 'jobs', "
                              f"'models'; got {type(data).__name__}", file=file, line=1)
    if (bad := _unstorable_at(data)) is not None:
        raise ValidationError("text may not contain NUL (\\0) or an unpaired surrogate "
                              "(\\ud800-\\udfff escapes); write the character itself",
                              file=file, key=_path_text(bad) or None, line=_line_of(data, bad))
    try:
        manifest = Manifest.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        path = [p for p in first["loc"] if isinstance(p, str | int)]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown key '{path[-1]}'"
            allowed = _allowed_keys(path[:-1])
            meant = _SAME_MEANING.get(str(path[-1]))
            if meant in allowed:
                message += f"; did you mean '{meant}'?"
            elif close := difflib.get_close_matches(str(path[-1]), allowed, n=1):
                message += f"; did you mean '{close[0]}'?"
            elif allowed:
                message += f"; allowed here: {', '.join(allowed)}"
        path = ["from" if p == "from_" else p for p in path]
        raise ValidationError(message, file=file, key=_path_text(path),
                              line=_line_of(data, path)) from None
    return _Source(file, data, manifest)


#: keys spelt as another part of the manifest (or ODCS) spells the same thing; a spelling
#: match would suggest a key of another meaning ('validValues' -> 'values', label spellings)
_SAME_MEANING = {"validValues": "allowed_values", "valid_values": "allowed_values",
                 "allowedValues": "allowed_values", "physicalType": "type",
                 "required": "nullable"}


def _allowed_keys(path: Sequence[str | int]) -> list[str]:
    """The keys a manifest allows at `path` (for 'did you mean')."""
    model: Any = Manifest
    for part in path:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) or model.model_fields.get(part + "_")
        if info is None:
            return []
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        inner = [a for arg in args for a in getattr(arg, "__args__", ())]
        nested = [a for a in (annotation, *args, *inner)
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(info.alias or name for name, info in model.model_fields.items())


def load(paths: Iterable[str | Path]) -> list[_Source]:
    """Read and validate manifest files (all of them, before anything is written)."""
    return [parse(read_text(path), str(path)) for path in paths]


# ------------------------------------------------------------------ building the batch


class _Builder:
    """Turns validated manifests into one GraphBatch, resolving references as it goes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = GraphBatch()
        self.declared: dict[str, tuple[_Source, list[str | int]]] = {}
        #: dataset versions declared without fields (they take their dataset's), and each
        #: dataset's declared versions in order: for the immutable-history check
        self.implicit: set[str] = set()
        self.versions: dict[str, list[str]] = {}

    def declare(self, src: _Source, path: list[str | int], key: str, name: str,
                namespace: str | None = None, **properties: Any) -> str:
        if key in self.declared:
            other_src, other_path = self.declared[key]
            other_line = _line_of(other_src.data, other_path)
            raise src.error(f"'{keys.identity(key)}' is declared twice (first at "
                            f"{other_src.file}:{other_line})", path)
        self.declared[key] = (src, path)
        self.batch.add_node(key, name, namespace, **properties)
        return key

    def ref(self, src: _Source, path: list[str | int], name: str,
            kinds: Sequence[NodeKind]) -> str:
        """Resolve a reference among the declared nodes and the store."""
        in_batch = [k for k in self.batch.nodes
                    if self.batch.nodes[k].kind in kinds
                    and (k == name or keys.matches_suffix(k, name))]
        exact = [k for k in in_batch if k == name or keys.identity(k) == name]
        if len(exact) == 1:
            return exact[0]
        found = set(in_batch) | {r.key for r in self.store.candidates(name, kinds)}
        exact = [k for k in found if k == name or keys.identity(k) == name]
        if len(exact) == 1:
            return exact[0]
        if len(found) == 1:
            return found.pop()
        what = " or ".join(k.value.replace("_", " ") for k in kinds)
        if found:
            listed = ", ".join(sorted(found)[:10])
            raise src.error(f"'{name}' is ambiguous: it matches {listed}; use a longer name",
                            path)
        pool = [k for k in self.batch.nodes if self.batch.nodes[k].kind in kinds]
        pool += [r.key for r in self.store.find(name.rsplit(".", 1)[0], kinds, 200)]
        close = keys.suggest(name, pool, n=1)
        hint = f"; did you mean '{keys.identity(close[0])}'?" if close else ""
        raise src.error(f"unknown {what} '{name}'{hint}", path)

    # -- sections, in dependency order: nodes first, then everything that refers to them

    def datasets(self, src: _Source) -> None:
        m = src.manifest
        for i, d in enumerate(m.datasets):
            path: list[str | int] = ["datasets", i]
            ns = d.namespace or m.namespace
            dkey = self.declare(src, path, keys.dataset_key(ns, d.name), d.name, ns,
                                description=d.description, owner=d.owner,
                                freshness=d.freshness)
            seen: dict[str, int] = {}
            for j, f in enumerate(d.fields):
                fpath: list[str | int] = [*path, "fields", j, "name"]
                if f.name in seen:
                    raise src.error(f"field '{f.name}' appears twice in dataset '{d.name}' "
                                    f"(fields[{seen[f.name]}] and fields[{j}])", fpath)
                seen[f.name] = j
                fkey = self.declare(src, fpath, keys.field_key(ns, d.name, f.name),
                                    f"{d.name}.{f.name}", ns, **_field_properties(f))
                self.batch.add_edge(dkey, fkey, EdgeKind.HAS_FIELD)
            for j, v in enumerate(d.versions):
                vpath: list[str | int] = [*path, "versions", j]
                version = str(v.version)
                vkey = self.declare(src, vpath, keys.dataset_version_key(ns, d.name, version),
                                    f"{d.name}@{version}", ns, version=version,
                                    created_at=v.created_at and v.created_at.isoformat(),
                                    description=v.description)
                self.batch.add_edge(vkey, dkey, EdgeKind.VERSION_OF)
                fields = v.fields if v.fields is not None else d.fields
                if v.fields is None:
                    self.implicit.add(vkey)
                self.versions.setdefault(dkey, []).append(vkey)
                names = [f.name for f in fields]
                if dup := {n for n in names if names.count(n) > 1}:
                    raise src.error(f"field '{sorted(dup)[0]}' appears twice in version "
                                    f"'{version}'", [*vpath, "fields"])
                self.batch.schemas[vkey] = [FieldSchema(**f.model_dump(exclude=set(MATCHING)))
                                            for f in fields]

    def agents_features_models_jobs_consumers(self, src: _Source) -> None:
        m = src.manifest
        for i, a in enumerate(m.agents):
            self.declare(src, ["agents", i], keys.agent_key(a.name), a.name,
                         type=a.type, description=a.description)
        for i, feat in enumerate(m.features):
            self.declare(src, ["features", i], keys.feature_key(feat.name), feat.name,
                         description=feat.description, owner=feat.owner,
                         freshness=feat.freshness,
                         type=feat.type and FieldSchema(name=feat.name, type=feat.type).type)
        for i, model in enumerate(m.models):
            mkey = self.declare(src, ["models", i], keys.model_key(model.name), model.name,
                                description=model.description, owner=model.owner)
            for j, v in enumerate(model.versions):
                version = str(v.version)
                vkey = self.declare(src, ["models", i, "versions", j],
                                    keys.model_version_key(model.name, version),
                                    f"{model.name}@{version}", version=version,
                                    stage=v.stage, description=v.description)
                self.batch.add_edge(vkey, mkey, EdgeKind.VERSION_OF)
        for i, job in enumerate(m.jobs):
            ns = job.namespace or m.namespace
            self.declare(src, ["jobs", i], keys.job_key(ns, job.name), job.name, ns,
                         description=job.description, owner=job.owner)
        for i, c in enumerate(m.consumers):
            self.declare(src, ["consumers", i], keys.consumer_key(c.name), c.name,
                         owner=c.owner, description=c.description)

    def links(self, src: _Source) -> None:
        m = src.manifest
        fieldish = (NodeKind.FIELD, NodeKind.FEATURE)
        datasetish = (NodeKind.DATASET, NodeKind.DATASET_VERSION)
        for i, feat in enumerate(m.features):
            fkey = keys.feature_key(feat.name)
            for j, name in enumerate(feat.from_):
                origin = self.ref(src, ["features", i, "from", j], name, fieldish)
                self.batch.add_edge(origin, fkey, EdgeKind.DERIVED_FROM,
                                    transformation=feat.transformation.value)
        for i, job in enumerate(m.jobs):
            jkey = keys.job_key(job.namespace or m.namespace, job.name)
            for j, name in enumerate(job.inputs):
                dkey = self.ref(src, ["jobs", i, "inputs", j], name, datasetish)
                self.batch.add_edge(dkey, jkey, EdgeKind.READ)
            for j, name in enumerate(job.outputs):
                dkey = self.ref(src, ["jobs", i, "outputs", j], name, datasetish)
                self.batch.add_edge(jkey, dkey, EdgeKind.WROTE)
            self.derivations(src, ["jobs", i, "derivations"], job.derivations, jkey)
        self.derivations(src, ["derivations"], m.derivations, None)
        for i, model in enumerate(m.models):
            for j, v in enumerate(model.versions):
                vkey = keys.model_version_key(model.name, str(v.version))
                base: list[str | int] = ["models", i, "versions", j]
                for k, name in enumerate(v.trained_on):
                    d = self.ref(src, [*base, "trained_on", k], name, datasetish)
                    self.batch.add_edge(d, vkey, EdgeKind.TRAINED_ON)
                for k, name in enumerate(v.features):
                    f = self.ref(src, [*base, "features", k], name, (NodeKind.FEATURE,))
                    self.batch.add_edge(f, vkey, EdgeKind.USES_FEATURE)
                for k, name in enumerate(v.fields):
                    f = self.ref(src, [*base, "fields", k], name, (NodeKind.FIELD,))
                    self.batch.add_edge(f, vkey, EdgeKind.USES_FIELD)
                for k, name in enumerate(v.outputs):
                    f = self.ref(src, [*base, "outputs", k], name, (NodeKind.FIELD,
                                                                     NodeKind.DATASET))
                    self.batch.add_edge(vkey, f, EdgeKind.GENERATED)
        assets = tuple(k for k in NodeKind if k not in (NodeKind.CONSUMER, NodeKind.RUN,
                                                         NodeKind.AGENT))
        for i, c in enumerate(m.consumers):
            ckey = keys.consumer_key(c.name)
            for j, name in enumerate(c.consumes):
                asset = self.ref(src, ["consumers", i, "consumes", j], name, assets)
                self.batch.add_edge(asset, ckey, EdgeKind.CONSUMES)
            if c.contracts is not None:
                self.contracts(src, ["consumers", i, "contracts"], ckey, c.contracts, assets)
            if c.channels is not None:
                self.batch.channels[ckey] = []
                for j, ch in enumerate(c.channels):
                    target = ch.target()
                    if not target:
                        needs = {"webhook": "url", "email": "to", "file": "path"}[ch.kind]
                        raise src.error(f"a {ch.kind} channel needs '{needs}'",
                                        ["consumers", i, "channels", j])
                    _check_channel(src, ["consumers", i, "channels", j], ch.kind, target)
                    settings = {"secret_env": ch.secret_env} if ch.secret_env else {}
                    self.batch.channels[ckey].append(ChannelSpec(
                        kind=ch.kind, target=target, secret=ch.secret, settings=settings))

    def contracts(self, src: _Source, base: list[str | int], consumer: str,
                  contracts: Sequence[ContractDecl], assets: Sequence[NodeKind]) -> None:
        """A consumer's contracts; each names fields its asset really has."""
        by_asset: dict[str, dict[str, Any]] = {}
        for i, contract in enumerate(contracts):
            asset = self.ref(src, [*base, i, "asset"], contract.asset, assets)
            known = self._fields_of(asset)
            for j, f in enumerate(contract.fields):
                if known is not None and f.name not in known:
                    close = difflib.get_close_matches(f.name, sorted(known), n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise src.error(f"'{keys.identity(asset)}' has no field '{f.name}'{hint}",
                                    [*base, i, "fields", j, "name"])
            by_asset[asset] = {"fields": [f.model_dump(exclude_none=True) for f in
                                          contract.fields]}
            self.batch.add_edge(asset, consumer, EdgeKind.CONSUMES)
        self.batch.contracts[consumer] = by_asset

    def _fields_of(self, asset: str) -> set[str] | None:
        """Field names of a dataset (declared here or stored); None for other assets."""
        if keys.kind_of(asset) is not NodeKind.DATASET:
            return None
        prefix = keys.fields_prefix(asset)
        names = {k[len(prefix):] for k in self.batch.nodes if k.startswith(prefix)}
        names |= {r.key[len(prefix):] for r in self.store.find(prefix, [NodeKind.FIELD], 10_000)
                  if r.key.startswith(prefix)}
        return names

    def derivations(self, src: _Source, base: list[str | int],
                    derivations: Sequence[DerivationDecl], job: str | None) -> None:
        for i, d in enumerate(derivations):
            target = self.ref(src, [*base, i, "to"], d.to, (NodeKind.FIELD, NodeKind.FEATURE))
            for j, name in enumerate(d.from_):
                origin = self.ref(src, [*base, i, "from", j], name,
                                  (NodeKind.FIELD, NodeKind.FEATURE))
                if origin == target:
                    raise src.error(f"'{name}' cannot derive from itself", [*base, i, "from", j])
                extra = {"function": d.function.strip().lower()} if d.function else {}
                self.batch.add_edge(origin, target, EdgeKind.DERIVED_FROM,
                                    transformation=d.transformation.value,
                                    description=d.description, job=job,
                                    fill=None if d.fill is None else str(d.fill), **extra)


def _field_properties(f: FieldDecl) -> dict[str, Any]:
    props = dict(type=f.type, nullable=f.nullable, description=f.description,
                 allowed_values=f.allowed_values, concept=f.concept)
    for name in MATCHING[1:]:
        if getattr(f, name) is not None:
            props[name] = getattr(f, name)
    return props


def build(store: Store, sources: Sequence[_Source]) -> GraphBatch:
    """One batch for all `sources`; references resolve across them and the store.

    History is immutable: a dataset version already stored keeps its schema. One the
    manifest declares with other fields, or whose dataset's fields changed with no new
    version to carry them, is a ConflictError naming the version and the field."""
    return _build(store, sources).batch


def _build(store: Store, sources: Sequence[_Source]) -> _Builder:
    builder = _Builder(store)
    for src in sources:
        builder.datasets(src)
    for src in sources:
        builder.agents_features_models_jobs_consumers(src)
    for src in sources:
        builder.links(src)
    _keep_history(store, builder)
    return builder


def _schema_of(fields: Sequence[FieldSchema], older: Sequence[FieldSchema] = ()
               ) -> list[tuple[str, str, bool, Any]]:
    """What a version's schema promises (descriptions are documentation, not schema).
    With `older` (a snapshot stored before lengths and precisions were kept), a type is
    spelt as that snapshot spelt it when it only adds such a parameter to it (`varchar(20)`
    stored as `string`, `timestamp(3)` ingested as `timestamp`): the same declaration."""
    was = {f.name: f.type for f in older}
    return [(f.name, was[f.name] if _kept_without_parameters(was.get(f.name), f.type)
             else f.type, f.nullable, f.allowed_values) for f in fields]


def _kept_without_parameters(stored: str | None, declared: str) -> bool:
    parsed = parse_type(declared)
    return stored is not None and stored != declared and stored == parsed.base and (
        parsed.length is not None or parsed.precision is not None)


def _first_difference(old: Sequence[FieldSchema], new: Sequence[FieldSchema]) -> str:
    before, after = {f.name: f for f in old}, {f.name: f for f in new}
    for name, f in before.items():
        if name not in after:
            return f"field '{name}' ({f.type}) is missing"
        g = after[name]
        if (f.type, f.nullable, f.allowed_values) != (g.type, g.nullable, g.allowed_values):
            was = f"{f.type} {'nullable' if f.nullable else 'not null'}"
            now = f"{g.type} {'nullable' if g.nullable else 'not null'}"
            if f.allowed_values != g.allowed_values:
                was, now = f"{was} {f.allowed_values}", f"{now} {g.allowed_values}"
            return f"field '{name}' is {was} there, {now} here"
    added = [n for n in after if n not in before]
    if added:
        return f"field '{added[0]}' is new"
    return "the fields are in another order"


def _keep_history(store: Store, builder: _Builder) -> None:
    """Stored dataset versions keep their schema snapshots (see `build`)."""
    batch = builder.batch
    stored = store.exists(batch.schemas)
    given = dict(batch.schemas)  # as declared, before stored snapshots are kept
    for vkey in sorted(stored):
        old = store.schema(vkey)
        if not old:
            continue  # stored without a snapshot: this is its first
        new = batch.schemas[vkey]
        if _schema_of(old) == _schema_of(new):
            continue
        if _schema_of(old) == _schema_of(new, older=old):
            # stored by a release that kept no lengths: the snapshot stays as it was
            del batch.schemas[vkey]
            continue
        if vkey in builder.implicit:
            del batch.schemas[vkey]  # it took its dataset's fields; those changed
            continue
        name = keys.identity(vkey)
        raise ConflictError(
            f"dataset version '{name}' is registered: {_first_difference(old, new)}. A "
            "registered version's schema never changes; declare the new schema as a new "
            "version (versions: - {version: NEXT, fields: [...]}), which checks the change "
            "against every consumer")
    for dkey, versions in builder.versions.items():
        # a dataset whose fields changed must carry them in a new version: its latest,
        # stored and taking the dataset's fields, would otherwise silently disagree
        latest = versions[-1]
        if latest not in stored or latest not in builder.implicit or any(
                v not in stored for v in versions):
            continue
        old, new = store.schema(latest), given[latest]
        if old and _schema_of(old) != _schema_of(new, older=old):
            raise ConflictError(
                f"dataset '{keys.identity(dkey)}' changed but declares no new version: "
                f"{_first_difference(old, new)} (its latest version is "
                f"'{keys.identity(latest)}'). A registered version's schema never changes; "
                "add a new version for the new schema (versions: - {version: NEXT}), which "
                "checks the change against every consumer")


def register(store: Store, *paths: str | Path) -> ApplyResult:
    """Register manifest files in one transaction. Raises ValidationError (file, key, line)
    and writes nothing when any file has an error.

    A dataset version the manifests add whose schema differs from the dataset's latest
    stored version enqueues notifications for the consumers the change breaks, in the same
    transaction (see `lineage.notify.new_version_notifications`).

    Each declared node records the manifest that declares it (`declared_by`: the paths as
    given, normalised), which is what `register_pruning` compares against. A node deleted
    with `lineage.lifecycle.delete` that a manifest declares again is live again; a
    deprecated one stays deprecated."""
    if not paths:
        raise ValidationError("no manifest given")
    result, _ = _register(store, load(paths), prune=False, dry_run=False,
                          principal="library")
    assert result is not None
    return result


def register_text(store: Store, text: str, file: str = "<manifest>") -> ApplyResult:
    """Register one manifest given as YAML text (as `register` does a file)."""
    result, _ = _register(store, [parse(text, file)], prune=False, dry_run=False,
                          principal="library")
    assert result is not None
    return result


@dataclass
class Pruned:
    """What `register_pruning` retired (or, on a dry run, would retire)."""

    #: the nodes marked deleted: an earlier registration of these manifests declared them,
    #: this one does not, and no other manifest declares them
    retired: list[str]
    #: the nodes these manifests no longer declare but another manifest still does: kept
    released: list[str]
    dry_run: bool
    #: what the registration wrote; None on a dry run
    applied: ApplyResult | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        applied = None if self.applied is None else {**asdict(self.applied),
                                                     "changed": self.applied.changed}
        return {"retired": self.retired, "released": self.released, "dry_run": self.dry_run,
                "applied": applied}


def register_pruning(store: Store, *paths: str | Path, dry_run: bool = False,
                     principal: str = "library") -> Pruned:
    """Register manifest files as `register` does, and in the same transaction retire (mark
    deleted, see lineage.lifecycle) every node an earlier registration of the same files
    (by `declared_by`) declared and this one no longer does, unless another manifest still
    declares it. `dry_run` validates and computes the same answer and writes nothing.

    Finding the earlier declarations reads every node's properties once: a cost paid by
    pruning only, proportional to the store."""
    if not paths:
        raise ValidationError("no manifest given")
    result, pruned = _register(store, load(paths), prune=True, dry_run=dry_run,
                               principal=principal)
    pruned.applied = result
    return pruned


def manifest_name(file: str | Path) -> str:
    """How `declared_by` names a manifest: its path as given, normalised."""
    text = str(file)
    return text if text.startswith("<") else os.path.normpath(text)


def _register(store: Store, sources: Sequence[_Source], *, prune: bool, dry_run: bool,
              principal: str) -> tuple[ApplyResult | None, Pruned]:
    from .lifecycle import PROPERTIES
    from .notify import new_version_notifications

    builder = _build(store, sources)
    batch = builder.batch
    declared = {key: manifest_name(src.file) for key, (src, _) in builder.declared.items()}
    files = {manifest_name(src.file) for src in sources}
    released: dict[str, set[str]] = {}
    retired: list[str] = []
    if prune:
        released, retired = _undeclared(store, declared, files)
    pruned = Pruned(sorted(retired), sorted(set(released) - set(retired)), dry_run)
    if dry_run:
        return None, pruned
    batch.notifications += new_version_notifications(store, batch)
    stored_nodes = store.nodes(released)
    for key in released:
        n = stored_nodes[key]
        batch.add_node(key, n.name, n.namespace)
    stamp = {"lifecycle": "deleted", "lifecycle_at": datetime.now(UTC).isoformat(),
             "lifecycle_reason": f"no longer declared by {', '.join(sorted(files))}",
             "lifecycle_by": principal}
    dropped = set(retired)

    def merge(key: str, stored: Mapping[str, Any], given: Mapping[str, Any]
              ) -> dict[str, Any]:
        if key in declared:
            props = dict(given)
            props["declared_by"] = sorted({*stored.get("declared_by", ()), declared[key]})
            if stored.get("lifecycle") == "deprecated":  # deleted: declaring it revives it
                props.update({k: stored[k] for k in PROPERTIES if k in stored})
            return props
        props = dict(stored)  # a node these manifests no longer declare (prune)
        props["declared_by"] = sorted(set(stored.get("declared_by", ())) - released[key])
        if key in dropped:
            props.update(stamp)
        return props

    return store.apply(batch, merge=merge), pruned


def _undeclared(store: Store, declared: dict[str, str], files: set[str]
                ) -> tuple[dict[str, set[str]], list[str]]:
    """The stored nodes that `files` declared before and do not now (with the files to take
    off their `declared_by`), and those of them no other manifest declares and that are not
    deleted already (to retire)."""
    refs = store.find("", None, UNBOUNDED)
    released: dict[str, set[str]] = {}
    retired: list[str] = []
    for key, node in store.nodes(r.key for r in refs if r.key not in declared).items():
        owners = set(node.properties.get("declared_by") or ())
        gone = owners & files
        if not gone:
            continue
        released[key] = gone
        if not owners - files and node.properties.get("lifecycle") != "deleted":
            retired.append(key)
    return released, retired
