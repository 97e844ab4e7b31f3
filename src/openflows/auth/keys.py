"""The service's secret box and the keys that sign ID tokens.

`SecretBox` is authenticated encryption (AES-256-GCM) under the service's secret key: what must stay secret at
rest (the ID-token signing keys; issue 14's delegated tokens) is sealed with it. The key comes from
`OPENFLOWS_SECRET_KEY` (any string of 32+ characters; a comma-separated list "new,old" rotates: sealing uses
the first, opening tries the one the sealed text names), else from `home/secret-key`, generated on first start
(mode 0600). Every process of one deployment (PostgreSQL scale-out) must have the same key: set it explicitly
there. Each configured string is stretched to an AES key with HKDF-SHA256; a sealed text carries a short id of
the key it was sealed with, never the key.

`SigningKeys` keeps RSA keys in `signing_keys` (the private key sealed, the public key as a JWK). ID tokens
are signed RS512, as Globus Auth does, with the newest unretired key; the JWKS lists that key FIRST, because
globus-sdk verifies with `keys[0]` only. Processes starting together agree on one key: key ids count up (`k1`,
`k2`...) and an insert of an existing id is ignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import RSAAlgorithm

from ..store import auth_keys as store

#: file in the home directory holding the generated secret key (when OPENFLOWS_SECRET_KEY is unset)
SECRET_KEY_FILE = "secret-key"
#: shortest secret key accepted from the settings
MIN_SECRET_KEY_LENGTH = 32  # characters
#: the algorithm of ID tokens (Globus Auth's)
ID_TOKEN_ALGORITHM = "RS512"
#: size of the generated RSA keys
RSA_KEY_BITS = 2048  # bits
_NONCE_BYTES = 12  # bytes (AES-GCM's standard nonce)
_VERSION = "v1"
_HKDF_INFO = b"openflows secret box v1"


class SecretBoxError(ValueError):
    """A sealed text cannot be opened (unknown key, tampered, or not a sealed text)."""


class SecretKeyError(ValueError):
    """The configured secret key cannot be used."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Seal and open secrets with the service's secret key(s) (see the module docstring)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("at least one secret key is required")
        self._keys: dict[str, AESGCM] = {}
        self._primary = ""
        for index, key in enumerate(keys):
            if len(key) < MIN_SECRET_KEY_LENGTH:
                raise SecretKeyError(
                    f"secret key #{index + 1} is shorter than {MIN_SECRET_KEY_LENGTH} characters"
                )
            material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
                key.encode()
            )
            key_id = hashlib.sha256(b"key id:" + material).hexdigest()[:8]
            self._keys.setdefault(key_id, AESGCM(material))
            self._primary = self._primary or key_id

    def __repr__(self) -> str:  # never show key material
        return f"SecretBox(keys={len(self._keys)})"

    @classmethod
    def from_settings(cls, secret_key: str | None, home: Path) -> SecretBox:
        """The box of `OPENFLOWS_SECRET_KEY` ("new,old,..."), else of `home/secret-key` (made if missing)."""
        if secret_key:
            return cls([part.strip() for part in secret_key.split(",") if part.strip()])
        return cls([load_or_create_key_file(home / SECRET_KEY_FILE)])

    def seal(self, plaintext: bytes, *, purpose: str) -> str:
        """Encrypt and authenticate `plaintext`; `purpose` is bound to it (opening needs the same)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._primary].encrypt(nonce, plaintext, purpose.encode())
        return f"{_VERSION}.{self._primary}.{_b64(nonce + sealed)}"

    def open(self, sealed: str, *, purpose: str) -> bytes:
        """The plaintext of `seal`; raises `SecretBoxError` when it cannot be opened."""
        version, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        if version != _VERSION or key_id not in self._keys or not body:
            raise SecretBoxError("sealed with an unknown key or not a sealed text")
        try:
            data = _unb64(body)
            return self._keys[key_id].decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], purpose.encode())
        except Exception:  # InvalidTag, binascii.Error...: say nothing about the content
            raise SecretBoxError("the sealed text was altered or sealed for another purpose") from None

    def is_current(self, sealed: str) -> bool:
        """Whether `sealed` was sealed with the first (current) key."""
        return sealed.split(".", 2)[1:2] == [self._primary]


def load_or_create_key_file(path: Path) -> str:
    """The key in `path`, created (random, mode 0600) if the file does not exist."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it a moment ago
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class SigningKeys:
    """The ID-token signing keys of one database (see the module docstring)."""

    _PURPOSE = "id-token signing key"

    def __init__(self, box: SecretBox) -> None:
        self.box = box
        self._lock = threading.Lock()
        self._private: dict[str, Any] = {}  # kid -> private key object (opened once per process)

    def ensure(self, conn: sa.Connection, *, now: dt.datetime) -> str:
        """The kid of the current key, made if there is none; keys sealed with an old secret key are sealed
        again with the current one."""
        row = store.current_key(conn)
        if row is None:
            kid = f"k{store.highest_generation(conn) + 1}"
            store.insert_key_if_missing(conn, *self._generate(kid), now=now)
            row = store.current_key(conn)
            assert row is not None
        for stored in store.list_keys(conn):
            if not self.box.is_current(stored.private_key):
                pem = self.box.open(stored.private_key, purpose=self._PURPOSE)
                store.reseal_key(conn, stored.kid, self.box.seal(pem, purpose=self._PURPOSE))
        return str(row.kid)

    def rotate(self, conn: sa.Connection, *, now: dt.datetime) -> str:
        """Make a new current key; the old ones are retired (still published, no longer used to sign)."""
        kid = f"k{store.highest_generation(conn) + 1}"
        store.retire_keys(conn, now=now)
        store.insert_key_if_missing(conn, *self._generate(kid), now=now)
        return kid

    def _generate(self, kid: str) -> tuple[str, str, str, dict[str, Any]]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"alg": ID_TOKEN_ALGORITHM, "use": "sig", "kid": kid})
        return kid, ID_TOKEN_ALGORITHM, self.box.seal(pem, purpose=self._PURPOSE), jwk

    def sign(self, conn: sa.Connection, claims: dict[str, Any], *, now: dt.datetime) -> str:
        """A JWT of `claims` signed with the current key."""
        current = store.current_key(conn)
        kid = str(current.kid) if current is not None else self.ensure(conn, now=now)
        with self._lock:
            private = self._private.get(kid)
        if private is None:
            row = store.get_key(conn, kid)
            assert row is not None
            pem = self.box.open(row.private_key, purpose=self._PURPOSE)
            private = serialization.load_pem_private_key(pem, password=None)
            with self._lock:
                self._private[kid] = private
        return jwt.encode(claims, private, algorithm=ID_TOKEN_ALGORITHM, headers={"kid": kid})

    @staticmethod
    def jwks(conn: sa.Connection, *, now: dt.datetime) -> dict[str, Any]:
        """The public keys, the current one first (retired ones for a while after their retirement)."""
        return {"keys": [dict(row.public_jwk) for row in store.published_keys(conn, now=now)]}
