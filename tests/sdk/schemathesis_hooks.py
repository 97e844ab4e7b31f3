"""schemathesis hooks for `test_schemathesis.py`, loaded by `st run` through `SCHEMATHESIS_HOOKS`.

One check, `positive_data_acceptance_beyond_the_schema`, stands in for the built-in `positive_data_acceptance`
(ST202: "a request the schema allows was rejected"; switched off in `schemathesis.toml`). It runs the built-in
check and lets only these rejections pass, each a rule no OpenAPI document can state because it depends on
what the server holds or on relations between values, never on the shape of one value:

- a 400 "Invalid pagination marker" to a request that carries a `marker` or `pagination_token`: a marker is
  opaque and valid only if this server issued it (the document states its alphabet and length);
- a 422 whose every problem lies under `definition` or `input_schema` (POST /flows, POST /flows/validate,
  PUT /flows/{flow_id}): the flow language (StartAt names a state, every Next exists, ...) and JSON Schema's
  own meta-rules (a `pattern` is a regular expression, ...) are checked by the server, not by the document;
- a 422 whose every problem lies under `target`, `state_input_schema` or `data_templates` (POST
  /registered_apis, PATCH /registered_apis/{registered_api_id}): the document states the structure of each
  (language/openapi_target.py `TARGET_JSON_SCHEMA`, language/api_calls.py `DATA_TEMPLATES_JSON_SCHEMA`), but
  the OpenAPI language itself (URL placeholders that are the path parameters, `$ref`s that resolve, reserved
  headers, JSON request bodies), the template language and JSON Schema's meta-rules are checked by the server;
- a 422 at `roles.owners` of a registered API that leaves out the caller (owners cannot lock themselves out):
  a rule on who calls, which the document cannot know;
- a 422 naming the total length of `keywords` (at most 1024 characters over all items) or more than 16 unique
  principals in a role list (duplicates are dropped, so 20 items may be fine): rules across items;
- a 400 FLOW_INPUT_ERROR from POST /flows/{flow_id}/run or /validate_run, or from a timer's creation: the body
  must match that flow's own input schema;
- a 422 whose every problem lies inside a timer's `schedule` or `body` (POST /v2/timer), or at a field of the
  legacy POST /jobs/ (whose `callback_url` must name a flow of this server or a Transfer action provider, and
  whose times and interval are read against the clock and the administrator's minimum interval): schedules
  are checked against now and the server's settings, and a transfer timer's body against the collections;
- a 422 at a step of a run's iterations' `within` path (`["query", "within", i]`) naming a state that is not
  a Map or Parallel state of the sub-machine that step is in: the run's definition decides, not the document;
- a refusal by the storable-text rule (no NUL character and no unpaired surrogate in any string or key, at any
  depth of a body, in the path or the query; issue 12 §3): a 422 whose problems all have the type
  `unstorable_character`, or the action providers' 400 `BadActionRequest` naming that rule. JSON Schema has
  no keyword for "every string of this free-form object, keys included", and a validator reading decoded
  text cannot even hold an unpaired surrogate.

Everything else a schema-valid request gets must be 2xx, 401, 403, 404 or 409, as the built-in check says.
"""

from __future__ import annotations

import typing as t

import schemathesis
from schemathesis.specs.openapi.checks import RejectedPositiveData, positive_data_acceptance

DEFINITION_OPERATIONS = frozenset({"POST /flows", "POST /flows/validate", "PUT /flows/{flow_id}"})
RUN_INPUT_OPERATIONS = frozenset({"POST /flows/{flow_id}/run", "POST /flows/{flow_id}/validate_run"})
TIMER_OPERATIONS = frozenset({"POST /v2/timer", "POST /jobs/"})
#: where a timer's creation holds what the server checks against the clock, its settings and its collections
TIMER_CHECKED_PARTS = (("timer", "schedule"), ("timer", "body"))
LEGACY_TIMER_FIELDS = frozenset(
    {"start", "interval", "stop_after", "stop_after_n", "callback_url", "callback_body", "interval_seconds"}
    | {"datetime", "end"}  # the legacy fields read as a schedule document
)
REGISTERED_API_OPERATIONS = frozenset({"POST /registered_apis", "PATCH /registered_apis/{registered_api_id}"})
#: the parts of a registered API whose own language the server checks
REGISTERED_API_LANGUAGES = ("target", "state_input_schema", "data_templates")
MARKER_PARAMETERS = ("marker", "pagination_token")
#: the sentence every refusal by the storable-text rule ends with
STORABLE_TEXT_RULE = "may not hold NUL characters or unpaired surrogates"
ROLE_LISTS = frozenset(
    {"flow_viewers", "flow_starters", "flow_administrators", "run_managers", "run_monitors"}
    | {"owners", "administrators", "viewers"}  # a registered API's `roles`
)


@schemathesis.check
def positive_data_acceptance_beyond_the_schema(ctx: t.Any, response: t.Any, case: t.Any) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _rejected_for_what_no_schema_states(response, case):
            return None
        raise


def _rejected_for_what_no_schema_states(response: t.Any, case: t.Any) -> bool:
    try:
        document = response.json()
    except ValueError:
        return False
    if (
        response.status_code == 400
        and isinstance(document, dict)
        and document.get("code") == "BadActionRequest"
    ):
        return STORABLE_TEXT_RULE in str(document.get("description", ""))
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return False
    operation = f"{case.method.upper()} {case.path}"
    query = case.query if isinstance(case.query, dict) else {}
    if response.status_code == 400 and str(error.get("detail", "")).startswith("Invalid pagination marker"):
        return any(query.get(name) for name in MARKER_PARAMETERS)
    if response.status_code == 400 and error.get("code") == "FLOW_INPUT_ERROR":
        return operation in RUN_INPUT_OPERATIONS | TIMER_OPERATIONS
    problems = error.get("detail")
    if response.status_code != 422 or not isinstance(problems, list) or not problems:
        return False
    locations = [problem.get("loc") or [""] for problem in problems if isinstance(problem, dict)]
    if len(locations) != len(problems):
        return False
    if all(problem.get("type") == "unstorable_character" for problem in problems):
        return True
    if all(
        loc[:2] == ["query", "within"] and "is not a Map or Parallel state" in str(p.get("msg"))
        for loc, p in zip(locations, problems, strict=True)
    ):
        return True
    if operation in DEFINITION_OPERATIONS and all(
        loc[0] in ("definition", "input_schema") for loc in locations
    ):
        return True
    if operation == "POST /v2/timer" and all(tuple(loc[:2]) in TIMER_CHECKED_PARTS for loc in locations):
        return True
    if operation == "POST /jobs/" and all(loc[0] in LEGACY_TIMER_FIELDS for loc in locations):
        return True
    if operation in REGISTERED_API_OPERATIONS and all(
        loc[0] in REGISTERED_API_LANGUAGES or _owners_leave_out_the_caller(loc, str(p.get("msg")))
        for loc, p in zip(locations, problems, strict=True)
    ):
        return True
    return all(_across_items(loc, str(p.get("msg"))) for loc, p in zip(locations, problems, strict=True))


def _owners_leave_out_the_caller(loc: list[t.Any], msg: str) -> bool:
    return loc == ["roles", "owners"] and "identity" in msg


def _across_items(loc: list[t.Any], msg: str) -> bool:
    """A problem with a rule across the items of one list: `keywords` total length, unique principals, the
    number of ids in a filter (counted after comma-joined values are split, which no `maxItems` can state)."""
    if loc[0] == "query" and msg.startswith("At most ") and msg.endswith(" values are allowed"):
        return True
    if loc[-1] == "keywords":
        return "in total" in msg
    return loc[-1] in ROLE_LISTS and "unique items" in msg
