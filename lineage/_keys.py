"""Stable node keys: one string per node, ``<kind>:<identity>``.

Datasets and jobs are named as OpenLineage names them (namespace + name); a field is its
dataset's identity plus ``.field``; versions are ``@version``; a run is its job's identity
plus its runId (OpenLineage producers reuse one runId for runs of different jobs, and each
stays its own run), or its bare id when no job is known:

    dataset:postgres://db.prod:5432/public.transactions
    field:postgres://db.prod:5432/public.transactions.category
    dataset_version:postgres://db.prod:5432/public.transactions@2026-01
    job:airflow/features.rolling_spend_7d
    run:airflow/features.rolling_spend_7d/0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f
    feature:avg_amount_7d
    model:fraud            model_version:fraud@3
    consumer:risk-rules-engine      agent:annotator/alice

People may type any suffix that starts at a boundary (``transactions.category``,
``fraud@3``, a run's id alone); see `Store.resolve`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from ._errors import ValidationError
from ._vocabulary import NodeKind

#: characters after which a typed suffix may start
BOUNDARY = frozenset(":/.@#")
#: the longest key, in bytes of UTF-8, on every backend: a PostgreSQL index entry holds
#: at most ~2,700 bytes, so a longer key failed there as a store error and was kept whole
#: by SQLite (10 MB), while names this long name nothing a person or a tool can use
MAX_KEY_BYTES = 2048
_KINDS = {k.value: k for k in NodeKind}


def _need(value: str, what: str) -> str:
    stripped = value.strip() if isinstance(value, str) else ""  # stripped once: ~50 an event
    if not stripped:
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    return stripped


def check_key_length(key: str, what: str = "node key") -> None:
    """ValidationError when `key` is longer than MAX_KEY_BYTES of UTF-8 (the message shows
    its start, not all of it)."""
    # most keys are far shorter: encode only those that could be too long
    if len(key) * 4 > MAX_KEY_BYTES:
        size = len(key.encode("utf-8", "surrogatepass"))
        if size > MAX_KEY_BYTES:
            raise ValidationError(f"{what} '{key[:80]}...' is {size:,} bytes long; keys (kind, "
                                  f"namespace and name together) are at most {MAX_KEY_BYTES:,} "
                                  "bytes of UTF-8: use a shorter name or namespace")


def dataset_key(namespace: str, name: str) -> str:
    return f"{NodeKind.DATASET}:{_need(namespace, 'namespace')}/{_need(name, 'dataset name')}"


def field_key(namespace: str, dataset: str, field: str) -> str:
    ns, ds, f = _need(namespace, "namespace"), _need(dataset, "dataset name"), _need(field, "field")
    return f"{NodeKind.FIELD}:{ns}/{ds}.{f}"


def fields_prefix(dataset: str) -> str:
    """What the key of every field of `dataset` (a dataset key) starts with: the field's
    key is this plus its name as given (a name may hold dots, so cut it off by this prefix,
    never at a dot)."""
    return f"{NodeKind.FIELD}:{identity(dataset)}."


def dataset_version_key(namespace: str, name: str, version: str) -> str:
    ns, ds = _need(namespace, "namespace"), _need(name, "dataset name")
    return f"{NodeKind.DATASET_VERSION}:{ns}/{ds}@{_need(str(version), 'version')}"


def job_key(namespace: str, name: str) -> str:
    return f"{NodeKind.JOB}:{_need(namespace, 'namespace')}/{_need(name, 'job name')}"


def run_key(run_id: str, job: str | None = None) -> str:
    """The key of run `run_id` of `job` (a job key, ``job:{ns}/{name}``): ``run:{ns}/{name}/
    {run_id}``, so that two jobs' runs reported under one runId are two runs whatever order
    they arrive in, and the runId alone (a suffix) still names the run when only one job has
    it. Without a job (a run known only by its id): ``run:{run_id}``."""
    rid = _need(run_id, "run id")
    if job is None:
        return f"{NodeKind.RUN}:{rid}"
    if "/" in rid:  # the id must stay the key's last segment, or the job could not be read off
        raise ValidationError(f"a run id cannot contain '/', got {run_id!r}")
    return f"{NodeKind.RUN}:{identity(_need(job, 'job key'))}/{rid}"


def run_parts(key: str) -> tuple[str | None, str]:
    """A run key's job key (None for a run known only by its id) and run id: the inverse of
    `run_key`."""
    ident = identity(key)
    head, sep, rid = ident.rpartition("/")
    return (f"{NodeKind.JOB}:{head}" if sep else None), rid


def feature_key(name: str) -> str:
    return f"{NodeKind.FEATURE}:{_need(name, 'feature name')}"


def model_key(name: str) -> str:
    return f"{NodeKind.MODEL}:{_need(name, 'model name')}"


def model_version_key(name: str, version: str) -> str:
    return f"{NodeKind.MODEL_VERSION}:{_need(name, 'model name')}@{_need(str(version), 'version')}"


def consumer_key(name: str) -> str:
    return f"{NodeKind.CONSUMER}:{_need(name, 'consumer name')}"


def agent_key(name: str) -> str:
    return f"{NodeKind.AGENT}:{_need(name, 'agent name')}"


def kind_of(key: str) -> NodeKind:
    """The node kind a key names; ValidationError if it has no known kind prefix."""
    prefix, sep, _ = key.partition(":")
    if not sep:
        raise ValidationError(f"'{key}' is not a node key (expected '<kind>:<identity>')")
    found = _KINDS.get(prefix)  # a dict lookup: NodeKind(prefix) costs ~1 us a call
    if found is not None:
        return found
    try:
        return NodeKind(prefix)
    except ValueError:
        kinds = ", ".join(k.value for k in NodeKind)
        raise ValidationError(f"'{key}' has unknown kind '{prefix}'; kinds are: {kinds}") from None


def is_key(text: str) -> bool:
    """True when `text` starts with a known kind prefix (so it is meant as a full key)."""
    prefix, sep, _ = text.partition(":")
    return bool(sep) and prefix in NodeKind._value2member_map_


def matches_suffix(key: str, suffix: str) -> bool:
    """True when `suffix` ends `key` and starts at a boundary of it."""
    if not key.endswith(suffix) or not suffix:
        return False
    if len(key) == len(suffix):
        return True
    return key[len(key) - len(suffix) - 1] in BOUNDARY or suffix[0] in BOUNDARY


def tail(key: str) -> str:
    """The key's last two segments: from just after its second-to-last boundary character
    (the whole key when it has fewer than two). ``field:…/public.transactions.category``
    gives ``transactions.category``, ``model_version:fraud@3`` gives ``fraud@3``.

    Whatever suffix `matches_suffix` accepts for a key, the key's tail ends with the
    suffix's own tail, so an index on the reversed tails narrows a suffix lookup to a
    prefix scan without storing every key twice (the store keeps it as `node.rtail`).
    `TAIL_PATTERN` computes the same in a regular expression, for columnar code.
    """
    cut = -1
    seen = 0
    for i in range(len(key) - 1, -1, -1):
        if key[i] in BOUNDARY:
            seen += 1
            if seen == 2:
                cut = i
                break
    return key[cut + 1:]


#: `tail` as a regular expression (no match: the key has no boundary, and is its own tail)
TAIL_PATTERN = r"[^:/.@#]*[:/.@#][^:/.@#]*$"


def suggest(name: str, keys: Iterable[str], n: int = 3) -> list[str]:
    """The keys closest to a name that matched nothing, best first.

    Each key is compared by its last as-many-components as `name` has, so
    `order_facts.nope` is compared with `order_facts.status`, not a whole long key.
    """
    parts = len(re.split(r"[./@]", name))
    tails: dict[str, str] = {}
    for key in keys:
        pieces = re.split(r"([./@])", identity(key))
        tail = "".join(pieces[max(0, len(pieces) - (2 * parts - 1)):])
        tails.setdefault(tail, key)
    close = difflib.get_close_matches(name, list(tails), n=n, cutoff=0.5)
    return [tails[c] for c in close]


def identity(key: str) -> str:
    """The key without its kind prefix."""
    return key.partition(":")[2]
