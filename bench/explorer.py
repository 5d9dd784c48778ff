"""Explorer benchmark: the web page in headless Chromium against a real `lineage serve`.

    python bench/explorer.py                                   # 10^5 nodes, a temporary store
    python bench/explorer.py --size 1000000 --db /tmp/explorer-1e6.db   # the issue's 10^6:
        # generated once into --db (minutes; the column picks go beside it as .json), reused
    python bench/explorer.py --store sqlite:///big.db --node raw.events   # a store you have

It starts `lineage serve` on 127.0.0.1 with a read token, drives the page in the system's
Chromium (Playwright's Python package, `executable_path=/usr/bin/chromium`; no browser
download) and prints, median of `--repeat` runs, the issue's two targets:

* node page of a typical column: navigation to its heading (first paint, target <= 1 s),
  and to every card filled;
* graph of a 2,000-node neighbourhood (the first dataset of a typical column, and the depth,
  whose neighbourhood both ways has at least 2,000 nodes): navigation to laid out and
  interactive (target <= 2 s): the page has drawn the boxes, painted, and a zoom and a pan
  each answer within the next frame; with the page's own split (API, layout + drawing), and
  the same with every box drawn (group by: nothing) and grouped by namespace;

and beside them the API calls behind those views, timed with httpx.

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
#: the neighbourhood the issue's target names, and what the page asks the API for at most
TARGET_NODES = 2000
PAGE_LIMIT = 2500


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


def _load(size: int, seed: int, db: Path) -> tuple[str, list[str]]:
    """A generated store of `size` nodes in `db` (built once, reused while its `.json`
    beside it matches size and seed); its URL and typical columns."""
    import json

    from bench.generate import generate

    url = f"sqlite:///{db}"
    meta = db.with_suffix(".json")
    if db.exists() and meta.exists():
        known = json.loads(meta.read_text())
        if known.get("size") == size and known.get("seed") == seed:
            print(f"store: {known['nodes']:,} nodes, reused from {db}")
            return url, list(known["typical"])
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    g = generate(size, seed)
    with lineage.connect(url) as store:
        store.bulk_load(g.nodes, g.edges)
    meta.write_text(json.dumps({"size": size, "seed": seed, "nodes": g.n_nodes,
                                "typical": g.typical}))
    print(f"store: {g.n_nodes:,} nodes generated and loaded into {db} in "
          f"{time.perf_counter() - started:.1f} s")
    return url, list(g.typical)


def _pick_graph(client: httpx.Client, base: str, columns: list[str]
                ) -> tuple[str, int, int]:
    """The first typical column's dataset, and depth, whose neighbourhood (both ways) has
    at least TARGET_NODES nodes; else the largest seen. (dataset, depth, total nodes)."""
    best = ("", 0, 0)
    for column in columns:
        node = client.get(f"{base}/api/v1/nodes/{quote(column, safe='')}").json()
        dataset = next((n["node"]["key"] for n in node["neighbours"]
                        if n["edge"] == "has_field" and n["direction"] == "in"), column)
        for depth in range(1, 12):
            answer = client.get(f"{base}/api/v1/lineage/graph", params={
                "node": dataset, "direction": "both", "depth": depth, "limit": 1})
            total = answer.json()["total"]
            if total > best[2]:
                best = (dataset, depth, total)
            if total >= TARGET_NODES:
                return dataset, depth, total
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="nodes to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, help="SQLite file to generate the store into "
                        "once and reuse (default: a temporary one)")
    parser.add_argument("--store", help="an existing store's URL instead of generating one")
    parser.add_argument("--node", help="with --store: the column (or node) to open")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default=os.environ.get("LINEAGE_TEST_CHROMIUM",
                                                             "/usr/bin/chromium"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        if args.store:
            if not args.node:
                parser.error("--store needs --node")
            url, columns = args.store, [args.node]
        else:
            url, columns = _load(args.size, args.seed, args.db or Path(tmp) / "explorer.db")
        with lineage.connect(url) as store:
            secret = auth.create_token(store, f"bench-{time.time_ns()}", ["read"])[1]
        with _serve(url) as base, httpx.Client(
                headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
            dataset, depth, count = _pick_graph(client, base, columns)
            key = client.get(f"{base}/api/v1/nodes/{quote(columns[0], safe='')}"
                             ).json()["node"]["key"]
            q = quote(key, safe="")
            graph = {"node": dataset, "direction": "both", "depth": depth, "limit": PAGE_LIMIT}
            api = {
                "node page: GET /nodes/{key}": lambda: client.get(f"{base}/api/v1/nodes/{q}"),
                "node page: GET /quality-checks/{key}": lambda: client.get(
                    f"{base}/api/v1/quality-checks/{q}"),
                "node page: GET /provenance/{dataset}": lambda: client.get(
                    f"{base}/api/v1/provenance/{quote(dataset, safe='')}"),
                "node page: GET /consumers?of=": lambda: client.get(
                    f"{base}/api/v1/consumers", params={"of": key}),
                "dataset page: GET /runs/{dataset}": lambda: client.get(
                    f"{base}/api/v1/runs/{quote(dataset, safe='')}"),
                "search: GET /nodes?q=": lambda: client.get(
                    f"{base}/api/v1/nodes", params={"q": key.rsplit(".", 1)[-1], "limit": 50}),
                f"graph: GET /lineage/graph ({count:,} nodes)": lambda: client.get(
                    f"{base}/api/v1/lineage/graph", params=graph),
                "what breaks: GET /impact?change=type:string": lambda: client.get(
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

                def home() -> None:
                    page.goto(f"{base}/#/")
                    page.wait_for_selector("main h1:text('Explore the lineage')")

                def node_page() -> tuple[float, float]:
                    home()
                    started = time.perf_counter()
                    page.evaluate("(h) => { location.hash = h; }", f"#/node/{q}")
                    page.wait_for_selector("p.crumbs")
                    first = time.perf_counter() - started
                    page.wait_for_function("() => !document.querySelector('main .loading')")
                    return first, time.perf_counter() - started

                def graph_page(group: str) -> tuple[float, str, list[float]]:
                    home()
                    started = time.perf_counter()
                    page.evaluate("(h) => { location.hash = h; }",
                                  f"#/graph/{quote(dataset, safe='')}?direction=both"
                                  f"&depth={depth}&group={group}")
                    page.wait_for_selector("#graph-stats:not(:empty)")
                    # interactive: painted, and a zoom then a pan each answer in a frame
                    frame = page.evaluate(_INTERACTIVE)
                    took = time.perf_counter() - started
                    time.sleep(3)  # the picture rasterised: what panning costs from then on
                    frame.append(page.evaluate(_PAN_FRAMES))
                    return took, page.inner_text("#graph-stats"), frame

                nodes = [node_page() for _ in range(args.repeat)]
                graphs = {g: [graph_page(g) for _ in range(args.repeat)]
                          for g in ("auto", "namespace", "none")}
                boxes = page.evaluate("() => document.querySelectorAll('svg.graph .box').length")
                browser.close()

    print(f"\nnode page of {key}")
    print(f"  first paint (heading)        {_ms(statistics.median(n[0] for n in nodes)):>10}"
          "   target <= 1,000 ms")
    print(f"  every card filled            {_ms(statistics.median(n[1] for n in nodes)):>10}")
    print(f"\ngraph around {dataset}, both directions, depth {depth}: {count:,} nodes "
          f"(the page asks for at most {PAGE_LIMIT:,})")
    for group, runs in graphs.items():
        label = {"auto": "crowded layers grouped (default)", "namespace": "grouped by namespace",
                 "none": f"every box drawn ({boxes:,})"}[group]
        print(f"  {label}")
        print(f"    laid out and interactive   {_ms(statistics.median(g[0] for g in runs)):>10}"
              "   target <= 2,000 ms")
        gesture, sharp, pan = (statistics.median(g[2][i] for g in runs) for i in range(3))
        print(f"    then a zoom and a pan      {gesture:>7,.0f} ms   (each to its painted frame)")
        print(f"    drawn sharp when it stops  {sharp:>7,.0f} ms")
        print(f"    a pan frame, 3 s later     {pan:>7,.0f} ms   (median of 10 successive pans)")
        print(f"    the page's own split       {runs[len(runs) // 2][1]}")
    print("\nAPI calls behind the views (httpx, median)")
    for name, seconds in api_times.items():
        print(f"  {name:<48} {_ms(seconds):>10}")
    return 0


#: a zoom and a pan, each followed by the next painted frame (what a gesture costs); then
#: the picture drawn sharp at the new viewBox as when the gesture pauses; both in ms
_INTERACTIVE = """async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    await frame();
    const view = window.lineageGraph;
    const started = performance.now();
    view.zoom(0.8);
    await frame();
    view.pan(50, 30);
    await frame();
    const gesture = performance.now() - started;
    const again = performance.now();
    view.commit();
    await frame();
    return [gesture, performance.now() - again];
}"""


#: ten successive pans, each to its painted frame, as a drag makes them: the median in ms
_PAN_FRAMES = """async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    const view = window.lineageGraph;
    const took = [];
    for (let i = 0; i < 10; i++) {
        const started = performance.now();
        view.pan(20, 5);
        await frame();
        took.push(performance.now() - started);
    }
    view.commit();
    took.sort((a, b) => a - b);
    return (took[4] + took[5]) / 2;
}"""


if __name__ == "__main__":
    sys.exit(main())
