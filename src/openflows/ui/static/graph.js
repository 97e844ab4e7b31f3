// A flow definition drawn as an SVG graph. States are boxes, edges are Next / Choice branches (labelled with
// their condition) / Default / Catch edges (labelled with the errors). The layout is ELK's layered algorithm
// (vendor/elk.bundled.js, loaded on first use): states in ranks from top to bottom, edges routed orthogonally
// around the boxes, each label placed on its own edge.
//
// Back edges (loops) are chosen here, not by ELK: a depth-first walk from StartAt in definition order, the
// same rule as `openflows flows graph --dot` (cli/graph.py), so that the terminal's DOT export and the
// dashboard rank the states alike. ELK gets them reversed (so it sees a graph without cycles) and the drawing
// turns them back.
//
// A Map or Parallel state is a compound box with its sub-machines drawn inside it (issue 19): a Map's
// ItemProcessor ("Each item"), a Parallel's Branches ("Branch 1", ...) side by side, each laid out like a flow
// of its own (its loops chosen by the same walk from its own StartAt), to any depth. ELK lays out each
// compound box separately, from the inside out; no edge crosses a sub-machine's frame (the language forbids
// it). In the SVG a compound is `g.node.compound` holding one `g.machine` per sub-machine, which holds that
// machine's edges, states and labels.

const SVG = "http://www.w3.org/2000/svg";
const ELK_SCRIPT = new URL("./vendor/elk.bundled.js", import.meta.url).href;
const NODE_H = 46; // px
const NODE_MIN_W = 120; // px
const NODE_MAX_W = 240; // px
const NODE_PAD_X = 14; // px, each side
const NAME_FONT = 13; // px, as app.css draws a state's name
const LABEL_FONT = 11; // px, as app.css draws an edge label
const LABEL_H = 16; // px
const LABEL_PAD_X = 5; // px, each side
const LABEL_MAX_CHARS = 34;
const CORNER = 6; // px, radius of an edge's bends
const COMPOUND_HEADER_H = 62; // px, a Map or Parallel box's name, type and progress above its sub-machines
const COMPOUND_PAD = 14; // px, around and between its sub-machines
const MACHINE_LABEL_H = 16; // px, a sub-machine's label ("Branch 1", "Each item") at its top
const BRANCH_STATUS_W = 80; // px, kept beside a branch's label for its status on a run page
const PROGRESS_SAMPLE = "9999/9999 succeeded, 999 failed"; // the widest progress line a compound box keeps room for

const LAYOUT_OPTIONS = {
  "elk.algorithm": "layered",
  "elk.direction": "DOWN",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.padding": "[top=16,left=16,bottom=16,right=16]",
  "elk.spacing.nodeNode": "36",
  "elk.spacing.edgeNode": "18",
  "elk.spacing.edgeEdge": "12",
  "elk.spacing.edgeLabel": "2",
  "elk.spacing.labelNode": "6",
  "elk.layered.spacing.nodeNodeBetweenLayers": "44",
  "elk.layered.spacing.edgeNodeBetweenLayers": "18",
  "elk.layered.spacing.edgeEdgeBetweenLayers": "12",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.layered.nodePlacement.bk.fixedAlignment": "BALANCED",
};

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
    if (key === "Variable" || key === "Next" || key === "Comment") continue;
    const base = key.replace(/Path$/, "");
    const op = OPERATORS[base];
    const shown = key.endsWith("Path") ? String(value) : JSON.stringify(value);
    if (op) return `${rule.Variable} ${op} ${shown}`;
    return `${rule.Variable} ${base}${value === true ? "" : ` ${shown}`}`;
  }
  return rule.Variable || "?";
}

// The edges of a definition, in the order of cli/graph.py's `transitions`: Choices, Default, Next, Catch.
// Each is {from, to, label, kind} with kind "choice" | "default" | "next" | "catch".
export function flowEdges(definition) {
  const states = definition.States || {};
  const edges = [];
  for (const [name, state] of Object.entries(states)) {
    if (!state || typeof state !== "object") continue;
    if (state.Type === "Choice") {
      (state.Choices || []).forEach((rule) => {
        edges.push({ from: name, to: rule && rule.Next, label: describeRule(rule), kind: "choice" });
      });
      if (state.Default) edges.push({ from: name, to: state.Default, label: "Default", kind: "default" });
    }
    if (state.Next) edges.push({ from: name, to: state.Next, label: "", kind: "next" });
    (state.Catch || []).forEach((catcher) => {
      const errors = ((catcher && catcher.ErrorEquals) || []).join(", ");
      edges.push({ from: name, to: catcher && catcher.Next, label: `Catch ${errors}`, kind: "catch" });
    });
  }
  return edges.filter((edge) => typeof edge.to === "string" && Object.hasOwn(states, edge.to));
}

// The indexes (into `edges`) of the back edges: those that reach a state still on the path of a depth-first
// walk from StartAt (then from each state not reached yet, in definition order), following edges in order.
export function backEdges(definition, edges) {
  const names = Object.keys(definition.States || {});
  const out = new Map(names.map((name) => [name, []]));
  edges.forEach((edge, index) => out.get(edge.from).push(index));
  const seen = new Set();
  const onPath = new Set();
  const back = new Set();
  const walk = (start) => { // iterative: a long chain of states must not overflow the stack
    const stack = [[start, 0]];
    seen.add(start);
    onPath.add(start);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [name, next] = top;
      if (next >= out.get(name).length) {
        onPath.delete(name);
        stack.pop();
        continue;
      }
      top[1] += 1;
      const index = out.get(name)[next];
      const target = edges[index].to;
      if (onPath.has(target)) back.add(index);
      else if (!seen.has(target)) {
        seen.add(target);
        onPath.add(target);
        stack.push([target, 0]);
      }
    }
  };
  if (out.has(definition.StartAt)) walk(definition.StartAt);
  for (const name of names) if (!seen.has(name)) walk(name);
  return back;
}

let measurer = null;

function textWidth(text, size, weight = "normal") {
  if (!measurer) measurer = document.createElement("canvas").getContext("2d");
  const family = getComputedStyle(document.body).fontFamily || "sans-serif";
  measurer.font = `${weight} ${size}px ${family}`;
  return measurer.measureText(text).width;
}

function stateKind(state) {
  if (state && state.Type === "Action" && typeof state.ActionUrl === "string") {
    return `Action · ${state.ActionUrl.replace(/\/+$/, "").split("/").pop()}`;
  }
  return (state && state.Type) || "?";
}

// The sub-machines a state holds, each {key, label, branch, machine}: a Map's ItemProcessor (or older
// Iterator), a Parallel's Branches (branch = its index). Anything else holds none.
export function subMachines(state) {
  const valid = (machine) => machine && typeof machine === "object" && machine.States && typeof machine.States === "object";
  if (!state || typeof state !== "object") return [];
  if (state.Type === "Map") {
    const key = state.ItemProcessor ? "ItemProcessor" : "Iterator";
    return valid(state[key]) ? [{ key, label: "Each item", branch: null, machine: state[key] }] : [];
  }
  if (state.Type === "Parallel" && Array.isArray(state.Branches)) {
    return state.Branches.map((machine, index) => ({ key: `Branches/${index}`, label: `Branch ${index + 1}`, branch: index, machine }))
      .filter((sub) => valid(sub.machine));
  }
  return [];
}

// What a box and a label show, and how wide they are. A state holding sub-machines is a compound box: its
// header (name, type, and on a run page a line of progress) above its sub-machines, drawn inside it.
function shapes(definition, edges) {
  const nodes = Object.entries(definition.States || {}).map(([name, state]) => {
    const kind = stateKind(state);
    const subs = subMachines(state);
    const widest = Math.max(textWidth(name, NAME_FONT, "600"), textWidth(kind, LABEL_FONT),
      subs.length ? textWidth(PROGRESS_SAMPLE, LABEL_FONT, "600") : 0);
    const width = Math.min(subs.length ? Infinity : NODE_MAX_W, Math.max(NODE_MIN_W, Math.ceil(widest) + 2 * NODE_PAD_X));
    const fits = (text, size, weight) => {
      let shown = text;
      while (shown.length > 2 && textWidth(shown, size, weight) > width - 2 * NODE_PAD_X) shown = short(shown, shown.length - 1);
      return shown;
    };
    return { name, state, kind, width, height: NODE_H, shownName: fits(name, NAME_FONT, "600"), shownKind: fits(kind, LABEL_FONT), subs };
  });
  const labels = edges.map((edge) => {
    if (!edge.label) return null;
    const text = short(edge.label, LABEL_MAX_CHARS);
    return { text, width: Math.ceil(textWidth(text, LABEL_FONT)) + 2 * LABEL_PAD_X, height: LABEL_H };
  });
  return { nodes, labels };
}

let elkPromise = null;

// The ELK engine, its script added to the page on first use.
function loadElk() {
  if (!elkPromise) {
    elkPromise = new Promise((resolve, reject) => {
      const ready = () => resolve(new window.ELK());
      if (window.ELK) return ready();
      const script = document.createElement("script");
      script.src = ELK_SCRIPT;
      script.onload = ready;
      script.onerror = () => {
        elkPromise = null;
        reject(new Error("the graph layout engine could not be loaded"));
      };
      document.head.append(script);
    });
  }
  return elkPromise;
}

// One state machine (the flow, or a sub-machine) as ELK graph content, {children, edges}, and how to read
// its result back (`read`). Ids are unique across the whole graph: `ids.next` counts them. A compound state
// is an ELK node with children (one per sub-machine, each a node whose children are its states), laid out
// bottom-up by ELK (each compound node separately, its size taken from its content).
function machineGraph(machine, ids) {
  const edges = flowEdges(machine);
  const back = backEdges(machine, edges);
  const { nodes, labels } = shapes(machine, edges);
  const idOf = new Map();
  const children = nodes.map((node) => {
    const id = `n${ids.next++}`;
    idOf.set(node.name, id);
    if (!node.subs.length) return { id, width: node.width, height: node.height };
    node.inner = node.subs.map((sub) => {
      const content = machineGraph(sub.machine, ids);
      const label = sub.label;
      return { sub, content, id: `m${ids.next++}`, labelWidth: Math.ceil(textWidth(label, LABEL_FONT, "600")) };
    });
    return {
      id,
      layoutOptions: {
        ...LAYOUT_OPTIONS,
        "elk.padding": `[top=${COMPOUND_HEADER_H},left=${COMPOUND_PAD},bottom=${COMPOUND_PAD},right=${COMPOUND_PAD}]`,
        "elk.separateConnectedComponents": "false", // the sub-machines side by side, in definition order
        "elk.spacing.nodeNode": String(COMPOUND_PAD),
        "elk.nodeSize.constraints": "MINIMUM_SIZE",
        "elk.nodeSize.minimum": `(${node.width},${NODE_H})`,
        "elk.contentAlignment": "[H_CENTER, V_TOP]",
      },
      children: node.inner.map((inner) => ({
        id: inner.id,
        layoutOptions: {
          ...LAYOUT_OPTIONS,
          "elk.padding": `[top=${MACHINE_LABEL_H + 8},left=12,bottom=12,right=12]`,
          "elk.nodeSize.constraints": "MINIMUM_SIZE",
          "elk.nodeSize.minimum": `(${inner.labelWidth + BRANCH_STATUS_W + 2 * LABEL_PAD_X},${NODE_H})`,
          "elk.contentAlignment": "[H_CENTER, V_TOP]",
          "elk.alignment": "TOP", // in its row of sub-machines
        },
        children: inner.content.children,
        edges: inner.content.edges,
      })),
    };
  });
  const elkEdges = edges.map((edge, index) => {
    const [from, to] = [idOf.get(edge.from), idOf.get(edge.to)];
    const label = labels[index];
    return {
      id: `e${ids.next++}`,
      sources: [back.has(index) ? to : from],
      targets: [back.has(index) ? from : to],
      labels: label ? [{ text: label.text, width: label.width, height: label.height,
        layoutOptions: { "elk.edgeLabels.placement": "CENTER", "elk.edgeLabels.inline": "true" } }] : [],
    };
  });
  // `result` is ELK's node holding this machine's states; (dx, dy) where its origin is on the page.
  const read = (result, dx, dy) => {
    const byId = new Map((result.children || []).map((child) => [child.id, child]));
    const placed = nodes.map((node) => {
      const box = byId.get(idOf.get(node.name));
      const out = { ...node, x: dx + box.x, y: dy + box.y, width: box.width, height: box.height };
      if (!node.inner) return out;
      const sized = new Map((box.children || []).map((child) => [child.id, child]));
      const tallest = Math.max(...node.inner.map((inner) => sized.get(inner.id).height));
      out.machines = node.inner.map((inner) => {
        const frame = sized.get(inner.id);
        const [x, y] = [out.x + frame.x, out.y + frame.y];
        // all of a Parallel's branches as tall as the tallest: they start together, side by side
        return { ...inner.sub, x, y, width: frame.width, height: tallest, ...inner.content.read(frame, x, y) };
      });
      return out;
    });
    const found = new Map((result.edges || []).map((item) => [item.id, item]));
    const routed = edges.map((edge, index) => {
      const item = found.get(elkEdges[index].id);
      const points = [];
      for (const section of item.sections || []) {
        points.push([dx + section.startPoint.x, dy + section.startPoint.y]);
        for (const bend of section.bendPoints || []) points.push([dx + bend.x, dy + bend.y]);
        points.push([dx + section.endPoint.x, dy + section.endPoint.y]);
      }
      if (back.has(index)) points.reverse();
      const label = (item.labels || [])[0];
      const box = label ? { text: labels[index].text, x: dx + label.x, y: dy + label.y, width: label.width, height: label.height } : null;
      if (box && edge.from === edge.to) touchLoop(box, points);
      return { ...edge, back: back.has(index), points, box };
    });
    return { nodes: placed, edges: routed };
  };
  return { children, edges: elkEdges, read };
}

// Where everything goes: {width, height, nodes: [{name, state, kind, x, y, width, height, machines?, ...}],
// edges: [{from, to, label, kind, back, points: [[x, y]...], box: {text, x, y, width, height} | null}]}, in
// page coordinates. A compound node's `machines` are [{key, label, branch, x, y, width, height, nodes, edges}].
export async function layoutFlow(definition) {
  const content = machineGraph(definition, { next: 0 });
  const elk = await loadElk();
  const graph = await elk.layout({ id: "flow", layoutOptions: LAYOUT_OPTIONS, children: content.children, edges: content.edges });
  return { width: Math.ceil(graph.width), height: Math.ceil(graph.height), ...content.read(graph, 0, 0) };
}

// ELK puts a self-loop's label beside the loop, in space it keeps free for it: move the label across that
// space until it touches the loop's outer side, so that it reads as the loop's label.
function touchLoop(box, points) {
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (box.x > right) box.x = right - 1;
  else if (box.x + box.width < left) box.x = left - box.width + 1;
  if (box.y > bottom) box.y = bottom - 1;
  else if (box.y + box.height < top) box.y = top - box.height + 1;
}

// An SVG path through `points` with rounded bends.
function pathData(points) {
  if (!points.length) return "";
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x, y] = points[i];
    if (i === points.length - 1) {
      d += ` L${x},${y}`;
      break;
    }
    const [px, py] = points[i - 1];
    const [nx, ny] = points[i + 1];
    const before = Math.hypot(x - px, y - py);
    const after = Math.hypot(nx - x, ny - y);
    const r = Math.min(CORNER, before / 2, after / 2);
    if (r < 0.5) {
      d += ` L${x},${y}`;
      continue;
    }
    const ax = x - ((x - px) / before) * r;
    const ay = y - ((y - py) / before) * r;
    const bx = x + ((nx - x) / after) * r;
    const by = y + ((ny - y) / after) * r;
    d += ` L${ax},${ay} Q${x},${y} ${bx},${by}`;
  }
  return d;
}

function countStates(nodes) {
  return nodes.reduce((sum, node) => sum + 1 + (node.machines || []).reduce((inner, m) => inner + countStates(m.nodes), 0), 0);
}

function drawSvg(definition, layout) {
  const svg = el("svg", {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    class: "graph",
    role: "img",
    "aria-label": `Flow graph: ${countStates(layout.nodes)} states, starting at ${definition.StartAt}`,
  });
  const defs = el("defs");
  for (const kind of ["next", "choice", "default", "catch"]) {
    const marker = el("marker", {
      id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10,
      markerUnits: "userSpaceOnUse", // the same size on a thick (taken) edge
      orient: "auto-start-reverse", class: `arrowhead arrow-${kind}`,
    });
    marker.append(el("path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.append(marker);
  }
  svg.append(defs);
  drawMachine(svg, definition, layout);
  return svg;
}

// One machine's edges, then its states, then its edge labels (above boxes and edges: a label is never
// hidden), appended to `parent`: the SVG for the flow, a sub-machine's group for a sub-machine.
function drawMachine(parent, machine, layout) {
  const edgeLayer = el("g", { class: "edges" });
  const labelLayer = el("g", { class: "labels" });
  layout.edges.forEach((edge, index) => {
    const group = el("g", { class: `edge edge-${edge.kind}${edge.back ? " back" : ""}`, "data-from": edge.from, "data-to": edge.to, "data-edge": index });
    group.append(el("title", {}, `${edge.from} → ${edge.to}${edge.label ? `: ${edge.label}` : ""}`));
    group.append(el("path", { d: pathData(edge.points), "marker-end": `url(#arrow-${edge.kind})` }));
    edgeLayer.append(group);
    if (edge.box) {
      const label = el("g", { class: `label label-${edge.kind}`, "data-edge": index });
      label.append(el("title", {}, `${edge.from} → ${edge.to}: ${edge.label}`));
      label.append(el("rect", { x: edge.box.x, y: edge.box.y, width: edge.box.width, height: edge.box.height, rx: 4, class: "edge-label-bg" }));
      label.append(el("text", {
        x: edge.box.x + edge.box.width / 2, y: edge.box.y + edge.box.height / 2, "text-anchor": "middle",
        "dominant-baseline": "central", class: "edge-label",
      }, edge.box.text));
      labelLayer.append(label);
    }
  });
  parent.append(edgeLayer);
  for (const node of layout.nodes) {
    const group = el("g", { class: "node st-plain", "data-state": node.name, "data-status": "plain" });
    group.append(el("title", {}, `${node.name} (${node.state && node.state.Type})`));
    group.append(el("rect", { x: node.x, y: node.y, width: node.width, height: node.height, rx: 8 }));
    const middle = node.x + node.width / 2;
    group.append(el("text", { x: middle, y: node.y + 19, "text-anchor": "middle", class: "node-name" }, node.shownName));
    group.append(el("text", { x: middle, y: node.y + 35, "text-anchor": "middle", class: "node-type" }, node.shownKind));
    if (node.name === machine.StartAt) group.classList.add("start");
    if (node.machines) {
      group.classList.add("compound");
      // filled in on a run page (setGraphIterations): "47/50 succeeded, 3 failed"
      group.append(el("text", { x: middle, y: node.y + 51, "text-anchor": "middle", class: "node-progress", "data-width": node.width - 2 * NODE_PAD_X }, ""));
      for (const sub of node.machines) group.append(drawSubMachine(node, sub));
    }
    parent.append(group);
  }
  parent.append(labelLayer);
}

// A sub-machine inside its Map or Parallel box: a frame, its label ("Branch 1", "Each item") and, on a
// run page, a branch's status beside the label; then its own states and edges.
function drawSubMachine(node, sub) {
  const group = el("g", { class: "machine", "data-machine": `${node.name}/${sub.key}`, "data-parent": node.name });
  if (sub.branch !== null) group.dataset.branch = String(sub.branch);
  group.append(el("title", {}, `${node.name}: ${sub.label}, starting at ${sub.machine.StartAt}`));
  group.append(el("rect", { x: sub.x, y: sub.y, width: sub.width, height: sub.height, rx: 6, class: "machine-frame" }));
  const label = el("text", { x: sub.x + LABEL_PAD_X + 4, y: sub.y + MACHINE_LABEL_H - 2, class: "machine-label" });
  label.append(el("tspan", { class: "machine-name" }, sub.label));
  label.append(el("tspan", { class: "machine-status", dx: 6 }, ""));
  group.append(label);
  drawMachine(group, sub.machine, sub);
  return group;
}

// Colour the states of a drawn graph: `statuses` maps a state name to "done" | "running" | "waiting" |
// "failed" | "canceled" (absent: not reached), or is null for the plain definition. `taken` lists
// [from, to] pairs of states the run went between: those edges are drawn as taken. A state inside a
// sub-machine that the run's log does not name (the items and branches are child runs with their own logs)
// is "inside" once its Map or Parallel was entered: drawn plainly, its progress shown on the Map or Parallel.
// `iterations` (see setGraphIterations) writes each Map's and Parallel's progress and each branch's status.
function paint(view) {
  const svg = view.querySelector("svg.graph");
  if (!svg) return;
  const { statuses, taken, iterations } = view.graphState;
  const shown = new Map();
  for (const group of svg.querySelectorAll(".node")) { // a compound before the states inside it
    const name = group.dataset.state;
    const outer = group.parentElement.closest(".node");
    const outerStatus = outer ? shown.get(outer.dataset.state) : null;
    let status = statuses ? statuses[name] || "notreached" : "plain";
    if (status === "notreached" && outerStatus && outerStatus !== "notreached") status = "inside";
    shown.set(name, status);
    const kept = ["start", "compound"].filter((cls) => group.classList.contains(cls));
    group.setAttribute("class", ["node", `st-${status}`, ...kept].join(" "));
    group.dataset.status = status;
    const said = { notreached: "not reached", inside: "see its Map or Parallel for the items' progress" }[status] || status;
    group.querySelector("title").textContent = `${name}${statuses ? `: ${said}` : ""}`;
  }
  const pairs = new Set((taken || []).map(([from, to]) => JSON.stringify([from, to])));
  for (const group of svg.querySelectorAll(".edge")) {
    group.classList.toggle("taken", pairs.has(JSON.stringify([group.dataset.from, group.dataset.to])));
  }
  paintIterations(svg, iterations);
}

// Item statuses (GET /runs/ID/iterations) -> [status class, word] of a branch.
const ITEM_STATUSES = {
  SUCCEEDED: ["done", "succeeded"], FAILED: ["failed", "failed"], ACTIVE: ["running", "running"],
  INACTIVE: ["waiting", "waiting"], ENDED: ["canceled", "ended"], QUEUED: ["notreached", "queued"],
};

// A Map's or Parallel's progress in one short line: "47/50 succeeded, 3 failed".
export function progressText(summary) {
  const c = summary.counts || {};
  const parts = [`${c.SUCCEEDED || 0}/${summary.total} succeeded`];
  const active = (c.ACTIVE || 0) + (c.INACTIVE || 0);
  if (c.FAILED) parts.push(`${c.FAILED} failed`);
  if (active) parts.push(`${active} running`);
  if (c.ENDED) parts.push(`${c.ENDED} ended`);
  return parts.join(", ");
}

function paintIterations(svg, iterations) {
  const summaries = new Map(((iterations && iterations.doc && iterations.doc.states) || []).map((s) => [s.state, s]));
  const branches = (iterations && iterations.branches) || new Map();
  for (const group of svg.querySelectorAll(".node.compound")) {
    const summary = summaries.get(group.dataset.state);
    const line = group.querySelector(":scope > .node-progress");
    let text = summary ? progressText(summary) : "";
    while (text.length > 2 && textWidth(text, LABEL_FONT, "600") > Number(line.dataset.width)) text = short(text, text.length - 1);
    line.textContent = text;
    if (summary) {
      const c = summary.counts || {};
      for (const key of ["SUCCEEDED", "FAILED", "ACTIVE", "INACTIVE", "QUEUED", "ENDED"]) line.dataset[key.toLowerCase()] = String(c[key] || 0);
      line.dataset.total = String(summary.total);
    }
  }
  for (const group of svg.querySelectorAll(".machine[data-branch]")) {
    const items = branches.get(group.dataset.parent) || [];
    const item = items.find((one) => one.index === Number(group.dataset.branch));
    const [cls, word] = (item && ITEM_STATUSES[item.status]) || [null, ""];
    group.setAttribute("class", cls ? `machine st-${cls}` : "machine");
    group.dataset.status = item ? item.status : "";
    group.querySelector(".machine-status").textContent = word;
  }
}

export function setGraphStatuses(view, statuses, taken = []) {
  view.graphState = { ...view.graphState, statuses, taken };
  paint(view);
}

// The progress of a run's Map and Parallel states, drawn on their boxes: `doc` is GET /runs/ID/iterations,
// `branches` maps a Parallel state's name to its items (GET /runs/ID/iterations/items: one per branch).
export function setGraphIterations(view, doc, branches = new Map()) {
  view.graphState = { ...view.graphState, iterations: { doc, branches } };
  paint(view);
}

// A box that shows the graph of `definition` once it is laid out (a moment later); the states are coloured
// by `statuses` (see setGraphStatuses). `onSelect(name)`, if given, is called when a state is clicked.
export function renderGraph(definition, statuses = null, { onSelect = null } = {}) {
  const view = document.createElement("div");
  view.className = "graph-view";
  view.graphState = { statuses, taken: [], iterations: null };
  const wait = document.createElement("p");
  wait.className = "empty";
  wait.textContent = "Drawing the graph…";
  view.append(wait);
  view.laidOut = layoutFlow(definition).then(
    (layout) => {
      const svg = drawSvg(definition, layout);
      if (onSelect) {
        svg.addEventListener("click", (event) => {
          const node = event.target.closest(".node");
          if (node) onSelect(node.dataset.state);
        });
      }
      view.replaceChildren(svg);
      paint(view);
      view.dataset.layout = "done";
    },
    (error) => {
      wait.textContent = `The graph could not be drawn: ${error.message}`;
      view.dataset.layout = "failed";
    },
  );
  return view;
}
