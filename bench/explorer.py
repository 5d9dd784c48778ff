"""Explorer benchmark: the web page in headless Chromium against a real `lineage serve`.

    python bench/explorer.py                       # a 10^5-node generated store (SQLite)
    python bench/explorer.py --size 1000000        # the issue's 10^6 (minutes to generate)
    python bench/explorer.py --store sqlite:///big.db --node raw.events   # a store you have

It loads a warehouse-shaped graph (`bench/generate.py`) into a fresh SQLite file, starts
`lineage serve` on 127.0.0.1 with a read token, drives the page in the system's Chromium
(Playwright's Python package, `executable_path=/usr/bin/chromium`; no browser download) and
prints, median of `--repeat` runs:

* node page: from navigation to its heading (first paint) and to every card filled;
* graph: the largest neighbourhood of a typical column's dataset the API draws (its bound is
  1,500 nodes): navigation to laid out and interactive (the page's own split: API time, and
  layout + drawing);
* the page's layout on a generated 2,000-node neighbourhood (the API cannot serve one);
* beside them, the API calls behind each view, timed with httpx.

It never asserts: the figures are for people (see bench/NOTES-2026-12.md, "Explorer").
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lineage  # noqa: E402
from lineage import auth  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LAUNCH = "import sys; from lineage_cli.main import cli; cli(sys.argv[1:], prog_name='lineage')"
GRAPH_BOUND = 1500


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _median(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


@contextmanager
def _serve(url: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-c", LAUNCH, "--store", url, "serve",
                                "--port", str(port), "--log-level", "warning"])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("lineage serve did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def _load(size: int, seed: int, directory: str) -> tuple[str, str]:
    """A generated store of `size` nodes; its URL and a typical column."""
    from bench.generate import generate

    started = time.perf_counter()
    g = generate(size, seed)
    url = f"sqlite:///{Path(directory) / 'explorer.db'}"
    with lineage.connect(url) as store:
        store.bulk_load(g.nodes, g.edges)
    print(f"store: {g.n_nodes:,} nodes generated and loaded in "
          f"{time.perf_counter() - started:.1f} s")
    return url, g.typical[0]


def _pick_graph(client: httpx.Client, base: str, column: str) -> tuple[str, int, int]:
    """The column's dataset, at the depth giving the largest picture within the bound."""
    node = client.get(f"{base}/api/v1/nodes/{quote(column, safe='')}").json()
    dataset = next((n["node"]["key"] for n in node["neighbours"]
                    if n["edge"] == "has_field" and n["direction"] == "in"), column)
    best = (dataset, 1, 0)
    for depth in range(1, 12):
        answer = client.get(f"{base}/api/v1/lineage/graph",
                            params={"node": dataset, "direction": "both", "depth": depth})
        if answer.status_code != 200:
            break
        count = len(answer.json()["nodes"])
        if count > best[2]:
            best = (dataset, depth, count)
        if count >= GRAPH_BOUND * 0.9:
            break
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="nodes to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", help="an existing store's URL instead of generating one")
    parser.add_argument("--node", help="with --store: the column (or node) to open")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default=os.environ.get("LINEAGE_TEST_CHROMIUM",
                                                             "/usr/bin/chromium"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            url, column = args.store, args.node
            if not column:
                parser.error("--store needs --node")
        else:
            url, column = _load(args.size, args.seed, tmp)
        with lineage.connect(url) as store:
            secret = auth.create_token(store, f"bench-{time.time_ns()}", ["read"])[1]
        with _serve(url) as base, httpx.Client(
                headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
            dataset, depth, count = _pick_graph(client, base, column)
            key = client.get(f"{base}/api/v1/nodes/{quote(column, safe='')}").json()["node"]["key"]
            path = f"{base}/api/v1/nodes/{quote(key, safe='')}"
            api = {
                "GET /nodes/{key}": lambda: client.get(path),
                "GET /consumers?of=": lambda: client.get(f"{base}/api/v1/consumers",
                                                         params={"of": key}),
                "GET /nodes?q= (search)": lambda: client.get(
                    f"{base}/api/v1/nodes", params={"q": key.rsplit(".", 1)[-1], "limit": 50}),
                f"GET /lineage/graph ({count:,} nodes)": lambda: client.get(
                    f"{base}/api/v1/lineage/graph",
                    params={"node": dataset, "direction": "both", "depth": depth}),
                "GET /impact?change=type:string": lambda: client.get(
                    f"{base}/api/v1/impact", params={"field": key, "change": "type:string"}),
            }

            def timed(call: Callable[[], Any]) -> float:
                started = time.perf_counter()
                call().raise_for_status()
                return time.perf_counter() - started

            api_times = {name: _median(lambda c=call: timed(c), args.repeat)
                         for name, call in api.items()}

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{base}/")
                page.fill("#token", secret)
                page.keyboard.press("Enter")
                page.wait_for_selector("#nav:not([hidden])")

                def node_page() -> tuple[float, float]:
                    page.goto(f"{base}/#/")
                    page.wait_for_selector("main h1:text('Explore the lineage')")
                    started = time.perf_counter()
                    page.evaluate("(h) => { location.hash = h; }",
                                  f"#/node/{quote(key, safe='')}")
                    page.wait_for_selector("p.crumbs")
                    first = time.perf_counter() - started
                    page.wait_for_function("() => !document.querySelector('main .loading')")
                    return first, time.perf_counter() - started

                def graph_page() -> tuple[float, str]:
                    page.goto(f"{base}/#/")
                    page.wait_for_selector("main h1:text('Explore the lineage')")
                    started = time.perf_counter()
                    page.evaluate("(h) => { location.hash = h; }",
                                  f"#/graph/{quote(dataset, safe='')}?direction=both"
                                  f"&depth={depth}")
                    page.wait_for_selector("#graph-stats:not(:empty)")
                    # interactive: the browser has painted and answers the next frame
                    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
                    return time.perf_counter() - started, page.inner_text("#graph-stats")

                nodes = [node_page() for _ in range(args.repeat)]
                graphs = [graph_page() for _ in range(args.repeat)]
                folded = [page.evaluate(_SYNTHETIC, True) for _ in range(args.repeat)]
                unfolded = [page.evaluate(_SYNTHETIC, False) for _ in range(args.repeat)]
                browser.close()

    print(f"\nnode page of {key}")
    print(f"  first paint (heading)        {_ms(statistics.median(n[0] for n in nodes)):>10}"
          "   target <= 1,000 ms")
    print(f"  every card filled            {_ms(statistics.median(n[1] for n in nodes)):>10}")
    print(f"\ngraph around {dataset}, both directions, depth {depth}: {count:,} nodes")
    print(f"  laid out and interactive     {_ms(statistics.median(g[0] for g in graphs)):>10}"
          "   target <= 2,000 ms (for 2,000 nodes)")
    print(f"  the page's own split         {graphs[len(graphs) // 2][1]}")
    print("\nthe page's layout on a generated 2,020-node neighbourhood (no API): 1,000 tables")
    print(f"  folded into groups           {_ms(statistics.median(folded) / 1000):>10}")
    print(f"  every box drawn (1,020)      {_ms(statistics.median(unfolded) / 1000):>10}")
    print("\nAPI calls behind the views (httpx, median)")
    for name, seconds in api_times.items():
        print(f"  {name:<38} {_ms(seconds):>10}")
    return 0


#: 1,000 source tables of one column each, read by 10 jobs writing 10 outputs (2,020 nodes)
_SYNTHETIC = """async (fold) => {
    const { GraphView } = await import('./explorer/graph.js');
    const nodes = [], edges = [];
    for (let j = 0; j < 10; j++) {
        nodes.push({key: `job:af://s/j${j}`, kind: 'job', name: `j${j}`},
                   {key: `dataset:s3://b/out${j}`, kind: 'dataset', name: `out${j}`});
        edges.push({src: `job:af://s/j${j}`, dst: `dataset:s3://b/out${j}`, kind: 'wrote',
                    properties: {}});
    }
    for (let i = 0; i < 1000; i++) {
        const ns = ['pg://a', 'pg://b', 'kafka://c'][i % 3];
        nodes.push({key: `dataset:${ns}/t${i}`, kind: 'dataset', name: `t${i}`},
                   {key: `field:${ns}/t${i}.c`, kind: 'field', name: `t${i}.c`});
        edges.push({src: `dataset:${ns}/t${i}`, dst: `field:${ns}/t${i}.c`, kind: 'has_field',
                    properties: {}},
                   {src: `dataset:${ns}/t${i}`, dst: `job:af://s/j${i % 10}`, kind: 'read',
                    properties: {}});
    }
    const div = document.createElement('div');
    div.className = 'canvas';
    document.querySelector('main').append(div);
    const started = performance.now();
    new GraphView(div, {start: nodes[0], nodes, edges}, {fold});
    await new Promise((r) => requestAnimationFrame(() => r()));
    const took = performance.now() - started;
    div.remove();
    return took;
}"""


if __name__ == "__main__":
    sys.exit(main())
