// What people read about a run, derived from the API's run document without changing it; the same rules as
// the CLI's (src/openflows/cli/describe.py):
// - displayStatus: a cancelled run is FAILED with details.code FlowCanceled in the API; people read CANCELLED.
// - failureOf: why a FAILED run failed, led by the provider's own words. A failed action's cause is its whole
//   action status document; the sentence a person needs is at details.fatal_error.description (Transfer),
//   details.description (most providers) or description (a provider's error body). The rest is on demand.
// - formatBytes: byte counts in IEC units ("585.9 KiB"), the one convention of the CLI and the dashboard.

//: longest reason shown on one line
const MAX_REASON_CHARS = 500;
const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

export function isCancelled(run) {
  return run.status === "FAILED" && (run.details || {}).code === "FlowCanceled";
}

export function displayStatus(run) {
  return isCancelled(run) ? "CANCELLED" : run.status;
}

export function oneLine(text, limit = MAX_REASON_CHARS) {
  const flat = String(text).split(/\s+/).filter(Boolean).join(" ");
  return flat.length <= limit ? flat : `${flat.slice(0, limit - 1)}…`;
}

function described(node) {
  if (!node || typeof node !== "object" || Array.isArray(node)) return null;
  const { description, code } = node;
  if (typeof description !== "string" || !description.trim()) return null;
  const suffix = typeof code === "string" && code && !description.includes(code) ? ` (${code})` : "";
  return oneLine(description) + suffix;
}

export function causeReason(cause) {
  if (cause === undefined || cause === null) return "";
  if (typeof cause === "string") return oneLine(cause);
  if (typeof cause === "object" && !Array.isArray(cause)) {
    const details = cause.details;
    if (details && typeof details === "object" && !Array.isArray(details)) {
      const found = described(details.fatal_error) || described(details);
      if (found) return found;
    } else if (typeof details === "string" && details.trim()) {
      return oneLine(details);
    }
    const found = described(cause);
    if (found) return found;
    for (const key of ["Cause", "cause", "message", "detail"]) {
      if (typeof cause[key] === "string" && cause[key].trim()) return oneLine(cause[key]);
    }
  }
  return oneLine(JSON.stringify(cause));
}

// {error, state, reason, hasMore, cause} of a FAILED (not cancelled) run, else null.
export function failureOf(run) {
  if (run.status !== "FAILED" || isCancelled(run)) return null;
  const inner = (run.details || {}).details;
  if (!inner || typeof inner !== "object") return null;
  const cause = inner.cause;
  return {
    error: inner.error || "Failed",
    state: typeof inner.state_name === "string" ? inner.state_name : null,
    reason: causeReason(cause),
    hasMore: cause !== null && typeof cause === "object",
    cause,
  };
}

export function formatBytes(value) {
  let size = Number(value || 0);
  if (!Number.isFinite(size)) return String(value);
  if (Math.abs(size) < 1024) return `${Math.round(size)} B`;
  let unit = UNITS[0];
  for (unit of UNITS) {
    size /= 1024;
    if (Math.round(Math.abs(size) * 10) / 10 < 1024) break;
  }
  return `${size.toFixed(1)} ${unit}`;
}
