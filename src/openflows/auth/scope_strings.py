"""Globus scope strings with dependent scopes in brackets (pure; no I/O).

The grammar globus-sdk writes and reads (`globus_sdk.scopes`), and that Globus Auth's authorize and token
endpoints accept:

    scopes     := scope (" "+ scope)*
    scope      := ["*"] name ["[" scopes "]"]
    name       := one or more characters other than space, "[", "]" and "*"

- `*` right before a name marks the dependency optional (`"* x"` is an error);
- `[` follows the name directly (`"a [b]"` is an error); `]` is followed by a space, another `]` or the end;
- dependencies nest (`timer[transfer:all[*collection:data_access]]`);
- a scope may not depend on itself through its own dependencies (a cycle);
- when the same dependency is listed both optional and required, it is required.

`parse_scopes(text)` returns a tuple of `ScopeRequirement` trees (the same root given twice is merged);
`format_scopes(trees)` writes them back in the canonical form (`str(tree)` for one). Inputs are bounded
(`MAX_SCOPE_STRING_LENGTH`, `MAX_DEPTH`) and parsing is iterative and linear in the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

#: longest scope string accepted (a whole `scope` parameter)
MAX_SCOPE_STRING_LENGTH = 8192  # characters
#: deepest nesting of dependent scopes accepted
MAX_DEPTH = 16  # levels
_SPECIAL = frozenset(" []*")


class ScopeParseError(ValueError):
    """The text is not a valid scope string; the message says where and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class ScopeRequirement:
    """One scope with the dependent scopes it requires (a tree)."""

    scope_string: str
    optional: bool = False
    dependencies: tuple[ScopeRequirement, ...] = ()

    def __str__(self) -> str:
        text = ("*" if self.optional else "") + self.scope_string
        if self.dependencies:
            text += "[" + " ".join(str(dep) for dep in self.dependencies) + "]"
        return text

    def with_dependencies(self, dependencies: Iterable[ScopeRequirement]) -> ScopeRequirement:
        """This scope with `dependencies` added (merged with those it has)."""
        return dataclasses.replace(self, dependencies=merge_requirements([*self.dependencies, *dependencies]))

    def walk(self) -> Iterable[tuple[tuple[str, ...], ScopeRequirement]]:
        """Every node with the path of scope strings from this root to it (the root's path is its own)."""
        stack: list[tuple[tuple[str, ...], ScopeRequirement]] = [((self.scope_string,), self)]
        while stack:
            path, node = stack.pop()
            yield path, node
            stack.extend((path + (dep.scope_string,), dep) for dep in reversed(node.dependencies))


def parse_scopes(text: str) -> tuple[ScopeRequirement, ...]:
    """The scope trees of a scope string (see the module docstring); raises `ScopeParseError`."""
    if len(text) > MAX_SCOPE_STRING_LENGTH:
        raise ScopeParseError(f"the scope string is longer than {MAX_SCOPE_STRING_LENGTH} characters")
    # each open level: the list of nodes collected so far, as (name, optional, children-list)
    root: list[list] = []
    stack: list[list[list]] = [root]
    names: list[str] = []  # the names of the open scopes, for cycle detection
    i, n = 0, len(text)
    expect_separator = False  # after "]": only a space, "]" or the end may follow
    while i < n:
        ch = text[i]
        if ch == " ":
            expect_separator = False
            i += 1
            continue
        if ch == "]":
            if len(stack) == 1:
                raise ScopeParseError(f"unmatched ']' at position {i}")
            if not stack[-1]:
                raise ScopeParseError(f"empty brackets before position {i}")
            stack.pop()
            names.pop()
            expect_separator = True
            i += 1
            continue
        if expect_separator:
            raise ScopeParseError(f"a space or ']' must follow ']' (position {i})")
        if ch == "[":
            raise ScopeParseError(f"'[' must follow a scope name directly (position {i})")
        optional = False
        if ch == "*":
            optional = True
            i += 1
            if i >= n or text[i] in _SPECIAL:
                raise ScopeParseError(f"'*' must be followed by a scope name (position {i - 1})")
        start = i
        while i < n and text[i] not in _SPECIAL:
            i += 1
        name = text[start:i]
        if optional and len(stack) == 1:
            raise ScopeParseError(f"only a dependent scope can be optional ('*{name}')")
        node: list = [name, optional, []]
        stack[-1].append(node)
        if i < n and text[i] == "[":
            if name in names:
                raise ScopeParseError(f"the scope {name!r} depends on itself")
            if len(stack) > MAX_DEPTH:
                raise ScopeParseError(f"dependent scopes are nested more than {MAX_DEPTH} levels deep")
            stack.append(node[2])
            names.append(name)
            i += 1
            continue
        if name in names:
            raise ScopeParseError(f"the scope {name!r} depends on itself")
    if len(stack) != 1:
        raise ScopeParseError("unclosed '[' at the end of the scope string")
    return merge_requirements(_freeze(root))


def _freeze(nodes: list[list]) -> list[ScopeRequirement]:
    """Turn the parser's nested lists into `ScopeRequirement`s, without recursion."""
    # post-order over an explicit stack: children are frozen before their parent
    frozen: dict[int, ScopeRequirement] = {}
    stack: list[tuple[list, bool]] = [(node, False) for node in reversed(nodes)]
    while stack:
        node, children_done = stack.pop()
        if children_done or not node[2]:
            deps = tuple(frozen.pop(id(child)) for child in node[2])
            frozen[id(node)] = ScopeRequirement(node[0], node[1], merge_requirements(deps))
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node[2]))
    return [frozen[id(node)] for node in nodes]


def merge_requirements(nodes: Iterable[ScopeRequirement]) -> tuple[ScopeRequirement, ...]:
    """The same scope listed more than once becomes one node (required if any was required) whose
    dependencies are merged; order of first appearance is kept."""
    merged: dict[str, ScopeRequirement] = {}
    for node in nodes:
        seen = merged.get(node.scope_string)
        if seen is None:
            merged[node.scope_string] = node
            continue
        merged[node.scope_string] = ScopeRequirement(
            node.scope_string,
            seen.optional and node.optional,
            merge_requirements([*seen.dependencies, *node.dependencies]),
        )
    return tuple(merged.values())


def format_scopes(trees: Iterable[ScopeRequirement]) -> str:
    """The canonical scope string of `trees` (space-separated)."""
    return " ".join(str(tree) for tree in trees)


def root_scope_strings(text: str) -> list[str]:
    """The root scope strings of a scope string, without their dependencies (what a token's `scope` lists)."""
    return [tree.scope_string for tree in parse_scopes(text)]
