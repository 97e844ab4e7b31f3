"""The delegation interface: how a run gets, keeps and gives back the right to act as its user (issue 14).

A flow's scope has the scopes of its `RunAs: "User"` Action states as dependent scopes. When a person starts
a run with a token for the flow's scope, the service trades that token, through the dependent-token grant,
for one refresh token per resource server of those scopes (offline access: a run lasts months); the engine
then sends each provider an access token for that provider's scope, of that person.

Who issues the tokens is a `DelegationSource`:
- `auth.local_delegation.LocalDelegationSource`: OpenFlows' own Auth, in process (no HTTP; the grant is a
  few rows written in the run's own transaction);
- an upstream Globus-Auth-compatible server (federation, `auth.federated_delegation`): the same calls over
  HTTP. Its network calls happen in `check` and `prepare` (both called with no transaction open: the caller
  reads the flow first and closes its transaction), `refresh`, `revoke` and `flow_token` (outside any
  transaction); `obtain` then only hands over what `prepare` got. No method that may call the network
  takes a connection, so a run's path never holds a transaction (a pooled connection; SQLite's write lock)
  while an upstream answers.

The engine never sees a source: it asks `engine.delegation.Delegations` (storage, sealing, caching) for "a
token for scope S of this run" and gets a token, `None` (nothing delegated for that scope) or a
`ConsentRequired` (the person's consent is gone: the run goes INACTIVE until they consent again and resume).
Token values never appear in a `repr`, a log line or an error message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

#: what a person is told when a flow needs (new) consent
CONSENT_MESSAGE = "This flow acts on your behalf at the services its steps use: consent to that to run it."
#: what a person is told when a run lost its consent
CONSENT_LOST_MESSAGE = (
    "This run can no longer act on your behalf (the consent was revoked or has expired): consent again, "
    "then resume the run."
)

#: what a person is told when a flow timer's flow needs more than they consented to
TIMER_CONSENT_MESSAGE = (
    "This timer's flow now acts on your behalf at services your consent does not cover: consent to them, "
    "then resume the timer."
)
#: what a person is told when a flow timer lost its consent
TIMER_CONSENT_LOST_MESSAGE = (
    "This timer can no longer act on your behalf (the consent was revoked or has expired): consent again, "
    "then resume the timer."
)


@dataclasses.dataclass(frozen=True)
class Subject:
    """The person starting (or resuming) a run, as their bearer token says."""

    identity_id: uuid.UUID
    #: the token's scopes (`*` for an administrator's token)
    scopes: frozenset[str]
    #: the local Auth's row of the token (None when the principal was not made from a token)
    token_id: uuid.UUID | None = None
    #: the token itself, for an upstream Auth's dependent-token grant
    bearer: str = dataclasses.field(default="", repr=False)


@dataclasses.dataclass(frozen=True)
class NewGrant:
    """Tokens of one resource server just obtained for a run."""

    resource_server: str
    scopes: tuple[str, ...]
    refresh_token: str = dataclasses.field(repr=False)
    #: the local Auth's row of the refresh token (None for an upstream's)
    token_id: uuid.UUID | None = None
    access_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class StoredGrant:
    """A run's (or a flow timer's) grant as stored (the refresh token still sealed)."""

    grant_id: uuid.UUID
    #: the run it belongs to (a timer's grant: the timer)
    run_id: uuid.UUID
    resource_server: str
    scopes: tuple[str, ...]
    token_id: uuid.UUID | None
    sealed: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Access:
    """An access token and when it expires."""

    token: str = dataclasses.field(repr=False)
    expires_at: dt.datetime
    #: the local Auth's row of the access token (None for an upstream's)
    token_id: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True)
class ConsentRequired:
    """The person has not consented to what the flow needs (or no longer has): consent to
    `required_scopes` (the flow's scope with its dependent scopes in brackets) is what fixes it."""

    required_scopes: tuple[str, ...]
    message: str = CONSENT_MESSAGE

    def authorization_parameters(self) -> dict[str, Any]:
        """GARE `authorization_parameters`: ONLY `required_scopes` and `session_message` (globus-cli's
        `flows run resume` refuses any other key, even an empty one)."""
        return {"required_scopes": list(self.required_scopes), "session_message": self.message}

    def gare(self) -> dict[str, Any]:
        """The requirement as a GARE document (a timer's `inactive_reason.detail`, as globus-sdk's `to_gare`
        and `globus timer resume` read it)."""
        return {
            "code": "ConsentRequired",
            "description": self.message,
            "authorization_parameters": self.authorization_parameters(),
        }

    def inactive_details(self, state_name: str) -> dict[str, Any]:
        """A run's INACTIVE `details` (a GARE at the root, as globus-sdk's `to_gare` reads it)."""
        return {
            "code": "ConsentRequired",
            "description": self.message,
            "state_name": state_name,
            "authorization_parameters": self.authorization_parameters(),
        }


class DelegationUnsupported(Exception):
    """What was asked needs a delegation this source cannot give (the message says what and why)."""


class DelegationSource(Protocol):
    """Where a run's delegated tokens come from (see the module docstring)."""

    #: `revoke` can run inside a transaction, without network (the local Auth): an ended run's tokens are
    #: then revoked in the same transaction that forgets them
    revokes_in_transaction: bool

    def requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        """What consenting to the flow means now (the flow's scope with its dependent scopes)."""

    def check(self, subject: Subject, flow: Mapping[str, Any]) -> ConsentRequired | None:
        """Whether the subject's token rests on consent to everything the flow needs (None: it does).

        Called outside any transaction: the caller reads `flow` (with its dependent scopes) in its own
        transaction and closes it first. A source that has to ask over the network (an upstream's
        dependent-token grant) does so holding no connection; one that reads the database (the local Auth)
        opens its own short read. Nothing is stored."""

    def prepare(self, subject: Subject, flow_id: uuid.UUID) -> Any:
        """Work done before the run's transaction (an upstream's network grant); the value goes to
        `obtain`."""

    def obtain(
        self,
        conn: sa.Connection,
        subject: Subject,
        flow: Mapping[str, Any],
        prepared: Any,
        *,
        now: dt.datetime,
    ) -> list[NewGrant] | ConsentRequired:
        """The run's grants (one per resource server of the flow's dependent scopes), in the run's
        transaction; [] when the flow needs none."""

    def usable(self, conn: sa.Connection, grants: Sequence[StoredGrant]) -> bool:
        """Whether the grants still work (not revoked, consent not withdrawn), as far as is known without
        network."""

    def refresh(self, grant: StoredGrant, refresh_token: str) -> Access | None:
        """A fresh access token (None: the refresh token no longer works: the consent is gone)."""

    def revoke(
        self,
        grants: Sequence[StoredGrant],
        refresh_tokens: Sequence[str | None],
        conn: sa.Connection | None = None,
    ) -> None:
        """Revoke the grants' tokens (a run that ended); `refresh_tokens` are the opened values (None when a
        sealed value could not be opened). `conn`: the transaction to do it in (only when
        `revokes_in_transaction`)."""

    def flow_token(self, flow_id: uuid.UUID, scope: str) -> Access | None:
        """A token of the flow's own client identity for `scope` (`RunAs: "Flow"`)."""

    def timer_requirement(self, flow_id: uuid.UUID) -> ConsentRequired:
        """What a flow timer needs: consent to the Timers scope with the flow's scope (and its dependent
        scopes) below it, `timer[<flow scope>[...]]`."""

    def obtain_timer(
        self, conn: sa.Connection, subject: Subject, flow: Mapping[str, Any], *, now: dt.datetime
    ) -> NewGrant | ConsentRequired | None:
        """A flow timer's grant, in the transaction that creates (or resumes) the timer: a refresh token of
        the subject for the flow's scope, issued to the Timers service through the timer scope's dependency
        (the dependent-token grant), from which each firing gets the token its run starts with; None when
        the flow needs nothing on the subject's behalf."""
