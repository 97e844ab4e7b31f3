"""`openflows flows ...` against a live server: output, JSON documents and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import HELLO


def test_create_show_update_delete(run_line, hello_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = run_line(
        f"openflows flows create {hello_file} --title 'CLI flow' --subtitle sub --keyword a --keyword b "
        "--starter all_authenticated_users --format json"
    ).json()
    flow_id = created["id"]
    assert created["title"] == "CLI flow"
    assert created["subtitle"] == "sub"
    assert created["keywords"] == ["a", "b"]
    assert created["flow_starters"] == ["all_authenticated_users"]
    assert created["definition"] == HELLO

    shown = run_line(f"openflows flows show {flow_id}")
    assert "Flow ID:" in shown.stdout and flow_id in shown.stdout
    assert "CLI flow" in shown.stdout
    assert "ago)" in shown.stdout  # local, relative times
    assert (
        run_line(f"openflows flows show {flow_id} -F json").json()
        == run_line(f"openflows flows show {flow_id} --format json").json()
    )

    new_definition = tmp_path / "v2.yaml"
    new_definition.write_text("StartAt: Only\nStates:\n  Only:\n    Type: Pass\n    End: true\n")
    updated = run_line(
        f"openflows flows update {flow_id} --title 'CLI flow v2' --definition {new_definition} "
        "--starter '' -F json"
    ).json()
    assert updated["title"] == "CLI flow v2"
    assert updated["definition"] == {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}
    assert updated["flow_starters"] == []
    assert updated["keywords"] == ["a", "b"]  # not given: unchanged

    deleted = run_line(f"openflows flows delete {flow_id}")
    assert f"Deleted flow {flow_id}." in deleted.stdout
    missing = run_line(f"openflows flows show {flow_id}", exit_code=1)
    assert missing.stderr.startswith("Error: NOT_FOUND (HTTP 404): ")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_debug_prints_the_error_document(run_line) -> None:  # type: ignore[no-untyped-def]
    result = run_line("openflows flows show 00000000-0000-0000-0000-000000000000 --debug", exit_code=1)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: NOT_FOUND (HTTP 404)")
    assert lines[1].startswith("GET ")
    document = json.loads("\n".join(lines[2:]))
    assert document["error"]["code"] == "NOT_FOUND"


def test_create_rejects_an_invalid_definition_with_the_code(run_line, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}}))
    result = run_line(f"openflows flows create {bad}", exit_code=1)
    assert result.stderr.startswith("Error: UNPROCESSABLE_ENTITY (HTTP 422): ")


def test_list_table_json_filters_and_limit(run_line) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for title in ("zeta listing", "alpha listing", "mid listing"):
        doc = run_line(
            ["openflows", "flows", "create", json.dumps(HELLO), "--title", title, "-F", "json"]
        ).json()
        ids.append(doc["id"])
    listed = run_line("openflows flows list --filter-fulltext listing --orderby title:ASC -F json").json()
    assert [f["title"] for f in listed["flows"]] == ["alpha listing", "mid listing", "zeta listing"]
    assert set(listed) >= {"flows", "has_next_page", "limit"}
    limited = run_line(
        "openflows flows list --filter-fulltext listing --orderby title:DESC --limit 2 -F json"
    )
    assert [f["title"] for f in limited.json()["flows"]] == ["zeta listing", "mid listing"]
    table = run_line("openflows flows list --filter-fulltext listing --filter-role flow_owner")
    header = table.stdout.splitlines()[0]
    assert "Flow ID" in header and "Title" in header and "Updated" in header
    assert all(flow_id in table.stdout for flow_id in ids)
    by_title = run_line("openflows flows list --filter-title alpha --filter-subtitle '' -F json").json()
    assert [f["title"] for f in by_title["flows"]] == ["alpha listing"]
    scope = listed["flows"][0]["globus_auth_scope"]
    by_scope = run_line(f"openflows flows list --filter-scope-string {scope} -F json").json()
    assert [f["title"] for f in by_scope["flows"]] == ["alpha listing"]
    empty = run_line("openflows flows list --filter-fulltext no-such-flow-anywhere")
    assert empty.stdout.strip() == "(none)"
    for flow_id in ids:
        run_line(f"openflows flows delete {flow_id}")


def test_bad_format_is_a_usage_error(run_line) -> None:  # type: ignore[no-untyped-def]
    result = run_line("openflows flows list --format xml", exit_code=2)
    assert "table or json" in result.stderr


def test_no_server_configured(run_line, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "empty-home"))
    result = run_line("openflows flows list", exit_code=1)
    assert result.stderr.startswith("Error: no OpenFlows server configured: start `openflows serve`")
    assert "--url/OPENFLOWS_URL and --token/OPENFLOWS_TOKEN" in result.stderr


def test_unreachable_server(run_line) -> None:  # type: ignore[no-untyped-def]
    result = run_line("openflows flows list --url http://127.0.0.1:9/ --token x", exit_code=1)
    assert result.stderr.startswith("Error: cannot reach the server")


def test_flag_and_env_override_the_profile(run_line, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = run_line(f"openflows flows list --url {live_server.base_url} --token of_wrong", exit_code=1)
    assert "AUTHENTICATION_ERROR (HTTP 401)" in result.stderr
    monkeypatch.setenv("OPENFLOWS_TOKEN", "of_wrong_too")
    result = run_line("openflows flows list", exit_code=1)
    assert "AUTHENTICATION_ERROR" in result.stderr
