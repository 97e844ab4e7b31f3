"""The upstream provider's ID token checks (`UpstreamProvider.verify`, Authlib + joserfc) on tokens
signed here with RSA keys: a good token is accepted; a bad signature, another key, a wrong nonce, audience
or issuer, an expired token are refused. Also the callback's `state` check and how people are linked to
identities (stable per (issuer, sub); no takeover of an existing username)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from openflows.auth import accounts
from openflows.auth.upstream import (
    PendingLogin,
    UpstreamConfig,
    UpstreamError,
    UpstreamPerson,
    UpstreamProvider,
    link_identity,
)

ISSUER = "https://idp.example.org/realms/lab"
CLIENT_ID = "openflows"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


def provider(**config: Any) -> UpstreamProvider:
    metadata = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "id_token_signing_alg_values_supported": ["RS256"],
        "jwks": {"keys": [KEY.as_dict(private=False)]},
    }
    return UpstreamProvider(UpstreamConfig(issuer=ISSUER, client_id=CLIENT_ID, **config), metadata=metadata)


def id_token(key: RSAKey = KEY, **changes: Any) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": "n-0S6_WzA2Mj",
        "preferred_username": "jane",
        "name": "Jane Doe",
        "email": "jane@lab.example",
        **changes,
    }
    claims = {key_: value for key_, value in claims.items() if value is not None}
    return {
        "access_token": "at",
        "token_type": "Bearer",
        "id_token": jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key),
    }


def test_a_good_id_token_names_the_person() -> None:
    person = provider().verify(id_token(), nonce="n-0S6_WzA2Mj")
    assert person == UpstreamPerson(
        issuer=ISSUER, subject="248289761001", username="jane", name="Jane Doe", email="jane@lab.example"
    )


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (id_token(OTHER_KEY), "signed by another key"),
        (id_token(nonce="replayed"), "wrong nonce"),
        (id_token(nonce=None), "no nonce"),
        (id_token(aud="another-client"), "wrong audience"),
        (id_token(aud=["another-client", "third"], azp=CLIENT_ID), "our id only as azp"),
        (id_token(iss="https://evil.example"), "wrong issuer"),
        (id_token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "expired"),
        (id_token(sub=None), "no subject"),
    ],
)
def test_bad_id_tokens_are_refused(token: dict[str, str], why: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        provider().verify(token, nonce="n-0S6_WzA2Mj")
    assert caught.value.code == "INVALID_ID_TOKEN", why


def test_a_tampered_signature_is_refused() -> None:
    token = id_token()
    header, payload, signature = token["id_token"].split(".")
    forged = id_token(sub="someone-else")["id_token"].split(".")[1]
    with pytest.raises(UpstreamError, match="not valid"):
        provider().verify({**token, "id_token": f"{header}.{forged}.{signature}"}, nonce="n-0S6_WzA2Mj")
    unsigned = f"{header}.{payload}."
    with pytest.raises(UpstreamError, match="not valid"):
        provider().verify({**token, "id_token": unsigned}, nonce="n-0S6_WzA2Mj")


def test_no_id_token_is_refused() -> None:
    with pytest.raises(UpstreamError) as caught:
        provider().verify({"access_token": "at"}, nonce="x")
    assert caught.value.code == "NO_ID_TOKEN"


def test_the_callback_state_must_match() -> None:
    pending = PendingLogin(url="", state="expected-state", nonce="n", code_verifier="v" * 43)
    with pytest.raises(UpstreamError) as caught:
        provider().finish({"code": "c", "state": "other"}, pending, redirect_uri="https://of/cb")
    assert caught.value.code == "STATE_MISMATCH"
    with pytest.raises(UpstreamError) as caught:
        provider().finish({"code": "c", "state": "expected-state"}, None, redirect_uri="https://of/cb")
    assert caught.value.code == "NO_PENDING_SIGN_IN"
    with pytest.raises(UpstreamError) as caught:
        provider().finish({"error": "access_denied", "state": "expected-state"}, pending, redirect_uri="x")
    assert caught.value.code == "UPSTREAM_REFUSED"


def test_username_claim_then_email_then_subject() -> None:
    custom = provider(username_claim="upn")
    assert custom.person({"sub": "s", "upn": "j.doe", "email": "j@x"}).username == "j.doe"
    assert custom.person({"sub": "s", "email": "j@x"}).username == "j@x"
    assert custom.person({"sub": "s"}).username == "s@idp.example.org"


def test_linking_is_stable_and_never_takes_over_a_username(db: Any) -> None:
    jane = UpstreamPerson(issuer=ISSUER, subject="1", username="jane", name="Jane", email="j@lab.example")
    first = db.transact(lambda conn: link_identity(conn, jane, now=NOW))
    renamed = UpstreamPerson(issuer=ISSUER, subject="1", username="jane2", name="Jane D.", email=None)
    again = db.transact(lambda conn: link_identity(conn, renamed, now=NOW))
    assert again.id == first.id and again.username == "jane" and again.name == "Jane D."

    db.transact(lambda conn: accounts.add_account(conn, username="admin", password="local-admin-pw", now=NOW))
    intruder = UpstreamPerson(issuer=ISSUER, subject="2", username="admin", name=None, email=None)
    linked = db.transact(lambda conn: link_identity(conn, intruder, now=NOW))
    assert linked.username == "admin@idp.example.org"
    other_idp = UpstreamPerson(
        issuer="https://other.example", subject="1", username="jane", name=None, email=None
    )
    assert db.transact(lambda conn: link_identity(conn, other_idp, now=NOW)).username == "jane@other.example"
    twin = UpstreamPerson(issuer="https://other.example", subject="9", username="jane", name=None, email=None)
    assert db.transact(lambda conn: link_identity(conn, twin, now=NOW)).username == "jane@other.example#2"

    with pytest.raises(accounts.AccountError) as caught:  # a password can never open an upstream identity
        db.transact(lambda conn: accounts.add_account(conn, username="jane", password="x" * 12, now=NOW))
    assert caught.value.code == "IDENTITY_IS_UPSTREAM"


def test_configuration_from_the_settings() -> None:
    from openflows.settings import Settings, SettingsError

    assert UpstreamConfig.from_settings(Settings()) is None
    config = UpstreamConfig.from_settings(
        Settings(oidc_issuer=ISSUER, oidc_client_id="of", oidc_client_secret="s", oidc_scopes="profile email")
    )
    assert (
        config is not None
        and config.scopes == "openid profile email"
        and config.display_name == "idp.example.org"
    )
    assert "s" not in repr(config).replace("scopes", "").replace("issuer", "") or "client_secret" not in repr(
        config
    )
    with pytest.raises(SettingsError, match="must be set together"):
        UpstreamConfig.from_settings(Settings(oidc_issuer=ISSUER))
