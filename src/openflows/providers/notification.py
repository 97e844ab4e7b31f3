"""The built-in `notification` provider (`https://actions.globus.org/notification/notify`): email.

Body: `notification_method` (`email` or `any`), `sender`, `destination` (an address or a list), `subject`,
`body_template` (`$name` placeholders filled from `body_variables` with `string.Template.safe_substitute`),
`body_variables`, `body_mimetype` (`text/plain` or `text/html`), `notification_priority`, `send_credentials`.

Delivery: by default nothing leaves the machine — each message is written as an RFC 5322 `.eml` file to the
outbox directory (`OPENFLOWS_OUTBOX_DIR`, default `<OPENFLOWS_HOME>/outbox`). When the administrator sets
`OPENFLOWS_SMTP_HOST`, messages go to that SMTP server instead. A flow's `send_credentials` (an SMTP host and
login chosen by whoever wrote the flow) are ignored unless the administrator also sets
`OPENFLOWS_SMTP_ALLOW_FLOW_CREDENTIALS=true`; SES credentials are never used. Synchronous.
"""

from __future__ import annotations

import email.utils
import string
from email.message import EmailMessage
from typing import Any

from ..auth.scopes import PROVIDER_SCOPES
from .base import BadActionRequest, Caller
from .config import ProviderSettings
from .mail import Mailer, MailError, SmtpTarget
from .outcomes import Outcome, failure
from .stored import StoredProvider, require_str

#: the scope of the hosted notification provider
NOTIFICATION_SCOPE = PROVIDER_SCOPES["notification"]


def _addresses(value: Any, field: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and "@" in v for v in items):
        raise BadActionRequest(f"{field} must be an email address or a list of them")
    for item in items:
        if "\n" in item or "\r" in item:
            raise BadActionRequest(f"{field} must not contain line breaks")
    return items


class NotificationProvider(StoredProvider):
    """Send an email (to an outbox directory unless SMTP is configured)."""

    name = "notification"
    hosted_urls = (
        "https://actions.globus.org/notification/notify",
        "https://actions.automate.globus.org/notification/notify",
    )
    title = "Notification"
    subtitle = "Send an email"
    description = (
        "Sends an email built from a $variable template; by default to an outbox directory of .eml files."
    )
    keywords = ("email", "notify")
    globus_auth_scope = NOTIFICATION_SCOPE
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "notification_method": {"type": "string", "enum": ["email", "any"]},
            "notification_priority": {"type": "string"},
            "sender": {"type": "string"},
            "destination": {"type": ["string", "array"]},
            "subject": {"type": "string"},
            "body_template": {"type": "string"},
            "body_variables": {"type": "object"},
            "body_mimetype": {"type": "string", "enum": ["text/plain", "text/html"]},
            "send_credentials": {"type": "array"},
        },
        "required": ["destination", "body_template"],
    }

    def __init__(self, *args: Any, settings: ProviderSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.mailer = Mailer(settings, clock=self.clock)

    def stored_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """Never store the flow's SMTP/SES secrets: only their type and method are kept."""
        credentials = body.get("send_credentials")
        if not isinstance(credentials, list):
            return body
        redacted = [
            {k: v for k, v in c.items() if k != "credential_value"} if isinstance(c, dict) else None
            for c in credentials
        ]
        return {**body, "send_credentials": redacted}

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        method = body.get("notification_method", "email")
        if method not in ("email", "any"):
            raise BadActionRequest("notification_method must be email or any")
        destination = _addresses(body.get("destination"), "destination")
        sender = body.get("sender") or "openflows@localhost"
        _addresses(sender, "sender")
        subject = body.get("subject", "")
        if not isinstance(subject, str) or "\n" in subject or "\r" in subject:
            raise BadActionRequest("subject must be a one-line string")
        template = require_str(body, "body_template")
        variables = body.get("body_variables") or {}
        if not isinstance(variables, dict):
            raise BadActionRequest("body_variables must be an object")
        mimetype = body.get("body_mimetype", "text/plain")
        if mimetype not in ("text/plain", "text/html"):
            raise BadActionRequest("body_mimetype must be text/plain or text/html")
        return {
            "sender": sender,
            "destination": destination,
            "subject": subject,
            "body": string.Template(template).safe_substitute(
                {k: v if isinstance(v, str) else str(v) for k, v in variables.items()}
            ),
            "mimetype": mimetype,
        }

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        message = EmailMessage()
        message["From"] = state["sender"]
        message["To"] = ", ".join(state["destination"])
        message["Subject"] = state["subject"]
        message["Date"] = email.utils.formatdate(usegmt=True)
        message_id = email.utils.make_msgid(domain="openflows.local")
        message["Message-ID"] = message_id
        subtype = "html" if state["mimetype"] == "text/html" else "plain"
        message.set_content(state["body"], subtype=subtype)
        target = self._smtp_target(body)
        try:
            if target is None:
                where = self.mailer.write_outbox(message)
                delivery = {"delivery": "outbox", "file": where.name}
            else:
                self.mailer.send_smtp(message, target)
                delivery = {"delivery": "smtp", "smtp_host": target.hostname}
        except MailError as exc:
            return Outcome.failed(failure("NotificationFailed", f"the message could not be sent: {exc}"))
        return Outcome.succeeded(
            {
                "message": "The notification was sent",
                "message_id": message_id,
                "destination": state["destination"],
                "subject": state["subject"],
                **delivery,
            }
        )

    def _smtp_target(self, body: dict[str, Any]) -> SmtpTarget | None:
        """The SMTP server to use, or None for the outbox."""
        settings = self.settings
        target = self.mailer.default_target()
        if target is None:
            return None
        if settings.smtp_allow_flow_credentials:
            for credential in body.get("send_credentials") or []:
                if isinstance(credential, dict) and credential.get("credential_type") == "smtp":
                    value = credential.get("credential_value") or {}
                    if isinstance(value, dict) and isinstance(value.get("hostname"), str):
                        host, _, port = value["hostname"].partition(":")
                        return SmtpTarget(
                            host,
                            int(port) if port.isdigit() else settings.smtp_port,
                            value.get("username"),
                            value.get("password"),
                        )
        return target
