"""Training-serving skew: for each input a model version uses, the derivation its training
data recorded beside the one its serving path recorded (story 3 in STORIES.md: training
fills a missing `age` with the median, serving with 0).

    report = skew(store, "fraud@3")
    report.inputs[0].differences    # ["fill: median (training) vs 0 (serving)", ...]

An input (a feature, or a field the model uses directly) is computed from source fields.
Sources in a dataset the model version was trained on are the training side; sources in
any other dataset are the serving side. Each side's derivation is what derives that source
field: the fields it comes from, the transformation, the job and every property recorded on
the derivation (description, fill rule, ...), and the job's code properties. Every
difference is reported. Where the training dataset version and the serving dataset both
have a stored profile of the source field, the PSI and KS between them are reported too,
as `lineage drift` computes them (profile against profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from .. import _keys as keys
from .._errors import ValidationError
from .._model import NodeRef
from .._vocabulary import EdgeKind, NodeKind
from ..store.base import Store
from .drift import DriftPolicy, FieldDrift, compare_field
from .profile import Profile

#: job properties that say which code ran (compared between the two sides)
CODE_PROPERTIES = ("code_version", "source_code", "sql", "source_code_location", "version")


@dataclass
class Derivation:
    """How one source field of an input is computed."""

    field: str
    dataset: str
    side: str  # training or serving
    origins: list[str] = _field(default_factory=list)
    transformation: str | None = None
    job: str | None = None
    properties: dict[str, Any] = _field(default_factory=dict)
    code: dict[str, Any] = _field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "dataset": self.dataset, "side": self.side,
                "origins": self.origins, "transformation": self.transformation,
                "job": self.job, "properties": self.properties, "code": self.code}


@dataclass
class InputSkew:
    """One model input: its training and serving derivations, how they differ, and the
    distance between their profiles when both are stored."""

    input: NodeRef
    training: list[Derivation] = _field(default_factory=list)
    serving: list[Derivation] = _field(default_factory=list)
    differences: list[str] = _field(default_factory=list)
    distribution: FieldDrift | None = None
    #: the profiles compared (dataset version or run keys)
    profiles: list[str] = _field(default_factory=list)
    note: str | None = None

    @property
    def skewed(self) -> bool:
        return bool(self.differences) or bool(self.distribution and self.distribution.drifted)

    @property
    def compared(self) -> bool:
        """Whether both sides were recorded (else nothing could be compared)."""
        return bool(self.training and self.serving)

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input.key, "kind": self.input.kind.value,
                "skewed": self.skewed, "compared": self.compared,
                "differences": self.differences,
                "training": [d.to_dict() for d in self.training],
                "serving": [d.to_dict() for d in self.serving],
                "distribution": None if self.distribution is None else
                self.distribution.to_dict(), "profiles": self.profiles, "note": self.note}


@dataclass
class SkewReport:
    model_version: NodeRef
    trained_on: list[str]
    inputs: list[InputSkew]
    notes: list[str] = _field(default_factory=list)

    @property
    def skewed(self) -> list[InputSkew]:
        return [i for i in self.inputs if i.skewed]

    def summary(self) -> str:
        compared = [i for i in self.inputs if i.training and i.serving]
        if not self.skewed:
            return (f"no skew: {len(compared)} of {len(self.inputs)} input(s) of "
                    f"{self.model_version.name} have both a training and a serving "
                    "derivation, and they agree")
        return (f"SKEW: {', '.join(i.input.name for i in self.skewed)} of "
                f"{self.model_version.name} are derived differently in training and serving")

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version.key, "trained_on": self.trained_on,
                "summary": self.summary(), "skewed": [i.input.key for i in self.skewed],
                "inputs": [i.to_dict() for i in self.inputs], "notes": self.notes}


def _dataset_of(field_key: str) -> str:
    return f"{NodeKind.DATASET.value}:{keys.identity(field_key).rsplit('.', 1)[0]}"


def _dataset_of_version(version_key: str) -> str:
    return f"{NodeKind.DATASET.value}:{keys.identity(version_key).rsplit('@', 1)[0]}"


def skew(store: Store, model_version: str, policy: DriftPolicy | None = None) -> SkewReport:
    """Compare the training and serving derivations of every input of `model_version`
    (`name@VERSION`). Raises NotFound/AmbiguousName, ValidationError for a non-version."""
    policy = policy or DriftPolicy()
    mv = store.resolve(model_version, [NodeKind.MODEL_VERSION, NodeKind.MODEL])
    if mv.kind is not NodeKind.MODEL_VERSION:
        raise ValidationError(f"skew is judged per model version: name one, e.g. "
                              f"'{mv.name}@VERSION'")
    trained_versions: list[str] = []
    trained_datasets: set[str] = set()
    inputs: list[NodeRef] = []
    for edge, ref in store.neighbours(mv.key):
        if edge.dst != mv.key:
            continue
        if edge.kind is EdgeKind.TRAINED_ON:
            if ref.kind is NodeKind.DATASET_VERSION:
                trained_versions.append(ref.key)
            else:
                trained_datasets.add(ref.key)
        elif edge.kind in (EdgeKind.USES_FEATURE, EdgeKind.USES_FIELD):
            inputs.append(ref)
    for version in trained_versions:
        for edge, ref in store.neighbours(version):
            if edge.kind is EdgeKind.VERSION_OF and edge.src == version:
                trained_datasets.add(ref.key)
    notes = []
    if not trained_datasets:
        notes.append(f"{mv.name} has no trained_on edge: no side can be called training")
    report = SkewReport(mv, sorted(trained_versions) or sorted(trained_datasets), [],
                        notes)
    for ref in sorted(inputs, key=lambda r: r.key):
        report.inputs.append(_input(store, ref, trained_datasets, trained_versions, policy))
    return report


def _input(store: Store, ref: NodeRef, trained: set[str], versions: list[str],
           policy: DriftPolicy) -> InputSkew:
    item = InputSkew(ref)
    if ref.kind is NodeKind.FIELD:
        sources = [ref.key]
    else:
        sources = sorted(other.key for edge, other in store.neighbours(ref.key)
                         if edge.kind is EdgeKind.DERIVED_FROM and edge.dst == ref.key
                         and other.kind is NodeKind.FIELD)
    for source in sources:
        dataset = _dataset_of(source)
        side = "training" if dataset in trained else "serving"
        derivations = _derivations(store, source, dataset, side)
        (item.training if side == "training" else item.serving).extend(derivations)
    if not item.training or not item.serving:
        missing = "serving" if item.training else "training"
        item.note = (f"no {missing} derivation recorded for {ref.name}: nothing to compare "
                     "(declare the path that computes it, e.g. the serving job)")
        return item
    for train in item.training:
        for serve in item.serving:
            item.differences += _differences(train, serve)
    item.differences = list(dict.fromkeys(item.differences))
    _distribution(store, item, versions, policy)
    return item


def _derivations(store: Store, source: str, dataset: str, side: str) -> list[Derivation]:
    """What derives `source`, grouped by job (one Derivation per job, or one without)."""
    by_job: dict[str | None, Derivation] = {}
    for edge, other in store.neighbours(source):
        if edge.kind is not EdgeKind.DERIVED_FROM or edge.dst != source:
            continue
        props = dict(edge.properties)
        job = props.pop("job", None)
        transformation = props.pop("transformation", None)
        found = by_job.setdefault(job, Derivation(source, dataset, side, job=job,
                                                  transformation=transformation))
        found.origins.append(other.key)
        for key, value in props.items():
            found.properties.setdefault(key, value)
    if not by_job:  # nothing derives it: the source field is itself what both sides read
        return [Derivation(source, dataset, side)]
    jobs = store.nodes([j for j in by_job if j])
    for job, derivation in by_job.items():
        derivation.origins.sort()
        if job in jobs:
            props = jobs[job].properties
            derivation.code = {k: props[k] for k in CODE_PROPERTIES if k in props}
    return list(by_job.values())


def _differences(train: Derivation, serve: Derivation) -> list[str]:
    out = []
    where = f"{train.field.rpartition('/')[2]} vs {serve.field.rpartition('/')[2]}"
    if train.origins != serve.origins:
        out.append(f"computed from {', '.join(map(keys.identity, train.origins)) or 'nothing'}"
                   f" (training) vs {', '.join(map(keys.identity, serve.origins)) or 'nothing'}"
                   f" (serving) [{where}]")
    if train.transformation != serve.transformation:
        out.append(f"transformation: {train.transformation} (training) vs "
                   f"{serve.transformation} (serving) [{where}]")
    for key in sorted(set(train.properties) | set(serve.properties)):
        a, b = train.properties.get(key), serve.properties.get(key)
        if a != b:
            out.append(f"{key}: {a if a is not None else '(none)'} (training) vs "
                       f"{b if b is not None else '(none)'} (serving) [{where}]")
    for key in sorted(set(train.code) | set(serve.code)):
        a, b = train.code.get(key), serve.code.get(key)
        if a != b:
            out.append(f"job {key}: {a} (training) vs {b} (serving) [{where}]")
    return out


def _distribution(store: Store, item: InputSkew, versions: list[str],
                  policy: DriftPolicy) -> None:
    """PSI/KS between what training saw and what serving sends, when both are profiled."""
    train_source, serve_source = item.training[0], item.serving[0]
    train_name = train_source.field.rsplit(".", 1)[1]
    serve_name = serve_source.field.rsplit(".", 1)[1]
    training = _profile_with(store, [v for v in versions
                                     if _dataset_of_version(v) == train_source.dataset],
                             train_name)
    serving = _latest_profile(store, serve_source.dataset, serve_name)
    if training is None or serving is None:
        item.note = ("no stored profile of " + " and ".join(
            n for n, p in (("the training version", training), ("the serving data", serving))
            if p is None) + ": derivations compared, distributions not")
        return
    (train_key, train_profile), (serve_key, serve_profile) = training, serving
    item.profiles = [train_key, serve_key]
    item.distribution = compare_field(train_name, train_profile.fields[train_name],
                                      serve_profile.fields[serve_name], policy)


def _profile_with(store: Store, versions: list[str], name: str
                  ) -> tuple[str, Profile] | None:
    nodes = store.nodes(versions)
    for key in sorted(nodes):
        data = nodes[key].properties.get("profile")
        if data is not None and name in data.get("fields", {}):
            return key, Profile.from_dict(data, key)
    return None


def _latest_profile(store: Store, dataset: str, name: str) -> tuple[str, Profile] | None:
    """The newest stored profile holding field `name` of any version of `dataset`, on the
    version or on a run that read or wrote it (a serving job's batch)."""
    versions = [ref.key for edge, ref in store.neighbours(dataset)
                if edge.kind is EdgeKind.VERSION_OF and edge.dst == dataset]
    runs: set[str] = set()
    for version in versions:
        runs |= {ref.key for edge, ref in store.neighbours(version)
                 if ref.kind is NodeKind.RUN and edge.kind in (EdgeKind.READ, EdgeKind.WROTE)}
    nodes = store.nodes([*versions, *runs])
    found: list[tuple[str, str, Profile]] = []
    for key, node in nodes.items():
        candidates = [(key, node.properties.get("profile"))] if key in versions else [
            (key, p) for v, p in (node.properties.get("profiles") or {}).items()
            if v in versions]
        for where, data in candidates:
            if data is not None and name in data.get("fields", {}):
                profile = Profile.from_dict(data, None if where in runs else where)
                found.append((str(data.get("created_at") or ""), where, profile))
    if not found:
        return None
    _when, where, profile = max(found, key=lambda x: (x[0], x[1]))
    return where, profile
