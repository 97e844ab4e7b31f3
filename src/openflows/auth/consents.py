"""Consent rules (pure; no I/O): does a consent forest cover a scope requirement, and which consents does
approving a requirement create.

Globus Auth's model, as globus-sdk's `ConsentForest` reads it: a root consent lets an app (client) use a scope
for a person; a child consent lets the client that owns the parent scope use a dependent scope on the same
person's behalf. A requirement `A[B[C]]` for app X is covered when X has a root consent to A with a child
consent to B that has a child consent to C. As in globus-sdk, an optional dependency (`*B`) is still required
to count as covered (the marker only tells the consent page the person may decline it).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence

from .scope_strings import ScopeRequirement


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentNode:
    """One consent of a forest, as far as the rules need it."""

    id: int
    client_id: uuid.UUID
    scope_string: str
    parent_id: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedConsent:
    """A consent that approving a requirement needs: the scope strings from the root down to it, and the
    client it is granted to."""

    path: tuple[str, ...]
    client_id: uuid.UUID

    @property
    def scope_string(self) -> str:
        return self.path[-1]


def _children(nodes: Iterable[ConsentNode]) -> dict[int | None, list[ConsentNode]]:
    index: dict[int | None, list[ConsentNode]] = {}
    for node in nodes:
        index.setdefault(node.parent_id, []).append(node)
    return index


def covers(nodes: Iterable[ConsentNode], client_id: uuid.UUID, requirement: ScopeRequirement) -> bool:
    """Whether the consents grant `client_id` the requirement with all its dependencies (recursively)."""
    return covers_all(nodes, client_id, [requirement])


def covers_all(
    nodes: Iterable[ConsentNode], client_id: uuid.UUID, requirements: Sequence[ScopeRequirement]
) -> bool:
    """`covers` for every requirement."""
    index = _children(nodes)
    roots = [node for node in index.get(None, []) if node.client_id == client_id]
    return all(_matches_one(roots, requirement, index) for requirement in requirements)


def covers_under(
    nodes: Iterable[ConsentNode], root_ids: Iterable[int], requirement: ScopeRequirement
) -> bool:
    """Whether one of the consents `root_ids` (those a token rests on: root consents for a token an app got,
    consents below a root for a dependent token, e.g. a timer's token for a flow's scope) grants the
    requirement with all its dependencies (recursively)."""
    nodes = list(nodes)
    index = _children(nodes)
    wanted = set(root_ids)
    roots = [node for node in nodes if node.id in wanted]
    return _matches_one(roots, requirement, index)


def subtree(nodes: Iterable[ConsentNode], consent_id: int) -> list[int]:
    """The ids of a consent and of every consent below it (parents before children)."""
    index = _children(nodes)
    found: list[int] = []
    frontier = [consent_id]
    while frontier:
        found.extend(frontier)
        frontier = [child.id for parent in frontier for child in index.get(parent, [])]
    return found


def _matches_one(
    candidates: list[ConsentNode], requirement: ScopeRequirement, index: dict[int | None, list[ConsentNode]]
) -> bool:
    # recursion is as deep as the requirement (bounded by scope_strings.MAX_DEPTH and the registry's
    # expansion)
    for node in candidates:
        if node.scope_string != requirement.scope_string:
            continue
        children = index.get(node.id, [])
        if all(_matches_one(children, dep, index) for dep in requirement.dependencies):
            return True
    return False


def plan_consents(
    requirement: ScopeRequirement,
    app_client_id: uuid.UUID,
    owner_of: Callable[[str], uuid.UUID | None],
) -> list[PlannedConsent]:
    """The consents approving `requirement` for the app records, parents before children: the root for the
    app, each dependency for the client that owns its parent's scope (`owner_of(scope_string)`). A dependency
    of a scope without an owner cannot be delegated and is skipped."""
    planned: list[PlannedConsent] = []
    stack: list[tuple[tuple[str, ...], ScopeRequirement, uuid.UUID]] = [
        ((requirement.scope_string,), requirement, app_client_id)
    ]
    while stack:
        path, node, client_id = stack.pop(0)
        planned.append(PlannedConsent(path, client_id))
        owner = owner_of(node.scope_string)
        if owner is None:
            continue
        stack.extend((path + (dep.scope_string,), dep, owner) for dep in node.dependencies)
    return planned
