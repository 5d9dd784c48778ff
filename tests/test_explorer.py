"""The explorer, for real: `lineage serve` in a subprocess on 127.0.0.1 over the fraud example,
and the page driven in Debian's Chromium through Playwright (its Python package only: the
browser is the system's, `playwright install` is never run).

What it must do: refuse to show anything without a read token (and say why on a 401/403),
find nodes by any part of a name with their kinds from the keyboard, show a node's page,
draw datasets as boxes whose columns expand, colour every dependent of a proposed change by
its verdict (with the word, not only the colour), and show the guard's verdict table for an
uploaded CSV. On a failure the page's screenshot is saved in the test's tmp_path.

The browser tests skip (with the reason) where Chromium or Playwright is missing, except in
CI (CI=true), where they fail. The routes the page adds are checked over plain HTTP on every
backend.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

import lineage
from lineage import auth
from lineage.provenance import tag

from .conftest import LINEAGE, serve_in_subprocess

ROOT = Path(__file__).parent.parent
MANIFEST = ROOT / "examples" / "fraud" / "manifest.yaml"
JAFFLE = ROOT / "examples" / "jaffle_shop" / "target"
EVENTS = ROOT / "tests" / "data" / "openlineage"
CHROMIUM = os.environ.get("LINEAGE_TEST_CHROMIUM", "/usr/bin/chromium")
# what Debian's Chromium needs to run headless in a container, and nothing that phones home
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CATEGORY = "field:postgres://db.prod:5432/public.transactions.category"
#: the page's verdict colours (explorer.css), as the browser computes them
COLOURS = {"breaking": "rgb(164, 14, 38)", "unknown": "rgb(125, 78, 0)",
           "compatible": "rgb(17, 99, 41)"}
IDS = [f"t{i}" for i in range(1, 7)]


@dataclass
class Serving:
    base: str
    secrets: dict[str, str]


def _seed(url: str) -> dict[str, str]:
    """The fraud example, fraud@2's predictions tagged as AI-inferred and one chargeback
    observed; a read token and one without the read scope."""
    with lineage.connect(url) as store:
        lineage.register(store, str(MANIFEST))
        predictions = pl.DataFrame({"transaction_id": IDS,
                                    "predicted_fraud": [True, False, True, True, False, True],
                                    "confidence": [0.9, 0.8, 0.95, 0.7, 0.85, 0.99]})
        tag(store, predictions, dataset="fraud.scores", field="predicted_fraud",
            key="transaction_id", origin="ai_inferred", agent="fraud@2",
            confidence_column="confidence")
        tag(store, pl.DataFrame({"transaction_id": ["t1"], "is_fraud": [True]}),
            dataset="fraud.labels", field="is_fraud", key="transaction_id",
            origin="observed", agent="disputes-system")
        return {"reader": auth.create_token(store, "explorer", ["read"])[1],
                "writer": auth.create_token(store, "etl", ["write:lineage"])[1],
                "admin": auth.create_token(store, "ops", ["admin"])[1]}


def lineage_serve(url: str, *options: str) -> Any:
    """`lineage serve` in a subprocess over `url` on 127.0.0.1 (a free port); its base URL."""
    return serve_in_subprocess(LINEAGE, url, *options)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """One server for the browser tests (they only read): the fraud example on SQLite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('explorer') / 'lineage.db'}"
    secrets = _seed(url)
    with lineage_serve(url) as base:
        yield Serving(base, secrets)


# ------------------------------------------------------------------ the browser


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; or LINEAGE_TEST_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _unavailable()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the explorer's browser tests: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh tab (its own sessionStorage); a screenshot in tmp_path if the test failed,
    and the page's script errors make the test fail."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        shot = tmp_path / f"{request.node.name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot}")
    context.close()
    assert not errors, f"the page raised: {errors}"


def sign_in(page: Any, served: Serving, hash_: str = "#/") -> None:
    page.goto(f"{served.base}/{hash_}")
    page.fill("#token", served.secrets["reader"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#nav:not([hidden])")


def test_the_explorer_refuses_every_view_without_a_read_token_and_says_why(
        page: Any, served: Serving) -> None:
    page.goto(f"{served.base}/#/node/transactions.category")
    page.wait_for_selector("form.signin")
    assert page.locator("#nav").is_hidden() and page.locator("#search").is_hidden()
    assert page.locator("h1").inner_text() == "Sign in"
    assert "public.transactions" not in page.locator("main").inner_text()

    page.fill("#token", "lin_not-a-token")
    page.keyboard.press("Enter")
    refusal = page.locator("#refusal")
    refusal.wait_for(state="visible")
    assert "refused the token: it is missing, unknown or revoked" in refusal.inner_text()

    page.fill("#token", served.secrets["writer"])  # a real token, without the read scope
    page.keyboard.press("Enter")
    page.wait_for_selector("#refusal:has-text('lacks the read scope')")
    assert page.evaluate("sessionStorage.length") == 0  # nothing refused is kept

    page.fill("#token", served.secrets["admin"])  # reads, but could write too: not kept
    page.keyboard.press("Enter")
    page.wait_for_selector("#refusal:has-text('can do more than read (scopes: admin)')")
    assert page.evaluate("sessionStorage.length") == 0

    page.fill("#token", served.secrets["reader"])
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:text('public.transactions.category')")  # where it was going


def test_search_finds_a_column_by_part_of_its_name_with_kinds_from_the_keyboard(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    page.keyboard.press("/")  # focuses the search box
    page.keyboard.type("categ")
    options = page.locator("#results [role=option]")
    options.first.wait_for()
    # the answer to the whole query, not an earlier one to "c", "ca", ... still shown
    page.wait_for_function("() => [...document.querySelectorAll('#results [role=option] .key')]"
                           ".every((e) => e.textContent.toLowerCase().includes('categ'))")
    found = {options.nth(i).locator(".name").inner_text():
             options.nth(i).locator(".badge").inner_text() for i in range(options.count())}
    assert found["public.transactions.category"] == "column"
    assert found["category_share"] == "feature"
    assert page.get_attribute("#q", "aria-expanded") == "true"

    names = [options.nth(i).locator(".name").inner_text() for i in range(options.count())]
    for _ in range(names.index("public.transactions.category")):
        page.keyboard.press("ArrowDown")
    active = page.get_attribute("#q", "aria-activedescendant")
    assert page.locator(f"#{active} .name").inner_text() == "public.transactions.category"
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:text('public.transactions.category')")
    props = page.locator("section.card").first.inner_text()
    assert "int32" in props and "merchant category code" in props
    assert "features.user_features.category_share" in page.locator("main").inner_text()

    page.fill("#q", "no-such-thing-anywhere")
    page.wait_for_selector("#results li.empty")
    assert "Nothing matches" in page.locator("#results").inner_text()

    # an ambiguous part of a name: the server's candidates, each a link
    page.goto(f"{served.base}/#/node/user_id")
    error = page.locator(".card.error")
    error.wait_for()
    assert "user_id" in error.inner_text() and error.get_attribute("role") == "alert"
    page.click(".card.error a:text('field:postgres://db.prod:5432/public.transactions.user_id')")
    page.wait_for_selector("h1:text('public.transactions.user_id')")


def test_a_dataset_page_shows_versions_a_schema_diff_consumers_and_provenance(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/node/fraud.scores")
    page.wait_for_selector("h1:text('fraud.scores')")
    page.wait_for_selector("table.provenance")
    prov = page.locator("table.provenance").inner_text()
    # six predictions by fraud@2, all AI-inferred
    assert re.search(r"predicted_fraud\s+6\s+—\s+—\s+6 \(100%\)\s+fraud@2: 6", prov), prov
    consumers = page.locator("ul.consumers").inner_text()
    assert "alerting-service" in consumers and "minimum" in consumers  # its contract

    page.goto(f"{served.base}/#/node/features.user_features")  # still signed in
    page.wait_for_selector("table.diff")
    diff = page.locator("table.diff").inner_text()
    assert "diff-old" in page.content() and diff.strip()


def test_the_graph_draws_datasets_as_boxes_whose_columns_expand(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/graph/public.transactions?direction=both&depth=4")
    page.wait_for_selector("svg.graph .box")
    box = page.locator('svg.graph .box.kind-dataset[data-key="dataset:postgres://db.prod:5432/'
                       'public.transactions"]')
    assert box.locator(".kind").text_content().startswith("dataset")  # a written kind
    assert box.locator(".row").count() == 6  # a small picture starts with its columns shown
    # the job reads the table as a whole: drawn dashed; column derivations solid
    assert page.locator("svg.graph path.edge.dataset").count() >= 1
    assert page.locator("svg.graph path.edge.column").count() >= 1
    legend = page.locator(".legend").inner_text()
    assert "dataset-level lineage, column unknown" in legend and "model version" in legend

    # a picture this size opens whole: every box inside the canvas
    outside = page.evaluate("""() => {
        const c = document.querySelector('.canvas').getBoundingClientRect();
        return [...document.querySelectorAll('svg.graph .box')].filter((b) => {
            const r = b.getBoundingClientRect();
            return r.left < c.left || r.right > c.right || r.top < c.top || r.bottom > c.bottom;
        }).map((b) => b.dataset.key);
    }""")
    assert outside == []
    # Tab visits the boxes in reading order: left to right, top to bottom
    heads = page.eval_on_selector_all(
        "svg.graph .box", "bs => bs.map((b) => { const r = b.getBoundingClientRect(); "
        "return [Math.round(r.left), Math.round(r.top)]; })")
    layers = [x for x, _ in heads]
    assert layers == sorted(layers)

    page.click("#collapse-all")
    assert box.locator(".row").count() == 0
    toggle = box.locator(".toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.focus()
    page.keyboard.press("Enter")  # expanded from the keyboard
    page.wait_for_selector('svg.graph .row[data-key="' + CATEGORY + '"]')
    assert box.locator(".row").count() == 6
    assert box.locator(".toggle").get_attribute("aria-expanded") == "true"

    # hovering a column lights its lineage, and only that
    page.hover('svg.graph .row[data-key="' + CATEGORY + '"]')
    assert page.locator("svg.graph.tracing").count() == 1
    lit = page.locator("svg.graph path.edge.hl")
    assert 1 <= lit.count() < page.locator("svg.graph path.edge").count()
    page.click('svg.graph .row[data-key="' + CATEGORY + '"]')
    assert "What breaks?" in page.locator("aside.selection").inner_text()
    page.mouse.move(5, 5)
    page.focus("svg.graph")
    assert page.locator("svg.graph.tracing").count() == 0
    page.focus('svg.graph .row[data-key="' + CATEGORY + '"]')  # from the keyboard too
    assert page.locator("svg.graph.tracing").count() == 1
    page.keyboard.press("Escape")
    assert page.locator("svg.graph.tracing").count() == 0
    assert page.locator("svg.graph .selected").count() == 0
    assert page.evaluate("document.activeElement.classList.contains('graph')")


def test_a_crowded_graph_of_2000_nodes_is_folded_into_groups_that_open(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    # the page's own graph module on a generated neighbourhood: one job reading 1,000
    # datasets of 1 column each into one output (2,000+ nodes)
    stats = page.evaluate("""async () => {
        const { GraphView, LAYER_CAP } = await import('./explorer/graph.js');
        const nodes = [{key: 'job:x/j', kind: 'job', name: 'j'},
                       {key: 'dataset:x/out', kind: 'dataset', name: 'out'}];
        const edges = [{src: 'job:x/j', dst: 'dataset:x/out', kind: 'wrote', properties: {}}];
        for (let i = 0; i < 1000; i++) {
            const ns = 'ns' + (i % 3);
            nodes.push({key: `dataset:${ns}://h/d${i}`, kind: 'dataset', name: `d${i}`},
                       {key: `field:${ns}://h/d${i}.c`, kind: 'field', name: `d${i}.c`});
            edges.push({src: `dataset:${ns}://h/d${i}`, dst: `field:${ns}://h/d${i}.c`,
                        kind: 'has_field', properties: {}},
                       {src: `dataset:${ns}://h/d${i}`, dst: 'job:x/j', kind: 'read',
                        properties: {}});
        }
        const div = document.createElement('div');
        div.className = 'canvas';
        document.querySelector('main').append(div);
        const view = new GraphView(div, {start: nodes[0], nodes, edges});
        const before = {...view.stats, drawn: div.querySelectorAll('.box').length};
        const group = div.querySelector('.box.kind-cluster .head');
        group.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
        return {before, cap: LAYER_CAP, after: div.querySelectorAll('.box').length,
                rows: div.querySelectorAll('.row').length};
    }""")
    before = stats["before"]
    assert before["nodes"] == 1002 and before["links"] == 1001  # 2,002 nodes as 1,002 boxes
    assert before["clusters"] == 3  # one group per namespace
    assert before["drawn"] == 2 + 3
    assert stats["rows"] == 0  # 1,000 columns start folded into their boxes
    assert stats["after"] == 2 + 2 + 334  # one group opened: its 334 datasets drawn


def test_edges_reached_only_through_a_whole_dataset_are_drawn_as_column_unknown(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    # the marker the server puts on dataset-level impact (properties.column_unknown on an
    # edge, column_unknown on a node): drawn dotted, said in words
    drawn = page.evaluate("""async () => {
        const { GraphView, edgeLevel } = await import('./explorer/graph.js');
        const nodes = [
            {key: 'dataset:pg://h/orders', kind: 'dataset', name: 'orders'},
            {key: 'field:pg://h/orders.status', kind: 'field', name: 'orders.status'},
            {key: 'job:af://s/nightly', kind: 'job', name: 'nightly'},
            {key: 'dataset:s3://b/report', kind: 'dataset', name: 'report',
             column_unknown: true}];
        const edges = [
            {src: 'dataset:pg://h/orders', dst: 'field:pg://h/orders.status',
             kind: 'has_field', properties: {}},
            {src: 'dataset:pg://h/orders', dst: 'job:af://s/nightly', kind: 'read',
             properties: {}},
            {src: 'field:pg://h/orders.status', dst: 'job:af://s/nightly', kind: 'read',
             properties: {column_unknown: true, through: 'dataset:pg://h/orders'}},
            {src: 'job:af://s/nightly', dst: 'dataset:s3://b/report', kind: 'wrote',
             properties: {}}];
        const div = document.createElement('div');
        div.className = 'canvas';
        document.querySelector('main').append(div);
        new GraphView(div, {start: nodes[1], nodes, edges});
        const kindOf = (k) => k.slice(0, k.indexOf(':'));
        return {levels: edges.slice(1).map((e) => edgeLevel(e, kindOf)),
                unknown: [...div.querySelectorAll('path.edge.unknown title')]
                    .map((t) => t.textContent),
                dashed: div.querySelectorAll('path.edge.dataset').length,
                report: div.querySelector('.box.column-unknown .kind').textContent};
    }""")
    assert drawn["levels"] == ["dataset", "unknown", "dataset"]
    assert len(drawn["unknown"]) == 1
    assert "dataset-level lineage, column unknown" in drawn["unknown"][0]
    assert drawn["dashed"] == 2
    assert drawn["report"] == "dataset · column unknown"


def test_the_layout_puts_data_flow_left_to_right_without_overlaps_even_with_cycles(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    placed = page.evaluate("""async () => {
        const { layout } = await import('./explorer/layout.js');
        // a -> b -> c -> d, a -> d (spans three layers), c -> a (a cycle), e alone, b -> b
        const ids = ['a', 'b', 'c', 'd', 'e'];
        const edges = [['a', 'b'], ['b', 'c'], ['c', 'd'], ['a', 'd'], ['c', 'a'], ['b', 'b']];
        const heights = {a: 40, b: 120, c: 40, d: 60, e: 40};
        const out = layout(ids, edges, (id) => ({w: 100, h: heights[id]}));
        return {pos: Object.fromEntries(out.pos), route: out.routes.get('a\u0000d'),
                width: out.width, height: out.height};
    }""")
    pos = placed["pos"]
    assert pos["a"]["layer"] < pos["b"]["layer"] < pos["c"]["layer"] < pos["d"]["layer"]
    assert pos["a"]["x"] < pos["b"]["x"] < pos["c"]["x"] < pos["d"]["x"]
    # the long edge passes each layer it crosses, in a slot of its own, left to right
    xs = [p["x"] for p in placed["route"]]
    assert len(xs) == 4 and xs == sorted(xs)
    by_layer: dict[int, list[dict[str, float]]] = {}
    for p in pos.values():
        by_layer.setdefault(p["layer"], []).append(p)
    for boxes in by_layer.values():
        boxes.sort(key=lambda p: p["y"])
        for upper, lower in zip(boxes, boxes[1:], strict=False):
            assert upper["y"] + upper["h"] <= lower["y"]
    assert all(p["y"] >= 0 and p["y"] + p["h"] <= placed["height"] for p in pos.values())


def _contrast(fg: str, bg: str) -> float:
    def luminance(rgb: str) -> float:
        parts = [int(x) / 255 for x in re.findall(r"\d+", rgb)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _palette() -> dict[str, str]:
    """explorer.css's colour variables (`--name: #rrggbb`), as rgb() strings."""
    css = (ROOT / "lineage" / "server" / "explorer" / "explorer.css").read_text()
    found = dict(re.findall(r"--([\w-]+):\s*#([0-9a-fA-F]{6})", css))
    return {k: "rgb({}, {}, {})".format(*(int(v[i:i + 2], 16) for i in (0, 2, 4)))
            for k, v in found.items()}


def test_every_text_colour_of_the_palette_meets_wcag_aa_on_the_backgrounds_it_is_used_on(
        ) -> None:
    # the stylesheet's pairs, computed from its own variables (no browser needed): each
    # kind's and verdict's colour on its pale fill and on white, the muted and link colours
    # on the page and on cards, white on buttons, the header's text on its dark band
    colours = _palette()
    white, header = "rgb(255, 255, 255)", "rgb(36, 41, 47)"
    kinds = [k for k in colours if f"{k}-bg" in colours]
    assert {"dataset", "job", "feature", "breaking", "unknown", "compatible"} <= set(kinds)
    pairs = [(k, colours[k], f"{k}-bg", colours[f"{k}-bg"]) for k in kinds]
    pairs += [(k, colours[k], bg, colours[bg]) for k in kinds for bg in ("paper", "cluster-bg")]
    pairs += [(fg, colours[fg], bg, colours[bg]) for fg in ("ink", "muted", "accent", "focus")
              for bg in ("paper", "wash")]
    pairs += [("ink", colours["ink"], f"{k}-bg", colours[f"{k}-bg"]) for k in kinds]
    pairs += [("white", white, "accent", colours["accent"]),
              ("header text", white, "header", header),
              ("brand span", "rgb(208, 215, 222)", "header", header)]
    low = [(f, b, round(_contrast(fc, bc), 2)) for f, fc, b, bc in pairs
           if _contrast(fc, bc) < 4.5]
    assert not low, low


def test_text_on_every_view_has_readable_contrast(page: Any, served: Serving) -> None:
    # WCAG AA for normal text: 4.5:1, foreground against the nearest opaque background
    measure = """(sel) => [...document.querySelectorAll(sel)].slice(0, 20).map((e) => {
        const cs = getComputedStyle(e);
        let bg = null;
        for (let n = e; n && !bg; n = n.parentElement) {
            const c = getComputedStyle(n).backgroundColor;
            if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') bg = c;
        }
        const fg = e instanceof SVGElement ? cs.fill : cs.color;
        let svgBg = null;
        if (e instanceof SVGElement) {
            const rect = e.closest('.row, .box')?.querySelector('.row-bg, .band, .frame');
            svgBg = rect ? getComputedStyle(rect).fill : null;
        }
        return [sel, e.textContent.trim().slice(0, 30), fg, svgBg || bg || 'rgb(255, 255, 255)'];
    })"""
    checked: list[tuple[str, str, str, str]] = []
    sign_in(page, served, "#/impact/transactions.category?change=type%3Astring")
    page.wait_for_selector("#impact-canvas svg .box")
    for sel in (".verdict.breaking", ".verdict.compatible", ".badge", ".hint", ".muted", "a",
                "td", "th", ".edge-label", ".top nav a", ".brand",
                "#impact-canvas .box .kind", "#impact-canvas .row text",
                "#impact-canvas .box .name"):
        checked += page.evaluate(measure, sel)
    page.goto(f"{served.base}/#/impact/{CATEGORY}?change=nullable")
    page.wait_for_selector("#impact-results")
    checked += page.evaluate(measure, ".verdict")
    page.goto(f"{served.base}/#/graph/public.transactions?direction=both&depth=4")
    page.wait_for_selector("svg.graph .box")
    for sel in ("svg.graph .box .kind", "svg.graph .box .name", "svg.graph .row text",
                "svg.graph .toggle text", ".legend li"):
        checked += page.evaluate(measure, sel)
    assert len(checked) > 60
    low = [(c, round(_contrast(c[2], c[3]), 2)) for c in checked if _contrast(c[2], c[3]) < 4.5]
    assert not low, low


def test_what_breaks_colours_each_dependent_by_its_verdict_with_path_and_consumers(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/impact")
    page.type("#i-field", "categ")  # the columns matching are offered
    page.wait_for_selector(f'#i-columns option[value="{CATEGORY}"]', state="attached")
    assert page.locator("#i-columns option").count() == 2  # not the feature
    page.fill("#i-field", "transactions.category")
    page.select_option("#i-change", "type")
    page.fill("#i-arg", "string")
    page.click("text=Show what breaks")
    page.wait_for_selector("#impact-results")
    rows = page.locator("#impact-results table.impact tbody tr")
    # 11 dependents (4 reached through dataset-level lineage, column unknown), then the 3
    # consumers to tell
    assert rows.count() == 14
    feature = page.locator('tr.verdict-row[data-key="field:s3://ml-warehouse/'
                           'features.user_features.category_share"]')
    badge = feature.locator(".verdict")
    assert badge.inner_text().strip() == "✖ breaking"  # the word, not only the colour
    assert badge.evaluate("e => getComputedStyle(e).color") == COLOURS["breaking"]
    assert "aggregated from public.transactions.category" in feature.inner_text()
    assert "alerting-service" in feature.locator("td").nth(4).inner_text()  # who to tell
    path = feature.locator("ol.path").inner_text()
    assert "public.transactions.category" in path and "feeds" in path
    consumer = page.locator('tr.verdict-row[data-key="consumer:risk-rules-engine"]')
    assert "risk-team" in consumer.inner_text() and "breaking" in consumer.inner_text()

    # the picture paints the same verdicts on the boxes and columns along the paths
    page.wait_for_selector("#impact-canvas svg .box")
    row = page.locator('#impact-canvas .row[data-key="field:s3://ml-warehouse/'
                       'features.user_features.category_share"]')
    assert "verdict-breaking" in (row.get_attribute("class") or "")
    assert row.locator("text").text_content().startswith("✖")
    consumer_box = page.locator('#impact-canvas .box[data-key="consumer:risk-rules-engine"]')
    assert "✖ breaking" in consumer_box.locator(".kind").text_content()

    announce = page.locator("#announce")
    assert announce.is_disabled()
    why = page.locator("#announce-why").inner_text()
    assert "write scope" in why and "read token" in why
    assert "--change type:string --notify" in page.locator("#impact-results pre").inner_text()

    # bad input is said under the form, which stays to correct it
    page.goto(f"{served.base}/#/impact/{CATEGORY}?change=type%3Astrng")
    page.wait_for_selector("#impact-error")
    assert "did you mean 'string'" in page.locator("#impact-error").inner_text()
    assert page.input_value("#i-arg") == "strng"

    # a widening is compatible for every column-level dependent and unknown for what only
    # dataset-level lineage reaches (the scoring job reads the whole table); nothing breaks
    page.goto(f"{served.base}/#/impact/{CATEGORY}?change=type%3Aint64")
    page.wait_for_selector("#impact-results")
    verdicts = page.locator("#impact-results tr.verdict-row .verdict")
    assert verdicts.count() == 14
    assert {verdicts.nth(i).get_attribute("data-verdict")
            for i in range(verdicts.count())} == {"compatible", "unknown"}
    compatible = page.locator('#impact-results tr.verdict-row .verdict[data-verdict="compatible"]')
    assert compatible.first.evaluate("e => getComputedStyle(e).color") == COLOURS["compatible"]
    page.wait_for_selector("#impact-canvas svg .box")
    assert page.locator("#impact-canvas .box.verdict-breaking").count() == 0
    assert page.locator("#impact-canvas .box.verdict-compatible").count() >= 5


def test_the_training_check_uploads_a_csv_and_shows_the_verdict_table(
        page: Any, served: Serving, tmp_path: Path) -> None:
    labels = tmp_path / "labels_exported.csv"
    labels.write_text("transaction_id,is_fraud\n" + "".join(
        f"{t},{str(v).lower()}\n" for t, v in zip(IDS, [True, False, True, True, False, True],
                                                  strict=True)))
    sign_in(page, served, "#/guard")
    page.set_input_files("#t-table", str(labels))
    page.fill("#t-key", "transaction_id")
    page.fill("#t-label", "is_fraud")
    page.fill("#t-dataset", "fraud.training_labels")
    page.fill("#t-model", "fraud@3")
    page.click("button:text('Check')")
    page.wait_for_selector("#guard-report")
    assert page.locator("#guard-report [data-verdict]").get_attribute("data-verdict") == \
        "blocked"
    counts = page.locator("table.guard-counts").inner_text()
    # t1 is what the disputes system observed; the other five only fraud@2 ever said
    assert re.search(r"ai_only\s+5\s+block", counts), counts
    assert re.search(r"ground_truth\s+1\s+allow", counts), counts


def test_a_view_that_answers_late_never_draws_over_the_next_one(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/guard")
    held: list[Any] = []
    page.route("**/api/v1/nodes?kind=dataset*", lambda route: held.append(route))  # home's call
    page.goto(f"{served.base}/#/")
    page.wait_for_function("() => document.querySelector('main .loading') !== null")
    for _ in range(100):  # the route handler runs when Playwright next reads its events
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    page.goto(f"{served.base}/#/impact/{CATEGORY}?change=drop")
    page.wait_for_selector("#impact-results")
    held[0].continue_()  # the home page's answer arrives now
    page.wait_for_timeout(500)
    text = page.locator("main").inner_text()
    assert "Explore the lineage" not in text and "What breaks if a column changes?" in text


def test_a_server_without_authentication_opens_the_explorer_without_a_token(
        page: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'open.db'}"
    _seed(url)
    with lineage_serve(url, "--no-auth") as base:
        page.goto(f"{base}/#/node/transactions.category")
        page.wait_for_selector("h1:text('public.transactions.category')")
        assert page.locator("form.signin").count() == 0
        assert page.evaluate("sessionStorage.length") == 0
        assert "without authentication" in page.locator("#open-notice").inner_text()


# ------------------------------------------------------------------ the routes (no browser)


def test_the_page_is_served_at_the_root_with_only_its_own_origin_allowed(
        served: Serving) -> None:
    page = httpx.get(served.base + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    # everything it loads is local: no http(s) URL in the page or its modules
    assets = ROOT / "lineage" / "server" / "explorer"
    shipped = sorted(p.name for p in assets.iterdir())
    assert shipped == ["api.js", "app.js", "explorer.css", "graph.js", "index.html",
                       "layout.js", "ui.js"]
    for name in shipped:
        served_text = httpx.get(f"{served.base}/explorer/{name}").text
        assert served_text == (assets / name).read_text()
        assert not re.search(r"(src|href|url|import)[^\n]*https?://", served_text), name
    assert httpx.get(f"{served.base}/explorer/nope.js").status_code == 404


def test_schema_diff_and_consumers_routes_answer_readers_only(store_url: str) -> None:
    secrets = _seed(store_url)
    with lineage_serve(store_url) as base:
        read = {"Authorization": f"Bearer {secrets['reader']}"}
        write = {"Authorization": f"Bearer {secrets['writer']}"}
        params = {"old": "user_features@2026-01", "new": "user_features@2026-03"}
        assert httpx.get(f"{base}/api/v1/schema-diff", params=params).status_code == 401
        assert httpx.get(f"{base}/api/v1/schema-diff", params=params,
                         headers=write).status_code == 403
        diff = httpx.get(f"{base}/api/v1/schema-diff", params=params, headers=read).json()
        assert diff["old"].endswith("features.user_features@2026-01") and diff["changes"]

        schema = httpx.get(f"{base}/api/v1/schema/transactions@2026-03", headers=read).json()
        assert {"name": "category", "type": "int32"}.items() <= next(
            f for f in schema["fields"] if f["name"] == "category").items()
        missing = httpx.get(f"{base}/api/v1/schema/transactions@1999", headers=read)
        assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
        bad = httpx.get(f"{base}/api/v1/schema-diff", headers=read,
                        params={**params, "rename": "nonsense"})
        assert bad.status_code == 400 and "OLD=NEW" in bad.json()["message"]

        assert httpx.get(f"{base}/api/v1/whoami", headers=read).json() == {
            "name": "explorer", "scopes": ["read"], "origins": []}
        assert httpx.get(f"{base}/api/v1/whoami").status_code == 401
        found = httpx.get(f"{base}/api/v1/consumers", params={"of": "transactions.category"},
                          headers=read).json()["consumers"]
        assert [c["consumer"] for c in found] == ["alerting-service", "fraud-dashboard",
                                                  "risk-rules-engine"] or len(found) == 3
        alerting = next(c for c in found if c["consumer"] == "alerting-service")
        assert alerting["contracts"] and alerting["path"][0]["key"] == CATEGORY
        assert all("secret" not in ch for c in found for ch in c["channels"])


def _seed_runs_and_checks(url: str) -> str:
    """The jaffle_shop dbt project (tests as quality checks, run_results as runs), three
    OpenLineage run events (a parent run, a completed and a failed child) and one
    `dataQualityAssertions` facet on an input; a read token."""
    from lineage import openlineage
    from lineage.dbt import import_dbt

    with lineage.connect(url) as store:
        import_dbt(store, JAFFLE)
        openlineage.ingest(store, [(EVENTS / f"run_{s}.json").read_text()
                                   for s in ("start", "complete", "fail")])
        openlineage.ingest(store, {
            "eventType": "COMPLETE", "eventTime": "2024-05-02T03:00:00Z",
            "producer": "https://example.com/checker", "schemaURL":
                "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "0190d6f4-3c1e-7a5e-9b1e-bbbbbbbbbbbb"},
            "job": {"namespace": "airflow", "name": "check_order_facts"},
            "inputs": [{"namespace": "postgres://db.prod:5432", "name": "analytics.order_facts",
                        "inputFacets": {"dataQualityAssertions": {
                            "_producer": "https://example.com/checker", "_schemaURL":
                                "https://openlineage.io/spec/facets/1-0-1/"
                                "DataQualityAssertionsDatasetFacet.json",
                            "assertions": [{"assertion": "not_null", "success": False,
                                            "column": "order_id"}]}}}]})
        return auth.create_token(store, "explorer", ["read"])[1]


def test_quality_check_and_run_routes_read_dbt_and_openlineage_records(store_url: str) -> None:
    secret = _seed_runs_and_checks(store_url)
    with lineage_serve(store_url) as base:
        read = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{base}/api/v1/runs/daily_etl").status_code == 401

        # dbt keeps a column's test on the column: the dataset's answer includes them
        orders = httpx.get(f"{base}/api/v1/quality-checks/jaffle.main.orders",
                           headers=read).json()
        assert orders["node"] == "dataset:duckdb/jaffle.main.orders" and orders["failing"] == 0
        assert ("unique", "order_id", True, "dbt") in {
            (c["assertion"], c["column"], c["success"], c["source"]) for c in orders["checks"]}
        column = httpx.get(f"{base}/api/v1/quality-checks/jaffle.main.orders.order_id",
                           headers=read).json()
        assert {c["assertion"] for c in column["checks"]} == {"not_null", "unique"}
        # an OpenLineage assertion: on the dataset and its column, failing ones first
        facts = httpx.get(f"{base}/api/v1/quality-checks/analytics.order_facts",
                          headers=read).json()
        assert facts["failing"] == 1 and facts["checks"][0]["success"] is False
        assert facts["checks"][0]["source"] == "openlineage"
        missing = httpx.get(f"{base}/api/v1/quality-checks/no.such.table", headers=read)
        assert missing.status_code == 404 and missing.json()["error"] == "NotFound"

        # a job's runs, with state, times, and what each read and wrote (versions too)
        job = httpx.get(f"{base}/api/v1/runs/job:airflow/daily_etl.build_order_facts",
                        headers=read).json()
        [run] = job["runs"]
        assert (run["state"], run["started_at"], run["ended_at"], run["role"]) == (
            "COMPLETE", "2024-05-01T02:00:00.000Z", "2024-05-01T02:10:00.000Z", "run_of")
        assert "dataset_version:postgres://db.prod:5432/public.orders_raw@v42" in {
            i["key"] for i in run["inputs"]}
        assert "dataset_version:postgres://db.prod:5432/analytics.order_facts@2024-05-01" in {
            o["key"] for o in run["outputs"]}
        failed = httpx.get(f"{base}/api/v1/runs/daily_etl.build_refunds", headers=read).json()
        assert [r["state"] for r in failed["runs"]] == ["FAIL"]
        # a dataset: the runs that wrote it and those that read it, newest first
        facts_runs = httpx.get(f"{base}/api/v1/runs/analytics.order_facts",
                               headers=read).json()
        assert [(r["role"], r["job"]) for r in facts_runs["runs"]] == [
            ("read", "job:airflow/check_order_facts"),
            ("wrote", "job:airflow/daily_etl.build_order_facts")]
        # dbt runs, and an honest cut
        dbt = httpx.get(f"{base}/api/v1/runs/jaffle.main.orders", headers=read,
                        params={"limit": 1}).json()
        assert dbt["total"] == 2 and len(dbt["runs"]) == 1 and dbt["truncated"] is True
        assert dbt["runs"][0]["state"] == "COMPLETE" and dbt["runs"][0]["started_at"]
        assert httpx.get(f"{base}/api/v1/runs/jaffle.main.orders", headers=read,
                         params={"limit": 0}).status_code == 400


@pytest.fixture(scope="module")
def served_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """A dbt project and OpenLineage runs with quality checks (not the fraud example)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('explorer-runs') / 'lineage.db'}"
    secret = _seed_runs_and_checks(url)
    with lineage_serve(url) as base:
        yield Serving(base, {"reader": secret})


def test_node_pages_show_quality_checks_and_runs_with_what_they_read_and_wrote(
        page: Any, served_runs: Serving) -> None:
    sign_in(page, served_runs, "#/node/analytics.order_facts")
    page.wait_for_selector("#quality-checks table.checks")
    checks = page.locator("#quality-checks").inner_text()
    assert "1 failing" in checks and "not_null" in checks and "order_id" in checks
    assert page.locator("#quality-checks [data-result=failed]").count() == 1
    assert "quality_checks" not in page.locator("section.card").first.inner_text()
    page.wait_for_selector("#runs table.runs")
    runs = page.locator("#runs table.runs tbody tr")
    assert runs.count() == 2 and "null" not in page.locator("#runs").inner_text()
    wrote = runs.nth(1).inner_text()
    # the version it read and the version it wrote, rather than the bare datasets
    assert "complete" in wrote and "public.orders_raw@v42" in wrote
    assert "analytics.order_facts@2024-05-01" in wrote and "10 min" in wrote  # 02:00 to 02:10

    page.goto(f"{served_runs.base}/#/node/job:airflow/daily_etl.build_refunds")
    page.wait_for_selector("#runs table.runs")
    state = page.locator("#runs table.runs tbody tr .verdict")
    assert state.inner_text() == "fail" and "breaking" in (state.get_attribute("class") or "")

    page.goto(f"{served_runs.base}/#/node/jaffle.main.orders.order_id")
    page.wait_for_selector("#quality-checks table.checks")
    assert page.locator("#quality-checks [data-result=passed]").count() == 2
    assert "dbt test" in page.locator("#quality-checks").inner_text()


def test_a_graph_larger_than_its_limit_answers_the_nearest_nodes_and_counts_the_rest(
        store_url: str) -> None:
    secrets = _seed(store_url)
    with lineage_serve(store_url) as base:
        read = {"Authorization": f"Bearer {secrets['reader']}"}
        asked = {"node": "public.transactions", "direction": "both", "depth": 4}
        whole = httpx.get(f"{base}/api/v1/lineage/graph", params=asked, headers=read).json()
        assert whole["total"] == len(whole["nodes"]) == 28 and whole["hidden"] == 0
        cut = httpx.get(f"{base}/api/v1/lineage/graph", params={**asked, "limit": 11},
                        headers=read).json()
        kept = {n["key"] for n in cut["nodes"]}
        assert (len(kept), cut["total"], cut["hidden"], cut["truncated"]) == (11, 28, 17, True)
        assert cut["start"]["key"] in kept
        # the nearest are kept: the 10 nodes one step away (6 columns, 3 versions, the job
        # reading it) are drawn before any two away
        near = {e["dst"] for e in whole["edges"] if e["src"] == cut["start"]["key"]} | {
            e["src"] for e in whole["edges"] if e["dst"] == cut["start"]["key"]}
        assert len(near) == 10 and near <= kept
        assert all(e["src"] in kept and e["dst"] in kept for e in cut["edges"])
        # every hidden node is counted once, on the drawn node its path leaves from
        assert sum(n.get("hidden_beyond", 0) for n in cut["nodes"]) == 17
        assert httpx.get(f"{base}/api/v1/lineage/graph", params={**asked, "limit": 0},
                         headers=read).status_code == 400


def test_a_cut_graph_says_how_many_nodes_are_hidden_and_how_to_narrow_it(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/graph/public.transactions?direction=both&depth=4&limit=11")
    page.wait_for_selector("svg.graph .box")
    notice = page.locator("#graph-cut").inner_text()
    assert "17 of 28 nodes are not drawn" in notice
    assert "+N hidden" in notice and "depth 3" in notice and "downstream only" in notice
    assert "17 more nodes not drawn" in page.locator("#graph-stats").inner_text()
    marked = page.locator("svg.graph .box .kind", has_text="hidden")
    assert marked.count() >= 1
    assert sum(int(m) for m in re.findall(r"\+(\d+) hidden", " ".join(
        marked.all_text_contents()))) == 17
    page.click("#graph-cut a:text('depth 3')")
    page.wait_for_function("() => location.hash.includes('depth=3')")
    assert "limit=11" in page.evaluate("location.hash")


def test_the_graph_groups_by_job_or_namespace_and_each_group_opens_and_folds_from_the_keyboard(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/graph/public.transactions?direction=both&depth=4&group=job")
    page.wait_for_selector("svg.graph .box.kind-cluster")
    # a job folded with the dataset it writes: the rolling-spend job and user_features
    job = page.locator("svg.graph .box.kind-cluster", has_text="features.rolling_spend_7d")
    assert "job + 1 it writes" in (job.locator(".kind").text_content() or "")
    assert page.locator('svg.graph .box[data-key$="features.user_features"]').count() == 0
    assert page.locator("#groups li").count() == 2

    # Tab reaches the group's box; Enter opens it, the focus stays on what it held
    page.focus("svg.graph")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('.box')?.classList.contains("
                         "'kind-cluster')"):
            break
    assert page.evaluate("document.activeElement.closest('.box').textContent").find(
        "features.rolling_spend_7d") >= 0
    outline = page.evaluate("getComputedStyle(document.activeElement.querySelector('.kind'))"
                            ".textDecorationLine")
    assert outline == "underline"  # a visible focus, not the colour alone
    frame = page.evaluate("getComputedStyle(document.activeElement.closest('.box')"
                          ".querySelector('.frame')).stroke")
    assert frame == "rgb(5, 80, 174)"  # and the box outlined in the focus colour
    page.keyboard.press("Enter")
    page.wait_for_selector('svg.graph .box[data-key$="features.user_features"]')
    assert page.evaluate("document.activeElement.closest('.box').dataset.key").startswith(
        "dataset:") or page.evaluate("document.activeElement.closest('.box').dataset.key"
                                     ).startswith("job:")
    # the side list folds it again, and keeps the keyboard on its button
    button = page.locator("#groups button[aria-pressed=true]")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("svg.graph .box.kind-cluster >> text=features.rolling_spend_7d")
    assert page.evaluate("document.activeElement.dataset.group || ''").startswith("group:job:")

    page.select_option("#g-group", "namespace")
    page.wait_for_function("() => location.hash.includes('group=namespace')")
    page.wait_for_selector("#groups li")
    assert page.locator("svg.graph .box.kind-cluster").count() >= 1
    names = page.locator("#groups li").all_inner_texts()
    assert any("s3://ml-warehouse (2)" in n for n in names), names


def test_a_newcomer_reads_neighbours_properties_and_the_start_page_in_words(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    page.wait_for_selector("main h1:text('Explore the lineage')")
    headings = page.locator("main section.card h2").all_inner_texts()
    assert "Models (1)" in headings and any(h.startswith("Jobs (") for h in headings), headings

    page.goto(f"{served.base}/#/node/fraud@3")
    page.wait_for_selector("h1:text('fraud@3')")
    props = page.locator("section.card").first.inner_text()
    assert "examples/fraud/manifest.yaml" in props and '["' not in props  # not JSON
    neighbours = page.locator("section.card", has_text="Neighbours").inner_text()
    assert "↑ Trained on" in neighbours and "↑ Uses features" in neighbours
    assert "↓ Version of" in neighbours and "(from)" not in neighbours

    # the consumers to tell fit their card: the path wraps instead of running off
    page.goto(f"{served.base}/#/impact/transactions.category?change=type%3Astring")
    page.wait_for_selector("table.impact.consumers")
    overflow = page.evaluate("""() => {
        const card = document.querySelector('#impact-results');
        const t = document.querySelector('table.impact.consumers');
        return t.getBoundingClientRect().right - card.getBoundingClientRect().right;
    }""")
    assert overflow <= 0, overflow


def test_a_large_picture_pans_and_zooms_as_one_image_and_is_redrawn_sharp_when_it_stops(
        page: Any, served: Serving) -> None:
    sign_in(page, served)
    page.wait_for_selector("main h1:text('Explore the lineage')")
    moved = page.evaluate("""async () => {
        const { GraphView } = await import('./explorer/graph.js');
        const nodes = [{key: 'job:x/j', kind: 'job', name: 'j'}];
        const edges = [];
        for (let i = 0; i < 600; i++) {
            nodes.push({key: `dataset:ns://h/d${i}`, kind: 'dataset', name: `d${i}`});
            edges.push({src: `dataset:ns://h/d${i}`, dst: 'job:x/j', kind: 'read',
                        properties: {}});
        }
        const div = document.createElement('div');
        div.className = 'canvas';
        document.querySelector('main').append(div);
        const view = new GraphView(div, {start: nodes[0], nodes, edges}, {grouping: 'none'});
        const svg = div.querySelector('svg');
        const before = svg.getAttribute('viewBox');
        view.zoom(0.8);
        view.pan(40, 20);
        const box = svg.querySelector('.box .frame');
        // relative to the canvas: the page around it may still move
        const rect = (b) => {
            const r = b.getBoundingClientRect(), c = div.getBoundingClientRect();
            return [r.left - c.left, r.top - c.top, r.width];
        };
        const during = {viewBox: svg.getAttribute('viewBox'), transform: svg.style.transform,
                        box: rect(box)};
        await new Promise((r) => setTimeout(r, 400));
        const after = {viewBox: svg.getAttribute('viewBox'), transform: svg.style.transform,
                       box: rect(box)};
        // a small picture moves its viewBox at once
        const small = document.createElement('div');
        small.className = 'canvas';
        document.querySelector('main').append(small);
        const little = new GraphView(small, {start: nodes[0], nodes: nodes.slice(0, 3),
                                             edges: edges.slice(0, 2)});
        const was = small.querySelector('svg').getAttribute('viewBox');
        little.pan(40, 0);
        return {before, during, after, view: view.view, boxes: view.stats.boxes,
                smallMoved: small.querySelector('svg').getAttribute('viewBox') !== was,
                smallTransform: small.querySelector('svg').style.transform};
    }""")
    assert moved["boxes"] == 601
    # during the gesture: the drawing is not redone, one transform moves it
    assert moved["during"]["viewBox"] == moved["before"]
    assert "scale(1.25" in moved["during"]["transform"]
    # once it stops: drawn at the new view, no transform left
    assert moved["after"]["transform"] == ""
    v = moved["view"]
    assert moved["after"]["viewBox"] == f"{v['x']} {v['y']} {v['w']} {v['h']}"
    assert moved["smallMoved"] and moved["smallTransform"] == ""
    # the image moved during the gesture is where the sharp drawing then puts it
    assert all(abs(a - b) < 1.5 for a, b in zip(moved["during"]["box"], moved["after"]["box"],
                                                 strict=True)), moved


def test_arrow_keys_move_the_focus_along_the_lineage_from_box_to_box(
        page: Any, served: Serving) -> None:
    sign_in(page, served, "#/graph/public.transactions?direction=both&depth=4&group=none")
    page.wait_for_selector("svg.graph .box")
    focused = "document.activeElement.closest('.box')?.dataset.key"
    start = "dataset:postgres://db.prod:5432/public.transactions"
    page.focus(f'svg.graph .box[data-key="{start}"] .head')
    page.keyboard.press("ArrowRight")
    fed = page.evaluate(focused)
    assert fed in ("job:airflow://scheduler.prod/features.rolling_spend_7d",
                   "dataset:s3://ml-warehouse/features.user_features"), fed
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(focused) == start
    # within a column: down then up comes back, and stays in the column
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    here = page.evaluate(focused)
    x = page.evaluate("document.activeElement.closest('.box').getBoundingClientRect().left")
    page.keyboard.press("ArrowDown")
    below = page.evaluate(focused)
    assert below != here  # two steps right is the column of the five features
    assert abs(page.evaluate("document.activeElement.closest('.box')"
                             ".getBoundingClientRect().left") - x) < 2
    page.keyboard.press("ArrowUp")
    assert page.evaluate(focused) == here
    # Enter on a focused box selects it, as a click does
    page.keyboard.press("Enter")
    assert here in page.locator("aside.selection").inner_text()
