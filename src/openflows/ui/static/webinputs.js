// The dashboard's web input pages: #/web-inputs (the questions you may answer or see) and #/web-inputs/ID
// (one question: its context as text or a table, the run and flow it comes from, and its options; a
// respondent answers with one click and gets a confirmation). Everything comes from the Flows API
// (/web_inputs), so a page shows what the signed-in identity may see; the app passes its DOM helpers in `ui`.

import { api, query } from "./api.js";

const PER_PAGE = 25;

function roleText(roles) {
  return (roles || []).join(", ") || "—";
}

function origin(ui, doc) {
  const { h } = ui;
  const run = doc.run || {};
  const flow = doc.flow || {};
  return h("p", { class: "sub", id: "web-input-origin" }, "Asked by the run ",
    run.id ? h("a", { href: `#/runs/${run.id}`, text: run.label || run.id }) : "—",
    " of the flow ",
    flow.id ? h("a", { href: `#/flows/${flow.id}`, text: flow.title || flow.id }) : "—",
    ` · ${ui.when(doc.created_timestamp)}`);
}

function contextBox(ui, context) {
  const { h } = ui;
  if ((context || {}).presentation_style === "table") {
    return h("table", { class: "list wi-table", id: "web-input-context" },
      h("tbody", {}, ...(context.rows || []).map((row) =>
        h("tr", {}, h("th", { scope: "row", text: row.field }), h("td", { text: row.value })))));
  }
  return h("p", { class: "wi-text", id: "web-input-context", text: (context || {}).text || "" });
}

export async function pageWebInput(ui, webInputId) {
  const { h } = ui;
  let doc = await api("GET", `/web_inputs/${webInputId}`);
  const head = h("div");
  const body = h("div");
  const message = h("div", { id: "web-input-message", "aria-live": "polite" });
  let answered = null;

  const answer = async (option, button) => {
    for (const other of body.querySelectorAll("button.option")) other.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await api("POST", `/web_inputs/${webInputId}/respond`, { response: { value: option.option_id } });
      answered = option;
      doc = await api("GET", `/web_inputs/${webInputId}`);
      draw();
    } catch (error) {
      message.replaceChildren(ui.notice(error.message));
      for (const other of body.querySelectorAll("button.option")) other.disabled = false;
      button.removeAttribute("aria-busy");
    }
  };

  const draw = () => {
    const open = doc.status === "open";
    const mayAnswer = open && (doc.user_roles || []).includes("respondent");
    head.replaceChildren(h("h1", {}, `${doc.context.title} `, ui.badge(doc.status)), origin(ui, doc));
    const options = h("ul", { class: "options", id: "web-input-options", "aria-label": "Options" },
      ...(doc.options || []).map((option) => {
        const label = mayAnswer
          ? h("button", { type: "button", class: "option", "data-option": option.option_id, text: option.label,
            onclick: (event) => answer(option, event.currentTarget) })
          : h("strong", { text: option.label });
        return h("li", {}, label, option.description ? h("span", { class: "sub", text: ` ${option.description}` }) : null);
      }));
    let status = null;
    if (answered) {
      status = h("p", { class: "notice", role: "status", id: "web-input-confirmation" },
        h("strong", { text: "Thank you. " }), `Your answer “${answered.label}” was recorded; the run goes on.`);
    } else if (!open) {
      status = h("p", { class: "notice waiting", role: "status" },
        `This question was closed ${ui.when(doc.closed_timestamp)}; it takes no more answers.`);
    } else if (!mayAnswer) {
      status = h("p", { class: "help" }, "You may see this question; only its respondents may answer it.");
    } else {
      status = h("p", { class: "help" }, "Choose one option: your answer is sent at once.");
    }
    body.replaceChildren(
      h("section", { "aria-labelledby": "wi-context-h" }, h("h2", { id: "wi-context-h", text: "Question" }),
        contextBox(ui, doc.context)),
      h("section", { "aria-labelledby": "wi-options-h" }, h("h2", { id: "wi-options-h", text: "Options" }),
        status, options),
      h("details", {}, h("summary", { text: "Who may answer" }),
        h("dl", { class: "roles" },
          h("div", {}, h("dt", { text: "Respondents" }), h("dd", { text: roleText(doc.roles.respondent_urns) })),
          h("div", {}, h("dt", { text: "Viewers" }), h("dd", { text: roleText(doc.roles.viewer_urns) })),
          h("div", {}, h("dt", { text: "Your roles" }), h("dd", { text: roleText(doc.user_roles) })))));
  };

  ui.setPage(doc.context.title, head, message, body);
  draw();
  // someone else may answer (or the run may end): look again while it is open
  const timer = setInterval(async () => {
    if (doc.status !== "open") return;
    try {
      const fresh = await api("GET", `/web_inputs/${webInputId}`);
      if (fresh.status !== doc.status) {
        doc = fresh;
        draw();
      }
    } catch {
      // keep the page as it is
    }
  }, 3000);
  ui.onLeave(() => clearInterval(timer));
}

export async function pageWebInputs(ui, params) {
  const { h } = ui;
  const state = h("select", { id: "wi-state" }, h("option", { value: "open", text: "open" }),
    h("option", { value: "closed", text: "closed" }), h("option", { value: "open,closed", text: "open and closed" }));
  const role = h("select", { id: "wi-role" }, h("option", { value: "", text: "any role" }),
    h("option", { value: "respondent", text: "respondent" }), h("option", { value: "viewer", text: "viewer" }));
  state.value = params.get("state") || "open";
  const results = h("div");
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    const marker = pager.marker();
    try {
      const page = await api("GET", `/web_inputs${query(marker ? { marker } : {
        filter_states: state.value, filter_roles: role.value, per_page: PER_PAGE,
      })}`);
      if (mine !== latest) return;
      pager.update({ has_next_page: Boolean(page.marker), marker: page.marker });
      const rows = page.web_input_summaries;
      results.replaceChildren(rows.length ? h("table", { class: "list", id: "web-inputs" },
        h("thead", {}, h("tr", {}, ...["Question", "Status", "Your roles", "Flow", "Run", "Asked"].map((t) => h("th", { text: t })))),
        h("tbody", {}, ...rows.map((row) => h("tr", {},
          h("td", {}, h("a", { href: `#/web-inputs/${row.id}`, text: row.title || row.id })),
          h("td", {}, ui.badge(row.status)),
          h("td", { text: roleText(row.user_roles) }),
          h("td", { text: (row.flow || {}).title || "—" }),
          h("td", { text: (row.run || {}).label || (row.run || {}).id || "—" }),
          h("td", { text: ui.when(row.created_timestamp) })))))
        : h("p", { class: "empty", text: "No questions." }));
    } catch (error) {
      results.replaceChildren(ui.notice(error.message));
    }
  };
  const pager = ui.makePager(load);
  const reload = () => { pager.reset(); load(); };
  state.addEventListener("change", reload);
  role.addEventListener("change", reload);
  const field = (id, text, control) => h("div", { class: "field" }, h("label", { for: id, text }), control);
  ui.setPage("Web inputs",
    h("h1", { text: "Web inputs" }),
    h("p", { class: "sub", text: "Questions runs ask you (as a respondent) or show you (as a viewer)." }),
    h("div", { class: "filters", role: "search" }, field("wi-state", "State", state), field("wi-role", "Role", role)),
    results, pager.element);
  await load();
  const timer = setInterval(load, 5000);
  ui.onLeave(() => clearInterval(timer));
}
