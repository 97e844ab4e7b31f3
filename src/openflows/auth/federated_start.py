"""A federated process's start: the upstream client checked, OpenFlows' service scopes created there, and the
authenticator of upstream tokens (docs/auth.md "Federation with Globus Auth"). Above `federation` (the
protocol), `federated_tokens` and `federated_delegation`, which it puts together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..settings import Settings
from .federated_delegation import UpstreamScopePublisher
from .federated_tokens import FederatedAuthenticator
from .federation import FederationConfig, FederationError, UpstreamAuth, UpstreamRefused


@dataclasses.dataclass
class Federation:
    """What a federated process runs with: the upstream client, the authenticator of its tokens and the
    publisher of OpenFlows' scopes there (built by `start_federation`)."""

    upstream: UpstreamAuth
    authenticator: Any
    publisher: Any


def start_federation(
    settings: Settings, local_authenticator: Any, *, now: Callable[[], Any]
) -> Federation | None:
    """None without `OPENFLOWS_AUTH_UPSTREAM`; else check the upstream accepts OpenFlows' client and create
    OpenFlows' service scopes there. `FederationError` (one line, no secret) when it cannot."""
    config = FederationConfig.from_settings(settings)
    if config is None:
        return None
    upstream = UpstreamAuth(config)
    upstream.verify()
    publisher = UpstreamScopePublisher(upstream)
    try:
        publisher.ensure_service_scopes()
    except UpstreamRefused as exc:
        raise FederationError(
            f"the upstream Auth at {config.upstream} refused to create OpenFlows' scopes under client "
            f"{config.client_id} ({exc.status} {exc.error}): is that client a resource server there?"
        ) from None
    authenticator = FederatedAuthenticator(
        local_authenticator, upstream, cache_seconds=config.cache_seconds, now=now
    )
    return Federation(upstream=upstream, authenticator=authenticator, publisher=publisher)
