"""`openflows flows validate`: local, compiler-style problems with file, line, state and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openflows.cli.main import app

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "flows"


def validate(*args: str, exit_code: int) -> tuple[str, str]:
    result = CliRunner().invoke(app, ["flows", "validate", *args])
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    return result.stdout, result.stderr


@pytest.mark.parametrize("name", ["gac-hello-world.json", "gac-hello-plus-transfer.json"])
def test_corpus_flows_are_valid(name: str) -> None:
    path = CORPUS / name
    stdout, _ = validate(str(path), exit_code=0)
    assert stdout.strip() == f"{path}: valid."


def test_problems_are_printed_like_a_compiler(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps(
            {
                "StartAt": "First",
                "States": {
                    "First": {"Type": "Pass", "Next": "Nowhere"},
                    "Second": {"Type": "Wait", "Secondz": 3, "End": True},
                },
            },
            indent=2,
        )
    )
    stdout, stderr = validate(str(path), exit_code=1)
    lines = stdout.strip().splitlines()
    assert any(
        line.startswith(f"{path}:6:7: state First: field Next: ") and "Nowhere" in line for line in lines
    ), lines
    assert any(line.startswith(f"{path}:10:7: state Second: field Secondz: ") for line in lines), lines
    assert stderr.strip().endswith("problems found.")


def test_yaml_and_input_schema(tmp_path: Path) -> None:
    definition = tmp_path / "flow.yaml"
    definition.write_text("StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"x": {"type": "no-such-type"}}}))
    stdout, _ = validate(str(definition), "--input-schema", str(schema), exit_code=1)
    assert stdout.startswith(f"{schema}:")
    ok, _ = validate(str(definition), exit_code=0)
    assert ok.strip() == f"{definition}: valid."


def test_json_format(tmp_path: Path) -> None:
    stdout, _ = validate('{"StartAt": "A", "States": {}}', "--format", "json", exit_code=1)
    document = json.loads(stdout)
    assert document["valid"] is False
    assert document["problems"][0]["file"] == "<inline>"
    assert {"loc", "msg", "type"} <= set(document["problems"][0])


def test_strict_rejects_openflows_extensions(tmp_path: Path) -> None:
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    validate(definition, exit_code=0)
    stdout, _ = validate(definition, "--strict", exit_code=1)
    assert "state A" in stdout


def test_unreadable_inputs(tmp_path: Path) -> None:
    _, stderr = validate(str(tmp_path / "missing.json"), exit_code=1)
    assert "no such file" in stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"StartAt": ')
    _, stderr = validate(str(bad), exit_code=1)
    assert f"{bad}:1:" in stderr and "invalid JSON" in stderr


def test_a_near_miss_of_a_hosted_provider_is_a_located_warning(tmp_path: Path) -> None:
    path = tmp_path / "helo.yaml"
    path.write_text(
        "StartAt: Hello\nStates:\n  Hello:\n    Type: Action\n"
        "    ActionUrl: https://actions.globus.org/helo_world\n    End: true\n"
    )
    stdout, _ = validate(str(path), exit_code=0)
    assert stdout.splitlines() == [
        f"{path}:5:5: state Hello: field ActionUrl: warning: 'https://actions.globus.org/helo_world' "
        "is not a "
        "Globus-hosted action provider; did you mean 'https://actions.globus.org/hello_world'?",
        f"{path}: valid (1 warning).",
    ]
    document = json.loads(validate(str(path), "--format", "json", exit_code=0)[0])
    assert document["valid"] is True
    assert [w["loc"] for w in document["warnings"]] == [["States", "Hello", "ActionUrl"]]


NESTED = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Iterator": {
                "StartAt": "X",
                "States": {"X": {"Type": "Pass", "Next": "Done"}, "Done": {"Type": "Succeed"}},
            },
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "End": True,
        }
    },
}


def test_portable_lists_extensions_inside_sub_machines_without_failing(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(NESTED, indent=2))
    stdout, _ = validate(str(path), "--portable", exit_code=0)
    lines = stdout.strip().splitlines()
    assert lines[-1] == f"{path}: valid; uses 3 OpenFlows extensions."
    assert [line.split(": ", 1)[1] for line in lines[:-1]] == [
        "state Fan: field Type: not portable: State type 'Map' is an OpenFlows extension; a hosted Globus "
        "flow cannot use it",
        "state Fan: field Retry: not portable: 'Retry' is an OpenFlows extension; a hosted Globus flow "
        "cannot use it",
        "state Fan > Done: field Type: not portable: State type 'Succeed' is an OpenFlows extension; on "
        'Globus, end with "End": true instead',
    ]
    stdout, _ = validate(str(path), "--portable", "-F", "json", exit_code=0)
    document = json.loads(stdout)
    assert document["valid"] is True
    assert [entry["feature"] for entry in document["portability"]] == ["Map", "Retry", "Succeed"]
    stdout, _ = validate(str(CORPUS / "gac-hello-world.json"), "--portable", exit_code=0)
    assert stdout.strip().endswith("valid; portable to Globus.")
    validate(str(path), "--strict", exit_code=1)


def test_problems_inside_a_sub_machine_name_the_enclosing_states(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(NESTED))
    broken["States"]["Fan"]["Iterator"]["States"]["X"]["Next"] = "Dnoe"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken, indent=2))
    stdout, _ = validate(str(path), exit_code=1)
    assert stdout.splitlines()[0].split(": ", 1)[1] == (
        "state Fan > X: field Next: 'Next' names a state 'Dnoe' that does not exist; did you mean 'Done'?"
    )
