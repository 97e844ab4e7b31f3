// Building blocks shared by the dashboard's pages: element creation (text always as textContent), dates,
// badges, JSON blocks, notices, the page frame (title, main content, current navigation link) and the pager.

const main = document.getElementById("main");

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function badge(status) {
  return h("span", { class: `badge b-${String(status).toLowerCase()}`, text: status });
}

export function pretty(value) {
  return h("pre", { class: "json", text: JSON.stringify(value, null, 2) });
}

export function notice(text, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", text });
}

export function setPage(title, ...children) {
  document.title = `${title} · OpenFlows`;
  main.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
  for (const link of document.querySelectorAll("#nav a")) {
    const active = location.hash.startsWith(`#/${link.dataset.nav}`);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// Paging over the API's keyset markers (`marker`, `has_next_page`): Previous / Next buttons, with the marker
// of every page seen so far kept on a stack (the first page has none). `load` reads `pager.marker()`.
export function makePager(load) {
  const stack = [null];
  let nextMarker = null;
  const where = h("span", { class: "page-no", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "secondary small", id: "prev-page", text: "← Previous page",
    onclick: () => { if (stack.length > 1) stack.pop(); load(); } });
  const next = h("button", { type: "button", class: "secondary small", id: "next-page", text: "Next page →",
    onclick: () => { if (nextMarker) stack.push(nextMarker); load(); } });
  const element = h("nav", { class: "pager", "aria-label": "Pages" }, prev, where, next);
  element.hidden = true;
  return {
    element,
    marker: () => stack[stack.length - 1],
    reset: () => { stack.length = 1; },
    update: (page) => {
      nextMarker = page.has_next_page ? page.marker : null;
      prev.hidden = stack.length === 1;
      next.hidden = !nextMarker;
      where.textContent = `Page ${stack.length}`;
      element.hidden = stack.length === 1 && !nextMarker;
    },
  };
}
