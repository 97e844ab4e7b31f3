"""globus-sdk 4.x `get_registered_api` and `list_registered_apis` (paginated) against OpenFlows (issue 15);
the documents have the keys and JSON types of the SDK's own fixtures. Skipped under globus-sdk 3.x, which has
neither method."""

from __future__ import annotations

import json
import typing as t

import pytest

from .support import (
    VIEW_FLOWS,
    Identity,
    Server,
    assert_same_shape,
    fixture_response_json,
    raw_request,
    unique,
)

pytestmark = pytest.mark.skipif(
    not hasattr(__import__("globus_sdk").FlowsClient, "get_registered_api"),
    reason="get_registered_api needs globus-sdk 4.6+",
)


def register(server: Server, user: Identity, name: str) -> dict[str, t.Any]:
    target = {
        "type": "openapi",
        "openapi_version": "3.1",
        "destination": {"method": "get", "url": "https://things.example.org/things/{thing_id}"},
        "specification": {
            "parameters": [
                {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "security": [{"GlobusAuth": [VIEW_FLOWS]}],
        },
    }
    body = json.dumps({"name": name, "description": "a thing", "target": target}).encode()
    response = raw_request(server.base_url, "POST", "/registered_apis", body, token=user.token)
    assert response.status == 201, response.body
    return response.json()


def test_get_registered_api_matches_the_fixture(server: Server, alice: Identity) -> None:
    created = register(server, alice, unique("api"))
    doc = alice.flows.get_registered_api(created["id"]).data
    assert doc["id"] == created["id"] and doc["roles"]["owners"] == [alice.urn]
    reference = fixture_response_json("flows.get_registered_api")
    assert_same_shape(
        doc,
        reference,
        "registered API",
        optional=("edited_timestamp", "scheduled_deletion_timestamp", "subscription_id"),
    )
    assert_same_shape(doc["target"], reference["target"], "target", optional=("transforms", "components"))
    assert_same_shape(doc["data_templates"], reference["data_templates"], "data_templates")


def test_list_registered_apis_pages_like_the_fixture(server: Server) -> None:
    owner = server.create_identity(unique("lister"))
    made = [register(server, owner, f"api-{i:02d}")["id"] for i in range(25)]
    first = owner.flows.list_registered_apis(per_page=10, orderby="name ASC").data
    reference = fixture_response_json("flows.list_registered_apis", "default")
    assert_same_shape(first, reference, "list page", optional=("marker",))
    assert_same_shape(first["registered_apis"][0], reference["registered_apis"][0], "summary")
    pages = list(owner.flows.paginated.list_registered_apis(per_page=10, orderby="name ASC"))
    assert [len(page["registered_apis"]) for page in pages] == [10, 10, 5]
    assert [page["has_next_page"] for page in pages] == [True, True, False]
    assert pages[-1]["marker"] is None
    ids = [item["id"] for page in pages for item in page["registered_apis"]]
    assert ids == made
    items = list(owner.flows.paginated.list_registered_apis(per_page=7, filter_roles=["owner"]).items())
    assert len(items) == 25
    assert list(owner.flows.list_registered_apis(filter_roles="viewer")) == []
