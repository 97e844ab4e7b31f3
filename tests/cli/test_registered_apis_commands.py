"""`openflows registered-apis create|list|show|update|delete` against a live server (issue 15): create from an
OpenAPI document plus one operation, as `gra build` + `gra publish` do; hostile documents refused quickly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from regapikit import huge_document, ref_chain_document
from thingserver import openapi_document


def test_create_list_show_update_delete(run_line: Any, tmp_path: Path) -> None:
    spec = tmp_path / "things.json"
    spec.write_text(json.dumps(openapi_document("https://things.example.org")))
    created = run_line(
        ["openflows", "registered-apis", "create", str(spec), "GET /things/{thing_id}", "--name", "get-thing",
         "--description", "Get a thing", "--format", "json"]
    ).json()  # fmt: skip
    api_id = created["id"]
    assert created["target"]["destination"] == {
        "method": "get",
        "url": "https://things.example.org/things/{thing_id}",
    }
    assert created["state_input_schema"]["properties"]["path"]["required"] == ["thing_id"]
    listed = run_line("openflows registered-apis list --format json").json()
    assert api_id in [item["id"] for item in listed["registered_apis"]]
    table = run_line("openflows registered-apis list").stdout
    assert api_id in table and "get-thing" in table
    shown = run_line(f"openflows registered-apis show {api_id}").stdout
    assert "GET" in shown and "https://things.example.org/things/{thing_id}" in shown
    renamed = run_line(f"openflows registered-apis update {api_id} --name renamed --format json").json()
    assert renamed["name"] == "renamed"
    moved = run_line(
        ["openflows", "registered-apis", "update", api_id, "--openapi", str(spec),
         "--operation", "POST /things", "--format", "json"]
    ).json()  # fmt: skip
    assert moved["target"]["destination"]["method"] == "post"
    deleted = run_line(f"openflows registered-apis delete {api_id} --format json").json()
    assert deleted["status"] == "DELETE_PENDING"
    assert api_id not in run_line("openflows registered-apis list").stdout


def test_create_refuses_unknown_operations_and_hostile_documents(run_line: Any, tmp_path: Path) -> None:
    spec = tmp_path / "things.json"
    spec.write_text(json.dumps(openapi_document("https://things.example.org")))
    missing = run_line(
        ["openflows", "registered-apis", "create", str(spec), "GET /nope", "--name", "x"], exit_code=1
    )
    assert "no path '/nope'" in missing.stderr
    chain = tmp_path / "chain.json"
    chain.write_text(json.dumps(ref_chain_document(400)))
    started = time.perf_counter()
    refused = run_line(
        ["openflows", "registered-apis", "create", str(chain), "GET /x", "--name", "x"], exit_code=1
    )
    assert "chain of more than 16 references" in refused.stderr
    assert time.perf_counter() - started < 3.0
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(huge_document(3000)))
    started = time.perf_counter()
    refused = run_line(
        ["openflows", "registered-apis", "create", str(huge), "POST /p1", "--name", "x"], exit_code=1
    )
    elapsed = time.perf_counter() - started
    assert "too large" in refused.stderr
    assert elapsed < 3.0, elapsed
