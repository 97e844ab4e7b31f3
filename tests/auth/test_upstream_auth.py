"""Federation's pieces against a scripted upstream (httpx's MockTransport answering as Globus Auth does):
settings, scope translation, the introspection cache (lifetime, expiry, revocation, bound), identity_set,
groups through a dependent token, and the delegation source's grants. The whole protocol against a real
upstream (a second `openflows serve`) is tests/e2e/test_federation.py."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from openflows.auth import catalog, scopes
from openflows.auth.delegation import ConsentRequired, StoredGrant, Subject
from openflows.auth.federated_delegation import FederatedDelegationSource, UpstreamScopePublisher, _Prepared
from openflows.auth.federated_tokens import FederatedAuthenticator
from openflows.auth.federation import FederationConfig, FederationError, UpstreamAuth, UpstreamScopes
from openflows.auth.tokens import Authenticator
from openflows.settings import Settings
from openflows.shared.urns import group_urn, identity_urn
from openflows.store.db import Database

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
CLIENT = uuid.UUID("11111111-2222-3333-4444-555555555555")
SECRET = "s3cret-value-never-shown"
ALICE = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000001")
ALICE_LINKED = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000002")
GROUP = uuid.UUID("99999999-0000-0000-0000-000000000001")
FLOW = uuid.UUID("f1f1f1f1-0000-4000-8000-000000000001")
AP_SCOPE = "https://auth.globus.org/scopes/77777777-0000-0000-0000-000000000000/action_all"
PREFIX = f"https://auth.globus.org/scopes/{CLIENT}/"


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0
        self.now = NOW

    def monotonic(self) -> float:
        return self.seconds

    def utcnow(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.now += dt.timedelta(seconds=seconds)


class Upstream:
    """A Globus-Auth-like upstream: tokens it knows, what it answers, what it was asked."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.active: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.consented = True
        self.refresh_ok = True
        self.revoked: list[str] = []

    def token(self, name: str, scope: str, lifetime: int = 3600) -> str:
        self.active[name] = {
            "active": True,
            "scope": scope,
            "sub": str(ALICE),
            "username": "alice@upstream.example.org",
            "email": "alice@example.org",
            "name": "Alice",
            "client_id": str(uuid.uuid4()),
            "aud": [str(CLIENT)],
            "exp": int((self.clock.now + dt.timedelta(seconds=lifetime)).timestamp()),
            "identity_set": [str(ALICE), str(ALICE_LINKED)],
        }
        return name

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(path)
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        if (
            path.startswith("/v2/oauth2/")
            and request.headers.get("authorization") != httpx.BasicAuth(str(CLIENT), SECRET)._auth_header
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        if path == "/v2/oauth2/token/introspect":
            assert form["include"] == "identity_set"
            return httpx.Response(200, json=self.active.get(form["token"], {"active": False}))
        if path == "/v2/oauth2/token/revoke":
            self.revoked.append(form["token"])
            return httpx.Response(200, json={"active": False})
        if path == "/v2/oauth2/token":
            return self.grant(form)
        if path == "/v2/groups/my_groups":
            assert request.headers["authorization"] == "Bearer groups-token"
            return httpx.Response(200, json=[{"id": str(GROUP), "name": "team"}])
        if path == "/v2/api/scopes" and request.method == "GET":
            return httpx.Response(200, json={"scopes": []})
        return httpx.Response(404, json={"error": "not_found"})

    def grant(self, form: dict[str, str]) -> httpx.Response:
        kind = form["grant_type"]
        if kind == "client_credentials":
            return httpx.Response(
                200, json={"access_token": "client-token", "scope": form["scope"], "expires_in": 3600}
            )
        if kind == "refresh_token":
            if not self.refresh_ok:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": "fresh", "scope": AP_SCOPE, "expires_in": 600})
        if form.get("token") not in self.active:
            return httpx.Response(400, json={"error": "invalid_grant"})
        wanted = form.get("scope", "").split()
        if not self.consented:
            return httpx.Response(
                403, json={"error": "dependent_consent_required", "unapproved_scopes": wanted}
            )
        if wanted == [catalog.GROUPS_VIEW]:
            return httpx.Response(
                200, json=[{"access_token": "groups-token", "scope": catalog.GROUPS_VIEW, "expires_in": 60}]
            )
        offline = form.get("access_type") == "offline"
        return httpx.Response(
            200,
            json=[
                {
                    "access_token": "ap-access",
                    "scope": " ".join(wanted),
                    "resource_server": "77777777-0000-0000-0000-000000000000",
                    "expires_in": 600,
                    **({"refresh_token": "ap-refresh"} if offline else {}),
                }
            ],
        )


def config(**changes: Any) -> FederationConfig:
    values = {
        "upstream": "https://auth.example.org",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "groups_url": "https://auth.example.org",
        "cache_seconds": 30.0,
    }
    return FederationConfig(**(values | changes))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def upstream(clock: Clock) -> Upstream:
    return Upstream(clock)


@pytest.fixture
def client(upstream: Upstream, clock: Clock) -> UpstreamAuth:
    return UpstreamAuth(config(), transport=httpx.MockTransport(upstream), clock=clock.monotonic)


@pytest.fixture
def authenticator(db: Database, client: UpstreamAuth, clock: Clock) -> FederatedAuthenticator:
    local = Authenticator(db, clock=clock.monotonic, now=clock.utcnow)
    return FederatedAuthenticator(
        local, client, cache_seconds=30, max_entries=3, clock=clock.monotonic, now=clock.utcnow
    )


# --- settings and scope strings ---------------------------------------------------------------------------


def test_settings_name_the_upstream_and_hide_the_secret() -> None:
    settings = Settings.from_env(
        {
            "OPENFLOWS_AUTH_UPSTREAM": "https://auth.globus.org/",
            "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID": str(CLIENT),
            "OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET": SECRET,
        }
    )
    found = FederationConfig.from_settings(settings)
    assert found is not None and found.upstream == "https://auth.globus.org" and found.client_id == CLIENT
    assert found.groups_url == "https://groups.api.globus.org"  # Globus Auth's Groups API
    assert SECRET not in repr(settings) and SECRET not in repr(found)
    other = FederationConfig.from_settings(settings.replace(auth_upstream="http://b.example.org:8765/"))
    assert other is not None and other.groups_url == "http://b.example.org:8765"  # an OpenFlows serves both
    assert FederationConfig.from_settings(Settings.from_env({})) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENFLOWS_AUTH_UPSTREAM": "https://auth.globus.org"}, "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID and"),
        (
            {
                "OPENFLOWS_AUTH_UPSTREAM": "https://auth.globus.org",
                "OPENFLOWS_AUTH_UPSTREAM_CLIENT_ID": "openflows",
                "OPENFLOWS_AUTH_UPSTREAM_CLIENT_SECRET": SECRET,
            },
            "must be a client id",
        ),
    ],
)
def test_incomplete_settings_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(FederationError) as raised:
        FederationConfig.from_settings(Settings.from_env(env))
    assert message in str(raised.value) and "\n" not in str(raised.value) and SECRET not in str(raised.value)


def test_upstream_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="OPENFLOWS_AUTH_UPSTREAM must be an http"):
        Settings.from_env({"OPENFLOWS_AUTH_UPSTREAM": "auth.globus.org"})


def test_upstream_scope_strings_translate_to_local_ones() -> None:
    names = UpstreamScopes(CLIENT)
    assert names.service(scopes.RUN) == PREFIX + "run"
    assert names.flow(FLOW) == PREFIX + f"flow_{str(FLOW).replace('-', '_')}_user"
    assert names.to_local([PREFIX + "all", PREFIX + "view_flows", names.flow(FLOW), PREFIX + "other"]) == {
        scopes.ALL,
        scopes.VIEW_FLOWS,
        scopes.flow_scope(FLOW),
        PREFIX + "other",
    }
    # another client's scope of the same shape grants nothing here
    stranger = f"https://auth.globus.org/scopes/{uuid.uuid4()}/run"
    assert names.to_local([stranger]) == {stranger}


# --- the authenticator ------------------------------------------------------------------------------------


def test_an_upstream_token_is_a_principal_with_identity_set_and_groups(
    authenticator: FederatedAuthenticator, upstream: Upstream
) -> None:
    token = upstream.token("alice-all", PREFIX + "all")
    principal = authenticator.authenticate(f"Bearer {token}")
    assert principal is not None
    assert (
        principal.identity_urn == identity_urn(ALICE) and principal.username == "alice@upstream.example.org"
    )
    assert principal.linked_urns == {identity_urn(ALICE_LINKED)}
    assert principal.urns == {identity_urn(ALICE), identity_urn(ALICE_LINKED), group_urn(GROUP)}
    assert principal.has_scope(scopes.RUN_STATUS) and not principal.has_scope(scopes.flow_scope(FLOW))
    assert principal.expires_at == NOW + dt.timedelta(hours=1)
    # the Groups token came from the dependent-token grant and was given back after use
    assert upstream.revoked == ["groups-token"]


def test_answers_are_cached_for_their_lifetime_and_revocation_shows_within_the_ttl(
    authenticator: FederatedAuthenticator, upstream: Upstream, clock: Clock
) -> None:
    token = upstream.token("t", PREFIX + "run", lifetime=3600)
    assert authenticator.authenticate(token) is not None
    assert authenticator.cached(token) is not None  # the event loop's answer: no network
    clock.advance(29)
    assert authenticator.authenticate(token) is not None
    assert authenticator.introspections == 1
    del upstream.active["t"]  # revoked at the upstream
    assert authenticator.authenticate(token) is not None  # still within the 30 s TTL
    clock.advance(2)
    assert authenticator.authenticate(token) is None
    assert authenticator.introspections == 2


def test_a_cached_answer_never_outlives_the_token(
    authenticator: FederatedAuthenticator, upstream: Upstream, clock: Clock
) -> None:
    token = upstream.token("short", PREFIX + "run", lifetime=10)
    assert authenticator.authenticate(token) is not None
    clock.advance(11)
    assert authenticator.cached(token) is None and authenticator.authenticate(token) is None


def test_inactive_tokens_are_remembered_briefly_and_the_cache_is_bounded(
    authenticator: FederatedAuthenticator, upstream: Upstream, clock: Clock
) -> None:
    for _ in range(3):
        assert authenticator.authenticate("unknown") is None
    assert authenticator.introspections == 1
    clock.advance(6)
    assert authenticator.authenticate("unknown") is None and authenticator.introspections == 2
    for index in range(5):
        assert authenticator.authenticate(upstream.token(f"t{index}", PREFIX + "run")) is not None
    assert len(authenticator._tokens) == 3  # oldest out first


def test_tokens_for_other_resource_servers_are_refused(
    authenticator: FederatedAuthenticator, upstream: Upstream
) -> None:
    token = upstream.token("theirs", PREFIX + "run")
    upstream.active["theirs"]["aud"] = [str(uuid.uuid4())]
    assert authenticator.authenticate(token) is None


def test_wrong_credentials_and_an_unreachable_upstream(clock: Clock, upstream: Upstream) -> None:
    wrong = UpstreamAuth(
        config(client_secret="nope"), transport=httpx.MockTransport(upstream), clock=clock.monotonic
    )
    with pytest.raises(FederationError, match="refused OpenFlows' client") as raised:
        wrong.verify()
    assert "nope" not in str(raised.value)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    unreachable = UpstreamAuth(config(), transport=httpx.MockTransport(down), clock=clock.monotonic)
    with pytest.raises(FederationError, match="cannot be reached"):
        unreachable.verify()


# --- delegation -------------------------------------------------------------------------------------------


@pytest.fixture
def source(db: Database, client: UpstreamAuth, clock: Clock) -> FederatedDelegationSource:
    from openflows.auth.issuing import Lifetimes
    from openflows.auth.local_delegation import LocalDelegationSource

    local = LocalDelegationSource(db, lifetimes=Lifetimes.from_settings(Settings()), now=clock.utcnow)
    return FederatedDelegationSource(
        db,
        local,
        client,
        UpstreamScopePublisher(client),
        now=clock.utcnow,
        reuse=dt.timedelta(seconds=60),
        margin=dt.timedelta(minutes=5),
    )


def test_a_run_gets_offline_tokens_from_the_upstream(
    source: FederatedDelegationSource, upstream: Upstream, db: Database
) -> None:
    token = upstream.token("alice-flow", UpstreamScopes(CLIENT).flow(FLOW))
    subject = Subject(identity_id=ALICE, scopes=frozenset(), bearer=token)
    flow = {"id": FLOW, "dependent_scopes": [AP_SCOPE]}
    prepared = _Prepared(source._grant(subject, FLOW, [AP_SCOPE], offline=True))
    with db.read() as conn:
        [grant] = source.obtain(conn, subject, flow, prepared, now=NOW)
    source.settle(prepared, committed=True)  # the run keeps them
    assert upstream.revoked == []
    assert grant.scopes == (AP_SCOPE,) and grant.token_id is None
    assert grant.refresh_token == "ap-refresh" and grant.access_token == "ap-access"
    # 600 s tokens, but refreshed after 60 s of use (the engine replaces a token 5 min before its expiry)
    assert grant.expires_at == NOW + dt.timedelta(seconds=360)
    assert "ap-refresh" not in repr(grant) and "ap-access" not in repr(grant)

    # a run that was not written (its transaction failed) gives them back at once
    source.settle(prepared, committed=False)
    assert upstream.revoked == ["ap-refresh", "ap-access"]
    unused = _Prepared(source._grant(subject, FLOW, [AP_SCOPE], offline=True))
    source.settle(unused, committed=True)  # committed, but nothing took them (a resume that needed none)
    assert upstream.revoked == ["ap-refresh", "ap-access"] * 2

    upstream.consented = False
    refused = source._grant(subject, FLOW, [AP_SCOPE], offline=True)
    assert isinstance(refused, ConsentRequired)
    assert refused.required_scopes == (
        f"{UpstreamScopes(CLIENT).flow(FLOW)}[{AP_SCOPE} {catalog.GROUPS_VIEW}]",
    )


def test_a_refused_refresh_marks_the_grant_unusable_and_revoke_reaches_the_upstream(
    source: FederatedDelegationSource, upstream: Upstream, db: Database
) -> None:
    grant = StoredGrant(
        grant_id=uuid.uuid4(),
        run_id=uuid.uuid4(),
        resource_server="ap",
        scopes=(AP_SCOPE,),
        token_id=None,
        sealed="",
    )
    fresh = source.refresh(grant, "ap-refresh")
    assert (
        fresh is not None and fresh.token == "fresh" and fresh.expires_at == NOW + dt.timedelta(seconds=360)
    )
    with db.read() as conn:
        assert source.usable(conn, [grant])
    upstream.refresh_ok = False
    assert source.refresh(grant, "ap-refresh") is None
    with db.read() as conn:
        assert not source.usable(conn, [grant])  # a resume obtains the grant again
    source.revoke([grant], ["ap-refresh"])
    assert upstream.revoked == ["ap-refresh"]
    assert json.dumps(upstream.calls).count("/v2/oauth2/token") >= 2


# --- scopes at the upstream -------------------------------------------------------------------------------


class ScopeRegistry:
    """The upstream's developer API for scopes: what exists, what was created and changed."""

    def __init__(self) -> None:
        self.scopes: dict[str, dict[str, Any]] = {
            catalog.GROUPS_VIEW: {
                "id": str(catalog.GROUPS_VIEW_SCOPE_ID),
                "scope_string": catalog.GROUPS_VIEW,
            },
            AP_SCOPE: {"id": str(uuid.uuid4()), "scope_string": AP_SCOPE, "dependent_scopes": []},
        }
        self.writes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth2/token":
            return httpx.Response(
                200, json={"access_token": "client-token", "scope": catalog.MANAGE_PROJECTS}
            )
        assert request.headers["authorization"] == "Bearer client-token"
        if request.method == "GET":
            wanted = request.url.params["scope_strings"].split(",")
            return httpx.Response(200, json={"scopes": [self.scopes[s] for s in wanted if s in self.scopes]})
        body = json.loads(request.content)["scope"]
        if request.method == "POST":
            assert request.url.path == f"/v2/api/clients/{CLIENT}/scopes"
            text = PREFIX + body["scope_suffix"]
            self.scopes[text] = {"id": str(uuid.uuid4()), "scope_string": text, **body}
            self.writes.append(f"create {body['scope_suffix']}")
            return httpx.Response(200, json={"scope": self.scopes[text]})
        [found] = [item for item in self.scopes.values() if request.url.path.endswith(item["id"])]
        found["dependent_scopes"] = body["dependent_scopes"]
        self.writes.append(f"update {found['scope_string'].removeprefix(PREFIX)}")
        return httpx.Response(200, json={"scope": found})


def test_openflows_scopes_are_created_once_and_flow_scopes_follow_the_flow(clock: Clock) -> None:
    registry = ScopeRegistry()
    publisher = UpstreamScopePublisher(
        UpstreamAuth(config(), transport=httpx.MockTransport(registry), clock=clock.monotonic)
    )
    created = publisher.ensure_service_scopes()
    assert set(created) == {
        PREFIX + suffix
        for suffix in (
            "all",
            "manage_flows",
            "view_flows",
            "run",
            "run_status",
            "run_manage",
            "web_input_view",
            "web_input_respond",
        )
    }
    groups_only = [
        {"scope": str(catalog.GROUPS_VIEW_SCOPE_ID), "optional": False, "requires_refresh_token": True}
    ]
    assert registry.scopes[PREFIX + "run"]["dependent_scopes"] == groups_only
    publisher.ensure_service_scopes()  # a restart creates nothing again
    assert len(registry.writes) == 8

    suffix = UpstreamScopes.flow_suffix(FLOW)
    assert publisher.publish_flow(FLOW, []) == PREFIX + suffix
    assert registry.writes[-1] == f"create {suffix}"
    assert publisher.publish_flow(FLOW, []) == PREFIX + suffix and len(registry.writes) == 9  # unchanged
    publisher.publish_flow(
        FLOW, [AP_SCOPE, "https://auth.globus.org/scopes/unknown/x"]
    )  # the flow gained steps
    assert registry.writes[-1] == f"update {suffix}"
    assert {item["scope"] for item in registry.scopes[PREFIX + suffix]["dependent_scopes"]} == {
        registry.scopes[AP_SCOPE]["id"],
        str(catalog.GROUPS_VIEW_SCOPE_ID),
    }  # a scope the upstream does not know is left out (and logged)


def test_flow_timers_act_on_their_owners_behalf_only_with_local_auth(
    source: FederatedDelegationSource, db: Database
) -> None:
    # a timer of a flow that needs nothing on its user's behalf holds no grant and works; one whose flow
    # calls providers as its user is refused with a reason (the API answers 422 at timer.flow_id)
    from openflows.auth.delegation import DelegationUnsupported

    subject = Subject(identity_id=ALICE, scopes=frozenset(), bearer="whatever")
    with db.read() as conn:
        assert source.obtain_timer(conn, subject, {"id": FLOW, "dependent_scopes": []}, now=NOW) is None
        with pytest.raises(DelegationUnsupported, match="OPENFLOWS_AUTH_UPSTREAM"):
            source.obtain_timer(conn, subject, {"id": FLOW, "dependent_scopes": [AP_SCOPE]}, now=NOW)
    assert source.timer_requirement(FLOW).required_scopes[0].startswith(UpstreamScopes(CLIENT).flow(FLOW))
