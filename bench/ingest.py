"""Ingest benchmark: OpenLineage events over real HTTP into `lineage serve`.

    python bench/ingest.py                                   # SQLite
    python bench/ingest.py --postgres postgresql://postgres@127.0.0.1:5432/test
    LINEAGE_TEST_POSTGRES_URL=postgresql://... python bench/ingest.py     # the same
    python bench/ingest.py --pairs 1000 --producers 8 --batch 10
    python -m bench.ingest --in-process                      # no HTTP: CPU ms per event
    python -m bench.ingest --groups 1,2,4 --no-sqlite --postgres URL  # the writer, by group
    python -m bench.ingest --floor                           # and a server that stores nothing

`--in-process` measures what the server's writer does per event without HTTP: the same
events, one per `openlineage.ingest` call inside `store.audited(...)` (as the writer thread
calls it for a request alone), parsed from their JSON bodies, into a fresh store; it prints
CPU and wall ms per event and where they go (parse, validation, mapping, apply), so a change
to the ingest path is judged without the noise of HTTP and of the producers.
`--groups 1,2,4` measures the server's writer alone (no HTTP, no producers) the way it
writes: the producers' raw bodies in the order 4 producers interleave them (each one's
START, then each one's COMPLETE), written by `IngestWriter` in transactions of exactly N
requests each (N from the list), into a fresh store per N: the writer's CPU and the
PostgreSQL backends' per event. A transaction has a fixed cost and an event a variable one,
and the server's groups hold ~2 requests with 4 producers: these rows tell them apart
without the noise of the other processes (bench/NOTES-2026-12.md, "Ingest").
`--floor` first runs the same producers against uvicorn serving a bare ASGI app that reads
each request and answers 201 (row `floor`): the most these producers and the HTTP stack
reach on this machine at that moment, beside which the server's figures are read.

`lineage serve` runs in a subprocess on 127.0.0.1 (a free port, a token with
write:lineage, no access log) over a fresh store: a temporary SQLite file, or a fresh
PostgreSQL schema `bench_<random>` dropped at the end. `--producers` processes (default 4)
each send `--pairs` runs (default 500) as a START then a COMPLETE event, one event per request
as the openlineage-python HttpTransport does (`--batch N`: N events per request to
/api/v1/lineage/batch instead), over one kept-alive connection each (`--client`: the standard
library's http.client by default, or httpx; see `_Sender` for why). A typical event:
2 inputs and 1 output with schema facets, the output with column lineage (3 input fields).

Printed per backend: events/s over the whole run (first request sent to last answer),
per-request latency p50/p95/p99, failed requests, how many transactions the server's group
commit wrote for how many requests, the server's CPU time per event (its processes'
user + system time from /proc over the run, its writer process included), of it the ingest
writer process's (`writer`), the PostgreSQL backends' serving the run (`pg`: every client
backend of the URL's database, from /proc, so the server must run on this machine and the
database be the bench's own; `--in-process` prints it too) and the producers'
(`client`: what the HTTP client and the bench spend per request, on the same cores), and
events lost: runs whose START and COMPLETE were both answered 2xx but that the store does not
hold as COMPLETE with both states, read back through the library afterwards. Targets (issue
"OpenLineage-compatible HTTP service", bench): >= 1,000 events/s sustained, p99 <= 50 ms,
0 lost. Below them, the ceiling the measured CPU allows: every process of the run shares
the machine's cores, so at C ms of CPU an event (server + PostgreSQL + producers) no rate
above cores * 1000 / C events/s is possible, however the work overlaps.

It prints, and never asserts: the figures are for people (see bench/README.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import lineage
from lineage import auth, openlineage

TARGET_EVENTS_PER_S = 1000.0
TARGET_P99_MS = 50.0
PRODUCER = "https://github.com/lineage/bench/ingest"
SCHEMA_FACET = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json" \
    "#/$defs/SchemaDatasetFacet"
LINEAGE_FACET = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json" \
    "#/$defs/ColumnLineageDatasetFacet"
EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# ------------------------------------------------------------------ events


def _schema(*fields: tuple[str, str]) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET,
            "fields": [{"name": n, "type": t} for n, t in fields]}


def run_events(producer: int, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """START and COMPLETE of one run: 2 inputs, 1 output, schema and column lineage."""
    ns = "postgres://warehouse:5432"
    k = (producer * 7919 + i) % 200  # 200 pipelines, shared by the producers
    orders, customers, out = f"raw.orders_{k}", f"raw.customers_{k}", f"mart.order_facts_{k}"

    def field(name: str, column: str, subtype: str) -> dict[str, Any]:
        kind = "DIRECT" if subtype in ("IDENTITY", "AGGREGATION") else "INDIRECT"
        return {"namespace": ns, "name": name, "field": column,
                "transformations": [{"type": kind, "subtype": subtype}]}

    run_id = str(uuid.uuid4())
    base = {
        "producer": PRODUCER, "schemaURL": EVENT_SCHEMA, "run": {"runId": run_id},
        "job": {"namespace": "airflow", "name": f"etl.build_order_facts_{k}"},
        "inputs": [
            {"namespace": ns, "name": orders, "facets": {"schema": _schema(
                ("order_id", "BIGINT"), ("customer_id", "BIGINT"), ("amount", "DECIMAL(12,2)"))}},
            {"namespace": ns, "name": customers, "facets": {"schema": _schema(
                ("customer_id", "BIGINT"), ("country", "VARCHAR"))}},
        ],
        "outputs": [{"namespace": ns, "name": out, "facets": {
            "schema": _schema(("order_id", "BIGINT"), ("country", "VARCHAR"),
                              ("total", "DOUBLE")),
            "columnLineage": {"_producer": PRODUCER, "_schemaURL": LINEAGE_FACET, "fields": {
                "order_id": {"inputFields": [field(orders, "order_id", "IDENTITY")]},
                "country": {"inputFields": [field(customers, "country", "IDENTITY")]},
                "total": {"inputFields": [field(orders, "amount", "AGGREGATION")]},
            }}}}],
    }
    start = {**base, "eventType": "START", "eventTime": "2024-06-01T00:00:00.000Z"}
    complete = {**base, "eventType": "COMPLETE", "eventTime": "2024-06-01T00:05:00.000Z"}
    return start, complete


class _Sender:
    """One kept-alive HTTP/1.1 connection of a producer: `send(method, path, body)` returns
    (status, text). `http.client` (the standard library's client, default) or `httpx`: the
    producers share the server's two cores, and per request httpx spends ~0.38 ms of CPU
    where http.client spends ~0.11 (requests, under openlineage-python's HttpTransport,
    ~0.59), so the lighter client leaves the server the CPU a remote producer would."""

    def __init__(self, client: str, base: str, headers: dict[str, str]) -> None:
        self.client, self.base, self.headers = client, base, headers
        self.httpx: httpx.Client | None = None
        self.conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Any:
        if self.client == "httpx":
            self.httpx = httpx.Client(timeout=60.0)
        else:
            url = httpx.URL(self.base)
            self.conn = http.client.HTTPConnection(url.host, url.port, timeout=60.0)
        return self.send

    def __exit__(self, *exc: object) -> None:
        if self.httpx is not None:
            self.httpx.close()
        if self.conn is not None:
            self.conn.close()

    def send(self, method: str, path: str, body: bytes | None) -> tuple[int, str]:
        if self.httpx is not None:
            response = self.httpx.request(method, self.base + path, content=body,
                                          headers=self.headers)
            return response.status_code, response.text
        assert self.conn is not None
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            answer = self.conn.getresponse()
            return answer.status, answer.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request opens a new connection
            raise


def _produce(args: tuple[str, str, str, int, int, int, Any, Any]) -> None:
    """One producer process: send its runs, put (latencies, failures, run ids ok) on `out`."""
    base, client, secret, producer, pairs, batch, out, ready = args
    bodies: list[tuple[bytes, list[str]]] = []  # (body, run ids whose COMPLETE it carries)
    pending: list[dict[str, Any]] = []
    runs: list[str] = []
    events = []
    for i in range(pairs):
        start, complete = run_events(producer, i)
        events += [start, complete]
    for event in events:
        if batch == 1:
            bodies.append((json.dumps(event).encode(), [event["run"]["runId"]]))
            continue
        pending.append(event)
        runs.append(event["run"]["runId"])
        if len(pending) == batch:
            bodies.append((json.dumps(pending).encode(), runs))
            pending, runs = [], []
    if pending:
        bodies.append((json.dumps(pending).encode(), runs))
    path = "/api/v1/lineage" if batch == 1 else "/api/v1/lineage/batch"
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[str] = []
    acknowledged: dict[str, int] = {}
    with _Sender(client, base, headers) as send:
        send("GET", "/api/v1/health", None)  # the kept-alive connection, before the start
        # Every producer starts sending once all are ready: a spawned producer spends ~1 s
        # of CPU importing and building its events, which the first ones to start would
        # otherwise share the cores with.
        ready.wait()
        cpu = time.process_time()
        first = time.perf_counter()
        for body, run_ids in bodies:
            t0 = time.perf_counter()
            try:
                status, text = send("POST", path, body)
                ok = status in (200, 201)
                if not ok:
                    failures.append(f"{status} {text[:200]}")
            except (OSError, httpx.HTTPError, http.client.HTTPException) as exc:
                ok = False
                failures.append(repr(exc))
            latencies.append(time.perf_counter() - t0)
            if ok:
                for run_id in run_ids:
                    acknowledged[run_id] = acknowledged.get(run_id, 0) + 1
        last = time.perf_counter()
        cpu = time.process_time() - cpu
    out.put((latencies, failures, acknowledged, first, last, len(events), cpu))


# ------------------------------------------------------------------ stores and the server


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as folder:
        yield f"sqlite:///{folder}/lineage.db"


@contextmanager
def postgres_store(url: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (forked workers) so far,
    from /proc; nan where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    try:
        while pending:
            current = pending.pop()
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    pending.extend(int(c) for c in f.read().split())
    except OSError:
        return float("nan")
    return total


def writer_cpu_seconds(pid: int) -> float:
    """CPU seconds so far of the server's spawned children (its ingest writer process; the
    table reader too once started, idle here), from /proc; nan where there is none."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = [int(c) for c in f.read().split()]
            for child in children:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    if b"spawn_main" not in f.read():
                        continue
                with open(f"/proc/{child}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
                found = True
    except OSError:
        return float("nan")
    return total if found else float("nan")


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to `url`'s database (this
    query's own excepted), from /proc: the server runs on this machine. The bench's own
    connections are closed while it measures, so these are the lineage server's."""
    tick = os.sysconf("SC_CLK_TCK")
    engine = sa.create_engine(make_url(url.split("?")[0]).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            pids = [r[0] for r in conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")]
    finally:
        engine.dispose()
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# `lineage serve`, also before cli/main.py registers it
LAUNCH = ("import sys; from lineage_cli.main import cli; from lineage_cli.serve import serve; "
          "cli.commands.get('serve') or cli.add_command(serve); "
          "cli(sys.argv[1:], prog_name='lineage')")


# The floor (`--floor`): uvicorn as `lineage serve` runs it (httptools, no access log),
# serving `floor_app`, which reads each body and answers 201 with a small JSON object.
FLOOR = ("import sys, uvicorn; sys.path.insert(0, sys.argv[2]); "
         "uvicorn.run('bench.ingest:floor_app', host='127.0.0.1', port=int(sys.argv[1]), "
         "access_log=False, log_level='warning')")


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What any server answering these producers must do at least: read the request,
    answer it; no JSON parsing, no validation, no store."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"status":"accepted","events":1}'
    await send({"type": "http.response.start", "status": 201 if scope["method"] == "POST"
                else 200, "headers": [(b"content-type", b"application/json"),
                                      (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def server(url: str | None, extra: list[str]) -> Iterator[tuple[str, int]]:
    """`lineage serve` over `url` (None: the floor app instead) on a free port."""
    port = free_port()
    if url is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        command = [sys.executable, "-c", FLOOR, str(port), root]
    else:
        command = [sys.executable, "-c", LAUNCH, "--store", url, "serve", "--host",
                   "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
                   "warning", *extra]
    process = subprocess.Popen(command)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"lineage serve did not start (exit {process.poll()})")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------ one run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(backend: str, url: str | None, args: argparse.Namespace,
            serve_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """One run against `lineage serve` over `url`, or with `url` None against the floor."""
    secret = "none"
    if url is not None:
        with lineage.connect(url) as store:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            _info, secret = auth.create_token(store, name, ["write:lineage", "read"])
    with server(url, list(serve_args)) as (base, pid):
        print(f"  {backend}: {args.producers} producers x {args.pairs} runs "
              f"({'1 event' if args.batch == 1 else f'{args.batch} events'} per request)...",
              file=sys.stderr, flush=True)
        ctx = multiprocessing.get_context("spawn")
        manager = ctx.Manager()
        queue, ready = manager.Queue(), manager.Barrier(args.producers)
        jobs = [(base, args.client, secret, p, args.pairs, args.batch, queue, ready)
                for p in range(args.producers)]
        processes = [ctx.Process(target=_produce, args=(job,)) for job in jobs]
        for p in processes:
            p.start()
        cpu_before = cpu_seconds(pid)  # the producers start sending after their imports
        writer_before = writer_cpu_seconds(pid)
        pg_before = backend_cpu(url) if url is not None and backend == "postgresql" else {}
        results = [queue.get() for _ in processes]
        server_cpu = cpu_seconds(pid) - cpu_before
        writer_cpu = writer_cpu_seconds(pid) - writer_before
        pg_cpu = float("nan")
        if url is not None and backend == "postgresql":
            pg_after = backend_cpu(url)
            pg_cpu = sum(v - pg_before.get(p, 0.0) for p, v in pg_after.items())
        for p in processes:
            p.join()
        health = {"ingest": {"transactions": 0, "requests": 0}}
        if url is not None:
            health = httpx.get(f"{base}/api/v1/health", timeout=10).json()
    latencies = [x for r in results for x in r[0]]
    failures = [x for r in results for x in r[1]]
    acknowledged: dict[str, int] = {}
    for r in results:
        acknowledged.update(r[2])
    first, last = min(r[3] for r in results), max(r[4] for r in results)
    sent = sum(r[5] for r in results)
    expected = {run for run, n in acknowledged.items() if n == 2}
    config = " ".join(serve_args) or "default"
    complete, stats = set(expected), {}
    if url is not None:
        with lineage.connect(url) as store:
            # runs are keyed by job and runId: read every run, keep those sent (by runId)
            refs = store.find("", [lineage.NodeKind.RUN], max(1, 2 * len(expected) + 1000))
            found = store.nodes(r.key for r in refs if r.name in expected)
            stats = store.stats()
        complete = {k for k, node in found.items()
                    if node.properties.get("state") == "COMPLETE"
                    and set(node.properties.get("states", {})) == {"START", "COMPLETE"}}
    seconds = last - first
    return {
        "backend": backend, "config": config, "events": sent, "requests": len(latencies),
        "seconds": seconds,
        "events_per_s": sent / seconds if seconds else float("nan"),
        "p50": percentile(latencies, 50) * 1000, "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000, "failed": len(failures),
        "failures": failures[:3], "lost": len(expected) - len(complete),
        "runs_expected": len(expected), "runs_stored": stats.get("run", 0),
        "server_cpu_ms": server_cpu * 1000 / sent,
        "client_cpu_ms": sum(r[6] for r in results) * 1000 / sent,
        "writer_cpu_ms": writer_cpu * 1000 / sent,
        "pg_cpu_ms": pg_cpu * 1000 / sent,
        "transactions": health["ingest"]["transactions"],
        "grouped_requests": health["ingest"]["requests"],
    }


# ------------------------------------------------------------------ in process


def _bodies(args: argparse.Namespace) -> list[bytes]:
    """The JSON bodies the producers would send, one event each, in their order."""
    bodies = []
    for producer in range(args.producers):
        for i in range(args.pairs):
            bodies += [json.dumps(e).encode() for e in run_events(producer, i)]
    return bodies


def in_process(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Ingest every event alone, as the server's writer does for a request alone (parsed
    body, `store.audited`, `openlineage.ingest`), into a fresh store: CPU and wall time per
    event. Then the same events again into another fresh store, through the steps of
    `ingest` timed one by one (lineage.openlineage._ingest's internals: the breakdown only)."""
    from lineage.openlineage import _ingest as steps

    bodies = _bodies(args)
    warm = min(40, len(bodies) // 10)
    principal = "bench"

    def detail(event: dict[str, Any]) -> dict[str, Any]:
        return {"events": 1, "jobs": [f"{event['job']['namespace']}/{event['job']['name']}"],
                "runs": [event["run"]["runId"]], "endpoint": "/api/v1/lineage"}

    with lineage.connect(url) as store:
        def one(body: bytes) -> None:
            event = json.loads(body)
            with store.audited(principal, "ingest", None, detail(event)):
                openlineage.ingest(store, [event], principal=principal)

        for body in bodies[:warm]:
            one(body)
        walls: list[float] = []
        pg_before = backend_cpu(url) if backend == "postgresql" else {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for body in bodies[warm:]:
            t0 = time.perf_counter()
            one(body)
            walls.append(time.perf_counter() - t0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pg_cpu = float("nan")
        if backend == "postgresql":
            pg_cpu = sum(v - pg_before.get(p, 0.0) for p, v in backend_cpu(url).items())
        runs = store.stats().get("run", 0)
    n = len(bodies) - warm
    phases = dict.fromkeys(("parse", "validate", "map", "apply"), 0.0)
    with (sqlite_store() if backend == "sqlite" else postgres_store(args.postgres)) as fresh, \
            lineage.connect(fresh) as store:
        for k, body in enumerate(bodies):
            t0 = time.perf_counter()
            event = json.loads(body)
            t1 = time.perf_counter()
            checked = steps._validated([steps._Raw(event)])
            t2 = time.perf_counter()
            batch = steps._build(checked, principal).unmerged()
            t3 = time.perf_counter()
            with store.audited(principal, "ingest", None, detail(event)):
                store.apply(batch, merge=steps.merge_node)
            t4 = time.perf_counter()
            if k >= warm:
                for name, spent in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3),
                                       strict=True):
                    phases[name] += spent
    return {"backend": backend, "events": n, "seconds": wall, "events_per_s": n / wall,
            "cpu_ms": cpu * 1000 / n, "pg_cpu_ms": pg_cpu * 1000 / n, "wall_ms": wall * 1000 / n,
            "p50": percentile(walls, 50) * 1000, "p99": percentile(walls, 99) * 1000,
            "runs": runs, "phases": {k: v * 1000 / n for k, v in phases.items()}}


def in_writer(backend: str, url: str, args: argparse.Namespace, size: int
              ) -> dict[str, Any]:
    """The server's writer alone: the producers' bodies, interleaved as they send them,
    written in transactions of `size` requests each (`IngestWriter._write`, as the writer
    writes a group): its CPU and the PostgreSQL backends' per event, the first 40 events
    as warm-up."""
    from lineage.server._writer import IngestWriter, _Request

    sent, each = _bodies(args), 2 * args.pairs
    mine = [sent[p * each:(p + 1) * each] for p in range(args.producers)]
    bodies = [one[i] for i in range(each) for one in mine]  # each one's i-th, in turn
    warm = 40 - 40 % size
    with lineage.connect(url) as store:
        writer = IngestWriter(store)

        def group(chunk: list[bytes]) -> None:
            requests = [_Request(b, "bench", "bench", None, {"endpoint": "/api/v1/lineage"})
                        for b in chunk]
            writer._write(requests, "bench")
            for r in requests:
                r.future.result()  # an error is the bench's failure

        for i in range(0, warm, size):
            group(bodies[i:i + size])
        pg_before = backend_cpu(url) if backend == "postgresql" else {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(warm, len(bodies), size):
            group(bodies[i:i + size])
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pg_cpu = float("nan")
        if backend == "postgresql":
            pg_cpu = sum(v - pg_before.get(p, 0.0) for p, v in backend_cpu(url).items())
    n = len(bodies) - warm
    return {"backend": backend, "size": size, "events": n, "wall_ms": wall * 1000 / n,
            "cpu_ms": cpu * 1000 / n, "pg_cpu_ms": pg_cpu * 1000 / n}


def print_in_writer(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"the ingest writer alone (no HTTP): {args.producers} producers' "
          f"{args.producers * args.pairs * 2:,} events interleaved, N requests of one event "
          "per transaction, the first 40 as warm-up")
    print(f"{'backend':<11}{'N':>4}{'events':>8}{'writer cpu ms/ev':>18}{'pg ms/ev':>10}"
          f"{'both':>7}{'wall ms/ev':>12}")
    for r in rows:
        both = r["cpu_ms"] + (r["pg_cpu_ms"] if r["pg_cpu_ms"] == r["pg_cpu_ms"] else 0.0)
        print(f"{r['backend']:<11}{r['size']:>4}{r['events']:>8,}{r['cpu_ms']:>18.3f}"
              f"{r['pg_cpu_ms']:>10.3f}{both:>7.3f}{r['wall_ms']:>12.3f}")


def print_in_process(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"ingest in process (no HTTP): {args.producers * args.pairs * 2:,} events, one per "
          "ingest call in store.audited(...), the first "
          f"{min(40, args.producers * args.pairs * 2 // 10)} as warm-up")
    print(f"{'backend':<11}{'events':>8}{'seconds':>9}{'events/s':>10}{'cpu ms/ev':>11}{'pg':>6}"
          f"{'wall ms/ev':>12}{'p50 ms':>8}{'p99 ms':>8}   wall ms/ev by step: parse, "
          "validate, map, apply (+txn, audit)")
    for r in rows:
        steps = "  ".join(f"{k} {v:.3f}" for k, v in r["phases"].items())
        print(f"{r['backend']:<11}{r['events']:>8,}{r['seconds']:>9.2f}{r['events_per_s']:>10,.0f}"
              f"{r['cpu_ms']:>11.3f}{r['pg_cpu_ms']:>6.2f}{r['wall_ms']:>12.3f}"
              f"{r['p50']:>8.2f}{r['p99']:>8.2f}   "
              f"{steps}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=500,
                        help="runs per producer (two events each)")
    parser.add_argument("--batch", type=int, default=1,
                        help="events per request (1: as the Python client sends them)")
    parser.add_argument("--client", choices=("http.client", "httpx"), default="http.client",
                        help="the producers' HTTP client: the standard library's (default, "
                             "~0.11 ms of CPU per request) or httpx (~0.38 ms); the producers "
                             "share the server's cores")
    parser.add_argument("--postgres", default=os.environ.get("LINEAGE_TEST_POSTGRES_URL"),
                        metavar="URL")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (`lineage serve --workers`); txns and req/txn "
                             "then count the one worker that answers the final health check")
    parser.add_argument("--ingest-writer", choices=("auto", "thread", "process"),
                        default="auto", help="where the server's ingest writer runs "
                        "(lineage serve --ingest-writer)")
    parser.add_argument("--compare", action="store_true",
                        help="also run with the ingest writer in a thread of the server "
                             "(--ingest-writer thread), with group commit off (--group-events "
                             "1), with a 3 ms linger and with the producers answered expected "
                             "back for 2 ms (--group-expect-ms 2), to show what each does")
    parser.add_argument("--floor", action="store_true",
                        help="first, the same producers against uvicorn serving a bare ASGI "
                             "app that stores nothing: what these producers and the HTTP "
                             "stack reach on this machine at all")
    parser.add_argument("--groups", metavar="N,N,...",
                        help="no server: the ingest writer alone, writing the producers' "
                             "interleaved events in transactions of N requests each, per N: "
                             "its CPU and PostgreSQL's per event")
    parser.add_argument("--in-process", action="store_true",
                        help="no server: ingest the same events one per call in this process "
                             "and print CPU ms per event and its steps")
    args = parser.parse_args(argv)

    if args.groups:
        sizes = [int(n) for n in args.groups.split(",")]
        found = []
        for size in sizes:
            if not args.no_sqlite:
                with sqlite_store() as url:
                    found.append(in_writer("sqlite", url, args, size))
            if args.postgres:
                with postgres_store(args.postgres) as url:
                    found.append(in_writer("postgresql", url, args, size))
        print_in_writer(found, args)
        return
    if args.in_process:
        found = []
        if not args.no_sqlite:
            with sqlite_store() as url:
                found.append(in_process("sqlite", url, args))
        if args.postgres:
            with postgres_store(args.postgres) as url:
                found.append(in_process("postgresql", url, args))
        print_in_process(found, args)
        return

    variants: list[tuple[str, ...]] = [
        (("--workers", str(args.workers)) if args.workers > 1 else ())
        + (("--ingest-writer", args.ingest_writer) if args.ingest_writer != "auto" else ())]
    if args.compare:
        variants += [("--ingest-writer", "thread"), ("--group-events", "1"),
                     ("--group-linger-ms", "3"), ("--group-expect-ms", "2")]
    rows = [measure("floor", None, args)] if args.floor else []
    for variant in variants:  # a fresh store each
        if not args.no_sqlite:
            with sqlite_store() as url:
                rows.append(measure("sqlite", url, args, variant))
        if args.postgres:
            with postgres_store(args.postgres) as url:
                rows.append(measure("postgresql", url, args, variant))

    print(f"ingest over HTTP: {args.producers} producers ({args.client}), {args.pairs} runs each "
          f"(START+COMPLETE), {args.batch} event(s) per request, 2 inputs + 1 output with "
          "schema and column lineage per event")
    print(f"{'backend':<11}{'server':<24}{'events':>8}{'seconds':>9}{'events/s':>10}{'p50 ms':>8}"
          f"{'p95 ms':>8}{'p99 ms':>8}{'failed':>8}{'lost':>6}{'txns':>7}{'req/txn':>9}"
          f"{'cpu ms/ev':>10}{'writer':>7}{'pg':>6}{'client':>7}")
    for r in rows:
        per_txn = r["grouped_requests"] / r["transactions"] if r["transactions"] else 0
        print(f"{r['backend']:<11}{r['config']:<24}{r['events']:>8,}{r['seconds']:>9.1f}"
              f"{r['events_per_s']:>10,.0f}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}"
              f"{r['failed']:>8}{r['lost']:>6}{r['transactions']:>7,}{per_txn:>9.1f}"
              f"{r['server_cpu_ms']:>10.2f}{r['writer_cpu_ms']:>7.2f}{r['pg_cpu_ms']:>6.2f}"
              f"{r['client_cpu_ms']:>7.2f}")
        for failure in r["failures"]:
            print(f"  failure: {failure}")
    print("\ntargets:")
    for r in rows:
        if r["config"] != "default" or r["backend"] == "floor":
            continue
        for label, ok, shown in (
                (">= 1,000 events/s", r["events_per_s"] >= TARGET_EVENTS_PER_S,
                 f"{r['events_per_s']:,.0f}/s"),
                ("p99 <= 50 ms", r["p99"] <= TARGET_P99_MS, f"{r['p99']:.1f} ms"),
                ("0 events lost", r["lost"] == 0 and r["failed"] == 0,
                 f"{r['lost']} lost, {r['failed']} failed")):
            print(f"  {label:<20}{r['backend']:<12}{shown:<24}{'PASS' if ok else 'MISS'}")
    # What the CPU these events cost allows on this machine: every process of the run
    # (server, PostgreSQL, producers) shares its cores, so no event rate above
    # cores / (CPU an event) is possible at this cost, however the work is overlapped.
    cores = os.cpu_count() or 1
    print(f"\nthe most these CPU costs allow on {cores} cores (cores / CPU ms an event of "
          "server + PostgreSQL + producers), beside the target:")
    for r in rows:
        if r["config"] != "default" or r["backend"] == "floor":
            continue
        pg = r["pg_cpu_ms"] if r["pg_cpu_ms"] == r["pg_cpu_ms"] else 0.0  # nan: SQLite
        total = r["server_cpu_ms"] + pg + r["client_cpu_ms"]
        print(f"  {r['backend']:<12}{total:.2f} ms an event -> at most "
              f"{cores * 1000 / total:,.0f} events/s (measured {r['events_per_s']:,.0f}); "
              f"{TARGET_EVENTS_PER_S:,.0f}/s needs <= {cores * 1000 / TARGET_EVENTS_PER_S:.2f} "
              "ms an event")


if __name__ == "__main__":
    main()
