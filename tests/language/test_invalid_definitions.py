"""A table of invalid flow definitions: each yields a problem at an exact location with a useful message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openflows.language.model import Limits
from openflows.language.validation import validate_definition

URL = "https://actions.example.org/echo"


def flow(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def one(state: dict[str, Any]) -> dict[str, Any]:
    """A flow whose start state `S` is `state`, followed by a terminal Pass `Done`."""
    return flow({"S": state, "Done": {"Type": "Pass", "End": True}})


def action(**fields: Any) -> dict[str, Any]:
    state = {"Type": "Action", "ActionUrl": URL, "Parameters": {}, "ResultPath": "$.r", "Next": "Done"}
    state.update(fields)
    return {k: v for k, v in state.items() if v is not DROP}


def choice_with(rule: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return one({"Type": "Choice", "Choices": [rule], "Default": "Done", **fields})


def rule(**fields: Any) -> dict[str, Any]:
    return {"Variable": "$.x", "Next": "Done", **fields}


def catcher(**fields: Any) -> dict[str, Any]:
    c = {"ErrorEquals": ["States.ALL"], "Next": "Done", "ResultPath": "$.error", **fields}
    return {k: v for k, v in c.items() if v is not DROP}


def retrier(**fields: Any) -> dict[str, Any]:
    return {"ErrorEquals": ["ActionUnableToRun"], **fields}


DROP = object()
S = ("States", "S")

# (id, definition, expected loc, message fragment[, limits])
CASES: list[tuple[Any, ...]] = [
    # -- the top level
    ("not-an-object", ["StartAt"], (), "must be an object"),
    ("missing-startat", {"States": {"S": {"Type": "Pass", "End": True}}}, ("StartAt",), "needs 'StartAt'"),
    (
        "startat-not-string",
        {"StartAt": 3, "States": {"S": {"Type": "Pass", "End": True}}},
        ("StartAt",),
        "state name",
    ),
    (
        "startat-unknown",
        flow({"Start": {"Type": "Pass", "End": True}}, "Strat"),
        ("StartAt",),
        "did you mean 'Start'",
    ),
    ("missing-states", {"StartAt": "S"}, ("States",), "needs 'States'"),
    ("states-not-object", {"StartAt": "S", "States": []}, ("States",), "must be an object"),
    ("states-empty", {"StartAt": "S", "States": {}}, ("States",), "at least one state"),
    ("unknown-top-level", flow({"S": {"Type": "Pass", "End": True}}, Coment="x"), ("Coment",), "'Comment'?"),
    (
        "top-level-version",
        flow({"S": {"Type": "Pass", "End": True}}, Version="1.0"),
        ("Version",),
        "only 'StartAt'",
    ),
    (
        "comment-not-string",
        flow({"S": {"Type": "Pass", "End": True}}, Comment=5),
        ("Comment",),
        "must be a string",
    ),
    (
        "too-many-states",
        flow({n: {"Type": "Pass", "Next": "B"} for n in "AB"} | {"C": {"Type": "Pass", "End": True}}),
        ("States",),
        "the limit is 2",
        Limits(max_states=2),
    ),
    (
        "too-big",
        one({"Type": "Pass", "Result": "x" * 200, "Next": "Done"}),
        (),
        "the limit is 100 bytes",
        Limits(max_definition_bytes=100),
    ),
    (
        "state-name-too-long",
        flow({"Long": {"Type": "Pass", "End": True}}),
        ("States", "Long"),
        "4 characters long; the limit is 3",
        Limits(max_state_name_length=3),
    ),
    ("state-name-empty", flow({"": {"Type": "Pass", "End": True}}), ("States", ""), "must not be empty"),
    ("state-not-object", flow({"S": "Pass"}), S, "must be an object"),
    # -- Type
    ("missing-type", flow({"S": {"End": True}}), (*S, "Type"), "needs a 'Type'"),
    ("type-typo", flow({"S": {"Type": "Actoin", "End": True}}), (*S, "Type"), "did you mean 'Action'"),
    (
        "await-web-input-without-id",
        flow({"S": {"Type": "AwaitWebInput", "Parameters": {"Id": "x"}, "End": True}}),
        (*S, "Parameters"),
        "need 'WebInputId'",
    ),
    (
        "await-web-input-wait-time-zero",
        flow(
            {
                "S": {
                    "Type": "AwaitWebInput",
                    "Parameters": {"WebInputId.$": "$.id"},
                    "WaitTime": 0,
                    "End": True,
                }
            }
        ),
        (*S, "WaitTime"),
        "must be at least 1",
    ),
    (
        "create-web-input-retry",
        flow({"S": {"Type": "CreateWebInput", "Parameters": {}, "Retry": [], "End": True}}),
        (*S, "Retry"),
        "not allowed on a state of type 'CreateWebInput'",
    ),
    ("type-task", flow({"S": {"Type": "Task", "End": True}}), (*S, "Type"), "type 'Action'"),
    (
        "parallel-no-branches",
        flow({"S": {"Type": "Parallel", "End": True}}),
        (*S, "Branches"),
        "needs 'Branches'",
    ),
    ("type-not-string", flow({"S": {"Type": ["Pass"], "End": True}}), (*S, "Type"), "must be a string"),
    # -- Next / End and the graph
    (
        "action-no-next-no-end",
        one(action(Next=DROP)),
        S,
        "A state of type 'Action' must be defined as either terminal (\"End\": true) or transitional "
        '("Next": "NextStateId")',
    ),
    ("action-next-and-end", one(action(End=True)), S, "not both"),
    ("pass-no-next", flow({"S": {"Type": "Pass"}}), S, "state of type 'Pass' must be defined"),
    ("end-false", one({"Type": "Pass", "End": False, "Next": "Done"}), (*S, "End"), "must be true"),
    ("end-false-no-next", flow({"S": {"Type": "Pass", "End": False}}), S, "either terminal"),
    ("end-not-bool", flow({"S": {"Type": "Pass", "End": "yes"}}), (*S, "End"), "boolean true"),
    (
        "next-missing-state",
        one(action(Next="Dnoe")),
        (*S, "Next"),
        "'Dnoe' that does not exist; did you mean 'Done'",
    ),
    ("next-not-string", one(action(Next=["Done"])), (*S, "Next"), "must be a state name"),
    (
        "unreachable",
        flow({"S": {"Type": "Pass", "End": True}, "Orphan": {"Type": "Pass", "End": True}}),
        ("States", "Orphan"),
        "State 'Orphan' is not reachable from StartAt",
    ),
    ("next-on-fail", flow({"S": {"Type": "Fail", "Next": "S"}}), (*S, "Next"), "a Fail state is terminal"),
    ("end-on-choice", choice_with(rule(StringEquals="a"), End=True), (*S, "End"), "Choices[].Next"),
    (
        "end-on-succeed",
        flow({"S": {"Type": "Succeed", "End": True}}),
        (*S, "End"),
        "a Succeed state is terminal",
    ),
    # -- fields per type
    (
        "output-path",
        one(action(OutputPath="$.x")),
        (*S, "OutputPath"),
        "Globus flows do not support OutputPath",
    ),
    (
        "result-selector",
        one(action(ResultSelector={})),
        (*S, "ResultSelector"),
        "do not support ResultSelector",
    ),
    ("results-path-typo", one(action(ResultsPath="$.x")), (*S, "ResultsPath"), "did you mean 'ResultPath'?"),
    (
        "misplaced-catch-on-pass",
        one({"Type": "Pass", "Next": "Done", "Catch": []}),
        (*S, "Catch"),
        "not allowed on a state of type 'Pass' (it is allowed on: Action, CreateWebInput, AwaitWebInput, "
        "Parallel, Map)",
    ),
    ("state-comment-not-string", one(action(Comment=1)), (*S, "Comment"), "must be a string"),
    # -- Action
    ("action-no-url", one(action(ActionUrl=DROP)), (*S, "ActionUrl"), "needs 'ActionUrl'"),
    ("action-url-ftp", one(action(ActionUrl="ftp://x.org/a")), (*S, "ActionUrl"), "https://"),
    ("action-url-no-host", one(action(ActionUrl="https://")), (*S, "ActionUrl"), "https://"),
    ("action-url-not-string", one(action(ActionUrl=5)), (*S, "ActionUrl"), "must be a URL string"),
    ("action-url-and-handler", one(action(Handler="h")), (*S, "Handler"), "not both"),
    (
        "handler-bad-type",
        one(action(ActionUrl=DROP, Handler={"Type": "Lambda"})),
        (*S, "Handler", "Type"),
        "must be 'ActionProvider'",
    ),
    (
        "handler-registered-api-bad-id",
        one(action(ActionUrl=DROP, Handler={"Type": "RegisteredAPI", "Id": "x"})),
        (*S, "Handler", "Id"),
        "must be a registered API's UUID",
    ),
    (
        "handler-hosted-handle",
        one(action(ActionUrl=DROP, Handler="urn:globus:flows:handle:globus:search.query")),
        (*S, "Handler"),
        "hosted by Globus",
    ),
    (
        "handler-registered-api-with-scope",
        one(
            action(
                ActionUrl=DROP,
                ActionScope="s",
                Handler={"Type": "RegisteredAPI", "Id": "9dc867a4-1c6d-46d9-911f-71c2ac67e38c"},
            )
        ),
        (*S, "ActionScope"),
        "scopes come from its target",
    ),
    ("handler-string-not-url", one(action(ActionUrl=DROP, Handler="echo")), (*S, "Handler"), "https://"),
    (
        "handler-no-url",
        one(action(ActionUrl=DROP, Handler={"Type": "ActionProvider"})),
        (*S, "Handler", "Url"),
        "needs 'Url'",
    ),
    ("wait-time-zero", one(action(WaitTime=0)), (*S, "WaitTime"), "at least 1"),
    ("wait-time-string", one(action(WaitTime="300")), (*S, "WaitTime"), "must be an integer"),
    ("wait-time-bool", one(action(WaitTime=True)), (*S, "WaitTime"), "must be an integer, not a boolean"),
    (
        "exception-on-failure-string",
        one(action(ExceptionOnActionFailure="no")),
        (*S, "ExceptionOnActionFailure"),
        "must be a boolean",
    ),
    ("run-as-number", one(action(RunAs=5)), (*S, "RunAs"), "must be a string"),
    ("run-as-empty", one(action(RunAs="")), (*S, "RunAs"), "must not be empty"),
    ("action-scope-number", one(action(ActionScope=5)), (*S, "ActionScope"), "must be a string"),
    ("parameters-and-input-path", one(action(InputPath="$.x")), (*S, "InputPath"), "mutually exclusive"),
    ("parameters-not-object", one(action(Parameters=[1])), (*S, "Parameters"), "must be an object"),
    # -- Parameters
    (
        "param-path-syntax",
        one(action(Parameters={"x.$": "a.b"})),
        (*S, "Parameters", "x.$"),
        "not a valid path",
    ),
    (
        "param-path-nested",
        one(action(Parameters={"a": [{"b.$": 5}]})),
        (*S, "Parameters", "a", 0, "b.$"),
        "must be a path string",
    ),
    (
        "param-expression-syntax",
        one(action(Parameters={"x.=": "1 +"})),
        (*S, "Parameters", "x.="),
        "not a valid expression",
    ),
    (
        "param-expression-null",
        one(action(Parameters={"x.=": None})),
        (*S, "Parameters", "x.="),
        "expression string",
    ),
    (
        "private-parameters-not-list",
        one(action(Parameters={"__Private_Parameters": "x"})),
        (*S, "Parameters", "__Private_Parameters"),
        "array of parameter names",
    ),
    (
        "param-duplicate-output",
        one(action(Parameters={"a": 1, "a.$": "$.a"})),
        (*S, "Parameters", "a.$"),
        "both set",
    ),
    # -- paths
    (
        "input-path-syntax",
        one({"Type": "Pass", "InputPath": "x", "Next": "Done"}),
        (*S, "InputPath"),
        "valid path",
    ),
    ("result-path-wildcard", one(action(ResultPath="$.a[*]")), (*S, "ResultPath"), "reference path"),
    ("result-path-context", one(action(ResultPath="$._context.x")), (*S, "ResultPath"), "read-only"),
    ("result-path-number", one(action(ResultPath=5)), (*S, "ResultPath"), "path string"),
    # -- ExpressionEval
    (
        "expression-eval-no-result-path",
        one({"Type": "ExpressionEval", "Parameters": {}, "Next": "Done"}),
        (*S, "ResultPath"),
        "needs 'ResultPath'",
    ),
    (
        "expression-eval-no-parameters",
        one({"Type": "ExpressionEval", "ResultPath": "$.x", "Next": "Done"}),
        (*S, "Parameters"),
        "needs 'Parameters'",
    ),
    (
        "expression-eval-input-path",
        one(
            {
                "Type": "ExpressionEval",
                "Parameters": {},
                "ResultPath": "$.x",
                "InputPath": "$",
                "Next": "Done",
            }
        ),
        (*S, "InputPath"),
        "not allowed on a state of type 'ExpressionEval'",
    ),
    (
        "expression-eval-catch",
        one({"Type": "ExpressionEval", "Parameters": {}, "ResultPath": "$.x", "Catch": [], "Next": "Done"}),
        (*S, "Catch"),
        "(it is allowed on: Action, CreateWebInput, AwaitWebInput, Parallel, Map)",
    ),
    # -- Wait
    ("wait-nothing", one({"Type": "Wait", "Next": "Done"}), S, "exactly one of 'Seconds'"),
    (
        "wait-two",
        one({"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "Next": "Done"}),
        S,
        "has 'Seconds' and 'Timestamp'",
    ),
    ("wait-negative", one({"Type": "Wait", "Seconds": -1, "Next": "Done"}), (*S, "Seconds"), "at least 0"),
    (
        "wait-float",
        one({"Type": "Wait", "Seconds": 1.5, "Next": "Done"}),
        (*S, "Seconds"),
        "must be an integer",
    ),
    (
        "wait-too-long",
        one({"Type": "Wait", "Seconds": 10**9, "Next": "Done"}),
        (*S, "Seconds"),
        "at most 31536000",
    ),
    (
        "wait-bad-timestamp",
        one({"Type": "Wait", "Timestamp": "2026-13-01T00:00:00Z", "Next": "Done"}),
        (*S, "Timestamp"),
        "RFC 3339",
    ),
    (
        "wait-timestamp-no-zone",
        one({"Type": "Wait", "Timestamp": "2026-01-01T00:00:00", "Next": "Done"}),
        (*S, "Timestamp"),
        "RFC 3339",
    ),
    (
        "wait-seconds-path",
        one({"Type": "Wait", "SecondsPath": "x", "Next": "Done"}),
        (*S, "SecondsPath"),
        "path",
    ),
    # -- Fail
    (
        "fail-error-both",
        flow({"S": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}),
        (*S, "ErrorPath"),
        "exclusive",
    ),
    (
        "fail-cause-both",
        flow({"S": {"Type": "Fail", "Cause": "C", "CausePath": "$.c"}}),
        (*S, "CausePath"),
        "exclusive",
    ),
    ("fail-error-number", flow({"S": {"Type": "Fail", "Error": 5}}), (*S, "Error"), "must be a string"),
    # -- Catch
    ("catch-not-array", one(action(Catch={})), (*S, "Catch"), "array of catchers"),
    ("catch-empty", one(action(Catch=[])), (*S, "Catch"), "at least one catcher"),
    ("catcher-not-object", one(action(Catch=["States.ALL"])), (*S, "Catch", 0), "must be an object"),
    (
        "catcher-no-error-equals",
        one(action(Catch=[catcher(ErrorEquals=DROP)])),
        (*S, "Catch", 0, "ErrorEquals"),
        "needs 'ErrorEquals'",
    ),
    (
        "catcher-error-equals-empty",
        one(action(Catch=[catcher(ErrorEquals=[])])),
        (*S, "Catch", 0, "ErrorEquals"),
        "at least one",
    ),
    (
        "catcher-error-equals-duplicate",
        one(action(Catch=[catcher(ErrorEquals=["A", "A"])])),
        (*S, "Catch", 0, "ErrorEquals"),
        "'A' more than once",
    ),
    (
        "catcher-all-not-alone",
        one(action(Catch=[catcher(ErrorEquals=["States.ALL", "X"])])),
        (*S, "Catch", 0, "ErrorEquals"),
        "must be the only name",
    ),
    (
        "catcher-all-not-last",
        one(action(Catch=[catcher(ErrorEquals=["States.All"]), catcher(ErrorEquals=["X"])])),
        (*S, "Catch", 0),
        "must be the last one",
    ),
    ("catcher-no-next", one(action(Catch=[catcher(Next=DROP)])), (*S, "Catch", 0, "Next"), "needs 'Next'"),
    (
        "catcher-next-unknown",
        one(action(Catch=[catcher(Next="Nope")])),
        (*S, "Catch", 0, "Next"),
        "does not exist",
    ),
    (
        "catcher-result-path-wildcard",
        one(action(Catch=[catcher(ResultPath="$.e[*]")])),
        (*S, "Catch", 0, "ResultPath"),
        "reference path",
    ),
    (
        "catcher-unknown-field",
        one(action(Catch=[catcher(ResultsPath="$.e")])),
        (*S, "Catch", 0, "ResultsPath"),
        "did you mean 'ResultPath'",
    ),
    # -- Retry (extension)
    ("retry-not-array", one(action(Retry={})), (*S, "Retry"), "array of retriers"),
    (
        "retry-interval-zero",
        one(action(Retry=[retrier(IntervalSeconds=0)])),
        (*S, "Retry", 0, "IntervalSeconds"),
        "at least 1",
    ),
    (
        "retry-attempts-negative",
        one(action(Retry=[retrier(MaxAttempts=-1)])),
        (*S, "Retry", 0, "MaxAttempts"),
        "at least 0",
    ),
    (
        "retry-backoff-small",
        one(action(Retry=[retrier(BackoffRate=0.5)])),
        (*S, "Retry", 0, "BackoffRate"),
        "at least 1.0",
    ),
    (
        "retry-backoff-bool",
        one(action(Retry=[retrier(BackoffRate=True)])),
        (*S, "Retry", 0, "BackoffRate"),
        "a number",
    ),
    (
        "retry-max-delay-zero",
        one(action(Retry=[retrier(MaxDelaySeconds=0)])),
        (*S, "Retry", 0, "MaxDelaySeconds"),
        "at least 1",
    ),
    (
        "retry-jitter",
        one(action(Retry=[retrier(JitterStrategy="SOME")])),
        (*S, "Retry", 0, "JitterStrategy"),
        "'FULL' or 'NONE'",
    ),
    (
        "retry-no-error-equals",
        one(action(Retry=[{"MaxAttempts": 2}])),
        (*S, "Retry", 0, "ErrorEquals"),
        "needs 'ErrorEquals'",
    ),
    (
        "retry-all-not-last",
        one(action(Retry=[retrier(ErrorEquals=["States.ALL"]), retrier()])),
        (*S, "Retry", 0),
        "must be the last one in 'Retry'",
    ),
    (
        "retry-on-pass",
        one({"Type": "Pass", "Retry": [], "Next": "Done"}),
        (*S, "Retry"),
        "allowed on: Action, ExpressionEval",
    ),
    # -- Choice
    ("choice-no-choices", one({"Type": "Choice", "Default": "Done"}), (*S, "Choices"), "needs 'Choices'"),
    (
        "choice-empty",
        one({"Type": "Choice", "Choices": [], "Default": "Done"}),
        (*S, "Choices"),
        "at least one rule",
    ),
    (
        "choice-not-array",
        one({"Type": "Choice", "Choices": {}, "Default": "Done"}),
        (*S, "Choices"),
        "array of rules",
    ),
    ("choice-rule-not-object", choice_with("x"), (*S, "Choices", 0), "must be an object"),  # type: ignore[arg-type]
    (
        "choice-rule-next-not-string",
        choice_with(rule(Next=3, StringEquals="a")),
        (*S, "Choices", 0, "Next"),
        "state name",
    ),
    (
        "choice-rule-next-missing",
        choice_with({"Variable": "$.x", "IsNull": True}),
        (*S, "Choices", 0, "Next"),
        "needs 'Next'",
    ),
    (
        "choice-rule-next-unknown",
        choice_with(rule(Next="Nope", IsNull=True)),
        (*S, "Choices", 0, "Next"),
        "does not exist",
    ),
    (
        "choice-default-unknown",
        choice_with(rule(IsNull=True), Default="Nope"),
        (*S, "Default"),
        "does not exist",
    ),
    (
        "choice-nested-next",
        choice_with({"And": [{"Variable": "$.x", "IsNull": True, "Next": "Done"}], "Next": "Done"}),
        (*S, "Choices", 0, "And", 0, "Next"),
        "only allowed on the top-level rules",
    ),
    (
        "choice-and-empty",
        choice_with({"And": [], "Next": "Done"}),
        (*S, "Choices", 0, "And"),
        "at least one choice rule",
    ),
    (
        "choice-or-not-array",
        choice_with({"Or": {}, "Next": "Done"}),
        (*S, "Choices", 0, "Or"),
        "array of choice rules",
    ),
    (
        "choice-not-takes-object",
        choice_with({"Not": [], "Next": "Done"}),
        (*S, "Choices", 0, "Not"),
        "one choice rule",
    ),
    (
        "choice-no-variable",
        choice_with({"StringEquals": "a", "Next": "Done"}),
        (*S, "Choices", 0, "Variable"),
        "needs 'Variable'",
    ),
    ("choice-no-condition", choice_with({"Next": "Done"}), (*S, "Choices", 0), "needs a condition"),
    (
        "choice-two-operators",
        choice_with(rule(StringEquals="a", IsNull=True)),
        (*S, "Choices", 0),
        "exactly one operator",
    ),
    ("choice-no-operator", choice_with(rule()), (*S, "Choices", 0), "exactly one operator"),
    (
        "choice-operator-typo",
        choice_with(rule(StringEqual="a")),
        (*S, "Choices", 0, "StringEqual"),
        "did you mean 'StringEquals'",
    ),
    (
        "choice-string-matches-path",
        choice_with(rule(StringMatchesPath="$.y")),
        (*S, "Choices", 0, "StringMatchesPath"),
        "no Path variant",
    ),
    (
        "choice-numeric-string",
        choice_with(rule(NumericEquals="5")),
        (*S, "Choices", 0, "NumericEquals"),
        "must be a number",
    ),
    (
        "choice-numeric-bool",
        choice_with(rule(NumericEquals=True)),
        (*S, "Choices", 0, "NumericEquals"),
        "must be a number",
    ),
    (
        "choice-boolean-string",
        choice_with(rule(BooleanEquals="true")),
        (*S, "Choices", 0, "BooleanEquals"),
        "must be a boolean",
    ),
    (
        "choice-timestamp",
        choice_with(rule(TimestampEquals="yesterday")),
        (*S, "Choices", 0, "TimestampEquals"),
        "RFC 3339",
    ),
    (
        "choice-is-present-string",
        choice_with(rule(IsPresent="yes")),
        (*S, "Choices", 0, "IsPresent"),
        "must be a boolean",
    ),
    (
        "choice-string-number",
        choice_with(rule(StringEquals=5)),
        (*S, "Choices", 0, "StringEquals"),
        "must be a string",
    ),
    (
        "choice-variable-syntax",
        choice_with(rule(Variable="x", IsNull=True)),
        (*S, "Choices", 0, "Variable"),
        "valid path",
    ),
    (
        "choice-operator-path-syntax",
        choice_with(rule(NumericLessThanPath="nope")),
        (*S, "Choices", 0, "NumericLessThanPath"),
        "valid path",
    ),
    (
        "choice-mixed",
        choice_with({"And": [], "Variable": "$.x", "Next": "Done"}),
        (*S, "Choices", 0),
        "mixes 'And'",
    ),
    (
        "choice-deep-nested-bad",
        choice_with({"Not": {"Or": [{"Variable": "$.x", "StringEquals": 1}]}, "Next": "Done"}),
        (*S, "Choices", 0, "Not", "Or", 0, "StringEquals"),
        "must be a string",
    ),
]


def _params(cases: list[tuple[Any, ...]]) -> list[Any]:
    return [pytest.param(*case[1:4], case[4] if len(case) > 4 else Limits(), id=case[0]) for case in cases]


def test_table_is_large_and_ids_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) >= 60
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("definition", "loc", "fragment", "limits"), _params(CASES))
def test_invalid_definition(definition: Any, loc: tuple[Any, ...], fragment: str, limits: Limits) -> None:
    before = copy.deepcopy(definition)
    problems = validate_definition(definition, limits=limits)
    assert definition == before, "validation must not mutate the definition"
    at_loc = [p for p in problems if p.loc == loc]
    assert at_loc, f"no problem at {loc}; got {problems}"
    assert any(fragment in p.msg for p in at_loc), f"no message with {fragment!r} at {loc}: {at_loc}"
    assert all(p.type in {"missing", "extra_forbidden", "type_error", "value_error"} for p in problems)
