// The dashboard's Timers pages (#/timers, #/timers/ID) over the Timers API (GET /jobs/, GET /jobs/ID,
// POST /jobs/ID/pause|resume, DELETE /jobs/ID): what the signed-in identity's timers will do next, what their
// recent firings started, and pause / resume (with new credentials for a timer that lost its consent) /
// delete. The helpers of app.js come in as `ui`.

import { api } from "./api.js";

//: how often an open Timers page re-reads what it shows
const REFRESH_MS = 3000;

function describeSchedule(ui, schedule) {
  if (!schedule) return "—";
  if (schedule.type === "once") return `once, at ${ui.when(schedule.datetime)}`;
  let text = `every ${duration(schedule.interval_seconds)}, from ${ui.when(schedule.start)}`;
  const end = schedule.end || {};
  if (end.condition === "iterations") text += `, ${end.count} times`;
  else if (end.condition === "time") text += `, until ${ui.when(end.datetime)}`;
  return text;
}

function duration(seconds) {
  const units = [["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  for (const [name, size] of units) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return n === 1 ? name : `${n} ${name}s`;
    }
  }
  return `${seconds} s`;
}

function describeReason(reason) {
  if (!reason) return null;
  if (reason.cause === "user") return "Paused by its owner.";
  const detail = reason.detail || {};
  return `${detail.code || reason.cause}: ${detail.detail || detail.description || ""}`;
}

function canPause(job) {
  return job.status === "new" || job.status === "loaded";
}

// What Resume sends, as `openflows timers resume` and `globus timer resume` do: a timer made inactive because
// its grant no longer works (`cause: "globus_auth_requirements"`, its owner's consent withdrawn or no longer
// enough) is resumed with `update_credentials: true`, so it obtains its grant again from the signed-in
// identity's token (403 ConsentRequired while that still rests on no consent); any other resume keeps it.
function resumeBody(job) {
  const reason = job.inactive_reason || {};
  return reason.cause === "globus_auth_requirements" ? { update_credentials: true } : {};
}

function toggleButton(ui, job, after) {
  if (job.status === "ended") return null;
  const pause = canPause(job);
  return ui.h("button", {
    type: "button", class: "secondary small", "data-timer": job.job_id,
    id: `${pause ? "pause" : "resume"}-${job.job_id}`, text: pause ? "Pause" : "Resume",
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api("POST", `/jobs/${job.job_id}/${pause ? "pause" : "resume"}`, pause ? undefined : resumeBody(job));
        await after();
      } catch (error) {
        event.target.replaceWith(ui.notice(error.message));
      }
    },
  });
}

function startedLink(ui, result) {
  const data = result.data || {};
  if (data.run_id) return ui.h("a", { href: `#/runs/${data.run_id}`, text: data.run_id });
  if (data.action_id) return ui.h("span", { class: "mono", title: "transfer task", text: data.action_id });
  return ui.h("span", { text: "—" });
}

function resultsTable(ui, results) {
  if (!results.length) return ui.h("p", { class: "empty", text: "It has not fired yet." });
  return ui.h("table", { class: "list", id: "timer-results" },
    ui.h("thead", {}, ui.h("tr", {}, ...["Fired", "Due", "Started", "Status", "Error"].map((t) => ui.h("th", { text: t })))),
    ui.h("tbody", {}, ...results.map((result) => ui.h("tr", {},
      ui.h("td", { text: ui.when(result.ran_at) }),
      ui.h("td", { text: ui.when(result.due_at) + (result.missed ? ` (${result.missed} missed before)` : "") }),
      ui.h("td", {}, startedLink(ui, result)),
      ui.h("td", {}, result.data && result.data.status ? ui.badge(result.data.status) : ui.h("span", { text: "—" })),
      ui.h("td", { text: (result.errors || []).map((e) => `${e.code}: ${e.detail}`).join("; ") }),
    ))));
}

export async function pageTimers(ui) {
  const box = ui.h("div", { "aria-live": "polite" });
  const load = async () => {
    const page = await api("GET", "/jobs/?order=submitted_at%20desc");
    if (!page.jobs.length) {
      box.replaceChildren(ui.h("p", { class: "empty", text:
        "No timers. Create one with `openflows timers create`, `globus timer create` or globus-sdk's TimersClient." }));
      return;
    }
    box.replaceChildren(ui.h("table", { class: "list", id: "timers" },
      ui.h("thead", {}, ui.h("tr", {}, ...["Name", "Runs", "Status", "Next firing", "Last result", ""].map((t) => ui.h("th", { text: t })))),
      ui.h("tbody", {}, ...page.jobs.map((job) => {
        const last = (job.results.data || [])[0];
        return ui.h("tr", { "data-job": job.job_id },
          ui.h("td", {}, ui.h("a", { href: `#/timers/${job.job_id}`, text: job.name || job.job_id }),
            ui.h("div", { class: "sub", text: `${job.timer_type} · ${describeSchedule(ui, job.schedule)}` })),
          ui.h("td", { text: `${job.number_of_runs}${job.number_of_errors ? ` (${job.number_of_errors} failed)` : ""}` }),
          ui.h("td", {}, ui.badge(job.status)),
          ui.h("td", { class: "next-run", text: ui.when(job.next_run) }),
          ui.h("td", {}, last ? (last.errors ? ui.h("span", { class: "failed-text", text: last.errors[0].code })
            : ui.badge((last.data && last.data.status) || "started")) : ui.h("span", { text: "—" })),
          ui.h("td", {}, toggleButton(ui, job, load)));
      }))));
  };
  ui.setPage("Timers", ui.h("h1", { text: "Timers" }), box);
  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  ui.onLeave(() => clearInterval(timer));
}

export async function pageTimer(ui, jobId) {
  const head = ui.h("div", { class: "page-head" });
  const facts = ui.h("dl", { class: "facts" });
  const results = ui.h("div", { "aria-live": "polite" });
  const body = ui.h("div");
  const load = async () => {
    const job = await api("GET", `/jobs/${jobId}`);
    const remove = ui.h("button", { type: "button", class: "danger", id: "delete-timer", text: "Delete timer",
      onclick: async () => {
        if (!confirm("Delete this timer? The runs it started stay.")) return;
        await api("DELETE", `/jobs/${jobId}`);
        location.hash = "#/timers";
      } });
    head.replaceChildren(
      ui.h("div", {}, ui.h("h1", { text: job.name || jobId }), ui.h("p", { class: "sub", text: `${job.timer_type} timer` })),
      ui.h("div", { class: "actions" }, toggleButton(ui, job, load), remove));
    const reason = describeReason(job.inactive_reason);
    const target = job.flow_id
      ? ui.h("a", { href: `#/flows/${job.flow_id}`, text: job.flow_id })
      : ui.h("span", { text: `${job.body.source_endpoint || job.body.source_endpoint_id} → ${job.body.destination_endpoint || job.body.destination_endpoint_id}` });
    const fact = (title, value) => ui.h("div", {}, ui.h("dt", { text: title }), ui.h("dd", {}, value));
    facts.replaceChildren(...[
      fact("Status", ui.badge(job.status)),
      fact("Next firing", ui.h("span", { id: "next-firing", text: ui.when(job.next_run) })),
      fact("Schedule", ui.h("span", { text: describeSchedule(ui, job.schedule) })),
      fact("Last fired", ui.h("span", { text: ui.when(job.last_ran_at) })),
      fact("Runs", ui.h("span", { id: "timer-runs", text: String(job.number_of_runs) })),
      fact("Errors", ui.h("span", { text: String(job.number_of_errors) })),
      fact(job.flow_id ? "Flow" : "Transfer", target),
      reason ? fact("Inactive because", ui.h("span", { id: "inactive-reason", text: reason })) : null,
    ].filter((node) => node !== null));
    results.replaceChildren(resultsTable(ui, job.results.data || []));
    body.replaceChildren(ui.pretty(job.body));
  };
  ui.setPage("Timer", head, facts,
    ui.h("section", {}, ui.h("h2", { text: "Recent results" }), results),
    ui.h("section", {}, ui.h("h2", { text: "What it starts" }), body));
  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  ui.onLeave(() => clearInterval(timer));
}
