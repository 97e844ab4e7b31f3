"""The engine's registered API client (issue 15): one synchronous HTTP call per Action state visit.

`RegisteredApiCaller.call(...)` loads the registered API, checks the state's Parameters against its
`state_input_schema`, renders the request template, sends the request and maps the answer with the response
templates (language/api_calls.py), returning an `ApiAnswer` event for `step()`:
- the API is gone, marked for deletion, or its Parameters do not fit: `ActionUnableToRun` (nothing sent);
- no redirect is followed (a 3xx is refused: `ActionUnableToRun`, code `RedirectRefused`), so neither the
  token nor the request goes anywhere the registered API does not name;
- the answer is read up to `max_response_bytes` (a larger one: `ActionFailedException`, `ResponseTooLarge`);
- the call takes at most `timeout` seconds, or the state's `WaitTime` when shorter (then `ActionTimeout`);
- a connection that cannot be made: `ActionUnableToRun` (`ApiUnreachable`); one broken mid-answer:
  `ActionFailedException`.
The call (method, URL with secrets redacted, status, duration) goes to the run log with the outcome; the
Authorization header never does.

Which token is sent: `registered_api_token`, the one place to change when runs carry their user's delegated
tokens (issue 14). Until then it is the rule of external action providers (engine/actions.py): an
administrator's static token for the URL's prefix (`OPENFLOWS_PROVIDER_TOKENS`), else the run input's
`_tokens[<RunAs>]`, else none.

Never call this inside a database transaction (DESIGN invariant 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..language import api_calls
from ..language.model import ApiAnswer, isoformat
from ..language.openapi_target import Operation, check_target
from ..language.schema_check import compile_input_validator
from ..store import registered_apis as store
from ..store.db import Database
from .actions import _parse_credentials, credential_for

#: default cap of one call (a state's WaitTime may shorten it)
DEFAULT_TIMEOUT_SECONDS = 60.0  # seconds
#: default cap of an answer's body
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024  # bytes
#: how long to wait for a connection
CONNECT_TIMEOUT_SECONDS = 10.0  # seconds
#: operations kept checked in memory, by (registered API id, updated_at)
OPERATION_CACHE = 256


def registered_api_token(
    run_input: Any,
    run_as: str,
    url: str,
    credentials: list[tuple[str, str, str, str]],
    user_token: str | None = None,
) -> str | None:
    """The bearer token sent to a registered API for a run (see the module docstring): the administrator's
    token for the URL's prefix, else the token delegated to the run by its user for the API's first scope
    (`user_token`, obtained by the executor, issue 14), else `_tokens[run_as]` of the run input."""
    static = credential_for(credentials, url)
    if static is not None:
        return static
    if user_token:
        return user_token
    tokens = run_input.get("_tokens") if isinstance(run_input, dict) else None
    if isinstance(tokens, dict) and isinstance(tokens.get(run_as), str):
        return tokens[run_as]
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class CallRequest:
    """What the executor knows when it calls: the state's evaluated Parameters and who runs."""

    api_id: str
    parameters: Any
    run_input: Any
    run_as: str
    wait_time: int  # seconds
    #: the run user's delegated token for the API's first scope, when the run holds one (issue 14)
    user_token: str | None = None


class RegisteredApiCaller:
    """Calls registered APIs for the executor (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        now: Callable[[], dt.datetime],
        credentials: Mapping[str, str] | list[tuple[str, str, str, str]] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db = db
        self._now = now
        self._credentials = (
            list(credentials) if isinstance(credentials, list) else _parse_credentials(credentials or {})
        )
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._transport = transport
        self._operations: dict[tuple[str, str], Operation] = {}
        self._lock = threading.Lock()

    def load(self, api_id: str) -> dict[str, Any] | ApiAnswer:
        """The registered API row, or the ActionUnableToRun answer when it cannot be used."""
        try:
            key = uuid.UUID(api_id)
        except ValueError:
            key = None
        now = self._now()
        with self.db.read() as conn:
            api = store.get_registered_api(conn, api_id=key, now=now) if key else None
        if api is None:
            return _unable("RegisteredAPINotFound", f"The registered API {api_id} does not exist")
        if api["status"] != store.ACTIVE:
            when = api["scheduled_deletion_at"]
            return _unable(
                "RegisteredAPIDeleted",
                f"The registered API {api_id} ({api['name']}) was deleted; it is removed for good at "
                f"{isoformat(when) if when else 'the end of its grace period'}. Change the flow to use "
                "another registered API.",
            )
        return api

    def operation(self, api: dict[str, Any]) -> Operation | None:
        key = (str(api["id"]), isoformat(api["updated_at"]))
        with self._lock:
            found = self._operations.get(key)
        if found is None:
            found, _ = check_target(api["target"])
            if found is None:
                return None
            with self._lock:
                if len(self._operations) >= OPERATION_CACHE:
                    self._operations.pop(next(iter(self._operations)))
                self._operations[key] = found
        return found

    def prepare(self, api: dict[str, Any], request: CallRequest) -> api_calls.HttpRequest | ApiAnswer:
        """The HTTP request, or the ActionUnableToRun answer when the Parameters cannot make one."""
        operation = self.operation(api)
        if operation is None:
            return _unable("InvalidRegisteredAPI", f"The target of registered API {api['id']} is not valid")
        schema = api["state_input_schema"]
        try:
            validator = compile_input_validator(
                schema, key=("registered_api", str(api["id"]), api["updated_at"])
            )
        except ValueError as exc:
            return _unable("InvalidRegisteredAPI", f"The state_input_schema cannot be used: {exc}")
        problems = validator.errors(request.parameters)
        if problems:
            return _unable(
                "InvalidParameters",
                f"The Parameters do not fit the state_input_schema of registered API {api['name']}",
                errors=[{"loc": list(p.loc), "msg": p.msg} for p in problems[:20]],
            )
        templates = api["data_templates"] if isinstance(api["data_templates"], dict) else {}
        request_template = (templates.get("request") or {}).get("template", {})
        rendered = api_calls.render(request_template, request.parameters)
        try:
            return api_calls.build_request(
                operation.method, operation.url, rendered, content_type=operation.content_type
            )
        except api_calls.RequestProblem as exc:
            return _unable("InvalidParameters", str(exc))

    def call(self, request: CallRequest, *, before_send: Callable[[], bool] | None = None) -> ApiAnswer:
        """Make the call; `before_send` (for a method that is not idempotent) records that it is about to be
        sent and returns False when the call must not be made (the work item was lost)."""
        api = self.load(request.api_id)
        if isinstance(api, ApiAnswer):
            return api
        prepared = self.prepare(api, request)
        if isinstance(prepared, ApiAnswer):
            return prepared
        operation = self.operation(api)
        assert operation is not None
        safe = operation.idempotent
        token = registered_api_token(
            request.run_input, request.run_as, prepared.url, self._credentials, request.user_token
        )
        headers = dict(prepared.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if not safe and before_send is not None and not before_send():
            return _unable("NotSent", "The call was not sent: the work item was taken by another worker")
        limit = min(self.timeout, float(request.wait_time))
        return self._send(prepared, headers, limit, api, safe)

    def _send(
        self,
        prepared: api_calls.HttpRequest,
        headers: dict[str, str],
        limit: float,
        api: dict[str, Any],
        safe: bool,
    ) -> ApiAnswer:
        call = {"method": prepared.method, "url": api_calls.redact_url(prepared.url)}
        started = time.monotonic()
        timeout = httpx.Timeout(limit, connect=min(limit, CONNECT_TIMEOUT_SECONDS))
        deadline = started + limit
        try:
            with (
                httpx.Client(timeout=timeout, follow_redirects=False, transport=self._transport) as client,
                client.stream(prepared.method, prepared.url, headers=headers, content=prepared.body) as resp,
            ):
                content = self._read(resp, deadline)
                status, answer_headers = resp.status_code, dict(resp.headers)
        except _TooLarge:
            call.update(_timing(started))
            return ApiAnswer(
                False,
                error="ActionFailedException",
                cause={
                    "code": "ResponseTooLarge",
                    "description": f"The answer is larger than {self.max_response_bytes:,} bytes",
                },
                call=call,
                retry_safe=safe,
            )
        except (httpx.TimeoutException, _Overtime):
            call.update(_timing(started))
            return ApiAnswer(
                False,
                error="ActionTimeout",
                cause=f"The registered API {api['name']} did not answer within {limit:g} seconds",
                call=call,
                retry_safe=safe,
            )
        except httpx.ConnectError as exc:
            call.update(_timing(started))
            cause = {"code": "ApiUnreachable", "description": f"{prepared.url}: {type(exc).__name__}: {exc}"}
            return ApiAnswer(False, error="ActionUnableToRun", cause=cause, call=call)
        except httpx.HTTPError as exc:
            call.update(_timing(started))
            cause = {"code": "ApiCallFailed", "description": f"{type(exc).__name__}: {exc}"[:2000]}
            return ApiAnswer(False, error="ActionFailedException", cause=cause, call=call, retry_safe=safe)
        call.update(_timing(started), status_code=status)
        answer = api_calls.answer_document(status, answer_headers, content)
        if 300 <= status < 400:
            cause = {
                "code": "RedirectRefused",
                "description": f"The API answered {status} (a redirect to "
                f"{answer['headers'].get('location', 'nowhere')}); registered API calls follow no redirect",
                "status_code": status,
            }
            return ApiAnswer(False, error="ActionUnableToRun", cause=cause, call=call, retry_safe=safe)
        mapped = api_calls.map_answer(api["data_templates"], answer)
        if mapped.success:
            return ApiAnswer(True, result=mapped.result, call=call)
        return ApiAnswer(False, error=mapped.error, cause=mapped.cause, call=call, retry_safe=safe)

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise _TooLarge()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _TooLarge()
            if time.monotonic() > deadline:
                raise _Overtime()
            chunks.append(chunk)
        return b"".join(chunks)


class _TooLarge(Exception):
    pass


class _Overtime(Exception):
    pass


def _timing(started: float) -> dict[str, Any]:
    return {"duration_ms": round((time.monotonic() - started) * 1000, 1)}


def _unable(code: str, description: str, **more: Any) -> ApiAnswer:
    return ApiAnswer(
        False, error="ActionUnableToRun", cause={"code": code, "description": description, **more}
    )
