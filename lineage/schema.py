"""Schema changes: diffing two schemas, parsing proposed changes, and type compatibility.

    diff(store.schema("transactions@2026-01"), store.schema("transactions@2026-02"))
    parse_change("type:string")     # what `lineage impact FIELD --change ...` accepts

A change is classified by itself here (`Change.compatibility`); what it means for each
dependent downstream is `lineage.impact.change_impact`'s job.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ValidationError

if TYPE_CHECKING:
    from .store.base import Store
from ._files import read_text
from ._model import FieldSchema
from ._types import ParsedType, _split_top_level, normalize_type, parse_type

ChangeKind = Literal[
    "added", "dropped", "renamed", "type_changed", "nullable", "not_null",
    "values_added", "values_removed",
]
Compatibility = Literal["compatible", "breaking", "unknown"]
TypeRelation = Literal["same", "widening", "narrowing", "incompatible"]

_SIGNED = ["int8", "int16", "int32", "int64"]
_UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]
_FLOATS = ["float32", "float64"]
NUMERIC = frozenset(_SIGNED + _UNSIGNED + _FLOATS)


def is_numeric(type_: str) -> bool:
    return type_ in NUMERIC or type_.startswith("decimal(")


def _bits(type_: str) -> int:
    return int(re.sub(r"\D", "", type_))


def _decimal(type_: str) -> tuple[int, int] | None:
    m = re.match(r"^decimal\((\d+),(\d+)\)$", type_)
    return (int(m.group(1)), int(m.group(2))) if m else None


#: decimal digits of each integer type's largest value
_DIGITS = {"int8": 3, "int16": 5, "int32": 10, "int64": 19,
           "uint8": 3, "uint16": 5, "uint32": 10, "uint64": 20}
_ORDER: tuple[TypeRelation, ...] = ("same", "widening", "narrowing", "incompatible")
_CONTAINER = re.compile(r"^(array|map|struct)<(.*)>$")


def _container_relation(old: str, new: str) -> TypeRelation | None:
    """Containers of one kind compare element by element (the worst member wins). Struct
    members compare by name, as readers of a struct read them: a member gained is a
    widening (every old value fits, the new member absent), a member lost is incompatible
    (what read it finds nothing; a value with it does not fit a struct without it), the
    same members in another order a widening (by name nothing moved, but the type is not
    the same). None when either is not a container."""
    a, b = _CONTAINER.match(old), _CONTAINER.match(new)
    if not a or not b:
        return None
    if a.group(1) != b.group(1):
        return "incompatible"
    old_parts, new_parts = _split_top_level(a.group(2)), _split_top_level(b.group(2))
    if a.group(1) == "struct":
        before = dict(p.partition(":")[::2] for p in old_parts)
        after = dict(p.partition(":")[::2] for p in new_parts)
        if any(name not in after for name in before):
            return "incompatible"
        relations: list[TypeRelation] = [type_relation(t, after[n]) for n, t in before.items()]
        if len(after) > len(before) or [n for n in after if n in before] != list(before):
            relations.append("widening")  # a member gained, or the members reordered
        return max(relations or ["same"], key=_ORDER.index)
    if len(old_parts) != len(new_parts):
        return "incompatible"
    relations = [type_relation(x, y) for x, y in zip(old_parts, new_parts, strict=True)]
    return max(relations, key=_ORDER.index)


_TIMES = frozenset({"time", "timestamp", "timestamp_tz"})


def _length_relation(old: ParsedType, new: ParsedType) -> TypeRelation:
    """String to string by length (None: unbounded): a shorter one does not hold every old
    value (they are cut or refused). At one length, char(n) -> varchar(n) keeps every value
    and varchar(n) -> char(n) pads them with blanks."""
    most_old = old.length if old.length is not None else float("inf")
    most_new = new.length if new.length is not None else float("inf")
    if most_new != most_old:
        return "widening" if most_new > most_old else "narrowing"
    if old.fixed == new.fixed:
        return "same"
    return "widening" if old.fixed else "narrowing"


def type_relation(old: str, new: str) -> TypeRelation:
    """How a value of type `old` fares as type `new`: the same, widening (every old value
    fits), narrowing (some may not), or incompatible (a different kind of value)."""
    old, new = normalize_type(old), normalize_type(new)
    if old == new:
        return "same"
    parsed_old, parsed_new = parse_type(old), parse_type(new)
    if parsed_old.base == parsed_new.base == "string":
        return _length_relation(parsed_old, parsed_new)
    if parsed_old.base == parsed_new.base and parsed_old.base in _TIMES:
        # fewer fractional-second digits round or cut what was stored (timestamp(6) ->
        # timestamp(3) loses the microseconds)
        more = parsed_new.time_precision - parsed_old.time_precision
        return "same" if more == 0 else "widening" if more > 0 else "narrowing"
    if old in _SIGNED and new in _SIGNED or old in _UNSIGNED and new in _UNSIGNED \
            or old in _FLOATS and new in _FLOATS:
        return "widening" if _bits(new) > _bits(old) else "narrowing"
    if old in _UNSIGNED and new in _SIGNED:
        return "widening" if _bits(new) > _bits(old) else "narrowing"
    if old in _SIGNED and new in _UNSIGNED:
        return "narrowing"
    if (old in _SIGNED or old in _UNSIGNED) and new in _FLOATS:
        # float64 holds every integer up to 2^53 exactly, float32 up to 2^24
        return "widening" if _bits(old) < (53 if new == "float64" else 24) else "narrowing"
    if old in _FLOATS and (new in _SIGNED or new in _UNSIGNED):
        return "narrowing"
    if (inner := _container_relation(old, new)) is not None:
        return inner
    old_dec, new_dec = _decimal(old), _decimal(new)
    if new_dec and (old in _SIGNED or old in _UNSIGNED):
        # decimal(p,s) holds every integer of p-s digits
        return "widening" if new_dec[0] - new_dec[1] >= _DIGITS[old] else "narrowing"
    if old_dec and new in _SIGNED:
        fits = old_dec[1] == 0 and old_dec[0] < _DIGITS[new]
        return "widening" if fits else "narrowing"
    if old_dec and new_dec:
        fits = new_dec[0] - new_dec[1] >= old_dec[0] - old_dec[1] and new_dec[1] >= old_dec[1]
        return "widening" if fits else "narrowing"
    if (old_dec and new in _FLOATS) or (new_dec and (old in _FLOATS or old in _SIGNED)):
        return "narrowing"
    if old == "date" and parsed_new.base in ("timestamp", "timestamp_tz"):
        return "widening"
    if parsed_old.base in ("timestamp", "timestamp_tz") and new == "date":
        return "narrowing"
    return "incompatible"


@dataclass(frozen=True)
class Change:
    """One change to one field. `field` is the field's (old) name."""

    kind: ChangeKind
    field: str
    new_name: str | None = None  # renamed
    old_type: str | None = None
    new_type: str | None = None
    values: tuple[Any, ...] = ()  # values added or removed
    declared: bool = True  # False for a rename suggested from a drop + an add

    @property
    def relation(self) -> TypeRelation | None:
        if self.kind != "type_changed" or not self.new_type:
            return None
        if not self.old_type:
            return "incompatible" if self.new_type else None
        return type_relation(self.old_type, self.new_type)

    @property
    def compatibility(self) -> Compatibility:
        """For readers of this field, taken alone (dependents may judge differently)."""
        if self.kind in ("added", "not_null", "values_removed"):
            return "compatible"
        if self.kind == "type_changed":
            return "compatible" if self.relation in ("same", "widening") else "breaking"
        if self.kind in ("nullable", "values_added"):
            return "unknown"
        return "breaking"  # dropped, renamed

    def describe(self) -> str:
        if self.kind == "renamed":
            how = "renamed" if self.declared else "probably renamed (a drop and a matching add)"
            return f"'{self.field}' {how} to '{self.new_name}'"
        if self.kind == "type_changed":
            if not self.old_type:
                return (f"'{self.field}' type (not recorded) -> {self.new_type} (cannot tell "
                        "whether it widens: judged incompatible)")
            return (f"'{self.field}' type {self.old_type} -> {self.new_type} "
                    f"({self.relation})")
        if self.kind in ("values_added", "values_removed"):
            verb = "gains" if self.kind == "values_added" else "loses"
            return f"'{self.field}' {verb} allowed values {', '.join(map(str, self.values))}"
        words = {"added": "added", "dropped": "dropped", "nullable": "becomes nullable",
                 "not_null": "becomes required (not null)"}
        return f"'{self.field}' {words[self.kind]}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "new_name": self.new_name,
                "old_type": self.old_type, "new_type": self.new_type,
                "values": list(self.values), "declared": self.declared,
                "relation": self.relation, "compatibility": self.compatibility,
                "description": self.describe()}


# ------------------------------------------------------------------ diff


def diff(old: Sequence[FieldSchema], new: Sequence[FieldSchema],
         renames: dict[str, str] | None = None) -> list[Change]:
    """Every change from `old` to `new`. `renames` ({old: new}) declares renames; a drop
    and an add of the same type and a similar name are reported as a suggested rename."""
    renames = dict(renames or {})
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    for src, dst in renames.items():
        if src not in before:
            raise ValidationError(f"rename of '{src}': no such field in the old schema")
        if dst not in after:
            raise ValidationError(f"rename to '{dst}': no such field in the new schema")
    changes: list[Change] = []
    dropped = [n for n in before if n not in after and n not in renames]
    added = [n for n in after if n not in before and n not in renames.values()]
    for name in list(dropped):  # suggest renames: same type, close name
        same_type = [a for a in added if after[a].type == before[name].type]
        close = difflib.get_close_matches(name, same_type, n=1, cutoff=0.5)
        if close:
            renames[name] = close[0]
            dropped.remove(name)
            added.remove(close[0])
            changes.append(Change("renamed", name, new_name=close[0], declared=False))
    for name in dropped:
        changes.append(Change("dropped", name, old_type=before[name].type))
    for src, dst in renames.items():
        if not any(c.kind == "renamed" and c.field == src for c in changes):
            changes.append(Change("renamed", src, new_name=dst))
    for name in added:
        changes.append(Change("added", name, new_type=after[name].type))
    pairs = [(n, n) for n in before if n in after] + list(renames.items())
    for src, dst in pairs:
        changes += _field_changes(before[src], after[dst])
    return changes


def _field_changes(a: FieldSchema, b: FieldSchema) -> list[Change]:
    out: list[Change] = []
    if a.type != b.type:
        out.append(Change("type_changed", a.name, old_type=a.type, new_type=b.type))
    if a.nullable != b.nullable:
        out.append(Change("nullable" if b.nullable else "not_null", a.name))
    if a.allowed_values != b.allowed_values:
        if b.allowed_values is None:  # the constraint was lifted: any value may come
            out.append(Change("values_added", a.name, values=("<any>",)))
        elif a.allowed_values is None:  # a constraint was imposed on a free field
            out.append(Change("values_removed", a.name, values=("<any other>",)))
        else:
            gained = tuple(v for v in b.allowed_values if v not in a.allowed_values)
            lost = tuple(v for v in a.allowed_values if v not in b.allowed_values)
            if gained:
                out.append(Change("values_added", a.name, values=gained))
            if lost:
                out.append(Change("values_removed", a.name, values=lost))
    return out


# ------------------------------------------------------------------ proposed changes


def parse_change(spec: str, field_name: str, current: FieldSchema | None = None) -> Change:
    """A proposed change to one field, as the CLI and the HTTP API spell it:

    ``type:string``  ``drop``  ``rename:NEW``  ``nullable``  ``not_null``
    ``values:-X,+Y`` (remove X, add Y; unsigned entries are added)
    """
    text = (spec or "").strip()
    kind, _, arg = text.partition(":")
    kind = kind.strip().lower().replace("-", "_")
    old_type = current.type if current else None
    if kind == "type":
        if not arg.strip():
            raise ValidationError("type change needs the new type: type:string")
        return Change("type_changed", field_name, old_type=old_type,
                      new_type=normalize_type(arg))
    if kind == "drop" and not arg:
        return Change("dropped", field_name, old_type=old_type)
    if kind == "rename":
        if not arg.strip():
            raise ValidationError("rename needs the new name: rename:NEW")
        return Change("renamed", field_name, new_name=arg.strip())
    if kind in ("nullable", "null") and not arg:
        return Change("nullable", field_name)
    if kind in ("not_null", "required") and not arg:
        return Change("not_null", field_name)
    if kind == "values":
        entries = [e.strip() for e in arg.split(",") if e.strip()]
        if not entries:
            raise ValidationError("values change needs entries: values:-X,+Y")
        removed = tuple(e[1:] for e in entries if e.startswith("-"))
        added = tuple(e.lstrip("+") for e in entries if not e.startswith("-"))
        if removed and added:
            raise ValidationError("give added and removed values as two --change options")
        return (Change("values_removed", field_name, values=removed) if removed
                else Change("values_added", field_name, values=added))
    raise ValidationError(f"unknown change '{spec}'; use type:TYPE, drop, rename:NEW, "
                          "nullable, not_null or values:-X,+Y")


# ------------------------------------------------------------------ schema files


def load_schema(path: str | Path) -> list[FieldSchema]:
    """A proposed schema from YAML or JSON: a list of fields, a mapping with `fields`, or
    an OpenLineage SchemaDatasetFacet (`{"fields": [{"name", "type", ...}]}`, possibly
    under `facets.schema`)."""
    import yaml  # only a schema file pays for it

    file = str(path)
    text = read_text(path)
    try:
        data = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"malformed schema file: {exc}", file=file) from None
    if isinstance(data, dict) and "facets" in data:
        data = (data.get("facets") or {}).get("schema", data)
    if isinstance(data, dict):
        data = data.get("fields")
    if not isinstance(data, list) or not data:
        raise ValidationError("a schema is a non-empty list of fields (or {fields: [...]})",
                              file=file)
    fields = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "name" not in item or "type" not in item:
            raise ValidationError("each field needs a name and a type", file=file,
                                  key=f"fields[{i}]")
        try:
            fields.append(FieldSchema(
                name=str(item["name"]), type=str(item["type"]),
                nullable=bool(item.get("nullable", not item.get("required", False))),
                description=item.get("description"),
                allowed_values=item.get("allowed_values") or item.get("validValues")))
        except Exception as exc:  # pydantic's error text names the problem
            raise ValidationError(str(exc).splitlines()[-1].strip(), file=file,
                                  key=f"fields[{i}]") from None
    names = [f.name for f in fields]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise ValidationError(f"field '{dup[0]}' appears twice", file=file)
    return fields


#: verdicts in rising severity, as a CI gate compares them (`fails_at`)
SEVERITY = {"compatible": 0, "unknown": 1, "breaking": 2}
#: the levels a gate may be set at (`--fail-on`, the API's `fail_on`)
GATE_LEVELS = ("breaking", "unknown")


def fails_at(verdicts: Iterable[str], level: str) -> bool:
    """Whether any of `verdicts` is at or above `level` (`breaking`, or `unknown`: unknown
    or breaking): the CI gate of `lineage impact --change` and `lineage schema diff`.
    ValidationError for another level."""
    if level not in GATE_LEVELS:
        raise ValidationError(f"a gate's level is one of {', '.join(GATE_LEVELS)}, got "
                              f"{level!r}")
    return any(SEVERITY[v] >= SEVERITY[level] for v in verdicts)


@dataclass
class SchemaDiff:
    """The changes between two schemas, as reported by `lineage schema diff`."""

    old: str
    new: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.compatibility == "breaking"]

    def fails(self, level: str) -> bool:
        """Whether a change's verdict is at or above `level` (see `fails_at`)."""
        return fails_at((c.compatibility for c in self.changes), level)

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new,
                "changes": [c.to_dict() for c in self.changes],
                "breaking": len(self.breaking)}


# ------------------------------------------------------------------ shared by the CLI and API


def parse_renames(items: Iterable[str], key: str | None = None) -> dict[str, str]:
    """Declared renames as the CLI (`--rename OLD=NEW`) and the API (`rename=OLD=NEW`) spell
    them: old name -> new name. ValidationError (at `key`) for an item that is not OLD=NEW."""
    declared: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ValidationError(f"rename '{item}' is not OLD=NEW", key=key)
        declared[src.strip()] = dst.strip()
    return declared


def version_schema(store: Store, name: str) -> tuple[str, list[FieldSchema]]:
    """A dataset version (a key or an unambiguous suffix) and its schema snapshot."""
    from ._vocabulary import NodeKind

    ref = store.resolve(name, [NodeKind.DATASET_VERSION])
    return ref.key, store.schema(ref.key)
