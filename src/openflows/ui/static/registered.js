// The registered API pages (#/registered-apis, #/registered-apis/ID): the APIs the signed-in identity holds a
// role on, from GET /registered_apis (role filter, keyset paging), and one API from GET /registered_apis/{id}:
// name, description, the operation it calls (method and URL), roles, Globus Auth scopes and the input schema
// of the Action states that call it. What is shown is what the API returns to that identity (role lists
// beyond the owners only for administrators; no role: 404).

import { api, query } from "./api.js";
import { badge, h, makePager, notice, pretty, setPage, when } from "./dom.js";

//: rows per page
const PER_PAGE = 50;
//: the role filter's choices: value sent as filter_roles -> label
const ROLE_CHOICES = [
  ["owner,administrator,viewer", "any role"],
  ["owner", "owner"],
  ["administrator", "administrator"],
  ["viewer", "viewer"],
];

export async function pageRegisteredApis() {
  const role = h("select", { id: "api-role" }, ...ROLE_CHOICES.map(([value, text]) => h("option", { value, text })));
  const results = h("div", { "aria-live": "polite" });
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    const marker = pager.marker();
    try {
      const page = await api("GET", `/registered_apis${query(marker ? { marker } : {
        filter_roles: role.value, orderby: "name ASC", per_page: PER_PAGE })}`);
      if (mine !== latest) return; // a newer filter is under way
      pager.update(page);
      if (!page.registered_apis.length) {
        results.replaceChildren(h("p", { class: "empty", text: "No registered APIs." }));
        return;
      }
      results.replaceChildren(h("table", { class: "list", id: "api-list" },
        h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Description" }), h("th", { text: "Updated" }))),
        h("tbody", {}, ...page.registered_apis.map((item) => h("tr", {},
          h("td", {}, h("a", { href: `#/registered-apis/${item.id}`, text: item.name || item.id })),
          h("td", { class: "wrap", text: item.description || "" }),
          h("td", { text: when(item.updated_timestamp) }),
        )))));
    } catch (error) {
      results.replaceChildren(notice(error.message));
    }
  };
  const pager = makePager(load);
  role.addEventListener("change", () => { pager.reset(); load(); });
  setPage("Registered APIs",
    h("h1", { text: "Registered APIs" }),
    h("p", { class: "help" }, "Operations of HTTP APIs that flows call as Action states with ",
      h("code", { text: '"Handler": {"Type": "RegisteredAPI", "Id": …}' }), ". Register one with ",
      h("code", { text: "openflows registered-apis create" }), " or ", h("code", { text: "gra" }), "."),
    h("div", { class: "filters", role: "search" },
      h("div", { class: "field" }, h("label", { for: "api-role", text: "Your role" }), role)),
    results, pager.element);
  await load();
}

// The Globus Auth scopes of the operation's `security`, in order (the first is the one requested), as the
// service reads them (language/openapi_target.py).
export function apiScopes(target) {
  const security = (target && target.specification && target.specification.security) || [];
  const scopes = [];
  for (const requirement of Array.isArray(security) ? security : []) {
    const named = requirement && requirement.GlobusAuth;
    for (const scope of Array.isArray(named) ? named : []) {
      if (typeof scope === "string" && !scopes.includes(scope)) scopes.push(scope);
    }
  }
  return scopes;
}

function roleList(title, values, id) {
  return h("div", {}, h("dt", { text: title }),
    h("dd", { id, text: values && values.length ? values.join(", ") : "—" }));
}

export async function pageRegisteredApi(apiId) {
  const doc = await api("GET", `/registered_apis/${encodeURIComponent(apiId)}`);
  const destination = (doc.target && doc.target.destination) || {};
  const scopes = apiScopes(doc.target);
  const pending = doc.status !== "ACTIVE";
  const handler = JSON.stringify({ Type: "RegisteredAPI", Id: doc.id });
  setPage(doc.name || doc.id,
    h("p", {}, h("a", { href: "#/registered-apis", text: "← Registered APIs" })),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { id: "api-name" }, `${doc.name || doc.id} `, badge(doc.status)),
        doc.description ? h("p", { class: "sub", id: "api-description", text: doc.description }) : null)),
    pending ? h("p", { class: "notice waiting", role: "status", id: "api-pending",
      text: `Marked for deletion: removed for good on ${when(doc.scheduled_deletion_timestamp)}. Flows that call it fail.` }) : null,
    h("section", { "aria-labelledby": "api-target-h" }, h("h2", { id: "api-target-h", text: "Operation" }),
      h("p", { class: "operation" },
        h("code", { class: "method", id: "api-method", text: String(destination.method || "").toUpperCase() }), " ",
        h("code", { class: "url", id: "api-url", text: destination.url || "" })),
      h("p", { class: "help" }, "In a flow: ", h("code", { class: "handler", text: `"Handler": ${handler}` }))),
    h("div", { class: "columns" },
      h("section", {}, h("h2", { text: "Roles" }),
        h("dl", { class: "roles" },
          roleList("Your roles", doc.user_roles, "api-your-roles"),
          roleList("Owners", doc.roles.owners, "api-owners"),
          roleList("Administrators", doc.roles.administrators, "api-administrators"),
          roleList("Viewers", doc.roles.viewers, "api-viewers"))),
      h("section", {}, h("h2", { text: "Scopes" }),
        scopes.length
          ? h("ol", { class: "scopes", id: "api-scopes" }, ...scopes.map((scope) => h("li", {}, h("code", { text: scope }))))
          : h("p", { class: "empty", id: "api-scopes", text: "None: the operation states no Globus Auth scope." }),
        scopes.length > 1 ? h("p", { class: "help", text: "Any one of them will do; the first is the one requested." }) : null,
        h("dl", { class: "roles" },
          roleList("Created", [when(doc.created_timestamp)]),
          roleList("Updated", [when(doc.updated_timestamp)]),
          roleList("Subscription", doc.subscription_id ? [doc.subscription_id] : [])))),
    h("section", {}, h("h2", { text: "State input schema" }),
      h("p", { class: "help", text: "The Parameters of an Action state that calls this API." }),
      h("div", { id: "api-input-schema" }, pretty(doc.state_input_schema))),
    h("details", {}, h("summary", { text: "Registered API document" }), pretty(doc)));
}
