"""Flow timers act as their owners (issues 17 and 14), through globus-sdk's `TimersClient` against a live
server whose executor the test drives on a fake clock: the owner consents to `timer[<flow scope>]` (the
scope globus-cli asks for) on the consent page; each run the timer starts reaches an external action
provider (it introspects the token) and a built-in one as the owner, with a token for that provider's
scope; creating a timer without that consent is a ConsentRequired GARE; withdrawing the consent makes the
timer inactive with a GARE `inactive_reason` at its next firing, and consenting again plus
`resume_job(update_credentials=True)` (what `globus timer resume` does) makes it fire again; deleting a
timer revokes its grant."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
import sqlalchemy as sa
from authkit import no_retries
from delegationkit import LiveServer, action, hello, live_server
from globus_sdk.gare import to_gare
from test_action_provider import consent_root, register_provider, user_tokens

from openflows.auth import authorization, catalog
from openflows.auth.scopes import ALL, PROVIDER_SCOPES, flow_scope, normalize_scope, timer_flow_scope
from openflows.auth.tokens import hash_token
from openflows.engine.delegation import _timer_purpose
from openflows.settings import Settings
from openflows.shared.urns import identity_urn
from openflows.store.schema import provider_actions, runs, timer_delegations, tokens
from providers.apkit import APProcess

HELLO_SCOPE = PROVIDER_SCOPES["hello_world"]
TIMERS = catalog.TIMERS_TIMER
INTERVAL = 60  # seconds


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(settings.replace(timers_min_interval_seconds=1.0)) as server:
        for service in ("AUTH", "GROUPS", "FLOWS", "TIMER"):
            monkeypatch.setenv(f"GLOBUS_SDK_SERVICE_URL_{service}", server.base_url)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        yield server


@pytest.fixture
def provider_ap(live: LiveServer, tmp_path: Path) -> Iterator[Any]:
    """An external action provider registered through the developer API, introspecting every token it
    gets."""
    registered = register_provider(live)  # type: ignore[arg-type]
    process = APProcess(
        tmp_path,
        scope=registered.scope,
        auth_url=live.base_url,
        client=(registered.client_id, registered.secret),
    )
    process.start()
    try:
        yield registered, process
    finally:
        process.stop()


def timers_client(token: str) -> globus_sdk.TimersClient:
    return globus_sdk.TimersClient(
        authorizer=globus_sdk.AccessTokenAuthorizer(token),
        retry_config=no_retries(),
    )


def timer_token(live: LiveServer, person: uuid.UUID, flow_id: str | None) -> str:
    """The person's Timers token as the consent page gives it: for `timer[<flow scope>]` (what globus-cli
    asks for; the consent covers the flow's dependent scopes below it), or for the bare Timers scope."""
    scope = f"{TIMERS}[{flow_scope(flow_id)}]" if flow_id else TIMERS
    tokens = user_tokens(live, person, ["openid", scope])  # type: ignore[arg-type]
    return tokens.by_resource_server[catalog.TIMERS_RESOURCE_SERVER]["access_token"]


def flow_timer(flow_id: str, *, count: int, start: dt.datetime) -> globus_sdk.FlowTimer:
    return globus_sdk.FlowTimer(
        flow_id=flow_id,
        name="every minute",
        body={"body": {}, "label": "timed"},
        schedule=globus_sdk.RecurringTimerSchedule(
            interval_seconds=INTERVAL, start=start, end={"condition": "iterations", "count": count}
        ),
    )


def timer_runs(live: LiveServer, flow_id: str) -> list[dict[str, Any]]:
    with live.db.read() as conn:
        rows = conn.execute(
            sa.select(runs).where(runs.c.flow_id == uuid.UUID(flow_id)).order_by(runs.c.start_time)
        )
        return [dict(row._mapping) for row in rows]


def timer_grant(live: LiveServer, timer_id: str) -> Any:
    with live.db.read() as conn:
        return conn.execute(
            sa.select(timer_delegations).where(timer_delegations.c.timer_id == uuid.UUID(timer_id))
        ).first()


def hello_creators(live: LiveServer, run_id: Any) -> list[str]:
    with live.db.read() as conn:
        rows = conn.execute(
            sa.select(provider_actions.c.creator_id).where(
                provider_actions.c.request_id.startswith(str(run_id))
            )
        )
        return [row.creator_id for row in rows]


def make_flow(live: LiveServer, definition: dict[str, Any]) -> str:
    admin = live.token(live.person("admin"))
    return live.flows(admin).create_flow(
        "timed and delegated", definition, {}, flow_starters=["all_authenticated_users"]
    )["id"]


def test_flow_timer_runs_act_as_the_owner_at_every_provider(live: LiveServer, provider_ap: Any) -> None:
    registered, ap = provider_ap
    flow_id = make_flow(
        live,
        {"StartAt": "Ext", "States": {"Ext": action("Ext", ap.url, {"mode": "ok"}, "Hi"), "Hi": hello("Hi")}},
    )
    started: dict[str, list[str]] = {}
    for username in ("alice", "bob"):
        person = live.person(username)
        timers = timers_client(timer_token(live, person, flow_id))
        timer = timers.create_timer(flow_timer(flow_id, count=2, start=live.clock.now()))["timer"]
        assert timer["status"] == "new"
        grant = timer_grant(live, timer["job_id"])
        assert grant is not None and list(grant.scopes) == [flow_scope(flow_id)]
        assert str(uuid.UUID(str(person))) not in grant.refresh_token  # sealed
        live.drive(max_seconds=3 * INTERVAL)
        job = timers.get_job(timer["job_id"])
        assert (job["status"], job["number_of_runs"], job["number_of_errors"]) == ("ended", 2, 0)
        started[username] = [result["data"]["run_id"] for result in job["results"]["data"]]
        assert len(started[username]) == 2
        for run_id in started[username]:
            run = live.run_row(run_id)
            assert run["status"] == "SUCCEEDED", run["details"]
            assert run["run_owner"] == identity_urn(person) and run["label"] == "timed"
            # the external provider introspected a token of the owner, for its own scope
            [[seen]] = [
                answers for key, answers in ap.stats()["introspections_seen"].items() if run_id in key
            ]
            assert seen["active"] is True and seen["scope"] == registered.scope
            assert (seen["sub"], seen["username"]) == (str(person), username)
            # the built-in provider acted as the token's identity
            assert hello_creators(live, run_id) == [identity_urn(person)]
            assert live.grants(run_id) == []  # the ended run gave its tokens back
        timers.delete_job(timer["job_id"])
        assert timer_grant(live, timer["job_id"]) is None
        [token_row] = live.token_rows([grant.token_id])
        assert token_row.revoked_at is not None  # the deleted timer's grant is revoked
    assert len(timer_runs(live, flow_id)) == 4


def test_creating_a_flow_timer_without_consent_is_a_gare(live: LiveServer) -> None:
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    alice = live.person("alice")
    required = f"{TIMERS}[{flow_scope(flow_id)}[{HELLO_SCOPE}]]"
    timers = timers_client(timer_token(live, alice, None))  # the Timers scope without the flow's
    with pytest.raises(globus_sdk.GlobusAPIError) as caught:
        timers.create_timer(flow_timer(flow_id, count=1, start=live.clock.now()))
    error = caught.value
    assert error.http_status == 403 and error.raw_json["code"] == "ConsentRequired"
    assert error.raw_json["authorization_parameters"]["required_scopes"] == [required]
    gare = to_gare(error)
    assert gare is not None and gare.authorization_parameters.required_scopes == [required]
    assert timers.list_jobs()["jobs"] == []  # nothing was created
    # the consent globus-cli asks for (`timer[<flow scope>]`) covers the flow's needs below it
    created = timers_client(timer_token(live, alice, flow_id)).create_timer(
        flow_timer(flow_id, count=1, start=live.clock.now())
    )["timer"]
    live.drive(max_seconds=INTERVAL)
    [run] = timer_runs(live, flow_id)
    assert run["status"] == "SUCCEEDED" and hello_creators(live, run["id"]) == [identity_urn(alice)]
    assert created["job_id"]


def test_withdrawn_consent_makes_the_timer_inactive_until_resumed_with_new_credentials(
    live: LiveServer,
) -> None:
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    alice = live.person("alice")
    timers = timers_client(timer_token(live, alice, flow_id))
    timer = timers.create_timer(flow_timer(flow_id, count=5, start=live.clock.now()))["timer"]
    job_id = timer["job_id"]
    live.executor.run_until_idle()  # the first occurrence is due now
    [first] = timer_runs(live, flow_id)
    live.drive(max_seconds=0)
    assert live.run_row(first["id"])["status"] == "SUCCEEDED"

    root = consent_root(live, alice, f"{TIMERS}")  # type: ignore[arg-type]
    live.db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=root, now=live.clock.now()
        )
    )
    live.server.authenticator.invalidate()
    live.clock.advance(INTERVAL)
    live.executor.run_until_idle()

    required = f"{TIMERS}[{flow_scope(flow_id)}[{HELLO_SCOPE}]]"
    fresh = timers_client(timer_token(live, alice, flow_id))  # the old Timers token went with the consent
    job = fresh.get_job(job_id)
    assert (job["status"], job["number_of_runs"], job["number_of_errors"], job["next_run"]) == (
        "inactive",
        1,
        1,
        None,
    )
    reason = job["inactive_reason"]
    assert reason["cause"] == "globus_auth_requirements"
    gare = to_gare(reason["detail"])
    assert gare is not None and gare.code == "ConsentRequired"
    assert gare.authorization_parameters.required_scopes == [required]
    failed = job["results"]["data"][0]
    assert (failed["status"], failed["errors"][0]["code"]) == (403, "ConsentRequired")
    assert len(timer_runs(live, flow_id)) == 1  # no run started without consent
    live.drive(max_seconds=5 * INTERVAL)
    assert len(timer_runs(live, flow_id)) == 1  # and it does not retry

    # consent given again (the fresh token above): resuming with new credentials fires it again
    assert (
        fresh.resume_job(job_id, update_credentials=True)["message"] == f"Successfully resumed job {job_id}."
    )
    live.drive(max_seconds=2 * INTERVAL)
    later = timer_runs(live, flow_id)
    assert len(later) >= 2 and all(run["status"] == "SUCCEEDED" for run in later)
    assert hello_creators(live, later[-1]["id"]) == [identity_urn(alice)]
    assert fresh.get_job(job_id)["status"] in ("loaded", "ended")


def test_resuming_with_new_credentials_needs_consent(live: LiveServer) -> None:
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    alice = live.person("alice")
    timers = timers_client(timer_token(live, alice, flow_id))
    start = live.clock.now() + dt.timedelta(hours=1)
    job_id = timers.create_timer(flow_timer(flow_id, count=3, start=start))["timer"]["job_id"]
    timers.pause_job(job_id)
    root = consent_root(live, alice, TIMERS)  # type: ignore[arg-type]
    live.db.transact(
        lambda conn: authorization.revoke_consent(
            conn, identity_id=alice, consent_id=root, now=live.clock.now()
        )
    )
    live.server.authenticator.invalidate()
    bare = timers_client(timer_token(live, alice, None))  # consent to the Timers scope alone
    with pytest.raises(globus_sdk.GlobusAPIError) as caught:
        bare.resume_job(job_id, update_credentials=True)
    assert caught.value.http_status == 403 and caught.value.raw_json["code"] == "ConsentRequired"
    assert caught.value.raw_json["authorization_parameters"]["required_scopes"] == [
        f"{TIMERS}[{flow_scope(flow_id)}[{HELLO_SCOPE}]]"
    ]
    assert bare.get_job(job_id)["status"] == "inactive"  # nothing changed
    renewed = timers_client(timer_token(live, alice, flow_id))
    assert (
        renewed.resume_job(job_id, update_credentials=True)["message"]
        == f"Successfully resumed job {job_id}."
    )
    assert renewed.get_job(job_id)["status"] == "new"


def test_tokens_made_for_a_flow_timer_carry_its_consent(live: LiveServer) -> None:
    """`openflows tokens create --scope 'timer[FLOW_ID]'` (as `create_token` does it): consent to the Timers
    scope with the flow's scope below it; the token holds the Timers scope and creates the flow's timers."""
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    assert (
        normalize_scope(f"timer[{flow_id}]")
        == timer_flow_scope(flow_id)
        == f"{TIMERS}[{flow_scope(flow_id)}]"
    )
    assert normalize_scope(f"{TIMERS}[{flow_scope(flow_id)}]") == timer_flow_scope(flow_id)
    alice = live.person("alice")
    token = live.token(alice, timer_flow_scope(flow_id))
    with live.db.read() as conn:
        row = conn.execute(sa.select(tokens.c.scopes).where(tokens.c.token_hash == hash_token(token))).one()
    assert list(row.scopes) == [TIMERS]
    timer = timers_client(token).create_timer(flow_timer(flow_id, count=1, start=live.clock.now()))["timer"]
    live.drive(max_seconds=INTERVAL)
    [run] = timer_runs(live, flow_id)
    assert run["status"] == "SUCCEEDED" and hello_creators(live, run["id"]) == [identity_urn(alice)]
    assert timer_grant(live, timer["job_id"]) is not None
    # the Timers scope alone carries no consent for the flow: 403 ConsentRequired
    with pytest.raises(globus_sdk.GlobusAPIError) as caught:
        timers_client(live.token(alice, TIMERS)).create_timer(
            flow_timer(flow_id, count=1, start=live.clock.now())
        )
    assert caught.value.http_status == 403 and caught.value.raw_json["code"] == "ConsentRequired"


def test_a_timers_grant_appears_nowhere(
    live: LiveServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The timer's refresh token and the access tokens made from it are in no timer or run document, no log
    record and (sealed only) the SQLite file."""
    caplog.set_level(logging.DEBUG)
    flow_id = make_flow(live, {"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    alice = live.person("alice")
    timers = timers_client(timer_token(live, alice, flow_id))
    job_id = timers.create_timer(flow_timer(flow_id, count=2, start=live.clock.now()))["timer"]["job_id"]
    live.drive(max_seconds=2 * INTERVAL)
    grant = timer_grant(live, job_id)
    delegations = live.executor.delegations
    refresh = delegations.box.open(
        grant.refresh_token, purpose=_timer_purpose(grant.timer_id, grant.resource_server)
    )
    secrets = [refresh.decode(), delegations._access[grant.grant_id].token]
    texts = [timers.get_job(job_id).text, timers.list_jobs().text]
    texts += [live.flows(live.token(alice, ALL)).get_run(run["id"]).text for run in timer_runs(live, flow_id)]
    texts += [" ".join([r.getMessage(), repr(r.args), repr(r.__dict__)]) for r in caplog.records]
    if settings.database_url.startswith("sqlite"):
        database_file = Path(settings.database_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in (database_file, Path(f"{database_file}-wal")) if p.exists())
        assert grant.refresh_token.encode() in stored  # the search can find what is there
        texts.append(stored.decode(errors="replace"))
    assert len(timer_runs(live, flow_id)) == 2
    for secret in secrets:
        assert len(secret) > 20 and not [text for text in texts if secret in text]


def test_a_flow_that_gains_a_step_needs_new_consent(live: LiveServer) -> None:
    """A timer of a flow that needed nothing on its owner's behalf holds no grant; when the flow gains a step
    that acts as its user, the next firing makes the timer inactive with a GARE naming the timer scope with
    the flow's new needs; consenting and resuming with new credentials makes it fire again."""
    admin = live.token(live.person("admin"))
    flow_id = live.flows(admin).create_flow(
        "grows",
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        {},
        flow_starters=["all_authenticated_users"],
    )["id"]
    alice = live.person("alice")
    timers = timers_client(timer_token(live, alice, None))
    job_id = timers.create_timer(flow_timer(flow_id, count=4, start=live.clock.now()))["timer"]["job_id"]
    assert timer_grant(live, job_id) is None  # nothing to act for
    live.executor.run_until_idle()
    assert len(timer_runs(live, flow_id)) == 1
    live.flows(admin).update_flow(flow_id, definition={"StartAt": "Hi", "States": {"Hi": hello("Hi")}})
    live.clock.advance(INTERVAL)
    live.executor.run_until_idle()
    job = timers.get_job(job_id)
    assert (job["status"], job["inactive_reason"]["cause"]) == ("inactive", "globus_auth_requirements")
    gare = to_gare(job["inactive_reason"]["detail"])
    assert gare is not None
    assert gare.authorization_parameters.required_scopes == [
        f"{TIMERS}[{flow_scope(flow_id)}[{HELLO_SCOPE}]]"
    ]
    assert len(timer_runs(live, flow_id)) == 1
    consented = timers_client(timer_token(live, alice, flow_id))
    consented.resume_job(job_id, update_credentials=True)
    assert timer_grant(live, job_id) is not None
    live.drive(max_seconds=INTERVAL)
    newest = timer_runs(live, flow_id)[-1]
    assert len(timer_runs(live, flow_id)) >= 2 and newest["status"] == "SUCCEEDED"
    assert hello_creators(live, newest["id"]) == [identity_urn(alice)]
