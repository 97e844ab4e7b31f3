"""Request bodies of the Flows API (Pydantic models), with the field limits of spec flows-api.md §9.

Quirks (spec §1, §3, §10): an explicit JSON `null` means the same as an absent key (globus-sdk 4.x sends nulls
for `None` arguments); unknown extra keys (`additional_fields=`) are ignored. Presence is read from
`model_fields_set`, so "absent or null" (leave unchanged) and `[]` (clear) stay apart.

Principal lists follow the hosted service: `urn:globus:auth:identity:<uuid>` or `urn:globus:groups:id:<uuid>`,
plus `"public"` for viewers and `"all_authenticated_users"` for starters; at most 16 unique items (duplicates
are dropped, order kept; no JSON schema can state that cap, so the document names it in the description).
Errors use the hosted wording ("Unrecognized principal string: ...").

The JSON schemas of these models (in `/openapi.json`) state what the checks enforce: patterns are matched
whole (`fullmatch`, as an anchored ECMA-262 pattern is), every optional field is nullable (null = absent), and
the characters tags treat as blanks are spelt out rather than left to a regular expression's whitespace class,
which Python, ECMA-262 and the Rust engines read differently.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from ..shared import roles

PRINCIPAL_PATTERN = (
    r"^urn:globus:(auth:identity|groups:id):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$"
)
IDENTITY_PATTERN = PRINCIPAL_PATTERN.replace("(auth:identity|groups:id)", "auth:identity")
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_PRINCIPAL_RE = re.compile(PRINCIPAL_PATTERN)
_IDENTITY_RE = re.compile(IDENTITY_PATTERN)
_UUID_RE = re.compile(UUID_PATTERN)

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
#: the characters a tag treats as blanks: Python's `str.isspace()` ones and U+FEFF (which ECMA-262's
#: whitespace class includes); runs of them collapse to one space and they are trimmed
TAG_BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

RUN_NOTIFICATION_STATUSES = ("INACTIVE", "SUCCEEDED", "FAILED")


def _principal_checker(role_label: str, special: str | None) -> Any:
    allowed = "[<AuthGroupUrn>, <AuthIdentityUrn>" + (f', "{special}"' if special else "") + "]"

    def check(value: str) -> str:
        if (special is not None and value == special) or _PRINCIPAL_RE.fullmatch(value):
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
        Field(
            description=f"Principal URNs ({role_label}); at most {MAX_ROLE_PRINCIPALS} unique items "
            "(duplicates are dropped)"
        ),
    ]


ViewerList = _role_list("FlowViewer", roles.PUBLIC)
StarterList = _role_list("FlowStarter", roles.ALL_AUTHENTICATED_USERS)
AdministratorList = _role_list("FlowAdministrator")
RunManagerList = _role_list("RunManager")
RunMonitorList = _role_list("RunMonitor")


def _check_identity(value: str) -> str:
    if _IDENTITY_RE.fullmatch(value):
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
    """A UUID as 8-4-4-4-12 hex digits (the documented `format: uuid`), returned lowercase."""
    if _UUID_RE.fullmatch(value) is None:
        raise PydanticCustomError("uuid_parsing", "Input should be a valid UUID")
    return str(uuid.UUID(value))


_BLANK_RUN = re.compile(f"[{TAG_BLANKS}]+")


def normalize_tag(tag: str) -> str:
    """Trim and collapse inner blanks (hosted behaviour)."""
    return _BLANK_RUN.sub(" ", tag).strip(TAG_BLANKS)


def _check_tags(values: list[str]) -> list[str]:
    """Each tag as sent holds 1-128 characters, not all blanks; at most 64 tags as sent. Then tags are
    normalised and duplicates dropped."""
    if len(values) > MAX_TAGS:
        raise PydanticCustomError("too_long", "At most {max} tags are allowed", {"max": MAX_TAGS})
    for index, value in enumerate(values):
        if len(value) > MAX_TAG_CHARS:
            raise PydanticCustomError(
                "too_long",
                "Tag {index} is longer than {max} characters",
                {"index": index, "max": MAX_TAG_CHARS},
            )
    tags = [normalize_tag(v) for v in values]
    for index, tag in enumerate(tags):
        if not tag:
            raise PydanticCustomError("value_error", "Tag {index} is empty", {"index": index})
    return list(dict.fromkeys(tags))


#: the JSON schema of one tag as sent: not only blanks (`pattern` is searched, not anchored)
_TAG_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS, "pattern": f"[^{TAG_BLANKS}]"}


Keywords = Annotated[
    list[Annotated[str, Field(max_length=MAX_KEYWORDS_CHARS)]], AfterValidator(_check_keywords)
]
SubscriptionId = Annotated[
    str,
    AfterValidator(_check_subscription),
    WithJsonSchema({"anyOf": [{"type": "string", "const": "DEFAULT"}, {"type": "string", "format": "uuid"}]}),
]
#: a UUID as 8-4-4-4-12 hex digits (any letter case), stored lowercase
UuidText = Annotated[str, AfterValidator(_check_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]
PolicyId = UuidText
Tags = Annotated[
    list[str],
    AfterValidator(_check_tags),
    WithJsonSchema(
        {
            "type": "array",
            "items": _TAG_SCHEMA,
            "maxItems": MAX_TAGS,
            "description": "Blanks are trimmed and collapsed, duplicates dropped",
        }
    ),
]
FlowOwner = Annotated[
    str, AfterValidator(_check_identity), WithJsonSchema({"type": "string", "pattern": IDENTITY_PATTERN})
]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)]
#: a definition as the document shows it: the server checks the flow language itself (422 with locations)
Definition = Annotated[
    dict[str, Any],
    Field(
        description="A flow definition (docs/language.md)",
        examples=[{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": True}}}],
    ),
]
InputSchema = Annotated[dict[str, Any], Field(description="A JSON Schema for run input", examples=[{}])]
Title = Annotated[str, Field(min_length=1, max_length=128)]
Subtitle = Annotated[str, Field(max_length=128)]
Description = Annotated[str, Field(max_length=4096)]


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """Document that an optional property may be null (`RequestBody` drops nulls before validation)."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        if name in required or _allows_null(prop):
            continue
        schema["properties"][name] = {
            "anyOf": [_without_annotations(prop), {"type": "null"}],
            **_annotations(prop),
        }


_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")


def _annotations(prop: dict[str, Any]) -> dict[str, Any]:
    return {key: prop[key] for key in _ANNOTATIONS if key in prop}


def _without_annotations(prop: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in prop.items() if key not in _ANNOTATIONS}


def _allows_null(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(
        branch.get("type") == "null" for branch in prop.get("anyOf", ()) if isinstance(branch, dict)
    )


class RequestBody(BaseModel):
    """Base of every body: extra keys ignored, explicit nulls dropped (= absent)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_nullable_optionals)

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
    definition: Definition
    input_schema: InputSchema = Field(default_factory=dict)
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
    definition: Definition | None = None
    input_schema: InputSchema | None = None
    subtitle: Subtitle | None = None
    description: Description | None = None
    flow_owner: FlowOwner | None = None
    flow_viewers: ViewerList | None = None
    flow_starters: StarterList | None = None
    flow_administrators: AdministratorList | None = None
    run_managers: RunManagerList | None = None
    run_monitors: RunMonitorList | None = None
    keywords: Keywords | None = None
    subscription_id: SubscriptionId | None = None
    authentication_policy_id: PolicyId | None = None


class FlowValidate(RequestBody):
    definition: Definition
    input_schema: InputSchema | None = None


class NotificationPolicy(RequestBody):
    status: list[Literal["INACTIVE", "SUCCEEDED", "FAILED"]] = Field(default_factory=lambda: ["INACTIVE"])


class RunStart(RequestBody):
    body: Annotated[
        dict[str, Any],
        Field(description="Run input (checked against the flow's input schema)", examples=[{}]),
    ]
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
    activity_notification_policy: NotificationPolicy | None = None

    def given(self) -> dict[str, Any]:
        changes = super().given()
        policy = changes.get("activity_notification_policy")
        if isinstance(policy, NotificationPolicy):
            changes["activity_notification_policy"] = {"status": list(dict.fromkeys(policy.status))}
        return changes


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
