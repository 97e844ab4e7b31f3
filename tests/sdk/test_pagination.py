"""The SDK's paginators over several pages (spec flows-api.md §4): exact counts, no duplicates, stable order,
`has_next_page`/`marker` rules, the `pagination_token` alias."""

from __future__ import annotations

import typing as t
import uuid

import pytest

from .support import OPEN_SCHEMA, Identity, expect_error, pass_definition, unique, wait_for_run


def make_flow(user: Identity, **kwargs: t.Any) -> str:
    kwargs.setdefault("title", unique("flow"))
    kwargs.setdefault("definition", pass_definition())
    kwargs.setdefault("input_schema", OPEN_SCHEMA)
    return user.flows.create_flow(**kwargs)["id"]


@pytest.fixture(scope="module")
def flow_owner(server: t.Any) -> Identity:
    """One identity owning exactly 45 flows, titled so that title order is known."""
    user = server.create_identity(f"{unique('pager')}@example.org")
    for index in range(45):
        make_flow(user, title=f"page flow {index:02d}")
    return user


def test_paginated_list_flows_default_page_size(flow_owner: Identity) -> None:
    paginator = flow_owner.flows.paginated.list_flows(filter_roles="flow_owner")
    pages = list(paginator.pages())
    sizes = [len(page["flows"]) for page in pages]
    assert sum(sizes) == 45
    assert len(pages) >= 2, sizes
    assert all(page["has_next_page"] for page in pages[:-1])
    assert pages[-1]["has_next_page"] is False
    assert all(page["marker"] for page in pages[:-1])
    assert pages[-1].data.get("marker") is None
    ids = [flow["id"] for page in pages for flow in page["flows"]]
    assert len(set(ids)) == 45


def test_paginated_list_flows_items_with_per_page_and_orderby(flow_owner: Identity) -> None:
    items = list(
        flow_owner.flows.paginated.list_flows(
            filter_roles="flow_owner", orderby="title DESC", query_params={"per_page": 7}
        ).items()
    )
    titles = [flow["title"] for flow in items]
    assert titles == [f"page flow {index:02d}" for index in reversed(range(45))]
    pages = list(
        flow_owner.flows.paginated.list_flows(filter_roles="flow_owner", query_params={"per_page": 7}).pages()
    )
    assert [len(page["flows"]) for page in pages] == [7, 7, 7, 7, 7, 7, 3]


def test_list_flows_exact_page_boundary(alice: Identity) -> None:
    """A last page that is exactly full must not claim a next page that turns out empty, or if it does,
    the empty page must still carry the `flows` key and end the iteration."""
    tag = uuid.uuid4().hex
    for _ in range(6):
        make_flow(alice, description=tag)
    pages = list(
        alice.flows.paginated.list_flows(
            filter_roles="flow_owner", filter_fulltext=tag, query_params={"per_page": 3}
        ).pages()
    )
    sizes = [len(page["flows"]) for page in pages]
    assert sizes in ([3, 3], [3, 3, 0]), sizes
    assert pages[-1]["has_next_page"] is False


def test_list_flows_marker_and_pagination_token(flow_owner: Identity) -> None:
    first = flow_owner.flows.list_flows(filter_roles="flow_owner", query_params={"per_page": 10})
    marker = first["marker"]
    via_marker = flow_owner.flows.list_flows(
        filter_roles="flow_owner", marker=marker, query_params={"per_page": 10}
    )
    via_token = flow_owner.flows.list_flows(
        filter_roles="flow_owner", query_params={"per_page": 10, "pagination_token": marker}
    )
    first_ids = {flow["id"] for flow in first}
    second_ids = [flow["id"] for flow in via_marker]
    assert len(second_ids) == 10 and first_ids.isdisjoint(second_ids)
    assert [flow["id"] for flow in via_token] == second_ids


def test_list_flows_bad_marker_is_a_client_error(flow_owner: Identity) -> None:
    expect_error(flow_owner.flows.list_flows, marker="not-a-real-marker", status=(400, 422))


@pytest.fixture(scope="module")
def runner(server: t.Any) -> tuple[Identity, str, list[str]]:
    """One identity with 25 finished runs of one flow and 2 of another."""
    user = server.create_identity(f"{unique('runner')}@example.org")
    flow_id = make_flow(user)
    other = make_flow(user)
    client = user.specific(flow_id)
    run_ids = [client.run_flow({"i": index}, label=f"run {index:02d}")["run_id"] for index in range(25)]
    for _ in range(2):
        user.specific(other).run_flow({})
    for run_id in run_ids:
        wait_for_run(user.flows, run_id)
    return user, flow_id, run_ids


def test_paginated_list_runs_over_several_pages(runner: tuple[Identity, str, list[str]]) -> None:
    user, flow_id, run_ids = runner
    paginator = user.flows.paginated.list_runs(filter_flow_id=flow_id, query_params={"per_page": 10})
    pages = list(paginator.pages())
    assert [len(page["runs"]) for page in pages] == [10, 10, 5]
    ids = [run["run_id"] for page in pages for run in page["runs"]]
    assert sorted(ids) == sorted(run_ids)
    everything = list(user.flows.paginated.list_runs(query_params={"per_page": 4}).items())
    assert len(everything) == 27
    assert len({run["run_id"] for run in everything}) == 27


def test_paginated_list_runs_keeps_order_and_filters_across_pages(
    runner: tuple[Identity, str, list[str]],
) -> None:
    user, flow_id, run_ids = runner
    listed = [
        run["run_id"]
        for run in user.flows.paginated.list_runs(
            filter_flow_id=flow_id,
            query_params={"per_page": 6, "orderby": "start_time ASC", "filter_status": "SUCCEEDED"},
        ).items()
    ]
    assert listed == run_ids
    labels = [
        run["label"]
        for run in user.flows.paginated.list_runs(
            filter_flow_id=flow_id, query_params={"per_page": 4, "orderby": "label DESC"}
        ).items()
    ]
    assert labels == [f"run {index:02d}" for index in reversed(range(25))]


def test_list_runs_pagination_token_alias(runner: tuple[Identity, str, list[str]]) -> None:
    user, flow_id, _ = runner
    first = user.flows.list_runs(filter_flow_id=flow_id, query_params={"per_page": 10})
    second = user.flows.list_runs(
        filter_flow_id=flow_id, marker=first["marker"], query_params={"per_page": 10}
    )
    alias = user.flows.list_runs(
        filter_flow_id=flow_id, query_params={"per_page": 10, "pagination_token": first["marker"]}
    )
    assert [r["run_id"] for r in alias] == [r["run_id"] for r in second]
    assert {r["run_id"] for r in first}.isdisjoint(r["run_id"] for r in second)


def test_paginated_get_run_logs(alice: Identity) -> None:
    flow_id = make_flow(alice, definition=pass_definition(12))
    run_id = alice.specific(flow_id).run_flow({})["run_id"]
    wait_for_run(alice.flows, run_id)
    everything = alice.flows.get_run_logs(run_id, limit=100)["entries"]
    assert len(everything) >= 26, [e["code"] for e in everything]  # FlowStarted, 12 x 2, FlowSucceeded
    pages = list(alice.flows.paginated.get_run_logs(run_id, limit=5).pages())
    assert [len(page["entries"]) for page in pages[:-1]] == [5] * (len(pages) - 1)
    assert [entry for page in pages for entry in page["entries"]] == everything
    assert pages[-1]["has_next_page"] is False
    backwards = list(alice.flows.paginated.get_run_logs(run_id, limit=4, reverse_order=True).items())
    assert backwards == list(reversed(everything))
    via_token = alice.flows.get_run_logs(
        run_id, limit=5, query_params={"pagination_token": pages[0]["marker"]}
    )
    assert via_token["entries"] == pages[1]["entries"]
