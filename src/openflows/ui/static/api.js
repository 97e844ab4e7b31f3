// Calls to the Flows JSON API and the dashboard endpoints, authenticated by the session cookie.
// Every state-changing request carries the session's CSRF token (X-CSRF-Token).

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, doc) {
    const error = doc && doc.error;
    let text = `HTTP ${status}`;
    if (error) {
      text = error.message || (typeof error.detail === "string" ? error.detail : JSON.stringify(error.detail));
    }
    super(text);
    this.status = status;
    this.code = error ? error.code : null;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) throw new ApiError(response.status, doc);
  return doc;
}

// A query string; an array value is one parameter per element (`within=A[1]&within=B[0]`)
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") search.append(key, one);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
