"""/health latency while hostile requests run (issue 15, item 1).

    PYTHONPATH=$PWD python -m bench.stall              # SQLite in a temp folder
    PYTHONPATH=$PWD python -m bench.stall --seconds 20

`lineage serve --no-auth` runs in a subprocess on 127.0.0.1 (a free port, the default 5 MB
body limit). One thread asks GET /api/v1/health back to back and records each latency;
others send, in a loop, each attack of ATTACKS: small bodies nested 800-900 deep in `rows`
of /training/check and /assertions (the reported freeze), and large legitimate-looking ones
(5 MB tables, 5 MB of 60-deep JSON, a 5 MB multipart CSV upload). Prints /health
p50/p99/max and how each attack was answered, beside the same figures with no attack (run
first, the baseline of the moment).
`--postgres URL` serves a fresh schema of that database instead. Figures:
bench/NOTES-2026-12.md ("Health under hostile requests").
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.ingest import LAUNCH, free_port, postgres_store


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def attacks() -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """name -> (path, body, extra headers)."""
    deep = [{"k": "t1", "label": _nested(850)}]
    table = [{"k": f"t{i}", "label": i % 2 == 0, "note": "x" * 40} for i in range(60_000)]
    deep60 = b"[" + b",".join([b'{"a":' * 60 + b"1" + b"}" * 60] * 12_000) + b"]"
    check = "/api/v1/training/check"
    # a 4.8 MB CSV in many short lines: the most multipart parser callbacks per byte
    csv = b"k,label\n" + b"".join(b"t%d,%d\n" % (i, i % 2) for i in range(480_000))
    boundary = "lineage-bench-boundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nlabel\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"table\"; "
            f"filename=\"batch.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    form += csv + f"\r\n--{boundary}--\r\n".encode()
    return {
        "check, rows 850 deep (4 KB)": (check, json.dumps(
            {"rows": deep, "key": "k", "label": "label"}).encode(), {}),
        "assertions, rows 850 deep (4 KB)": ("/api/v1/assertions", json.dumps(
            {"dataset": "d", "field": "f", "key": "k", "origin": "observed", "agent": "a",
             "rows": deep}).encode(), {}),
        "check, 60k-row table (gzip, 4.5 MB)": (check, gzip.compress(json.dumps(
            {"rows": table, "key": "k", "label": "label"}).encode()),
            {"Content-Encoding": "gzip"}),
        "lineage, 4.3 MB of 60-deep JSON": ("/api/v1/lineage", deep60, {}),
        "check, multipart 4.8 MB CSV upload": (check, form, {
            "Content-Type": f"multipart/form-data; boundary={boundary}"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", metavar="WORD",
                        help="run only the attacks whose name has one of these words "
                             "(none: /health alone, the baseline)")
    parser.add_argument("--postgres", metavar="URL",
                        help="serve a fresh schema of this PostgreSQL database, not SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url = (stack.enter_context(postgres_store(args.postgres)) if args.postgres
               else f"sqlite:///{Path(tmp) / 'lineage.db'}")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", LAUNCH, "--store", url, "serve",
                                   "--no-auth", "--port", str(port), "--log-level", "warning",
                                   "--no-access-log"])
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            # the same /health loop with no attack first: the baseline of this moment
            baseline = run(base, args.seconds, [])
            idle = memory(server.pid)
            under = run(base, args.seconds, args.only) if args.only != [] else None
            if under is not None:
                print(f"/health p99 under attack {under:.1f} ms, no attack {baseline:.1f} ms "
                      f"({under / baseline:.1f}x); target <= 50 ms: "
                      f"{'PASS' if under <= 50 else 'MISS'}")
            print("peak RSS (VmHWM) per server process, after the baseline -> at the end: "
                  + ", ".join(f"{name} {idle.get(name, 0):.0f} -> {mb:.0f} MB"
                              for name, mb in memory(server.pid).items())
                  + " (body limit 5 MB)")
        finally:
            server.terminate()
            server.wait(30)


def memory(pid: int) -> dict[str, float]:
    """Peak resident memory (VmHWM, MB) of the process `pid` ("server") and of each of its
    descendants ("child": the ingest writer process, the table reader, multiprocessing's
    resource tracker)."""
    found: dict[str, float] = {}
    todo = [(pid, "server")]
    while todo:
        current, role = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = [int(c) for task in Path(f"/proc/{current}/task").iterdir()
                        for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                found[f"{role} {current}"] = int(line.split()[1]) / 1024
        todo += [(child, "child") for child in children]
    return found


def run(base: str, seconds: float, only: list[str] | None) -> float:
    """/health latency for `seconds` while the attacks named by `only` run (None: all;
    []: none, the baseline); prints the figures and returns the p99 in ms."""
    stop = threading.Event()
    answers: dict[str, Counter[int]] = {}
    slowest: dict[str, float] = {}

    def attack(name: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=600) as client:
            while not stop.is_set():
                start = time.perf_counter()
                r = client.post(base + path, content=body,
                                headers={"Content-Type": "application/json", **headers})
                took = time.perf_counter() - start
                answers.setdefault(name, Counter())[r.status_code] += 1
                slowest[name] = max(slowest.get(name, 0.0), took)

    threads = [threading.Thread(target=attack, args=(name, *spec), daemon=True)
               for name, spec in attacks().items()
               if only is None or any(word in name for word in only)]
    latencies: list[float] = []
    with httpx.Client(timeout=600) as client:
        client.get(base + "/api/v1/health")
        for t in threads:
            t.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            client.get(base + "/api/v1/health")
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join(600)
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    what = "no attack (baseline)" if not threads else f"{len(threads)} attack(s)"
    print(f"/health, {what}: {len(ms)} requests, p50 {statistics.median(ms):.1f} ms, "
          f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    for name, counts in answers.items():
        print(f"  {name}: {dict(counts)}, slowest answer {slowest[name] * 1000:.0f} ms")
    return p99


if __name__ == "__main__":
    main()
