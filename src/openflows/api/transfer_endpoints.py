"""`GET /v0.10/endpoint/{id}`: the local collections as Transfer endpoint documents, the one Transfer API call
`globus timer create transfer` makes (it looks at both collections' `entity_type` to decide whether it needs a
`data_access` consent) when `GLOBUS_SDK_SERVICE_URL_TRANSFER` names this server.

A local collection (`openflows collections add`) is a directory on the server that the built-in transfer
provider copies to and from; it is shown as a guest collection (`GCSv5_guest_collection`), which needs no
`data_access` consent. Nothing else of the Transfer API is served. Needs a token for the Transfer scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from ..auth import catalog
from ..store.collections import get_collection
from .deps import PrincipalDep, ServiceDep, require_scope
from .errors import NotFound
from .routing import DocumentRoute
from .schemas import COMMON_ERRORS, error_responses
from .security import globus_auth

router = APIRouter(tags=["transfer"], route_class=DocumentRoute)

#: the entity type a local collection is shown with
ENTITY_TYPE = "GCSv5_guest_collection"


@router.get(
    "/v0.10/endpoint/{endpoint_id}",
    openapi_extra=globus_auth(catalog.TRANSFER_ALL),
    response_model=None,
    responses={
        200: {"description": "The local collection as an endpoint document"},
        **error_responses(*COMMON_ERRORS),
    },
)
def get_endpoint(endpoint_id: uuid.UUID, principal: PrincipalDep, service: ServiceDep) -> dict[str, Any]:
    require_scope(principal, catalog.TRANSFER_ALL)
    with service.db.read() as conn:
        collection = get_collection(conn, endpoint_id)
    if collection is None:
        raise NotFound(f"No local collection exists with id value {endpoint_id}")
    return {
        "DATA_TYPE": "endpoint",
        "id": str(collection.id),
        "display_name": collection.name,
        "name": collection.name,
        "canonical_name": collection.name,
        "entity_type": ENTITY_TYPE,
        "high_assurance": False,
        "non_functional": False,
        "activated": True,
        "is_globus_connect": False,
        "gcs_version": None,
        "gcs_manager_url": None,
        "subscription_id": None,
        "owner_id": None,
        "description": "A local collection of this OpenFlows server",
        "organization": "OpenFlows",
    }
