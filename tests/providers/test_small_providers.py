"""expression_eval, compute, notification and search: inputs, outputs and failures."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from pathlib import Path

import pytest
from providerkit import ALICE, run_action
from typer.testing import CliRunner

from openflows.cli.main import app
from openflows.providers.base import BadActionRequest, Provider
from openflows.providers.compute import ComputeProvider
from openflows.providers.config import ProviderSettings
from openflows.providers.mail import SmtpTarget
from openflows.providers.notification import NotificationProvider
from openflows.providers.runner import ActionRunner
from openflows.providers.search import list_entries
from openflows.shared.clock import FakeClock
from openflows.store.collections import register_function
from openflows.store.db import Database

# -- expression_eval -------------------------------------------------------------------------------


def test_expression_eval_single_and_many(providers: dict[str, Provider]):
    one = run_action(providers["expression_eval"], {"expression": "x * 2", "arguments": {"x": 21}})
    assert one["status"] == "SUCCEEDED" and one["details"] == {"result": 42}
    many = run_action(
        providers["expression_eval"],
        {
            "expressions": [
                {"expression": "a + b", "arguments": {"a": 1, "b": 2}, "result_path": "sum"},
                {
                    "expression": "'-'.join(parts)",
                    "arguments": {"parts": ["x", "y"]},
                    "result_path": "out.joined",
                },
                {"expression": "a", "arguments": {"a": 9}, "result_path": "sum"},
            ]
        },
    )
    assert many["details"] == {"sum": 9, "out": {"joined": "x-y"}}


def test_expression_eval_failures(providers: dict[str, Provider]):
    failed = run_action(providers["expression_eval"], {"expression": "missing + 1", "arguments": {}})
    assert failed["status"] == "FAILED" and failed["details"]["code"] == "ExpressionEvaluationError"
    assert "missing" in failed["details"]["description"]
    with pytest.raises(BadActionRequest):
        providers["expression_eval"].run({"request_id": "r", "body": {"arguments": {}}}, ALICE)


def test_expression_eval_requests_share_one_work_budget(
    providers: dict[str, Provider], monkeypatch: pytest.MonkeyPatch
):
    """Thousands of expressions in one request cannot spend thousands of budgets (issue 12)."""
    import time

    from openflows.providers import expression_eval

    evaluated: list[str] = []
    evaluating = [0.0]
    real_evaluate = expression_eval.evaluate_expression

    def counting_evaluate(*args, **kwargs):
        evaluated.append(args[0])
        start = time.thread_time()
        try:
            return real_evaluate(*args, **kwargs)
        finally:
            evaluating[0] += time.thread_time() - start

    monkeypatch.setattr(expression_eval, "evaluate_expression", counting_evaluate)
    heavy = {
        "expression": "[x + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 for x in l]",
        "arguments": {"l": [1] * 3000},
    }
    failed = run_action(providers["expression_eval"], {"expressions": [heavy] * 2000})
    assert failed["status"] == "FAILED" and "shared with the expressions" in failed["details"]["description"]
    # the budget stops the request after a handful of expressions, not after 2,000 (before: ~22 s of CPU);
    # the count is the deterministic bound, the CPU spent evaluating (not storing the 12 MB request) the
    # user-visible one
    assert 1 <= len(evaluated) < 100, f"{len(evaluated)} of 2,000 heavy expressions were evaluated"
    assert evaluating[0] < 2.0, f"evaluating took {evaluating[0]:.3f}s of CPU"
    big = {"expression": "int('f'*262144,16) % int('f'*131072,16)"}
    failed = run_action(providers["expression_eval"], big)
    assert failed["status"] == "FAILED" and "larger than 65536 bits" in failed["details"]["description"]


# -- compute ---------------------------------------------------------------------------------------


@pytest.fixture
def functions(db: Database, clock: FakeClock) -> dict[str, str]:
    targets = {
        "add": "operator:add",
        "join": "os.path:join",
        "sleep": "time:sleep",
        "alloc": "builtins:bytearray",
        "fail": "json:loads",
    }
    ids = {}
    for name, target in targets.items():
        ids[name] = str(uuid.uuid4())
        db.transact(register_function, function_id=uuid.UUID(ids[name]), target=target, now=clock.now())
    return ids


def test_compute_runs_registered_functions(providers: dict[str, Provider], functions: dict[str, str]):
    single = run_action(
        providers["compute"], {"endpoint": str(uuid.uuid4()), "function": functions["add"], "args": [2, 3]}
    )
    assert single["status"] == "SUCCEEDED", single["details"]
    assert single["details"]["result"] == [5]
    assert single["details"]["results"][0]["output"] == 5
    tasks = run_action(
        providers["compute"],
        {
            "tasks": [
                {"endpoint": "e", "function": functions["add"], "args": [1], "kwargs": {}},
                {"endpoint": "e", "function": functions["join"], "args": ["a", "b"]},
            ]
        },
    )
    # operator.add needs two arguments: the first task fails and says why
    assert tasks["status"] == "FAILED" and "TypeError" in tasks["details"]["description"]
    ok = run_action(
        providers["compute"],
        {"tasks": [{"endpoint": "e", "function": functions["join"], "payload": {}, "args": ["a", "b"]}]},
    )
    assert ok["details"]["result"] == ["a/b"]


def test_compute_unknown_function_and_exceptions(providers: dict[str, Provider], functions: dict[str, str]):
    unknown = run_action(providers["compute"], {"endpoint": "e", "function": str(uuid.uuid4())})
    assert unknown["status"] == "FAILED" and unknown["details"]["code"] == "FunctionNotFound"
    assert "not registered" in unknown["details"]["description"]
    raised = run_action(providers["compute"], {"endpoint": "e", "function": functions["fail"], "args": ["{"]})
    assert raised["status"] == "FAILED" and "JSONDecodeError" in raised["details"]["description"]


def test_compute_timeout_and_memory_limit(db: Database, clock: FakeClock, functions: dict[str, str]):
    provider = ComputeProvider(
        db, clock=clock, runner=ActionRunner(db, clock=clock, inline=True), timeout_seconds=1, memory_mb=256
    )
    slow = run_action(provider, {"endpoint": "e", "function": functions["sleep"], "args": [30]})
    assert slow["status"] == "FAILED" and "timed out" in slow["details"]["description"]
    big = run_action(provider, {"endpoint": "e", "function": functions["alloc"], "args": [2 * 1024**3]})
    assert big["status"] == "FAILED" and "MemoryError" in big["details"]["description"]


def test_functions_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path))
    cli = CliRunner()
    function_id = str(uuid.uuid4())
    assert cli.invoke(app, ["functions", "register", "--id", function_id, "operator:add"]).exit_code == 0
    assert json.loads(cli.invoke(app, ["functions", "list", "--json"]).stdout) == [
        {"id": function_id, "target": "operator:add"}
    ]
    bad = cli.invoke(app, ["functions", "register", "--id", function_id, "not a target"])
    assert bad.exit_code == 1 and "module:callable" in bad.output
    assert cli.invoke(app, ["functions", "remove", function_id]).exit_code == 0
    assert cli.invoke(app, ["functions", "remove", function_id]).exit_code == 1


# -- notification ----------------------------------------------------------------------------------


def test_notification_writes_an_eml_to_the_outbox(
    providers: dict[str, Provider], tmp_path: Path, db: Database
):
    doc = run_action(
        providers["notification"],
        {
            "notification_method": "any",
            "sender": "flows@example.org",
            "destination": ["a@example.org", "b@example.org"],
            "subject": "Run done",
            "body_template": "Hello $name, your $thing ($missing)",
            "body_variables": {"name": "Ada", "thing": 42},
            "body_mimetype": "text/html",
            "send_credentials": [
                {
                    "credential_type": "smtp",
                    "credential_method": "email",
                    "credential_value": {
                        "hostname": "smtp.example.org",
                        "username": "u",
                        "password": "hunter2",
                    },
                }
            ],
        },
    )
    assert doc["status"] == "SUCCEEDED" and doc["details"]["delivery"] == "outbox"
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "a@example.org, b@example.org" and message["Subject"] == "Run done"
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "Hello Ada, your 42 ($missing)"
    # the flow's SMTP password is never stored
    import sqlalchemy as sa

    from openflows.store.schema import provider_actions

    with db.read() as conn:
        stored = conn.execute(sa.select(provider_actions.c.body)).scalar_one()
    assert "hunter2" not in json.dumps(stored)


def test_flow_smtp_credentials_are_ignored_unless_allowed(db: Database, clock: FakeClock, tmp_path: Path):
    body = {
        "destination": "a@example.org",
        "body_template": "x",
        "send_credentials": [
            {"credential_type": "smtp", "credential_value": {"hostname": "evil.example:25"}}
        ],
    }
    default = NotificationProvider(db, clock=clock, settings=ProviderSettings(outbox_dir=tmp_path / "o"))
    assert default._smtp_target(body) is None
    admin = ProviderSettings(outbox_dir=tmp_path / "o", smtp_host="mail.internal")
    assert (
        NotificationProvider(db, clock=clock, settings=admin)._smtp_target(body).hostname == "mail.internal"
    )
    allowed = ProviderSettings(
        outbox_dir=tmp_path / "o", smtp_host="mail.internal", smtp_allow_flow_credentials=True
    )
    target = NotificationProvider(db, clock=clock, settings=allowed)._smtp_target(body)
    assert target == SmtpTarget("evil.example", 25, None, None)


def test_notification_rejects_header_injection(providers: dict[str, Provider]):
    with pytest.raises(BadActionRequest):
        providers["notification"].run(
            {
                "request_id": "r",
                "body": {"destination": "a@example.org", "subject": "x\nBcc: b@c", "body_template": ""},
            },
            ALICE,
        )


# -- search ----------------------------------------------------------------------------------------


def test_search_ingest_and_delete(
    providers: dict[str, Provider], db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ingest, delete = providers["search_ingest"], providers["search_delete"]
    for subject, entry_id, content in [
        ("s1", None, {"title": "alpha"}),
        ("s1", "v2", {"title": "beta"}),
        ("s2", None, {"title": "gamma"}),
        ("s1", None, {"title": "alpha2"}),  # replaces the first
    ]:
        body = {"search_index": "idx", "subject": subject, "visible_to": ["public"], "content": content}
        if entry_id:
            body["id"] = entry_id
        assert run_action(ingest, body)["status"] == "SUCCEEDED"
    entries = list_entries(db, "idx")
    assert [(e["subject"], e["id"], e["content"]["title"]) for e in entries] == [
        ("s1", None, "alpha2"),
        ("s1", "v2", "beta"),
        ("s2", None, "gamma"),
    ]
    gone = run_action(delete, {"search_index": "idx", "delete_by": "entry", "subject": "s1", "id": "v2"})
    assert gone["details"]["num_entries_deleted"] == 1
    by_query = run_action(delete, {"search_index": "idx", "delete_by": "query", "q": "GAMMA"})
    assert by_query["details"]["num_entries_deleted"] == 1
    # `openflows search show` prints what is left
    monkeypatch.setenv("OPENFLOWS_DATABASE_URL", db.url)
    shown = CliRunner().invoke(app, ["search", "show", "idx"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["entries"] == [
        {"subject": "s1", "id": None, "visible_to": ["public"], "content": {"title": "alpha2"}}
    ]
    by_subject = run_action(delete, {"search_index": "idx", "delete_by": "subject", "subject": "s1"})
    assert by_subject["details"]["num_entries_deleted"] == 1 and list_entries(db, "idx") == []


# -- results that cannot be stored (issue 12) ------------------------------------------------------


@pytest.mark.parametrize(("expression", "what"), [("'a\\x00b'", "U+0000"), ("'%c' % 55296", "U+D800")])
def test_expression_eval_result_that_cannot_be_stored_fails_the_action(
    providers: dict[str, Provider], expression: str, what: str
):
    """Before: a 500 (or a "busy" 503 on PostgreSQL) and nothing stored; now a FAILED action saying why."""
    failed = run_action(providers["expression_eval"], {"expression": expression, "result_path": "out.v"})
    assert failed["status"] == "FAILED", failed
    assert failed["details"]["code"] == "UnstorableResult"
    assert "$.out.v" in failed["details"]["description"] and what in failed["details"]["description"]
    again = providers["expression_eval"].status(failed["action_id"], ALICE)  # it was stored
    assert again["details"] == failed["details"]


@pytest.mark.parametrize("code_point", [0, 0xDC80])
def test_compute_result_that_cannot_be_stored_fails_the_action(
    providers: dict[str, Provider], db: Database, clock: FakeClock, code_point: int
):
    function_id = uuid.uuid4()
    db.transact(register_function, function_id=function_id, target="builtins:chr", now=clock.now())
    body = {"endpoint": "e", "function": str(function_id), "args": [code_point]}
    done = run_action(providers["compute"], body)
    assert done["status"] == "FAILED", done
    assert done["details"]["code"] == "UnstorableResult", done["details"]
    assert providers["compute"].status(done["action_id"], ALICE)["status"] == "FAILED"
