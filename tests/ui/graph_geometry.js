// Run in the page by tests/ui/test_graph_layout.py: the problems of the graph drawn in `svg.graph`, measured
// on the coordinates the browser reports (boxes from getBBox, edges sampled every pixel along their paths).
// Map and Parallel states are boxes holding their sub-machines (`g.node.compound > g.machine > g.node`): a box
// may lie inside the boxes that hold it (and an edge or label inside them), never across one; each
// sub-machine's frame lies inside its state's box, and its states and labels inside its frame.
() => {
  const svg = document.querySelector("svg.graph");
  const slack = 1; // px: a point this close to a box's edge is not inside it
  const box = (node) => { const b = node.getBBox(); return { x: b.x, y: b.y, w: b.width, h: b.height }; };
  const inside = (p, b, pad) => p.x > b.x + pad && p.x < b.x + b.w - pad && p.y > b.y + pad && p.y < b.y + b.h - pad;
  const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  const within = (a, b) => a.x >= b.x - 0.5 && a.y >= b.y - 0.5 && a.x + a.w <= b.x + b.w + 0.5 && a.y + a.h <= b.y + b.h + 0.5;
  const nodes = [...svg.querySelectorAll(".node")].map((g) => ({ g, name: g.dataset.state, ...box(g.querySelector(":scope > rect")) }));
  const holds = (node, element) => node.g !== element && node.g.contains(element);
  const problems = [];
  nodes.forEach((a, i) => nodes.slice(i + 1).forEach((b) => {
    if (overlap(a, b) && !holds(a, b.g) && !holds(b, a.g)) problems.push(`boxes ${a.name} and ${b.name} overlap`);
  }));
  const machines = [...svg.querySelectorAll(".machine")].map((g) => ({ g, name: g.dataset.machine, ...box(g.querySelector(":scope > rect")) }));
  for (const machine of machines) {
    const owner = nodes.find((node) => node.g === machine.g.parentElement);
    if (!owner || !within(machine, owner)) problems.push(`sub-machine ${machine.name} is not inside its state's box`);
    for (const node of nodes.filter((n) => n.g.parentElement === machine.g)) {
      if (!within(node, machine)) problems.push(`box ${node.name} is not inside its sub-machine ${machine.name}`);
    }
    for (const label of machine.g.querySelectorAll(":scope > .labels rect, :scope > text")) {
      if (!within(box(label), machine)) problems.push(`a label of ${machine.name} is not inside its frame`);
    }
    for (const other of machines) {
      if (other !== machine && other.g.parentElement === machine.g.parentElement && overlap(machine, other)) {
        problems.push(`sub-machines ${machine.name} and ${other.name} overlap`);
      }
    }
  }
  const sample = (path) => {
    const length = path.getTotalLength();
    const points = [];
    for (let at = 0; at <= length; at += 1) points.push(path.getPointAtLength(at));
    points.push(path.getPointAtLength(length));
    return points;
  };
  const edges = [...svg.querySelectorAll(".edge")].map((g, index) => {
    const points = sample(g.querySelector("path"));
    const end = (p) => nodes.filter((n) => inside(p, n, -2)).sort((a, b) => a.w * a.h - b.w * b.h)[0]; // innermost
    const from = end(points[0]);
    const to = end(points[points.length - 1]);
    return { g, index, points, name: `${from ? from.name : "?"}→${to ? to.name : "?"}`, from, to };
  });
  for (const edge of edges) {
    if (!edge.from || !edge.to) problems.push(`edge ${edge.index} (${edge.name}) does not start and end on boxes`);
    for (const node of nodes) {
      if (node === edge.from || node === edge.to || holds(node, edge.g)) continue;
      if (edge.points.some((p) => inside(p, node, slack))) problems.push(`edge ${edge.name} crosses box ${node.name}`);
    }
  }
  const labels = [...svg.querySelectorAll(".edge-label")].map((text) => {
    const layer = text.closest(".labels").parentElement; // a label's edge is in the same machine: indexes restart in each
    const own = layer.querySelector(`:scope > .edges > .edge[data-edge="${text.closest("[data-edge]").dataset.edge}"]`);
    const frame = text.closest(".label") ? text.closest(".label").querySelector("rect") : text;
    return { text: text.textContent, box: box(frame), edge: edges.find((e) => e.g === own), g: text };
  });
  for (const label of labels) {
    if (!label.edge.points.some((p) => inside(p, label.box, -1.5))) {
      problems.push(`label "${label.text}" does not touch its edge ${label.edge.name}`);
    }
    for (const node of nodes) {
      if (overlap(label.box, node) && !holds(node, label.g)) problems.push(`label "${label.text}" lies on box ${node.name}`);
    }
    for (const other of edges) {
      if (other !== label.edge && other.points.some((p) => inside(p, label.box, slack))) {
        problems.push(`edge ${other.name} runs through label "${label.text}" of ${label.edge.name}`);
      }
    }
  }
  const frame = (svg.closest(".graph-box") || svg.parentElement).getBoundingClientRect();
  const drawn = svg.getBoundingClientRect();
  if (drawn.width < frame.width - 4 && Math.abs((drawn.left - frame.left) - (frame.right - drawn.right)) > 2) {
    problems.push(`the graph is not centred in its frame (${drawn.left - frame.left} px left, ${frame.right - drawn.right} px right)`);
  }
  return { problems, nodes: nodes.length, machines: machines.length, edges: edges.length, labels: labels.map((l) => [l.text, l.edge.name]) };
}
