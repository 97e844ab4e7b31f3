"""A small external Action Provider (FastAPI) for the external-provider tests, run as its own process:

    python external_ap.py --port PORT --state STATE.json [--synchronous] [--scope SCOPE]
        [--auth-url URL]   # with AP_CLIENT_ID / AP_CLIENT_SECRET in the environment

Its behaviour is chosen per action by `body.mode` and counted, never timed (no sleeping anywhere):
- `ok`: SUCCEEDED at /run;
- `slow`: ACTIVE for `body.polls` status calls (each answered with `Retry-After: 1`), then SUCCEEDED;
- `fail`: ACTIVE for one poll, then FAILED with `details.reason`;
- `inactive`: INACTIVE until /resume, then SUCCEEDED;
- `reject`: /run answers 400 `{"code": "BadActionRequest", ...}`;
- `flaky`: /run answers 503 (`Retry-After: 0`) `body.failures` times for a request_id, then works like `ok`;
- `garbage`: /run answers 200 with HTML;
- `garbage_status`: /run answers ACTIVE, every status call answers 200 with a JSON list.
Actions and counters are saved to the state file after every request, so a restarted process carries on.
`GET /_stats` returns the counters, the Authorization headers seen and every action request by request_id
(`requests`). Like an APT provider, the status documents echo the request's `label`, `monitor_by` and
`manage_by`. `--scope` sets the `globus_auth_scope` it advertises (default `urn:test:scope`). With
`--auth-url`, it introspects every bearer token it receives at that Globus-Auth-compatible server with its
own client credentials (`include=identity_set`), as an action provider built with the provider tools does,
and records the answers (`introspections_seen`: request_id or action id -> {active, sub, username, scope,
token_hash}); `/run` answers 401 for a token that is not active or lacks the scope.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response


def create_app(
    state_file: Path,
    *,
    synchronous: bool = False,
    scope: str = "urn:test:scope",
    auth_url: str | None = None,
    credentials: tuple[str, str] | None = None,
) -> FastAPI:
    app = FastAPI()
    data: dict[str, Any] = {
        "actions": {},
        "by_request": {},
        "run_calls": {},
        "status_calls": 0,
        "introspections": 0,
        "authorizations": [],
        "requests": {},
        "introspections_seen": {},
    }
    if state_file.exists():
        data.update(json.loads(state_file.read_text()))

    def save() -> None:
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, state_file)

    def seen(request: Request) -> None:
        data["authorizations"].append(request.headers.get("authorization"))

    def introspect_token(request: Request, key: str) -> dict[str, Any] | None:
        """What the Auth server says of the request's bearer token (recorded under `key`), or None when
        this provider does not introspect."""
        if auth_url is None or credentials is None:
            return None
        import httpx

        header = request.headers.get("authorization") or ""
        token = header[7:] if header.lower().startswith("bearer ") else ""
        answer = httpx.post(
            auth_url.rstrip("/") + "/v2/oauth2/token/introspect",
            data={"token": token, "include": "identity_set"},
            auth=credentials,
            timeout=30,
        ).json()
        seen_as = {
            "active": answer.get("active"),
            "sub": answer.get("sub"),
            "username": answer.get("username"),
            "scope": answer.get("scope"),
            "identity_set": answer.get("identity_set"),
            "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        }
        data["introspections_seen"].setdefault(key, []).append(seen_as)
        return seen_as

    def refused(seen_as: dict[str, Any] | None) -> Response | None:
        if seen_as is None:
            return None
        if not seen_as["active"] or scope not in (seen_as["scope"] or "").split():
            return JSONResponse({"code": "AuthenticationFailed", "description": "bad token"}, 401)
        return None

    def document(action: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in action.items() if not k.startswith("_")}

    @app.get("/")
    def introspect(request: Request) -> dict[str, Any]:
        seen(request)
        data["introspections"] += 1
        save()
        return {
            "types": ["Action"],
            "api_version": "1.0",
            "globus_auth_scope": scope,
            "title": "external",
            "synchronous": synchronous,
            "input_schema": {"type": "object"},
        }

    @app.get("/_stats")
    def stats() -> dict[str, Any]:
        return data

    @app.post("/run")
    async def run(request: Request) -> Response:
        seen(request)
        payload = await request.json()
        request_id, body = payload["request_id"], payload["body"]
        data["requests"][request_id] = payload
        refusal = refused(introspect_token(request, request_id))
        if refusal is not None:
            save()
            return refusal
        mode = body.get("mode", "ok")
        data["run_calls"][request_id] = data["run_calls"].get(request_id, 0) + 1
        try:
            if mode == "reject":
                return JSONResponse({"code": "BadActionRequest", "description": "mode reject: refused"}, 400)
            if mode == "garbage":
                return PlainTextResponse("<html>not json</html>", 200)
            if mode == "flaky" and data["run_calls"][request_id] <= int(body.get("failures", 1)):
                return JSONResponse(
                    {"code": "Unavailable", "description": "try later"}, 503, headers={"Retry-After": "0"}
                )
            existing = data["by_request"].get(request_id)
            if existing is not None:
                return JSONResponse(document(data["actions"][existing]), 200)
            action_id = str(uuid.uuid4())
            status = {"ok": "SUCCEEDED", "flaky": "SUCCEEDED", "inactive": "INACTIVE"}.get(mode, "ACTIVE")
            action = {
                "action_id": action_id,
                "status": status,
                "creator_id": "urn:test:creator",
                "label": payload.get("label"),
                "monitor_by": payload.get("monitor_by") or [],
                "manage_by": payload.get("manage_by") or [],
                "details": {"mode": mode, "echo": body.get("echo")},
                "_mode": mode,
                "_polls_left": int(body.get("polls", 1)),
                "_reason": body.get("reason"),
            }
            data["actions"][action_id] = action
            data["by_request"][request_id] = action_id
            return JSONResponse(document(action), 202)
        finally:
            save()

    @app.get("/{action_id}/status")
    def status(action_id: str, request: Request) -> Response:
        seen(request)
        data["status_calls"] += 1
        try:
            refusal = refused(introspect_token(request, action_id))
            if refusal is not None:
                return refusal
            action = data["actions"].get(action_id)
            if action is None:
                return JSONResponse({"code": "ActionNotFound", "description": action_id}, 404)
            if action["_mode"] == "garbage_status":
                return JSONResponse(["not", "a", "status"], 200)
            if action["status"] == "ACTIVE":
                if action["_polls_left"] > 0:
                    action["_polls_left"] -= 1
                    return JSONResponse(document(action), 200, headers={"Retry-After": "1"})
                if action["_mode"] == "fail":
                    action["status"] = "FAILED"
                    action["details"] = {"reason": action["_reason"] or "it failed"}
                else:
                    action["status"] = "SUCCEEDED"
            return JSONResponse(document(action), 200)
        finally:
            save()

    @app.post("/{action_id}/resume")
    def resume(action_id: str, request: Request) -> Response:
        seen(request)
        action = data["actions"].get(action_id)
        if action is None:
            return JSONResponse({"code": "ActionNotFound", "description": action_id}, 404)
        if action["status"] == "INACTIVE":
            action["status"] = "SUCCEEDED"
        save()
        return JSONResponse(document(action), 200)

    @app.post("/{action_id}/release")
    @app.post("/{action_id}/cancel")
    def release(action_id: str, request: Request) -> Response:
        seen(request)
        action = data["actions"].get(action_id)
        if action is None:
            return JSONResponse({"code": "ActionNotFound", "description": action_id}, 404)
        return JSONResponse(document(action), 200)

    return app


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--synchronous", action="store_true")
    parser.add_argument("--scope", default="urn:test:scope")
    parser.add_argument("--auth-url", default=None)
    args = parser.parse_args()
    client = os.environ.get("AP_CLIENT_ID"), os.environ.get("AP_CLIENT_SECRET")
    uvicorn.run(
        create_app(
            args.state,
            synchronous=args.synchronous,
            scope=args.scope,
            auth_url=args.auth_url,
            credentials=(client[0], client[1]) if client[0] and client[1] else None,
        ),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )
