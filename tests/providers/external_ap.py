"""A small external Action Provider (FastAPI) for the external-provider tests, run as its own process:

    python external_ap.py --port PORT --state STATE.json [--synchronous]

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
`GET /_stats` returns the counters and the Authorization headers seen.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response


def create_app(state_file: Path, *, synchronous: bool = False) -> FastAPI:
    app = FastAPI()
    data: dict[str, Any] = {
        "actions": {},
        "by_request": {},
        "run_calls": {},
        "status_calls": 0,
        "introspections": 0,
        "authorizations": [],
    }
    if state_file.exists():
        data.update(json.loads(state_file.read_text()))

    def save() -> None:
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, state_file)

    def seen(request: Request) -> None:
        data["authorizations"].append(request.headers.get("authorization"))

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
            "globus_auth_scope": "urn:test:scope",
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
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.state, synchronous=args.synchronous),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )
