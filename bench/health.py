"""Data-health benchmark: profiling a wide Parquet batch, and drift against stored profiles.

    python bench/health.py                      # 10^5 rows x 20 columns
    python bench/health.py --rows 1000000       # 10^6: the drift target's size
    python bench/health.py --rows 10000000 --only profile   # the profile target's size

Two measurements, each printed beside the same work done with plain polars/scipy in the
same process (a fresh SQLite store in a temporary folder):

* profile: `lineage.health.profile(path)` of a Parquet file of `--rows` x 20 columns
  (15 numeric, 5 categorical), read included, against plain polars reading the file and
  computing the same aggregates (count, nulls, mean, std, min, max, 257 quantiles per
  numeric column from one sort; value counts per categorical one), each in a fresh
  process, with its CPU time and that process's peak RSS (interpreter and imports
  included) (target at 10^7 rows: <= 5 s and <= 2 GB); the plain version reads the
  whole file, lineage a column at a time;
* drift: `lineage.health.drift(store, frame, dataset)` of a `--rows` batch against the
  stored profiles of the versions 3 model versions trained on, lineage included, against
  `scipy.stats.ks_2samp` on the raw samples plus numpy PSI on decile bins for the same
  15 numeric x 3 references (target at 10^6 rows: <= 1 s). Its CPU time is printed too
  (all threads): on a shared machine the wall time mostly measures the others' load.

It prints, and never asserts: the figures are for people (see bench/README.md).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import lineage
from lineage import health
from lineage.health.profile import field_size

NUMERIC, CATEGORICAL = 15, 5
#: the drift part's cap: scipy's baseline on 3 x 15 raw columns takes ~1 min at 10^6
MAX_DRIFT_ROWS = 1_000_000


def batch(rows: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        if i % 3 == 0:
            columns[f"n{i}"] = rng.poisson(9 + i, rows)
        else:
            columns[f"n{i}"] = rng.lognormal(3 + shift * (i == 1), 0.6, rows)
    for i in range(CATEGORICAL):
        cardinality = 10 ** (1 + i % 4)
        columns[f"c{i}"] = pl.Series(rng.integers(0, cardinality, rows)).cast(pl.String)
    return pl.DataFrame(columns)


def manifest(columns: list[str]) -> str:
    fields = "\n".join(f"      - {{name: {c}, type: {'float64' if c[0] == 'n' else 'string'}}}"
                       for c in columns)
    return f"""
namespace: bench
datasets:
  - name: wide
    fields:
{fields}
    versions: [{{version: v1}}, {{version: v2}}, {{version: v3}}]
features:
  - {{name: f1, from: wide.n1}}
models:
  - name: m
    versions:
      - {{version: 1, trained_on: [wide@v1], features: [f1]}}
      - {{version: 2, trained_on: [wide@v2], features: [f1]}}
      - {{version: 3, trained_on: [wide@v3], features: [f1]}}
consumers:
  - {{name: dashboard, consumes: [m]}}
"""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of every thread of this process, result)."""
    cpu = time.process_time()
    seconds, result = timed(fn)
    return seconds, time.process_time() - cpu, result


def _profile_child(which: str, path: str, queue: Any) -> None:
    """One profile in a fresh process: its peak RSS is this work's alone."""
    fn = (lambda: health.profile(path)) if which == "lineage" else (
        lambda: plain_profile(Path(path)))
    seconds, cpu, made = cpu_timed(fn)
    size = sum(field_size(f) for f in made.fields.values()) if which == "lineage" else 0
    queue.put((seconds, cpu, peak_rss_mb(), size))


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, which starts afresh at exec. getrusage's
    ru_maxrss does not: it keeps the peak of the image before exec, i.e. the forked copy
    of the parent, whose pages (the 10^7-row frame it generated) counted as the child's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(which: str, path: Path) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds, peak RSS in MB of the whole process, profile bytes)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_profile_child, args=(which, str(path), queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def plain_profile(path: Path) -> dict[str, Any]:
    """What a careful hand would write: one sort per column, the grid gathered from it."""
    frame = pl.read_parquet(path)
    out: dict[str, Any] = {}
    for name in frame.columns:
        s = frame[name]
        if s.dtype == pl.String:
            out[name] = (s.null_count(), s.n_unique(), s.value_counts(sort=True).head(50))
        else:
            v = s.drop_nulls().sort()
            grid = [int(i * (len(v) - 1) / 256) for i in range(257)]
            out[name] = (s.null_count(), v.mean(), v.std(), v.min(), v.max(),
                         v.gather(grid).to_list())
    return out


def plain_drift(references: list[pl.DataFrame], current: pl.DataFrame) -> int:
    from scipy import stats

    drifted = 0
    for reference in references:
        for name in reference.columns:
            if reference[name].dtype == pl.String:
                continue
            a, b = reference[name].to_numpy(), current[name].to_numpy()
            ks = stats.ks_2samp(a, b)
            edges = np.unique(np.quantile(a, np.linspace(0.1, 0.9, 9)))
            e = np.bincount(np.searchsorted(edges, a), minlength=len(edges) + 1) / len(a)
            c = np.bincount(np.searchsorted(edges, b), minlength=len(edges) + 1) / len(b)
            e, c = np.maximum(e, 1e-4), np.maximum(c, 1e-4)
            psi = float(np.sum((c - e) * np.log(c / e)))
            drifted += int(psi >= 0.2 or (ks.statistic >= 0.1 and ks.pvalue < 0.01))
    return drifted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["profile", "drift"], default=None,
                        help="run one of the two measurements")
    args = parser.parse_args()
    rows = args.rows
    with tempfile.TemporaryDirectory(prefix="lineage-bench-health-") as folder:
        if args.only != "drift":
            profile_part(rows, Path(folder))
        if args.only != "profile":
            drift_part(min(rows, MAX_DRIFT_ROWS), Path(folder))


def profile_part(rows: int, folder: Path) -> None:
    path = folder / "batch.parquet"
    batch(rows, 0).write_parquet(path)
    print(f"profile: {rows:,} rows x {NUMERIC + CATEGORICAL} columns (Parquet, "
          f"{path.stat().st_size / 2**20:.0f} MB)")
    ours_s, ours_cpu, ours_mb, size = in_child("lineage", path)
    plain_s, plain_cpu, plain_mb, _ = in_child("plain", path)
    print(f"  lineage.health.profile  {ours_s:7.2f} s  CPU {ours_cpu:6.2f} s  peak RSS "
          f"{ours_mb:6.0f} MB  ({size / 1024:.0f} KB of profile)")
    print(f"  plain polars            {plain_s:7.2f} s  CPU {plain_cpu:6.2f} s  peak RSS "
          f"{plain_mb:6.0f} MB  ratio {ours_s / plain_s:.2f}x")
    path.unlink()


def drift_part(rows: int, folder: Path) -> None:
    store = lineage.connect(f"sqlite:///{folder / 'lineage.db'}")
    columns = list(batch(10, 0).columns)
    lineage.manifest.register_text(store, manifest(columns))
    references = [batch(rows, 10 + i) for i in range(3)]
    for i, reference in enumerate(references):
        health.record_profile(store, reference, f"wide@v{i + 1}")
    current = batch(rows, 99, shift=0.3)
    print(f"drift: {rows:,} rows against 3 model versions' training profiles")
    ours_s, ours_cpu, report = cpu_timed(lambda: health.drift(store, current, "wide"))
    plain_s, plain_cpu, plain = cpu_timed(lambda: plain_drift(references, current))
    print(f"  lineage.health.drift    {ours_s:7.2f} s  CPU {ours_cpu:6.2f} s  (drifted: "
          f"{', '.join(report.drifted_fields)}; lineage included)")
    print(f"  scipy ks_2samp + PSI    {plain_s:7.2f} s  CPU {plain_cpu:6.2f} s  (raw samples, "
          f"numeric fields: {plain} drifted comparisons)  ratio {ours_s / plain_s:.3f}x")
    store.close()


if __name__ == "__main__":
    main()  # the spawned children import this module: main() runs only here
