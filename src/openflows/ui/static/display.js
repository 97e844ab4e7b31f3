// Small display helpers shared by the pages: times relative to now ("3 min ago") with the exact time on hover,
// kept current by one ticker; and text with `inline code` spans (help texts, descriptions) shown as code
// instead of literal backticks, built from DOM nodes (never HTML strings).

//: how often relative times are redrawn
const TICK_MS = 30_000;
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "long" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });

// "just now", "45 seconds ago", "3 minutes ago", "yesterday", "in 2 hours" for `date` as seen at `now`.
export function relativeText(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  if (Math.abs(seconds) < 10) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.trunc(seconds / size), unit);
  }
  return relative.format(seconds, "second");
}

export function exactText(date) {
  return exact.format(date);
}

function refresh(node) {
  node.textContent = relativeText(new Date(node.dateTime));
}

// A <time> showing `iso` relative to now, the exact local time (with its zone) on hover; "—" without a time.
export function timeAgo(iso) {
  if (!iso) return document.createTextNode("—");
  const date = new Date(iso);
  const node = document.createElement("time");
  node.className = "rel";
  node.dateTime = date.toISOString();
  node.title = exactText(date);
  refresh(node);
  return node;
}

setInterval(() => {
  for (const node of document.querySelectorAll("time.rel")) refresh(node);
}, TICK_MS);

// `text` with each `quoted` part as a <code> element: [Text | HTMLElement, ...] to append to a node.
export function richText(text) {
  const parts = String(text).split(/`([^`]+)`/);
  return parts
    .map((part, index) => {
      if (index % 2 === 0) return part ? document.createTextNode(part) : null;
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    })
    .filter(Boolean);
}
