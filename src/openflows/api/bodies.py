"""Request bodies of the Flows API (Pydantic models), with the field limits of spec flows-api.md §9.

Quirks (spec §1, §3, §10): an explicit JSON `null` means the same as an absent key (globus-sdk 4.x sends nulls
for `None` arguments); unknown extra keys (`additional_fields=`) are ignored. Presence is read from
`model_fields_set`, so "absent or null" (leave unchanged) and `[]` (clear) stay apart.

Principal lists follow the hosted service: `urn:globus:auth:identity:<uuid>` or `urn:globus:groups:id:<uuid>`,
plus `"public"` for viewers and `"all_authenticated_users"` for starters; at most 16 unique items (duplicates
are dropped, order kept). Errors use the hosted wording ("Unrecognized principal string: ...").
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..auth import roles

PRINCIPAL_PATTERN = (
    r"^urn:globus:(auth:identity|groups:id):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$"
)
IDENTITY_PATTERN = PRINCIPAL_PATTERN.replace("(auth:identity|groups:id)", "auth:identity")
_PRINCIPAL_RE = re.compile(PRINCIPAL_PATTERN)
_IDENTITY_RE = re.compile(IDENTITY_PATTERN)

#: at most this many unique principals per role list
MAX_ROLE_PRINCIPALS = 16
#: total characters over all keywords
MAX_KEYWORDS_CHARS = 1024
#: run label length
MAX_LABEL_CHARS = 64
#: tags per run, and characters per tag (after whitespace normalisation)
MAX_TAGS = 64
MAX_TAG_CHARS = 128
#: run ids per batch request
MAX_BATCH_RUNS = 100

RUN_NOTIFICATION_STATUSES = ("INACTIVE", "SUCCEEDED", "FAILED")


def _principal_checker(role_label: str, special: str | None) -> Any:
    allowed = "[<AuthGroupUrn>, <AuthIdentityUrn>" + (f', "{special}"' if special else "") + "]"

    def check(value: str) -> str:
        if (special is not None and value == special) or _PRINCIPAL_RE.match(value):
            return value
        raise PydanticCustomError(
            "value_error",
            'Unrecognized principal string: "{value}". Allowed principal types in role "{role}": {allowed}',
            {"value": value[:200], "role": role_label, "allowed": allowed},
        )

    return AfterValidator(check)


def _unique_capped(values: list[str]) -> list[str]:
    unique = list(dict.fromkeys(values))
    if len(unique) > MAX_ROLE_PRINCIPALS:
        raise PydanticCustomError(
            "too_long",
            "List should have at most {max} unique items, not {count}",
            {"max": MAX_ROLE_PRINCIPALS, "count": len(unique)},
        )
    return unique


def _role_list(role_label: str, special: str | None = None) -> Any:
    body = PRINCIPAL_PATTERN[1:-1]
    pattern = f"^({special}|{body})$" if special else PRINCIPAL_PATTERN
    # the pattern is documented (json_schema_extra) but checked by _principal_checker, for the hosted wording
    item = Annotated[
        str, _principal_checker(role_label, special), Field(json_schema_extra={"pattern": pattern})
    ]
    return Annotated[
        list[item],  # type: ignore[valid-type]
        AfterValidator(_unique_capped),
        Field(description=f"Principal URNs ({role_label}); at most {MAX_ROLE_PRINCIPALS} unique items"),
    ]


ViewerList = _role_list("FlowViewer", roles.PUBLIC)
StarterList = _role_list("FlowStarter", roles.ALL_AUTHENTICATED_USERS)
AdministratorList = _role_list("FlowAdministrator")
RunManagerList = _role_list("RunManager")
RunMonitorList = _role_list("RunMonitor")


def _check_identity(value: str) -> str:
    if _IDENTITY_RE.match(value):
        return value
    raise PydanticCustomError(
        "value_error",
        'Unrecognized principal string: "{value}". '
        'Allowed principal types in role "FlowOwner": [<AuthIdentityUrn>]',
        {"value": value[:200]},
    )


def _check_keywords(values: list[str]) -> list[str]:
    total = sum(len(v) for v in values)
    if total > MAX_KEYWORDS_CHARS:
        raise PydanticCustomError(
            "too_long",
            "Keywords may hold at most {max} characters in total, not {count}",
            {"max": MAX_KEYWORDS_CHARS, "count": total},
        )
    return values


def _check_subscription(value: str) -> str:
    if value == "DEFAULT":
        return value
    return _check_uuid(value)


def _check_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PydanticCustomError("uuid_parsing", "Input should be a valid UUID") from None


_WHITESPACE = re.compile(r"\s+")


def normalize_tag(tag: str) -> str:
    """Trim and collapse inner whitespace (hosted behaviour)."""
    return _WHITESPACE.sub(" ", tag).strip()


def _check_tags(values: list[str]) -> list[str]:
    tags = [normalize_tag(v) for v in values]
    for index, tag in enumerate(tags):
        if not tag:
            raise PydanticCustomError("value_error", "Tag {index} is empty", {"index": index})
        if len(tag) > MAX_TAG_CHARS:
            raise PydanticCustomError(
                "too_long",
                "Tag {index} is longer than {max} characters",
                {"index": index, "max": MAX_TAG_CHARS},
            )
    tags = list(dict.fromkeys(tags))
    if len(tags) > MAX_TAGS:
        raise PydanticCustomError("too_long", "At most {max} tags are allowed", {"max": MAX_TAGS})
    return tags


Keywords = Annotated[
    list[Annotated[str, Field(max_length=MAX_KEYWORDS_CHARS)]], AfterValidator(_check_keywords)
]
SubscriptionId = Annotated[str, AfterValidator(_check_subscription)]
PolicyId = Annotated[str, AfterValidator(_check_uuid)]
Tags = Annotated[list[str], AfterValidator(_check_tags)]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)]
Title = Annotated[str, Field(min_length=1, max_length=128)]
Subtitle = Annotated[str, Field(max_length=128)]
Description = Annotated[str, Field(max_length=4096)]


class RequestBody(BaseModel):
    """Base of every body: extra keys ignored, explicit nulls dropped (= absent)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def given(self) -> dict[str, Any]:
        """The fields the client sent with a non-null value."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class FlowCreate(RequestBody):
    title: Title
    definition: dict[str, Any]
    input_schema: dict[str, Any] = Field(default_factory=dict)
    subtitle: Subtitle = ""
    description: Description = ""
    flow_viewers: ViewerList = Field(default_factory=list)
    flow_starters: StarterList = Field(default_factory=list)
    flow_administrators: AdministratorList = Field(default_factory=list)
    run_managers: RunManagerList = Field(default_factory=list)
    run_monitors: RunMonitorList = Field(default_factory=list)
    keywords: Keywords = Field(default_factory=list)
    subscription_id: SubscriptionId | None = None
    authentication_policy_id: PolicyId | None = None


class FlowUpdate(RequestBody):
    title: Title | None = None
    definition: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None
    subtitle: Subtitle | None = None
    description: Description | None = None
    flow_owner: Annotated[str, AfterValidator(_check_identity)] | None = None
    flow_viewers: ViewerList | None = None
    flow_starters: StarterList | None = None
    flow_administrators: AdministratorList | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None
    keywords: Keywords | None = None
    subscription_id: SubscriptionId | None = None
    authentication_policy_id: PolicyId | None = None


class FlowValidate(RequestBody):
    definition: dict[str, Any]
    input_schema: dict[str, Any] | None = None


class NotificationPolicy(RequestBody):
    status: list[Literal["INACTIVE", "SUCCEEDED", "FAILED"]] = Field(default_factory=lambda: ["INACTIVE"])


class RunStart(RequestBody):
    body: dict[str, Any]
    label: Label | None = None
    tags: Tags | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None
    activity_notification_policy: NotificationPolicy | None = None


class RunUpdate(RequestBody):
    label: Label | None = None
    tags: Tags | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None


class BatchFilters(RequestBody):
    run_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BATCH_RUNS)]


class BatchSet(RequestBody):
    tags: Tags | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None
    status: Literal["cancel"] | None = None


class BatchChange(RequestBody):
    tags: Tags | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None


class BatchRuns(RequestBody):
    filters: BatchFilters
    set: BatchSet | None = None
    add: BatchChange | None = None
    remove: BatchChange | None = None
