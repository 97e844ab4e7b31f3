"""Every error the API returns, as one Flows error document (DESIGN invariant 4; spec flows-api.md §6, §10).

`{"error": {"code": "UPPER_SNAKE", "detail": str | [{"loc", "msg", "type"}], "message"?}, "debug_id": uuid}`

Handlers raise `APIError` subclasses (or call the helpers below); `install_error_handlers` converts those,
FastAPI's own `RequestValidationError` and `HTTPException` (unknown path, wrong method), store errors and
anything unexpected into that document. Nothing else in `api/` builds an error body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..language.storable import RULE
from ..store import errors as store_errors
from .routing import allowed_methods

log = logging.getLogger(__name__)

Loc = Sequence[str | int]


class APIError(Exception):
    """A request failed; the class names its HTTP status and error code."""

    status_code: int = 400
    code: str = "BAD_REQUEST"

    def __init__(
        self,
        detail: str | list[dict[str, Any]],
        *,
        message: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else message or self.code)
        self.detail = detail
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        #: top-level keys added next to `error` (e.g. GARE `authorization_parameters`)
        self.extra = extra or {}
        #: keys added inside `error` (e.g. the Timers API's `title`, which globus-sdk's TimersAPIError reads)
        self.error_fields: dict[str, Any] = {}


class BadRequest(APIError):
    status_code = 400
    code = "BAD_REQUEST"


class FlowInputError(APIError):
    """The run input does not match the flow's input schema."""

    status_code = 400
    code = "FLOW_INPUT_ERROR"


class AuthenticationError(APIError):
    status_code = 401
    code = "AUTHENTICATION_ERROR"

    def __init__(self, detail: str = "Expired or invalid Bearer token") -> None:
        super().__init__(detail)


class Forbidden(APIError):
    status_code = 403
    code = "FORBIDDEN"


class MissingScope(APIError):
    status_code = 403
    code = "MISSING_SCOPE"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This action requires the following scope: {scope}")
        self.scope = scope


class ConsentRequired(APIError):
    """The token's consent does not cover what the flow does on the user's behalf (its scope's dependent
    scopes). The body is a Flows error document (`error.code` MISSING_SCOPE, which gladier reacts to) with a
    GARE at its root (`code: ConsentRequired` and `authorization_parameters`, which globus-sdk's `to_gare`
    and the globus CLI read: "globus session consent '<scope>'"), and the same scopes as a root
    `required_scopes` (the older Transfer shape, which `GlobusAPIError.info.consent_required` reads)."""

    status_code = 403
    code = "MISSING_SCOPE"

    def __init__(self, required_scopes: Sequence[str], message: str) -> None:
        super().__init__(
            f"This action requires consent to the following scopes: {' '.join(required_scopes)}",
            extra={
                "code": "ConsentRequired",
                "required_scopes": list(required_scopes),
                "authorization_parameters": {
                    "required_scopes": list(required_scopes),
                    "session_message": message,
                },
            },
        )


class NotFound(APIError):
    status_code = 404
    code = "NOT_FOUND"


class MethodNotAllowed(APIError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"


class StateConflict(APIError):
    status_code = 409
    code = "STATE_CONFLICT"


class RequestTimeout(APIError):
    """The client did not send the whole request in time (the connection is then closed)."""

    status_code = 408
    code = "REQUEST_TIMEOUT"


class PayloadTooLarge(APIError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(APIError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class Unprocessable(APIError):
    """The request is well-formed JSON but its content is invalid; `detail` is a list of problems."""

    status_code = 422
    code = "UNPROCESSABLE_ENTITY"

    def __init__(self, problems: list[dict[str, Any]], *, where: str = "body") -> None:
        super().__init__(problems, message=validation_message(problems, where=where))


class ServiceUnavailable(APIError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class InternalError(APIError):
    status_code = 500
    code = "INTERNAL_ERROR"


# --- helpers with the hosted service's wording --------------------------------------------------------------


def flow_not_found(flow_id: object) -> NotFound:
    return NotFound(f"No Flow exists with id value {flow_id}")


def run_not_found(run_id: object) -> NotFound:
    return NotFound(f"No Run exists with id value {run_id}")


def flow_forbidden(flow_id: object, missing: str) -> Forbidden:
    return Forbidden(
        "You do not have the necessary permissions to perform this action on the flow with id value "
        f"{flow_id}. Missing permissions: {missing}."
    )


def run_forbidden(run_id: object, missing: str) -> Forbidden:
    return Forbidden(
        "You do not have the necessary permissions to perform this action on the run with id value "
        f"{run_id}. Missing permissions: {missing}."
    )


def problem(loc: Loc, msg: str, type_: str = "value_error") -> dict[str, Any]:
    """One entry of a 422 `detail` list."""
    return {"loc": list(loc), "msg": msg, "type": type_}


def unprocessable(loc: Loc, msg: str, type_: str = "value_error") -> Unprocessable:
    return Unprocessable([problem(loc, msg, type_)])


def validation_message(problems: Iterable[dict[str, Any]], *, where: str = "body") -> str:
    """`"N validation error(s) in body. $.a.b: msg; ..."` like the hosted service's 422 `message`."""
    problems = list(problems)
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    parts = [f"{_json_path(p.get('loc', ()))}: {p.get('msg', '')}" for p in problems[:20]]
    return f"{count} validation {noun} in {where}. " + "; ".join(parts)


def _json_path(loc: Iterable[Any]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


# --- the document -------------------------------------------------------------------------------------------


def error_document(
    code: str,
    detail: str | list[dict[str, Any]],
    *,
    message: str | None = None,
    extra: dict[str, Any] | None = None,
    error_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "detail": detail}
    if message is not None:
        error["message"] = message
    error.update(error_fields or {})
    return {**(extra or {}), "error": error, "debug_id": str(uuid.uuid4())}


def error_response(exc: APIError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="openflows"'} if exc.status_code == 401 else None
    return JSONResponse(
        error_document(
            exc.code, exc.detail, message=exc.message, extra=exc.extra, error_fields=exc.error_fields
        ),
        status_code=exc.status_code,
        headers=headers,
    )


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_ERROR",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    409: "STATE_CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}


def _convert_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    problems = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if isinstance(part, str | int)]
        if loc and loc[0] == "body":
            loc = loc[1:]
        problems.append(
            problem(loc, str(err.get("msg", "invalid value")), str(err.get("type", "value_error")))
        )
    return problems


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = _convert_validation_errors(exc.errors())
    in_body = any(err.get("loc", ("",))[0] == "body" for err in exc.errors())
    return error_response(Unprocessable(problems, where="body" if in_body else "request"))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code if 400 <= exc.status_code < 600 else 400
    code = _HTTP_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    if status == 404:
        detail = f"No resource exists at path {request.url.path}"
    elif status == 405:
        detail = f"Method {request.method} is not allowed on path {request.url.path}"
    else:
        detail = str(exc.detail)
    response = error_response(APIError(detail, code=code, status_code=status))
    if exc.headers:
        response.headers.update(exc.headers)
    if status == 405:
        # every method of the path, not only those of the route Starlette matched first (RFC 9110 §15.5.6)
        methods = allowed_methods(request.scope)
        if methods:
            response.headers["Allow"] = ", ".join(methods)
    return response


async def _on_store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, store_errors.StoreError)
    if isinstance(exc, store_errors.Busy | store_errors.Unavailable | store_errors.ConcurrentUpdate):
        log.warning("store error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(ServiceUnavailable("The service is busy; retry the request"))
    if isinstance(exc, store_errors.InvalidValue):
        # `api/text.py` refuses such values with the field named; this is the backstop for anything it missed
        log.warning("value refused by the database on %s %s: %s", request.method, request.url.path, exc)
        return error_response(BadRequest(f"The request holds a value the database cannot store. {RULE}"))
    if isinstance(exc, store_errors.NotFound):
        return error_response(NotFound(exc.message))
    if isinstance(exc, store_errors.Conflict):
        return error_response(StateConflict(exc.message))
    log.exception("store error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("The service failed; the error was logged"))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("The service failed; the error was logged"))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the Flows error document."""
    app.add_exception_handler(APIError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(store_errors.StoreError, _on_store_error)
    app.add_exception_handler(Exception, _on_unexpected)


#: the `responses=` entries for route declarations (status -> description); the schema is `ErrorDocument`
ERROR_DESCRIPTIONS = {
    400: "Bad request (malformed JSON, bad marker, run input fails the input schema: FLOW_INPUT_ERROR)",
    401: "Missing, expired or invalid bearer token (AUTHENTICATION_ERROR)",
    403: "Not permitted (FORBIDDEN) or the token lacks a scope (MISSING_SCOPE)",
    404: "No such flow or run, or not visible to the caller (NOT_FOUND)",
    405: "Method not allowed on this path (METHOD_NOT_ALLOWED)",
    409: "The run's state does not allow the operation (STATE_CONFLICT)",
    413: "Request body larger than the configured cap (PAYLOAD_TOO_LARGE)",
    415: "Request body is not JSON (UNSUPPORTED_MEDIA_TYPE)",
    422: "Request content is invalid (UNPROCESSABLE_ENTITY)",
    503: "The database is busy or unavailable; retry (SERVICE_UNAVAILABLE)",
}
