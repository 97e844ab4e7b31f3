// The run page's iterations (issue 19): for each Map or Parallel state the run entered, its items counted by
// status (GET /runs/ID/iterations), a page of items filtered by status, and one item opened: its status,
// input, output and error (GET /runs/ID/iterations/items/INDEX?state=S). Child runs are not runs to the API,
// so this is how the page reaches them. `refresh()` redraws from the API: the run page calls it when the live
// stream brings news, and every few seconds while the run is active (items end without parent log entries).
// `onUpdate(doc, branches)`, if given, hears each refresh: the counts document and, per Parallel state, its
// items (one per branch, unfiltered), which the run page draws on the graph.

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

export function iterationsPanel(runId, { onUpdate = null } = {}) {
  const root = h("section", { id: "iterations", "aria-labelledby": "it-h", hidden: true });
  const filters = new Map(); // state -> status filter
  const opened = new Map(); // state -> index shown
  let busy = false;

  const showItem = async (box, state, index) => {
    opened.set(state, index);
    try {
      const item = await api("GET", `/runs/${runId}/iterations/items/${index}${query({ state })}`);
      box.replaceChildren(h("div", { class: "iter-item-detail", "data-index": String(index) },
        h("h4", {}, `${state} · item ${index} `, badge(item.status)),
        h("p", { class: "sub" }, `started ${when(item.start_time)} · completed ${when(item.completion_time)}`),
        item.error ? h("p", { class: "iter-error" }, h("strong", { text: item.error }), item.cause ? ` — ${typeof item.cause === "string" ? item.cause : JSON.stringify(item.cause)}` : "") : null,
        h("h5", { text: "Input" }), pretty(item.input),
        h("h5", { text: item.status === "SUCCEEDED" ? "Output" : "State so far" }), pretty(item.output)));
    } catch (error) {
      box.replaceChildren(h("p", { class: "notice", text: error.message }));
    }
  };

  const stateBlock = async (state) => {
    const status = filters.get(state.state) || "";
    const page = await api("GET", `/runs/${runId}/iterations/items${query({ state: state.state, status, limit: PAGE })}`);
    let all = status ? null : page.items;
    if (!all && state.type === "Parallel") { // the graph shows every branch, whatever the filter here
      all = (await api("GET", `/runs/${runId}/iterations/items${query({ state: state.state, limit: PAGE })}`)).items;
    }
    const detail = h("div", { class: "iter-detail" });
    const select = h("select", { "aria-label": `Show items of ${state.state}`, class: "iter-filter" },
      ...FILTERS.map(([value, label]) => h("option", { value, selected: value === status, text: label })));
    select.addEventListener("change", () => { filters.set(state.state, select.value); refresh(); });
    const items = h("ul", { class: "iter-items" }, ...page.items.map((item) =>
      h("li", {}, h("button", { type: "button", class: `iter-item st-${item.status.toLowerCase()}`,
        "data-index": String(item.index), "data-status": item.status,
        title: item.error ? `${item.error}: ${item.cause || ""}` : item.status,
        onclick: () => showItem(detail, state.state, item.index), text: String(item.index) }))));
    const more = page.has_next_page ? h("p", { class: "sub", text: `First ${PAGE} shown; filter by status to find the others.` }) : null;
    if (opened.has(state.state)) showItem(detail, state.state, opened.get(state.state));
    const block = h("div", { class: "iter-state", "data-state": state.state },
      h("h3", {}, `${state.state}${state.type ? ` (${state.type})` : ""}`),
      h("p", { class: "iter-counts", text: countsText(state) }), bar(state), select, items, more, detail);
    return { block, items: all };
  };

  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const doc = await api("GET", `/runs/${runId}/iterations`);
      if (!doc.states.length) return;
      const shown = await Promise.all(doc.states.map(stateBlock));
      root.hidden = false;
      root.replaceChildren(h("h2", { id: "it-h", text: "Iterations" }), ...shown.map((one) => one.block));
      const branches = new Map(doc.states.map((state, index) => [state.state, shown[index].items])
        .filter(([, items], index) => items && doc.states[index].type === "Parallel"));
      if (onUpdate) onUpdate(doc, branches);
    } catch {
      // the run page shows the run's own errors; the panel keeps what it had
    } finally {
      busy = false;
    }
  };
  return { node: root, refresh };
}
