"""Which scopes exist, who owns them, and what consent to each includes (services on the store).

A scope string resolves to a `ScopeInfo` from, in order: its `auth_scopes` row; the built-in catalog (so the
built-in scopes work even before `builtins.ensure_catalog` stored them); a flow's own scope, for every flow
that exists (its row is made by `ensure_stored` when a consent first needs it). Anything else is unknown.

A scope's *registered* dependent scopes are those of `auth_scope_dependencies` (developer API
`create_scope(..., dependent_scopes=...)`) and, for a flow's scope, `flow_dependent_scopes` (the scopes of the
flow's steps that run as the user, stored with the flow). Dependent scopes this Auth does not know are left
out: nobody can consent to them, so no run can act with them. `expand` adds them, recursively, to a
requirement: that is what consenting to a scope means.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ..store import auth_scopes as store
from ..store import flows as flow_store
from . import catalog
from .scope_strings import ScopeRequirement, merge_requirements
from .scopes import flow_scope, parse_flow_scope

#: deepest chain of registered dependent scopes followed by `expand`
MAX_EXPANSION_DEPTH = 8  # levels


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScopeInfo:
    id: uuid.UUID
    scope_string: str
    resource_server: str
    #: the client that owns the scope (built-in: the resource server's client; a flow's scope: the flow id)
    owner: uuid.UUID | None
    name: str
    description: str
    scope_suffix: str | None = None
    advertised: bool = True
    allows_refresh_token: bool = True
    required_domains: tuple[str, ...] = ()
    #: whether the `auth_scopes` row exists
    stored: bool = False
    #: a flow's own scope: the flow id
    flow_id: uuid.UUID | None = None
    #: owned by a client registered through the developer API (not built in, not a flow's)
    client_owned: bool = False


def _from_row(row: Any) -> ScopeInfo:
    flow_id = parse_flow_scope(row.scope_string)
    owner = row.client_id or catalog.client_of_resource_server(row.resource_server)
    return ScopeInfo(
        id=row.id,
        scope_string=row.scope_string,
        resource_server=row.resource_server,
        owner=owner,
        name=row.name,
        description=row.description,
        scope_suffix=row.scope_suffix,
        advertised=row.advertised,
        allows_refresh_token=row.allows_refresh_token,
        required_domains=tuple(row.required_domains or ()),
        stored=True,
        flow_id=flow_id if flow_id is not None and row.resource_server == str(flow_id) else None,
        client_owned=row.client_id is not None and flow_id is None,
    )


def _from_catalog(scope: catalog.BuiltinScope) -> ScopeInfo:
    return ScopeInfo(
        id=scope.scope_id,
        scope_string=scope.scope_string,
        resource_server=scope.resource_server,
        owner=catalog.client_of_resource_server(scope.resource_server),
        name=scope.name,
        description=scope.description,
    )


def _for_flow(flow_id: uuid.UUID, title: str) -> ScopeInfo:
    text = flow_scope(flow_id)
    return ScopeInfo(
        id=catalog.scope_id_for(text),
        scope_string=text,
        resource_server=str(flow_id),
        owner=flow_id,
        name=f"Run the flow “{title}”",
        description="Start this flow, and let the steps it runs as you act on your behalf.",
        scope_suffix=text.rsplit("/", 1)[1],
        flow_id=flow_id,
    )


_CATALOG_BY_STRING = {scope.scope_string: scope for scope in catalog.SCOPES}
_CATALOG_BY_ID = {scope.scope_id: scope for scope in catalog.SCOPES}


def resolve(conn: sa.Connection, scope_strings: Iterable[str]) -> dict[str, ScopeInfo]:
    """The scopes that exist among `scope_strings` (unknown ones are absent from the answer)."""
    wanted = list(dict.fromkeys(scope_strings))
    found = {row.scope_string: _from_row(row) for row in store.get_scopes_by_strings(conn, wanted)}
    for text in wanted:
        if text in found:
            continue
        if text in _CATALOG_BY_STRING:
            found[text] = _from_catalog(_CATALOG_BY_STRING[text])
            continue
        flow_id = parse_flow_scope(text)
        if flow_id is not None and flow_scope(flow_id) == text:
            flow = flow_store.get_flow(conn, flow_id=flow_id)
            if flow is not None:
                found[text] = _for_flow(flow_id, flow["title"])
    return found


def resolve_ids(conn: sa.Connection, scope_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ScopeInfo]:
    """The scopes with these ids (stored or built in)."""
    wanted = list(dict.fromkeys(scope_ids))
    found = {row.id: _from_row(row) for row in store.get_scopes_by_ids(conn, wanted)}
    for scope_id in wanted:
        if scope_id not in found and scope_id in _CATALOG_BY_ID:
            found[scope_id] = _from_catalog(_CATALOG_BY_ID[scope_id])
    return found


def ensure_stored(conn: sa.Connection, infos: Iterable[ScopeInfo], *, now: Any) -> None:
    """Make the `auth_scopes` rows of scopes known only from the catalog or as a flow's scope."""
    for info in infos:
        if info.stored:
            continue
        store.insert_scope(
            conn,
            store.NewScope(
                id=info.id,
                scope_string=info.scope_string,
                resource_server=info.resource_server,
                client_id=info.flow_id,
                name=info.name,
                description=info.description,
                scope_suffix=info.scope_suffix,
                advertised=info.advertised,
                allows_refresh_token=info.allows_refresh_token,
            ),
            now=now,
            if_missing=True,
        )


def flow_dependent_scopes(conn: sa.Connection, flow_id: uuid.UUID) -> list[str]:
    """The scope strings consent to a flow's scope includes: the scopes of its steps that run as the user
    (`ActionScope`, a built-in provider's scope, an external provider's `globus_auth_scope`, and whatever the
    `engine.provider_scopes.ProviderScopes.state_scopes` hook adds: registered APIs' scopes, issue 15), as
    computed when the flow was created or updated (`flows.dependent_scopes`)."""
    flow = flow_store.get_flow(conn, flow_id=flow_id, include_deleted=True)
    return list((flow or {}).get("dependent_scopes") or [])


def registered_dependencies(conn: sa.Connection, info: ScopeInfo) -> list[tuple[ScopeInfo, bool]]:
    """`(dependent scope, optional)` of a scope, as registered (see the module docstring)."""
    edges = store.dependencies_of(conn, [info.id]).get(info.id, [])
    by_id = resolve_ids(conn, [edge.dependent_scope_id for edge in edges])
    found = [
        (by_id[edge.dependent_scope_id], edge.optional) for edge in edges if edge.dependent_scope_id in by_id
    ]
    if info.flow_id is not None:
        strings = flow_dependent_scopes(conn, info.flow_id)
        resolved = resolve(conn, strings)
        found += [(resolved[text], False) for text in strings if text in resolved]
    return found


def expand(conn: sa.Connection, requirement: ScopeRequirement) -> ScopeRequirement:
    """The requirement with every registered dependent scope added, recursively (explicit ones are kept)."""
    return _expand(conn, requirement, (requirement.scope_string,))


def _expand(conn: sa.Connection, node: ScopeRequirement, path: tuple[str, ...]) -> ScopeRequirement:
    info = resolve(conn, [node.scope_string]).get(node.scope_string)
    registered: list[ScopeRequirement] = []
    if info is not None and len(path) <= MAX_EXPANSION_DEPTH:
        registered = [
            ScopeRequirement(dep.scope_string, optional)
            for dep, optional in registered_dependencies(conn, info)
            if dep.scope_string not in path  # a registered cycle is cut where it closes
        ]
    children = merge_requirements([*node.dependencies, *registered])
    expanded = tuple(
        _expand(conn, child, path + (child.scope_string,)) if child.scope_string not in path else child
        for child in children
    )
    return dataclasses.replace(node, dependencies=expanded)


def expand_flow(
    conn: sa.Connection, flow: Mapping[str, Any]
) -> tuple[ScopeRequirement, dict[str, ScopeInfo]]:
    """`expand` of a flow's scope, from the flow row at hand (`id`, `dependent_scopes`), with the scopes it
    names: the same tree in a few queries, one round per level of registered dependencies (starting a run
    needs it)."""
    root = flow_scope(flow["id"])
    known: dict[str, ScopeInfo] = {}
    children: dict[str, list[tuple[str, bool]]] = {
        root: [(text, False) for text in dict.fromkeys(flow.get("dependent_scopes") or [])]
    }
    frontier = [text for text, _ in children[root]]
    for _ in range(MAX_EXPANSION_DEPTH):
        if not frontier:
            break
        known.update(resolve(conn, [text for text in frontier if text not in known]))
        present = [known[text] for text in frontier if text in known]
        edges = store.dependencies_of(conn, [info.id for info in present])
        by_id = resolve_ids(conn, [edge.dependent_scope_id for found in edges.values() for edge in found])
        following: list[str] = []
        for info in present:
            found = [
                (by_id[edge.dependent_scope_id].scope_string, edge.optional)
                for edge in edges.get(info.id, [])
                if edge.dependent_scope_id in by_id
            ]
            if info.flow_id is not None:  # another flow's scope brings that flow's dependent scopes
                found += [(text, False) for text in flow_dependent_scopes(conn, info.flow_id)]
            children[info.scope_string] = found
            following += [text for text, _ in found]
        known.update({dep.scope_string: dep for dep in by_id.values()})
        frontier = [text for text in dict.fromkeys(following) if text not in children]
    if frontier:
        known.update(resolve(conn, [text for text in frontier if text not in known]))

    def build(text: str, optional: bool, path: tuple[str, ...]) -> ScopeRequirement:
        deps = []
        if len(path) <= MAX_EXPANSION_DEPTH:
            deps = [
                build(child, child_optional, path + (child,))
                for child, child_optional in children.get(text, [])
                if child in known and child not in path
            ]
        return ScopeRequirement(text, optional, merge_requirements(deps))

    return build(root, False, (root,)), known


def scope_strings_in(requirements: Iterable[ScopeRequirement]) -> list[str]:
    """Every scope string of the trees, roots and dependencies, once each."""
    seen: dict[str, None] = {}
    for tree in requirements:
        for _, node in tree.walk():
            seen.setdefault(node.scope_string)
    return list(seen)


def owners(conn: sa.Connection, scope_strings: Iterable[str]) -> dict[str, uuid.UUID | None]:
    """The owning client of each known scope."""
    return {text: info.owner for text, info in resolve(conn, scope_strings).items()}


def scope_document(conn: sa.Connection, info: ScopeInfo) -> dict[str, Any]:
    """A scope as the developer API shows it (globus-sdk `get_scopes`, `create_scope`)."""
    edges = store.dependencies_of(conn, [info.id]).get(info.id, [])
    dependent = [
        {
            "scope": str(edge.dependent_scope_id),
            "optional": edge.optional,
            "requires_refresh_token": edge.requires_refresh_token,
        }
        for edge in edges
    ]
    if info.flow_id is not None:
        resolved = resolve(conn, flow_dependent_scopes(conn, info.flow_id))
        dependent += [
            {"scope": str(dep.id), "optional": False, "requires_refresh_token": True}
            for dep in resolved.values()
        ]
    return {
        "id": str(info.id),
        "scope_string": info.scope_string,
        "name": info.name,
        "description": info.description,
        "client": str(info.owner) if info.owner else None,
        "advertised": info.advertised,
        "allows_refresh_token": info.allows_refresh_token,
        "required_domains": list(info.required_domains),
        "dependent_scopes": dependent,
    }
