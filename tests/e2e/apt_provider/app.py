"""An action provider written as globus-action-provider-tools' documentation shows (its `apt_blueprint`
example: `ActionProviderDescription`, `ActionProviderBlueprint` and its decorators, the client id and
secret in the Flask configuration), run in the toolkit's own virtualenv (globus-sdk 3.x) by the acceptance
tests.

Only the settings come from the environment instead of a `config.py`: `AP_CLIENT_ID`, `AP_CLIENT_SECRET`
(registered at OpenFlows through the developer API), `AP_SCOPE` (its `action_all` scope) and `AP_RUNNABLE_BY`
(comma-separated principals, e.g. a group URN). globus-sdk finds OpenFlows through `GLOBUS_SDK_SERVICE_URL_*`.

Its one action says who called it: the run handler returns the caller's effective identity, identity set and
groups (all from the `AuthState` the toolkit built by introspecting the bearer token and, for the groups, from
a dependent Groups token) in the action's `details`.
"""

import argparse
import logging
import os
from datetime import UTC, datetime

from flask import Flask
from globus_action_provider_tools import (
    ActionProviderDescription,
    ActionRequest,
    ActionStatus,
    ActionStatusValue,
    AuthState,
)
from globus_action_provider_tools.authorization import (
    authorize_action_access_or_404,
    authorize_action_management_or_404,
)
from globus_action_provider_tools.flask import ActionProviderBlueprint
from globus_action_provider_tools.flask.exceptions import ActionConflict, ActionNotFound
from globus_action_provider_tools.flask.helpers import assign_json_provider
from globus_action_provider_tools.flask.types import ActionCallbackReturn
from pydantic import BaseModel, Field


class ActionProviderInput(BaseModel):
    message: str = Field(..., title="Message", description="Echoed back with who sent it")

    class Config:
        schema_extra = {"example": {"message": "hello"}}


description = ActionProviderDescription(
    globus_auth_scope=os.environ["AP_SCOPE"],
    title="Who Am I?",
    admin_contact="support@whoami.example.org",
    synchronous=True,
    input_schema=ActionProviderInput,
    api_version="1.0",
    subtitle="Tells who called it",
    description="",
    keywords=["identity", "groups"],
    visible_to=["public"],
    runnable_by=os.environ["AP_RUNNABLE_BY"].split(","),
    administered_by=["support@whoami.example.org"],
)

aptb = ActionProviderBlueprint(
    name="apt",
    import_name=__name__,
    url_prefix="/apt",
    provider_description=description,
)

backend: dict = {}


@aptb.action_run
def whoami_run(action_request: ActionRequest, auth: AuthState) -> ActionCallbackReturn:
    now = datetime.now(UTC).isoformat()
    action_status = ActionStatus(
        status=ActionStatusValue.SUCCEEDED,
        creator_id=str(auth.effective_identity),
        label=action_request.label or None,
        monitor_by=action_request.monitor_by or auth.identities,
        manage_by=action_request.manage_by or auth.identities,
        start_time=now,
        completion_time=now,
        release_after=action_request.release_after or "P30D",
        display_status="Done",
        details={
            "message": action_request.body["message"],
            "effective_identity": auth.effective_identity,
            "identities": sorted(auth.identities),
            "groups": sorted(auth.groups),
        },
    )
    backend[action_status.action_id] = action_status
    return action_status


@aptb.action_status
def whoami_status(action_id: str, auth: AuthState) -> ActionCallbackReturn:
    action_status = backend.get(action_id)
    if action_status is None:
        raise ActionNotFound(f"No action with {action_id}")
    authorize_action_access_or_404(action_status, auth)
    return action_status


@aptb.action_cancel
def whoami_cancel(action_id: str, auth: AuthState) -> ActionCallbackReturn:
    action_status = backend.get(action_id)
    if action_status is None:
        raise ActionNotFound(f"No action with {action_id}")
    authorize_action_management_or_404(action_status, auth)
    if action_status.is_complete():
        raise ActionConflict("Cannot cancel complete action")
    action_status.status = ActionStatusValue.FAILED
    action_status.display_status = f"Cancelled by {auth.effective_identity}"
    return action_status


@aptb.action_release
def whoami_release(action_id: str, auth: AuthState) -> ActionCallbackReturn:
    action_status = backend.get(action_id)
    if action_status is None:
        raise ActionNotFound(f"No action with {action_id}")
    authorize_action_management_or_404(action_status, auth)
    if not action_status.is_complete():
        raise ActionConflict("Cannot release incomplete Action")
    backend.pop(action_id)
    return action_status


def create_app() -> Flask:
    app = Flask(__name__)
    assign_json_provider(app)
    app.logger.setLevel(logging.DEBUG)
    app.config["CLIENT_ID"] = os.environ["AP_CLIENT_ID"]
    app.config["CLIENT_SECRET"] = os.environ["AP_CLIENT_SECRET"]
    app.register_blueprint(aptb)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser("whoami-provider")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)  # the toolkit's own log lines (introspection, groups) too
    create_app().run(host="127.0.0.1", port=args.port)
