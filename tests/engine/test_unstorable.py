"""Issue 12, item 3: a run that produces text the databases cannot store (a NUL character or an unpaired
surrogate) fails at once, at the state that produced it, with `States.Runtime` naming the state and the
location; it is never left ACTIVE (before: ~9 minutes of retries, then FAILED with `state_name: null`).

Each test drives one `run_until_idle` (no clock advance): "at once" means within the step that produced the
value. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from enginekit import BASE_URL, get_logs, get_run

from openflows.engine.executor import Executor
from openflows.providers.base import (
    BadActionRequest,
    Caller,
    Provider,
    ProviderRegistry,
)
from openflows.providers.expression_eval import ExpressionEvalProvider
from openflows.providers.hello_world import HelloWorldProvider
from openflows.shared.clock import FakeClock
from openflows.store import errors as store_errors
from openflows.store.db import Database
from openflows.store.schema import provider_actions

NUL = "\x00"
SURROGATE = "\ud800"
#: `.=` expressions whose value holds each character (the definition itself holds only storable text)
PRODUCERS = {"nul": ("'a\\x00b'", "a NUL character (U+0000)"), "surrogate": ("'%c' % 55296", "U+D800")}


class ScriptedProvider(Provider):
    """A provider whose next answer the test sets: a status document to return, or an error to raise."""

    name = "scripted"

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.error: str | None = None
        self.exception: Exception | None = None
        self.calls: list[str] = []

    def introspect(self) -> dict[str, Any]:
        return {"types": ["Action"], "synchronous": False}

    def _reply(self, op: str) -> dict[str, Any]:
        self.calls.append(op)
        if self.exception is not None:
            raise self.exception
        if self.error is not None:
            raise BadActionRequest(self.error)
        return dict(self.answer)

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        return self._reply("run"), True

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self._reply("status")

    def cancel(self, action_id: str, caller: Caller) -> dict[str, Any]:
        self.calls.append("cancel")
        return {**self.answer, "status": "FAILED"}

    def release(self, action_id: str, caller: Caller) -> dict[str, Any]:
        self.calls.append("release")
        return dict(self.answer)

    def resume(self, action_id: str, caller: Caller) -> dict[str, Any]:
        return self._reply("resume")

    def log(self, action_id: str, caller: Caller, *, limit: int = 10, reverse_order: bool = False) -> dict:
        return {"entries": []}


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def registry(hello: HelloWorldProvider, scripted: ScriptedProvider, db: Database, clock: FakeClock):
    evaluator = ExpressionEvalProvider(db, clock=clock)
    return ProviderRegistry([hello, scripted, evaluator], base_urls=[BASE_URL])


def _holds_unstorable(value: Any) -> bool:
    """Whether any character of `value` (as JSON text, characters kept raw) is NUL or a surrogate."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return any(char == NUL or "\ud800" <= char <= "\udfff" for char in text)


def _assert_failed_at(db: Database, run_id: uuid.UUID, state: str, *words: str) -> dict[str, Any]:
    """The run is FAILED at `state` with States.Runtime whose cause holds `words`; the log ends in FlowFailed
    naming the state; nothing stored holds the character itself."""
    run = get_run(db, run_id)
    assert run["status"] == "FAILED", run["details"]
    details = run["details"]["details"]
    assert details["error"] == "States.Runtime", details
    assert details["state_name"] == state, details
    for word in words:
        assert word in details["cause"], details["cause"]
    assert "cannot be stored" in details["cause"]
    last = get_logs(db, run_id)[-1]
    assert last["code"] == "FlowFailed"
    assert last["details"]["state_name"] == state
    assert not _holds_unstorable([run, get_logs(db, run_id)])
    return details


@pytest.mark.parametrize("kind", sorted(PRODUCERS))
def test_expression_eval_yielding_unstorable_text_fails_at_once(
    db: Database, executor: Executor, start_run: Callable, kind: str
) -> None:
    expression, what = PRODUCERS[kind]
    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": "fine", "ResultPath": "$.before", "Next": "Eval"},
            "Eval": {
                "Type": "ExpressionEval",
                "Parameters": {"v.=": expression},
                "ResultPath": "$.out",
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {"x": 1})
    executor.run_until_idle()  # one step: no retry loop, no clock advance
    details = _assert_failed_at(db, run_id, "Eval", "$.out.v", what, "The output of state Eval")
    assert "After" not in [entry["details"].get("state_name") for entry in get_logs(db, run_id)]
    assert details["cause"].startswith("The output of state Eval cannot be stored")


@pytest.mark.parametrize("kind", sorted(PRODUCERS))
def test_pass_parameters_yielding_unstorable_text_fails_at_once(
    db: Database, executor: Executor, start_run: Callable, kind: str
) -> None:
    expression, what = PRODUCERS[kind]
    definition = {
        "StartAt": "Shape",
        "States": {"Shape": {"Type": "Pass", "Parameters": {"deep": [{"v.=": expression}]}, "End": True}},
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    _assert_failed_at(db, run_id, "Shape", "$.deep[0].v", what)


def test_an_unstorable_object_key_is_named(db: Database, executor: Executor, start_run: Callable) -> None:
    definition = {
        "StartAt": "Keys",
        "States": {
            "Keys": {
                "Type": "ExpressionEval",
                "Parameters": {"m.=": "{'k\\x00': 1}"},
                "ResultPath": "$.m",
                "End": True,
            }
        },
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    details = _assert_failed_at(db, run_id, "Keys", "object key", "$.m.m['k\\u0000']")
    assert "\x00" not in details["cause"]


@pytest.mark.parametrize("kind", sorted(PRODUCERS))
def test_action_parameters_yielding_unstorable_text_fail_before_the_call(
    db: Database, executor: Executor, start_run: Callable, scripted: ScriptedProvider, kind: str
) -> None:
    expression, what = PRODUCERS[kind]
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/scripted",
                "Parameters": {"echo_string.=": expression},
                "End": True,
            }
        },
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    _assert_failed_at(db, run_id, "Call", "The action body (Parameters) of state Call", "$.echo_string", what)
    assert scripted.calls == []  # the provider never saw the body


def test_catch_handles_the_runtime_error(
    db: Database, executor: Executor, start_run: Callable, scripted: ScriptedProvider
) -> None:
    """It is an ordinary States.Runtime: Catch handles it, and the caught cause is stored."""
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/scripted",
                "Parameters": {"v.=": "'a\\x00b'"},
                "Catch": [{"ErrorEquals": ["States.Runtime"], "ResultPath": "$.error", "Next": "Recover"}],
                "End": True,
            },
            "Recover": {"Type": "Pass", "End": True},
        },
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    caught = run["details"]["output"]["error"]
    assert caught["Error"] == "States.Runtime"
    assert "$.v" in caught["Cause"] and "NUL" in caught["Cause"]
    assert scripted.calls == []


@pytest.mark.parametrize("char", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_an_action_status_holding_unstorable_text_fails_the_state(
    db: Database, executor: Executor, start_run: Callable, scripted: ScriptedProvider, char: str
) -> None:
    """A provider (here in-process; an HTTP provider's JSON can spell both) answers with such a string."""
    scripted.answer = {"action_id": "a1", "status": "SUCCEEDED", "details": {"files": ["ok", f"x{char}y"]}}
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Action", "ActionUrl": f"{BASE_URL}/actions/scripted", "End": True},
        },
    }
    run_id = start_run(definition, {"x": "y"})
    executor.run_until_idle()
    _assert_failed_at(db, run_id, "Call", "The action status returned to state Call", "$.details.files[1]")
    assert "release" in scripted.calls  # the ended action is still released


def test_a_provider_error_quoting_a_nul_is_escaped(
    db: Database, executor: Executor, start_run: Callable, scripted: ScriptedProvider
) -> None:
    """An error message is shown, never refused: its NUL is written as the text `\\u0000`."""
    scripted.error = f"bad value {NUL!s} here {SURROGATE}"
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Action", "ActionUrl": f"{BASE_URL}/actions/scripted", "End": True}},
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED"
    details = run["details"]["details"]
    assert (details["error"], details["state_name"]) == ("ActionUnableToRun", "Call")
    assert details["cause"]["description"] == "bad value \\u0000 here \\ud800"


def test_the_expression_eval_provider_fails_an_action_whose_result_cannot_be_stored(
    db: Database, executor: Executor, start_run: Callable
) -> None:
    definition = {
        "StartAt": "Evaluate",
        "States": {
            "Evaluate": {
                "Type": "Action",
                "ActionUrl": f"{BASE_URL}/actions/expression_eval",
                "Parameters": {"expression": "'a\\x00b'"},
                "ResultPath": "$.r",
                "End": True,
            }
        },
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED", run["details"]
    details = run["details"]["details"]
    assert (details["error"], details["state_name"]) == ("ActionFailedException", "Evaluate")
    assert details["cause"]["details"]["code"] == "UnstorableResult"
    assert "$.result" in details["cause"]["details"]["description"]
    with db.read() as conn:
        (row,) = conn.execute(sa.select(provider_actions.c.status, provider_actions.c.details)).all()
    assert row.status == "FAILED" and row.details["code"] == "UnstorableResult"


def test_storable_lookalikes_run_unchanged(db: Database, executor: Executor, start_run: Callable) -> None:
    """Not over-refused: a surrogate *pair* (one character) and the six characters `\\u0000` are text."""
    definition = {
        "StartAt": "Eval",
        "States": {
            "Eval": {
                "Type": "ExpressionEval",
                "Parameters": {"emoji.=": "'\\U0001F600'", "text.=": "'\\\\u0000'"},
                "ResultPath": "$.out",
                "End": True,
            }
        },
    }
    run_id = start_run(definition, {"in": "\U0001f600"})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"] == {"in": "\U0001f600", "out": {"emoji": "\U0001f600", "text": "\\u0000"}}


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        store_errors.InvalidValue("invalid value: unsupported Unicode escape sequence"),
    ],
    ids=["unicode", "invalid-value"],
)
def test_the_engine_does_not_retry_what_the_database_can_never_store(
    db: Database,
    executor: Executor,
    start_run: Callable,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    """The backstop for a value that slips past `step`: the run fails at the first attempt, at its state
    (before: ten attempts with back-off, ~9 minutes, then `state_name: null`)."""
    import openflows.engine.executor as executor_module

    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 10, "Next": "P"}, "P": {"Type": "Pass", "End": True}},
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    assert get_run(db, run_id)["status"] == "ACTIVE"

    def failing_step(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(executor_module, "step", failing_step)
    clock.advance(10)
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED", run["details"]
    details = run["details"]["details"]
    assert (details["error"], details["state_name"]) == ("States.Runtime", "W")
    assert "\ud800" not in details["cause"]


def test_a_builtin_provider_whose_store_refuses_a_value_is_not_retried(
    db: Database, executor: Executor, start_run: Callable, scripted: ScriptedProvider
) -> None:
    """A built-in provider's unexpected errors are retried (its database may be busy); `InvalidValue` cannot
    be cured by a retry: the state fails at once with ActionUnableToRun."""
    scripted.exception = store_errors.InvalidValue("invalid value: PostgreSQL text fields cannot contain NUL")
    definition = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Action", "ActionUrl": f"{BASE_URL}/actions/scripted", "End": True}},
    }
    run_id = start_run(definition, {})
    executor.run_until_idle()
    run = get_run(db, run_id)
    assert run["status"] == "FAILED", run["details"]
    details = run["details"]["details"]
    assert (details["error"], details["state_name"]) == ("ActionUnableToRun", "Call")
    assert "cannot contain NUL" in details["cause"]["description"]
    assert scripted.calls == ["run"]
