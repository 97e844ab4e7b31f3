"""The secret box (authenticated encryption under the service's secret key, with rotation) and the ID-token
signing keys on a real database."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import jwt
import pytest

from openflows.auth.keys import SECRET_KEY_FILE, SecretBox, SecretBoxError, SecretKeyError, SigningKeys
from openflows.store import auth_keys
from openflows.store.db import Database

OLD = "o" * 40
NEW = "n" * 40
NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_seal_and_open() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(b"the plaintext", purpose="test")
    assert b"the plaintext" not in sealed.encode() and NEW not in sealed
    assert box.open(sealed, purpose="test") == b"the plaintext"
    assert box.seal(b"x", purpose="test") != box.seal(b"x", purpose="test")  # a fresh nonce each time
    assert NEW not in repr(box)


def test_tampered_foreign_or_misused_texts_do_not_open() -> None:
    box = SecretBox([NEW])
    sealed = box.seal(b"secret", purpose="a")
    with pytest.raises(SecretBoxError):
        box.open(sealed, purpose="b")  # the purpose is authenticated
    head, body = sealed.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(SecretBoxError):
        box.open(f"{head}.{flipped}", purpose="a")
    with pytest.raises(SecretBoxError):
        SecretBox([OLD]).open(sealed, purpose="a")  # another key
    with pytest.raises(SecretBoxError):
        box.open("not sealed", purpose="a")


def test_rotation_opens_old_texts_and_seals_with_the_new_key() -> None:
    old_box = SecretBox([OLD])
    sealed = old_box.seal(b"kept", purpose="p")
    rotated = SecretBox.from_settings(f"{NEW}, {OLD}", Path("/nonexistent"))
    assert rotated.open(sealed, purpose="p") == b"kept"
    assert not rotated.is_current(sealed)
    fresh = rotated.seal(b"kept", purpose="p")
    assert rotated.is_current(fresh) and SecretBox([NEW]).open(fresh, purpose="p") == b"kept"
    with pytest.raises(SecretBoxError):
        old_box.open(fresh, purpose="p")


def test_short_keys_are_refused() -> None:
    with pytest.raises(SecretKeyError, match="shorter than 32"):
        SecretBox(["short"])
    with pytest.raises(SecretKeyError):
        SecretBox([])


def test_a_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    first = SecretBox.from_settings(None, tmp_path / "home")
    path = tmp_path / "home" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal(b"x", purpose="p")
    assert SecretBox.from_settings(None, tmp_path / "home").open(sealed, purpose="p") == b"x"


def test_signing_keys_sign_verifiably_and_rotate(db: Database) -> None:
    keys = SigningKeys(SecretBox([NEW]))
    kid = db.transact(lambda conn: keys.ensure(conn, now=NOW))
    assert db.transact(lambda conn: keys.ensure(conn, now=NOW)) == kid  # idempotent
    with db.read() as conn:
        [row] = auth_keys.list_keys(conn)
        assert "PRIVATE KEY" not in row.private_key  # sealed
        jwks = SigningKeys.jwks(conn, now=NOW)
    token = db.transact(lambda conn: keys.sign(conn, {"sub": "x", "aud": "c"}, now=NOW))
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0])
    assert jwt.decode(token, public, algorithms=["RS512"], audience="c")["sub"] == "x"
    assert jwt.get_unverified_header(token)["kid"] == kid

    new_kid = db.transact(lambda conn: keys.rotate(conn, now=NOW))
    with db.read() as conn:
        listed = [key["kid"] for key in SigningKeys.jwks(conn, now=NOW)["keys"]]
    assert listed[0] == new_kid and kid in listed  # the current key first, the old one still published
    token = db.transact(lambda conn: keys.sign(conn, {"sub": "y"}, now=NOW))
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    with db.read() as conn:  # a retired key leaves the JWKS two days after its retirement
        later = SigningKeys.jwks(conn, now=NOW + dt.timedelta(days=3))
    assert [key["kid"] for key in later["keys"]] == [new_kid]


def test_a_new_secret_key_reseals_the_signing_keys(db: Database) -> None:
    db.transact(lambda conn: SigningKeys(SecretBox([OLD])).ensure(conn, now=NOW))
    rotated = SigningKeys(SecretBox([NEW, OLD]))
    db.transact(lambda conn: rotated.ensure(conn, now=NOW))
    only_new = SigningKeys(SecretBox([NEW]))
    token = db.transact(
        lambda conn: only_new.sign(conn, {"sub": "z"}, now=NOW)
    )  # opens with the new key alone
    assert jwt.get_unverified_header(token)["alg"] == "RS512"
