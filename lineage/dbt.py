"""Import a dbt project from its own artifacts: `manifest.json`, `catalog.json` and (when
present) `run_results.json` of a target directory -> one GraphBatch -> one transaction.

What each artifact entry becomes (keys as in `lineage._keys`; edges in data-flow direction):

- seed, source, model, snapshot (not ephemeral models: dbt inlines them): a dataset
  ``dataset:{namespace}/{database}.{schema}.{identifier}`` (namespace: `--namespace`, default
  the adapter type, e.g. ``duckdb``); its catalog columns become fields (``has_field``) with
  the canonical type (the catalog's spelling kept as `source_type`, read in the dialect of
  the manifest's `adapter_type`: INTEGER is int32 in PostgreSQL or DuckDB, int64 in
  BigQuery; `lineage._types.dialect_of`) and a dataset version
  ``@<schema hash>``: the same columns and types give the same version, a changed project a
  new one, whose schema change notifies consumers like any other new version.
- seed, model, snapshot: a job ``job:{job namespace}/{unique_id}`` (default ``dbt``) with
  ``job -wrote-> dataset``, and ``dataset -read-> job`` for each parent in
  `depends_on.nodes` (an ephemeral parent stands for its own parents). Column lineage comes
  from the compiled SQL through sqlglot, with the catalog as schema (so ``select *`` is
  expanded): ``input field -derived_from-> output field`` with `job` and `transformation`
  (identity when every step renames, aggregation when a step aggregates (and `function`,
  e.g. ``sum``, when that step is one aggregate: impact then knows a count survives any type
  change), else transformation; window when the column only partitions or orders a window
  function's rows: ``lag(x) over (partition by k order by t)`` is a transformation of x and
  a window edge from k and t). An unaliased expression's output column has the warehouse's
  name in the catalog (DuckDB: its text) and is matched by position. A model whose SQL
  cannot be read keeps its table lineage and is listed in `column_lineage_unknown`; its job
  says ``column_lineage: unknown`` and why. Nothing stands in for the missing column
  lineage: impact crosses the job's ``read``/``wrote`` edges at dataset level and marks all
  it reaches that way "dataset-level lineage, column unknown" (verdict ``unknown``), as for
  any table-level producer; a dataset-wide ``field -derived_from-> dataset`` edge would read
  as column lineage and hide that mark. Output columns that cannot be traced in an
  otherwise-read model are listed in `columns_unknown` (and the job's `columns_unknown`) and
  get no edge.
- model with ``contract: {enforced: true}``: a consumer ``consumer:dbt-contract/{unique_id}``
  consuming the model's dataset, with a contract of its declared columns (`data_type` ->
  `type`, a `not_null` constraint -> `required`), so a change that breaks the contract is
  breaking in impact and notified.
- exposure: a consumer ``consumer:{name}`` (owner "name <email>", type, url, maturity)
  consuming the datasets it depends on.
- test (generic or singular): never a dataset or a job. Each test is one entry of the
  `quality_checks` list property of the node it tests: the field for a column test (e.g.
  ``not_null``), else the dataset (each dataset a singular test reads). An entry is
  ``{"source": "dbt", "id", "name", "test", "column", "args", "severity", "status",
  "failures", "executed_at", "invocation_id"}`` (status and after: from run_results, None
  when the test did not run). A ``not_null`` test or constraint also makes the field
  non-nullable in the schema snapshot. A unit test (dbt 1.8+) is an entry with test
  ``unit_test`` on its model's dataset.
- run result of a seed, model or snapshot: a run
  ``run:{job namespace}/{unique_id}/{uuid5(invocation_id/unique_id)}`` (`keys.run_key`)
  with ``job -run_of-> run``, inputs ``dataset -read-> run`` and, when it succeeded,
  ``run -wrote-> dataset`` and ``run -wrote-> dataset version``; the invocation is a parent
  run ``run:{job namespace}/{project}/{invocation_id}`` of ``job:{job namespace}/{project}``.
  A run_results.json of a command that runs nothing (``dbt docs generate``, ``compile``,
  ``show``, ...; each node "success") gives no runs and no test results, and
  `run_results_ignored` says why.

Re-importing after a `dbt build` where most models did not change costs in proportion to
what changed: a model's column lineage is read from its SQL again only when an input of that
reading changed since the last import into this store. Its job keeps
``column_lineage_cache``: ``inputs``, a hash of the compiled SQL, the model's own catalog
columns, the catalog columns and types of every relation whose name appears in its SQL (a
superset of the relations it reads: a CTE named like a table counts too), the dialect, the
dataset namespace, sqlglot's version and `COLUMN_LINEAGE_VERSION`; ``output``, a hash of
what that reading gave (status, unknown columns, the ``derived_from`` edges written for the
job) and ``columns_unknown`` (their reasons). When the inputs hash the same and the store
still holds exactly that output, the stored edges are written again as they are, unparsed;
anything else (another SQL, an upstream column's type, a new or renamed column, edges
another writer changed) parses the model. Either way the store ends the same as after a
full re-parse (`cache=False`, `--no-cache`). `models_parsed` and `models_reused` say which.

Stored properties of nodes the import touches are merged, not replaced: the properties the
import writes are replaced, facts other producers (OpenLineage events) put on the same dataset
stay, and so do `quality_checks` entries of another `source`. Re-importing the same artifacts
changes nothing. What a previous import stored and the artifacts no longer say (a column gone
from the catalog, a column or table edge the SQL no longer gives) is kept, as history, and
marked ``retired: true`` with `retired_at` (the catalog's time); it is listed in the result.

Errors: a missing or malformed artifact, or a missing key the import needs, raises
ValidationError naming the file and the key; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _keys as keys
from ._errors import ValidationError
from ._files import read_text
from ._model import ApplyResult, FieldSchema, GraphBatch
from ._types import dialect_of
from ._vocabulary import EdgeKind, NodeKind, Transformation
from .openlineage._fieldtypes import field_type
from .store.base import Store

#: dbt node types that are relations in the warehouse (and so datasets here)
_RELATIONS = ("seed", "model", "snapshot")
#: dbt commands (run_results.json `args.which`) that write run_results.json but run nothing:
#: their results say "success" for each node they only compiled
_NOT_RUNNING = {"generate": "dbt docs generate", "compile": "dbt compile", "show": "dbt show",
                "parse": "dbt parse", "list": "dbt list", "ls": "dbt ls"}
#: the job namespace of dbt's jobs unless told otherwise
DEFAULT_JOB_NAMESPACE = "dbt"
#: the version of the rules that read column lineage from SQL (`column_lineage`, `read_sql`,
#: how sources become edges): part of every model's cached inputs, so bump it with any
#: change that can give a model other edges, and the next import parses every model again
COLUMN_LINEAGE_VERSION = 1
_SOURCE = "dbt"
#: dbt's adapter names that sqlglot calls differently
_DIALECTS = {"databricks": "databricks", "spark": "spark", "sqlserver": "tsql",
             "fabric": "tsql", "synapse": "tsql", "bigquery": "bigquery",
             "postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake",
             "duckdb": "duckdb", "trino": "trino", "athena": "athena", "clickhouse": "clickhouse",
             "mysql": "mysql", "sqlite": "sqlite", "oracle": "oracle", "teradata": "teradata",
             "materialize": "materialize", "risingwave": "risingwave", "doris": "doris",
             "starrocks": "starrocks", "dremio": "dremio", "exasol": "exasol", "hive": "hive"}
#: table functions that generate rows rather than read data: their columns have no source
_GENERATORS = frozenset({"range", "generate_series", "unnest", "explode", "generate_array",
                         "generate_date_array", "generate_timestamp_array", "sequence"})
#: the columns dbt adds to a snapshot's table (dbt's default names; a snapshot's
#: `snapshot_meta_column_names` renames them)
_SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to",
                     "dbt_is_deleted")


@dataclass
class DbtImportResult:
    """What an import did. `column_lineage_unknown` lists the models whose column lineage
    could not be computed (table lineage kept), with why; `columns_unknown` the single
    output columns of otherwise-read models whose sources could not be traced."""

    target: str
    project: str
    apply: ApplyResult
    datasets: int = 0
    fields: int = 0
    jobs: int = 0
    table_edges: int = 0
    column_edges: int = 0
    quality_checks: int = 0
    runs: int = 0
    consumers: int = 0
    contracts: int = 0
    new_versions: list[str] = field(default_factory=list)
    column_lineage_unknown: list[dict[str, str]] = field(default_factory=list)
    columns_unknown: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    failing_checks: list[dict[str, str]] = field(default_factory=list)
    retired_fields: list[str] = field(default_factory=list)
    retired_edges: int = 0
    #: models and snapshots whose column lineage was read from their SQL by this import
    models_parsed: int = 0
    #: those whose inputs were unchanged since the last import: their stored lineage kept
    models_reused: int = 0
    #: why run_results.json was not read (it is from a command that runs nothing), else None
    run_results_ignored: str | None = None

    @property
    def changed(self) -> bool:
        return self.apply.changed

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["apply"] = {**asdict(self.apply), "changed": self.apply.changed}
        data["changed"] = self.changed
        return data


# ------------------------------------------------------------------ reading artifacts


class _Artifact:
    """One parsed JSON artifact, with errors that name the file and the key."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)
        text = read_text(path)
        try:
            self.data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc.msg} (column {exc.colno})",
                                  file=self.file, line=exc.lineno) from None
        if not isinstance(self.data, dict):
            raise ValidationError(f"a dbt artifact is a JSON object, got "
                                  f"{type(self.data).__name__}", file=self.file)

    def error(self, message: str, key: str) -> ValidationError:
        return ValidationError(message, file=self.file, key=key)

    def get(self, obj: Any, name: str, path: str, kind: type | tuple[type, ...],
            required: bool = True) -> Any:
        """`obj[name]`, checked to be a `kind`; a missing optional key gives None."""
        key = f"{path}.{name}" if path else name
        if not isinstance(obj, Mapping) or name not in obj or obj[name] is None:
            if required:
                raise self.error(f"missing key '{name}'; is this a dbt {self._what()}?", key)
            return None
        value = obj[name]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(
                k.__name__ for k in kind)
            raise self.error(f"'{name}' must be {names}, got {type(value).__name__}", key)
        return value

    def _what(self) -> str:
        return Path(self.file).name.removesuffix(".json").replace("_", " ")


@dataclass
class _Relation:
    """A dbt node that is a dataset."""

    unique_id: str
    resource_type: str
    key: str
    name: str
    node: Mapping[str, Any]
    path: str
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, catalog type)
    table: tuple[str, str, str] = ("", "", "")  # (database, schema, identifier) as dbt says


@dataclass
class _ModelLineage:
    """One model's column lineage as the import writes it, and as a later import whose
    inputs are unchanged takes it back from the store."""

    status: str  # complete, partial, unknown (the job's `column_lineage`)
    reason: str | None = None  # why unknown (the job's `column_lineage_reason`)
    #: output columns the SQL reading could not trace (the job's `columns_unknown`)
    unknown_columns: list[str] = field(default_factory=list)
    #: `DbtImportResult.columns_unknown` entries of the model: those, with why, and the
    #: columns whose source is no column of the project
    unknown: list[dict[str, str]] = field(default_factory=list)
    #: (source field, output field) -> the `derived_from` edge's properties
    edges: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def digest(self) -> str:
        """What the import writes for the model, hashed: a stored lineage is reused only
        while the store still holds exactly this."""
        return _digest([self.status, self.reason, self.unknown_columns, self.unknown,
                        [[src, dst, props] for (src, dst), props in sorted(self.edges.items())]])


def schema_digest(fields: Iterable[tuple[str, str, bool]]) -> str:
    """The version of a dataset whose catalog gives these (name, canonical type, nullable)
    columns, in order: the same schema, the same version."""
    return hashlib.sha256(json.dumps([list(f) for f in fields]).encode()).hexdigest()[:12]


def _digest(value: Any) -> str:
    # 128 bits: no collision among the models of any project, and short to read
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _relation_name(*parts: Any) -> str:
    return ".".join(str(p) for p in parts if isinstance(p, str) and p)


# ------------------------------------------------------------------ column lineage


def _dialect(adapter: str | None) -> str | None:
    return _DIALECTS.get((adapter or "").lower())


#: window functions sqlglot counts as aggregates that give each row one other row's value
#: (lag, first_value, ...) or the row's rank: per-row results, not aggregations
_PER_ROW_WINDOW_FUNCTIONS = ("Lag", "Lead", "FirstValue", "LastValue", "NthValue", "Rank",
                             "DenseRank", "Ntile", "PercentRank", "CumeDist")


def _aggregates(expression: Any) -> bool:
    """Whether `expression` aggregates rows: an aggregate function, unless it is a per-row
    window function (``lag(x) over (...)`` is x's value from another row)."""
    from sqlglot import exp

    per_row = tuple(getattr(exp, n) for n in _PER_ROW_WINDOW_FUNCTIONS if hasattr(exp, n))
    for agg in expression.find_all(exp.AggFunc):
        if isinstance(agg, per_row) and isinstance(agg.find_ancestor(exp.Window), exp.Window):
            continue
        return True
    return False


def _step(expression: Any) -> Transformation:
    """What one lineage step does to its column."""
    from sqlglot import exp

    inner = expression.this if isinstance(expression, exp.Alias) else expression
    if isinstance(inner, exp.Column):
        return Transformation.IDENTITY
    if isinstance(inner, exp.Table):  # the leaf: the table the column is read from
        return Transformation.IDENTITY
    if _aggregates(inner):
        return Transformation.AGGREGATION
    return Transformation.TRANSFORMATION


#: sqlglot's aggregate functions (`key`) by the names impact reasons with (count works on any
#: type, min/max keep their input's, sum/avg need numbers: lineage.impact)
_AGGREGATE_NAMES = {"sum": "sum", "count": "count", "avg": "avg", "min": "min", "max": "max",
                    "median": "median", "approxdistinct": "approx_count_distinct",
                    "anyvalue": "any_value", "stddev": "stddev", "variance": "variance",
                    "first": "first", "last": "last"}


def _aggregate_function(expression: Any) -> str | None:
    """The aggregate a select applies when it is exactly one, ``sum(x) [as y]``; None for
    anything more (``sum(x) / count(y)``, ``count(*) > 1``): impact then knows less."""
    from sqlglot import exp

    inner = expression.this if isinstance(expression, exp.Alias) else expression
    if not isinstance(inner, exp.AggFunc) or isinstance(inner.parent, exp.Window):
        return None
    if isinstance(inner, exp.Count) and isinstance(inner.this, exp.Distinct):
        return "count_distinct"
    return _AGGREGATE_NAMES.get(inner.key)


def _only_orders_rows(expression: Any, column: str) -> bool:
    """Whether `column` (a lineage node's name, ``table.column`` or ``column``) appears in
    `expression` only in windows' ``partition by``/``order by``: it orders or groups the
    rows a window function reads (row_number's ranking), none of its values reaches the
    output. Such a source is a `window` edge, not a transformation of its values."""
    from sqlglot import exp

    table, _, name = column.rpartition(".")
    uses = [c for c in expression.find_all(exp.Column)
            if c.name.lower() == name.lower() and (not table or c.table.lower()
                                                    in ("", table.lower()))]
    if not uses:
        return False
    for use in uses:
        window = use.find_ancestor(exp.Window)
        if not isinstance(window, exp.Window):
            return False
        step: Any = use
        while step.parent is not window:
            step = step.parent
        # inside the window's own function (`lag(x)`) the value flows; in its partition_by
        # and order the column only arranges the rows
        if step.arg_key == "this":
            return False
    return True


def _merge(known: Transformation | None, found: Transformation) -> Transformation:
    """One source column reached along two paths: a path carrying its values (identity,
    transformation, aggregation: the strongest) wins over one that only arranges rows."""
    if known is None or known is Transformation.WINDOW:
        return found
    if found is Transformation.WINDOW:
        return known
    return max(known, found, key=Transformation.loss)


def column_lineage(sql: str, schema: Mapping[str, Any], dialect: str | None,
                   columns: Sequence[str], generated: Iterable[str] = (),
                   functions: dict[tuple[str, tuple[str, str, str, str]], str] | None = None
                   ) -> tuple[dict[str, dict[tuple[str, str, str, str], Transformation]],
                              dict[str, str]]:
    """Source columns of each output column of `sql` (a SELECT), read with sqlglot.

    `schema` is ``{database: {schema: {table: {column: type}}}}`` (the catalog) so that
    ``select *`` expands. Returns ({output column: {(database, schema, table, column):
    transformation}}, {output column: why unknown}); `generated` names output columns dbt
    adds itself (not in the SQL, so neither traced nor unknown). `functions`, when given, is
    filled with {(output column, source): aggregate} for the aggregation sources whose one
    aggregating step is a single known aggregate (``sum(x)``, then copied or renamed).
    Raises sqlglot's errors when the statement cannot be parsed or qualified at all."""
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope
    from sqlglot.schema import MappingSchema

    mapping = MappingSchema(dict(schema), dialect=dialect, normalize=True)
    parsed: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
    qualified = qualify(parsed, dialect=dialect, schema=mapping,
                        validate_qualify_columns=False, identify=False)
    scope = build_scope(qualified)
    if scope is None or not isinstance(scope.expression, exp.Query):
        raise ValueError("the compiled SQL is not a query")
    selects = [s.alias_or_name for s in scope.expression.selects]
    outputs = {name.lower(): name for name in selects}
    generated = {g.lower() for g in generated}
    # an unaliased expression (`'completed'`, `case ... end`) gets a name from the warehouse
    # (DuckDB: the expression's text) and another from sqlglot (`_col_5`): when the SQL has
    # exactly the catalog's columns, in order, the catalog's n-th column is the n-th select
    built = [c for c in columns if c.lower() not in generated]
    by_position: dict[str, str] = {}
    if "*" not in outputs and len(built) == len(selects) and all(
            outputs.get(c.lower()) in (None, selects[i]) for i, c in enumerate(built)):
        # only sqlglot's own names (`_col_5`) and literals (DuckDB: `'completed'`, sqlglot:
        # `completed`): a named select the catalog lacks is a stale catalog, not an
        # unaliased expression
        by_position = {c: selects[i] for i, c in enumerate(built)
                       if c.lower() not in outputs and (
                           re.fullmatch(r"_col_\d+", selects[i])
                           or c.strip("'").lower() == selects[i].lower())}
    found: dict[str, dict[tuple[str, str, str, str], Transformation]] = {}
    unknown: dict[str, str] = {}
    for column in columns:
        name = outputs.get(column.lower()) or by_position.get(column)
        if name is None and column.lower() in generated:
            continue  # a column dbt adds itself (a snapshot's validity columns): no source
        if name is None:
            if "*" in outputs:
                unknown[column] = "select * over a table whose columns the catalog lacks"
            else:
                unknown[column] = "not an output column of the compiled SQL"
            continue
        try:
            # trim_selects=False: trimming copies every select for each column, quadratic
            # in the width (300 columns: 183 s with it, under 1 s without); the scope is
            # built once above and only read
            root = lineage(name, qualified, schema=mapping, dialect=dialect, scope=scope,
                           copy=False, trim_selects=False)
        except Exception as exc:  # noqa: BLE001 - sqlglot raises many kinds; say which
            unknown[column] = f"sqlglot: {type(exc).__name__}: {exc}"
            continue
        sources: dict[tuple[str, str, str, str], Transformation] = {}
        untraced: list[str] = []
        # walk each root-to-leaf path, keeping the strongest step on the way
        # each path carries its strongest step and its aggregate: "" before any aggregating
        # step, the aggregate's name after one, None when not one known aggregate
        stack: list[tuple[Any, Transformation, str | None]] = [
            (root, Transformation.IDENTITY, "")]
        aggregates: dict[tuple[str, str, str, str], str | None] = {}
        while stack:
            node, worst, function = stack.pop()
            step = _step(node.expression)
            if step.loss() > worst.loss():
                worst = step
            if step is Transformation.AGGREGATION:
                here = _aggregate_function(node.expression)
                function = here if function == "" or function == here else None
            if node.downstream:
                stack.extend((child, Transformation.WINDOW if _only_orders_rows(
                    node.expression, child.name) else worst, function)
                    for child in node.downstream)
                continue
            source = node.source
            if isinstance(source, exp.Table) and source.name:
                col = node.name.rsplit(".", 1)[-1].strip('"`[]')  # a quoted name's own case
                if col == "*":
                    untraced.append(f"{source.sql(dialect=dialect)}.*")
                    continue
                ident = (source.catalog, source.db, source.name, col)
                sources[ident] = _merge(sources.get(ident), worst)
                if worst is Transformation.AGGREGATION:
                    known = aggregates.get(ident, function)
                    aggregates[ident] = function if known == function else None
            elif isinstance(source, exp.Table) and source.this is not None:
                # a table function: one that reads data (DuckDB's read_csv('x.csv'),
                # read_parquet(...)) gives columns from outside the project, not from no
                # source; a generator (range, generate_series, unnest) has none
                function = source.this.sql(dialect=dialect)
                if function.split("(", 1)[0].strip().lower() not in _GENERATORS:
                    untraced.append(f"{function} (a table function)")
            elif node.expression.find(exp.Column) is not None:
                untraced.append(node.name)  # a column read from no table sqlglot knows
        if untraced and not sources:
            unknown[column] = "sources not traced: " + ", ".join(sorted(set(untraced)))
        found[column] = sources
        if functions is not None:
            functions.update({(column, ident): fn for ident, fn in aggregates.items()
                              if fn and sources.get(ident) is Transformation.AGGREGATION})
    return found, unknown


# ------------------------------------------------------------------ building the batch


class _Builder:
    def __init__(self, store: Store, manifest: _Artifact, catalog: _Artifact,
                 run_results: _Artifact | None, namespace: str | None,
                 job_namespace: str, cache: bool = True) -> None:
        self.store = store
        self.cache = cache  # reuse the stored column lineage of unchanged models
        self.manifest, self.catalog, self.run_results = manifest, catalog, run_results
        self.batch = GraphBatch()
        self.job_ns = job_namespace
        meta = manifest.get(manifest.data, "metadata", "", dict)
        self.project = manifest.get(meta, "project_name", "metadata", str, required=False) \
            or "dbt"
        self.adapter = manifest.get(meta, "adapter_type", "metadata", str, required=False)
        self.ns = namespace or self.adapter or "dbt"
        #: the system whose spellings the catalog and contracts use (INTEGER is 32 bits in
        #: PostgreSQL and DuckDB, 64 in BigQuery: lineage._types.dialect_of)
        self.dialect = dialect_of(self.adapter or self.ns)
        self.nodes: dict[str, Any] = manifest.get(manifest.data, "nodes", "", dict)
        self.sources: dict[str, Any] = manifest.get(manifest.data, "sources", "", dict)
        self.exposures: dict[str, Any] = manifest.get(manifest.data, "exposures", "", dict,
                                                      required=False) or {}
        self.relations: dict[str, _Relation] = {}
        self.by_table: dict[tuple[str, str, str], str] = {}
        self.checks: dict[str, list[dict[str, Any]]] = {}  # node key -> quality checks
        self.not_null: set[str] = set()  # field keys
        self.result = DbtImportResult(target="", project=self.project, apply=ApplyResult())
        self.results: dict[str, tuple[Mapping[str, Any], str]] = {}  # unique_id -> result
        self.versions: dict[str, str] = {}  # dataset key -> its current version's key
        # unique_id -> {(output column, source column): the aggregate between them}
        self.functions: dict[str, dict[tuple[str, tuple[str, str, str, str]], str]] = {}

    # -- relations and their catalog columns

    def read_relations(self) -> None:
        m = self.manifest
        cat_nodes = self.catalog.get(self.catalog.data, "nodes", "", dict)
        cat_sources = self.catalog.get(self.catalog.data, "sources", "", dict)
        entries = [(uid, n, f"nodes.{uid}", cat_nodes) for uid, n in self.nodes.items()]
        entries += [(uid, n, f"sources.{uid}", cat_sources) for uid, n in self.sources.items()]
        for uid, node, path, cat in entries:
            rtype = m.get(node, "resource_type", path, str)
            if rtype not in (*_RELATIONS, "source"):
                continue
            config = _map(node.get("config"))
            if rtype == "model" and config.get("materialized") == "ephemeral":
                continue
            if config.get("enabled") is False:
                continue
            database = node.get("database")
            schema = m.get(node, "schema", path, str)
            ident = (m.get(node, "identifier", path, str) if rtype == "source"
                     else node.get("alias") or m.get(node, "name", path, str))
            name = _relation_name(database, schema, ident)
            rel = _Relation(uid, rtype, keys.dataset_key(self.ns, name), name, node, path,
                            table=(str(database or ""), schema, ident))
            entry = cat.get(uid)
            if isinstance(entry, Mapping):
                cpath = f"{'sources' if rtype == 'source' else 'nodes'}.{uid}"
                cols = self.catalog.get(entry, "columns", cpath, dict)
                ordered = sorted(cols.items(), key=lambda kv: (
                    kv[1].get("index", 0) if isinstance(kv[1], Mapping) else 0, kv[0]))
                for cname, col in ordered:
                    ctype = self.catalog.get(col, "type", f"{cpath}.columns.{cname}", str)
                    rel.columns.append((str(col.get("name") or cname), ctype))
            self.relations[uid] = rel
            self.by_table[(str(database or "").lower(), schema.lower(), ident.lower())] = uid

    def datasets(self) -> None:
        for rel in self.relations.values():
            if rel.key in self.batch.nodes:
                # a seed loaded into the very table a source declares (jaffle-shop's `raw`):
                # one dataset, described by the first of them, and by the other where not
                props = self.batch.nodes[rel.key].properties
                props["also_dbt_unique_ids"] = [*props.get("also_dbt_unique_ids", []),
                                                rel.unique_id]
                if not props.get("description") and rel.node.get("description"):
                    props["description"] = rel.node["description"]
                continue
            node = rel.node
            config = _map(node.get("config"))
            described = _map(node.get("columns"))
            self.batch.add_node(
                rel.key, rel.name, self.ns,
                description=node.get("description") or None,
                dbt_unique_id=rel.unique_id, dbt_resource_type=rel.resource_type,
                materialized=config.get("materialized"),
                owner=_owner(node), tags=sorted(node.get("tags") or []) or None,
                contract_enforced=bool(_contract(node)) or None,
                columns_known=bool(rel.columns),
                source_name=node.get("source_name") if rel.resource_type == "source" else None)
            self.result.datasets += 1
            for cname, ctype in rel.columns:
                fkey = keys.field_key(self.ns, rel.name, cname)
                info = _lookup(described, cname) or {}
                self.batch.add_node(fkey, f"{rel.name}.{cname}", self.ns,
                                    type=field_type(ctype, dialect=self.dialect),
                                    source_type=ctype,
                                    description=info.get("description") or None)
                self.batch.add_edge(rel.key, fkey, EdgeKind.HAS_FIELD)
                self.result.fields += 1
                for constraint in info.get("constraints") or []:
                    if isinstance(constraint, Mapping) and constraint.get("type") == "not_null":
                        self.not_null.add(fkey)

    # -- jobs, table and column lineage

    def parents(self, uid: str, seen: set[str] | None = None) -> list[str]:
        """The dataset parents of a node; an ephemeral model stands for its own parents."""
        seen = seen if seen is not None else set()
        node = self.nodes.get(uid) or {}
        found: list[str] = []
        deps = _map(node.get("depends_on"))
        for parent in deps.get("nodes") or []:
            if parent in seen:
                continue
            seen.add(parent)
            if parent in self.relations:
                found.append(parent)
            elif parent in self.nodes:  # an ephemeral model (or a disabled one)
                found += self.parents(parent, seen)
        return found

    def jobs(self, schema: Mapping[str, Any]) -> None:
        dialect = _dialect(self.adapter)
        models = {uid: rel for uid, rel in self.relations.items()
                  if rel.resource_type not in ("source", "seed")}
        inputs = self.lineage_inputs(models, dialect)
        reusable = self.stored_lineage(inputs) if self.cache else {}
        for uid, rel in self.relations.items():
            if rel.resource_type == "source":
                continue
            node = rel.node
            jkey = keys.job_key(self.job_ns, uid)
            sql = _compiled_sql(node)
            lineage: _ModelLineage | None = None  # a seed has no SQL: no column lineage
            cache: dict[str, Any] | None = None
            if uid in models:
                lineage = reusable.get(uid)
                if lineage is None:
                    lineage = self.model_lineage(rel, jkey, sql, schema, dialect)
                    self.result.models_parsed += 1
                else:
                    self.result.models_reused += 1
                cache = {"inputs": inputs[uid], "output": lineage.digest()}
                if lineage.unknown:
                    cache["columns_unknown"] = lineage.unknown
            self.batch.add_node(
                jkey, uid, self.job_ns,
                dbt_resource_type=rel.resource_type, sql=sql,
                file=node.get("original_file_path"), language=node.get("language"),
                description=node.get("description") or None, owner=_owner(node),
                column_lineage=lineage.status if lineage else "not applicable",
                column_lineage_reason=lineage.reason if lineage else None,
                columns_unknown=(lineage.unknown_columns or None) if lineage else None,
                column_lineage_cache=cache)
            self.result.jobs += 1
            self.batch.add_edge(jkey, rel.key, EdgeKind.WROTE)
            self.result.table_edges += 1
            for parent in self.parents(uid):
                self.batch.add_edge(self.relations[parent].key, jkey, EdgeKind.READ)
                self.result.table_edges += 1
            if lineage is None:
                continue
            if lineage.status == "unknown":
                # no edge from the parents' fields: impact's dataset-level fallback crosses
                # the read/wrote edges above and marks what it reaches column unknown
                self.result.column_lineage_unknown.append(
                    {"model": uid, "dataset": rel.key, "reason": lineage.reason or ""})
            if lineage.unknown:
                self.result.columns_unknown[uid] = [dict(u) for u in lineage.unknown]
            for (origin, target), props in lineage.edges.items():
                self.batch.add_edge(origin, target, EdgeKind.DERIVED_FROM, **props)
            self.result.column_edges += len(lineage.edges)

    def model_lineage(self, rel: _Relation, jkey: str, sql: str | None,
                      schema: Mapping[str, Any], dialect: str | None) -> _ModelLineage:
        """A model's column lineage read from its SQL: the edges into its fields."""
        status, reason, columns, unknown = self.read_sql(rel, sql, schema, dialect)
        lineage = _ModelLineage(status, reason, sorted(unknown), [
            {"column": c, "reason": why} for c, why in sorted(unknown.items())])
        functions = self.functions.get(rel.unique_id, {})
        for out_col, sources in columns.items():
            target = keys.field_key(self.ns, rel.name, out_col)
            for (db, sch, table, col), how in sorted(sources.items()):
                origin = self.source_field(db, sch, table, col)
                if origin is None:
                    lineage.unknown.append(
                        {"column": out_col,
                         "reason": f"reads {_relation_name(db, sch, table)}.{col}, "
                                   "which is no dataset or column of the project"})
                    continue
                if origin == target:
                    continue
                function = functions.get((out_col, (db, sch, table, col)))
                lineage.edges[(origin, target)] = {
                    "job": jkey, "transformation": how.value,
                    **({"function": function} if function else {})}
        return lineage

    def lineage_inputs(self, models: Mapping[str, _Relation],
                       dialect: str | None) -> dict[str, str]:
        """Per model (unique_id), a hash of everything its column lineage is read from: its
        compiled SQL, its own catalog columns, the catalog entries of every relation whose
        identifier is in the SQL, the dialect, the dataset namespace (the edges' keys) and
        the reading rules' versions. Cheap next to reading the SQL: no parse."""
        # a relation can only be read where its identifier is in the SQL text: match the
        # identifiers against the SQL's words, so a model's hash covers a superset of the
        # relations it reads (a CTE or a column named like a table adds one, never misses one)
        by_ident: dict[str, list[int]] = {}
        described: list[str] = []
        for i, rel in enumerate(self.relations.values()):
            described.append(_digest([rel.unique_id, rel.resource_type, *rel.table, rel.name,
                                      rel.columns]))
            by_ident.setdefault(rel.table[2].lower(), []).append(i)
        # an identifier that is not one word (`"Shop Name"`, `my-table`) matches where each
        # of its word runs is a word of the SQL, however it is quoted there
        runs = {ident: _WORD.findall(ident) for ident in by_ident if not _WORD.fullmatch(ident)}
        common = [COLUMN_LINEAGE_VERSION, _sqlglot_version(), dialect, self.ns]
        found: dict[str, str] = {}
        for uid, rel in models.items():
            sql = _compiled_sql(rel.node)
            words = set(_WORD.findall(sql.lower())) if sql else set()
            read = {i for word in words for i in by_ident.get(word, ())}
            read |= {i for ident, parts in runs.items() if all(p in words for p in parts)
                     for i in by_ident[ident]}
            generated = _snapshot_columns(rel.node) if rel.resource_type == "snapshot" else ()
            found[uid] = _digest([common, rel.resource_type, rel.node.get("language"),
                                  rel.name, rel.columns, generated, sql,
                                  [described[i] for i in sorted(read)]])
        return found

    def stored_lineage(self, inputs: Mapping[str, str]) -> dict[str, _ModelLineage]:
        """The column lineage a previous import stored for the models (unique_id) whose
        inputs hash as they do now, when the store still holds exactly what that import
        wrote for them (the output hash on the job); the others are left to parse."""
        jobs = {keys.job_key(self.job_ns, uid): uid for uid in inputs}
        matching: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        for jkey, node in self.store.nodes(jobs).items():
            cache = node.properties.get("column_lineage_cache")
            if isinstance(cache, Mapping) and cache.get("inputs") == inputs[jobs[jkey]]:
                matching[jkey] = (node.properties, cache)
        if not matching:
            return {}  # a first import reads nothing more
        # a model's edges join fields of the project: one read for all of them
        fields = [k for k in self.batch.nodes if keys.kind_of(k) is NodeKind.FIELD]
        edges: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for edge in self.store.edges_among(fields):
            job = edge.properties.get("job")
            if edge.kind is EdgeKind.DERIVED_FROM and job in matching \
                    and not edge.properties.get("retired"):
                edges.setdefault(job, {})[(edge.src, edge.dst)] = dict(edge.properties)
        found: dict[str, _ModelLineage] = {}
        for jkey, (props, cache) in matching.items():
            status = props.get("column_lineage")
            unknown = cache.get("columns_unknown") or []
            lineage = _ModelLineage(
                str(status), props.get("column_lineage_reason"),
                list(props.get("columns_unknown") or []),
                [dict(u) for u in unknown if isinstance(u, Mapping)],
                dict(sorted(edges.get(jkey, {}).items())))
            if isinstance(status, str) and lineage.digest() == cache.get("output"):
                found[jobs[jkey]] = lineage
        return found

    def read_sql(self, rel: _Relation, sql: str | None, schema: Mapping[str, Any],
                 dialect: str | None
                 ) -> tuple[str, str | None,
                            dict[str, dict[tuple[str, str, str, str], Transformation]],
                            dict[str, str]]:
        """(status, reason, sources per column, unknown columns) of one model's SQL."""
        from sqlglot.errors import SqlglotError

        if rel.node.get("language") not in (None, "sql"):
            return "unknown", f"a {rel.node.get('language')} model: no SQL to read", {}, {}
        if not sql:
            return ("unknown", "no compiled SQL in manifest.json (run `dbt compile` or "
                    "`dbt docs generate` before importing)", {}, {})
        if not rel.columns:
            return ("unknown", "the catalog has no columns for it (not built? run `dbt docs "
                    "generate` after building)", {}, {})
        try:
            generated = _snapshot_columns(rel.node) if rel.resource_type == "snapshot" else ()
            functions = self.functions.setdefault(rel.unique_id, {})
            found, unknown = column_lineage(sql, schema, dialect, [c for c, _ in rel.columns],
                                            generated, functions)
        except (SqlglotError, ValueError, RecursionError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return "unknown", f"sqlglot could not read the compiled SQL: {text}", {}, {}
        if unknown and not any(found.get(c) for c in found if c not in unknown):
            # not one column traced (e.g. `select *` over a table the catalog lacks): the
            # model as a whole is unknown, and gets the dataset-wide edges
            reasons = sorted(set(unknown.values()))
            return "unknown", "no column traced: " + "; ".join(reasons), {}, {}
        status = "partial" if unknown else "complete"
        return status, None, found, unknown

    def source_field(self, db: str, sch: str, table: str, col: str) -> str | None:
        uid = (self.by_table.get((db.lower(), sch.lower(), table.lower()))
               or self.by_table.get(("", sch.lower(), table.lower())))
        if uid is None:
            matches = [u for (d, s, t), u in self.by_table.items()
                       if t == table.lower() and (not sch or s == sch.lower())]
            uid = matches[0] if len(matches) == 1 else None
        if uid is None:
            return None
        rel = self.relations[uid]
        name = next((c for c, _ in rel.columns if c.lower() == col.lower()), None)
        return None if name is None else keys.field_key(self.ns, rel.name, name)

    # -- tests, contracts, exposures

    def tests(self) -> None:
        for uid, node in self.nodes.items():
            if node.get("resource_type") != "test":
                continue
            path = f"nodes.{uid}"
            meta = node.get("test_metadata") if isinstance(node.get("test_metadata"),
                                                           Mapping) else None
            config = _map(node.get("config"))
            column = node.get("column_name") if isinstance(node.get("column_name"), str) \
                else None
            test = "singular"
            args: dict[str, Any] = {}
            if meta is not None:
                test = str(meta.get("name") or "generic")
                if meta.get("namespace"):
                    test = f"{meta['namespace']}.{test}"
                args = {k: v for k, v in (meta.get("kwargs") or {}).items()
                        if k not in ("model", "column_name")}
            result, invocation = self.results.get(uid, ({}, None))
            check = {
                "source": _SOURCE, "id": uid,
                "name": self.manifest.get(node, "name", path, str), "test": test,
                "column": column, "args": args or None,
                "severity": str(config.get("severity") or "").lower() or None,
                "status": result.get("status"), "failures": result.get("failures"),
                "executed_at": _completed_at(result), "invocation_id": invocation,
            }
            attached = node.get("attached_node")
            targets = [attached] if isinstance(attached, str) else self.parents(uid)
            for target in targets:
                rel = self.relations.get(target)
                if rel is None:
                    continue
                key = rel.key
                name = column and next((c for c, _ in rel.columns
                                        if c.lower() == column.strip('"`[]').lower()), None)
                if name:
                    key = keys.field_key(self.ns, rel.name, name)
                    if test == "not_null" and not config.get("where"):
                        self.not_null.add(key)
                elif column and not rel.columns:
                    key = rel.key  # no catalog columns: the check stays on the dataset
                self.checks.setdefault(key, []).append(check)
                self.result.quality_checks += 1
                if check["status"] in ("fail", "error", "warn"):
                    self.result.failing_checks.append(
                        {"test": uid, "on": key, "status": str(check["status"])})

    def unit_tests(self) -> None:
        """dbt unit tests (1.8+) check a model's logic on fixed inputs, not its data: a
        `quality_checks` entry on the model's dataset with test ``unit_test``."""
        units = self.manifest.get(self.manifest.data, "unit_tests", "", dict, required=False)
        for uid, unit in (units or {}).items():
            path = f"unit_tests.{uid}"
            name = self.manifest.get(unit, "name", path, str)
            result, invocation = self.results.get(uid, ({}, None))
            for target in _map(unit.get("depends_on")).get("nodes") or []:
                rel = self.relations.get(target)
                if rel is None:
                    continue
                check = {"source": _SOURCE, "id": uid, "name": name, "test": "unit_test",
                         "column": None, "args": None, "severity": None,
                         "status": result.get("status"), "failures": result.get("failures"),
                         "executed_at": _completed_at(result), "invocation_id": invocation}
                self.checks.setdefault(rel.key, []).append(check)
                self.result.quality_checks += 1
                if check["status"] in ("fail", "error", "warn"):
                    self.result.failing_checks.append(
                        {"test": uid, "on": rel.key, "status": str(check["status"])})

    def contracts(self) -> None:
        for uid, rel in self.relations.items():
            node = rel.node
            if rel.resource_type != "model" or not _contract(node):
                continue
            ckey = keys.consumer_key(f"dbt-contract/{uid}")
            self.batch.add_node(ckey, f"dbt-contract/{uid}", None, owner=_owner(node),
                                description=f"the enforced contract of dbt model {uid}",
                                dbt_unique_id=uid, source=_SOURCE)
            fields = []
            declared = _map(node.get("columns"))
            for cname, col in declared.items():
                if not isinstance(col, Mapping):
                    continue
                entry: dict[str, Any] = {"name": col.get("name") or cname}
                if isinstance(col.get("data_type"), str) and col["data_type"]:
                    entry["type"] = field_type(col["data_type"], dialect=self.dialect)
                    entry["physical_type"] = col["data_type"]
                if any(isinstance(c, Mapping) and c.get("type") == "not_null"
                       for c in col.get("constraints") or []):
                    entry["required"] = True
                fields.append(entry)
            self.batch.contracts[ckey] = {rel.key: {"fields": fields}}
            self.batch.add_edge(rel.key, ckey, EdgeKind.CONSUMES)
            self.result.consumers += 1
            self.result.contracts += 1

    def exposure_consumers(self) -> None:
        for uid, exposure in self.exposures.items():
            path = f"exposures.{uid}"
            name = self.manifest.get(exposure, "name", path, str)
            ckey = keys.consumer_key(name)
            owner = _map(exposure.get("owner"))
            who = " ".join(p for p in (owner.get("name"),
                                        owner.get("email") and f"<{owner['email']}>") if p)
            self.batch.add_node(ckey, name, None, owner=who or None,
                                owner_email=owner.get("email"), label=exposure.get("label"),
                                description=exposure.get("description") or None,
                                exposure_type=exposure.get("type"), url=exposure.get("url"),
                                maturity=exposure.get("maturity"), dbt_unique_id=uid,
                                source=_SOURCE)
            self.result.consumers += 1
            deps = _map(exposure.get("depends_on"))
            for parent in deps.get("nodes") or []:
                for rel_id in ([parent] if parent in self.relations else self.parents(parent)):
                    self.batch.add_edge(self.relations[rel_id].key, ckey, EdgeKind.CONSUMES)

    # -- run results

    def read_results(self) -> None:
        rr = self.run_results
        if rr is None:
            return
        meta = rr.get(rr.data, "metadata", "", dict)
        args = rr.data.get("args") if isinstance(rr.data.get("args"), Mapping) else {}
        command = _NOT_RUNNING.get(str(args.get("which")))
        if command is not None:
            # `dbt build && dbt docs generate` leaves docs generate's run_results.json:
            # every node "success" though none ran; read, it would claim runs that wrote
            # the datasets and tests that passed
            self.result.run_results_ignored = (
                f"run_results.json is from `{command}`, which runs no model and no test: no "
                "runs or test results were read from it (keep the run_results.json of "
                "`dbt build`, `run`, `seed`, `snapshot` or `test`: run "
                "`dbt docs generate --no-write-json` after them)")
            self.run_results = None
            return
        invocation = rr.get(meta, "invocation_id", "metadata", str)
        for i, result in enumerate(rr.get(rr.data, "results", "", list)):
            uid = rr.get(result, "unique_id", f"results[{i}]", str)
            rr.get(result, "status", f"results[{i}]", str)
            self.results[uid] = (result, invocation)

    def runs(self) -> None:
        rr = self.run_results
        if rr is None or not self.results:
            return
        meta = rr.data["metadata"]
        invocation = meta["invocation_id"]
        args = rr.data.get("args") if isinstance(rr.data.get("args"), Mapping) else {}
        pjob = keys.job_key(self.job_ns, self.project)
        parent = keys.run_key(invocation, pjob)
        self.batch.add_node(pjob, self.project, self.job_ns, dbt_resource_type="project")
        self.batch.add_node(parent, invocation, self.job_ns, job=pjob,
                            command=args.get("which"), started_at=meta.get(
                                "invocation_started_at"), ended_at=meta.get("generated_at"),
                            dbt_version=meta.get("dbt_version"))
        self.batch.add_edge(pjob, parent, EdgeKind.RUN_OF)
        self.result.runs += 1
        for uid, (result, _) in sorted(self.results.items()):
            rel = self.relations.get(uid)
            if rel is None or rel.resource_type == "source":
                continue  # tests are quality checks, operations are not lineage
            jkey = keys.job_key(self.job_ns, uid)
            run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbt:{invocation}/{uid}"))
            rkey = keys.run_key(run_id, jkey)
            status = str(result.get("status"))
            state = {"success": "COMPLETE", "error": "FAIL", "skipped": "ABORT"}.get(
                status, "OTHER")
            timing = [t for t in result.get("timing") or [] if isinstance(t, Mapping)]
            adapter = result.get("adapter_response")
            self.batch.add_node(
                rkey, run_id, self.job_ns, job=jkey, parent=parent, root=parent,
                state=state, dbt_status=status, message=result.get("message"),
                started_at=timing[0].get("started_at") if timing else None,
                ended_at=_completed_at(result), execution_time=result.get("execution_time"),
                rows_affected=adapter.get("rows_affected") if isinstance(adapter, Mapping)
                else None, invocation_id=invocation)
            self.batch.add_edge(jkey, rkey, EdgeKind.RUN_OF)
            self.batch.add_edge(parent, rkey, EdgeKind.PARENT_OF)
            for p in self.parents(uid):
                self.batch.add_edge(self.relations[p].key, rkey, EdgeKind.READ)
            if state == "COMPLETE":
                self.batch.add_edge(rkey, rel.key, EdgeKind.WROTE)
                version = self.versions.get(rel.key)
                if version is not None:
                    self.batch.add_edge(rkey, version, EdgeKind.WROTE)
            self.result.runs += 1

    # -- versions (after tests: a not_null test makes a field non-nullable)

    def dataset_versions(self) -> None:
        created_at = (self.catalog.data.get("metadata") or {}).get("generated_at")
        pending: dict[str, tuple[str, list[FieldSchema]]] = {}
        for rel in self.relations.values():
            if not rel.columns:
                continue
            schema = []
            for cname, ctype in rel.columns:
                fkey = keys.field_key(self.ns, rel.name, cname)
                schema.append(FieldSchema(name=cname, type=field_type(ctype, dialect=self.dialect),
                                          nullable=fkey not in self.not_null))
            digest = schema_digest((f.name, f.type, f.nullable) for f in schema)
            vkey = keys.dataset_version_key(self.ns, rel.name, digest)
            self.versions[rel.key] = vkey
            pending[vkey] = (rel.key, schema)
        stored = self.store.exists(pending)
        for vkey, (dkey, schema) in pending.items():
            if vkey not in stored:  # a stored version never changes: history is immutable
                version = vkey.rsplit("@", 1)[1]
                name = keys.identity(dkey).split("/", 1)[1] if "/" in keys.identity(dkey) \
                    else keys.identity(dkey)
                self.batch.add_node(vkey, f"{name}@{version}", self.ns, version=version,
                                    created_at=created_at, source=_SOURCE,
                                    description="schema from dbt's catalog.json")
                self.batch.schemas[vkey] = schema
                self.result.new_versions.append(vkey)
            self.batch.add_edge(vkey, dkey, EdgeKind.VERSION_OF)

    def retire_stale(self) -> None:
        """Mark what an earlier import stored and these artifacts no longer say: columns
        gone from the catalog (`retired: true` on the field; the new version's schema lacks
        them) and lineage edges of the project's jobs that the SQL no longer gives. The
        store keeps history and has no delete, so they stay, marked, with `retired_at`."""
        when = _map(self.catalog.data.get("metadata")).get("generated_at")
        datasets = self.store.exists(rel.key for rel in self.relations.values())
        stored_fields: set[str] = set()
        for dkey in sorted(datasets):
            stored_fields |= {ref.key for edge, ref in self.store.neighbours(dkey)
                              if edge.kind is EdgeKind.HAS_FIELD and edge.src == dkey}
        gone = sorted(stored_fields - set(self.batch.nodes))
        for key, node in self.store.nodes(gone).items():
            props = dict(node.properties)
            props.setdefault("retired_at", when)
            props["retired"] = True
            self.batch.add_node(key, node.name, node.namespace, **props)
        self.result.retired_fields = gone
        jobs = {k for k in self.batch.nodes if keys.kind_of(k) is NodeKind.JOB}
        scope = jobs | datasets | stored_fields | {
            k for k in self.batch.nodes if keys.kind_of(k) is NodeKind.FIELD}
        for edge in self.store.edges_among(scope):
            ours = (edge.kind is EdgeKind.DERIVED_FROM and edge.properties.get("job") in jobs
                    or edge.kind is EdgeKind.READ and edge.dst in jobs)
            if not ours or edge.ident in self.batch.edges:
                continue
            props = dict(edge.properties)
            props.setdefault("retired_at", when)
            props["retired"] = True
            self.batch.add_edge(edge.src, edge.dst, edge.kind, **props)
            self.result.retired_edges += 1

    def finish(self) -> None:
        for key, checks in self.checks.items():
            checks.sort(key=lambda c: (str(c["id"]), str(c["column"])))
            if key in self.batch.nodes:
                self.batch.nodes[key].properties["quality_checks"] = checks


_WORD = re.compile(r"\w+")


def _compiled_sql(node: Mapping[str, Any]) -> str | None:
    """A model's compiled SQL (`compiled_sql`: manifests before dbt 1.3), None if none."""
    return next((node[k] for k in ("compiled_code", "compiled_sql")
                 if isinstance(node.get(k), str) and node[k].strip()), None)


def _sqlglot_version() -> str:
    """sqlglot's version, from its package metadata (importing sqlglot costs more): a new
    release may read SQL differently, so it is part of every model's cached inputs."""
    from importlib import metadata

    try:
        return metadata.version("sqlglot")
    except metadata.PackageNotFoundError:
        import sqlglot

        return str(sqlglot.__version__)


def _map(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (optional parts of artifacts)."""
    return value if isinstance(value, Mapping) else {}


def _owner(node: Mapping[str, Any]) -> str | None:
    meta = _map(node.get("meta"))
    config = _map(node.get("config"))
    cmeta = _map(config.get("meta"))
    owner = meta.get("owner") or cmeta.get("owner") or node.get("group")
    return str(owner) if owner else None


def _snapshot_columns(node: Mapping[str, Any]) -> tuple[str, ...]:
    """The columns dbt adds to a snapshot's table: its defaults, and the names the
    snapshot's `snapshot_meta_column_names` (dbt 1.9+) gives them instead."""
    renamed = _map(_map(node.get("config")).get("snapshot_meta_column_names"))
    return (*_SNAPSHOT_COLUMNS, *(str(v) for v in renamed.values() if isinstance(v, str) and v))


def _contract(node: Mapping[str, Any]) -> bool:
    config = _map(node.get("config"))
    contract = config.get("contract")
    return isinstance(contract, Mapping) and contract.get("enforced") is True


def _lookup(columns: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for key, value in columns.items():
        if key.lower() == name.lower() and isinstance(value, Mapping):
            return value
    return None


def _completed_at(result: Mapping[str, Any]) -> str | None:
    timing = [t for t in result.get("timing") or [] if isinstance(t, Mapping)]
    return timing[-1].get("completed_at") if timing else None


def _catalog_schema(relations: Iterable[_Relation]) -> dict[str, Any]:
    """The catalog as sqlglot's nested schema: {database: {schema: {table: {col: type}}}}."""
    schema: dict[str, Any] = {}
    for rel in relations:
        if not rel.columns:
            continue
        node = rel.node
        ident = node.get("identifier") if rel.resource_type == "source" else (
            node.get("alias") or node.get("name"))
        db = node.get("database") or ""
        schema.setdefault(db, {}).setdefault(node["schema"], {})[ident] = dict(rel.columns)
    return schema


#: every property the import writes: what the artifacts no longer say is removed (a dropped
#: description, owner, ...), while properties other producers wrote stay
_OWNED = frozenset({
    "description", "dbt_unique_id", "dbt_resource_type", "materialized", "owner", "tags",
    "contract_enforced", "columns_known", "source_name", "also_dbt_unique_ids", "type",
    "source_type", "sql", "file",
    "language", "column_lineage", "column_lineage_reason", "columns_unknown", "owner_email",
    "label", "exposure_type", "url", "maturity", "source", "job", "parent", "root", "state",
    "dbt_status", "message", "started_at", "ended_at", "execution_time", "rows_affected",
    "invocation_id", "command", "dbt_version", "version", "created_at", "retired",
    "retired_at", "column_lineage_cache"})


def merge_properties(key: str, stored: Mapping[str, Any],
                     given: Mapping[str, Any]) -> dict[str, Any]:
    """The import's facts laid over what is stored: the properties the import owns are
    replaced, others kept, and so are other sources' quality checks."""
    merged = {**{k: v for k, v in stored.items() if k not in _OWNED}, **given}
    if "quality_checks" in stored or "quality_checks" in given:
        others = [c for c in stored.get("quality_checks") or []
                  if not (isinstance(c, Mapping) and c.get("source") == _SOURCE)]
        merged["quality_checks"] = others + list(given.get("quality_checks") or []) or None
    return merged


def build(store: Store, target: str | Path, *, namespace: str | None = None,
          job_namespace: str = DEFAULT_JOB_NAMESPACE,
          cache: bool = True) -> tuple[GraphBatch, DbtImportResult]:
    """Read a dbt target directory and build the batch that imports it (nothing written).
    With `cache` False every model's SQL is parsed, none of the stored lineage reused."""
    root = Path(target)
    if not root.is_dir():
        raise ValidationError("not a directory; give dbt's target directory (the one holding "
                              "manifest.json and catalog.json)", file=str(root))
    manifest = _Artifact(root / "manifest.json")
    catalog_path = root / "catalog.json"
    if not catalog_path.exists():
        raise ValidationError("no such file; run `dbt docs generate` to write the catalog "
                              "(the columns and their types)", file=str(catalog_path))
    catalog = _Artifact(catalog_path)
    results_path = root / "run_results.json"
    run_results = _Artifact(results_path) if results_path.exists() else None
    b = _Builder(store, manifest, catalog, run_results, namespace, job_namespace, cache)
    b.result.target = str(root)
    b.read_relations()
    b.read_results()
    b.datasets()
    b.jobs(_catalog_schema(b.relations.values()))
    b.tests()
    b.unit_tests()
    b.contracts()
    b.exposure_consumers()
    b.dataset_versions()
    b.runs()
    b.retire_stale()
    b.finish()
    return b.batch, b.result


def import_dbt(store: Store, target: str | Path, *, namespace: str | None = None,
               job_namespace: str = DEFAULT_JOB_NAMESPACE, cache: bool = True
               ) -> DbtImportResult:
    """Import a dbt project from its target directory in one transaction (see the module
    docstring for what becomes what). A dataset version the import adds whose schema differs
    from the dataset's latest stored version enqueues notifications for the consumers the
    change breaks, as `lineage.register` does. A model whose column lineage inputs are
    unchanged since the last import keeps its stored lineage unparsed; `cache=False` parses
    every model (the store ends the same). Raises ValidationError (file, key) and writes
    nothing when an artifact is missing or malformed."""
    from .notify import new_version_notifications

    batch, result = build(store, target, namespace=namespace, job_namespace=job_namespace,
                          cache=cache)
    batch.notifications += new_version_notifications(store, batch)
    result.apply = store.apply(batch, merge=merge_properties)
    return result
