"""Targets and OpenAPI documents for the registered API tests."""

from __future__ import annotations

import copy
from typing import Any

VIEW_SCOPE = "https://auth.globus.org/scopes/00000000-0000-0000-0000-000000000000/read_things"
ALL_SCOPE = "https://auth.globus.org/scopes/00000000-0000-0000-0000-000000000000/all"


def thing_target(base_url: str = "https://things.example.org", method: str = "get") -> dict[str, Any]:
    """`GET /things/{thing_id}?verbose=` with a component schema for the answer, two GlobusAuth scopes."""
    return {
        "type": "openapi",
        "openapi_version": "3.1",
        "destination": {"method": method, "url": f"{base_url}/things/{{thing_id}}"},
        "specification": {
            "summary": "Get a thing",
            "parameters": [
                {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"$ref": "#/components/parameters/Verbose"},
                {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The thing",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                }
            },
            "security": [{"GlobusAuth": [VIEW_SCOPE]}, {"GlobusAuth": [ALL_SCOPE]}],
        },
        "components": {
            "parameters": {
                "Verbose": {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
            },
            "schemas": {"Thing": {"type": "object", "properties": {"id": {"type": "string"}}}},
        },
    }


def post_target(base_url: str = "https://things.example.org") -> dict[str, Any]:
    """`POST /things` with a required JSON body referencing a component schema."""
    return {
        "type": "openapi",
        "openapi_version": "3.1.0",
        "destination": {"method": "post", "url": f"{base_url}/things"},
        "specification": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewThing"}}},
            },
            "responses": {"201": {"description": "made"}},
        },
        "components": {
            "schemas": {
                "NewThing": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "maxLength": 20}, "size": {"type": "integer"}},
                    "additionalProperties": False,
                }
            }
        },
    }


def with_changes(target: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(target)
    copied.update(changes)
    return copied


def ref_chain_document(length: int) -> dict[str, Any]:
    """An OpenAPI document whose one parameter is reached through `length` chained references."""
    parameters = {f"P{i}": {"$ref": f"#/components/parameters/P{i + 1}"} for i in range(length)}
    parameters[f"P{length}"] = {"name": "q", "in": "query", "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "chain", "version": "1"},
        "servers": [{"url": "https://chain.example.org"}],
        "paths": {"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/P0"}], "responses": {}}}},
        "components": {"parameters": parameters},
    }


def huge_document(paths: int) -> dict[str, Any]:
    """An OpenAPI document with `paths` operations, each with a schema of 20 properties."""
    schema = {"type": "object", "properties": {f"field{i}": {"type": "string"} for i in range(20)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "huge", "version": "1"},
        "servers": [{"url": "https://huge.example.org"}],
        "paths": {
            f"/p{i}": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}
            for i in range(paths)
        },
    }
