"""The built-in `manage_permission` provider: creates, updates and deletes the access rules of a local
collection, as the hosted Transfer action provider does on a guest collection's permissions.

Input (both the current `https://transfer.actions.globus.org/manage_permission` and the retired
`…/transfer/set_permission` URLs take the same shape):
- `operation`: `CREATE`, `UPDATE` or `DELETE`; `endpoint_id` (the collection);
- CREATE: `path`, `principal_type` (`identity`, `group`, `all_authenticated_users`, `anonymous`),
  `principal` (the identity or group id; empty for the last two), `permissions` (`r` or `rw`);
- UPDATE: `rule_id`, `permissions`; DELETE: `rule_id`.

Only the collection's owner may manage its rules (on Transfer: an administrator or access manager of the
guest collection); anyone else gets a 403 `PermissionDenied` at `/run`. The answer is Transfer's result
document: `access_create_result` with `access_id` for CREATE, a `result` with code `Updated` or `Deleted`
otherwise. A rule that already exists for the principal and path (code `Exists`), a rule id the collection
does not have (`AccessRuleNotFound`) and too many rules (`LimitExceeded`) fail the action, with Transfer's
codes, as the hosted provider does.

A replayed CREATE (the same creator and `request_id`, after a crash between the change and the action's
record) finds the rule it made (its id derives from both) and answers as the first time.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

import sqlalchemy as sa

from ..auth.scopes import LEGACY_PROVIDER_SCOPES
from ..shared.collection_access import PERMISSIONS, PRINCIPAL_TYPES, AccessError, from_transfer, rule_parts
from ..store import collections as store
from ..store import errors as store_errors
from .base import BadActionRequest, Caller
from .collections import Collection, PermissionDenied, load_collection
from .filesystem import TRANSFER_AP_SCOPE, transfer_urls
from .outcomes import Outcome, failure
from .stored import StoredProvider, check_request, require_str

#: the namespace of the rule ids CREATE derives from (creator, request_id)
_RULE_NAMESPACE = uuid.UUID("6a1c9e0e-4d0b-4f8e-9a57-1f0e2d3c4b5a")
OPERATIONS = ("CREATE", "UPDATE", "DELETE")
#: the request_id of the `/run` being handled in this thread (check_body derives CREATE's rule id from it)
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("manage_permission_request_id")


def _permissions(body: dict[str, Any]) -> str:
    value = body.get("permissions")
    if value not in PERMISSIONS:
        raise BadActionRequest("permissions must be 'r' or 'rw'")
    return str(value)


def _rule_id(body: dict[str, Any]) -> str:
    text = require_str(body, "rule_id")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BadActionRequest(f"rule_id {text!r} is not an access rule id") from None


class ManagePermissionProvider(StoredProvider):
    """Create, update or delete an access rule of a local collection."""

    name = "manage_permission"
    hosted_urls = (
        "https://transfer.actions.globus.org/manage_permission",
        *(url for url in transfer_urls("set_permission") if "transfer.actions" not in url),
    )
    legacy_scopes = LEGACY_PROVIDER_SCOPES["manage_permission"]
    globus_auth_scope = TRANSFER_AP_SCOPE
    title = "Manage Permission"
    subtitle = "Access rules of local collections"
    description = (
        "Creates, updates or deletes an access rule (principal, path, r or rw) of a local collection; only "
        "the collection's owner may."
    )
    keywords = ("transfer", "permission", "sharing")
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "operation": {"type": "string", "enum": list(OPERATIONS)},
            "endpoint_id": {"type": "string"},
            "path": {"type": "string"},
            "principal_type": {"type": "string", "enum": list(PRINCIPAL_TYPES)},
            "principal": {"type": "string"},
            "permissions": {"type": "string", "enum": list(PERMISSIONS)},
            "rule_id": {"type": "string"},
            "notify_email": {"type": ["string", "null"]},
            "notify_message": {"type": ["string", "null"]},
        },
        "required": ["operation", "endpoint_id"],
    }

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        token = _REQUEST_ID.set(check_request(request)[0])  # read by check_body, in this call
        try:
            return super().run(request, caller)
        finally:
            _REQUEST_ID.reset(token)

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        operation = body.get("operation")
        if not isinstance(operation, str) or operation.upper() not in OPERATIONS:
            raise BadActionRequest("operation must be CREATE, UPDATE or DELETE")
        operation = operation.upper()
        collection = load_collection(self.db, require_str(body, "endpoint_id"), field="endpoint_id")
        if not collection.access.is_owner(caller.principals):
            raise PermissionDenied(
                f"Permission denied: only the owner of collection {collection.id} may manage its access rules"
            )
        state: dict[str, Any] = {"operation": operation, "collection": str(collection.id)}
        if operation == "CREATE":
            path = require_str(body, "path")
            try:
                principal = from_transfer(body.get("principal_type"), body.get("principal"))
                parts = rule_parts(path)
            except AccessError as exc:
                raise BadActionRequest(str(exc)) from None
            rule_id = uuid.uuid5(_RULE_NAMESPACE, f"{caller.identity}\n{_REQUEST_ID.get()}")
            state.update(
                principal=principal,
                path=list(parts),
                permissions=_permissions(body),
                rule_id=str(rule_id),
            )
        else:
            state["rule_id"] = _rule_id(body)
            if operation == "UPDATE":
                state["permissions"] = _permissions(body)
        return state

    def perform(self, body: dict[str, Any], state: dict[str, Any], caller: Caller) -> Outcome:
        collection = load_collection(self.db, state["collection"])
        operation = state["operation"]
        if operation == "CREATE":
            return self._create(collection, state)
        rule_id = uuid.UUID(state["rule_id"])
        resource = f"/endpoint/{collection.id}/access/{rule_id}"
        if operation == "UPDATE":
            changed = self.db.transact(
                store.update_rule, collection.id, rule_id, permissions=state["permissions"]
            )
            if not changed:
                return _not_found(collection, rule_id)
            return Outcome.succeeded(
                {
                    "DATA_TYPE": "result",
                    "code": "Updated",
                    "message": f"Access rule '{rule_id}' permissions updated successfully",
                    "resource": resource,
                    "access_id": str(rule_id),
                }
            )
        if not self.db.transact(store.delete_rule, collection.id, rule_id):
            return _not_found(collection, rule_id)
        return Outcome.succeeded(
            {
                "DATA_TYPE": "result",
                "code": "Deleted",
                "message": f"Access rule '{rule_id}' deleted successfully",
                "resource": resource,
                "access_id": str(rule_id),
            }
        )

    def _create(self, collection: Collection, state: dict[str, Any]) -> Outcome:
        rule_id = uuid.UUID(state["rule_id"])
        parts = tuple(state["path"])
        now = self.clock.now()

        def create(conn: sa.Connection) -> Outcome:
            existing = store.find_rule(conn, collection.id, state["principal"], parts)
            if existing is not None and existing.rule.id != rule_id:
                return Outcome.failed(
                    failure(
                        "Exists",
                        f"An access rule for this principal on {existing.rule.shown_path!r} already exists "
                        f"(rule {existing.rule.id}): update or delete it instead",
                        access_id=str(existing.rule.id),
                    )
                )
            if existing is None:
                store.insert_rule(
                    conn,
                    collection.id,
                    principal=state["principal"],
                    path=parts,
                    permissions=state["permissions"],
                    now=now,
                    rule_id=rule_id,
                )
            return Outcome.succeeded(
                {
                    "DATA_TYPE": "access_create_result",
                    "code": "Created",
                    "message": "Access rule created successfully.",
                    "resource": f"/endpoint/{collection.id}/access",
                    "access_id": str(rule_id),
                }
            )

        try:
            outcome: Outcome = self.db.transact(create)
        except store.TooManyRules as exc:
            return Outcome.failed(failure("LimitExceeded", str(exc)))
        except store_errors.UniqueViolation:  # made meanwhile by another request
            return Outcome.failed(
                failure("Exists", "An access rule for this principal and path already exists")
            )
        return outcome


def _not_found(collection: Collection, rule_id: uuid.UUID) -> Outcome:
    return Outcome.failed(
        failure("AccessRuleNotFound", f"Collection {collection.id} has no access rule {rule_id}")
    )
