"""The scope-string grammar (auth/scope_strings.py), checked against what globus-sdk writes and parses."""

from __future__ import annotations

import time

import pytest

from openflows.auth.scope_strings import (
    MAX_SCOPE_STRING_LENGTH,
    ScopeParseError,
    ScopeRequirement,
    format_scopes,
    parse_scopes,
    root_scope_strings,
)

TIMER = "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"
TRANSFER = "urn:globus:auth:scope:transfer.api.globus.org:all"
DATA = "https://auth.globus.org/scopes/c0ffee00-0000-4000-8000-000000000000/data_access"

#: what `globus login` sends (globus-cli's login scopes, computed with globus-sdk 4.10)
CLI_LOGIN = (
    "openid profile email urn:globus:auth:scope:auth.globus.org:view_identity_set "
    "urn:globus:auth:scope:transfer.api.globus.org:all urn:globus:auth:scope:groups.api.globus.org:all "
    "urn:globus:auth:scope:search.api.globus.org:all "
    f"{TIMER}[{TRANSFER}] https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all"
)


def test_the_cli_login_scope_string() -> None:
    trees = parse_scopes(CLI_LOGIN)
    assert len(trees) == 9
    timer = next(tree for tree in trees if tree.scope_string == TIMER)
    assert timer.dependencies == (ScopeRequirement(TRANSFER),)
    assert format_scopes(trees) == CLI_LOGIN
    assert root_scope_strings(CLI_LOGIN)[-1].endswith("/all")


def test_nesting_and_optional_dependencies() -> None:
    text = f"{TIMER}[{TRANSFER}[*{DATA}]]"
    (tree,) = parse_scopes(text)
    (transfer,) = tree.dependencies
    assert transfer.dependencies == (ScopeRequirement(DATA, optional=True),)
    assert str(tree) == text
    assert [path for path, _ in tree.walk()] == [(TIMER,), (TIMER, TRANSFER), (TIMER, TRANSFER, DATA)]


def test_repeated_scopes_merge_and_required_wins() -> None:
    (tree,) = parse_scopes("a[*b c] a[b d]")
    assert str(tree) == "a[b c d]"
    assert parse_scopes("x  y   x") == (ScopeRequirement("x"), ScopeRequirement("y"))


def test_agrees_with_globus_sdk() -> None:
    from globus_sdk.scopes import ScopeParser

    def canonical(tree: ScopeRequirement) -> str:  # dependencies sorted: the SDK keeps them in sets
        deps = sorted(canonical(dep) for dep in tree.dependencies)
        return ("*" if tree.optional else "") + tree.scope_string + (f"[{' '.join(deps)}]" if deps else "")

    for text in (CLI_LOGIN, f"{TIMER}[{TRANSFER}[*{DATA}]]", "a[b[c d] *e]"):
        ours = {canonical(tree) for tree in parse_scopes(text)}
        sdk = {canonical(tree) for scope in ScopeParser.parse(text) for tree in parse_scopes(str(scope))}
        assert ours == sdk


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a [b]", "must follow a scope name directly"),
        ("a[b]c", "must follow ']'"),
        ("a]", "unmatched"),
        ("a[b", "unclosed"),
        ("a[]", "empty brackets"),
        ("* a", "must be followed by a scope name"),
        ("*a", "only a dependent scope can be optional"),
        ("a[b[a]]", "depends on itself"),
        ("a[a]", "depends on itself"),
        ("[a]", "must follow a scope name"),
    ],
)
def test_errors_say_why(text: str, why: str) -> None:
    with pytest.raises(ScopeParseError, match=why):
        parse_scopes(text)


def test_hostile_inputs_are_refused_quickly() -> None:
    began = time.perf_counter()
    with pytest.raises(ScopeParseError, match="nested more than"):
        parse_scopes("".join(f"a{i}[" for i in range(1000)) + "z" + "]" * 1000)
    with pytest.raises(ScopeParseError, match="longer than"):
        parse_scopes("x" * (MAX_SCOPE_STRING_LENGTH + 1))
    many = " ".join(f"s{i}[d{i}]" for i in range(700))
    assert len(parse_scopes(many)) == 700
    elapsed = time.perf_counter() - began
    assert elapsed < 0.5, f"took {elapsed:.3f} s"
