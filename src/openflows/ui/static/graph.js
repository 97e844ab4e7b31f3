// A flow definition drawn as an SVG graph: states are boxes in layers (breadth-first from StartAt), edges are
// Next / Default / Choice branches (labelled with their condition) / Catch edges (labelled with the errors).

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 44;
const GAP_X = 30;
const GAP_Y = 70;
const PAD = 20;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(text, size) {
  return text.length > size ? `${text.slice(0, size - 1)}…` : text;
}

const OPERATORS = {
  StringEquals: "==", NumericEquals: "==", BooleanEquals: "==", TimestampEquals: "==",
  NumericLessThan: "<", NumericGreaterThan: ">", NumericLessThanEquals: "<=", NumericGreaterThanEquals: ">=",
  StringLessThan: "<", StringGreaterThan: ">", StringLessThanEquals: "<=", StringGreaterThanEquals: ">=",
  TimestampLessThan: "<", TimestampGreaterThan: ">",
  TimestampLessThanEquals: "<=", TimestampGreaterThanEquals: ">=",
};

// A short text for a Choice rule: "$.n > 3", "not(...)", "a and b".
export function describeRule(rule) {
  if (!rule || typeof rule !== "object") return "?";
  if (Array.isArray(rule.And)) return rule.And.map(describeRule).join(" and ");
  if (Array.isArray(rule.Or)) return rule.Or.map(describeRule).join(" or ");
  if (rule.Not) return `not(${describeRule(rule.Not)})`;
  for (const [key, value] of Object.entries(rule)) {
    if (key === "Variable" || key === "Next") continue;
    const base = key.replace(/Path$/, "");
    const op = OPERATORS[base];
    const shown = key.endsWith("Path") ? String(value) : JSON.stringify(value);
    if (op) return `${rule.Variable} ${op} ${shown}`;
    return `${rule.Variable} ${base}${value === true ? "" : ` ${shown}`}`;
  }
  return rule.Variable || "?";
}

// The edges of a definition: {from, to, label, kind}.
export function flowEdges(definition) {
  const edges = [];
  for (const [name, state] of Object.entries(definition.States || {})) {
    if (state.Next) edges.push({ from: name, to: state.Next, label: "", kind: "next" });
    if (state.Type === "Choice") {
      (state.Choices || []).forEach((rule) => {
        edges.push({ from: name, to: rule.Next, label: describeRule(rule), kind: "choice" });
      });
      if (state.Default) edges.push({ from: name, to: state.Default, label: "Default", kind: "choice" });
    }
    (state.Catch || []).forEach((catcher) => {
      const errors = (catcher.ErrorEquals || []).join(", ");
      edges.push({ from: name, to: catcher.Next, label: `Catch ${errors}`, kind: "catch" });
    });
  }
  return edges.filter((edge) => edge.to in (definition.States || {}));
}

// Layer of each state: breadth-first distance from StartAt; unreachable states go below everything.
export function layerStates(definition, edges) {
  const names = Object.keys(definition.States || {});
  const layer = new Map();
  const queue = [];
  if (definition.StartAt in (definition.States || {})) {
    layer.set(definition.StartAt, 0);
    queue.push(definition.StartAt);
  }
  while (queue.length) {
    const name = queue.shift();
    for (const edge of edges) {
      if (edge.from === name && !layer.has(edge.to)) {
        layer.set(edge.to, layer.get(name) + 1);
        queue.push(edge.to);
      }
    }
  }
  const deepest = Math.max(-1, ...layer.values());
  for (const name of names) if (!layer.has(name)) layer.set(name, deepest + 1);
  return layer;
}

// `statuses`: state name -> "done" | "running" | "failed" | "canceled" (absent: not reached), or null to
// draw the plain definition.
export function renderGraph(definition, statuses = null) {
  const edges = flowEdges(definition);
  const layer = layerStates(definition, edges);
  const rows = [];
  for (const [name, depth] of layer) (rows[depth] = rows[depth] || []).push(name);
  const widest = Math.max(1, ...rows.map((row) => (row ? row.length : 0)));
  const width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X + 160;
  const height = PAD * 2 + rows.length * NODE_H + Math.max(0, rows.length - 1) * GAP_Y;
  const position = new Map();
  rows.forEach((row, depth) => {
    if (!row) return;
    const rowWidth = row.length * NODE_W + (row.length - 1) * GAP_X;
    const left = PAD + (widest * NODE_W + (widest - 1) * GAP_X - rowWidth) / 2;
    row.forEach((name, index) => {
      position.set(name, { x: left + index * (NODE_W + GAP_X), y: PAD + depth * (NODE_H + GAP_Y) });
    });
  });

  const count = Object.keys(definition.States || {}).length;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "graph",
    role: "img",
    "aria-label": `Flow graph: ${count} states, starting at ${definition.StartAt}`,
  });
  const defs = el("defs");
  const marker = el("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto",
  });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);

  const rightmost = PAD + widest * NODE_W + (widest - 1) * GAP_X;
  edges.forEach((edge, index) => {
    const a = position.get(edge.from);
    const b = position.get(edge.to);
    let d;
    let lx;
    let ly;
    if (layer.get(edge.to) > layer.get(edge.from)) {
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + NODE_H;
      const x2 = b.x + NODE_W / 2;
      const y2 = b.y;
      d = `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 2;
    } else {
      // back edge or same layer: go round on the right
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x + NODE_W;
      const y2 = b.y + NODE_H / 2;
      const out = rightmost + 30 + (index % 4) * 18;
      d = `M${x1},${y1} C${out},${y1} ${out},${y2} ${x2},${y2}`;
      lx = out - 10;
      ly = (y1 + y2) / 2;
    }
    const group = el("g", { class: `edge edge-${edge.kind}` });
    group.append(el("path", { d, "marker-end": "url(#arrow)" }));
    if (edge.label) {
      const label = el("text", { x: lx, y: ly, "text-anchor": "middle", class: "edge-label" }, short(edge.label, 28));
      group.append(el("title", {}, `${edge.from} → ${edge.to}: ${edge.label}`), label);
    }
    svg.append(group);
  });

  for (const [name, state] of Object.entries(definition.States || {})) {
    const { x, y } = position.get(name);
    const status = statuses ? statuses[name] || "notreached" : "plain";
    const group = el("g", { class: `node st-${status}`, "data-state": name, "data-status": status });
    group.append(el("rect", { x, y, width: NODE_W, height: NODE_H, rx: 8 }));
    group.append(el("text", { x: x + NODE_W / 2, y: y + 18, "text-anchor": "middle", class: "node-name" }, short(name, 22)));
    const kind = state.Type === "Action" && state.ActionUrl ? `Action · ${state.ActionUrl.split("/").pop()}` : state.Type;
    group.append(el("text", { x: x + NODE_W / 2, y: y + 34, "text-anchor": "middle", class: "node-type" }, short(kind || "?", 26)));
    group.append(el("title", {}, `${name} (${state.Type})${statuses ? `: ${status}` : ""}`));
    if (name === definition.StartAt) group.classList.add("start");
    svg.append(group);
  }
  return svg;
}
