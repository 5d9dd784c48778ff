// The explorer: sign-in, search, node pages, the graph, what breaks, the training check.
// Views are hash routes (#/node/<key>, #/graph/<key>?direction=&depth=, #/impact/<key>,
// #/guard), so the back button and links work and nothing needs a server-side route.

import { api, ApiError, keyPath, Refused, setToken, signOut, token } from "./api.js";
import { GraphView, legend } from "./graph.js";
import { el, fmt, href, KIND_LABEL, KINDS, kindBadge, nodeLink, section, shortName, table, verdictBadge } from "./ui.js";

const root = document.getElementById("main");
/** The current view's container: each route draws into a fresh one, so a slower earlier
 * view that answers late writes into its own detached container, not over this one. */
let current = el("div", { class: "view" });
const status = document.getElementById("status");

function say(text) {
  status.textContent = text;
}

// ------------------------------------------------------------------ routing

const views = { "": home, node: nodePage, graph: graphPage, impact: impactPage, guard: guardPage };

/** The server runs without authentication (`lineage serve --no-auth`): no token to hold. */
let openServer = false;

async function route() {
  if (!token() && !openServer) return signIn();
  showChrome(true);
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const slash = path.indexOf("/");
  const view = slash < 0 ? path : path.slice(0, slash);
  const key = slash < 0 ? "" : decodeURIComponent(path.slice(slash + 1));
  const params = new URLSearchParams(query || "");
  const show = views[view] || home;
  current = el("div", { class: "view" }, el("p", { class: "loading" }, "Loading…"));
  root.replaceChildren(current);
  window.scrollTo(0, 0); // a new view starts at its top, below the sticky header
  try {
    await show(key, params);
  } catch (err) {
    failed(err);
  }
}

function failed(err) {
  if (err instanceof Refused) {
    signOut();
    signIn(err.message);
    return;
  }
  const message = err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`;
  current.replaceChildren(el("div", { class: "card error", role: "alert" },
    el("h2", {}, err instanceof ApiError && err.status === 404 ? "Not found" : "Could not show this"),
    el("p", {}, message),
    err.body && err.body.candidates ? el("ul", {}, err.body.candidates.map((c) =>
      el("li", {}, el("a", { href: href("node", c.key || c) }, c.key || c)))) : null,
    el("p", {}, el("a", { href: "#/" }, "Back to the start"))));
  root.focus({ preventScroll: true });
}

function showChrome(on) {
  document.getElementById("search").hidden = !on;
  document.getElementById("nav").hidden = !on;
}

// ------------------------------------------------------------------ sign-in

function signIn(refusal) {
  showChrome(false);
  const input = el("input", { id: "token", type: "password", autocomplete: "off", required: true,
                              spellcheck: "false", "aria-describedby": "token-help" });
  const alert = el("p", { id: "refusal", class: "refusal", role: "alert" }, refusal || "");
  alert.hidden = !refusal;
  const form = el("form", { class: "card signin", "aria-labelledby": "signin-title" },
    el("h1", { id: "signin-title" }, "Sign in"),
    el("p", { id: "token-help" },
      "Paste an API token with the ", el("code", {}, "read"), " scope. It is kept in this tab only ",
      "(sessionStorage) and sent to this server alone. The explorer only reads: it never needs, ",
      "and should not be given, a token that can write. Make one with:"),
    el("pre", {}, "lineage token create my-name --scope read"),
    el("label", { for: "token" }, "Token"), input,
    el("button", { type: "submit" }, "Sign in"), alert);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const secret = input.value.trim();
    alert.hidden = true;
    try {
      const who = await api("whoami", { secret });
      const more = who.scopes.filter((s) => s !== "read");
      if (more.length) {
        // the page only reads: a token that can write stays with its owner
        throw new Refused(403, `This token can do more than read (scopes: ${who.scopes.join(", ")}). ` +
          "The explorer only reads and keeps read-only tokens: make one with " +
          "`lineage token create my-name --scope read`.");
      }
    } catch (err) {
      alert.textContent = err instanceof Refused ? err.message : `Could not sign in: ${err.message}`;
      alert.hidden = false;
      input.focus();
      return;
    }
    setToken(secret);
    route();
  });
  current = el("div", { class: "view" }, form);
  root.replaceChildren(current);
  input.focus();
}

document.getElementById("signout").addEventListener("click", () => {
  signOut();
  location.hash = "#/";
  signIn("Signed out.");
});

// ------------------------------------------------------------------ search (a combobox)

function setUpSearch() {
  const input = document.getElementById("q");
  const kind = document.getElementById("kind");
  const list = document.getElementById("results");
  for (const k of KINDS) kind.append(el("option", { value: k }, KIND_LABEL[k]));
  let active = -1;
  let items = [];
  let timer = null;
  let asked = 0;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    if (i >= 0 && list.children[i]) {
      input.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({ block: "nearest" });
    }
  };
  const open = (ref) => {
    close();
    input.value = "";
    location.hash = href("node", ref.key);
  };
  const search = async () => {
    const q = input.value.trim();
    const mine = ++asked;
    if (!q && !kind.value) return close();
    try {
      const found = await api("nodes", { params: { q, kind: kind.value, limit: 50 } });
      if (mine !== asked) return; // a newer query answered already
      items = found.nodes;
      list.replaceChildren(...(items.length ? items.map((n, i) => {
        const li = el("li", { role: "option", id: `result-${i}`, "aria-selected": "false", title: n.key },
                      kindBadge(n.kind), el("span", { class: "name" }, n.name),
                      el("span", { class: "key" }, n.key));
        li.addEventListener("mousedown", (ev) => { ev.preventDefault(); open(n); });
        li.addEventListener("mousemove", () => { if (active !== i) highlight(i); });
        return li;
      }) : [el("li", { class: "empty", role: "option", "aria-disabled": "true" }, `Nothing matches “${q}”.`)]));
      if (found.count >= 50) list.append(el("li", { class: "empty", role: "option", "aria-disabled": "true" }, "First 50 shown: type more of the name."));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(items.length ? 0 : -1);
    } catch (err) {
      if (err instanceof Refused) failed(err);
      else say(err.message);
    }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 120); });
  kind.addEventListener("change", search);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { ev.preventDefault(); if (list.hidden) search(); else highlight(Math.min(items.length - 1, active + 1)); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); highlight(Math.max(0, active - 1)); }
    else if (ev.key === "Enter") { ev.preventDefault(); if (active >= 0 && items[active]) open(items[active]); else search(); }
    else if (ev.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      ev.preventDefault();
      input.focus();
    }
  });
}

// ------------------------------------------------------------------ home

async function home() {
  const main = current; // this view's own container, whatever is shown later
  const kinds = [["dataset", "datasets"], ["model", "models"], ["job", "jobs"], ["consumer", "consumers"]];
  const lists = await Promise.all(kinds.map(([kind]) => api("nodes", { params: { kind, limit: 60 } })));
  main.replaceChildren(
    el("h1", {}, "Explore the lineage"),
    el("p", { class: "lead" }, "Search by any part of a name above (press ", el("kbd", {}, "/"),
       "), or start from one below. A node's page shows its properties, neighbours, versions and schemas, ",
       "quality checks, runs, consumers and provenance; from there draw its graph or ask what a change would break (",
       el("a", { href: "#/impact" }, "What breaks"), ")."),
    ...kinds.map(([kind, plural], i) => [lists[i], plural]).filter(([found, plural]) => found.count || plural === "datasets")
      .map(([found, plural]) => section(found.count >= 60 ? `The first 60 ${plural} (search for the others)` : `${plural[0].toUpperCase()}${plural.slice(1)} (${fmt(found.count)})`,
        el("ul", { class: "columns" }, found.nodes.map((n) => el("li", {}, nodeLink(n)))))));
}

// ------------------------------------------------------------------ a node's page

async function nodePage(key) {
  const main = current; // this view's own container, whatever is shown later
  const t0 = performance.now();
  const { node, neighbours } = await api(`nodes/${keyPath(key)}`);
  const kind = node.kind;
  const actions = el("p", { class: "actions" },
    el("a", { class: "button", href: href("graph", node.key, { direction: "both", depth: 2 }) }, "Graph around it"),
    kind === "field" ? el("a", { class: "button", href: href("impact", node.key) }, "What breaks if it changes?") : null);
  // quality checks have a card of their own, read through the API, not a JSON blob here
  const props = Object.entries(node.properties || {}).filter(([k]) => k !== "quality_checks");
  main.replaceChildren(
    el("p", { class: "crumbs" }, kindBadge(kind), " ", el("code", { class: "key" }, node.key)),
    el("h1", {}, node.name),
    actions,
    section("Properties", props.length
      ? table(["property", "value"], props.map(([k, v]) => [k, propertyValue(v)]))
      : el("p", {}, "No properties recorded."),
      node.namespace ? el("p", {}, "Namespace: ", el("code", {}, node.namespace)) : null),
    neighboursCard(node, neighbours));
  document.title = `${node.name} · lineage explorer`;
  const extras = [];
  if (kind === "dataset") extras.push(versionsCard(neighbours), provenanceCard(node.key, null));
  if (kind === "dataset_version") extras.push(schemaCard(node.key));
  if (kind === "field") {
    const ds = neighbours.find((n) => n.edge === "has_field" && n.direction === "in");
    if (ds) extras.push(provenanceCard(ds.node.key, node.key));
  }
  if (["dataset", "field"].includes(kind)) extras.push(checksCard(node.key));
  if (["job", "run", "dataset", "dataset_version"].includes(kind)) extras.push(runsCard(node.key, kind));
  if (kind === "consumer") extras.push(consumerCard(node.key));
  else extras.push(consumersCard(node.key));
  for (const card of extras) main.append(card);
  say(`${node.name}: page shown in ${Math.round(performance.now() - t0)} ms`);
  root.focus({ preventScroll: true });
}

/** Each edge kind read in words, from the node's side: [its upstream end, its downstream end]. */
const EDGE_WORDS = {
  has_field: ["Column of", "Columns"],
  version_of: ["Versions", "Version of"],
  derived_from: ["Derived from", "Feeds (derived from it)"],
  read: ["Reads", "Read by"],
  wrote: ["Written by", "Writes"],
  run_of: ["Run of", "Runs"],
  parent_of: ["Parent run", "Child runs"],
  trained_on: ["Trained on", "Trained on it"],
  uses_feature: ["Uses features", "Used by"],
  uses_field: ["Uses columns", "Used by"],
  generated: ["Generated by", "Generates (holds its outputs)"],
  consumes: ["Consumes", "Consumed by"],
};

function neighboursCard(node, neighbours) {
  const groups = new Map();
  for (const n of neighbours) {
    const words = EDGE_WORDS[n.edge] || [n.edge, n.edge];
    // upstream first (what it depends on), then downstream, each named in words
    const label = n.direction === "in" ? `0${words[0]}` : `1${words[1]}`;
    const g = groups.get(label) || groups.set(label, { edge: n.edge, direction: n.direction, items: [] }).get(label);
    g.items.push(n);
  }
  const card = section(`Neighbours (${neighbours.length})`,
    el("p", { class: "hint" }, "Upstream: what it depends on (↑); downstream: what depends on it (↓). Edges point the way data flows."));
  for (const [label, g] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    card.append(el("h3", {}, `${g.direction === "in" ? "↑" : "↓"} ${label.slice(1)} `, el("span", { class: "muted edge-kind" }, `(${g.edge}, ${g.items.length})`)),
      el("ul", { class: "neighbours" }, g.items.map((n) => el("li", {}, kindBadge(n.node.kind), " ", nodeLink(n.node),
        n.properties && n.properties.transformation ? el("span", { class: "muted" }, ` (${n.properties.transformation})`) : null))));
  }
  return card;
}

/** A property's value as text a person reads: lists joined, mappings one `key: value` a line. */
function propertyValue(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)) return v.join(", ");
  if (typeof v === "object" && !Array.isArray(v)) {
    return el("ul", { class: "plain" }, Object.entries(v).map(([k, x]) =>
      el("li", {}, el("span", { class: "muted" }, `${k}: `), typeof x === "object" && x !== null ? JSON.stringify(x) : String(x))));
  }
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** A card filled in when its request answers, so the page shows at once. */
function lazyCard(title, fill) {
  const card = section(title, el("p", { class: "loading" }, "Loading…"));
  fill(card).catch((err) => {
    if (err instanceof Refused) return failed(err);
    card.replaceChildren(el("h2", {}, title), el("p", { class: "error" }, err.message));
  });
  return card;
}

function versionsCard(neighbours) {
  const versions = neighbours.filter((n) => n.edge === "version_of" && n.direction === "in")
    .map((n) => n.node).sort((a, b) => a.name.localeCompare(b.name));
  const card = section(`Versions and schema history (${versions.length})`);
  if (!versions.length) {
    card.append(el("p", {}, "No versions registered."));
    return card;
  }
  const pick = (id, label, i) => {
    const s = el("select", { id }, versions.map((v, j) => el("option", { value: v.key, selected: j === i }, v.name)));
    return [el("label", { for: id }, label), s];
  };
  const [l1, older] = pick("diff-old", "from", Math.max(0, versions.length - 2));
  const [l2, newer] = pick("diff-new", "to", versions.length - 1);
  const out = el("div", { id: "diff-out" });
  const compare = async () => {
    out.replaceChildren(el("p", { class: "loading" }, "Comparing…"));
    try {
      const d = await api("schema-diff", { params: { old: older.value, new: newer.value } });
      out.replaceChildren(d.changes.length
        ? table(["change", "field", "detail", "verdict"], d.changes.map((c) => [c.kind.replace("_", " "), c.field,
            c.description, verdictBadge(c.compatibility === "breaking" ? "breaking" : "compatible")]), { class: "diff" })
        : el("p", {}, "The two schemas are the same."),
        el("p", { class: "muted" }, `${d.breaking} breaking change(s) from ${d.old} to ${d.new}.`));
    } catch (err) {
      if (err instanceof Refused) return failed(err);
      out.replaceChildren(el("p", { class: "error" }, err.message));
    }
  };
  card.append(
    el("ul", {}, versions.map((v) => el("li", {}, nodeLink(v)))),
    el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); compare(); } },
       l1, older, l2, newer, el("button", { type: "submit" }, "Compare schemas")),
    out);
  if (versions.length > 1) compare();
  return card;
}

function schemaCard(version) {
  return lazyCard("Schema snapshot", async (card) => {
    const s = await api(`schema/${keyPath(version)}`);
    card.replaceChildren(el("h2", {}, "Schema snapshot"), s.fields.length
      ? table(["field", "type", "nullable", "allowed values", "description"], s.fields.map((f) => [
          f.name, el("code", {}, f.type), f.nullable ? "yes" : "no",
          f.allowed_values ? f.allowed_values.join(", ") : "", f.description || ""]))
      : el("p", {}, "No schema snapshot recorded for this version."));
  });
}

function provenanceCard(dataset, onlyField) {
  return lazyCard("Provenance of recorded values", async (card) => {
    const p = await api(`provenance/${keyPath(dataset)}`);
    const fields = p.fields.filter((f) => !onlyField || f.field === onlyField);
    const tagged = fields.filter((f) => f.total > 0);
    const body = tagged.length
      ? table(["field", "assertions", "observed", "human labelled", "AI inferred", "agents", "confidence (10 bins, 0→1)"],
          tagged.map((f) => [f.field.slice(f.field.lastIndexOf(".") + 1), fmt(f.total),
            originCell(f, "observed"), originCell(f, "human_labelled"), originCell(f, "ai_inferred"),
            Object.entries(f.agents).map(([a, n]) => `${shortName(a)}: ${fmt(n)}`).join(", "), histogram(f)]), { class: "provenance" })
      : el("p", {}, "No record assertions for ", onlyField ? "this field" : "this dataset's fields", " yet (",
           el("code", {}, "lineage tag"), " records them).");
    card.replaceChildren(el("h2", {}, "Provenance of recorded values"), body);
  });
}

function originCell(f, origin) {
  const n = f.by_origin[origin] || 0;
  return n ? `${fmt(n)} (${Math.round((f.share[origin] || 0) * 100)}%)` : "—";
}

function histogram(f) {
  const max = Math.max(1, ...f.confidence_histogram);
  const bars = el("span", { class: "histogram", role: "img",
    "aria-label": `confidence: ${f.confidence_histogram.join(", ")} per tenth; ${f.confidence_not_given} not given` });
  for (const n of f.confidence_histogram) {
    const bar = el("span", { class: "bar", title: fmt(n) });
    bar.style.height = `${Math.round((n / max) * 100)}%`;
    bars.append(bar);
  }
  return el("span", {}, bars, f.confidence_not_given ? ` ${fmt(f.confidence_not_given)} without` : "");
}

const CHECK_RESULT = { true: ["compatible", "✔ passed"], false: ["breaking", "✖ failed"], null: ["unknown", "– not run"] };

function checksCard(key) {
  const title = "Quality checks";
  return lazyCard(title, async (card) => {
    const q = await api(`quality-checks/${keyPath(key)}`);
    const when = (t) => (t ? String(t).replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "—");
    card.id = "quality-checks";
    card.replaceChildren(el("h2", {}, `${title} (${fmt(q.count)}${q.failing ? `, ${fmt(q.failing)} failing` : ""})`),
      q.checks.length ? table(["result", "check", "column", "severity", "from", "last run"], q.checks.map((c) => {
        const [verdict, word] = CHECK_RESULT[c.success === true ? "true" : c.success === false ? "false" : "null"];
        return [el("span", { class: `verdict ${verdict}`, "data-result": word.slice(2) }, word),
          el("span", { title: c.description || c.name || "" }, c.assertion || c.name || "?"),
          c.column ? el("code", {}, c.column) : el("span", { class: "muted" }, "the whole dataset"),
          c.severity || "—", c.source === "dbt" ? "dbt test" : "OpenLineage" + (c.job ? ` (${shortName(c.job)})` : ""),
          when(c.at)];
      }), { class: "checks" })
        : el("p", {}, "No quality checks recorded. dbt tests arrive with ", el("code", {}, "lineage import dbt"),
             ", other checks as OpenLineage ", el("code", {}, "dataQualityAssertions"), "."));
  });
}

const RUN_STATE = { COMPLETE: "compatible", FAIL: "breaking", ABORT: "breaking" };

function runsCard(key, kind) {
  const title = kind === "run" ? "This run" : "Runs";
  return lazyCard(title, async (card) => {
    const r = await api(`runs/${keyPath(key)}`, { params: { limit: 50 } });
    card.id = "runs";
    const when = (t) => (t ? String(t).replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "—");
    const took = (a, b) => {
      const ms = Date.parse(b) - Date.parse(a);
      return Number.isFinite(ms) && ms >= 0 ? (ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60000)} min`) : "";
    };
    // a version read or written stands for its dataset: name@version says which data it was
    const assets = (refs) => {
      const versioned = new Set(refs.filter((x) => x.kind === "dataset_version")
        .map((x) => "dataset:" + x.key.slice("dataset_version:".length, x.key.lastIndexOf("@"))));
      const shown = refs.filter((x) => !versioned.has(x.key));
      return shown.length ? el("ul", { class: "plain" }, shown.map((x) => el("li", {}, nodeLink(x)))) : el("span", { class: "muted" }, "—");
    };
    const lead = kind === "job" ? "Its runs, newest first." : kind === "run" ? "" :
      "The runs that wrote (produced a version of) or read it, newest first.";
    const headers = ["state", "run", ...(kind === "job" ? [] : ["job", "how"]), "started (or ended)", "took", "read", "wrote"];
    card.replaceChildren(...[el("h2", {}, kind === "run" ? title : `${title} (${fmt(r.total)})`),
      lead ? el("p", { class: "hint" }, lead) : null,
      r.runs.length ? table(headers, r.runs.map((run) => [
        el("span", { class: `verdict ${RUN_STATE[run.state] || "unknown"}`, title: run.message || "" }, (run.state || "unknown").toLowerCase()),
        el("a", { href: href("node", run.key), title: run.key }, run.name.length > 13 ? run.name.slice(0, 8) + "…" : run.name),
        ...(kind === "job" ? [] : [run.job ? el("a", { href: href("node", run.job), title: run.job }, shortName(run.job)) : "—",
                                   run.role === "run_of" || run.role === "self" ? "—" : run.role]),
        when(run.started_at || run.ended_at), took(run.started_at, run.ended_at), assets(run.inputs), assets(run.outputs)]), { class: "runs" })
        : el("p", {}, "No runs recorded. Runs arrive with OpenLineage run events (", el("code", {}, "lineage ingest"),
             ", POST /api/v1/lineage) and with dbt's run_results (", el("code", {}, "lineage import dbt"), ")."),
      r.truncated ? el("p", { class: "muted" }, `The newest ${fmt(r.runs.length)} of ${fmt(r.total)} runs are shown.`) : null]
      .filter(Boolean));
  });
}

function contractTable(contracts) {
  const rows = [];
  for (const [asset, contract] of Object.entries(contracts || {})) {
    const terms = Object.entries(contract).filter(([k]) => k !== "fields")
      .map(([k, v]) => el("li", {}, `${k}: ${JSON.stringify(v)}`));
    for (const f of Array.isArray(contract.fields) ? contract.fields : []) {
      const { name, ...rest } = f;
      terms.push(el("li", {}, el("code", {}, name), " ", Object.entries(rest).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")));
    }
    rows.push([el("a", { href: href("node", asset), title: asset }, shortName(asset)), el("ul", { class: "contract" }, terms)]);
  }
  return rows.length ? table(["asset", "contract"], rows) : el("p", { class: "muted" }, "No contract declared.");
}

function consumersCard(key) {
  return lazyCard("Consumers depending on it", async (card) => {
    const c = await api("consumers", { params: { of: key } });
    card.replaceChildren(el("h2", {}, `Consumers depending on it (${c.consumers.length})`),
      c.consumers.length ? el("ul", { class: "consumers" }, c.consumers.map((u) => el("li", {},
        el("p", {}, kindBadge("consumer"), " ", nodeLink({ key: u.key, name: u.consumer }),
          u.owner ? el("span", { class: "muted" }, ` owner: ${u.owner}`) : null),
        u.path ? pathView(u.path) : null,
        contractTable(u.contracts)))) : el("p", {}, "No consumer depends on it."));
  });
}

function consumerCard(key) {
  return lazyCard("Contracts and channels", async (card) => {
    const c = await api("consumers");
    const u = c.consumers.find((x) => x.key === key);
    card.replaceChildren(el("h2", {}, "Contracts and channels"), u ? el("div", {},
      el("p", {}, "Consumes: ", ...u.consumes.map((k, i) => [i ? ", " : "", el("a", { href: href("node", k) }, k)])),
      contractTable(u.contracts),
      el("p", {}, "Notified by: ", u.channels.length ? u.channels.map((ch) => `${ch.kind} ${ch.target}`).join(", ") : "no channel")) :
      el("p", {}, "Not registered as a consumer."));
  });
}

function pathView(path) {
  const ol = el("ol", { class: "path", "aria-label": "path" });
  for (const step of path) {
    // the step's data-flow reading (`feeds`), the stored kind as its tooltip
    ol.append(el("li", {}, step.edge ? el("span", { class: "edge-label", title: step.edge }, step.verb || step.edge) : null,
                 el("a", { href: href("node", step.key), title: step.key }, shortName(step.key))));
  }
  return ol;
}

// ------------------------------------------------------------------ the graph

/** The most nodes the graph asks for: past it the nearest are drawn and the rest counted. */
const GRAPH_LIMIT = 2500;
const GROUPINGS = [["auto", "crowded layers (by kind and namespace)"], ["namespace", "namespace"], ["job", "job (with what it writes)"], ["none", "nothing (every box)"]];

async function graphPage(key, params) {
  const main = current; // this view's own container, whatever is shown later
  const direction = params.get("direction") || "both";
  const depth = params.get("depth") || "2";
  const limit = Math.max(1, Number(params.get("limit")) || GRAPH_LIMIT);
  const grouping = GROUPINGS.some(([v]) => v === params.get("group")) ? params.get("group") : "auto";
  const groupSel = el("select", { id: "g-group", name: "group" }, GROUPINGS.map(([v, t]) => el("option", { value: v, selected: v === grouping }, t)));
  const form = el("form", { class: "inline controls", "aria-label": "Graph controls" },
    el("label", { for: "g-direction" }, "direction"),
    el("select", { id: "g-direction", name: "direction" }, [["both", "upstream and downstream"], ["up", "upstream"], ["down", "downstream"]]
      .map(([v, t]) => el("option", { value: v, selected: v === direction }, t))),
    el("label", { for: "g-depth" }, "depth"),
    el("input", { id: "g-depth", name: "depth", type: "number", min: "1", max: "50", value: depth }),
    el("label", { for: "g-group" }, "group by"), groupSel,
    el("button", { type: "submit" }, "Draw"));
  const go = (p) => href("graph", key, { direction, depth, group: grouping, ...(limit !== GRAPH_LIMIT ? { limit } : {}), ...p });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = go({ direction: form.direction.value, depth: form.depth.value, group: groupSel.value });
  });
  const t0 = performance.now();
  let data;
  try {
    data = await api("lineage/graph", { params: { node: key, direction, depth, limit } });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 400) throw err;
    main.replaceChildren(el("h1", {}, `Lineage around ${key}`), form,
      el("div", { class: "card error", role: "alert" }, el("p", {}, err.message)));
    return;
  }
  const tApi = performance.now() - t0;
  const panel = el("aside", { class: "card selection", "aria-live": "polite" }, el("p", { class: "muted" }, "Select a box or a column to see it here (Tab reaches them, Enter selects)."));
  const groups = el("section", { class: "card groups", id: "groups", "aria-label": "Groups" });
  const canvas = el("div", { class: "canvas", id: "canvas" });
  const stats = el("p", { class: "muted", id: "graph-stats" });
  const buttons = {
    "expand-all": el("button", { type: "button", id: "expand-all" }, "Show all columns"),
    "collapse-all": el("button", { type: "button", id: "collapse-all" }, "Hide all columns"),
    "zoom-in": el("button", { type: "button", "aria-label": "Zoom in", id: "zoom-in" }, "+"),
    "zoom-out": el("button", { type: "button", "aria-label": "Zoom out", id: "zoom-out" }, "−"),
    fit: el("button", { type: "button", id: "fit" }, "Fit"),
  };
  const tools = el("p", { class: "inline" }, Object.values(buttons));
  // a neighbourhood larger than what is drawn says so, and how to narrow it
  let cut = null;
  if (data.hidden > 0) {
    const narrower = [];
    if (Number(depth) > 1) narrower.push(["depth " + (Number(depth) - 1), { depth: Number(depth) - 1 }]);
    if (direction === "both") narrower.push(["downstream only", { direction: "down" }], ["upstream only", { direction: "up" }]);
    cut = el("div", { class: "card notice-cut", id: "graph-cut", role: "status" },
      el("p", {}, el("strong", {}, `${fmt(data.hidden)} of ${fmt(data.total)} nodes are not drawn.`),
        ` This neighbourhood is larger than the ${fmt(data.nodes.length)} nodes a picture holds; the nearest ones are drawn, and a box marked “+N hidden” has N more beyond it.`),
      el("p", {}, "To see the rest, narrow it: ", narrower.map(([text, p], i) => [i ? " · " : "", el("a", { href: go(p) }, text)]),
        narrower.length ? " · " : "", "or centre the graph on a box further out (select it, then “Centre the graph here”). Grouping by namespace or job keeps a drawn picture readable."));
  }
  main.replaceChildren(
    el("p", { class: "crumbs" }, kindBadge(data.start.kind), " ", el("a", { href: href("node", data.start.key) }, data.start.name)),
    el("h1", {}, `Lineage around ${data.start.name}`),
    ...[form, cut, tools, stats].filter(Boolean),
    el("div", { class: "graph-area" }, canvas, el("div", { class: "side" }, panel, groups, legend())));
  const select = (k) => {
    const kind = k.slice(0, k.indexOf(":"));
    panel.replaceChildren(el("h2", {}, "Selected"), el("p", {}, kindBadge(kind)), el("p", {}, el("code", { class: "key" }, k)),
      el("p", { class: "actions" },
        el("a", { class: "button", href: href("node", k) }, "Open its page"),
        el("a", { class: "button", href: href("graph", k, { direction, depth, group: grouping }) }, "Centre the graph here"),
        kind === "field" ? el("a", { class: "button", href: href("impact", k) }, "What breaks?") : null));
  };
  let tLayout = 0;
  const describe = (view) => {
    const s = view.stats;
    stats.textContent = `${fmt(data.nodes.length)} nodes and ${fmt(data.edges.length)} edges as ${fmt(s.boxes)} boxes in ${s.layers} layers` +
      (s.clusters ? `, ${fmt(s.clusters)} group(s) folded (Enter or click one to open it)` : "") +
      (data.hidden ? `; ${fmt(data.hidden)} more nodes not drawn` : "") +
      ` · API ${Math.round(tApi)} ms, layout and drawing ${Math.round(tLayout || view.layoutMs)} ms`;
    const list = view.groupList || [];
    const active = document.activeElement;
    const had = active && groups.contains(active) ? active.dataset.group : null;
    groups.replaceChildren(el("h3", {}, "Groups"), list.length
      ? el("ul", { class: "group-list" }, list.slice(0, 200).map((g) => el("li", {},
          el("button", { type: "button", class: "link", "aria-pressed": String(g.open), "data-group": g.key,
                         onclick: () => view.toggleGroup(g.key) }, g.open ? "fold" : "open"),
          ` ${g.label} (${fmt(g.size)})`)))
      : el("p", { class: "muted" }, grouping === "job" ? "No job in this picture writes two or more of its boxes." :
          grouping === "none" ? "Every box is drawn." : "Nothing is grouped: the picture is small enough."));
    // the keyboard stays on the button just pressed, though the list was rebuilt
    if (had) groups.querySelector(`[data-group="${CSS.escape(had)}"]`)?.focus();
  };
  const t1 = performance.now();
  const view = new GraphView(canvas, data, { grouping, onSelect: select, onRender: describe, onOpen: (k) => { location.hash = href("node", k); } });
  tLayout = performance.now() - t1;
  describe(view);
  groupSel.addEventListener("change", () => { location.hash = go({ group: groupSel.value }); });
  buttons["expand-all"].addEventListener("click", () => view.setAllExpanded(true));
  buttons["collapse-all"].addEventListener("click", () => view.setAllExpanded(false));
  buttons["zoom-in"].addEventListener("click", () => view.zoom(0.8));
  buttons["zoom-out"].addEventListener("click", () => view.zoom(1.25));
  buttons.fit.addEventListener("click", () => view.fit());
  if (main.isConnected) {
    window.lineageGraph = view; // for tests and the curious
    say(stats.textContent);
  }
}

// ------------------------------------------------------------------ what breaks

const CHANGES = [
  ["type", "change its type to…", "new type (e.g. string, int64, float64)"],
  ["drop", "drop it", null],
  ["rename", "rename it to…", "new name"],
  ["nullable", "let it be null", null],
  ["not_null", "make it required (not null)", null],
  ["values", "change allowed values…", "-X to remove, +Y to add (comma-separated)"],
];

function changeSpec(kind, arg) {
  return arg === null ? kind : `${kind}:${arg}`;
}

async function impactPage(key, params) {
  const main = current; // this view's own container, whatever is shown later
  const field = el("input", { id: "i-field", name: "field", value: key, required: true, spellcheck: "false",
                              autocomplete: "off", list: "i-columns",
                              placeholder: "a column: transactions.category", "aria-describedby": "i-field-help" });
  // the columns matching what is typed, offered by the browser's own list (arrows, Enter)
  const columns = el("datalist", { id: "i-columns" });
  let typing = null;
  field.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const q = field.value.trim();
      if (q.length < 2) return;
      try {
        const found = await api("nodes", { params: { q, kind: "field", limit: 30 } });
        columns.replaceChildren(...found.nodes.map((n) => el("option", { value: n.key }, n.name)));
      } catch (err) {
        if (err instanceof Refused) failed(err);
      }
    }, 150);
  });
  const kindSel = el("select", { id: "i-change", name: "change" }, CHANGES.map(([v, t]) => el("option", { value: v }, t)));
  const arg = el("input", { id: "i-arg", name: "arg", spellcheck: "false" });
  const argLabel = el("label", { for: "i-arg" }, "to");
  const given = params.get("change") || "type:string";
  const [gk, ...rest] = given.split(":");
  kindSel.value = CHANGES.some(([v]) => v === gk) ? gk : "type";
  arg.value = rest.join(":");
  const sync = () => {
    const spec = CHANGES.find(([v]) => v === kindSel.value);
    arg.hidden = argLabel.hidden = spec[2] === null;
    arg.required = spec[2] !== null;
    arg.placeholder = spec[2] || "";
  };
  kindSel.addEventListener("change", sync);
  sync();
  const form = el("form", { class: "card", "aria-labelledby": "i-title" },
    el("h1", { id: "i-title" }, "What breaks if a column changes?"),
    el("p", { id: "i-field-help", class: "hint" }, "Pick a column (its full key or any unambiguous part of its name) and a change; every dependent gets a verdict, the path that reaches it and the consumers to tell."),
    el("div", { class: "inline" }, el("label", { for: "i-field" }, "column"), field, columns,
       el("label", { for: "i-change" }, "change"), kindSel, argLabel, arg,
       el("button", { type: "submit" }, "Show what breaks")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const spec = CHANGES.find(([v]) => v === kindSel.value);
    location.hash = href("impact", field.value.trim(), { change: changeSpec(kindSel.value, spec[2] === null ? null : arg.value.trim()) });
  });
  main.replaceChildren(form);
  if (!key) { field.focus(); return; }
  const change = params.get("change");
  if (!change) { kindSel.focus(); return; }
  const t0 = performance.now();
  let report, consumers;
  try {
    [report, consumers] = await Promise.all([
      api("impact", { params: { field: key, change } }),
      api("consumers", { params: { of: key } })]);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    // bad input: the server's message under the form, to correct it there
    main.append(el("div", { class: "card error", role: "alert", id: "impact-error" }, el("p", {}, err.message),
      err.body && err.body.candidates ? el("ul", {}, err.body.candidates.map((c) =>
        el("li", {}, el("a", { href: href("impact", c, { change }) }, c)))) : null));
    return;
  }
  main.append(impactResults(report, consumers.consumers, change, Math.round(performance.now() - t0)));
}

function impactResults(report, consumers, change, ms) {
  const all = Object.values(report.affected).flat();
  const box = el("section", { class: "card", id: "impact-results", "aria-labelledby": "r-title" });
  const counts = report.counts || {};
  box.append(el("h2", { id: "r-title" }, `If ${report.start.name} changes (${change})`),
    el("ul", { class: "changes" }, (report.changes || []).map((c) => el("li", {}, verdictBadge(c.compatibility === "breaking" ? "breaking" : c.compatibility || "unknown"), " ", c.description))),
    el("p", { class: "counts" }, ["breaking", "unknown", "compatible"].map((v) => el("span", { class: `count ${v}` }, verdictBadge(v), ` ${fmt(counts[v] || 0)}`))),
    el("p", { class: "muted" }, `${fmt(all.length)} dependents · answered in ${ms} ms` +
      (report.column_unknown ? ` · ${fmt(report.column_unknown)} reached only through dataset-level lineage (column unknown)` : "")));
  // the consumers whose path runs through each dependent: who to tell about it
  const tellFor = new Map();
  for (const c of all.filter((a) => a.kind === "consumer")) {
    for (const step of c.path || []) (tellFor.get(step.key) || tellFor.set(step.key, []).get(step.key)).push(c);
  }
  const rows = all.filter((a) => a.kind !== "consumer").map((a) => {
    const tell = tellFor.get(a.key) || [];
    const tr = el("tr", { class: `verdict-row ${a.verdict}`, "data-key": a.key },
      el("td", {}, verdictBadge(a.verdict || "unknown")),
      el("td", {}, kindBadge(a.kind), " ", nodeLink(a),
         a.column_unknown ? el("span", { class: "tag unknown" }, "dataset-level lineage, column unknown") : null),
      el("td", {}, a.reason || ""),
      el("td", {}, pathView(a.path || [])),
      el("td", {}, tell.length ? tell.map((c, i) => [i ? ", " : "", nodeLink(c)]) : el("span", { class: "muted" }, "none")));
    return tr;
  });
  box.append(el("h3", {}, "Dependents"), rows.length ? el("table", { class: "impact" },
    el("thead", {}, el("tr", {}, ["verdict", "dependent", "why", "path", "consumers to tell"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)) : el("p", {}, "Nothing depends on it."));
  const owners = new Map(consumers.map((c) => [c.key, c]));
  const tell = all.filter((a) => a.kind === "consumer");
  box.append(el("h3", {}, "Consumers to tell"), tell.length ? el("table", { class: "impact consumers" },
    el("thead", {}, el("tr", {}, ["verdict", "consumer", "owner", "channels", "why", "path"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, tell.map((c) => {
      const info = owners.get(c.key) || {};
      return el("tr", { class: `verdict-row ${c.verdict}`, "data-key": c.key },
        el("td", {}, verdictBadge(c.verdict || "unknown")), el("td", {}, nodeLink(c)), el("td", {}, info.owner || "—"),
        el("td", {}, (info.channels || []).map((ch) => `${ch.kind} ${ch.target}`).join(", ") || "—"),
        el("td", {}, c.reason || ""), el("td", {}, pathView(c.path || [])));
    }))) : el("p", {}, "No consumer depends on it."));
  box.append(el("h3", {}, "The picture"), verdictGraph(report, all));
  const command = `lineage impact ${report.start.key} --change ${change} --notify`;
  box.append(el("h3", {}, "Announce the change"),
    el("button", { type: "button", id: "announce", disabled: true, "aria-describedby": "announce-why" }, "Announce to the consumers it breaks"),
    el("p", { id: "announce-why", class: "hint" },
      "Announcing writes notifications to the outbox, which needs a token with a write scope. This page only ever holds a read token, so it cannot announce; ",
      "someone with write access runs:"),
    el("pre", {}, command));
  return box;
}

/** The change's dependents drawn along their paths, each painted with its verdict. */
function verdictGraph(report, all) {
  const kinds = new Map([[report.start.key, report.start.kind]]);
  const verdicts = new Map();
  const edges = new Map();
  for (const a of all) {
    kinds.set(a.key, a.kind);
    verdicts.set(a.key, a.verdict || "unknown");
    const path = a.path || [];
    for (let i = 1; i < path.length; i++) {
      kinds.has(path[i].key) || kinds.set(path[i].key, path[i].key.slice(0, path[i].key.indexOf(":")));
      const e = { src: path[i - 1].key, dst: path[i].key, kind: path[i].edge,
                  properties: a.column_unknown && i === path.length - 1 ? { column_unknown: true } : {} };
      edges.set(`${e.src}\u0000${e.dst}`, e);
    }
  }
  const nodes = [...kinds].map(([key, kind]) => ({ key, kind, name: shortName(key) }));
  const canvas = el("div", { class: "canvas small", id: "impact-canvas" });
  const wrap = el("div", {}, el("p", { class: "hint" }, "Every dependent along the path that reaches it; boxes and columns carry their verdict as a word and a colour (double-click one to open its page)."), canvas);
  requestAnimationFrame(() => new GraphView(canvas, { start: report.start, nodes, edges: [...edges.values()] },
    { verdicts, onOpen: (k) => { location.hash = href("node", k); } }));
  return wrap;
}

// ------------------------------------------------------------------ the training check

async function guardPage() {
  const main = current; // this view's own container, whatever is shown later
  const file = el("input", { id: "t-table", name: "table", type: "file", accept: ".csv,.tsv,.parquet,.pq", required: true });
  const key = el("input", { id: "t-key", name: "key", required: true, placeholder: "transaction_id" });
  const label = el("input", { id: "t-label", name: "label", required: true, placeholder: "is_fraud" });
  const dataset = el("input", { id: "t-dataset", name: "dataset", placeholder: "fraud.training_labels (optional)" });
  const model = el("input", { id: "t-model", name: "model", placeholder: "fraud@3 (optional)" });
  const out = el("div", { id: "guard-out", "aria-live": "polite" });
  const form = el("form", { class: "card", "aria-labelledby": "t-title" },
    el("h1", { id: "t-title" }, "Check a training table"),
    el("p", { class: "hint" }, "Upload the table a job is about to train on (CSV or Parquet). The guard asks, for every row, who asserted its label: ",
       "rows that only a model ever asserted are blocked, and a model that would learn from its own earlier outputs is a feedback loop. Nothing is stored."),
    el("div", { class: "grid" },
      el("label", { for: "t-table" }, "table"), file, el("label", { for: "t-key" }, "key column(s)"), key,
      el("label", { for: "t-label" }, "label column(s)"), label, el("label", { for: "t-dataset" }, "dataset it claims to be"), dataset,
      el("label", { for: "t-model" }, "model it trains"), model),
    el("button", { type: "submit" }, "Check"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren(el("p", { class: "loading" }, "Checking…"));
    try {
      const report = await api("training/check", { form: new FormData(form) });
      out.replaceChildren(guardReport(report));
    } catch (err) {
      if (err instanceof Refused) return failed(err);
      out.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    }
  });
  main.replaceChildren(form, out);
  file.focus();
}

function guardReport(r) {
  const verdict = r.passed ? "compatible" : "breaking";
  return el("section", { class: "card", id: "guard-report" },
    el("h2", {}, el("span", { class: `verdict ${verdict}`, "data-verdict": r.passed ? "passed" : "blocked" }, r.passed ? "✔ passed" : "✖ blocked")),
    el("p", {}, r.summary),
    el("table", { class: "guard-counts" },
      el("thead", {}, el("tr", {}, ["verdict", "rows", "the policy"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, Object.entries(r.counts).map(([v, n]) => {
        const action = policyAction(r.policy || {}, v);
        return el("tr", { class: `guard-${action}` }, el("td", {}, v), el("td", {}, fmt(n)), el("td", {}, action));
      }))),
    el("p", { class: "muted" }, `${fmt(r.rows)} rows · blocked ${fmt(r.blocked_rows)} · warned ${fmt(r.warned_rows)}` + (r.duplicate_rows ? ` · ${fmt(r.duplicate_rows)} duplicate rows` : "")),
    r.findings.length ? el("div", {}, el("h3", {}, "Lineage findings"), el("ul", {}, r.findings.map((f) =>
      el("li", {}, el("strong", {}, f.kind), ": ", f.message, f.path && f.path.length ? el("div", { class: "muted" }, f.path.join(" → ")) : null)))) : null,
    r.examples.length ? el("div", {}, el("h3", {}, "Examples"), table(Object.keys(r.examples[0]),
      r.examples.slice(0, 20).map((e) => Object.values(e).map(cellText)))) : null);
}

/** An example's cell: {"transaction_id": "t2"} reads transaction_id=t2. */
function cellText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  return Object.entries(v).map(([k, x]) => `${k}=${typeof x === "string" ? shortName(x) : JSON.stringify(x)}`).join(", ");
}

function policyAction(policy, verdict) {
  const map = { ai_only: "block", unverified: policy.unverified, low_confidence: policy.low_confidence,
                ground_truth: "allow", pseudo_label: "allow" };
  return map[verdict] || "";
}

// ------------------------------------------------------------------ start

async function start() {
  setUpSearch();
  window.addEventListener("hashchange", route);
  if (!token()) {
    // a server without authentication answers without a token: then there is none to ask for
    try {
      const who = await api("whoami", { secret: "" });
      openServer = who.name === "anonymous";
    } catch {
      openServer = false;
    }
    if (openServer) {
      document.getElementById("signout").hidden = true;
      document.getElementById("main").before(el("p", { class: "notice", id: "open-notice" },
        "This server runs without authentication (lineage serve --no-auth): anyone who reaches it can read it."));
    }
  }
  route();
}

start();
