// The lineage graph around a node: datasets drawn as boxes holding their columns
// (expandable), other kinds as boxes of their own colour and label, edges in the direction
// data flows (left to right), styled by level. Large neighbourhoods stay usable: columns
// start collapsed, and a layer with too many boxes is grouped by kind and namespace into
// clusters that open on demand. Pan and zoom move the SVG viewBox (no re-layout).

import { layout, rank } from "./layout.js";
import { el, KIND_LABEL, shortName, svg } from "./ui.js";

const ROW_H = 20;
const HEAD_H = 40;
const FOOT_H = 22;
const NODE_H = 40;
const CHAR_W = 7;
/** the smallest scale a whole picture opens at (its 13px names at 8px: still legible) */
const MIN_SCALE = 0.6;
/** the scale a picture too large to open whole opens at, around its start: names at 11px */
const START_SCALE = 0.85;
/** a picture of more boxes than this folds each layer holding more than LAYER_CAP of them
 * into groups by kind and namespace */
export const CLUSTER_ABOVE = 200;
export const LAYER_CAP = 40;
/** boxes and rows above which pan and zoom move a composited image (see `apply`) */
const LARGE_ELEMENTS = 300;
/** a gesture's pause after which the picture is drawn sharp again */
const IDLE_MS = 150;
/** columns start expanded when the picture has at most this many of them */
const EXPAND_ROWS = 160;

/** Edges recorded between whole datasets or jobs (no column named). */
const DATASET_LEVEL = new Set(["read", "wrote", "trained_on"]);
const MARK = { breaking: "✖", unknown: "?", compatible: "✔" };

/**
 * How an edge is drawn: "column" (a column-level derivation, or an edge between single
 * assets: features, models, consumers), "dataset" (recorded between whole datasets or
 * jobs), or "unknown" (dataset-level lineage, column unknown).
 *
 * HOOK for dataset-level impact (branch `impact`): the server marks an edge it reached only
 * through a dataset read as a whole with `properties.column_unknown` (and
 * `properties.through`, the dataset), and such a node with `column_unknown`; both are drawn
 * dashed in amber and say so in their tooltip. Any other marker belongs here.
 */
export function edgeLevel(edge, kindOf) {
  if (edge.properties && edge.properties.column_unknown) return "unknown";
  if (DATASET_LEVEL.has(edge.kind)) return "dataset";
  const s = kindOf(edge.src), d = kindOf(edge.dst);
  if (s === "field" || d === "field" || s === "feature" || d === "feature") return "column";
  if (["dataset", "dataset_version", "job", "run"].includes(s) ||
      ["dataset", "dataset_version", "job", "run"].includes(d)) return "dataset";
  return "column";
}

export const LEVEL_LABEL = {
  column: "column-level (or between single assets)",
  dataset: "dataset-level (whole table or job)",
  unknown: "dataset-level lineage, column unknown",
};

function afterLastDot(text) {
  const i = text.lastIndexOf(".");
  return i < 0 ? text : text.slice(i + 1);
}

function namespaceOf(key) {
  const body = key.slice(key.indexOf(":") + 1);
  const i = body.indexOf("://");
  if (i < 0) return "";
  const slash = body.indexOf("/", i + 3);
  return slash < 0 ? body : body.slice(0, slash);
}

/** Graph JSON (the API's) -> boxes ("units") and links between node keys. */
export function buildModel(data) {
  const nodes = new Map(data.nodes.map((n) => [n.key, n]));
  const kindOf = (k) => (nodes.get(k) || { kind: k.slice(0, k.indexOf(":")) }).kind;
  const units = new Map();
  const unitOf = new Map();
  const fieldDataset = new Map();
  const versionDataset = new Map();
  for (const e of data.edges) {
    if (e.kind === "has_field") fieldDataset.set(e.dst, e.src);
    if (e.kind === "version_of" && kindOf(e.src) === "dataset_version") versionDataset.set(e.src, e.dst);
  }
  const datasetUnit = (key, name) => {
    if (!units.has(key)) {
      const ref = nodes.get(key);
      units.set(key, { key, kind: "dataset", name: ref ? ref.name : name, fields: [],
                       versions: [], synthetic: !ref, unknown: !!(ref && ref.column_unknown) });
      unitOf.set(key, key);
    }
    return units.get(key);
  };
  for (const n of data.nodes) if (n.kind === "dataset") datasetUnit(n.key, n.name);
  for (const n of data.nodes) {
    if (n.kind === "field") {
      // the dataset holding it: its has_field edge, else its key minus the column
      let ds = fieldDataset.get(n.key);
      if (!ds) ds = "dataset:" + n.key.slice(6, n.key.lastIndexOf("."));
      const unit = datasetUnit(ds, shortName(ds));
      const prefix = unit.name + ".";
      unit.fields.push({ key: n.key, column: n.name.startsWith(prefix) ? n.name.slice(prefix.length) : afterLastDot(n.name),
                         unknown: !!n.column_unknown });
      unitOf.set(n.key, ds);
    } else if (n.kind === "dataset_version" && versionDataset.has(n.key) && units.has(versionDataset.get(n.key))) {
      units.get(versionDataset.get(n.key)).versions.push(n.key);
      unitOf.set(n.key, versionDataset.get(n.key));
    } else if (n.kind !== "dataset") {
      units.set(n.key, { key: n.key, kind: n.kind, name: n.name, unknown: !!n.column_unknown });
      unitOf.set(n.key, n.key);
    }
  }
  for (const u of units.values()) if (u.fields) u.fields.sort((a, b) => a.column.localeCompare(b.column));
  // what the server left out past each node (a capped neighbourhood), counted on its box
  for (const n of data.nodes) {
    if (!n.hidden_beyond || !unitOf.has(n.key)) continue;
    const u = units.get(unitOf.get(n.key));
    u.hidden = (u.hidden || 0) + n.hidden_beyond;
  }
  const links = [];
  for (const e of data.edges) {
    if (e.kind === "has_field" && unitOf.get(e.dst) === e.src) continue;
    if (e.kind === "version_of" && unitOf.get(e.src) === e.dst) continue;
    const su = unitOf.get(e.src), du = unitOf.get(e.dst);
    if (!su || !du || su === du) continue;
    links.push({ ...e, su, du, level: edgeLevel(e, kindOf) });
  }
  return { start: data.start, units, unitOf, links, kindOf };
}

function textWidth(text, min, max) {
  // names are drawn in 13px semi-bold: about 7.8px a character
  return Math.max(min, Math.min(max, Math.ceil(text.length * 7.8) + 28));
}

/** The drawing: owns the SVG, the layout state (what is expanded) and pan/zoom. */
export class GraphView {
  /** `verdicts` (node key -> breaking / unknown / compatible) paints each box and column
   * with its verdict, as a word and a colour. */
  constructor(container, data, { onSelect, onOpen, onRender, verdicts, fold = true, grouping = "auto" } = {}) {
    this.container = container;
    this.fold = fold;
    /** "auto" (crowded layers by kind and namespace), "namespace", "job" or "none" */
    this.grouping = fold ? grouping : "none";
    this.onRender = onRender || (() => {});
    this.model = buildModel(data);
    this.verdicts = verdicts || new Map();
    this.onSelect = onSelect || (() => {});
    this.onOpen = onOpen || (() => {});
    const rows = [...this.model.units.values()].reduce((t, u) => t + (u.fields ? u.fields.length : 0), 0);
    this.expanded = new Set();
    if (rows <= EXPAND_ROWS) for (const u of this.model.units.values()) if (u.fields) this.expanded.add(u.key);
    // the start's own columns are always shown
    const own = this.model.units.get(this.model.unitOf.get(this.model.start.key));
    if (own && own.fields && own.fields.length <= EXPAND_ROWS) this.expanded.add(own.key);
    this.openClusters = new Set();
    this.render();
  }

  setAllExpanded(on) {
    this.expanded = new Set(on ? [...this.model.units.values()].filter((u) => u.fields).map((u) => u.key) : []);
    this.render();
  }

  toggle(key) {
    if (this.expanded.has(key)) this.expanded.delete(key); else this.expanded.add(key);
    this.render(key);
  }

  /** Boxes after clustering: a crowded layer's boxes grouped by kind and namespace. */
  visibleUnits() {
    if (this.grouping === "namespace" || this.grouping === "job") return this.groupedUnits();
    this.groupList = [];
    if (this.grouping === "none") return { clusterOf: new Map(), clusters: new Map() };
    const { units, links, start } = this.model;
    const ids = [...units.keys()];
    const pairs = links.map((l) => [l.su, l.du]);
    const { rank: r } = rank(ids, pairs);
    const byLayer = new Map();
    for (const id of ids) (byLayer.get(r.get(id)) || byLayer.set(r.get(id), []).get(r.get(id))).push(id);
    const clusterOf = new Map();
    const clusters = new Map();
    const startUnit = this.model.unitOf.get(start.key);
    for (const [layer, members] of byLayer) {
      if (!this.fold || ids.length <= CLUSTER_ABOVE || members.length <= LAYER_CAP) continue;
      const groups = new Map();
      for (const id of members) {
        const u = units.get(id);
        const g = `${u.kind}\u0000${namespaceOf(id)}`;
        (groups.get(g) || groups.set(g, []).get(g)).push(id);
      }
      for (const [g, ids2] of groups) {
        const cid = `cluster:${layer}:${g}`;
        if (ids2.length < 2) continue;
        const [kind, ns] = g.split("\u0000");
        const open = this.openClusters.has(cid);
        this.groupList.push({ key: cid, label: `${KIND_LABEL[kind] || kind} in ${ns || "(no namespace)"}, column ${layer + 1} of the picture`,
                              size: ids2.length, open });
        if (open) continue;
        const grouped = ids2.filter((id) => id !== startUnit);
        clusters.set(cid, { key: cid, kind: "cluster", of: kind, namespace: ns, members: grouped });
        for (const id of grouped) clusterOf.set(id, cid);
      }
    }
    return { clusterOf, clusters };
  }

  /** Every box grouped by its namespace, or by the job writing it (a job with its runs and
   * the datasets it writes); the start's box is never grouped, nor a group of one. */
  groupedUnits() {
    const { units, links, start, unitOf } = this.model;
    const startUnit = unitOf.get(start.key);
    const groupOf = new Map();
    if (this.grouping === "namespace") {
      for (const id of units.keys()) groupOf.set(id, namespaceOf(id) || "(no namespace)");
    } else {
      const jobOfRun = new Map();
      for (const l of links) if (l.kind === "run_of") jobOfRun.set(l.du, l.su);
      const owner = (u) => (units.get(u).kind === "job" ? u : units.get(u).kind === "run" ? jobOfRun.get(u) : undefined);
      for (const id of units.keys()) if (owner(id)) groupOf.set(id, owner(id));
      for (const l of [...links].sort((a, b) => (a.su < b.su ? -1 : a.su > b.su ? 1 : 0))) {
        const job = l.kind === "wrote" ? owner(l.su) : undefined;
        if (job && !groupOf.has(l.du) && units.get(l.du).kind !== "job") groupOf.set(l.du, job);
      }
    }
    const members = new Map();
    for (const [id, g] of groupOf) if (id !== startUnit) (members.get(g) || members.set(g, []).get(g)).push(id);
    const clusterOf = new Map();
    const clusters = new Map();
    this.groupList = [];
    for (const [g, ids] of [...members].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))) {
      if (ids.length < 2) continue;
      const cid = `group:${this.grouping}:${g}`;
      const kinds = new Set(ids.map((id) => units.get(id).kind));
      const label = this.grouping === "job" ? (units.get(g) ? units.get(g).name : shortName(g)) : g;
      const open = this.openClusters.has(cid);
      this.groupList.push({ key: cid, label, size: ids.length, open });
      if (open) continue;
      clusters.set(cid, { key: cid, kind: "cluster", of: kinds.size === 1 ? [...kinds][0] : "node",
                          namespace: label, by: this.grouping, members: ids });
      for (const id of ids) clusterOf.set(id, cid);
    }
    return { clusterOf, clusters };
  }

  /** Group the boxes another way: "auto", "namespace", "job" or "none"; groups start folded. */
  setGrouping(mode) {
    this.grouping = mode;
    this.openClusters = new Set();
    this.render();
  }

  /** Open a folded group, or fold an open one again. */
  toggleGroup(key) {
    if (this.openClusters.has(key)) this.openClusters.delete(key); else this.openClusters.add(key);
    this.render();
  }

  /** The small upper-case line over a box's name: its kind, and what else it carries. */
  kindLine(box) {
    if (box.kind === "cluster") {
      if (box.by === "job") return `job + ${box.members.length - 1} it writes · Enter or click to show`;
      const what = box.of === "node" ? "boxes" : KIND_LABEL[box.of] || box.of;
      return `${box.members.length} × ${what} · Enter or click to show`;
    }
    const verdict = this.verdictOf(box);
    return (KIND_LABEL[box.kind] || box.kind) + (box.unknown ? " · column unknown" : "") +
      (box.hidden ? ` · +${box.hidden} hidden` : "") +
      (box.versions && box.versions.length ? ` · ${box.versions.length} versions` : "") +
      (verdict ? ` · ${MARK[verdict]} ${verdict}` : "");
  }

  size(unit) {
    const s = this.nameSize(unit);
    // 10px bold upper case: about 7.2px a character
    return { w: Math.min(440, Math.max(s.w, Math.ceil(this.kindLine(unit).length * 7.2) + 24)), h: s.h };
  }

  nameSize(unit) {
    if (unit.kind === "cluster") return { w: textWidth(clusterName(unit), 170, 420), h: 46 };
    if (unit.fields) {
      const longest = Math.max(unit.name.length, ...unit.fields.map((f) => f.column.length + 4));
      const rows = this.expanded.has(unit.key) ? unit.fields.length : 0;
      return { w: textWidth("x".repeat(longest), 170, 320), h: HEAD_H + rows * ROW_H + (unit.fields.length ? FOOT_H : 0) };
    }
    return { w: textWidth(unit.name, 130, 300), h: NODE_H };
  }

  render(focusKey) {
    const { units, links, start } = this.model;
    const { clusterOf, clusters } = this.visibleUnits();
    const boxOf = (u) => clusterOf.get(u) || u;
    const boxes = new Map();
    for (const [k, u] of units) if (!clusterOf.has(k)) boxes.set(k, u);
    for (const [k, c] of clusters) boxes.set(k, c);
    const pairSet = new Map();
    for (const l of links) {
      const a = boxOf(l.su), b = boxOf(l.du);
      if (a !== b) pairSet.set(a + "\u0000" + b, [a, b]);
    }
    const sizes = new Map([...boxes].map(([k, b]) => [k, this.size(b)]));
    const t0 = performance.now();
    const placed = layout([...boxes.keys()], [...pairSet.values()], (id) => sizes.get(id));
    this.layoutMs = performance.now() - t0;
    this.stats = { nodes: this.model.units.size, boxes: boxes.size, links: links.length,
                   clusters: clusters.size, layers: placed.layers };

    const root = svg("svg", { class: "graph", role: "group", tabindex: "0",
                              "aria-label": "Lineage graph: arrows and + / - keys pan and zoom, Tab moves between boxes" });
    root.append(defs());
    const edgeLayer = svg("g", { class: "edges" });
    const nodeLayer = svg("g", { class: "nodes" });
    root.append(edgeLayer, nodeLayer);
    this.rowEls = new Map();
    this.linkEls = [];

    const port = (nodeKey, unitKey, side) => {
      const box = boxOf(unitKey);
      const p = placed.pos.get(box);
      const x = side === "out" ? p.x + p.w : p.x;
      const unit = boxes.get(box);
      if (unit.fields && this.expanded.has(box)) {
        const i = unit.fields.findIndex((f) => f.key === nodeKey);
        if (i >= 0) return { x, y: p.y + HEAD_H + i * ROW_H + ROW_H / 2 };
      }
      return { x, y: p.y + (unit.fields ? HEAD_H / 2 : p.h / 2) };
    };
    const drawn = new Set();
    for (const l of links) {
      const a = boxOf(l.su), b = boxOf(l.du);
      if (a === b) continue;
      const from = port(l.src, l.su, "out"), to = port(l.dst, l.du, "in");
      // links collapsed onto the same two ends are drawn once
      const sig = `${Math.round(from.x)},${Math.round(from.y)},${Math.round(to.x)},${Math.round(to.y)},${l.level}`;
      if (drawn.has(sig)) { this.linkEls.push({ link: l, el: null }); continue; }
      drawn.add(sig);
      const route = placed.routes.get(a + "\u0000" + b) || [];
      const path = svg("path", { d: curve([from, ...route, to]), class: `edge ${l.level}`,
                                 "marker-end": `url(#arrow-${l.level})` });
      const title = svg("title");
      title.textContent = `${l.src} -${l.kind}-> ${l.dst}` +
        (l.level === "unknown" ? " (dataset-level lineage, column unknown)" : "") +
        (l.properties && l.properties.transformation ? ` [${l.properties.transformation}]` : "");
      path.append(title);
      edgeLayer.append(path);
      this.linkEls.push({ link: l, el: path });
    }

    // in reading order (layer by layer, top to bottom), which is the order Tab visits them
    const order = [...boxes.keys()].sort((a, b) => {
      const p = placed.pos.get(a), q = placed.pos.get(b);
      return p.layer - q.layer || p.y - q.y;
    });
    for (const key of order) {
      nodeLayer.append(this.drawBox(boxes.get(key), placed.pos.get(key), key === this.model.unitOf.get(start.key)));
    }
    // where the arrow keys lead from a focused box: along its links, and within its layer
    this.placed = placed;
    this.nextTo = new Map([...boxes.keys()].map((k) => [k, { up: [], down: [] }]));
    for (const [a, b] of pairSet.values()) {
      this.nextTo.get(a).down.push(b);
      this.nextTo.get(b).up.push(a);
    }
    const byY = (x, y) => placed.pos.get(x).y - placed.pos.get(y).y;
    for (const n of this.nextTo.values()) { n.up.sort(byY); n.down.sort(byY); }
    this.layerOf = new Map();
    for (const key of order) {
      const l = placed.pos.get(key).layer;
      (this.layerOf.get(l) || this.layerOf.set(l, []).get(l)).push(key);
    }
    this.container.replaceChildren(root);
    this.svg = root;
    // a picture this large moves by transforms during a gesture (see `apply`)
    this.large = boxes.size + this.rowEls.size > LARGE_ELEMENTS;
    if (this.large) root.style.willChange = "transform";
    this.drawn = null;
    this.bounds = { x: -20, y: -20, w: placed.width + 40, h: placed.height + 40 };
    this.startPos = placed.pos.get(boxOf(this.model.unitOf.get(start.key)));
    if (!this.view) this.initialView(); else this.apply();
    if (!this.panning) this.enablePanZoom();
    if (focusKey) {
      const target = root.querySelector(`[data-key="${CSS.escape(focusKey)}"] .toggle`);
      if (target) target.focus();
    }
    this.onRender(this);
  }

  drawBox(box, p, isStart) {
    const verdict = this.verdictOf(box);
    const g = svg("g", { class: `box kind-${box.kind}${box.kind === "cluster" ? " of-" + box.of : ""}${isStart ? " start" : ""}${box.unknown ? " column-unknown" : ""}${box.synthetic ? " synthetic" : ""}${verdict ? " verdict-" + verdict : ""}`,
                         transform: `translate(${p.x},${p.y})`, "data-key": box.key });
    const label = KIND_LABEL[box.kind] || box.kind;
    g.append(svg("rect", { class: "frame", width: p.w, height: p.h, rx: box.kind === "consumer" ? 20 : box.kind === "cluster" ? 2 : 6 }));
    const head = svg("g", { class: "head", tabindex: "0", role: "button",
                            "aria-label": box.kind === "cluster"
                              ? `${box.members.length} ${box.of} nodes grouped, in ${box.namespace || "no namespace"}: press Enter to show them`
                              : `${label} ${box.name}${box.unknown ? ", column unknown" : ""}: press Enter to select, arrows to move along the lineage` });
    if (box.fields) head.append(svg("rect", { class: "band", width: p.w, height: HEAD_H, rx: 6 }));
    const kindText = svg("text", { x: 10, y: 15, class: "kind" });
    kindText.textContent = this.kindLine(box);
    const name = svg("text", { x: 10, y: 32, class: "name" });
    name.textContent = clip(box.kind === "cluster" ? clusterName(box) : box.name, p.w);
    const tip = svg("title");
    tip.textContent = box.kind === "cluster" ? box.members.join("\n") : box.key;
    head.append(kindText, name, tip);
    g.append(head);
    const activate = (ev) => {
      if (box.kind === "cluster") {
        this.openClusters.add(box.key);
        this.render();
        // the keyboard stays where it was: on the first box the group held
        const first = this.svg.querySelector(`.box[data-key="${CSS.escape(box.members[0])}"] .head`);
        if (first) first.focus();
        return;
      }
      this.select(box.key, ev);
    };
    head.addEventListener("click", activate);
    head.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); activate(ev); } });
    head.addEventListener("dblclick", () => box.kind !== "cluster" && this.onOpen(box.key));
    if (box.fields && box.fields.length) {
      const open = this.expanded.has(box.key);
      if (open) {
        box.fields.forEach((f, i) => {
          const rowVerdict = this.verdicts.get(f.key);
          const row = svg("g", { class: `row${f.unknown ? " column-unknown" : ""}${rowVerdict ? " verdict-" + rowVerdict : ""}`, tabindex: "0", role: "button",
                                 transform: `translate(0,${HEAD_H + i * ROW_H})`, "data-key": f.key,
                                 "aria-label": `column ${f.column}: press Enter to select, hover or focus to trace its lineage` });
          row.append(svg("rect", { width: p.w, height: ROW_H, class: "row-bg" }));
          const t = svg("text", { x: 14, y: 14 });
          t.textContent = clip(rowVerdict ? `${MARK[rowVerdict]} ${f.column}` : f.column, p.w - 10);
          const tt = svg("title");
          tt.textContent = f.key;
          row.append(t, tt);
          row.addEventListener("mouseenter", () => this.trace(f.key));
          row.addEventListener("mouseleave", () => this.trace(null));
          row.addEventListener("focus", () => this.trace(f.key));
          row.addEventListener("blur", () => this.trace(null));
          row.addEventListener("click", (ev) => this.select(f.key, ev));
          row.addEventListener("dblclick", () => this.onOpen(f.key));
          row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") this.select(f.key, ev); });
          this.rowEls.set(f.key, row);
          g.append(row);
        });
      }
      const foot = svg("g", { class: "toggle", tabindex: "0", role: "button", "aria-expanded": String(open),
                              transform: `translate(0,${p.h - FOOT_H})`,
                              "aria-label": `${open ? "Hide" : "Show"} the ${box.fields.length} columns of ${box.name}` });
      foot.append(svg("rect", { width: p.w, height: FOOT_H, class: "foot" }));
      const ft = svg("text", { x: 10, y: 15 });
      ft.textContent = `${open ? "▾ hide" : "▸ show"} ${box.fields.length} column${box.fields.length === 1 ? "" : "s"}`;
      foot.append(ft);
      const flip = (ev) => { ev.stopPropagation(); this.toggle(box.key); };
      foot.addEventListener("click", flip);
      foot.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); flip(ev); } });
      g.append(foot);
    }
    return g;
  }

  /** A box's verdict: its own, or for a dataset the worst of its columns'. */
  verdictOf(box) {
    if (this.verdicts.has(box.key)) return this.verdicts.get(box.key);
    if (!box.fields) return null;
    const found = new Set(box.fields.map((f) => this.verdicts.get(f.key)).filter(Boolean));
    return ["breaking", "unknown", "compatible"].find((v) => found.has(v)) || null;
  }

  select(key, ev) {
    if (ev) ev.stopPropagation();
    for (const old of this.svg.querySelectorAll(".selected")) old.classList.remove("selected");
    const target = this.rowEls.get(key) || this.svg.querySelector(`.box[data-key="${CSS.escape(key)}"]`);
    if (target) target.classList.add("selected");
    this.onSelect(key);
  }

  /** Highlight the lineage of one node: every link up- and downstream of it, and its rows. */
  trace(key) {
    for (const old of this.svg.querySelectorAll(".hl")) old.classList.remove("hl");
    this.svg.classList.toggle("tracing", !!key);
    if (!key) return;
    const down = new Map(), up = new Map();
    this.linkEls.forEach((le, i) => {
      (down.get(le.link.src) || down.set(le.link.src, []).get(le.link.src)).push(i);
      (up.get(le.link.dst) || up.set(le.link.dst, []).get(le.link.dst)).push(i);
    });
    const mark = (index, end) => {
      const seen = new Set([key]);
      const queue = [key];
      while (queue.length) {
        const k = queue.pop();
        const row = this.rowEls.get(k);
        if (row) row.classList.add("hl");
        for (const i of index.get(k) || []) {
          const le = this.linkEls[i];
          if (le.el) le.el.classList.add("hl");
          const next = le.link[end];
          if (!seen.has(next)) { seen.add(next); queue.push(next); }
        }
      }
    };
    mark(down, "dst");
    mark(up, "src");
  }

  /** Move the keyboard from box `key`: Right to the first box it feeds, Left to the first
   * feeding it, Up and Down to the box above or below in its column; the picture pans to
   * keep the box in sight. */
  step(key, arrow) {
    const p = this.placed.pos.get(key);
    if (!p) return;
    let to;
    if (arrow === "ArrowRight") [to] = this.nextTo.get(key).down;
    else if (arrow === "ArrowLeft") [to] = this.nextTo.get(key).up;
    else {
      const column = this.layerOf.get(p.layer);
      to = column[column.indexOf(key) + (arrow === "ArrowDown" ? 1 : -1)];
    }
    if (!to) return;
    const q = this.placed.pos.get(to);
    const v = this.view;
    if (q.x < v.x || q.x + q.w > v.x + v.w || q.y < v.y || q.y + q.h > v.y + v.h) {
      this.view = { ...v, x: q.x + q.w / 2 - v.w / 2, y: q.y + q.h / 2 - v.h / 2 };
      this.commit();
    }
    const target = this.svg.querySelector(`.box[data-key="${CSS.escape(to)}"] .head`);
    if (target) target.focus({ preventScroll: true });
  }

  // ------------------------------------------------------------ pan and zoom (viewBox)

  /** The whole picture when it can be read at no less than MIN_SCALE; else the start
   * node at that scale, the rest a pan away. */
  initialView() {
    const b = this.bounds;
    const rect = this.container.getBoundingClientRect();
    const cw = rect.width || 1000, ch = rect.height || 600;
    const scale = Math.min(1.4, cw / b.w, ch / b.h);
    if (scale >= MIN_SCALE || !this.startPos) { this.fit(); return; }
    const w = cw / START_SCALE, h = ch / START_SCALE;
    const p = this.startPos;
    const x = Math.max(b.x, Math.min(p.x + p.w / 2 - w / 2, b.x + b.w - w));
    this.view = { x: b.w <= w ? b.x - (w - b.w) / 2 : x, y: p.y + p.h / 2 - h / 2, w, h };
    this.apply();
  }

  fit() {
    const b = this.bounds;
    const rect = this.container.getBoundingClientRect();
    const aspect = rect.height > 0 ? rect.width / rect.height : 1.6;
    // a small graph is enlarged at most 1.4 times: boxes stay box-sized
    let w = Math.max(b.w, (rect.width || b.w) / 1.4), h = Math.max(b.h, (rect.height || b.h) / 1.4);
    if (w / h > aspect) h = w / aspect; else w = h * aspect;
    this.view = { x: b.x - (w - b.w) / 2, y: b.y - (h - b.h) / 2, w, h };
    this.apply();
  }

  /** Show `this.view`. During a gesture (`moving`) a large picture moves as one composited
   * image: a CSS transform maps the viewBox last drawn onto the new one, so a frame costs no
   * repaint of its ~10^4 SVG elements; once the gesture pauses, it is drawn sharp at the
   * new viewBox. Areas the last drawing did not cover show blank until then. */
  apply(moving = false) {
    clearTimeout(this.idle);
    if (!moving || !this.large || !this.drawn) { this.commit(); return; }
    const d = this.drawn, v = this.view;
    const W = this.svg.clientWidth || 1, H = this.svg.clientHeight || 1;
    // the viewBox is fitted inside the element (preserveAspectRatio meet), centred
    const k = Math.min(W / d.w, H / d.h), k2 = Math.min(W / v.w, H / v.h);
    const ox = (W - d.w * k) / 2, oy = (H - d.h * k) / 2;
    const ox2 = (W - v.w * k2) / 2, oy2 = (H - v.h * k2) / 2;
    const s = k2 / k;
    const tx = ox2 - ox * s + (d.x - v.x) * k2, ty = oy2 - oy * s + (d.y - v.y) * k2;
    this.svg.style.transform = `translate(${tx}px, ${ty}px) scale(${s})`;
    this.idle = setTimeout(() => this.commit(), IDLE_MS);
  }

  /** Draw the picture at `this.view` (no transform left). */
  commit() {
    clearTimeout(this.idle);
    const v = this.view;
    this.svg.style.transform = "";
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    this.drawn = { ...v };
  }

  zoom(factor, cx, cy) {
    const v = this.view;
    const x = cx ?? v.x + v.w / 2, y = cy ?? v.y + v.h / 2;
    const w = Math.min(Math.max(v.w * factor, 80), Math.max(this.bounds.w, this.bounds.h) * 8);
    const f = w / v.w;
    this.view = { x: x - (x - v.x) * f, y: y - (y - v.y) * f, w, h: v.h * f };
    this.apply(true);
  }

  pan(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.apply(true);
  }

  enablePanZoom() {
    this.panning = true;
    const c = this.container;
    const toSvg = (ev) => {
      const r = c.getBoundingClientRect(); // the svg's own box moves with a gesture's transform
      return { x: this.view.x + (ev.clientX - r.left) / r.width * this.view.w,
               y: this.view.y + (ev.clientY - r.top) / r.height * this.view.h };
    };
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const p = toSvg(ev);
      this.zoom(Math.exp(ev.deltaY * 0.0015), p.x, p.y);
    }, { passive: false });
    let drag = null;
    c.addEventListener("pointerdown", (ev) => {
      if (ev.target.closest(".head, .row, .toggle")) return;
      drag = { x: ev.clientX, y: ev.clientY };
      c.setPointerCapture(ev.pointerId);
      c.classList.add("dragging");
    });
    c.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const r = c.getBoundingClientRect();
      this.pan(-(ev.clientX - drag.x) / r.width * this.view.w, -(ev.clientY - drag.y) / r.height * this.view.h);
      drag = { x: ev.clientX, y: ev.clientY };
    });
    const stop = () => { drag = null; c.classList.remove("dragging"); };
    c.addEventListener("pointerup", stop);
    c.addEventListener("pointercancel", stop);
    c.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        this.trace(null);
        for (const old of this.svg.querySelectorAll(".selected")) old.classList.remove("selected");
        this.svg.focus();
        return;
      }
      const head = ev.target.closest && ev.target.closest(".head");
      if (head && ev.key.startsWith("Arrow")) { ev.preventDefault(); this.step(head.closest(".box").dataset.key, ev.key); return; }
      const step = this.view.w / 10;
      const keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (ev.target !== this.svg) return;
      if (keys[ev.key]) { ev.preventDefault(); this.pan(...keys[ev.key]); }
      else if (ev.key === "+" || ev.key === "=") this.zoom(0.8);
      else if (ev.key === "-") this.zoom(1.25);
      else if (ev.key === "0") this.fit();
    });
  }
}

function clusterName(cluster) {
  return cluster.namespace || "(no namespace)";
}

function clip(text, width) {
  const max = Math.floor((width - 20) / CHAR_W);
  return text.length > max ? text.slice(0, Math.max(1, max - 1)) + "…" : text;
}

/** A smooth path through points, leaving and entering each horizontally. */
function curve(points) {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1], q = points[i];
    const dx = Math.max(24, Math.abs(q.x - p.x) / 2);
    d += ` C${p.x + dx},${p.y} ${q.x - dx},${q.y} ${q.x},${q.y}`;
  }
  return d;
}

function defs() {
  const d = svg("defs");
  for (const level of ["column", "dataset", "unknown", "hl"]) {
    // sized in the drawing's units: a highlighted (thicker) edge keeps the same arrowhead
    const m = svg("marker", { id: `arrow-${level}`, viewBox: "0 0 10 10", refX: "9", refY: "5",
                              markerUnits: "userSpaceOnUse", markerWidth: "10", markerHeight: "10",
                              orient: "auto-start-reverse",
                              class: `arrow ${level}` });
    m.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
    d.append(m);
  }
  return d;
}

/** The legend: every kind's look, and the three edge styles. */
export function legend() {
  const box = el("section", { class: "legend", "aria-label": "Legend" });
  box.append(el("h3", {}, "Legend"));
  const kinds = el("ul", { class: "kinds" });
  for (const kind of ["dataset", "field", "job", "run", "feature", "model", "model_version", "consumer", "agent", "cluster"]) {
    kinds.append(el("li", {}, el("span", { class: `swatch kind-${kind}` }), KIND_LABEL[kind] || kind));
  }
  const edges = el("ul", { class: "edge-kinds" });
  for (const [level, text] of Object.entries(LEVEL_LABEL)) {
    const s = svg("svg", { width: "46", height: "12", "aria-hidden": "true" });
    s.append(svg("line", { x1: 2, y1: 6, x2: 44, y2: 6, class: `edge ${level}` }));
    edges.append(el("li", {}, s, text));
  }
  box.append(kinds, edges,
             el("p", { class: "hint" }, "Data flows left to right. Hover or focus a column to trace its lineage (Escape clears); " +
                "double-click a box to open its page. Drag or arrow keys to pan, wheel or + / − to zoom, 0 to fit. " +
                "Tab reaches the boxes; on a box, ← and → follow the lineage, ↑ and ↓ move within its column."));
  return box;
}
