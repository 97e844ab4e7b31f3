"""The principal URNs of Globus Auth: `urn:globus:auth:identity:<uuid>` and `urn:globus:groups:id:<uuid>`."""

from __future__ import annotations

import uuid

IDENTITY_URN_PREFIX = "urn:globus:auth:identity:"
GROUP_URN_PREFIX = "urn:globus:groups:id:"


def identity_urn(identity_id: uuid.UUID | str) -> str:
    """`urn:globus:auth:identity:<uuid>`."""
    return f"{IDENTITY_URN_PREFIX}{uuid.UUID(str(identity_id))}"


def group_urn(group_id: uuid.UUID | str) -> str:
    """`urn:globus:groups:id:<uuid>`."""
    return f"{GROUP_URN_PREFIX}{uuid.UUID(str(group_id))}"
