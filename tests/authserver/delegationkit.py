"""Helpers of the delegation tests: a live server WITH its executor (driven by the test on a fake clock),
people with tokens for a flow's scope (made the way `openflows tokens create --scope <flow>` makes them:
consent recorded), the globus-sdk Flows clients, and reading what a run holds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import globus_sdk
import sqlalchemy as sa
import uvicorn
from authkit import AuthServer, free_port, no_retries

from openflows.auth.scopes import ALL, flow_scope
from openflows.auth.tokens import create_token
from openflows.server import build_server
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.schema import run_delegations, runs, tokens


@dataclasses.dataclass
class LiveServer(AuthServer):
    """An `AuthServer` whose executor exists (driven by the test)."""

    @property
    def executor(self) -> Any:
        assert self.server.executor is not None
        return self.server.executor

    def token(self, identity_id: uuid.UUID, *scopes: str) -> str:
        """A token as `openflows tokens create` makes it (a flow's scope among `scopes`: consent recorded);
        no scopes: the administrator's `*`."""
        return self.db.transact(
            lambda conn: create_token(
                conn, identity_id=identity_id, scopes=list(scopes), now=self.clock.now()
            )
        )[0]

    def flow_token(self, identity_id: uuid.UUID, flow_id: Any) -> str:
        return self.token(identity_id, ALL, flow_scope(flow_id))

    def flows(self, token: str) -> globus_sdk.FlowsClient:
        return globus_sdk.FlowsClient(
            base_url=self.base_url,
            authorizer=globus_sdk.AccessTokenAuthorizer(token),
            retry_config=no_retries(),
        )

    def specific(self, token: str, flow_id: Any) -> globus_sdk.SpecificFlowClient:
        client = globus_sdk.SpecificFlowClient(
            str(flow_id), authorizer=globus_sdk.AccessTokenAuthorizer(token), retry_config=no_retries()
        )
        client.base_url = self.base_url
        return client

    def drive(self, *, max_seconds: float = 3600.0) -> None:
        """Process everything due, moving the clock to each next due time (at most `max_seconds` on)."""
        limit = self.clock.now() + dt.timedelta(seconds=max_seconds)
        for _ in range(200):
            self.executor.run_until_idle()
            due = self.executor.next_due_at()
            if due is None or due > limit:
                return
            if due > self.clock.now():
                self.clock.set(due)

    def run_row(self, run_id: Any) -> dict[str, Any]:
        with self.db.read() as conn:
            return dict(
                conn.execute(sa.select(runs).where(runs.c.id == uuid.UUID(str(run_id)))).one()._mapping
            )

    def grants(self, run_id: Any) -> list[Any]:
        with self.db.read() as conn:
            return list(
                conn.execute(
                    sa.select(run_delegations).where(run_delegations.c.run_id == uuid.UUID(str(run_id)))
                )
            )

    def token_rows(self, token_ids: list[Any]) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(tokens).where(tokens.c.id.in_(token_ids))))


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """`build_server` with its executor (not started: the test drives it) and the Auth and Flows APIs served
    by uvicorn in a thread; the clock starts at the real time (globus-sdk checks ID tokens against it)."""
    port = free_port()
    clock = FakeClock(dt.datetime.now(dt.UTC))
    settings = settings.replace(public_url=f"http://127.0.0.1:{port}/")
    server = build_server(settings, port=port, run_executor=True, clock=clock)
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="delegation-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(server, f"http://127.0.0.1:{port}/", clock)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        server.executor.actions.close() if server.executor is not None else None
        server.db.dispose()


def hello(name: str, *, next_state: str | None = None, **more: Any) -> dict[str, Any]:
    """A built-in hello_world Action state (its hosted URL: the server emulates it)."""
    return action(name, "https://actions.globus.org/hello_world", {"echo_string": name}, next_state, **more)


def action(
    name: str, url: str, parameters: dict[str, Any], next_state: str | None = None, **more: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Action",
        "ActionUrl": url,
        "Parameters": parameters,
        "ResultPath": f"$.{name}",
        **more,
    }
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state
