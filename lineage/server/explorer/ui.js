// Small DOM helpers. Text from the store only ever goes in as text (never as HTML).

export const KIND_LABEL = {
  dataset: "dataset", dataset_version: "dataset version", field: "column", feature: "feature",
  model: "model", model_version: "model version", job: "job", run: "run",
  consumer: "consumer", agent: "agent", cluster: "group",
};

export const KINDS = Object.keys(KIND_LABEL).filter((k) => k !== "cluster");

/** An HTML element: el("a", {href: "#/"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** An SVG element. */
export function svg(tag, attrs = {}) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** A node's kind as a labelled, coloured badge (the colour is never the only sign). */
export function kindBadge(kind) {
  return el("span", { class: `badge kind-${kind}` }, KIND_LABEL[kind] || kind);
}

export function verdictBadge(verdict) {
  const mark = { breaking: "✖", unknown: "?", compatible: "✔" }[verdict] || "";
  return el("span", { class: `verdict ${verdict}`, "data-verdict": verdict }, `${mark} ${verdict}`);
}

/** The hash route of a view over a node. */
export function href(view, key, params) {
  const q = params ? "?" + new URLSearchParams(params).toString() : "";
  return `#/${view}/${encodeURIComponent(key)}${q}`;
}

export function nodeLink(ref) {
  return el("a", { href: href("node", ref.key), title: ref.key }, ref.name || ref.key);
}

/** A key without its kind and namespace: `public.transactions.category`, `fraud@3`. */
export function shortName(key) {
  const body = key.slice(key.indexOf(":") + 1);
  const scheme = body.indexOf("://");
  return scheme < 0 ? body : body.slice(body.indexOf("/", scheme + 3) + 1) || body;
}

export function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))));
}

export function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

export function fmt(n) {
  return Number(n).toLocaleString("en");
}
