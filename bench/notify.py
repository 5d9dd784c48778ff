"""Notification benchmark: the cost of judging a change, and outbox delivery throughput.

    python bench/notify.py                               # 10^4 and 10^5 nodes, SQLite
    python bench/notify.py --million                     # and 10^6
    python bench/notify.py --postgres postgresql://postgres@127.0.0.1:5432/test
    LINEAGE_TEST_POSTGRES_URL=postgresql://... python bench/notify.py

Two measurements, per backend (a fresh SQLite file; on PostgreSQL a fresh schema
`bench_<random>`, dropped at the end):

* change impact: on a warehouse-shaped graph (`bench/generate.py`), p50 over `--repeat`
  calls of `change_impact(store, column, ["type:string"])` against plain
  `store.downstream(column)` for the generator's typical columns (given an int64 type
  first, so the change is a real one), and the ratio (target: <= 2x);
* delivery: `--notifications` webhooks enqueued for one consumer, then `deliver` until
  the outbox is empty, to a threaded HTTP receiver in another process (HTTP/1.1,
  kept-alive connections) on 127.0.0.1; webhooks per second (target: >= 500/s).

It prints, and never asserts: the figures are for people (see bench/README.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import lineage
from lineage import GraphBatch, NotificationSpec
from lineage.impact import change_impact
from lineage.notify import deliver

try:  # `python bench/notify.py` puts bench/ on sys.path; `python -m bench.notify` does not
    from generate import generate
except ImportError:  # pragma: no cover
    from bench.generate import generate

TARGET_RATIO = 2.0
TARGET_WEBHOOKS_PER_S = 500.0


# ------------------------------------------------------------------ stores


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_url(base: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema (dropped afterwards)."""
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def backends(postgres: str | None, no_sqlite: bool) -> list[tuple[str, Callable[[], Any]]]:
    found: list[tuple[str, Callable[[], Any]]] = []
    if not no_sqlite:
        found.append(("sqlite", sqlite_url))
    if postgres:
        found.append(("postgresql", lambda: postgres_url(postgres)))
    return found


# ------------------------------------------------------------------ change impact


def _p50(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def bench_impact(url: str, n: int, repeat: int, seed: int) -> list[tuple[str, int, float,
                                                                           float]]:
    """(column, reached, p50 downstream, p50 change_impact) per typical column."""
    g = generate(n, seed=seed)
    with lineage.connect(url) as store:
        t0 = time.perf_counter()
        store.bulk_load(g.nodes, g.edges)
        print(f"  loaded {g.n_nodes:,} nodes, {g.n_edges:,} edges in "
              f"{time.perf_counter() - t0:.1f}s")
        typed = GraphBatch()  # the generator leaves types out; give the columns one
        for key, node in store.nodes(g.typical).items():
            typed.add_node(key, node.name, node.namespace,
                           **{**node.properties, "type": "int64", "nullable": False})
        store.apply(typed)
    rows = []
    with lineage.connect(url) as store:  # a fresh connection pool: nothing cached
        for key in g.typical:
            store.downstream(key)  # warm both paths alike
            change_impact(store, key, ["type:string"])
            plain = _p50(lambda k=key: store.downstream(k), repeat)  # type: ignore[misc]
            judged = _p50(lambda k=key: change_impact(store, k, ["type:string"]),  # type: ignore[misc]
                          repeat)
            rows.append((key, len(store.downstream(key)), plain, judged))
    return rows


# ------------------------------------------------------------------ delivery


def _serve(port_out: Any, count: Any) -> None:
    """The receiver process: a threaded HTTP/1.1 server answering 200 to every POST."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            with count.get_lock():
                count.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever()


def bench_delivery(url: str, notifications: int, batch: int, workers: int) -> dict[str, float]:
    parent, child = multiprocessing.Pipe()
    count = multiprocessing.Value("q", 0)
    receiver = multiprocessing.Process(target=_serve, args=(child, count), daemon=True)
    receiver.start()
    try:
        hook = f"http://127.0.0.1:{parent.recv()}/hook"
        with lineage.connect(url) as store:
            setup = GraphBatch()
            consumer = setup.add_node("consumer:bench", "bench").key
            setup.channels[consumer] = [lineage.ChannelSpec(kind="webhook", target=hook,
                                                            secret="bench-secret")]
            store.apply(setup)
            payload = {"text": "Breaking change to public.orders.status: type int32 -> "
                               "string (incompatible).", "changes": [{"kind": "type_changed"}],
                       "path": ["field:a", "field:b", "feature:c", "consumer:bench"]}
            specs = [NotificationSpec(idempotency_key=f"bench-{i}", consumer=consumer,
                                      channel_kind="webhook", channel_target=hook,
                                      event="proposed_change", payload={**payload, "i": i})
                     for i in range(notifications)]
            t0 = time.perf_counter()
            store.enqueue(specs)
            enqueue_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            stats = deliver(store, batch_size=batch, workers=workers)
            deliver_s = time.perf_counter() - t0
            left = store.outbox_status()["pending"]
    finally:
        receiver.terminate()
        receiver.join()
    return {"enqueue_s": enqueue_s, "deliver_s": deliver_s, "delivered": stats.delivered,
            "received": count.value, "pending_left": left,
            "per_s": stats.delivered / deliver_s if deliver_s else 0.0}


# ------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="graph sizes, comma-separated")
    parser.add_argument("--million", action="store_true", help="add a 10^6-node graph")
    parser.add_argument("--postgres", default=os.environ.get("LINEAGE_TEST_POSTGRES_URL"),
                        help="also run on this PostgreSQL (a scratch schema is used)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--repeat", type=int, default=20, help="calls per p50")
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200, help="deliver's batch size")
    parser.add_argument("--workers", default="4,8",
                        help="deliver's threads, comma-separated: one run each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    chosen = backends(args.postgres, args.no_sqlite)
    verdicts = []

    print("== change_impact(column, ['type:string']) vs store.downstream(column), p50")
    for n in sizes:
        for name, make_url_ in chosen:
            print(f"{name}, {n:,} nodes")
            with make_url_() as url:
                rows = bench_impact(url, n, args.repeat, args.seed)
            for key, reached, plain, judged in rows:
                print(f"  {key[-60:]:<60} reached {reached:>6,}  downstream "
                      f"{plain * 1e3:8.2f} ms  change_impact {judged * 1e3:8.2f} ms  "
                      f"ratio {judged / plain:5.2f}x")
            ratio = statistics.median(j / p for _, _, p, j in rows) if rows else float("nan")
            print(f"  median ratio {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x)")
            verdicts.append((f"impact ratio, {name}, {n:,} nodes", f"{ratio:.2f}x",
                             ratio <= TARGET_RATIO))

    print(f"\n== delivery: {args.notifications:,} webhooks, batch {args.batch}, "
          f"receiver in another process ({os.cpu_count()} CPUs)")
    for name, make_url_ in chosen:
        for workers in [int(w) for w in args.workers.split(",") if w]:
            with make_url_() as url:
                r = bench_delivery(url, args.notifications, args.batch, workers)
            print(f"{name}, {workers} workers: enqueue {r['enqueue_s']:.2f}s, deliver "
                  f"{r['deliver_s']:.2f}s -> {r['per_s']:,.0f} webhooks/s (delivered "
                  f"{r['delivered']:,}, received {r['received']:,}, left "
                  f"{r['pending_left']})")
            verdicts.append((f"delivery, {name}, {workers} workers", f"{r['per_s']:,.0f}/s",
                             r["per_s"] >= TARGET_WEBHOOKS_PER_S))

    print("\n== targets")
    for label, figure, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {label}: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
