"""`auth.authorization` on a real database: requests checked, consents recorded once, codes stored hashed and
purged a day after they expire."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from openflows.auth import authorization, builtins, catalog
from openflows.auth.scope_strings import parse_scopes
from openflows.auth.tokens import hash_token
from openflows.engine.retention import purge_expired_codes
from openflows.store import auth_consents
from openflows.store.db import Database
from openflows.store.identities import ensure_identity
from openflows.store.schema import authorization_codes

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
BASE = "https://flows.example.org/"
TIMER = f"{catalog.TIMERS_TIMER}[{catalog.TRANSFER_ALL}]"


def approve(db: Database, identity_id: uuid.UUID, scope: str) -> str:
    return db.transact(
        lambda conn: authorization.approve(
            conn,
            identity_id=identity_id,
            client_id=catalog.GLADIER_CLIENT_ID,
            session_id=None,
            requested=parse_scopes(scope),
            redirect_uri=BASE + "v2/web/auth-code",
            code_challenge="c" * 43,
            code_challenge_method="S256",
            nonce=None,
            access_type="offline",
            now=NOW,
        )
    )


def setup(db: Database) -> uuid.UUID:
    db.transact(lambda conn: builtins.ensure_catalog(conn, now=NOW, base_url=BASE))
    return db.transact(lambda conn: ensure_identity(conn, "pat", now=NOW).id)


def test_approving_twice_records_each_consent_once(db: Database) -> None:
    pat = setup(db)
    requested = parse_scopes(f"openid {TIMER}")
    with db.read() as conn:
        assert not authorization.already_consented(conn, pat, catalog.GLADIER_CLIENT_ID, requested)
        described = authorization.describe(conn, requested)
    assert [item.name for item in described] == ["Know who you are", "Manage timers"]
    assert described[1].dependencies[0].resource_server == "transfer.api.globus.org"
    code = approve(db, pat, f"openid {TIMER}")
    approve(db, pat, TIMER)
    with db.read() as conn:
        rows = auth_consents.list_consents(conn, pat)
        assert authorization.already_consented(conn, pat, catalog.GLADIER_CLIENT_ID, requested)
        assert not authorization.already_consented(conn, pat, catalog.GRA_CLIENT_ID, requested)
        stored = conn.execute(
            sa.select(authorization_codes).where(authorization_codes.c.code_hash == hash_token(code))
        ).one()
    assert [(row.scope_string, row.dependency_path) for row in rows] == [
        ("openid", [rows[0].id]),
        (catalog.TIMERS_TIMER, [rows[1].id]),
        (catalog.TRANSFER_ALL, [rows[1].id, rows[2].id]),
    ]
    assert rows[2].client_id == uuid.UUID(catalog.TIMERS_RESOURCE_SERVER)  # the parent scope's owner
    assert code not in str(stored)  # stored hashed
    assert stored.expires_at == NOW + dt.timedelta(minutes=10) and stored.scope == f"openid {TIMER}"


def test_check_request_reports_where_an_error_may_go(db: Database) -> None:
    setup(db)
    query = {
        "client_id": str(catalog.GLADIER_CLIENT_ID),
        "redirect_uri": BASE + "v2/web/auth-code",
        "response_type": "code",
        "scope": "openid",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "session_required_mfa": "False",
        "session_required_identities": "a@x,b@y",
        "prompt": "login",
        "state": "st",
    }
    with db.read() as conn:
        ok = authorization.check_request(conn, query)
        bad_scope = authorization.check_request(conn, {**query, "scope": "openid [x]"})
        bad_type = authorization.check_request(conn, {**query, "response_type": "token"})
        bad_mfa = authorization.check_request(conn, {**query, "session_required_mfa": "perhaps"})
    assert isinstance(ok, authorization.AuthorizeRequest)
    assert ok.session_required_mfa is False and ok.session_required_identities == ("a@x", "b@y")
    assert ok.prompt == "login" and ok.state == "st" and ok.scope == "openid"
    for refused in (bad_scope, bad_type, bad_mfa):
        assert isinstance(refused, authorization.AuthorizeError) and refused.redirectable
        assert refused.redirect_url().endswith("&state=st")


def test_codes_are_purged_a_day_after_they_expire(db: Database) -> None:
    pat = setup(db)
    approve(db, pat, "openid")
    assert purge_expired_codes(db, now=NOW + dt.timedelta(hours=12)) == 0
    assert purge_expired_codes(db, now=NOW + dt.timedelta(days=1, minutes=11)) == 1
