// The dashboard: a hash-routed single-page app over the Flows JSON API (#/flows, #/flows/ID,
// #/flows/ID/start, #/runs, #/runs/ID, #/web-inputs, #/web-inputs/ID, #/registered-apis, #/registered-apis/ID) and the Timers API (#/timers, #/timers/ID: timers.js). What each page shows comes from the API, so it is what the signed-in
// identity may see; which buttons appear comes from /ui/api/.../permissions (the API's own role code).

import { api, ApiError, query, setCsrf } from "./api.js";
import { badge, duration, h, makePager, notice, pretty, setPage, when } from "./dom.js";
import { buildInputForm } from "./form.js";
import { richText, timeAgo } from "./display.js";
import { renderGraph, setGraphIterations, setGraphStatuses } from "./graph.js";
import { iterationsPanel } from "./iterations.js";
import { displayStatus, failureOf, formatBytes, isCancelled } from "./present.js";
import { pageRegisteredApi, pageRegisteredApis } from "./registered.js";
import { analyseLog, shownAnalysis } from "./runlog.js";
import { pageTimer, pageTimers } from "./timers.js";
import { pageWebInput, pageWebInputs } from "./webinputs.js";

const main = document.getElementById("main");
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "ENDED"]);
let me = null;
let cleanups = [];

function onLeave(fn) {
  cleanups.push(fn);
}

// ---------------------------------------------------------------------------------------------- session

async function loadSession() {
  const session = await api("GET", "/ui/session");
  me = session.signed_in ? session : null;
  setCsrf(me ? me.csrf : null);
  const who = document.getElementById("who");
  document.getElementById("nav").hidden = !me;
  if (me) {
    who.replaceChildren(
      h("span", { class: "identity", title: me.identity_urn, text: me.username }),
      h("button", { type: "button", class: "secondary small", id: "sign-out", onclick: signOut, text: "Sign out" }),
    );
  } else {
    who.replaceChildren();
  }
  return session;
}

async function signOut() {
  await api("DELETE", "/ui/session");
  await loadSession();
  location.hash = "#/signin";
}

async function pageSignIn(session, message) {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  const status = h("div", { "aria-live": "polite" });
  if (message) status.append(notice(message));
  const form = h(
    "form",
    { class: "card narrow", id: "signin-form" },
    h("h1", { text: "Sign in" }),
    status,
    h("p", {}, h("a", { class: "button", id: "openflows-signin", href: "/ui/login", text: "Sign in" })),
    h("p", { class: "help", text: "With your account, on this server's sign-in page." }),
    h("hr"),
    h("div", { class: "field" }, h("label", { for: "token", text: "Access token" }), input),
    h("p", { class: "help" }, ...richText("A token from `openflows tokens create` (or the one `openflows serve` printed).")),
    h("button", { type: "submit", class: "secondary", text: "Sign in with token" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/ui/session", { token: input.value });
      await afterSignIn();
    } catch (error) {
      status.replaceChildren(notice(error.status === 401 ? "That token is not valid." : error.message));
    }
  });
  if (session.local_sign_in) {
    form.append(
      h("hr"),
      h("button", {
        type: "button", class: "secondary", id: "local-signin", text: "Sign in as the local administrator",
        onclick: async () => {
          try {
            await api("POST", "/ui/session/local");
            await afterSignIn();
          } catch (error) {
            status.replaceChildren(notice(error.message));
          }
        },
      }),
    );
  }
  setPage("Sign in", form);
  document.getElementById("openflows-signin").focus();
}

async function afterSignIn() {
  await loadSession();
  const next = sessionStorage.getItem("openflows-next");
  sessionStorage.removeItem("openflows-next");
  const target = next && !next.startsWith("#/signin") && next !== "#/signed-in" ? next : "#/flows";
  if (location.hash === target) await route();
  else location.hash = target;
}

// ---------------------------------------------------------------------------------------------- flows

//: rows per page in the flows and runs lists
const PER_PAGE = 50;
//: at most this many flows (pages of 100) are offered in the runs list's flow picker
const FLOW_PICKER_PAGES = 10;
const FLOW_ROLES = ["flow_owner", "flow_administrator", "flow_starter", "flow_viewer", "run_manager", "run_monitor"];

async function pageFlows() {
  const search = h("input", { id: "flow-search", type: "search", placeholder: "title, keywords, description…" });
  const role = h("select", { id: "flow-role" }, h("option", { value: "", text: "any role" }),
    ...FLOW_ROLES.map((r) => h("option", { value: r, text: r })));
  const results = h("div", { "aria-live": "polite" });
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    const marker = pager.marker();
    try {
      const page = await api("GET", `/flows${query(marker ? { marker } : {
        filter_fulltext: search.value.trim(), filter_roles: role.value, per_page: PER_PAGE })}`);
      if (mine !== latest) return; // a newer search is under way
      pager.update(page);
      if (!page.flows.length) {
        results.replaceChildren(h("p", { class: "empty", text: "No flows." }));
        return;
      }
      results.replaceChildren(h("table", { class: "list" },
        h("thead", {}, h("tr", {}, h("th", { text: "Title" }), h("th", { text: "Your roles" }), h("th", { text: "Updated" }))),
        h("tbody", {}, ...page.flows.map((flow) => h("tr", {},
          h("td", {}, h("a", { href: `#/flows/${flow.id}`, text: flow.title || flow.id }),
            flow.subtitle ? h("div", { class: "sub", text: flow.subtitle }) : null),
          h("td", { text: (flow.user_roles || []).join(", ") }),
          h("td", {}, timeAgo(flow.updated_at)),
        )))));
    } catch (error) {
      results.replaceChildren(notice(error.message));
    }
  };
  const pager = makePager(load);
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { pager.reset(); load(); }, 250);
  });
  role.addEventListener("change", () => { pager.reset(); load(); });
  setPage("Flows",
    h("h1", { text: "Flows" }),
    h("div", { class: "filters", role: "search" },
      h("div", { class: "field" }, h("label", { for: "flow-search", text: "Search" }), search),
      h("div", { class: "field" }, h("label", { for: "flow-role", text: "Role" }), role)),
    results, pager.element);
  await load();
}

function roleList(title, values) {
  return h("div", {}, h("dt", { text: title }), h("dd", { text: values && values.length ? values.join(", ") : "—" }));
}

async function pageFlow(flowId) {
  const [flow, perms] = await Promise.all([
    api("GET", `/flows/${flowId}`),
    api("GET", `/ui/api/flows/${flowId}/permissions`),
  ]);
  const runsBox = h("div");
  setPage(flow.title || flowId,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { text: flow.title || flowId }), flow.subtitle ? h("p", { class: "sub", text: flow.subtitle }) : null),
      perms.run ? h("a", { class: "button", id: "start-run", href: `#/flows/${flowId}/start`, text: "Start a run" }) : null),
    flow.description ? h("p", { class: "description" }, ...richText(flow.description)) : null,
    h("section", { "aria-labelledby": "graph-h" }, h("h2", { id: "graph-h", text: "Definition" }),
      h("div", { class: "graph-box" }, renderGraph(flow.definition))),
    h("div", { class: "columns" },
      h("section", {}, h("h2", { text: "Roles" }),
        h("dl", { class: "roles" },
          roleList("Your roles", perms.roles),
          roleList("Owner", [flow.flow_owner]),
          roleList("Administrators", flow.flow_administrators),
          roleList("Starters", flow.flow_starters),
          roleList("Viewers", flow.flow_viewers),
          roleList("Run managers", flow.run_managers),
          roleList("Run monitors", flow.run_monitors))),
      h("section", {}, h("h2", { text: "Input schema" }), pretty(flow.input_schema))),
    h("section", {}, h("h2", { text: "Runs" }), runsBox),
  );
  try {
    const page = await api("GET", `/flows/${flowId}/runs${query({ per_page: 20 })}`);
    runsBox.replaceChildren(runTable(page.runs, false));
    if (page.has_next_page) {
      runsBox.append(h("p", {}, h("a", { id: "all-flow-runs", href: `#/runs?flow=${encodeURIComponent(flowId)}`,
        text: "All runs of this flow →" })));
    }
  } catch (error) {
    runsBox.replaceChildren(notice(error.message));
  }
}

async function pageStart(flowId) {
  const flow = await api("GET", `/flows/${flowId}`);
  const input = buildInputForm(flow.input_schema);
  const label = h("input", { id: "run-label", name: "label", type: "text", maxlength: 64, value: `${flow.title || "run"} ${new Date().toISOString().slice(0, 16)}` });
  const tags = h("input", { id: "run-tags", name: "tags", type: "text", placeholder: "comma, separated" });
  const labelError = h("p", { class: "field-error", id: "run-label-error", "aria-live": "polite" });
  label.setAttribute("aria-describedby", "run-label-error");
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { id: "start-form", class: "card", novalidate: true },
    input.element,
    h("fieldset", {}, h("legend", { text: "Run" }),
      h("div", { class: "field" }, h("label", { for: "run-label", text: "Label" }), label, labelError),
      h("div", { class: "field" }, h("label", { for: "run-tags", text: "Tags" }), tags)),
    h("button", { type: "submit", text: "Start run" }),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problems = input.validate();
    labelError.textContent = label.value.trim() ? "" : "Label is required.";
    if (!label.value.trim()) problems.push({ control: label, message: labelError.textContent });
    if (problems.length) {
      status.replaceChildren(notice(`Please fix ${problems.length} problem(s) in the form.`));
      problems[0].control.focus();
      return;
    }
    status.replaceChildren();
    try {
      const body = {
        body: input.value(),
        label: label.value.trim(),
        tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      };
      const run = await api("POST", `/flows/${flowId}/run`, body);
      location.hash = `#/runs/${run.run_id}`;
    } catch (error) {
      status.replaceChildren(notice(error.message));
    }
  });
  setPage(`Start ${flow.title}`,
    h("p", {}, h("a", { href: `#/flows/${flowId}`, text: `← ${flow.title || flowId}` })),
    h("h1", { text: `Start a run of ${flow.title || flowId}` }),
    form);
}

// ---------------------------------------------------------------------------------------------- runs

function runTable(runs, withFlow = true) {
  if (!runs.length) return h("p", { class: "empty", text: "No runs." });
  return h("table", { class: "list runs" },
    h("thead", {}, h("tr", {}, h("th", { text: "Label" }), withFlow ? h("th", { text: "Flow" }) : null,
      h("th", { text: "Status" }), h("th", { text: "Started" }), h("th", { text: "Duration" }))),
    h("tbody", {}, ...runs.map((run) => h("tr", { "data-run": run.run_id },
      h("td", {}, h("a", { href: `#/runs/${run.run_id}`, text: run.label || run.run_id })),
      withFlow ? h("td", {}, h("a", { href: `#/flows/${run.flow_id}`, text: run.flow_title || run.flow_id })) : null,
      h("td", {}, badge(displayStatus(run))),
      h("td", {}, timeAgo(run.start_time)),
      h("td", { text: duration((run.completion_time ? Date.parse(run.completion_time) : Date.now()) - Date.parse(run.start_time)) }),
    ))));
}

function isoOrEmpty(value) {
  return value ? new Date(value).toISOString() : "";
}

async function pageRuns(params) {
  const status = h("select", { id: "run-status" }, h("option", { value: "", text: "any status" }),
    ...["ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED"].map((s) => h("option", { value: s, text: s })));
  const flowPick = h("select", { id: "run-flow-id" }, h("option", { value: "", text: "any flow" }));
  const flow = h("input", { id: "run-flow", type: "search", placeholder: "flow title" });
  const label = h("input", { id: "run-label-filter", type: "search", placeholder: "label" });
  const after = h("input", { id: "run-after", type: "datetime-local" });
  const before = h("input", { id: "run-before", type: "datetime-local" });
  const results = h("div");
  const stamp = h("p", { class: "help", id: "runs-updated", "aria-live": "off" });
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    const range = after.value || before.value ? `${isoOrEmpty(after.value)},${isoOrEmpty(before.value)}` : "";
    const marker = pager.marker();
    try {
      const page = await api("GET", `/runs${query(marker ? { marker } : {
        filter_status: status.value, filter_flow_id: flowPick.value, filter_flow_title: flow.value.trim(),
        filter_label: label.value.trim(), filter_start_time: range, per_page: PER_PAGE,
      })}`);
      if (mine !== latest) return; // a newer filter is under way
      pager.update(page);
      results.replaceChildren(runTable(page.runs));
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()} (refreshes every 3 s)`;
    } catch (error) {
      results.replaceChildren(notice(error.message));
    }
  };
  const pager = makePager(load);
  const reload = () => { pager.reset(); load(); };
  for (const control of [status, flowPick, after, before]) control.addEventListener("change", reload);
  for (const control of [flow, label]) control.addEventListener("input", reload);
  const field = (id, text, control) => h("div", { class: "field" }, h("label", { for: id, text }), control);
  setPage("Runs",
    h("h1", { text: "Runs" }),
    h("div", { class: "filters", role: "search" },
      field("run-status", "Status", status), field("run-flow-id", "Flow", flowPick),
      field("run-flow", "Flow title", flow), field("run-label-filter", "Label", label),
      field("run-after", "Started after", after), field("run-before", "Started before", before)),
    results, pager.element, stamp);
  const wanted = params.get("flow");
  if (wanted) { // #/runs?flow=ID: the runs of that flow
    await fillFlowPicker(flowPick).catch(() => {});
    if (![...flowPick.options].some((option) => option.value === wanted)) {
      flowPick.append(h("option", { value: wanted, text: wanted }));
    }
    flowPick.value = wanted;
    await load();
  } else {
    await load();
    fillFlowPicker(flowPick).catch(() => {}); // the list still works without the picker
  }
  const timer = setInterval(load, 3000);
  onLeave(() => clearInterval(timer));
}

// The flows the user can see, as options of the runs list's flow filter (by title, then id).
async function fillFlowPicker(select) {
  const flows = [];
  let marker = null;
  for (let n = 0; n < FLOW_PICKER_PAGES; n++) {
    const page = await api("GET", `/flows${query(marker ? { marker } : { per_page: 100 })}`);
    flows.push(...page.flows);
    if (!page.has_next_page) break;
    marker = page.marker;
  }
  flows.sort((a, b) => (a.title || "").localeCompare(b.title || "") || a.id.localeCompare(b.id));
  select.append(...flows.map((flow) => h("option", { value: flow.id, text: flow.title || flow.id })));
}

// Why an INACTIVE run waits (the GARE: code, description, required scope), why a run failed (the provider's
// own description first, the whole cause on demand), or that an action provider is being retried.
function statusReason(run, analysis) {
  const details = run.details || {};
  if (run.blocking_web_input_id && !TERMINAL.has(run.status)) {
    return [h("p", { class: "notice waiting", role: "status", id: "run-waits-for" },
      h("strong", { text: "Waiting for an answer: " }), "the run waits until someone answers ",
      h("a", { href: `#/web-inputs/${run.blocking_web_input_id}`, text: "this question" }), ".")];
  }
  if (run.status === "INACTIVE") {
    const scope = details.required_scope;
    return [h("p", { class: "notice waiting", role: "status" },
      h("strong", { text: `${details.code || "Inactive"}: ` }), details.description || "the run waits for a resume.",
      scope ? h("span", {}, " Required scope: ", h("code", { text: scope })) : null)];
  }
  const failure = failureOf(run);
  if (failure) {
    return [h("div", { class: "notice error", role: "status" },
      h("p", { class: "reason" },
        h("strong", { text: `${failure.error}${failure.state ? ` in state ${failure.state}` : ""}: ` }),
        failure.reason || details.description || ""),
      failure.hasMore ? h("details", { class: "cause" }, h("summary", { text: "The whole cause" }), pretty(failure.cause)) : null)];
  }
  if (run.status === "ACTIVE" && analysis && analysis.retrying) {
    return [h("p", { class: "notice waiting", role: "status" },
      h("strong", { text: "Retrying: " }), analysis.retrying.description || "")];
  }
  return [];
}

function transferBox(transfer) {
  if (!transfer) return null;
  const files = transfer.files ?? transfer.files_total;
  const done = transfer.files_transferred ?? 0;
  const box = h("div", { class: "transfer" }, h("h3", { text: `Transfer progress (${transfer.state})` }));
  if (files) box.append(h("progress", { max: files, value: done, "aria-label": "files transferred" }));
  box.append(h("p", { text: `${done}${files ? ` of ${files}` : ""} files, ${formatBytes(transfer.bytes_transferred)} transferred` }));
  return box;
}

function timeline(visits, run) {
  if (!visits.length) return h("p", { class: "empty", text: "No state has started yet." });
  const begin = Date.parse(run.start_time);
  const finish = run.completion_time ? Date.parse(run.completion_time) : Date.now();
  const total = Math.max(1, finish - begin);
  return h("ol", { class: "timeline" }, ...visits.map((visit) => {
    const start = Date.parse(visit.start);
    const open = visit.status === "running" || visit.status === "waiting";
    const end = visit.end ? Date.parse(visit.end) : open ? Date.now() : start;
    const left = Math.max(0, Math.min(100, ((start - begin) / total) * 100));
    const width = Math.max(0.5, Math.min(100 - left, ((end - start) / total) * 100));
    const fill = h("span", { class: "tl-fill" });
    fill.style.marginLeft = `${left}%`; // CSSOM, not a style attribute: the page's CSP forbids inline styles
    fill.style.width = `${width}%`;
    return h("li", { class: `tl st-${visit.status}` },
      h("span", { class: "tl-name", text: visit.name }),
      h("span", { class: "tl-bar" }, fill),
      h("span", { class: "tl-time", text: `${duration(end - start)} · ${visit.status}` }));
  }));
}

// Each state visit's input and output; `opened` holds the indexes of the visits to show open (the ones the
// person had opened before the live stream redrew the list).
function stateData(visits, opened = new Set()) {
  if (!visits.length) return h("p", { class: "empty", text: "Nothing yet." });
  return h("div", { class: "states" }, ...visits.map((visit, index) => h("details", { class: "state-io", "data-state": visit.name, "data-index": index, open: opened.has(index) },
    h("summary", {}, `${index + 1}. ${visit.name} `, badge(visit.status)),
    h("h4", { text: "Input" }), pretty(visit.input ?? null),
    h("h4", { text: "Output" }), visit.output === undefined ? h("p", { class: "empty", text: "—" }) : pretty(visit.output))));
}

// The run's input and what it produced: its output once SUCCEEDED, the error once FAILED.
function runInOut(run, input) {
  const details = run.details || {};
  let result;
  if (run.status === "SUCCEEDED") result = [h("h3", { text: "Output" }), pretty(details.output ?? null)];
  else if (run.status === "FAILED" || run.status === "ENDED") result = [h("h3", { text: "Error" }), pretty(details.details ?? details)];
  else result = [h("h3", { text: "Output" }), h("p", { class: "empty", text: "When the run has finished." })];
  return [
    h("div", { id: "run-input" }, h("h3", { text: "Input" }), input === undefined ? h("p", { class: "empty", text: "—" }) : pretty(input)),
    h("div", { id: "run-output" }, ...result),
  ];
}

function logRow(entry, start) {
  const at = Date.parse(entry.time);
  return h("li", { class: "log-entry" },
    h("time", { datetime: entry.time, title: new Date(entry.time).toString(), text: new Date(entry.time).toLocaleTimeString() }),
    h("span", { class: "elapsed", text: Number.isNaN(at - start) ? "" : `+${duration(Math.max(0, at - start))}` }),
    h("code", { text: entry.code }),
    h("span", { text: ` ${entry.description || ""}` }));
}

async function pageRun(runId) {
  let [run, perms, definition] = await Promise.all([
    api("GET", `/runs/${runId}`),
    api("GET", `/ui/api/runs/${runId}/permissions`),
    api("GET", `/runs/${runId}/definition`),
  ]);
  const entries = [];
  const head = h("div");
  const reason = h("div", { id: "run-reason", "aria-live": "polite" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Run actions" });
  const message = h("div", { "aria-live": "polite" });
  const inOut = h("div", { class: "columns in-out" });
  const progress = h("div");
  const timelineBox = h("div");
  const dataBox = h("div");
  const documentBox = h("div", { id: "run-document" });
  const log = h("ol", { class: "log", id: "run-log", "aria-live": "polite" });
  const showState = (name) => { // a click on a state in the graph opens its latest visit's data
    const visits = dataBox.querySelectorAll(`details.state-io[data-state="${CSS.escape(name)}"]`);
    const last = visits[visits.length - 1];
    if (!last) return;
    last.open = true;
    last.scrollIntoView({ block: "nearest" });
    last.querySelector("summary").focus({ preventScroll: true });
  };
  const graph = renderGraph(definition.definition, {}, { onSelect: showState });
  const graphBox = h("div", { class: "graph-box" }, graph, legend());
  // Map and Parallel items: counts and drill-down, and their progress drawn on the graph
  const iterations = iterationsPanel(runId, { onUpdate: (doc, branches) => setGraphIterations(graph, doc, branches) });

  const act = async (fn) => {
    try {
      await fn();
      await refresh();
    } catch (error) {
      message.replaceChildren(notice(error.message));
    }
  };
  const relabel = h("form", { class: "inline", id: "relabel-form" },
    h("label", { for: "new-label", text: "Label" }),
    h("input", { id: "new-label", type: "text", maxlength: 64, value: run.label || "" }),
    h("button", { type: "submit", class: "secondary", text: "Relabel" }));
  relabel.addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => api("PUT", `/runs/${runId}`, { label: relabel.querySelector("input").value.trim() }));
  });

  let analysis = shownAnalysis(analyseLog(entries), run.status);
  const draw = () => {
    analysis = shownAnalysis(analyseLog(entries), run.status);
    const took = run.completion_time ? duration(Date.parse(run.completion_time) - Date.parse(run.start_time)) : null;
    head.replaceChildren(
      h("div", { class: "page-head" },
        h("div", {}, h("h1", {}, `${run.label || runId} `, badge(displayStatus(run))),
          h("p", { class: "sub" }, "Flow ", h("a", { href: `#/flows/${run.flow_id}`, text: run.flow_title || run.flow_id }),
            " · started ", timeAgo(run.start_time), took ? ` · took ${took}` : "",
            (run.tags || []).length ? ` · tags: ${run.tags.join(", ")}` : ""))));
    document.title = `${run.label || runId} · ${displayStatus(run)} · OpenFlows`;
    reason.replaceChildren(...statusReason(run, analysis));
    const active = !TERMINAL.has(run.status);
    actions.replaceChildren(...[
      perms.cancel && active ? h("button", { type: "button", id: "cancel-run", class: "danger", text: "Cancel run",
        onclick: () => act(() => api("POST", `/runs/${runId}/cancel`)) }) : null,
      perms.resume && run.status === "INACTIVE" ? h("button", { type: "button", id: "resume-run", text: "Resume",
        onclick: () => act(() => api("POST", `/runs/${runId}/resume`)) }) : null,
      perms.redrive && redrivable(run, definition.definition) ? h("button", { type: "button", id: "redrive-run",
        text: "Redrive", title: "Run it again from the state that failed, keeping what the states before it did",
        onclick: () => api("POST", `/runs/${runId}/redrive`).then(() => route(), (error) => message.replaceChildren(notice(error.message))) }) : null,
      perms.update ? relabel : null,
      perms.release && !active ? h("button", { type: "button", id: "delete-run", class: "danger", text: "Delete run",
        onclick: () => {
          if (!confirm("Delete this run and its log?")) return;
          api("POST", `/runs/${runId}/release`).then(() => { location.hash = "#/runs"; }, (error) => message.replaceChildren(notice(error.message)));
        } }) : null,
    ].filter(Boolean));
    setGraphStatuses(graph, analysis.statuses, analysis.taken);
    inOut.replaceChildren(...runInOut(run, analysis.input));
    progress.replaceChildren(transferBox(analysis.transfer) || "");
    timelineBox.replaceChildren(timeline(analysis.visits, run));
    const opened = new Set([...dataBox.querySelectorAll("details.state-io[open]")].map((d) => Number(d.dataset.index)));
    dataBox.replaceChildren(stateData(analysis.visits, opened));
    documentBox.replaceChildren(pretty(run));
  };
  const refresh = async () => {
    run = await api("GET", `/runs/${runId}`);
    draw();
  };

  setPage(run.label || runId,
    head, reason, actions, message,
    h("section", { "aria-labelledby": "g-h" }, h("h2", { id: "g-h", text: "What the run did" }), graphBox),
    iterations.node,
    progress,
    h("section", { "aria-labelledby": "io-h" }, h("h2", { id: "io-h", text: "Input and output" }), inOut),
    h("section", {}, h("h2", { text: "Timeline" }), timelineBox),
    h("section", {}, h("h2", { text: "State inputs and outputs" }), dataBox),
    h("section", {}, h("h2", { text: "Log" }), log),
    h("details", {}, h("summary", { text: "Run document" }), documentBox));
  draw();
  iterations.refresh();

  // Everything below follows the live stream: log entries, and the run document whenever it changes.
  const source = new EventSource(`/ui/api/runs/${runId}/events`);
  let pending = null;
  const later = () => { if (!pending) pending = setTimeout(() => { pending = null; draw(); iterations.refresh(); }, 100); };
  source.addEventListener("entry", (event) => {
    const entry = JSON.parse(event.data);
    entries.push(entry);
    log.append(logRow(entry, Date.parse(run.start_time)));
    later();
  });
  source.addEventListener("run", (event) => {
    run = JSON.parse(event.data);
    later();
  });
  source.addEventListener("end", () => source.close());
  let ticks = 0;
  const timer = setInterval(() => { // the bars of running states grow; items end without parent log entries
    if (TERMINAL.has(run.status)) return;
    timelineBox.replaceChildren(timeline(analysis.visits, run));
    if (++ticks % 2 === 0) iterations.refresh();
  }, 1000);
  onLeave(() => {
    source.close();
    clearInterval(timer);
    clearTimeout(pending);
  });
}

// A FAILED run that a redrive can start again: not cancelled, and not ended by a Fail state (issue 19).
function redrivable(run, definition) {
  if (run.status !== "FAILED" || isCancelled(run)) return false;
  const failedAt = ((run.details || {}).details || {}).state_name;
  const state = failedAt ? (definition.States || {})[failedAt] : null;
  return Boolean(state) && state.Type !== "Fail";
}

function legend() {
  return h("ul", { class: "legend", "aria-label": "Legend" },
    ...["done", "running", "waiting", "failed", "canceled", "notreached"].map((status) =>
      h("li", { class: `st-${status}` }, h("span", { class: "swatch" }), status === "notreached" ? "not reached" : status)));
}

// ---------------------------------------------------------------------------------------------- routing

// what the pages in other modules (webinputs.js, timers.js) use of this one
const UI = { h, setPage, notice, badge, when, onLeave, makePager, pretty };

async function route() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const hash = location.hash || "#/flows";
  const [path, search] = hash.slice(2).split("?");
  const parts = path.split("/");
  const params = new URLSearchParams(search || "");
  try {
    const session = await loadSession();
    if (!me) {
      if (parts[0] !== "signin" && parts[0] !== "signed-in") sessionStorage.setItem("openflows-next", hash);
      await pageSignIn(session, parts[0] === "signin" ? params.get("message") : null);
      return;
    }
    if (parts[0] === "signed-in") await afterSignIn();
    else if (parts[0] === "signin") location.hash = "#/flows";
    else if (parts[0] === "flows" && parts[1] && parts[2] === "start") await pageStart(parts[1]);
    else if (parts[0] === "flows" && parts[1]) await pageFlow(parts[1]);
    else if (parts[0] === "runs" && parts[1]) await pageRun(parts[1]);
    else if (parts[0] === "runs") await pageRuns(params);
    else if (parts[0] === "web-inputs" && parts[1]) await pageWebInput(UI, parts[1]);
    else if (parts[0] === "web-inputs") await pageWebInputs(UI, params);
    else if (parts[0] === "registered-apis" && parts[1]) await pageRegisteredApi(parts[1]);
    else if (parts[0] === "registered-apis") await pageRegisteredApis();
    else if (parts[0] === "timers" && parts[1]) await pageTimer(UI, parts[1]);
    else if (parts[0] === "timers") await pageTimers(UI);
    else await pageFlows();
    main.focus({ preventScroll: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      await loadSession().catch(() => {});
      await pageSignIn({ local_sign_in: false });
      return;
    }
    const text = error instanceof ApiError && error.status === 404 ? "Not found, or you may not see it." : error.message;
    setPage("Error", h("h1", { text: "Cannot show this page" }), notice(text));
  }
}

// The skip link moves the focus to the content without touching the hash (which holds the route).
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", route);
route();
