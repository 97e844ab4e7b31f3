// The run page's iterations (issue 19): for each Map or Parallel state the run entered, its items counted by
// status (GET /runs/ID/iterations), a page of items filtered by status, and one item opened: its status,
// input, output and error (GET /runs/ID/iterations/items/INDEX?state=S). Child runs are not runs to the API,
// so this is how the page reaches them. An opened item whose own sub-machine ran Map or Parallel states shows
// their counts and can be drilled into: the panel then shows those states (the same routes with
// `within=STATE[INDEX]`, one per level) under a breadcrumb back up to the run's own. `refresh()` redraws from
// the API: the run page calls it when the live stream brings news, and every few seconds while the run is
// active (items end without parent log entries). `onUpdate(doc, branches)`, if given, hears each refresh: the
// run's own counts document and, per Parallel state, its items (one per branch, unfiltered), which the run
// page draws on the graph.

import { api, query } from "./api.js";
import { badge, h, pretty, when } from "./dom.js";

const FILTERS = [["", "All"], ["FAILED", "Failed"], ["ACTIVE,INACTIVE", "Running"], ["QUEUED", "Queued"],
  ["SUCCEEDED", "Succeeded"], ["ENDED", "Ended"]];
const PAGE = 100;

export function countsText(state) {
  const c = state.counts || {};
  const active = (c.ACTIVE || 0) + (c.INACTIVE || 0);
  let text = `${c.SUCCEEDED || 0} succeeded, ${c.FAILED || 0} failed, ${active} active of ${state.total}`;
  for (const status of ["QUEUED", "ENDED"]) if (c[status]) text += `, ${c[status]} ${status.toLowerCase()}`;
  return text;
}

function bar(state) {
  const c = state.counts || {};
  const parts = [["SUCCEEDED", "done"], ["FAILED", "failed"], ["ENDED", "canceled"], ["ACTIVE", "running"],
    ["INACTIVE", "waiting"], ["QUEUED", "notreached"]];
  return h("div", { class: "iter-bar", "aria-hidden": "true" }, ...parts.filter(([s]) => c[s]).map(([s, cls]) => {
    const span = h("span", { class: `st-${cls}`, title: `${c[s]} ${s.toLowerCase()}` });
    span.style.flexGrow = String(c[s]); // through the CSSOM: the page's CSP refuses style attributes
    return span;
  }));
}

// `within` values of a path ([{state, index}] from the run down): ["Outer[3]", "Inner[0]"]
const steps = (levels) => levels.map(({ state, index }) => `${state}[${index}]`);

export function iterationsPanel(runId, { onUpdate = null } = {}) {
  const root = h("section", { id: "iterations", "aria-labelledby": "it-h", hidden: true });
  const filters = new Map(); // path and state -> status filter
  const opened = new Map(); // path and state -> index shown
  let path = []; // the nested item shown: [] for the run's own states
  let busy = false;
  let again = false;
  const keyOf = (levels, state) => JSON.stringify([...steps(levels), state]);
  const read = (route, levels, params = {}) =>
    api("GET", `/runs/${runId}/iterations${route}${query({ ...params, within: steps(levels) })}`);

  const drill = (levels) => {
    path = levels;
    refresh();
  };

  const nestedBox = async (levels, state, index) => { // the Map and Parallel states inside an item, if any
    const inside = [...levels, { state, index }];
    let doc;
    try {
      doc = await read("", inside);
    } catch {
      return null;
    }
    if (!doc.states.length) return null;
    return h("div", { class: "iter-nested" },
      h("h5", { text: "Inside this item" }),
      h("ul", {}, ...doc.states.map((one) =>
        h("li", { "data-state": one.state }, `${one.state}${one.type ? ` (${one.type})` : ""}: ${countsText(one)}`))),
      h("button", { type: "button", class: "secondary small iter-drill", onclick: () => drill(inside),
        text: `Open the iterations inside ${state} item ${index}` }));
  };

  const showItem = async (box, levels, state, index) => {
    opened.set(keyOf(levels, state), index);
    try {
      const [item, nested] = await Promise.all([read(`/items/${index}`, levels, { state }), nestedBox(levels, state, index)]);
      box.replaceChildren(h("div", { class: "iter-item-detail", "data-index": String(index) },
        h("h4", {}, `${state} · item ${index} `, badge(item.status)),
        h("p", { class: "sub" }, `started ${when(item.start_time)} · completed ${when(item.completion_time)}`),
        item.error ? h("p", { class: "iter-error" }, h("strong", { text: item.error }), item.cause ? ` — ${typeof item.cause === "string" ? item.cause : JSON.stringify(item.cause)}` : "") : null,
        item.reason ? h("p", { class: "iter-reason notice", text: `Waiting: ${item.reason}` }) : null,
        nested,
        h("h5", { text: "Input" }), pretty(item.input),
        h("h5", { text: item.status === "SUCCEEDED" ? "Output" : "State so far" }), pretty(item.output)));
    } catch (error) {
      box.replaceChildren(h("p", { class: "notice", text: error.message }));
    }
  };

  const stateBlock = async (levels, state) => {
    const key = keyOf(levels, state.state);
    const status = filters.get(key) || "";
    const page = await read("/items", levels, { state: state.state, status, limit: PAGE });
    let all = status ? null : page.items;
    if (!all && state.type === "Parallel") { // the graph shows every branch, whatever the filter here
      all = (await read("/items", levels, { state: state.state, limit: PAGE })).items;
    }
    const detail = h("div", { class: "iter-detail" });
    const select = h("select", { "aria-label": `Show items of ${state.state}`, class: "iter-filter" },
      ...FILTERS.map(([value, label]) => h("option", { value, selected: value === status, text: label })));
    select.addEventListener("change", () => { filters.set(key, select.value); refresh(); });
    const items = h("ul", { class: "iter-items" }, ...page.items.map((item) =>
      h("li", {}, h("button", { type: "button", class: `iter-item st-${item.status.toLowerCase()}`,
        "data-index": String(item.index), "data-status": item.status,
        title: item.error ? `${item.error}: ${item.cause || ""}` : item.reason ? `${item.status}: ${item.reason}` : item.status,
        onclick: () => showItem(detail, levels, state.state, item.index), text: String(item.index) }))));
    const more = page.has_next_page ? h("p", { class: "sub", text: `First ${PAGE} shown; filter by status to find the others.` }) : null;
    if (opened.has(key)) await showItem(detail, levels, state.state, opened.get(key));
    const block = h("div", { class: "iter-state", "data-state": state.state },
      h("h3", {}, `${state.state}${state.type ? ` (${state.type})` : ""}`),
      h("p", { class: "iter-counts", text: countsText(state) }), bar(state), select, items, more, detail);
    return { block, items: all };
  };

  // "Run › Outer[3] › Inner[0]": each level above the one shown is a button back to it
  const breadcrumb = (levels) => {
    if (!levels.length) return null;
    const names = steps(levels);
    return h("nav", { class: "iter-crumbs", "aria-label": "Nested iterations" },
      h("button", { type: "button", class: "secondary small", onclick: () => drill([]), text: "Run" }),
      ...names.flatMap((name, i) => [" › ", i === names.length - 1
        ? h("strong", { "aria-current": "location", text: name })
        : h("button", { type: "button", class: "secondary small", onclick: () => drill(levels.slice(0, i + 1)), text: name })]));
  };

  const parallelItems = async (doc) => { // the run's own Parallel states' branches, for the graph
    const parallels = doc.states.filter((state) => state.type === "Parallel");
    const pages = await Promise.all(parallels.map((state) => read("/items", [], { state: state.state, limit: PAGE })));
    return new Map(parallels.map((state, i) => [state.state, pages[i].items]));
  };

  const draw = async () => {
    const levels = path;
    const top = await read("", []);
    if (!top.states.length) return;
    const heading = h("h2", { id: "it-h", text: "Iterations" });
    let doc = top;
    if (levels.length) {
      try {
        doc = await read("", levels);
      } catch (error) { // e.g. a redrive made new iterations: the path leads nowhere now
        if (levels !== path) return;
        root.hidden = false;
        root.dataset.path = steps(levels).join(" > ");
        root.replaceChildren(heading, breadcrumb(levels), h("p", { class: "notice", text: error.message }));
        return;
      }
    }
    const shown = await Promise.all(doc.states.map((state) => stateBlock(levels, state)));
    if (levels !== path) return; // drilled elsewhere meanwhile: the next draw shows that
    root.hidden = false;
    root.dataset.path = steps(levels).join(" > ");
    const blocks = shown.length ? shown.map((one) => one.block)
      : [h("p", { class: "sub", text: "No Map or Parallel state has items inside this item (yet)." })];
    root.replaceChildren(heading, breadcrumb(levels), ...blocks);
    if (!onUpdate) return;
    if (levels.length) {
      onUpdate(top, await parallelItems(top));
      return;
    }
    const branches = new Map(doc.states.map((state, index) => [state.state, shown[index].items])
      .filter(([, items], index) => items && doc.states[index].type === "Parallel"));
    onUpdate(doc, branches);
  };

  const refresh = async () => {
    if (busy) { // a drill-down or a filter asked while a refresh runs: draw again once it is done
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        try {
          await draw();
        } catch {
          // the run page shows the run's own errors; the panel keeps what it had
        }
      } while (again);
    } finally {
      busy = false;
    }
  };
  return { node: root, refresh };
}
