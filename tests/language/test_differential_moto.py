"""Differential tests: our `step()` against moto's Step Functions interpreter on the shared ASL subset.

Hypothesis generates definitions (Pass with Result/Parameters/InputPath/ResultPath, Choice with every
operator family and And/Or/Not, Wait with Seconds 0, Fail, Succeed) and inputs; each case runs to its end
in both interpreters and the final status, the output (success) or the error and cause (failure) must agree.

The generator stays inside what both should agree on; the known moto faults it avoids or normalises are
listed in docs/language.md ("Differential testing against moto"):
- moto's Choice with no match and no Default fails with `States.Runtime`; we fail with
  `States.NoChoiceMatched` (ASL) -> normalised;
- moto treats a comparison on a missing Variable as false; we raise `States.Runtime` (ASL) -> Choice
  variables always exist, except for `IsPresent`;
- moto's `StringMatches` is fnmatch (`?` and `[...]` are special) -> patterns use only letters and `*`;
- moto parses timestamps only as `%Y-%m-%dT%H:%M:%SZ` -> timestamps are whole seconds in UTC with `Z`;
- moto's `...Path` operators do not type-check the second operand (`NumericEqualsPath` finds `true == 1`,
  `StringLessThanPath` against a number raises) -> both operands of a `...Path` rule have the same type;
- moto reads `$.a[0].b` as `[value]` -> paths have no indexes;
- error causes of `States.Runtime` are worded differently -> only the error name is compared for them;
- moto rejects Fail error names starting with `States.` at run time -> not generated;
- moto leaves out an empty Cause -> `""` and a missing cause compare equal.

moto runs each execution in a thread; we poll until it leaves RUNNING (bounded by MOTO_TIMEOUT). The
generated cases call moto's backend in-process (the object boto3's requests end up in), several times faster
than going through botocore; `test_boto3_route_agrees` runs fixed cases through the real boto3 client as well.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .conftest import drive  # noqa: E402

#: cases per CI run (each runs once in moto and once in step())
EXAMPLES = 300
#: inputs run against each generated definition (one moto state machine each)
INPUTS_PER_DEFINITION = 3
#: longest wait for one moto execution, in seconds
MOTO_TIMEOUT = 10.0
ROLE = "arn:aws:iam::123456789012:role/openflows-differential"

STRINGS = ["", "apple", "banana", "band", "cherry", "a*b", "Banana"]
NUMBERS = [-2, 0, 1, 2.5, 10]
TIMESTAMPS = ["2024-01-01T00:00:00Z", "2024-06-01T12:30:00Z", "2025-01-01T00:00:00Z"]

#: the variables of the generated input, by type (every one is present in every input)
VARS = {
    "String": ["$.s", "$.s2", "$.o.x"],
    "Numeric": ["$.n", "$.m", "$.o.y"],
    "Boolean": ["$.b", "$.c"],
    "Timestamp": ["$.t", "$.u"],
}
ALL_VARS = [v for vs in VARS.values() for v in vs] + ["$.z", "$.o"]
INPUT_KEYS = ["s", "s2", "n", "m", "b", "c", "t", "u", "z", "o"]

run_input = st.fixed_dictionaries(
    {
        "s": st.sampled_from(STRINGS),
        "s2": st.sampled_from(STRINGS),
        "n": st.sampled_from(NUMBERS),
        "m": st.sampled_from(NUMBERS),
        "b": st.booleans(),
        "c": st.booleans(),
        "t": st.sampled_from(TIMESTAMPS),
        "u": st.sampled_from(TIMESTAMPS),
        "z": st.none(),
        "o": st.fixed_dictionaries({"x": st.sampled_from(STRINGS), "y": st.sampled_from(NUMBERS)}),
    }
)

LITERALS = {
    "String": st.sampled_from(STRINGS),
    "Numeric": st.sampled_from(NUMBERS),
    "Boolean": st.booleans(),
    "Timestamp": st.sampled_from(TIMESTAMPS),
}
COMPARISONS = ["Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"]


@st.composite
def comparison(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["literal", "path", "matches", "is", "present"]))
    family = draw(st.sampled_from(list(VARS)))
    cmp = "Equals" if family == "Boolean" else draw(st.sampled_from(COMPARISONS))
    if kind == "literal":  # any variable: a type mismatch is false
        return {"Variable": draw(st.sampled_from(ALL_VARS)), family + cmp: draw(LITERALS[family])}
    if kind == "path":  # same-typed operands (moto does not type-check the second one)
        return {
            "Variable": draw(st.sampled_from(VARS[family])),
            family + cmp + "Path": draw(st.sampled_from(VARS[family])),
        }
    if kind == "matches":
        pattern = draw(st.text(alphabet="abnrce*", max_size=6))
        return {"Variable": draw(st.sampled_from(ALL_VARS)), "StringMatches": pattern}
    if kind == "is":
        op = draw(st.sampled_from(["IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"]))
        return {"Variable": draw(st.sampled_from(ALL_VARS)), op: draw(st.booleans())}
    variable = draw(st.sampled_from([*ALL_VARS, "$.missing", "$.o.missing"]))
    return {"Variable": variable, "IsPresent": draw(st.booleans())}


rule = st.recursive(
    comparison(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda rs: {"And": rs}),
        st.lists(children, min_size=1, max_size=3).map(lambda rs: {"Or": rs}),
        children.map(lambda r: {"Not": r}),
    ),
    max_leaves=4,
)

constant = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS), st.sampled_from(STRINGS)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["p", "q", "w"]), children, max_size=3),
    ),
    max_leaves=5,
)


@st.composite
def pass_state(draw: st.DrawFn, i: int, last: bool) -> dict[str, Any]:
    kinds = ["bare", "result", "parameters", "input_path", "input_path_parameters", "rebuild"]
    if last:
        kinds.append("replace")  # a Result with no ResultPath replaces the whole state: only at the end
    kind = draw(st.sampled_from(kinds))
    result_path = draw(st.sampled_from([f"$.r{i}", f"$.o.r{i}"]))
    if kind == "bare":
        return {"Type": "Pass"}
    if kind == "result":
        return {"Type": "Pass", "Result": draw(constant), "ResultPath": result_path}
    if kind == "replace":
        return {"Type": "Pass", "Result": draw(constant)}
    if kind == "parameters":
        refs = draw(st.lists(st.sampled_from(ALL_VARS), min_size=1, max_size=3))
        params: dict[str, Any] = {f"v{j}.$": ref for j, ref in enumerate(refs)}
        params["k"] = draw(constant)
        params["nested"] = {"w.$": draw(st.sampled_from(ALL_VARS)), "const": draw(constant)}
        return {"Type": "Pass", "Parameters": params, "ResultPath": result_path}
    if kind == "input_path":
        return {"Type": "Pass", "InputPath": draw(st.sampled_from(ALL_VARS)), "ResultPath": result_path}
    if kind == "input_path_parameters":  # Parameters apply to the InputPath value
        return {
            "Type": "Pass",
            "InputPath": "$.o",
            "Parameters": {"xx.$": "$.x", "yy.$": "$.y"},
            "ResultPath": result_path,
        }
    # rebuild the input keys at "$" (drops the r<i> keys written so far)
    return {"Type": "Pass", "Parameters": {f"{k}.$": f"$.{k}" for k in INPUT_KEYS}}


@st.composite
def definition(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=5))
    names = [f"S{i}" for i in range(n)]
    states: dict[str, Any] = {}
    extras = {
        "Done": {"Type": "Succeed"},
        "Bad": {"Type": "Fail", "Error": "Bad", "Cause": "the Bad state"},
    }
    used_extras: set[str] = set()
    for i, name in enumerate(names):
        last = i == n - 1
        if last:
            kind = draw(st.sampled_from(["pass", "wait", "succeed", "fail"]))
        else:
            kind = draw(st.sampled_from(["pass", "pass", "choice", "choice", "wait"]))
        if kind == "pass":
            state = draw(pass_state(i, last))
        elif kind == "wait":
            state = {"Type": "Wait", "Seconds": 0}
        elif kind == "succeed":
            states[name] = {"Type": "Succeed"}
            continue
        elif kind == "fail":
            error, cause = draw(st.sampled_from([("E1", "first"), ("Custom.Error", "a cause"), ("E2", "")]))
            states[name] = {"Type": "Fail", "Error": error, "Cause": cause}
            continue
        else:
            targets = names[i + 1 :] + ["Done", "Bad"]
            rules = [
                {**draw(rule), "Next": draw(st.sampled_from(targets))}
                for _ in range(draw(st.integers(min_value=1, max_value=3)))
            ]
            state = {"Type": "Choice", "Choices": rules}
            if draw(st.booleans()):
                state["Default"] = names[i + 1]
            else:
                rules[0]["Next"] = names[i + 1]  # keep the next state reachable
            used_extras.update(r["Next"] for r in rules if r["Next"] in extras)
            states[name] = state
            continue
        if last:
            state["End"] = True
        else:
            state["Next"] = names[i + 1]
        states[name] = state
    for extra in sorted(used_extras):
        states[extra] = extras[extra]
    return {"StartAt": "S0", "States": states}


# -- moto ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_backend() -> Iterator[Any]:
    """moto's Step Functions backend with its interpreter switched on (the one boto3 calls end up in)."""
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        yield stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


_names = itertools.count()


def _wait_for(describe: Any, what: str) -> dict[str, Any]:
    """Poll an execution until it leaves RUNNING (moto runs it in a thread), for at most MOTO_TIMEOUT s."""
    deadline = time.monotonic() + MOTO_TIMEOUT
    while True:
        described = describe()
        if str(getattr(described["status"], "value", described["status"])) != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"moto did not finish {what} within {MOTO_TIMEOUT} s")
        time.sleep(0.0002)  # waiting for moto's execution thread, not for simulated time


def run_in_moto(backend: Any, definition: dict[str, Any], inputs: list[Any]) -> list[dict[str, Any]]:
    """Run `definition` once per input in moto's interpreter (called in-process, without the HTTP layer)."""
    n = next(_names)
    machine = backend.create_state_machine(name=f"m{n}", definition=json.dumps(definition), roleArn=ROLE)
    executions = [
        backend.start_execution(machine.arn, f"e{n}-{j}", json.dumps(run_input))
        for j, run_input in enumerate(inputs)
    ]
    results = []
    for execution in executions:
        described = _wait_for(execution.to_describe_output, json.dumps(definition))
        results.append(
            {**described, "status": str(getattr(described["status"], "value", described["status"]))}
        )
    return results


def normalise_error(error: str | None) -> str | None:
    # moto reports a Choice without a match (and no Default) as States.Runtime (ASL: States.NoChoiceMatched)
    return "States.Runtime" if error == "States.NoChoiceMatched" else error


def assert_agree(definition: dict[str, Any], run_input: Any, theirs: dict[str, Any]) -> None:
    ours = drive(definition, run_input)
    assert ours.status == theirs["status"], (ours.outcome, theirs.get("error"), theirs.get("cause"))
    if ours.status == "SUCCEEDED":
        assert ours.output == json.loads(theirs["output"])
    else:
        assert normalise_error(ours.error) == theirs.get("error"), (ours.cause, theirs.get("cause"))
        if theirs.get("error") != "States.Runtime":
            assert (ours.cause or None) == theirs.get("cause")  # moto leaves out an empty cause


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES // INPUTS_PER_DEFINITION,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    definition=definition(),
    inputs=st.lists(run_input, min_size=INPUTS_PER_DEFINITION, max_size=INPUTS_PER_DEFINITION),
)
def test_step_agrees_with_moto(
    moto_backend: Any, definition: dict[str, Any], inputs: list[dict[str, Any]]
) -> None:
    for run_input, theirs in zip(inputs, run_in_moto(moto_backend, definition, inputs), strict=True):
        assert_agree(definition, run_input, theirs)


SMOKE_CASES = [
    (
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Pass",
                    "Parameters": {"v.$": "$.s", "k": [1]},
                    "ResultPath": "$.r",
                    "Next": "C",
                },
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "W"}],
                    "Default": "F",
                },
                "W": {"Type": "Wait", "Seconds": 0, "Next": "S"},
                "S": {"Type": "Succeed"},
                "F": {"Type": "Fail", "Error": "Small", "Cause": "n is small"},
            },
        },
        [{"s": "x", "n": 2}, {"s": "y", "n": 0}, {"n": 5}],
    ),
]


def test_boto3_route_agrees(moto_backend: Any) -> None:
    """The same comparison through the real boto3 client, as a user of moto would run it (slower per call)."""
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    for definition, inputs in SMOKE_CASES:
        n = next(_names)
        arn = client.create_state_machine(name=f"b{n}", definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        for j, run_input in enumerate(inputs):
            execution = client.start_execution(
                stateMachineArn=arn, name=f"b{n}-{j}", input=json.dumps(run_input)
            )
            theirs = _wait_for(
                lambda e=execution: client.describe_execution(executionArn=e["executionArn"]), "smoke"
            )
            assert_agree(definition, run_input, theirs)
