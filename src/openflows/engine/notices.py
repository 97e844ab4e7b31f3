"""What a notification says: the email of an activity notification (a run entered a status its owner asked to
hear about) and of a web input notice (someone's answer is needed), rendered from the `notifications` row.

Rendering is a pure function of the row, the recipient and the service's base URL, so a message delivered
again after a crash is the same message (same `Message-ID`, `Date` and body); the outbox file is named after
the notification id, so a second delivery replaces the first file.
"""

from __future__ import annotations

import email.policy
import email.utils
import json
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

#: longest piece of a failure cause quoted in a message
MAX_CAUSE = 2000  # characters
#: headers are not folded below the RFC 5322 line limit: ids and links stay on one line
POLICY = email.policy.default.clone(max_line_length=998)

_STATUS_WORDS = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "INACTIVE": "is waiting for you (INACTIVE)",
}


def run_link(base_url: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/ui#/runs/{run_id}"


def web_input_link(base_url: str, web_input_id: str) -> str:
    return f"{base_url.rstrip('/')}/ui#/web-inputs/{web_input_id}"


def file_name(notification: Mapping[str, Any]) -> str:
    """The outbox file name (without `.eml`) of a notification: stable across deliveries."""
    return f"notification-{notification['id']}"


def render(
    notification: Mapping[str, Any],
    *,
    base_url: str,
    sender: str,
    address: str | None,
    name: str | None,
) -> EmailMessage:
    """The email of one `notifications` row for its recipient (`address` None: `To` is left empty and the
    recipient is named by the `X-OpenFlows-Recipient` header only)."""
    payload = notification["payload"] or {}
    if notification["kind"] == "web_input":
        subject, body, link = _web_input(payload, base_url)
    else:
        subject, body, link = _activity(payload, base_url)
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = email.utils.formataddr((name or "", address)) if address else "undisclosed-recipients:;"
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(notification["created_at"])
    message["Message-ID"] = f"<{notification['id']}@openflows.local>"
    message["X-OpenFlows-Notification"] = str(notification["id"])
    message["X-OpenFlows-Kind"] = str(notification["kind"])
    message["X-OpenFlows-Recipient"] = str(notification["recipient_urn"])
    if notification.get("run_id") is not None:
        message["X-OpenFlows-Run"] = str(notification["run_id"])
    message["X-OpenFlows-Link"] = link
    greeting = f"Hello {name},\n\n" if name else "Hello,\n\n"
    message.set_content(greeting + body + "\n\n-- \nOpenFlows\n")
    return message


def _one_line(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_name(payload: Mapping[str, Any]) -> str:
    label = payload.get("run_label")
    return f'"{_one_line(label, 80)}"' if label else str(payload.get("run_id"))


def _activity(payload: Mapping[str, Any], base_url: str) -> tuple[str, str, str]:
    status = str(payload.get("status"))
    flow = _one_line(payload.get("flow_title") or payload.get("flow_id") or "", 80)
    run = _run_name(payload)
    link = run_link(base_url, str(payload.get("run_id")))
    subject = f"[OpenFlows] Run {run} of flow {flow} {_STATUS_WORDS.get(status, status)}"
    lines = [f"Your run {run} of the flow {flow} {_STATUS_WORDS.get(status, status)}."]
    if payload.get("description"):
        lines.append(f"{payload.get('code') or status}: {payload['description']}")
    if status == "FAILED" and payload.get("error"):
        where = f" at state {payload['state_name']}" if payload.get("state_name") else ""
        lines.append(f"Error{where}: {payload['error']}")
        cause = payload.get("cause")
        if cause not in (None, ""):
            text = cause if isinstance(cause, str) else json.dumps(cause, indent=1, default=str)
            lines.append(f"Cause: {text[:MAX_CAUSE]}")
    if status == "INACTIVE":
        if payload.get("state_name"):
            lines.append(f"It waits at state {payload['state_name']}.")
        if payload.get("required_scope"):
            lines.append(f"It needs your consent to the scope {payload['required_scope']}; then resume it.")
        if payload.get("resolution_url"):
            lines.append(f"Resolve it here: {payload['resolution_url']}")
    lines.append(f"See the run: {link}")
    return subject, "\n\n".join(lines), link


def _web_input(payload: Mapping[str, Any], base_url: str) -> tuple[str, str, str]:
    title = _one_line(payload.get("title") or "a question", 120)
    link = web_input_link(base_url, str(payload.get("web_input_id")))
    flow = _one_line(payload.get("flow_title") or payload.get("flow_id") or "", 80)
    subject = f"[OpenFlows] Your answer is needed: {title}"
    lines = [f"The run {_run_name(payload)} of the flow {flow} asks you: {title}"]
    context = payload.get("context") or {}
    if context.get("presentation_style") == "table":
        rows = context.get("rows") or []
        lines.append(
            "\n".join(f"  {_one_line(r.get('field'), 60)}: {_one_line(r.get('value'))}" for r in rows)
        )
    elif context.get("text"):
        lines.append(str(context["text"])[:MAX_CAUSE])
    options = [str(option) for option in payload.get("options") or ()]
    if options:
        lines.append("Options: " + ", ".join(options))
    lines.append(f"Answer here: {link}")
    return subject, "\n\n".join(lines), link
