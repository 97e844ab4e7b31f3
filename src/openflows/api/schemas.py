"""Response schemas for `/openapi.json` (spec flows-api.md §7). Handlers return plain dicts built by
`documents.py`; these models only describe them (routes declare them through `responses=`), so serving a
document costs no second validation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class ValidationProblem(_Doc):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(_Doc):
    code: str = Field(description="UPPER_SNAKE error code, e.g. NOT_FOUND, FORBIDDEN, UNPROCESSABLE_ENTITY")
    detail: str | list[ValidationProblem]
    message: str | None = None


class ErrorDocument(_Doc):
    """Every error response."""

    error: ErrorBody
    debug_id: str


class Health(_Doc):
    status: Literal["ok"]


class FlowDocument(_Doc):
    id: str
    definition: dict[str, Any]
    input_schema: dict[str, Any]
    globus_auth_scope: str
    globus_auth_scopes_by_RunAs: list[str]
    synchronous: bool
    log_supported: bool
    types: list[str]
    api_version: str
    title: str
    subtitle: str
    description: str
    keywords: list[str]
    principal_urn: str
    globus_auth_username: str
    created_at: str
    updated_at: str
    user_role: str | None
    user_roles: list[str]
    created_by: str
    visible_to: list[str]
    runnable_by: list[str]
    administered_by: list[str]
    action_url: str
    flow_url: str
    flow_owner: str
    flow_viewers: list[str]
    flow_starters: list[str]
    flow_administrators: list[str]
    run_managers: list[str]
    run_monitors: list[str]
    subscription_id: str | None
    authentication_policy_id: str | None
    is_high_assurance: bool


class DeletedFlowDocument(FlowDocument):
    DELETED: bool
    deleted_at: str


class FlowList(_Doc):
    flows: list[FlowDocument]
    limit: int
    has_next_page: bool
    marker: str | None


class FlowValidation(_Doc):
    scopes: dict[str, list[str]]
    analysis: dict[str, Any]


class FlowDescription(_Doc):
    id: str
    title: str
    subtitle: str
    description: str
    keywords: list[str]
    flow_owner: str
    created_by: str
    created_at: str
    updated_at: str
    globus_auth_scope: str


class NotificationPolicyDocument(_Doc):
    status: list[Literal["INACTIVE", "SUCCEEDED", "FAILED"]]


class RunDocument(_Doc):
    run_id: str
    action_id: str
    flow_id: str
    flow_title: str
    flow_last_updated: str
    start_time: str
    completion_time: str | None = Field(default=None, description="absent while the run is active")
    status: Literal["ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED", "ENDED"]
    display_status: str
    details: dict[str, Any] | None
    run_owner: str
    created_by: str
    run_managers: list[str]
    run_monitors: list[str]
    manage_by: list[str]
    monitor_by: list[str]
    user_role: str | None
    user_roles: list[str]
    label: str
    tags: list[str]
    activity_notification_policy: NotificationPolicyDocument
    blocking_web_input_id: str | None
    flow_description: FlowDescription | None = Field(
        default=None, description="with include_flow_description"
    )


class RunList(_Doc):
    runs: list[RunDocument]
    limit: int
    has_next_page: bool
    marker: str | None


class RunDefinition(_Doc):
    flow_id: str
    definition: dict[str, Any]
    input_schema: dict[str, Any]


class LogEntry(_Doc):
    time: str
    code: str
    description: str
    details: Any


class LogPage(_Doc):
    entries: list[LogEntry]
    limit: int
    has_next_page: bool
    marker: str | None = Field(default=None, description="absent on the last page")


class ValidateRunResult(_Doc):
    message: str


class BatchResult(_Doc):
    runs: list[RunDocument]


class WebInputFlow(_Doc):
    id: str | None
    title: str | None


class WebInputRun(_Doc):
    id: str | None
    label: str | None


class WebInputSummary(_Doc):
    id: str
    status: Literal["open", "closed"]
    user_roles: list[Literal["viewer", "respondent"]]
    input_type: Literal["selection"]
    title: str
    flow: WebInputFlow
    run: WebInputRun
    created_timestamp: str
    edited_timestamp: str
    closed_timestamp: str | None


class WebInputOption(_Doc):
    option_id: str
    label: str
    description: str


class WebInputRoles(_Doc):
    viewer_urns: list[str]
    respondent_urns: list[str]


class WebInputDocument(_Doc):
    id: str
    status: Literal["open", "closed"]
    user_roles: list[Literal["viewer", "respondent"]]
    input_type: Literal["selection"]
    input_schema: dict[str, Any]
    context: dict[str, Any] = Field(
        description="{title, presentation_style: 'text', text} or {title, presentation_style: 'table', rows}"
    )
    options: list[WebInputOption]
    roles: WebInputRoles
    creator_urn: str
    flow: WebInputFlow
    run: WebInputRun
    created_timestamp: str
    edited_timestamp: str
    closed_timestamp: str | None


class WebInputList(_Doc):
    web_input_summaries: list[WebInputSummary]
    marker: str | None = Field(description="null on the last page")


class WebInputResponded(_Doc):
    status: Literal["ok"]


class RegisteredApiRoles(_Doc):
    owners: list[str]
    administrators: list[str]
    viewers: list[str]


class RegisteredApiDocument(_Doc):
    id: str
    name: str
    description: str
    roles: RegisteredApiRoles
    target: dict[str, Any]
    data_templates: dict[str, Any]
    state_input_schema: dict[str, Any]
    status: Literal["ACTIVE", "DELETE_PENDING"]
    subscription_id: str | None
    created_timestamp: str
    edited_timestamp: str | None
    updated_timestamp: str
    scheduled_deletion_timestamp: str | None
    user_roles: list[Literal["owner", "administrator", "viewer"]]


class RegisteredApiSummary(_Doc):
    id: str
    name: str
    description: str
    created_timestamp: str
    updated_timestamp: str


class RegisteredApiList(_Doc):
    registered_apis: list[RegisteredApiSummary]
    limit: int
    has_next_page: bool
    marker: str | None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries declaring error statuses with the error document schema."""
    from .errors import ERROR_DESCRIPTIONS

    return {
        status: {"model": ErrorDocument, "description": ERROR_DESCRIPTIONS[status]} for status in statuses
    }


#: errors any authenticated route can answer with
COMMON_ERRORS = (400, 401, 403, 404, 413, 422, 503)
