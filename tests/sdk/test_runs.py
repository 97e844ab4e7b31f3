"""FlowsClient run methods against a live server: list_runs (every filter), get_run, get_run_logs,
get_run_definition, cancel_run, update_run, delete_run (spec flows-api.md §3, §9; flows-language.md §8-§9)."""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid

import globus_sdk
import pytest

from .support import (
    IS_SDK3,
    ISO_UTC,
    OPEN_SCHEMA,
    Identity,
    assert_same_shape,
    expect_error,
    fixture_response_json,
    load_fixture_common,
    pass_definition,
    unique,
    wait_definition,
    wait_for_log,
    wait_for_run,
)

COMMON = load_fixture_common()
RUN_REFERENCE = {**COMMON.TWO_HOP_TRANSFER_RUN, **COMMON.RUN}


def make_flow(user: Identity, **kwargs: t.Any) -> str:
    kwargs.setdefault("title", unique("flow"))
    kwargs.setdefault("definition", pass_definition())
    kwargs.setdefault("input_schema", OPEN_SCHEMA)
    return user.flows.create_flow(**kwargs)["id"]


def start(user: Identity, flow_id: str, body: dict[str, t.Any] | None = None, **kwargs: t.Any) -> str:
    return user.specific(flow_id).run_flow(body or {}, **kwargs)["run_id"]


def run_ids(user: Identity, **kwargs: t.Any) -> set[str]:
    return {run["run_id"] for run in user.flows.paginated.list_runs(**kwargs).items()}


def ordered_run_ids(user: Identity, **kwargs: t.Any) -> list[str]:
    return [run["run_id"] for run in user.flows.paginated.list_runs(**kwargs).items()]


# ----------------------------------------------------------------------------------------------------
# get_run


def test_get_run_of_a_finished_run_matches_the_fixture_shape(alice: Identity) -> None:
    flow_id = make_flow(alice, title="finished")
    run_id = start(alice, flow_id, {"a": 1}, label="done soon")
    run = wait_for_run(alice.flows, run_id)
    assert_same_shape(run, RUN_REFERENCE, "get_run (SUCCEEDED)", optional=("search",))
    assert run["status"] == "SUCCEEDED"
    assert run["display_status"] == "SUCCEEDED"
    assert run["details"]["code"] == "FlowSucceeded"
    assert run["details"]["output"] == {"a": 1}
    assert ISO_UTC.match(run["start_time"]) and ISO_UTC.match(run["completion_time"]), run
    assert run["completion_time"] >= run["start_time"]
    assert run["label"] == "done soon"
    assert run["flow_title"] == "finished"
    assert ISO_UTC.match(run["flow_last_updated"]), run["flow_last_updated"]
    assert "user_roles" in run and "run_owner" in run["user_roles"], run.get("user_roles")


@pytest.mark.parametrize("flag", [True, False, None])
def test_get_run_include_flow_description(alice: Identity, flag: bool | None) -> None:
    flow_id = make_flow(alice, title="described", subtitle="sub", description="desc", keywords=["kw"])
    run_id = start(alice, flow_id)
    if flag is None:
        run = alice.flows.get_run(run_id).data
    else:
        run = alice.flows.get_run(run_id, include_flow_description=flag).data
    if not flag:
        assert "flow_description" not in run
        return
    description = run["flow_description"]
    assert_same_shape(description, COMMON.FLOW_DESCRIPTION, "flow_description")
    assert description["id"] == flow_id
    assert description["title"] == "described"
    assert description["subtitle"] == "sub"
    assert description["description"] == "desc"
    assert description["keywords"] == ["kw"]
    assert description["flow_owner"] == alice.urn


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1"])
def test_get_run_boolean_query_spellings(alice: Identity, value: str) -> None:
    """Spec §1.8: Python-style booleans; parse case-insensitively."""
    run_id = start(alice, make_flow(alice))
    if value == "1":
        try:
            run = alice.flows.get_run(run_id, query_params={"include_flow_description": value}).data
        except globus_sdk.FlowsAPIError as err:
            assert err.http_status == 422, err.text
            return
    else:
        run = alice.flows.get_run(run_id, query_params={"include_flow_description": value}).data
    assert "flow_description" in run


def test_get_run_unknown_is_404(alice: Identity) -> None:
    expect_error(alice.flows.get_run, str(uuid.uuid4()), status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# get_run_definition


def test_get_run_definition_is_the_definition_the_run_started_with(alice: Identity) -> None:
    first = pass_definition(1)
    flow_id = make_flow(alice, definition=first, input_schema={"type": "object", "properties": {}})
    run_id = start(alice, flow_id)
    alice.flows.update_flow(flow_id, definition=pass_definition(4), input_schema=OPEN_SCHEMA)
    doc = alice.flows.get_run_definition(run_id).data
    assert set(doc) >= {"flow_id", "definition", "input_schema"}
    assert doc["flow_id"] == flow_id
    assert doc["definition"] == first
    assert doc["input_schema"] == {"type": "object", "properties": {}}
    later = start(alice, flow_id)
    assert alice.flows.get_run_definition(later)["definition"] == pass_definition(4)


def test_get_run_definition_unknown_is_404(alice: Identity) -> None:
    expect_error(alice.flows.get_run_definition, str(uuid.uuid4()), status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# get_run_logs


def test_get_run_logs_limit_and_reverse_order(alice: Identity) -> None:
    flow_id = make_flow(alice, definition=pass_definition(3))
    run_id = start(alice, flow_id, {"in": True})
    wait_for_run(alice.flows, run_id)
    everything = alice.flows.get_run_logs(run_id, limit=100)
    entries = everything["entries"]
    assert everything["has_next_page"] is False
    assert entries[0]["code"] == "FlowStarted"
    assert entries[0]["details"]["input"] == {"in": True}
    assert entries[-1]["code"] == "FlowSucceeded"
    assert entries[-1]["details"]["output"] == {"in": True}
    for entry in entries:
        assert set(entry) >= {"time", "code", "description", "details"}, entry
        assert ISO_UTC.match(entry["time"]), entry
    assert [e["time"] for e in entries] == sorted(e["time"] for e in entries)
    codes = [e["code"] for e in entries]
    assert codes.count("PassStarted") == 3 and codes.count("PassCompleted") == 3, codes
    pass_started = [e for e in entries if e["code"] == "PassStarted"]
    assert [e["details"]["state_name"] for e in pass_started] == ["Pass0", "Pass1", "Pass2"]
    assert all(e["details"]["state_type"] == "Pass" for e in pass_started)

    default = alice.flows.get_run_logs(run_id)
    assert default["limit"] == 10
    assert default["entries"] == entries[:10]
    two = alice.flows.get_run_logs(run_id, limit=2)
    assert two["entries"] == entries[:2]
    assert two["has_next_page"] is True and two["marker"]
    backwards = alice.flows.get_run_logs(run_id, limit=100, reverse_order=True)
    assert backwards["entries"] == list(reversed(entries))
    forwards = alice.flows.get_run_logs(run_id, limit=100, reverse_order=False)
    assert forwards["entries"] == entries


def test_get_run_logs_envelope_matches_sdk_fixture(alice: Identity) -> None:
    reference = fixture_response_json("flows.get_run_logs")
    run_id = start(alice, make_flow(alice))
    wait_for_run(alice.flows, run_id)
    page = alice.flows.get_run_logs(run_id).data
    assert {"limit", "has_next_page", "entries"} <= set(page) and set(reference) - {"marker"} <= set(page)
    assert_same_shape(page["entries"][0], reference["entries"][0], "log entry")


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_get_run_logs_limit_out_of_range_is_rejected(alice: Identity, limit: int) -> None:
    run_id = start(alice, make_flow(alice))
    expect_error(alice.flows.get_run_logs, run_id, limit=limit, status=(400, 422))


def test_get_run_logs_unknown_run_is_404(alice: Identity) -> None:
    expect_error(alice.flows.get_run_logs, str(uuid.uuid4()), status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# list_runs and its filters


def test_list_runs_envelope_and_documents(loner: Identity, alice: Identity) -> None:
    empty = loner.flows.list_runs()
    assert empty["runs"] == [] and empty["has_next_page"] is False
    assert empty.data.get("marker") is None
    flow_id = make_flow(alice)
    started = {start(alice, flow_id) for _ in range(3)}
    page = alice.flows.list_runs(filter_flow_id=flow_id)
    assert {run["run_id"] for run in page} == started
    for run in page:
        assert_same_shape(run, RUN_REFERENCE, "list_runs item", optional=("search", "completion_time"))
    assert run_ids(alice) >= started


def test_list_runs_envelope_matches_sdk_fixture(alice: Identity) -> None:
    reference = fixture_response_json("flows.list_runs")
    page = alice.flows.list_runs().data
    assert set(reference) <= set(page), f"{sorted(page)} vs fixture {sorted(reference)}"


def test_list_runs_filter_flow_id(alice: Identity) -> None:
    flow_a, flow_b, flow_c = (make_flow(alice) for _ in range(3))
    runs_a = {start(alice, flow_a) for _ in range(2)}
    runs_b = {start(alice, flow_b)}
    runs_c = {start(alice, flow_c)}
    assert run_ids(alice, filter_flow_id=flow_a) == runs_a
    assert run_ids(alice, filter_flow_id=uuid.UUID(flow_b)) == runs_b
    assert run_ids(alice, filter_flow_id=[flow_a, flow_b]) == runs_a | runs_b
    assert run_ids(alice, filter_flow_id=[flow_a, flow_b, flow_c]) == runs_a | runs_b | runs_c
    assert run_ids(alice, filter_flow_id=str(uuid.uuid4())) == set()


def test_list_runs_empty_filters_mean_no_filter(alice: Identity) -> None:
    """Spec §1.5: `globus flows run list` sends filter_flow_id=&filter_roles= ; empty means no filter."""
    flow_id = make_flow(alice)
    started = {start(alice, flow_id) for _ in range(2)}
    unfiltered = run_ids(alice)
    assert unfiltered >= started
    assert run_ids(alice, filter_flow_id=(), filter_roles=()) == unfiltered
    query = {"filter_flow_id": "", "filter_roles": "", "filter_status": "", "filter_label": ""}
    assert run_ids(alice, query_params=query) == unfiltered


def test_list_runs_filter_status(alice: Identity) -> None:
    quick = make_flow(alice)
    slow = make_flow(alice, definition=wait_definition())
    failing = make_flow(alice, definition={"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}})
    flows = [quick, slow, failing]
    succeeded = start(alice, quick)
    active = start(alice, slow)
    failed = start(alice, failing)
    wait_for_run(alice.flows, succeeded)
    wait_for_run(alice.flows, failed)

    def with_status(status: str) -> set[str]:
        return run_ids(alice, filter_flow_id=flows, query_params={"filter_status": status})

    assert with_status("SUCCEEDED") == {succeeded}
    assert with_status("ACTIVE") == {active}
    assert with_status("FAILED") == {failed}
    assert with_status("SUCCEEDED,FAILED") == {succeeded, failed}
    assert with_status("INACTIVE") == set()
    alice.flows.cancel_run(active)
    wait_for_run(alice.flows, active)
    assert with_status("FAILED") == {failed, active}


def test_list_runs_filter_label(alice: Identity) -> None:
    flow_id = make_flow(alice)
    token = uuid.uuid4().hex[:8]
    labelled = start(alice, flow_id, label=f"batch {token}")
    other = start(alice, flow_id, label="something else")
    assert run_ids(alice, query_params={"filter_label": f"batch {token}"}) == {labelled}
    assert run_ids(alice, filter_flow_id=flow_id, query_params={"filter_label": "something else"}) == {other}
    assert run_ids(alice, query_params={"filter_label": uuid.uuid4().hex}) == set()


def test_list_runs_filter_flow_title(alice: Identity) -> None:
    token = uuid.uuid4().hex[:8]
    titled = make_flow(alice, title=f"Title {token}")
    plain = make_flow(alice, title="plain")
    wanted = start(alice, titled)
    start(alice, plain)
    assert run_ids(alice, query_params={"filter_flow_title": f"Title {token}"}) == {wanted}


def test_list_runs_filter_start_and_completion_time(alice: Identity) -> None:
    """Spec §9: "DT1,DT2", half-open, either side optional."""
    flow_id = make_flow(alice)
    first = start(alice, flow_id)
    first_doc = wait_for_run(alice.flows, first)
    second = start(alice, flow_id)
    second_doc = wait_for_run(alice.flows, second)
    split = second_doc["start_time"]

    def between(name: str, value: str) -> set[str]:
        return run_ids(alice, filter_flow_id=flow_id, query_params={name: value})

    assert between("filter_start_time", f"{split},") == {second}
    assert between("filter_start_time", f",{split}") == {first}
    assert between("filter_start_time", f"{first_doc['start_time']},{split}") == {first}
    far_past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    far_future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert between("filter_start_time", f"{far_past},{far_future}") == {first, second}
    assert between("filter_completion_time", f"{far_future},") == set()
    assert between("filter_completion_time", f"{second_doc['completion_time']},") == {second}
    assert between("filter_completion_time", f",{far_future}") == {first, second}


def test_list_runs_filter_time_rejects_garbage(alice: Identity) -> None:
    expect_error(
        alice.flows.list_runs, query_params={"filter_start_time": "yesterday,today"}, status=(400, 422)
    )


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_list_runs_orderby_start_time(alice: Identity, direction: str) -> None:
    flow_id = make_flow(alice)
    started = [start(alice, flow_id) for _ in range(4)]
    listed = ordered_run_ids(
        alice, filter_flow_id=flow_id, query_params={"orderby": f"start_time {direction}", "per_page": 3}
    )
    assert listed == (started if direction == "ASC" else list(reversed(started)))


def test_list_runs_orderby_label_then_start_time(alice: Identity) -> None:
    flow_id = make_flow(alice)
    runs = [(label, start(alice, flow_id, label=label)) for label in ("b", "a", "b", "a")]
    listed = ordered_run_ids(
        alice, filter_flow_id=flow_id, query_params={"orderby": ["label ASC", "start_time DESC"]}
    )
    expected = [run_id for _, run_id in sorted(runs, key=lambda p: (p[0], -runs.index(p)))]
    assert listed == expected
    joined = ordered_run_ids(
        alice, filter_flow_id=flow_id, query_params={"orderby": "label ASC,start_time DESC"}
    )
    assert joined == expected


def test_list_runs_per_page(alice: Identity) -> None:
    flow_id = make_flow(alice)
    for _ in range(3):
        start(alice, flow_id)
    page = alice.flows.list_runs(filter_flow_id=flow_id, query_params={"per_page": 2})
    assert len(page["runs"]) == 2
    assert page["has_next_page"] is True and page["marker"]


def test_list_runs_of_one_flow_via_flow_path(alice: Identity) -> None:
    """Spec §9: GET /flows/{flow_id}/runs (no SDK method; raw request through the client)."""
    flow_a, flow_b = make_flow(alice), make_flow(alice)
    wanted = {start(alice, flow_a) for _ in range(2)}
    start(alice, flow_b)
    page = alice.flows.get(f"/flows/{flow_a}/runs")
    assert {run["run_id"] for run in page["runs"]} == wanted
    assert page["has_next_page"] is False


# ----------------------------------------------------------------------------------------------------
# cancel_run


def test_cancel_run_ends_the_run_failed_with_flow_canceled(alice: Identity) -> None:
    flow_id = make_flow(alice, definition=wait_definition())
    run_id = start(alice, flow_id)
    wait_for_log(alice.flows, run_id)  # the run sits in its Wait state
    response = alice.flows.cancel_run(run_id)
    assert response.http_status in (200, 202)
    assert response["run_id"] == run_id
    run = wait_for_run(alice.flows, run_id)
    assert run["status"] == "FAILED", run
    assert run["details"]["code"] == "FlowCanceled", run["details"]
    assert isinstance(run["details"]["description"], str)
    assert run.get("completion_time"), run
    codes = [entry["code"] for entry in alice.flows.get_run_logs(run_id, limit=100)["entries"]]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowCanceled", codes


def test_cancel_run_response_shows_the_canceled_run(alice: Identity) -> None:
    """SDK fixture cancel_run: the response itself is status FAILED with details.code FlowCanceled."""
    flow_id = make_flow(alice, definition=wait_definition())
    run_id = start(alice, flow_id)
    response = alice.flows.cancel_run(run_id).data
    assert_same_shape(response, RUN_REFERENCE, "cancel_run response", optional=("search", "completion_time"))
    assert response["status"] == "FAILED", response
    assert response["details"]["code"] == "FlowCanceled", response["details"]


def test_cancel_run_unknown_is_404(alice: Identity) -> None:
    expect_error(alice.flows.cancel_run, str(uuid.uuid4()), status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# update_run


def test_update_run_sets_each_field(alice: Identity, bob: Identity, team_urn: str) -> None:
    run_id = start(alice, make_flow(alice), label="before", tags=["t1"])
    updated = alice.flows.update_run(
        run_id, label="after", tags=["x", " y  z "], run_managers=[bob.urn], run_monitors=[team_urn]
    ).data
    assert updated["label"] == "after"
    assert updated["tags"] == ["x", "y z"]
    assert updated["run_managers"] == [bob.urn]
    assert updated["run_monitors"] == [team_urn]
    fetched = alice.flows.get_run(run_id).data
    for key in ("label", "tags", "run_managers", "run_monitors"):
        assert fetched[key] == updated[key], key


def test_update_run_omitted_fields_are_unchanged(alice: Identity, bob: Identity) -> None:
    run_id = start(alice, make_flow(alice), label="keep", tags=["keep"], run_managers=[bob.urn])
    updated = alice.flows.update_run(run_id, label="new").data
    assert updated["label"] == "new"
    assert updated["tags"] == ["keep"]
    assert updated["run_managers"] == [bob.urn]
    nothing = alice.flows.update_run(run_id).data
    assert nothing["label"] == "new" and nothing["tags"] == ["keep"]


def test_update_run_empty_lists_clear(alice: Identity, bob: Identity) -> None:
    """Spec §9: an empty tags list on update deletes all tags; likewise role lists."""
    run_id = start(alice, make_flow(alice), tags=["a", "b"], run_managers=[bob.urn], run_monitors=[bob.urn])
    updated = alice.flows.update_run(run_id, tags=[], run_managers=[], run_monitors=[]).data
    assert updated["tags"] == []
    assert updated["run_managers"] == []
    assert updated["run_monitors"] == []


def test_update_run_none_is_treated_as_absent(alice: Identity, bob: Identity) -> None:
    """3.x drops None arguments; 4.x sends JSON null. Both leave the field unchanged (spec §3, §10)."""
    run_id = start(alice, make_flow(alice), label="keep", tags=["keep"], run_managers=[bob.urn])
    updated = alice.flows.update_run(run_id, label=None, tags=None, run_managers=None, run_monitors=None).data
    assert updated["label"] == "keep"
    assert updated["tags"] == ["keep"]
    assert updated["run_managers"] == [bob.urn]
    explicit = alice.flows.update_run(run_id, additional_fields={"label": None, "tags": None}).data
    assert explicit["label"] == "keep" and explicit["tags"] == ["keep"]


def test_update_run_rejects_bad_principals(alice: Identity) -> None:
    run_id = start(alice, make_flow(alice))
    err = expect_error(alice.flows.update_run, run_id, run_managers=["not-a-urn"], status=422)
    assert err.code == "UNPROCESSABLE_ENTITY"


def test_update_run_unknown_is_404(alice: Identity) -> None:
    expect_error(alice.flows.update_run, str(uuid.uuid4()), label="x", status=404, code="NOT_FOUND")


# ----------------------------------------------------------------------------------------------------
# delete_run (POST /runs/{id}/release)


def test_delete_run_of_an_active_run_is_409_then_ok_after_cancel(alice: Identity) -> None:
    flow_id = make_flow(alice, definition=wait_definition())
    run_id = start(alice, flow_id)
    err = expect_error(alice.flows.delete_run, run_id, status=409, code="STATE_CONFLICT")
    assert "ACTIVE" in err.message, err.text
    alice.flows.cancel_run(run_id)
    wait_for_run(alice.flows, run_id)
    deleted = alice.flows.delete_run(run_id)
    assert deleted.http_status == 200
    assert deleted["run_id"] == run_id
    assert deleted["status"] == "FAILED"
    expect_error(alice.flows.get_run, run_id, status=404, code="NOT_FOUND")
    assert run_id not in run_ids(alice, filter_flow_id=flow_id)
    expect_error(alice.flows.delete_run, run_id, status=404, code="NOT_FOUND")


def test_delete_run_of_a_finished_run(alice: Identity) -> None:
    flow_id = make_flow(alice)
    run_id = start(alice, flow_id)
    wait_for_run(alice.flows, run_id)
    deleted = alice.flows.delete_run(run_id).data
    assert_same_shape(deleted, RUN_REFERENCE, "delete_run response", optional=("search",))
    assert deleted["status"] == "SUCCEEDED"
    expect_error(alice.flows.get_run_logs, run_id, status=404, code="NOT_FOUND")


@pytest.mark.skipif(IS_SDK3, reason="same wire format in 3.x; checked once")
def test_get_run_fixture_keys_with_flow_description(alice: Identity) -> None:
    run_id = start(alice, make_flow(alice))
    wait_for_run(alice.flows, run_id)
    reference = fixture_response_json("flows.get_run")
    ours = alice.flows.get_run(run_id).data
    assert_same_shape(ours, reference, "get_run", optional=("search",))


# ----------------------------------------------------------------------------------------------------
# POST /batch/runs and the legacy per-flow routes (spec §9; no SDK method: raw requests through the client)


def test_batch_runs_set_add_remove_and_cancel(alice: Identity, bob: Identity, carol: Identity) -> None:
    flow_id = make_flow(alice, definition=wait_definition())
    first = start(alice, flow_id, tags=["old"])
    second = start(alice, flow_id, tags=["old"], run_monitors=[carol.urn])
    both = [first, second]
    response = alice.flows.post("/batch/runs", data={"filters": {"run_ids": both}, "set": {"tags": ["new"]}})
    assert response.http_status == 202
    assert [alice.flows.get_run(run_id)["tags"] for run_id in both] == [["new"], ["new"]]
    alice.flows.post("/batch/runs", data={"filters": {"run_ids": both}, "add": {"run_monitors": [bob.urn]}})
    assert alice.flows.get_run(first)["run_monitors"] == [bob.urn]
    assert sorted(alice.flows.get_run(second)["run_monitors"]) == sorted([carol.urn, bob.urn])
    alice.flows.post(
        "/batch/runs", data={"filters": {"run_ids": both}, "remove": {"run_monitors": [carol.urn]}}
    )
    assert alice.flows.get_run(second)["run_monitors"] == [bob.urn]
    alice.flows.post("/batch/runs", data={"filters": {"run_ids": both}, "set": {"status": "cancel"}})
    for run_id in both:
        run = wait_for_run(alice.flows, run_id)
        assert run["status"] == "FAILED" and run["details"]["code"] == "FlowCanceled", run


def test_batch_runs_rejects_a_bad_body(alice: Identity) -> None:
    expect_error(alice.flows.post, "/batch/runs", data={"filters": {"run_ids": "nope"}}, status=(400, 422))


def test_legacy_flow_run_log_route(alice: Identity) -> None:
    flow_id = make_flow(alice)
    run_id = start(alice, flow_id)
    wait_for_run(alice.flows, run_id)
    legacy = alice.flows.get(f"/flows/{flow_id}/runs/{run_id}/log", query_params={"limit": 100})
    assert legacy["entries"] == alice.flows.get_run_logs(run_id, limit=100)["entries"]
