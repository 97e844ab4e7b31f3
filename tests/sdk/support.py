"""Helpers for the SDK acceptance tests: a live `openflows serve` subprocess, identities, clients, polling.

This module (like the whole `tests/sdk` package) imports only the standard library, pytest and globus_sdk, so
the same tests run in the project's virtualenv (globus-sdk 4.x) and in a bare one with globus-sdk 3.66.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import time
import types
import typing as t
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import globus_sdk
import pytest

SDK_VERSION = tuple(int(part) for part in re.findall(r"\d+", globus_sdk.__version__)[:3])
SDK_MAJOR = SDK_VERSION[0]
IS_SDK3 = SDK_MAJOR == 3

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOWS_RESOURCE_SERVER_ID = "eec9b274-0c81-4334-bdc2-54e90e689b9a"
SCOPE_PREFIX = f"https://auth.globus.org/scopes/{FLOWS_RESOURCE_SERVER_ID}/"
MANAGE_FLOWS = SCOPE_PREFIX + "manage_flows"
VIEW_FLOWS = SCOPE_PREFIX + "view_flows"
RUN = SCOPE_PREFIX + "run"
RUN_STATUS = SCOPE_PREFIX + "run_status"
RUN_MANAGE = SCOPE_PREFIX + "run_manage"
ALL_SCOPE = SCOPE_PREFIX + "all"
HELLO_WORLD_URL = "https://actions.globus.org/hello_world"
HELLO_WORLD_SCOPE = "https://auth.globus.org/scopes/actions.globus.org/hello_world"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ENDED"})
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
IDENTITY_URN = re.compile(r"^urn:globus:auth:identity:[0-9a-f-]{36}$")
GROUP_URN = re.compile(r"^urn:globus:groups:id:[0-9a-f-]{36}$")

SERVER_START_TIMEOUT = 30.0
RUN_TIMEOUT = 30.0


def openflows_bin() -> Path:
    """The `openflows` console script under test: $OPENFLOWS_TEST_BIN, else the project's .venv."""
    configured = os.environ.get("OPENFLOWS_TEST_BIN")
    return Path(configured) if configured else REPO_ROOT / ".venv" / "bin" / "openflows"


def flow_scope(flow_id: str) -> str:
    """The user scope of a flow, in the hosted service's format (spec flows-api.md §5)."""
    return f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Identity:
    """A user of the server under test: a bearer token and who it belongs to."""

    server: Server
    token: str
    identity_id: str
    urn: str
    username: str
    group_urns: list[str]
    _flows: globus_sdk.FlowsClient | None = field(default=None, repr=False)

    @property
    def flows(self) -> globus_sdk.FlowsClient:
        if self._flows is None:
            self._flows = flows_client(self.server.base_url, self.token)
        return self._flows

    def specific(self, flow_id: str) -> globus_sdk.SpecificFlowClient:
        return specific_flow_client(self.server.base_url, self.token, flow_id)


@dataclass
class Server:
    """A running `openflows serve` subprocess with its own home directory and SQLite database."""

    bin_path: Path
    workdir: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def create_identity(
        self, username: str, groups: t.Sequence[str] = (), scopes: t.Sequence[str] | None = None
    ) -> Identity:
        """`openflows tokens create --username NAME [--group G]... [--scope S]... --json`."""
        argv = [str(self.bin_path), "tokens", "create", "--username", username]
        for group in groups:
            argv += ["--group", group]
        for scope in scopes or ():
            argv += ["--scope", scope]
        argv.append("--json")
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr[-2000:]}"
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert lines, f"{argv} printed nothing"
        doc = json.loads(lines[-1])
        assert set(doc) >= {"token", "identity_id", "identity_urn", "username", "group_urns"}, doc
        return Identity(
            server=self,
            token=doc["token"],
            identity_id=doc["identity_id"],
            urn=doc["identity_urn"],
            username=doc["username"],
            group_urns=list(doc["group_urns"]),
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(bin_path: Path, workdir: Path, extra_env: dict[str, str] | None = None) -> Server:
    """Start `openflows serve` on a free port (with `extra_env` added to its environment) and wait (bounded)
    until GET /healthz answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("OPENFLOWS_EMULATE_GLOBUS_PROVIDERS", None)
    env.update(extra_env or {})
    env["OPENFLOWS_HOME"] = str(workdir / "home")
    env["OPENFLOWS_DATABASE_URL"] = f"sqlite:///{workdir / 'openflows.db'}"
    last_error = ""
    for attempt in range(3):
        port = free_port()
        log_path = workdir / f"serve-{attempt}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [str(bin_path), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        server = Server(bin_path, workdir, env, port, process, log_path)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{server.base_url}healthz", timeout=2) as response:
                    if response.status == 200:
                        return server
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        last_error = f"exit code {process.poll()}; log:\n{server.log_tail()}"
        server.stop()
    raise RuntimeError(f"openflows serve did not become healthy within {SERVER_START_TIMEOUT}s: {last_error}")


def _no_retry_kwargs() -> dict[str, t.Any]:
    """Client kwargs that turn SDK retries off, so a 5xx fails fast instead of being retried."""
    if IS_SDK3:
        return {"transport_params": {"max_retries": 0}}
    from globus_sdk.transport import RetryConfig

    return {"retry_config": RetryConfig(max_retries=0)}


def flows_client(base_url: str, token: str | None) -> globus_sdk.FlowsClient:
    authorizer = globus_sdk.AccessTokenAuthorizer(token) if token is not None else globus_sdk.NullAuthorizer()
    return globus_sdk.FlowsClient(base_url=base_url, authorizer=authorizer, **_no_retry_kwargs())


def specific_flow_client(base_url: str, token: str, flow_id: str) -> globus_sdk.SpecificFlowClient:
    client = globus_sdk.SpecificFlowClient(
        flow_id, authorizer=globus_sdk.AccessTokenAuthorizer(token), **_no_retry_kwargs()
    )
    client.base_url = base_url
    return client


def describe_error(err: globus_sdk.GlobusAPIError) -> str:
    return f"{err.http_status} {err.code!r} {err.messages!r} body={err.text[:600]!r}"


def expect_error(
    call: t.Callable[..., t.Any],
    *args: t.Any,
    status: int | t.Collection[int],
    code: str | None = None,
    **kwargs: t.Any,
) -> globus_sdk.FlowsAPIError:
    """Call an SDK method that must fail; check the status (and code) the SDK parsed; return the error."""
    try:
        response = call(*args, **kwargs)
    except globus_sdk.FlowsAPIError as err:
        allowed = {status} if isinstance(status, int) else set(status)
        assert err.http_status in allowed, f"expected HTTP {sorted(allowed)}, got {describe_error(err)}"
        if code is not None:
            assert err.code == code, f"expected code {code!r}, got {describe_error(err)}"
        assert_error_document(err.raw_json, err.http_status)
        return err
    data = getattr(response, "data", response)
    pytest.fail(f"expected HTTP {status} {code or ''}, got success: {json.dumps(data, default=str)[:600]}")


def assert_error_document(doc: t.Any, status: int) -> None:
    """The Flows error shape (spec §6, DESIGN invariant 4): {"error": {"code", "detail"}, "debug_id"}."""
    assert 400 <= status < 500, f"status {status} is not a client error: {doc}"
    assert isinstance(doc, dict), f"error body is not a JSON object: {doc!r}"
    assert isinstance(doc.get("error"), dict), f"no 'error' object: {doc}"
    error = doc["error"]
    assert isinstance(error.get("code"), str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", error["code"]), doc
    detail = error.get("detail")
    assert isinstance(detail, str) or (
        isinstance(detail, list)
        and all(isinstance(d, dict) and {"loc", "msg", "type"} <= set(d) for d in detail)
    ), f"bad error.detail: {doc}"
    assert "debug_id" in doc, f"no debug_id: {doc}"
    uuid.UUID(str(doc["debug_id"]))


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> t.Any:
        return json.loads(self.body)


def raw_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """One HTTP request with urllib (no SDK, no retries); 4xx/5xx are returned, not raised."""
    request = urllib.request.Request(base_url.rstrip("/") + path, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return RawResponse(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as err:
        return RawResponse(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def wait_for_run(
    client: globus_sdk.FlowsClient,
    run_id: str,
    statuses: t.Collection[str] = TERMINAL_STATUSES,
    timeout: float = RUN_TIMEOUT,
) -> dict[str, t.Any]:
    """Poll get_run (bounded) until the run's status is one of `statuses`; return the run document."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        run = client.get_run(run_id).data
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            pytest.fail(
                f"run {run_id} still {run['status']} after {timeout}s (want {sorted(statuses)}): {run}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def wait_for_log(
    client: globus_sdk.FlowsClient, run_id: str, timeout: float = RUN_TIMEOUT
) -> list[dict[str, t.Any]]:
    """Poll get_run_logs (bounded) until the run has log entries (the executor writes FlowStarted when it
    takes the run's first step, shortly after run_flow returns); return the first page of entries."""
    deadline = time.monotonic() + timeout
    while True:
        entries = client.get_run_logs(run_id)["entries"]
        if entries:
            return list(entries)
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} has no log entries after {timeout}s")
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------------
# Definitions used across the tests.


def pass_definition(states: int = 1) -> dict[str, t.Any]:
    """A chain of `states` Pass states."""
    names = [f"Pass{i}" for i in range(states)]
    body: dict[str, t.Any] = {}
    for index, name in enumerate(names):
        state: dict[str, t.Any] = {"Type": "Pass"}
        if index + 1 < len(names):
            state["Next"] = names[index + 1]
        else:
            state["End"] = True
        body[name] = state
    return {"StartAt": names[0], "States": body}


def hello_definition(parameters: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    return {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Action",
                "ActionUrl": HELLO_WORLD_URL,
                "Parameters": parameters if parameters is not None else {"echo_string.$": "$.msg"},
                "ResultPath": "$.hello",
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }


def wait_definition(seconds: int = 3600) -> dict[str, t.Any]:
    return {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": seconds, "End": True}}}


OPEN_SCHEMA: dict[str, t.Any] = {"type": "object"}
MSG_SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "required": ["msg"],
    "properties": {"msg": {"type": "string"}},
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ----------------------------------------------------------------------------------------------------
# The SDK's own fixture documents (globus_sdk.testing in 4.x, globus_sdk._testing in 3.x).


def load_fixture_common() -> types.ModuleType:
    """The SDK's `data/flows/_common.py` (realistic flow and run documents), loaded by path.

    Loading it by path avoids importing the SDK's testing package, which needs the `responses` library.
    """
    package_dir = Path(globus_sdk.__file__).parent
    for testing_dir in ("testing", "_testing"):
        path = package_dir / testing_dir / "data" / "flows" / "_common.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location("_sdk_flows_fixture_common", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError("globus_sdk flows test fixtures not found")


def fixture_response_json(name: str, case: str = "default") -> t.Any:
    """The JSON body of one SDK fixture response (needs globus_sdk 4.x `testing` and `responses`)."""
    testing = pytest.importorskip(
        "globus_sdk.testing", reason="SDK fixture response sets need globus-sdk 4.x"
    )
    pytest.importorskip("responses")
    response_set = testing.get_response_set(name)
    response = response_set.lookup(case)
    if hasattr(response, "responses"):
        response = response.responses[0]
    return response.json


def assert_same_shape(ours: dict[str, t.Any], reference: dict[str, t.Any], what: str, *, optional=()) -> None:
    """Every key of the reference document is present in ours, with a value of the same JSON type."""
    missing = sorted(set(reference) - set(ours) - set(optional))
    assert not missing, f"{what}: keys missing compared with the SDK fixture: {missing}; ours: {sorted(ours)}"
    for key, value in reference.items():
        if key not in ours or value is None or ours[key] is None and key in optional:
            continue
        assert _json_type(ours[key]) == _json_type(value), (
            f"{what}: key {key!r} is {_json_type(ours[key])} ({ours[key]!r:.200}), "
            f"fixture has {_json_type(value)}"
        )


def _json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"
