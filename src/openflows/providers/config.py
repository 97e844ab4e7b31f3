"""Settings of the built-in providers and of the external-provider client, read from `OPENFLOWS_*` variables.

They live beside `openflows.settings.Settings` (which ignores variables it does not know):

| Variable | Default | Meaning |
|---|---|---|
| `OPENFLOWS_OUTBOX_DIR` | `<OPENFLOWS_HOME>/outbox` | where the notification provider writes `.eml` files |
| `OPENFLOWS_SMTP_HOST` | unset | send notifications with this SMTP server instead of the outbox |
| `OPENFLOWS_SMTP_PORT` | 587 | its port |
| `OPENFLOWS_SMTP_USERNAME`, `OPENFLOWS_SMTP_PASSWORD` | unset | its login |
| `OPENFLOWS_SMTP_STARTTLS` | true | use STARTTLS |
| `OPENFLOWS_SMTP_ALLOW_FLOW_CREDENTIALS` | false | honour a flow's `send_credentials` |
| `OPENFLOWS_NOTIFICATION_SENDER` | `openflows@localhost` | `From` of activity and web input notices |
| `OPENFLOWS_COMPUTE_TIMEOUT_SECONDS` | 60 | wall-clock limit of one compute task |
| `OPENFLOWS_COMPUTE_MEMORY_MB` | 1024 | address-space limit of one compute task |
| `OPENFLOWS_TRANSFER_THREADS` | 4 | threads copying the files of one transfer |
| `OPENFLOWS_PROVIDER_THREADS` | 4 | background actions worked on at once |
| `OPENFLOWS_PROVIDER_TOKENS` | `{}` | JSON `{"<URL prefix>": "<token>"}` for external providers |
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..settings import SettingsError, parse_bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProviderSettings:
    """Everything the built-in providers and the external-provider client are configured with."""

    outbox_dir: Path
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_allow_flow_credentials: bool = False
    notification_sender: str = "openflows@localhost"
    compute_timeout_seconds: float = 60.0  # seconds
    compute_memory_mb: int = 1024  # MiB
    transfer_threads: int = 4  # threads
    provider_threads: int = 4  # threads
    provider_tokens: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, home: Path, environ: Mapping[str, str] | None = None) -> ProviderSettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            raw = env.get(f"OPENFLOWS_{name}")
            return raw.strip() if raw is not None and raw.strip() else None

        values: dict[str, Any] = {"outbox_dir": Path(get("OUTBOX_DIR") or Path(home) / "outbox").expanduser()}
        for field in ("SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD", "NOTIFICATION_SENDER"):
            if get(field) is not None:
                values[field.lower()] = get(field)
        for field in ("SMTP_STARTTLS", "SMTP_ALLOW_FLOW_CREDENTIALS"):
            raw = get(field)
            if raw is not None:
                values[field.lower()] = parse_bool(raw, name=f"OPENFLOWS_{field}")
        for field, kind in (
            ("SMTP_PORT", int),
            ("COMPUTE_TIMEOUT_SECONDS", float),
            ("COMPUTE_MEMORY_MB", int),
            ("TRANSFER_THREADS", int),
            ("PROVIDER_THREADS", int),
        ):
            raw = get(field)
            if raw is not None:
                try:
                    values[field.lower()] = kind(raw)
                except ValueError:
                    raise SettingsError(f"OPENFLOWS_{field} must be a number (got {raw!r})") from None
        raw = get("PROVIDER_TOKENS")
        if raw is not None:
            values["provider_tokens"] = parse_provider_tokens(raw)
        return cls(**values)


def parse_provider_tokens(raw: str) -> dict[str, str]:
    """`{"https://ap.example.org/": "token", ...}` from JSON; every key must be an http(s) URL prefix."""
    try:
        tokens = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError(
            "OPENFLOWS_PROVIDER_TOKENS must be a JSON object of URL prefix -> token"
        ) from None
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
    ):
        raise SettingsError("OPENFLOWS_PROVIDER_TOKENS must be a JSON object of URL prefix -> token")
    for prefix in tokens:
        if not prefix.lower().startswith(("https://", "http://")):
            raise SettingsError(f"OPENFLOWS_PROVIDER_TOKENS: {prefix!r} is not an http(s) URL prefix")
    return dict(tokens)
