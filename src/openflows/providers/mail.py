"""Sending email, shared by the notification provider and the executor's notifications: an outbox directory
of `.eml` files by default (nothing leaves the machine), or the administrator's SMTP server when
`OPENFLOWS_SMTP_HOST` is set (providers/config.py).

Outbox files are written atomically (a temporary file, then a rename). A caller that names the file
(`deliver(..., name=...)`) gets the same file on a second delivery of the same message, so delivering again
after a crash replaces the file instead of adding a copy. SMTP cannot be made idempotent that way; such
messages carry a stable `Message-ID` so that mail clients fold a repeat.
"""

from __future__ import annotations

import os
import re
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..shared.clock import Clock, SystemClock
from .config import ProviderSettings

#: SMTP connection timeout
SMTP_TIMEOUT_SECONDS = 30.0  # seconds
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class MailError(Exception):
    """A message could not be delivered. `transient`: a later try may work (connection refused, 4xx)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None


class Mailer:
    """Delivers `EmailMessage`s to the outbox or the configured SMTP server."""

    def __init__(self, settings: ProviderSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()

    @property
    def uses_smtp(self) -> bool:
        return bool(self.settings.smtp_host)

    @property
    def sender(self) -> str:
        return self.settings.notification_sender

    def default_target(self) -> SmtpTarget | None:
        """The administrator's SMTP server, or None (outbox)."""
        settings = self.settings
        if not settings.smtp_host:
            return None
        return SmtpTarget(
            settings.smtp_host, settings.smtp_port, settings.smtp_username, settings.smtp_password
        )

    def deliver(self, message: EmailMessage, *, name: str | None = None) -> str:
        """Send `message` the configured way; return where it went (`outbox:<file>` or `smtp:<host>`).
        `name` names the outbox file (a re-delivery replaces it). Raises MailError."""
        target = self.default_target()
        if target is None:
            return f"outbox:{self.write_outbox(message, name=name).name}"
        self.send_smtp(message, target)
        return f"smtp:{target.hostname}"

    def write_outbox(self, message: EmailMessage, *, name: str | None = None) -> Path:
        outbox = self.settings.outbox_dir
        try:
            outbox.mkdir(parents=True, exist_ok=True)
            if name is not None and _SAFE_NAME.match(name):
                final = outbox / f"{name}.eml"
            else:
                final = outbox / f"{self.clock.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
            tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(bytes(message))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            raise MailError(f"cannot write to the outbox: {exc}", transient=True) from exc
        return final

    def send_smtp(self, message: EmailMessage, target: SmtpTarget) -> None:
        try:
            with smtplib.SMTP(target.hostname, target.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                if self.settings.smtp_starttls:
                    smtp.starttls()
                if target.username:
                    smtp.login(target.username, target.password or "")
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise MailError(_describe(exc), transient=400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            transient = all(400 <= code < 500 for code in codes)
            raise MailError(f"the SMTP server refused the recipients: {codes}", transient=transient) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise MailError(f"the SMTP server could not be reached or failed: {exc}", transient=True) from exc


def _describe(exc: smtplib.SMTPResponseException) -> str:
    text: Any = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"the SMTP server answered {exc.smtp_code} {str(text)[:200]}"
