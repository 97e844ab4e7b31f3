"""Every upgrade path works: a database at any earlier revision, holding data, migrates to head intact.

For each revision of the Alembic history (read from the script directory, so a new revision is covered
without editing this file) an empty database is upgraded to that revision, sample rows are written into the
tables that exist there (through the columns reflected from that database, never through `schema.py`, which
may have more), and the database is then upgraded to head. The result must have exactly the schema of
`metadata.create_all`, keep every row readable through the store, and a second upgrade must change nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from test_migrations import _describe

from openflows.store import collections as store_collections
from openflows.store import delegations as store_delegations
from openflows.store import flows as store_flows
from openflows.store import identities as store_identities
from openflows.store import notifications as store_notifications
from openflows.store import registered_apis as store_registered_apis
from openflows.store import runs as store_runs
from openflows.store import timers as store_timers
from openflows.store import web_inputs as store_web_inputs
from openflows.store import work as store_work
from openflows.store.db import Database
from openflows.store.migrate import current_revision, head_revision, make_config, upgrade
from openflows.store.schema import client_credentials, metadata
from openflows.store.types import JSONType, UTCDateTime

#: every revision of the history, oldest first
REVISIONS = [
    script.revision for script in reversed(list(ScriptDirectory.from_config(make_config()).walk_revisions()))
]

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=5)
IDENTITY_ID = uuid.UUID("0c7a2b1e-5d4f-4a3b-9c8d-7e6f5a4b3c2d")
GROUP_ID = uuid.UUID("1d8b3c2f-6e5a-4b4c-8d9e-8f7a6b5c4d3e")
TOKEN_ID = uuid.UUID("2e9c4d3a-7f6b-4c5d-9eaf-9a8b7c6d5e4f")
CLIENT_ID = uuid.UUID("3fad5e4b-8a7c-4d6e-8fb0-ab9c8d7e6f50")
FLOW_ID = uuid.UUID("4abe6f5c-9b8d-4e7f-9a01-bcad9e8f7061")
RUN_ID = uuid.UUID("5bcf7a6d-ac9e-4f80-8b12-cdbeaf9a8172")
ACTION_ID = uuid.UUID("6cd08b7e-bdaf-4091-9c23-decfb0ab9283")
COLLECTION_ID = uuid.UUID("7de19c8f-cebf-41a2-8d34-efd0c1bca394")
FUNCTION_ID = uuid.UUID("8ef2ad90-dfc0-42b3-9e45-f0e1d2cdb4a5")
CREDENTIAL_ID = uuid.UUID("90f3be01-e0d1-43c4-8f56-01f2e3decfb6")
PROJECT_ID = uuid.UUID("a104cf12-f1e2-44d5-9067-12030f4edfc7")
SCOPE_ID = uuid.UUID("b215d023-02f3-45e6-8178-2314104fe0d8")
DEPENDENT_SCOPE_ID = uuid.UUID("c326e134-1304-46f7-9289-3425215f01e9")
SESSION_ID = uuid.UUID("d437f245-2415-4708-83a0-4536326012fa")
RULE_ID = uuid.UUID("e548a356-3526-4819-94a1-5647437123ab")
REGISTERED_API_ID = uuid.UUID("f659b467-4637-4920-85c2-6758548234bc")
WEB_INPUT_ID = uuid.UUID("0b7e6c1a-2f3d-4a5b-8c6d-7e8f9a0b1c2d")
NOTIFICATION_ID = uuid.UUID("1c8f7d2b-3a4e-4b6c-9d7e-8f9a0b1c2d3e")
OPTION_ID = "0a6fc578-5748-4a3b-96d3-7869659345cd"
TIMER_ID = uuid.UUID("e5480356-3526-4819-94b1-5647437123fb")
#: columns that existed at older revisions only, with the value the sample row carries there
LEGACY_COLUMNS: dict[str, dict[str, Any]] = {"oauth_clients": {"secret_hash": "cd" * 32}}
OWNER = f"urn:globus:auth:identity:{IDENTITY_ID}"
MONITOR = f"urn:globus:groups:id:{GROUP_ID}"
DEFINITION = {"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": True}}}
INPUT_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}
BODY = {"name": "Ada", "nested": {"list": [1, 2.5, None, "x"], "flag": True}}
WEB_INPUT_DOCUMENT = {
    "context": {"title": "Approve?", "presentation_style": "text", "text": "Please"},
    "options": [{"option_id": OPTION_ID, "label": "Yes", "description": ""}],
    "flow": {"id": str(FLOW_ID), "title": "Say hello"},
    "run": {"id": str(RUN_ID), "label": "before the upgrade"},
}

#: what a no-op upgrade must not send: changes of data or schema, a write transaction, the migration lock
WRITE_STATEMENT = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\b|BEGIN IMMEDIATE|pg_advisory", re.I
)

#: rows written at the old revision, in foreign-key order; only the tables and columns present there are used
SAMPLE_ROWS: dict[str, list[dict[str, Any]]] = {
    "identities": [
        {
            "id": IDENTITY_ID,
            "username": "ada@example.org",
            "name": "Ada",
            "email": "ada@example.org",
            "created_at": NOW,
        }
    ],
    "groups": [{"id": GROUP_ID, "name": "analysts", "created_at": NOW}],
    "group_members": [{"group_id": GROUP_ID, "identity_id": IDENTITY_ID}],
    "tokens": [
        {
            "id": TOKEN_ID,
            "token_hash": "ab" * 32,
            "identity_id": IDENTITY_ID,
            "scopes": ["openid", "https://auth.globus.org/scopes/flows/all"],
            "description": "laptop",
            "created_at": NOW,
            "expires_at": LATER,
        }
    ],
    "oauth_clients": [{"id": CLIENT_ID, "identity_id": IDENTITY_ID, "description": "ci", "created_at": NOW}],
    "client_credentials": [
        {
            "id": CREDENTIAL_ID,
            "client_id": CLIENT_ID,
            "name": "ci",
            "secret_hash": "ef" * 32,
            "created_at": NOW,
        }
    ],
    "auth_projects": [
        {
            "id": PROJECT_ID,
            "display_name": "Lab",
            "contact_email": "lab@example.org",
            "admin_ids": [str(IDENTITY_ID)],
            "admin_group_ids": [],
            "created_at": NOW,
        }
    ],
    "auth_scopes": [
        {
            "id": SCOPE_ID,
            "scope_string": f"https://auth.globus.org/scopes/{CLIENT_ID}/all",
            "resource_server": str(CLIENT_ID),
            "client_id": CLIENT_ID,
            "name": "all",
            "description": "everything",
            "required_domains": [],
            "created_at": NOW,
        },
        {
            "id": DEPENDENT_SCOPE_ID,
            "scope_string": "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships",
            "resource_server": "groups.api.globus.org",
            "name": "groups",
            "description": "your groups",
            "required_domains": [],
            "created_at": NOW,
        },
    ],
    "auth_scope_dependencies": [{"scope_id": SCOPE_ID, "dependent_scope_id": DEPENDENT_SCOPE_ID}],
    "auth_consents": [
        {
            "identity_id": IDENTITY_ID,
            "client_id": CLIENT_ID,
            "scope_id": SCOPE_ID,
            "dependency_path": [1],
            "created_at": NOW,
            "updated_at": NOW,
            "last_used_at": NOW,
        }
    ],
    "authorization_codes": [
        {
            "code_hash": "12" * 32,
            "client_id": CLIENT_ID,
            "identity_id": IDENTITY_ID,
            "redirect_uri": "http://localhost:9999/",
            "scope": "openid",
            "consent_ids": [1],
            "created_at": NOW,
            "expires_at": LATER,
        }
    ],
    "auth_sessions": [
        {
            "id": SESSION_ID,
            "token_hash": "34" * 32,
            "identity_id": IDENTITY_ID,
            "method": "password",
            "idp": "local",
            "auth_time": NOW,
            "created_at": NOW,
            "expires_at": LATER,
        }
    ],
    "local_accounts": [
        {"identity_id": IDENTITY_ID, "password_hash": "$argon2id$...", "created_at": NOW, "updated_at": NOW}
    ],
    "identity_links": [
        {
            "issuer": "https://idp.example.org",
            "subject": "ada",
            "identity_id": IDENTITY_ID,
            "created_at": NOW,
            "last_seen_at": NOW,
        }
    ],
    "auth_attempts": [{"key": "user:ada@example.org", "at": NOW}],
    "signing_keys": [
        {
            "kid": "k1",
            "algorithm": "RS256",
            "private_key": "encrypted",
            "public_jwk": {"kty": "RSA"},
            "created_at": NOW,
        }
    ],
    "flows": [
        {
            "id": FLOW_ID,
            "flow_owner": OWNER,
            "created_by": OWNER,
            "title": "Say hello",
            "subtitle": "a Pass state",
            "description": "written before the upgrade",
            "keywords": ["hello", "pass"],
            "definition": DEFINITION,
            "input_schema": INPUT_SCHEMA,
            "version": 1,
            "flow_viewers": ["public"],
            "flow_starters": ["all_authenticated_users"],
            "flow_administrators": [],
            "run_managers": [],
            "run_monitors": [MONITOR],
            "created_at": NOW,
            "updated_at": LATER,
        }
    ],
    "flow_versions": [
        {
            "flow_id": FLOW_ID,
            "version": 1,
            "definition": DEFINITION,
            "input_schema": INPUT_SCHEMA,
            "created_at": NOW,
        }
    ],
    "flow_roles": [
        {"flow_id": FLOW_ID, "role": "flow_owner", "principal": OWNER},
        {"flow_id": FLOW_ID, "role": "flow_viewer", "principal": "public"},
        {"flow_id": FLOW_ID, "role": "flow_starter", "principal": "all_authenticated_users"},
        {"flow_id": FLOW_ID, "role": "run_monitor", "principal": MONITOR},
    ],
    "runs": [
        {
            "id": RUN_ID,
            "flow_id": FLOW_ID,
            "flow_version": 1,
            "run_owner": OWNER,
            "created_by": OWNER,
            "label": "before the upgrade",
            "tags": ["migration"],
            "run_managers": [],
            "run_monitors": [MONITOR],
            "status": "ACTIVE",
            "details": {"code": "FlowStarting", "details": {"input": BODY}},
            "input": BODY,
            "run_state": BODY,
            "cursor": {"state": "Hello", "attempt": 0},
            "context": {"run_id": str(RUN_ID), "username": "ada@example.org"},
            "start_time": NOW,
            "updated_at": NOW,
            "version": 3,
            "log_seq": 2,
        }
    ],
    "run_roles": [
        {"run_id": RUN_ID, "role": "run_owner", "principal": OWNER},
        {"run_id": RUN_ID, "role": "run_monitor", "principal": MONITOR},
    ],
    "run_logs": [
        {
            "run_id": RUN_ID,
            "seq": 0,
            "time": NOW,
            "code": "FlowStarted",
            "description": "The Flow Instance started execution",
            "details": {"input": BODY},
        },
        {
            "run_id": RUN_ID,
            "seq": 1,
            "time": LATER,
            "code": "PassStarted",
            "description": "State Hello of type Pass started",
            "details": {"state_name": "Hello"},
        },
    ],
    "run_delegations": [
        {
            "run_id": RUN_ID,
            "resource_server": "actions.globus.org",
            "grant_id": uuid.UUID("e548a356-3526-4819-94b1-5647437123ab"),
            "scopes": ["https://auth.globus.org/scopes/actions.globus.org/hello_world"],
            "token_id": TOKEN_ID,
            "refresh_token": "v1.sealed.text",
            "created_at": NOW,
        }
    ],
    "provider_scopes": [
        {
            "action_url": "https://ap.example.org/run",
            "scope": "https://auth.globus.org/scopes/ap/all",
            "fetched_at": NOW,
            "error": None,
        }
    ],
    "timers": [
        {
            "id": TIMER_ID,
            "owner": OWNER,
            "name": "nightly",
            "timer_type": "flow",
            "flow_id": FLOW_ID,
            "body": {"body": BODY, "label": "from a timer"},
            "schedule": {"type": "recurring", "interval_seconds": 3600, "start": NOW.isoformat(), "end": {}},
            "status": "loaded",
            "next_occurrence": 2,
            "next_run": LATER,
            "number_of_runs": 2,
            "last_ran_at": NOW,
            "submitted_at": NOW,
            "updated_at": NOW,
        }
    ],
    "timer_delegations": [
        {
            "timer_id": TIMER_ID,
            "resource_server": str(FLOW_ID),
            "grant_id": uuid.UUID("5d0f1c43-8e0b-4a57-9d0e-3c2a7f6b1e90"),
            "scopes": [
                f"https://auth.globus.org/scopes/{FLOW_ID}/flow_{str(FLOW_ID).replace('-', '_')}_user"
            ],
            "token_id": TOKEN_ID,
            "refresh_token": "v1.sealed.timer",
            "created_at": NOW,
        }
    ],
    "timer_runs": [
        {
            "timer_id": TIMER_ID,
            "occurrence": 1,
            "due_at": NOW,
            "ran_at": NOW,
            "status": "started",
            "run_id": RUN_ID,
        }
    ],
    "work_items": [
        {
            "run_id": RUN_ID,
            "kind": "step",
            "due_at": LATER,
            "attempts": 1,
            "payload": {"event": "start"},
            "created_at": NOW,
        }
    ],
    "provider_actions": [
        {
            "id": ACTION_ID,
            "provider": "hello_world",
            "creator_id": OWNER,
            "request_id": "request-before-upgrade",
            "status": "ACTIVE",
            "display_status": "Sleeping",
            "body": {"echo_string": "hi", "sleep_time": 5},
            "label": "greeting",
            "monitor_by": [OWNER],
            "manage_by": [OWNER],
            "start_time": NOW,
            "due_at": LATER,
            "release_after": "P30D",
            "state": {"slept": 0},
        }
    ],
    "collections": [{"id": COLLECTION_ID, "name": "scratch", "root": "/srv/scratch", "created_at": NOW}],
    "collection_rules": [
        {
            "id": RULE_ID,
            "collection_id": COLLECTION_ID,
            "principal": MONITOR,
            "path": "/shared/",
            "permissions": "r",
            "created_at": NOW,
        }
    ],
    "compute_functions": [{"id": FUNCTION_ID, "target": "package.module:function", "created_at": NOW}],
    "search_entries": [
        {
            "search_index": "results",
            "subject": "run/1",
            "entry_id": "",
            "visible_to": ["public"],
            "content": {"score": 0.5},
            "updated_at": NOW,
        }
    ],
    "registered_apis": [
        {
            "id": REGISTERED_API_ID,
            "name": "list-flows",
            "description": "Retrieve all Flows",
            "target": {
                "type": "openapi",
                "openapi_version": "3.1",
                "destination": {"method": "get", "url": "https://flows.example.org/flows"},
                "specification": {"responses": {"200": {"description": "ok"}}},
            },
            "data_templates": {"request": {"template": {}}, "response": {}},
            "state_input_schema": {"type": "object"},
            "scopes": ["https://auth.globus.org/scopes/flows/view_flows"],
            "owners": [OWNER],
            "administrators": [],
            "viewers": [MONITOR],
            "subscription_id": None,
            "status": "ACTIVE",
            "created_by": OWNER,
            "created_at": NOW,
            "updated_at": LATER,
            "edited_at": None,
            "scheduled_deletion_at": None,
        }
    ],
    "registered_api_roles": [
        {"registered_api_id": REGISTERED_API_ID, "role": "owner", "principal": OWNER},
        {"registered_api_id": REGISTERED_API_ID, "role": "viewer", "principal": MONITOR},
    ],
    "web_inputs": [
        {
            "id": WEB_INPUT_ID,
            "run_id": RUN_ID,
            "flow_id": FLOW_ID,
            "source": "state",
            "state_name": "Ask",
            "status": "open",
            "input_type": "selection",
            "title": "Approve?",
            "document": WEB_INPUT_DOCUMENT,
            "viewer_urns": [MONITOR],
            "respondent_urns": [OWNER],
            "creator_urn": OWNER,
            "created_at": NOW,
            "edited_at": NOW,
        }
    ],
    "web_input_roles": [
        {"web_input_id": WEB_INPUT_ID, "role": "viewer", "principal": MONITOR},
        {"web_input_id": WEB_INPUT_ID, "role": "respondent", "principal": OWNER},
    ],
    "weboption_urls": [{"suffix": "approve-it", "web_input_id": WEB_INPUT_ID, "option_index": 0}],
    "notifications": [
        {
            "id": NOTIFICATION_ID,
            "dedupe_key": f"web_input:{WEB_INPUT_ID}:{OWNER}",
            "kind": "web_input",
            "run_id": RUN_ID,
            "recipient_urn": OWNER,
            "payload": {"web_input_id": str(WEB_INPUT_ID), "title": "Approve?"},
            "status": "pending",
            "attempts": 2,
            "last_error": "the SMTP server answered 451",
            "created_at": NOW,
        }
    ],
}


def _bind_type(value: Any) -> sa.types.TypeEngine[Any] | None:
    """The type the application binds such a value with (so it is stored as the application stores it)."""
    if isinstance(value, uuid.UUID):
        return sa.Uuid()
    if isinstance(value, dt.datetime):
        return UTCDateTime()
    if isinstance(value, dict | list):
        return JSONType
    return None


def _insert_samples(db: Database, revision: str) -> None:
    """Write SAMPLE_ROWS into the tables of the database as they are at `revision`."""
    with db.begin() as conn:
        inspector = sa.inspect(conn)
        present = set(inspector.get_table_names()) - {"alembic_version"}
        unsampled = present - set(SAMPLE_ROWS)
        assert not unsampled, f"revision {revision} has tables without sample rows here: {sorted(unsampled)}"
        for name, rows in SAMPLE_ROWS.items():
            if name not in present:
                continue
            columns = {column["name"]: column for column in inspector.get_columns(name)}
            legacy = {key: value for key, value in LEGACY_COLUMNS.get(name, {}).items() if key in columns}
            rows = [{**row, **legacy} for row in rows]
            unknown = {key for row in rows for key in row} - set(columns)
            assert not unknown, f"{name} at revision {revision} has no columns {sorted(unknown)}"
            primary_key = inspector.get_pk_constraint(name)["constrained_columns"]
            generated = (
                set(primary_key)
                if len(primary_key) == 1 and isinstance(columns[primary_key[0]]["type"], sa.Integer)
                else set()
            )
            required = {
                column_name
                for column_name, column in columns.items()
                if not column["nullable"] and column.get("default") is None
            } - generated
            for row in rows:
                missing = required - set(row)
                assert not missing, (
                    f"sample row of {name} lacks {sorted(missing)} required at revision {revision}"
                )
                table = sa.table(name, *(sa.column(key, _bind_type(value)) for key, value in row.items()))
                conn.execute(sa.insert(table).values(row))


def _assert_samples_kept(db: Database, old_tables: set[str]) -> None:
    """Every sample row written into `old_tables` reads back unchanged through the current schema's types."""
    with db.read() as conn:
        for name, rows in SAMPLE_ROWS.items():
            if name not in old_tables:
                continue
            stored = [dict(row._mapping) for row in conn.execute(sa.select(metadata.tables[name]))]
            assert len(stored) == len(rows), name
            for row in rows:
                matches = [s for s in stored if all(s[key] == value for key, value in row.items())]
                assert len(matches) == 1, (name, row, stored)


def _assert_store_reads_samples(db: Database, old_tables: set[str]) -> None:
    """The current store functions read the old rows (joins, role filters, JSON and time decoding)."""
    with db.read() as conn:
        identity = store_identities.get_identity(conn, IDENTITY_ID)
        assert identity is not None
        assert (identity.username, identity.email, identity.created_at) == (
            "ada@example.org",
            "ada@example.org",
            NOW,
        )
        token = store_identities.get_token_by_hash(conn, "ab" * 32)
        assert token is not None
        assert token.id == TOKEN_ID
        assert token.username == "ada@example.org"
        assert token.scopes == ["openid", "https://auth.globus.org/scopes/flows/all"]
        assert token.expires_at == LATER
        assert store_identities.list_group_ids(conn, IDENTITY_ID) == [GROUP_ID]

        flow = store_flows.get_flow(conn, flow_id=FLOW_ID)
        assert flow is not None
        assert (flow["title"], flow["definition"], flow["run_monitors"]) == (
            "Say hello",
            DEFINITION,
            [MONITOR],
        )
        assert (flow["created_at"], flow["updated_at"], flow["deleted_at"]) == (NOW, LATER, None)
        version = store_flows.get_flow_version(conn, flow_id=FLOW_ID, version=1)
        assert version is not None
        assert version["input_schema"] == INPUT_SCHEMA
        flow_page, _ = store_flows.list_flows(
            conn,
            urns=[MONITOR],
            filter_roles=["run_monitor"],
            order=[store_flows.SORT_FIELDS["id"]],
            limit=10,
        )
        assert [row["id"] for row in flow_page] == [FLOW_ID]

        run = store_runs.get_run(conn, run_id=RUN_ID)
        assert run is not None
        assert (run["status"], run["input"], run["run_state"], run["flow_title"]) == (
            "ACTIVE",
            BODY,
            BODY,
            "Say hello",
        )
        assert (run["start_time"], run["completion_time"], run["version"], run["log_seq"]) == (
            NOW,
            None,
            3,
            2,
        )
        run_page, _ = store_runs.list_runs(
            conn, urns=[MONITOR], order=[store_runs.SORT_FIELDS["id"]], limit=10
        )
        assert [row["id"] for row in run_page] == [RUN_ID]
        entries, more = store_runs.get_run_logs(conn, run_id=RUN_ID, after_seq=None, reverse=False, limit=10)
        assert [(entry["seq"], entry["code"], entry["time"]) for entry in entries] == [
            (0, "FlowStarted", NOW),
            (1, "PassStarted", LATER),
        ]
        assert more is None
        [item] = store_work.list_work_items(conn, run_id=RUN_ID)
        assert (item.kind, item.due_at, item.attempts, item.payload, item.lease_owner) == (
            "step",
            LATER,
            1,
            {"event": "start"},
            None,
        )
        assert store_work.next_due_at(conn) == LATER
        loaded = store_work.load_run_for_step(conn, RUN_ID)
        assert loaded is not None
        assert (loaded.cursor, loaded.version) == ({"state": "Hello", "attempt": 0}, 3)
        if "registered_apis" in old_tables:
            api = store_registered_apis.get_registered_api(conn, api_id=REGISTERED_API_ID, now=LATER)
            assert api is not None
            assert (api["name"], api["viewers"], api["updated_at"]) == ("list-flows", [MONITOR], LATER)
            apis, _ = store_registered_apis.list_registered_apis(
                conn,
                urns=[MONITOR],
                filter_roles=["viewer"],
                order=[store_registered_apis.SORT_FIELDS["id"]],
                limit=10,
            )
            assert [row["id"] for row in apis] == [REGISTERED_API_ID]
        if "provider_actions" in old_tables:
            assert store_work.count_provider_actions(conn, request_id="request-before-upgrade") == 1
        if "collections" in old_tables:
            # a collection from before owners existed belongs to the local administrator (no identity here)
            collection = store_collections.get_collection(conn, COLLECTION_ID)
            assert collection is not None
            assert (collection.name, collection.owner) == ("scratch", None)
            access = store_collections.collection_access(conn, collection)
            assert access.owner is None
            rules = [(rule.principal, rule.shown_path, rule.permissions) for rule in access.rules]
            assert rules == ([(MONITOR, "/shared/", "r")] if "collection_rules" in old_tables else [])
        if "web_inputs" in old_tables:
            web_input = store_web_inputs.get_web_input(conn, WEB_INPUT_ID)
            assert web_input is not None
            assert (web_input["status"], web_input["flow_title_now"], web_input["run_label_now"]) == (
                "open",
                "Say hello",
                "before the upgrade",
            )
            listed, _ = store_web_inputs.list_web_inputs(
                conn, urns=[MONITOR], order=[store_web_inputs.SORT_FIELDS["id"]], limit=10
            )
            assert [row["id"] for row in listed] == [WEB_INPUT_ID]
            found = store_web_inputs.find_by_suffix(conn, "approve-it")
            assert found is not None and found[1] == 0
            notification = store_notifications.get_notification(conn, NOTIFICATION_ID)
            assert notification is not None
            assert (notification["status"], notification["attempts"]) == ("pending", 2)
        if "timers" in old_tables:
            timer = store_timers.get_timer(conn, TIMER_ID)
            assert timer is not None
            assert (timer.status, timer.next_run, timer.number_of_runs, timer.body["body"]) == (
                "loaded",
                LATER,
                2,
                BODY,
            )
            [result] = store_timers.recent_results(conn, [TIMER_ID])[TIMER_ID]
            assert (result.occurrence, result.run_id, result.missed) == (1, RUN_ID, 0)
        if "timer_delegations" in old_tables:
            grant = store_delegations.get_timer_grant(conn, TIMER_ID)
            assert grant is not None and (grant.token_id, grant.refresh_token) == (
                TOKEN_ID,
                "v1.sealed.timer",
            )
        if "oauth_clients" in old_tables and "client_credentials" not in old_tables:
            # 0005 moved each client's secret hash into a credential of its own
            moved = conn.execute(sa.select(client_credentials.c.client_id, client_credentials.c.secret_hash))
            assert [tuple(row) for row in moved] == [(CLIENT_ID, "cd" * 32)]


def _statements_during(db: Database, action: Any) -> list[str]:
    """The SQL statements `action()` sends through `db`'s engine."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return seen


def _create_all(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def test_history_is_linear_and_ends_at_head() -> None:
    assert REVISIONS[0] == "0001"
    assert REVISIONS[-1] == head_revision()
    assert len(set(REVISIONS)) == len(REVISIONS)


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_from_revision_keeps_data_and_reaches_the_schema(
    make_database_url: Any, revision: str
) -> None:
    url = make_database_url(migrated=False)
    created_url = make_database_url(migrated=False)
    _create_all(created_url)
    db = Database(url)
    try:
        assert upgrade(db, revision=revision) == revision
        assert current_revision(db) == revision
        with db.read() as conn:
            old_tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        _insert_samples(db, revision)

        head = head_revision()
        assert upgrade(db) == head
        assert current_revision(db) == head

        # (a) the same schema as a fresh create_all, by the drift test's reflection
        migrated = _describe(url)
        assert migrated == _describe(created_url)
        # (b) the old rows are all there, and the store reads them
        _assert_samples_kept(db, old_tables)
        _assert_store_reads_samples(db, old_tables)
        # (c) a second upgrade reads the revision and changes nothing
        statements = _statements_during(db, lambda: upgrade(db))
        assert statements
        writes = [statement for statement in statements if WRITE_STATEMENT.search(statement)]
        assert writes == [], statements
        assert current_revision(db) == head
        assert _describe(url) == migrated
        _assert_samples_kept(db, old_tables)

        # autoincrement ids still count on after the migrated rows (sequences / AUTOINCREMENT survived)
        with db.begin() as conn:
            [old_item] = store_work.list_work_items(conn, run_id=RUN_ID)
            new_id = store_work.enqueue_work_item(
                conn, store_work.NewWorkItem(run_id=RUN_ID, kind="poll", due_at=LATER), now=LATER
            )
        assert new_id > old_item.id
    finally:
        db.dispose()
