"""Fixtures for the sign-in and consent pages: the real API app with the pages, the dashboard and a
registered app (an OAuth client with a redirect URI), driven by Starlette's TestClient; time is injected."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from openflows.api.app import create_app
from openflows.auth import accounts
from openflows.auth.tokens import Authenticator
from openflows.auth_http.web import create_web_router
from openflows.settings import Settings
from openflows.store.db import Database
from openflows.store.identities import ensure_identity
from openflows.store.schema import oauth_clients
from openflows.ui import install_ui

from .kit import hidden, query_of  # noqa: F401 (used by the tests through this module)

ORIGIN = "http://testserver"
APP_REDIRECT = "https://app.example.org/callback"
PASSWORD = "correct horse battery staple"
FLOWS_ALL = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"


class Clock:
    def __init__(self) -> None:
        self.value = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += dt.timedelta(seconds=seconds)


@dataclasses.dataclass
class SignIn:
    app: FastAPI
    db: Database
    settings: Settings
    clock: Clock
    client_id: uuid.UUID

    def browser(self, **kwargs: Any) -> TestClient:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StarletteDeprecationWarning)
            return TestClient(self.app, follow_redirects=False, **kwargs)

    def add_user(self, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
        return self.db.transact(
            lambda conn: accounts.add_account(
                conn, username=username, password=password, now=self.clock.now(), **kwargs
            )
        )

    def authorize_url(self, **params: str) -> str:
        query = {
            "client_id": str(self.client_id),
            "redirect_uri": APP_REDIRECT,
            "scope": f"openid {FLOWS_ALL}",
            "state": "xyz",
            "response_type": "code",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            **params,
        }
        from urllib.parse import urlencode

        return f"/v2/oauth2/authorize?{urlencode(query)}"


def register_client(db: Database, *, name: str, redirect_uris: list[str], now: dt.datetime) -> uuid.UUID:
    client_id = uuid.uuid4()

    def insert(conn: Any) -> None:
        identity = ensure_identity(conn, f"{client_id}@clients.auth.globus.org", name=name, now=now)
        conn.execute(
            sa.insert(oauth_clients).values(
                id=client_id,
                identity_id=identity.id,
                created_at=now,
                name=name,
                public_client=True,
                client_type="public_installed_client",
                redirect_uris=redirect_uris,
            )
        )

    db.transact(insert)
    return client_id


def make_signin(settings: Settings, db: Database, **changes: Any) -> SignIn:
    settings = settings.replace(**changes) if changes else settings
    clock = Clock()
    app = create_app(settings, db=db, clock=clock)
    app.include_router(create_web_router(db, settings, Authenticator(db), now=clock.now))
    install_ui(app, home=settings.home)
    client_id = register_client(db, name="Example App", redirect_uris=[APP_REDIRECT], now=clock.now())
    return SignIn(app=app, db=db, settings=settings, clock=clock, client_id=client_id)


@pytest.fixture
def signin(settings: Settings, db: Database) -> SignIn:
    return make_signin(settings, db)


@pytest.fixture
def browser(signin: SignIn) -> Iterator[TestClient]:
    with signin.browser() as client:
        yield client


def sign_in(client: TestClient, signin: SignIn, url: str, username: str, password: str = PASSWORD) -> Any:
    """Open `url` (an authorize URL), sign in on the page it shows; return the answer to the form."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    form = {
        "csrf": hidden(page.text, "csrf"),
        "next": hidden(page.text, "next"),
        "username": username,
        "password": password,
    }
    return client.post("/v2/web/signin", data=form, headers={"Origin": ORIGIN})


def home_of(settings: Settings) -> Path:
    return Path(settings.home)
