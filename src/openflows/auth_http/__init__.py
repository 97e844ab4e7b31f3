"""The HTTP surface of OpenFlows' Auth, beside the Flows API (not inside its routers): a faithful subset of
Globus Auth for the real clients (globus-sdk, globus-cli, gladier, globus-registered-api, action providers).
The browser pages where people sign in and consent are `web` (`create_web_router`). See docs/auth.md. The
services behind the routes are in `openflows.auth`."""

from __future__ import annotations

from fastapi import APIRouter

from .common import AuthContext
from .developer import create_developer_router
from .identities import create_identities_router
from .oauth import create_oauth_router

__all__ = ["AuthContext", "create_auth_router"]


def create_auth_router(context: AuthContext) -> APIRouter:
    """Every Auth route: OAuth/OIDC, identities and consents, Groups, the developer API."""
    router = APIRouter(include_in_schema=False)
    router.include_router(create_oauth_router(context))
    router.include_router(create_identities_router(context))
    router.include_router(create_developer_router(context))
    return router
