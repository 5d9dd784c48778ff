"""Record-provenance benchmark: bulk `tag` ingest and the training guard.

    python -m bench.provenance                                # 10^7 rows, 5·10^6 AI, SQLite
    python -m bench.provenance --rows 1000000 --ai 500000     # a quick run
    python -m bench.provenance --spark-rows 0                 # without the Spark check
    python -m bench.provenance --postgres postgresql://postgres@127.0.0.1:5432/test
    LINEAGE_TEST_POSTGRES_URL=postgresql://... python -m bench.provenance

Per backend (a fresh SQLite file in a temp dir; on PostgreSQL a fresh schema `bench_<random>`,
dropped at the end), each phase in its own child process so that its peak RSS is its own:

* ingest: `provenance.tag` of --rows AI assertions (int64 key, boolean value, float
  confidence) from a polars DataFrame, end to end; beside it, in the same process, raw
  `sqlite3` executemany of as many rows (4 int columns) into a plain table;
* guard setup (untimed for the guard, but its two `tag` calls are reported): --ai AI
  assertions on `fraud.predictions.predicted_fraud`, observed assertions on
  `fraud.labels.is_fraud` (1% of the training keys agree with the table, another 1% of the
  AI-covered keys disagree), and a training table of --rows rows written to Parquet — its
  first --ai keys carry the AI's value (laundered copies), the rest unrelated values;
* guard: `check_training(store, "train.parquet", ...)` end to end (reading the file
  included), the counts per verdict against those constructed, peak RSS; beside it
  `np.isin(train_fps, ai_fps)` on int64 arrays of the same sizes; then a breakdown: the
  same call again under cProfile, cumulative seconds of the guard's main functions;
* spark (SQLite only, --spark-rows rows, default 10^6, against --spark-rows/2 AI
  assertions, built as above; 0 skips it): `export_fingerprints`, then on the same
  Parquet file the local `check_training` and `check_spark` in Spark local mode
  (local[2], the file read by `spark.read.parquet`), each end to end with its counts
  and whether the two reports are identical; Spark's start-up is reported apart, and the
  JVM's peak RSS beside the driver's (Python workers are not counted).

It prints one table and never asserts: the figures are for people (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl

import lineage
from lineage import provenance
from lineage.guard import check_training
from lineage.provenance._fingerprint import spread_column
from lineage.provenance._scope import fingerprints

#: the targets (issue "Record provenance and the training guard")
TARGET_INGEST_ROWS_PER_S = 1_000_000
TARGET_GUARD_S = 3.0
TARGET_GUARD_RSS_MB = 2048

CONCEPT = "fraud_label"
SEED = 20260101

MANIFEST = """\
namespace: s3://bench
datasets:
  - name: fraud.predictions
    fields:
      - {name: transaction_id, type: int64}
      - {name: predicted_fraud, type: boolean, concept: fraud_label}
  - name: fraud.labels
    fields:
      - {name: transaction_id, type: int64}
      - {name: is_fraud, type: boolean, concept: fraud_label}
models:
  - name: fraud
    versions:
      - {version: 2, outputs: [fraud.predictions.predicted_fraud]}
      - {version: 3}
"""

Metrics = dict[str, Any]


# ------------------------------------------------------------------ measuring


def _status_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MB; NaN where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    except OSError:
        return float("nan")
    return int(match.group(1)) / 1024 if match else float("nan")


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_mb() -> float:
    """getrusage's ru_maxrss (kB on Linux) in MB: the whole process's peak."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process, user + system, all threads: on a shared machine the
    wall clock counts the waits for a core, this does not."""
    times = os.times()
    return times.user + times.system


@contextmanager
def measured(into: Metrics, name: str) -> Iterator[None]:
    """Time the block and record its peak RSS: `<name>_s`, `<name>_cpu_s` (CPU seconds,
    all threads), `<name>_rss0_mb` (RSS at the start) and `<name>_peak_mb` (VmHWM at the
    end, after resetting it at the start)."""
    into[f"{name}_peak_reset"] = reset_peak()
    into[f"{name}_rss0_mb"] = _status_mb("VmRSS")
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    yield
    into[f"{name}_s"] = time.perf_counter() - t0
    into[f"{name}_cpu_s"] = _cpu_s() - cpu0
    into[f"{name}_peak_mb"] = _status_mb("VmHWM")


def log(message: str) -> None:
    """Progress goes to stderr; the table to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ data


def ai_value(keys: np.ndarray) -> np.ndarray:
    """What the model predicts for each key: ~10% fraud, a fixed function of the key."""
    with np.errstate(over="ignore"):
        mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (mixed >> np.uint64(40)) % np.uint64(10) == 0


def other_value(keys: np.ndarray) -> np.ndarray:
    """An unrelated label for keys the model never saw."""
    return keys % 7 == 0


def predictions(n: int) -> pl.DataFrame:
    """`n` AI assertions: keys 0..n-1, the model's value, a confidence in [0.5, 1)."""
    keys = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(SEED)
    return pl.DataFrame({"transaction_id": keys, "predicted_fraud": ai_value(keys),
                         "score": rng.random(n, dtype=np.float32) * 0.5 + 0.5})


def observed_labels(rows: int, ai: int) -> pl.DataFrame:
    """Observed labels (e.g. chargebacks): every 100th training key with the training value,
    and among AI-covered keys every 100th + 50 with the opposite of the model's value."""
    agree = np.arange(0, rows, 100, dtype=np.int64)
    disagree = np.arange(50, min(ai, rows), 100, dtype=np.int64)
    keys = np.concatenate([agree, disagree])
    values = np.concatenate([training_value(agree, ai), ~ai_value(disagree)])
    return pl.DataFrame({"transaction_id": keys, "is_fraud": values})


def training_value(keys: np.ndarray, ai: int) -> np.ndarray:
    """The training table's label: the model's value under --ai (laundered), else another."""
    return np.where(keys < ai, ai_value(keys), other_value(keys))


def training_table(rows: int, ai: int) -> pl.DataFrame:
    """`rows` rows (transaction_id, is_fraud) in a shuffled order."""
    keys = np.random.default_rng(SEED + 1).permutation(rows).astype(np.int64)
    return pl.DataFrame({"transaction_id": keys, "is_fraud": training_value(keys, ai)})


def expected_verdicts(rows: int, ai: int) -> dict[str, int]:
    """The counts per verdict the guard must find in what `training_table` built."""
    keys = np.arange(rows, dtype=np.int64)
    observed_same = keys % 100 == 0
    in_ai = keys < ai
    # the model's value where a chargeback observed the opposite
    contradicted = in_ai & (keys % 100 == 50)
    counts = {"ground_truth": int(observed_same.sum()),
              "ai_only": int((in_ai & ~observed_same & ~contradicted).sum()),
              "contradicted": int(contradicted.sum()),
              "unverified": int((~in_ai & ~observed_same).sum())}
    return {k: v for k, v in counts.items() if v}


# ------------------------------------------------------------------ backends


@contextmanager
def postgres_schema_url(base: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema `bench_<random>` (dropped afterwards)."""
    import sqlalchemy as sa

    schema = f"bench_{secrets.token_hex(5)}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def fresh_store_url(backend: str, base: str | None, folder: Path, name: str) -> Iterator[str]:
    """The URL of an empty store: a new SQLite file in `folder` (deleted afterwards), or a
    new PostgreSQL schema."""
    if backend != "sqlite":
        with postgres_schema_url(base or "") as url:
            yield url
        return
    path = folder / f"{name}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for file in folder.glob(f"{name}.db*"):
            file.unlink()


# ------------------------------------------------------------------ phases (children)


def _timed_tag(store: lineage.Store, frame: pl.DataFrame, into: Metrics, name: str,
               **kwargs: Any) -> None:
    """`provenance.tag` under `measured`, with the seconds of its reading, fingerprinting
    and writing steps (from its progress callback)."""
    marks: list[tuple[str, float]] = []
    with measured(into, name):
        provenance.tag(store, frame, progress=lambda step: marks.append(
            (step, time.perf_counter())), **kwargs)
    end = marks[0][1] + into[f"{name}_s"] if marks else 0.0
    for (step, t), (_, t_next) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        into[f"{name}_{step}_s"] = t_next - t
    into[f"{name}_rows"] = frame.height


def sqlite3_baseline(rows: int, folder: Path, into: Metrics, chunk: int = 100_000) -> None:
    """Raw `sqlite3` executemany of `rows` rows of 4 ints into a plain table, one
    transaction (WAL, synchronous=NORMAL like the store), rows built in chunks."""
    path = folder / "baseline.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE t (entity INTEGER, value INTEGER, confidence INTEGER, "
                "batch INTEGER)")
    keys = np.arange(rows, dtype=np.int64)
    values = ai_value(keys).astype(np.int64)
    conf = (np.random.default_rng(SEED).random(rows) * 1e6).astype(np.int64)
    with measured(into, "sqlite3"):
        con.execute("BEGIN")
        for start in range(0, rows, chunk):
            part = slice(start, start + chunk)
            con.executemany("INSERT INTO t VALUES (?, ?, ?, 1)", zip(
                keys[part].tolist(), values[part].tolist(), conf[part].tolist(), strict=True))
        con.execute("COMMIT")
    con.close()
    path.unlink()


def phase_ingest(url: str, rows: int, folder: Path) -> Metrics:
    """Time `tag` of `rows` AI assertions; then the sqlite3 baseline in this process."""
    out: Metrics = {}
    with lineage.connect(url) as store:
        lineage.manifest.register_text(store, MANIFEST)
        frame = predictions(rows)
        log(f"ingest: tag {rows:,} rows ...")
        _timed_tag(store, frame, out, "tag", dataset="fraud.predictions",
                   field="predicted_fraud", key="transaction_id", origin="ai_inferred",
                   agent="fraud@2", confidence_column="score")
        out["frame_mb"] = frame.estimated_size() / 2**20
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        out["db_mb"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20
    del frame
    log(f"ingest: sqlite3 executemany baseline, {rows:,} rows ...")
    sqlite3_baseline(rows, folder, out)
    out["maxrss_mb"] = maxrss_mb()
    return out


def phase_guard_setup(url: str, rows: int, ai: int, folder: Path) -> Metrics:
    """Tag the AI and observed assertions; write the training table once per run."""
    out: Metrics = {}
    with lineage.connect(url) as store:
        lineage.manifest.register_text(store, MANIFEST)
        log(f"guard setup: tag {ai:,} AI assertions ...")
        _timed_tag(store, predictions(ai), out, "setup_ai", dataset="fraud.predictions",
                   field="predicted_fraud", key="transaction_id", origin="ai_inferred",
                   agent="fraud@2", confidence_column="score")
        observed = observed_labels(rows, ai)
        log(f"guard setup: tag {observed.height:,} observed assertions ...")
        _timed_tag(store, observed, out, "setup_observed", dataset="fraud.labels",
                   field="is_fraud", key="transaction_id", origin="observed",
                   agent="chargeback-system")
    parquet = train_path(folder, rows)
    if not parquet.exists():
        log(f"guard setup: write the training table ({rows:,} rows) ...")
        training_table(rows, ai).write_parquet(parquet)
    out["parquet_mb"] = parquet.stat().st_size / 2**20
    return out


#: what the breakdown shows: (file suffix, function name, label), in the guard's order.
#: Functions that no longer exist show "-"; nested ones are indented (their time is also
#: inside their parent's).
PROFILED = [
    ("provenance/_tables.py", "read_table", "read_table (Parquet)"),
    ("provenance/_tables.py", "require_keys", "require_keys"),
    ("provenance/_fingerprint.py", "spread_column", "spread_column (key, label)"),
    ("provenance/_fingerprint.py", "entity_and_value_spread", "entity_and_value_spread"),
    ("lineage/guard.py", "_check_conflicts", "_check_conflicts"),
    ("lineage/guard.py", "_verdicts", "_verdicts"),
    ("store/base.py", "assertion_batches", "  assertion_batches (all calls)"),
    ("store/base.py", "assertion_columns", "  assertion_columns (value, confidence)"),
    ("lineage/guard.py", "_support", "  _support"),
    ("lineage/guard.py", "_best_ai", "    _best_ai (only when a fact repeats)"),
    ("lineage/guard.py", "_matches", "  _matches (semi-joins, truth and AI)"),
    ("lineage/guard.py", "_agents_of", "_agents_of"),
    ("lineage/guard.py", "_lineage_findings", "_lineage_findings"),
    ("lineage/guard.py", "_feedback_by_data", "_feedback_by_data"),
    ("lineage/guard.py", "_examples", "_examples"),
]


def _guard_breakdown(url: str, parquet: Path, out: Metrics) -> None:
    """Run `check_training` again under cProfile and keep the cumulative seconds of the
    functions in PROFILED: where the time goes, by name only, so that it follows the
    code as it changes (the heavy work is in numpy/polars, so cProfile costs little)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    with lineage.connect(url) as store:
        t0 = time.perf_counter()
        profiler.runcall(check_training, store, str(parquet), key="transaction_id",
                         label="is_fraud", dataset="fraud.labels", model="fraud@3",
                         raise_on_block=False)
        out["profiled_s"] = time.perf_counter() - t0
    stats: dict[tuple[str, int, str], tuple[Any, ...]]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found: dict[str, tuple[float, int]] = {}
    for (file, _, name), (_, calls, _, cumulative, _) in stats.items():
        for suffix, wanted, label in PROFILED:
            if name == wanted and file.replace(os.sep, "/").endswith(suffix):
                seconds, n = found.get(label, (0.0, 0))
                found[label] = (seconds + cumulative, n + calls)
    out["profile"] = [[label, *found.get(label, (None, 0))] for _, _, label in PROFILED]


def phase_guard(url: str, ai: int, rows: int, folder: Path, breakdown: bool) -> Metrics:
    """Time `check_training` end to end; check its counts; then the np.isin baseline."""
    out: Metrics = {}
    parquet = train_path(folder, rows)
    with lineage.connect(url) as store:
        log("guard: check_training ...")
        with measured(out, "guard"):
            report = check_training(store, str(parquet), key="transaction_id",
                                    label="is_fraud", dataset="fraud.labels",
                                    model="fraud@3", raise_on_block=False)
        out["guard_rows"] = report.rows
        out["counts"] = report.counts
        out["expected"] = expected_verdicts(rows, ai)
        out["findings"] = sorted({f.kind for f in report.findings})
        out["examples"] = len(report.examples)
        # the baseline's inputs, untimed: value fingerprints of the training rows and the
        # AI assertions as the store holds them
        train = pl.read_parquet(parquet)
        batches = provenance.batches_of(store, [CONCEPT])  # scoped by the key's entity
        _, train_fps = fingerprints(batches[0].concept, train, ["transaction_id"],
                                    spread_column(train["is_fraud"]))
        del train
        ai_batches = [b.id for b in batches
                      if b.origin.value == "ai_inferred" and b.id is not None]
        ai_fps = np.concatenate([a.value for a in store.assertion_arrays(ai_batches).values()])
    out["guard_maxrss_mb"] = maxrss_mb()
    log(f"guard: np.isin({len(train_fps):,}, {len(ai_fps):,}) ...")
    with measured(out, "isin"):
        hits = np.isin(train_fps, ai_fps)
    out["isin_hits"] = int(hits.sum())
    out["isin_expected"] = min(ai, rows)
    with measured(out, "isin_unique"):
        np.isin(train_fps, ai_fps, assume_unique=True)
    del hits, train_fps, ai_fps
    if breakdown:
        log("guard: breakdown ...")
        try:
            _guard_breakdown(url, parquet, out)
        except Exception as exc:  # the internals moved on: say so, keep the figures
            out["breakdown_error"] = f"{type(exc).__name__}: {exc}"
    return out


def train_path(folder: Path, rows: int) -> Path:
    return folder / f"train-{rows}.parquet"


def _jvm_peak_mb(spark: Any) -> float:
    """The Spark JVM's peak RSS (VmHWM) in MB, read from /proc by its pid."""
    try:
        pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
        with open(f"/proc/{pid}/status") as f:
            match = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.MULTILINE)
        return int(match.group(1)) / 1024 if match else float("nan")
    except Exception:  # no /proc, or the gateway moved: the figure is only missing
        return float("nan")


def phase_spark(url: str, rows: int, ai: int, folder: Path) -> Metrics:
    """Export the fingerprints; check the same Parquet file locally and on Spark."""
    from pyspark.sql import SparkSession

    # imported here: pyarrow.parquet would add ~30 MB to the local guard's RSS figures
    from lineage.guard_spark import check_spark, export_fingerprints

    out: Metrics = {"spark_rows": rows, "spark_ai": ai}
    parquet = train_path(folder, rows)
    exported_path = folder / "fingerprints.parquet"
    args: dict[str, Any] = {"key": "transaction_id", "label": "is_fraud",
                            "dataset": "fraud.labels", "model": "fraud@3",
                            "raise_on_block": False}
    with lineage.connect(url) as store:
        log("spark: export_fingerprints ...")
        with measured(out, "export"):
            exported = export_fingerprints(store, exported_path)
        out["export_rows"] = exported.rows
        out["export_mb"] = exported_path.stat().st_size / 2**20
        log(f"spark: check_training on {rows:,} rows ...")
        with measured(out, "local"):
            local = check_training(store, str(parquet), **args)
        log("spark: start Spark (local[2]) ...")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
        t0 = time.perf_counter()
        spark = (SparkSession.builder.master("local[2]").appName("lineage-bench")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.driver.memory", "2g")
                 .config("spark.sql.shuffle.partitions", "4")
                 # a ~10 MB file: split it by row groups so both cores read
                 .config("spark.sql.files.maxPartitionBytes", "4m")
                 .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        out["spark_start_s"] = time.perf_counter() - t0
        try:
            log(f"spark: check_spark on {rows:,} rows ...")
            with measured(out, "spark"):
                remote = check_spark(store, spark.read.parquet(str(parquet)), exported_path,
                                     **args)
            out["spark_jvm_peak_mb"] = _jvm_peak_mb(spark)
        finally:
            spark.stop()
    out["local_counts"], out["spark_counts"] = local.counts, remote.counts
    out["spark_expected"] = expected_verdicts(rows, ai)
    out["same_report"] = local.to_dict() == remote.to_dict()
    return out


def child_main(args: argparse.Namespace) -> int:
    """Run one phase and print its metrics as one JSON line on stdout."""
    folder = Path(args.workdir)
    if args.phase == "ingest":
        metrics = phase_ingest(args.url, args.rows, folder)
    elif args.phase == "guard-setup":
        metrics = phase_guard_setup(args.url, args.rows, args.ai, folder)
    elif args.phase == "spark":
        metrics = phase_spark(args.url, args.rows, args.ai, folder)
    else:
        metrics = phase_guard(args.url, args.ai, args.rows, folder, args.breakdown)
    print("RESULT " + json.dumps(metrics), flush=True)
    return 0


# ------------------------------------------------------------------ orchestration


def run_child(phase: str, url: str, args: argparse.Namespace, folder: Path,
              rows: int | None = None, ai: int | None = None) -> Metrics:
    """Run one phase in a fresh interpreter; its metrics, or {"error": ...}."""
    # `-m` from the checkout's root: the child imports the same `lineage` as this process
    # (a script path would put bench/ first on sys.path and import whatever is installed)
    command = [sys.executable, "-m", "bench.provenance", "--phase", phase, "--url", url,
               "--workdir", str(folder), "--rows", str(rows or args.rows),
               "--ai", str(ai or args.ai)]
    if not args.breakdown:
        command.append("--no-breakdown")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    return {"error": f"{phase} exited with {done.returncode}"}


def run_backend(backend: str, base: str | None, args: argparse.Namespace,
                folder: Path) -> Metrics:
    """Every phase on one backend, each on a fresh store."""
    metrics: Metrics = {}
    log(f"=== {backend}")
    with fresh_store_url(backend, base, folder, "ingest") as url:
        metrics.update(run_child("ingest", url, args, folder))
    with fresh_store_url(backend, base, folder, "guard") as url:
        metrics.update(run_child("guard-setup", url, args, folder))
        metrics.update(run_child("guard", url, args, folder))
    if backend == "sqlite" and args.spark_rows:
        rows, ai = args.spark_rows, max(args.spark_rows // 2, 1)
        with fresh_store_url(backend, base, folder, "spark") as url:
            run_child("guard-setup", url, args, folder, rows, ai)
            metrics.update(run_child("spark", url, args, folder, rows, ai))
    return metrics


# ------------------------------------------------------------------ printing


def _num(value: Any, fmt: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, fmt)


def _ratio(a: Any, b: Any) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def _rows(m: Metrics, rows: int, ai: int) -> list[tuple[str, str, str]]:
    """(label, value, target) rows of one backend's table."""
    if "tag_s" not in m:
        return [("error", str(m.get("error", "no figures")), "")]
    tag_rate = m["tag_rows"] / m["tag_s"]
    sqlite3_rate = rows / m["sqlite3_s"] if m.get("sqlite3_s") else None
    out = [
        (f"tag {m['tag_rows']:,} AI rows, end to end (s)", _num(m["tag_s"], ".2f"), ""),
        ("  tag rows/s", _num(tag_rate), f">= {TARGET_INGEST_ROWS_PER_S:,}"
         + ("  PASS" if tag_rate >= TARGET_INGEST_ROWS_PER_S else "  MISS")),
        ("  CPU time of tag, all threads (user+sys, s)", _num(m.get("tag_cpu_s"), ".2f"), ""),
        ("  reading / fingerprinting / writing (s)",
         " / ".join(_num(m.get(f"tag_{s}_s"), ".2f")
                    for s in ("reading", "fingerprinting", "writing")), ""),
        ("  input DataFrame (MB)", _num(m.get("frame_mb")), ""),
        ("  store on disk (MB, SQLite file + WAL)", _num(m.get("db_mb")), ""),
        ("  peak RSS during tag (VmHWM, MB)", _num(m.get("tag_peak_mb")), ""),
        ("  RSS before tag (interpreter, imports, input; MB)", _num(m.get("tag_rss0_mb")), ""),
        ("baseline: sqlite3 executemany, 4 ints (rows/s)", _num(sqlite3_rate), ""),
        ("  ratio tag / sqlite3 (rows/s)", _ratio(tag_rate, sqlite3_rate), ""),
        ("  peak RSS during sqlite3 (VmHWM, MB)", _num(m.get("sqlite3_peak_mb")), ""),
        ("ingest child ru_maxrss, whole process (MB)", _num(m.get("maxrss_mb")), ""),
        (f"guard setup: tag {ai:,} AI rows (s, rows/s)",
         f"{_num(m.get('setup_ai_s'), '.2f')}, "
         f"{_num(ai / m['setup_ai_s'] if m.get('setup_ai_s') else None)}", ""),
        (f"guard setup: tag {_num(m.get('setup_observed_rows'))} observed rows (s)",
         _num(m.get("setup_observed_s"), ".2f"), ""),
        ("  training table Parquet (MB)", _num(m.get("parquet_mb"), ".1f"), ""),
    ]
    if "guard_s" not in m:
        return [*out, ("guard error", str(m.get("error", "no figures")), "")]
    guard_ok = m["guard_s"] <= TARGET_GUARD_S
    rss_ok = m["guard_peak_mb"] <= TARGET_GUARD_RSS_MB
    counts_ok = m["counts"] == m["expected"]
    out += [
        (f"check_training {m['guard_rows']:,} rows, Parquet (s)", _num(m["guard_s"], ".2f"),
         f"<= {TARGET_GUARD_S:g} s  " + ("PASS" if guard_ok else "MISS")),
        ("  guard rows/s", _num(m["guard_rows"] / m["guard_s"]), ""),
        ("  CPU time of the check, all threads (user+sys, s)", _num(m.get("guard_cpu_s"), ".2f"),
         "wall >= CPU / cores when nothing else runs"),
        ("  peak RSS during check (VmHWM, MB)", _num(m["guard_peak_mb"]),
         f"<= {TARGET_GUARD_RSS_MB:,} MB  " + ("PASS" if rss_ok else "MISS")),
        ("  RSS before the check (interpreter + imports, MB)", _num(m["guard_rss0_mb"]), ""),
        ("guard child ru_maxrss, whole process (MB)", _num(m.get("guard_maxrss_mb")),
         "includes the baselines' inputs"),
    ]
    for verdict in ("ground_truth", "ai_only", "unverified", "low_confidence", "pseudo_label"):
        got, want = m["counts"].get(verdict, 0), m["expected"].get(verdict, 0)
        if got or want:
            out.append((f"  {verdict}", _num(got),
                        f"expected {want:,}  " + ("OK" if got == want else "MISMATCH")))
    out += [
        ("  counts per verdict", "OK" if counts_ok else "MISMATCH", ""),
        ("  lineage findings", ", ".join(m["findings"]) or "-", "expected feedback_loop"),
        ("baseline: np.isin(train_fps, ai_fps) (s)", _num(m["isin_s"], ".2f"),
         f"{m['isin_hits']:,} hits, expected {m['isin_expected']:,}  "
         + ("OK" if m["isin_hits"] == m["isin_expected"] else "MISMATCH")),
        ("  ratio check_training / np.isin", _ratio(m["guard_s"], m["isin_s"]), ""),
        ("  CPU time of np.isin (s)", _num(m.get("isin_cpu_s"), ".2f"), ""),
        ("  peak RSS during np.isin (VmHWM, MB)", _num(m["isin_peak_mb"]), ""),
        ("baseline: np.isin(..., assume_unique=True) (s)", _num(m.get("isin_unique_s"), ".2f"),
         "both sides are unique here"),
        ("  ratio check_training / np.isin(assume_unique)",
         _ratio(m["guard_s"], m.get("isin_unique_s")), ""),
    ]
    if "spark_s" in m:
        n, same = m["spark_rows"], m["same_report"]
        spark_ok = m["spark_counts"] == m["spark_expected"]
        out += [
            (f"spark: same data, {n:,} rows against {m['spark_ai']:,} AI", "", ""),
            ("  export_fingerprints (s)", _num(m["export_s"], ".2f"),
             f"{m['export_rows']:,} rows, {m['export_mb']:.1f} MB"),
            (f"  check_training (local) on {n:,} rows (s)", _num(m["local_s"], ".2f"), ""),
            ("  Spark start-up, local[2] (s)", _num(m["spark_start_s"], ".2f"),
             "not in the check's time"),
            (f"  check_spark on {n:,} rows (s)", _num(m["spark_s"], ".2f"), ""),
            ("  ratio check_spark / check_training", _ratio(m["spark_s"], m["local_s"]), ""),
            ("  peak RSS, driver (VmHWM, MB)", _num(m["spark_peak_mb"]), ""),
            ("  peak RSS, Spark JVM (VmHWM, MB)", _num(m.get("spark_jvm_peak_mb")),
             "Python workers not counted"),
            ("  counts per verdict (Spark)", "OK" if spark_ok else "MISMATCH",
             json.dumps(m["spark_counts"])),
            ("  report identical to the local guard's", "yes" if same else "NO", ""),
        ]
    elif "spark_error" in m or (m.get("error") or "").startswith("spark"):
        out.append(("spark", str(m.get("error", "no figures"))[:60], ""))
    if "breakdown_error" in m:
        out.append(("guard breakdown", m["breakdown_error"][:60], ""))
    elif "profile" in m:
        out.append(("guard breakdown, check_training under cProfile (s)",
                    _num(m["profiled_s"], ".2f"), "cumulative seconds per function:"))
        for label, seconds, calls in m["profile"]:
            out.append((f"  {label}", _num(seconds, ".2f"), f"calls: {calls}" if calls else ""))
    return out


def format_table(results: dict[str, Metrics], rows: int, ai: int) -> str:
    """One column per backend; a label column and, from the first backend, the notes."""
    backends = list(results)
    per = {b: _rows(results[b], rows, ai) for b in backends}
    first = per[backends[0]]
    width = max(len(label) for label, _, _ in first) + 2
    head = f"{'':<{width}}" + "".join(f"{b:>22}" for b in backends) + "  notes"
    lines = [head, "-" * len(head)]
    for i, (label, _, _) in enumerate(first):
        cells = "".join(f"{per[b][i][1] if i < len(per[b]) else '':>22}" for b in backends)
        notes = list(dict.fromkeys(per[b][i][2] for b in backends
                                   if i < len(per[b]) and per[b][i][2]))
        lines.append(f"{label:<{width}}{cells}  {' | '.join(notes)}".rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------ command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000,
                        help="assertions to ingest, and training-table rows (default 10^7)")
    parser.add_argument("--ai", type=int, default=5_000_000,
                        help="AI assertions behind the guard (default 5*10^6)")
    parser.add_argument("--postgres", default=os.environ.get("LINEAGE_TEST_POSTGRES_URL"),
                        help="also run on PostgreSQL at this URL "
                             "(default: $LINEAGE_TEST_POSTGRES_URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip the guard's cProfile breakdown")
    parser.add_argument("--spark-rows", type=int, default=1_000_000,
                        help="rows for the Spark check beside the local one on the same "
                             "data, against half as many AI assertions (default 10^6; "
                             "0 skips it; needs pyspark and Java 17)")
    # internal: one phase in a child process
    parser.add_argument("--phase", choices=["ingest", "guard-setup", "guard", "spark"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows <= 0 or args.ai <= 0:
        parser.error("--rows and --ai must be positive")
    if args.phase:
        return child_main(args)

    backends: list[tuple[str, str | None]] = [] if args.no_sqlite else [("sqlite", None)]
    if args.postgres:
        backends.append(("postgresql", args.postgres))
    if not backends:
        parser.error("no backend: drop --no-sqlite or give --postgres")
    print(f"lineage {lineage.__version__} | python {sys.version.split()[0]} | polars "
          f"{pl.__version__} | numpy {np.__version__} | {os.cpu_count()} CPUs | "
          f"{platform.machine()} | rows {args.rows:,} | ai {args.ai:,} | "
          f"{Path(lineage.__file__).parent}", flush=True)
    load = os.getloadavg()  # the machine may be shared: the figures are only as quiet as it
    results: dict[str, Metrics] = {}
    with tempfile.TemporaryDirectory(prefix="lineage-bench-provenance-") as tmp:
        for backend, base in backends:
            results[backend] = run_backend(backend, base, args, Path(tmp))
    print(format_table(results, args.rows, args.ai), flush=True)
    print(f"load average (1, 5, 15 min) at the start: {load[0]:.2f}, {load[1]:.2f}, "
          f"{load[2]:.2f}; at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
