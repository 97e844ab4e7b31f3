"""`openflows.client`: the globus-sdk classes, subclassed, configured from the profile `serve` wrote."""

from __future__ import annotations

import globus_sdk
import pytest
from clikit import HELLO

from openflows import client as of_client
from openflows.profiles import load_profiles, profiles_path
from sdk.support import TERMINAL_STATUSES, Server


def test_exports_are_globus_sdk_classes() -> None:
    assert issubclass(of_client.FlowsClient, globus_sdk.FlowsClient)
    assert issubclass(of_client.SpecificFlowClient, globus_sdk.SpecificFlowClient)
    assert of_client.FlowsAPIError is globus_sdk.FlowsAPIError
    assert of_client.IterableFlowsResponse is globus_sdk.IterableFlowsResponse


def test_scopes_name_the_enforced_scopes() -> None:
    from openflows.auth import scopes

    assert str(of_client.FlowsClient.scopes.all) == scopes.ALL
    assert str(of_client.FlowsClient.scopes.run_manage) == scopes.RUN_MANAGE
    flow_id = "11111111-2222-3333-4444-555555555555"
    specific = of_client.SpecificFlowClient(flow_id, base_url="http://127.0.0.1:9/", token="x")
    assert str(specific.scopes.user) == scopes.flow_scope(flow_id)
    assert specific.base_url == "http://127.0.0.1:9/"


def test_profile_written_by_serve_is_used(cli_env: dict[str, str], live_server: Server) -> None:
    doc = load_profiles(profiles_path())
    assert doc["active"] == "local"
    assert doc["profiles"]["local"]["url"] == live_server.base_url
    assert (profiles_path().stat().st_mode & 0o777) == 0o600
    flows = of_client.FlowsClient()
    assert flows.base_url == live_server.base_url
    assert flows.list_flows()["flows"] is not None


def test_sdk_documentation_examples(cli_env: dict[str, str]) -> None:
    """The globus-sdk docs' examples: create, list with orderby, run, logs, update, cancel, delete."""
    flows = of_client.FlowsClient()
    flow = flows.create_flow(title="docs example", definition=HELLO, input_schema={})
    flow_id = flow["id"]
    titles = [f["title"] for f in flows.list_flows(orderby=["title ASC", "updated_at DESC"])]
    assert "docs example" in titles
    assert titles == sorted(titles)
    specific = of_client.SpecificFlowClient(flow_id)
    run = specific.run_flow({"x": 1}, label="from the docs", tags=["docs"])
    run_id = run["run_id"]
    for _ in range(200):
        if flows.get_run(run_id)["status"] in TERMINAL_STATUSES:
            break
        import time

        time.sleep(0.05)
    assert flows.get_run(run_id)["status"] == "SUCCEEDED"
    codes = [entry["code"] for entry in flows.get_run_logs(run_id)["entries"]]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded"
    assert flows.update_run(run_id, label="renamed")["label"] == "renamed"
    assert flows.cancel_run(run_id)["status"] == "SUCCEEDED"  # cancelling an ended run changes nothing
    assert flows.update_flow(flow_id, title="docs example v2")["title"] == "docs example v2"
    flows.delete_run(run_id)
    assert flows.delete_flow(flow_id)["DELETED"] is True
    with pytest.raises(of_client.FlowsAPIError) as caught:
        flows.get_flow(flow_id)
    assert caught.value.http_status == 404


def test_explicit_arguments_win(cli_env: dict[str, str], live_server: Server) -> None:
    flows = of_client.FlowsClient(base_url=live_server.base_url, token="of_not_a_token")
    with pytest.raises(of_client.FlowsAPIError) as caught:
        flows.list_flows()
    assert caught.value.http_status == 401
    assert caught.value.code == "AUTHENTICATION_ERROR"


def test_token_of_the_profile_never_goes_to_another_url(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openflows.profiles import resolve_connection

    monkeypatch.setenv("OPENFLOWS_URL", "http://elsewhere.invalid/")
    connection = resolve_connection()
    assert connection is not None
    assert connection.url == "http://elsewhere.invalid/"
    assert connection.token is None


def test_no_profile_says_what_to_do_instead_of_calling_the_hosted_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Issue 18: `FlowsClient()` with no profile pointed at the hosted Globus service and failed with a raw
    connection error."""
    for key in ("OPENFLOWS_URL", "OPENFLOWS_TOKEN", "OPENFLOWS_PROFILE", "GLOBUS_SDK_SERVICE_URL_FLOWS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "empty-home"))
    for make in (
        lambda: of_client.FlowsClient(),
        lambda: of_client.FlowsClient(authorizer=globus_sdk.NullAuthorizer()),
        lambda: of_client.SpecificFlowClient("11111111-2222-3333-4444-555555555555"),
    ):
        with pytest.raises(of_client.NoServerConfigured) as caught:
            make()
        message = str(caught.value)
        assert message.startswith("no OpenFlows server configured: start `openflows serve`")
        assert "base_url=/OPENFLOWS_URL and token=/OPENFLOWS_TOKEN" in message
    monkeypatch.setenv("OPENFLOWS_URL", "http://127.0.0.1:9/")
    assert of_client.FlowsClient().base_url == "http://127.0.0.1:9/"
