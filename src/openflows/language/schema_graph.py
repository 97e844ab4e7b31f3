"""How an input schema applies its subschemas: refuse `$ref` loops and runaway fan-out when a flow is saved.

A validator evaluates a schema at one location of the input by applying, at the *same* location, the
subschemas named by its in-place keywords (`$ref`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`,
`dependentSchemas`) and, at *child* locations, those of its descending keywords (`properties`, `items`, ...).
Two shapes make that blow up:

- a loop of in-place applications (`$defs/a` -> `$ref a`, or `a` <-> `b`): evaluation at one location never
  ends (jsonschema-rs cuts the loop and answers "valid"; the Python library recursed until RecursionError);
- fan-out: `d1 = allOf[$ref d0, $ref d0]`, `d2 = allOf[$ref d1, $ref d1]` ... applies `d0` 2^n times at one
  location (n = 22 took 0.16 s per input, n = 30 minutes), and recursion can do the same level after level
  (`node = {items: {allOf: [$ref node, $ref node]}}` doubles the work at every depth of the input).

`analyze(schema, pattern_weight)` finds loops (one located problem each), then simulates evaluation over a
symbolic input: a location is described by how many times each subschema is entered there; its children are
one location per property name or item index the schema names, plus one for all other keys or items. States
already seen are not expanded again, so recursive schemas end as soon as their state repeats. A schema that
applies more than `MAX_APPLICATIONS` subschemas at one location is refused. The report also gives, for the
run-time checks in schema_check.py, the most applications and the largest regular-expression weight at any
one location.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import Problem

#: most subschema applications the schema may make at one location of the input
MAX_APPLICATIONS = 1000
#: most node visits the level-by-level simulation may spend before the schema is refused as too complex
MAX_ANALYSIS_STEPS = 200_000

Loc = tuple[str | int, ...]

_REFS = ("$ref", "$dynamicRef", "$recursiveRef")
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAP = ("dependentSchemas", "dependencies")
_DEFINITIONS = ("$defs", "definitions")
#: descending keywords whose subschema applies to every child of the location (key, item or property name)
_EVERY = {"patternProperties": "key", "unevaluatedProperties": "key", "propertyNames": "name"}
_EVERY_ITEM = ("contains", "unevaluatedItems")
#: descending keywords whose subschema applies to the children not named by `properties` / `prefixItems`
_REST = {"additionalProperties": "key", "additionalItems": "item"}


@dataclass
class _Node:
    """One schema object: what it applies in place and at child locations."""

    loc: Loc
    resource: Loc  # the schema resource (`$id`) it belongs to: where its `#...` references resolve
    in_place: list[tuple[int, Loc]] = field(
        default_factory=list
    )  # (target, loc of the keyword that names it)
    named: dict[tuple[str, str | int], list[int]] = field(default_factory=dict)  # ("key", k) / ("item", i)
    rest: dict[str, list[int]] = field(default_factory=dict)  # family -> targets for children not named
    every: dict[str, list[int]] = field(default_factory=dict)  # family -> targets for every child
    weight: int = 0  # regular-expression weight applied at this location (see schema_check)


@dataclass(frozen=True)
class GraphReport:
    problems: list[Problem]
    #: most subschema applications at one input location
    applications: int
    #: largest regular-expression weight applied at one input location (times its text is matched)
    pattern_weight: int
    #: whether any subschema uses anyOf/oneOf (their errors carry the errors of every alternative)
    has_alternatives: bool


def analyze(schema: dict[str, Any], pattern_weight: Callable[[str], int]) -> GraphReport:
    """Loops, fan-out and per-location weights of `schema` (a JSON object that passed the other checks).

    `pattern_weight(p)` is the cost weight of matching one character against the regular expression `p`.
    """
    graph = _Graph(schema, pattern_weight)
    loops = graph.find_loops()
    if loops:
        return GraphReport(loops, 0, 0, graph.has_alternatives)
    problems, applications, weight = graph.simulate()
    return GraphReport(problems, applications, weight, graph.has_alternatives)


def pointer(loc: Loc) -> str:
    """A JSON pointer fragment for `loc`: `('$defs', 'a')` -> `#/$defs/a`."""
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


class _Graph:
    def __init__(self, schema: dict[str, Any], pattern_weight: Callable[[str], int]) -> None:
        self.schema = schema
        self.pattern_weight = pattern_weight
        self.nodes: list[_Node] = []
        self.by_loc: dict[Loc, int] = {}
        self.anchors: dict[tuple[Loc, str], list[int]] = {}
        self.dynamic_anchors: dict[str, list[int]] = {}
        self.has_alternatives = False
        draft4 = str(schema.get("$schema", "")).rstrip("#").endswith("draft-04/schema")
        self.id_keys = ("$id", "id") if draft4 else ("$id",)
        self._collect()
        self._link()

    # -- building -------------------------------------------------------------------------------------------

    def _collect(self) -> None:
        """Create a node for every schema object, with its resource and anchors."""
        stack: list[tuple[Any, Loc, Loc]] = [(self.schema, (), ())]
        while stack:
            value, loc, resource = stack.pop()
            if not isinstance(value, dict):
                continue
            for key in self.id_keys:
                ident = value.get(key)
                if isinstance(ident, str) and ident and not ident.startswith("#"):
                    resource = loc
                elif isinstance(ident, str) and ident.startswith("#") and len(ident) > 1:
                    self.anchors.setdefault((resource, ident[1:]), []).append(len(self.nodes))
            for key in ("$anchor", "$dynamicAnchor"):
                name = value.get(key)
                if isinstance(name, str):
                    self.anchors.setdefault((resource, name), []).append(len(self.nodes))
                    if key == "$dynamicAnchor":
                        self.dynamic_anchors.setdefault(name, []).append(len(self.nodes))
            self.by_loc[loc] = len(self.nodes)
            self.nodes.append(_Node(loc, resource))
            for child_loc, child in _subschemas(value, loc):
                stack.append((child, child_loc, resource))

    def _link(self) -> None:
        for node in self.nodes:
            value = self._value(node.loc)
            for key, loc in _in_place_children(value, node.loc):
                target = self.by_loc.get(loc)
                if target is not None:
                    node.in_place.append((target, loc))
                if key in _IN_PLACE_LIST:
                    self.has_alternatives = self.has_alternatives or key != "allOf"
            for key in _REFS:
                ref = value.get(key)
                if isinstance(ref, str) and ref.startswith("#"):
                    node.in_place.extend((t, (*node.loc, key)) for t in self._resolve(node, key, ref))
            self._link_descending(node, value)
            node.weight = self._weight(value)

    def _link_descending(self, node: _Node, value: dict[str, Any]) -> None:
        def targets(loc: Loc) -> list[int]:
            found = self.by_loc.get(loc)
            return [] if found is None else [found]

        for name in _dict(value.get("properties")):
            node.named.setdefault(("key", name), []).extend(targets((*node.loc, "properties", name)))
        prefix_key = "prefixItems" if isinstance(value.get("prefixItems"), list) else "items"
        for i, _ in enumerate(_list(value.get(prefix_key))):
            node.named.setdefault(("item", i), []).extend(targets((*node.loc, prefix_key, i)))
        if isinstance(value.get("items"), dict):
            node.rest.setdefault("item", []).extend(targets((*node.loc, "items")))
        for key, family in _REST.items():
            node.rest.setdefault(family, []).extend(targets((*node.loc, key)))
        for key, family in _EVERY.items():
            if key == "patternProperties":
                for pattern in _dict(value.get(key)):
                    node.every.setdefault(family, []).extend(targets((*node.loc, key, pattern)))
            else:
                node.every.setdefault(family, []).extend(targets((*node.loc, key)))
        for key in _EVERY_ITEM:
            node.every.setdefault("item", []).extend(targets((*node.loc, key)))

    def _weight(self, value: dict[str, Any]) -> int:
        weight = 0
        if isinstance(value.get("pattern"), str):
            weight += self.pattern_weight(value["pattern"])
        for pattern in _dict(value.get("patternProperties")):
            weight += 2 * self.pattern_weight(
                pattern
            )  # property names meet these twice (additionalProperties)
        return weight

    def _value(self, loc: Loc) -> Any:
        value: Any = self.schema
        for part in loc:
            value = value[part]
        return value

    def _resolve(self, node: _Node, key: str, ref: str) -> list[int]:
        """Static targets of a local reference (a dynamic one: every anchor it could reach)."""
        fragment = ref[1:]
        if key == "$recursiveRef" or fragment == "":
            roots = {node.resource, ()}
            return [self.by_loc[r] for r in roots if r in self.by_loc]
        if fragment.startswith("/"):
            loc = self._pointer_loc(node.resource, fragment)
            target = None if loc is None else self.by_loc.get(loc)
            return [] if target is None else [target]
        found = dict.fromkeys(self.anchors.get((node.resource, fragment), []))
        if key == "$dynamicRef":
            found.update(dict.fromkeys(self.dynamic_anchors.get(fragment, [])))
        return list(found)

    def _pointer_loc(self, base: Loc, fragment: str) -> Loc | None:
        value: Any = self._value(base)
        loc = list(base)
        for raw in fragment.split("/")[1:]:
            part = _unescape(raw)
            if isinstance(value, dict) and part in value:
                value = value[part]
                loc.append(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
                loc.append(int(part))
            else:
                return None
        return tuple(loc)

    # -- loops ----------------------------------------------------------------------------------------------

    def find_loops(self) -> list[Problem]:
        """One problem per in-place edge that closes a loop, at the keyword that names the loop's target."""
        problems: list[Problem] = []
        state = [0] * len(self.nodes)  # 0 new, 1 on the current path, 2 done
        self.order: list[int] = []  # post-order: every node after all it applies in place
        for start in range(len(self.nodes)):
            if state[start]:
                continue
            path: list[int] = [start]
            state[start] = 1
            iters: list[Iterator[tuple[int, Loc]]] = [iter(self.nodes[start].in_place)]
            while iters:
                step = next(iters[-1], None)
                if step is None:
                    iters.pop()
                    done = path.pop()
                    state[done] = 2
                    self.order.append(done)
                    continue
                target, via = step
                if state[target] == 1:
                    cycle = path[path.index(target) :] + [target]
                    chain = " -> ".join(pointer(self.nodes[n].loc) for n in cycle)
                    problems.append(
                        Problem(
                            via,
                            f"This reference loops back without descending into the input ({chain}), so "
                            "validation would never end",
                        )
                    )
                elif state[target] == 0:
                    state[target] = 1
                    path.append(target)
                    iters.append(iter(self.nodes[target].in_place))
        return problems

    # -- fan-out --------------------------------------------------------------------------------------------

    def simulate(self) -> tuple[list[Problem], int, int]:
        """Explore the symbolic input: (problems, most applications, largest pattern weight) per location."""
        summaries, problem = self._summaries()
        if problem is not None:
            return [problem], MAX_APPLICATIONS + 1, 0
        pending: list[dict[int, int]] = [{0: 1}]
        seen: set[frozenset[tuple[int, int]]] = set()
        shared: dict[tuple[int, int], list[dict[int, int]]] = {}  # children of summaries shared by wrappers
        most = weight = steps = 0
        while pending:
            entries = pending.pop()
            key = frozenset(entries.items())
            if key in seen:
                continue
            seen.add(key)
            total = sum(c * summaries[n].total for n, c in entries.items())
            most = max(most, total)
            weight = max(weight, sum(c * summaries[n].weight for n, c in entries.items()))
            if total > MAX_APPLICATIONS:
                busiest = max(entries, key=lambda n: entries[n] * summaries[n].total)
                return [self._entered_problem(busiest, entries[busiest])], most, weight
            single = summaries[next(iter(entries))] if len(entries) == 1 and 1 in entries.values() else None
            key_ids = (id(single.others), id(single.named)) if single is not None else None
            if key_ids is not None and key_ids in shared:
                children = shared[key_ids]
            else:
                children, cost = _children(entries, summaries)
                steps += cost
                if key_ids is not None:
                    shared[key_ids] = children
            if steps > MAX_ANALYSIS_STEPS:
                return [_too_complex()], most, weight
            pending.extend(children)
        return [], most, weight

    def _summaries(self) -> tuple[list[_Summary], Problem | None]:
        """What entering each node once applies at its location, computed bottom-up over the in-place DAG."""
        summaries: list[_Summary] = [_EMPTY] * len(self.nodes)
        steps = 0
        for n in self.order:  # every node after the nodes it applies in place
            node = self.nodes[n]
            targets = [summaries[t] for t, _ in node.in_place]
            own = _own_summary(node)
            if len(targets) == 1 and own.is_plain():  # a wrapper (`{"$ref": ...}`): share, do not copy
                only = targets[0]
                summary = _Summary(_cap(1 + only.total), only.weight, only.others, only.named)
            else:
                summary = own
                for target in targets:
                    steps += summary.merge(target)
            summaries[n] = summary
            if summary.total > MAX_APPLICATIONS and all(t.total <= MAX_APPLICATIONS for t in targets):
                return summaries, self._fan_out_problem(n, summary.total)
            if steps > MAX_ANALYSIS_STEPS:
                return summaries, _too_complex()
        return summaries, None

    def _fan_out_problem(self, node: int, total: int) -> Problem:
        return Problem(
            self.nodes[node].loc,
            f"The input schema applies more than {MAX_APPLICATIONS:,} subschemas at one location of the "
            "input (this subschema alone does): references repeated in allOf/anyOf/oneOf multiply",
        )

    def _entered_problem(self, node: int, count: int) -> Problem:
        times = f"more than {MAX_APPLICATIONS:,}" if count > MAX_APPLICATIONS else f"{count:,}"
        return Problem(
            self.nodes[node].loc,
            f"The input schema applies more than {MAX_APPLICATIONS:,} subschemas at one location of the "
            f"input (this subschema is entered there {times} times): recursion that enters the same "
            "subschema more than once per level of the input multiplies",
        )


#: the child families: property values, array items, property names
_FAMILIES = ("key", "item", "name")


@dataclass
class _Summary:
    """What entering a node once applies at its location: `total` applications, the pattern `weight`, and
    the nodes entered at its children: `others` (at a child that no `properties`/`prefixItems` names) and
    `named` (the difference at a named child: its own subschemas instead of the node's rest)."""

    total: int = 1
    weight: int = 0
    others: dict[str, dict[int, int]] = field(default_factory=dict)
    named: dict[str, dict[str | int, dict[int, int]]] = field(default_factory=dict)

    def is_plain(self) -> bool:
        return not self.weight and not self.others and not self.named

    def merge(self, other: _Summary, times: int = 1) -> int:
        """Add `times` x `other` into this (fresh) summary; return the work done."""
        self.total = _cap(self.total + times * other.total)
        self.weight = min(self.weight + times * other.weight, _WEIGHT_CAP)
        work = 1
        for family, counts in other.others.items():
            work += _add(self.others.setdefault(family, {}), counts, times)
        for family, names in other.named.items():
            mine = self.named.setdefault(family, {})
            for name, counts in names.items():
                work += _add(mine.setdefault(name, {}), counts, times)
        return work


_EMPTY = _Summary()
_WEIGHT_CAP = 1 << 62


def _cap(count: int) -> int:
    """Counts saturate just past the limit: only "more than MAX_APPLICATIONS" matters."""
    return min(count, MAX_APPLICATIONS + 1)


def _add(into: dict[int, int], counts: dict[int, int], times: int) -> int:
    for target, count in counts.items():
        into[target] = max(
            min(into.get(target, 0) + times * count, MAX_APPLICATIONS + 1), -MAX_APPLICATIONS - 1
        )
    return len(counts)


def _own_summary(node: _Node) -> _Summary:
    """A node's own part: itself, its pattern weight and its descending keywords."""
    summary = _Summary(1, node.weight)
    for family in _FAMILIES:
        rest = node.rest.get(family, [])
        others: dict[int, int] = {}
        for t in (*rest, *node.every.get(family, [])):
            others[t] = others.get(t, 0) + 1
        if others:
            summary.others[family] = others
    for (family, name), targets in node.named.items():
        delta: dict[int, int] = {}
        for t in targets:
            delta[t] = delta.get(t, 0) + 1
        for t in node.rest.get(family, []):  # a named child is not one of the rest
            delta[t] = delta.get(t, 0) - 1
        summary.named.setdefault(family, {})[name] = delta
    return summary


def _children(entries: dict[int, int], summaries: list[_Summary]) -> tuple[list[dict[int, int]], int]:
    """The nodes entered at each child location of a location entered with `entries`: one child per named
    key or index, one for all the others. Returns the children and the work done."""
    combined = _Summary(0)
    work = 0
    for n, c in entries.items():
        work += combined.merge(summaries[n], c)
    children: list[dict[int, int]] = []
    for family in _FAMILIES:
        others = combined.others.get(family, {})
        for delta in (None, *combined.named.get(family, {}).values()):
            child = dict(others)
            for t, d in (delta or {}).items():
                child[t] = child.get(t, 0) + d
            child = {t: c for t, c in child.items() if c > 0}
            work += len(child)
            if child:
                children.append(child)
    return children, work


def _too_complex() -> Problem:
    return Problem((), "The input schema is too complex to check (too many subschemas)")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unescape(part: str) -> str:
    from urllib.parse import unquote

    return unquote(part).replace("~1", "/").replace("~0", "~")


def _in_place_children(value: dict[str, Any], loc: Loc) -> Iterator[tuple[str, Loc]]:
    for key in _IN_PLACE_ONE:
        if isinstance(value.get(key), dict):
            yield key, (*loc, key)
    for key in _IN_PLACE_LIST:
        for i, sub in enumerate(_list(value.get(key))):
            if isinstance(sub, dict):
                yield key, (*loc, key, i)
    for key in _IN_PLACE_MAP:
        for name, sub in _dict(value.get(key)).items():
            if isinstance(sub, dict):
                yield key, (*loc, key, name)


def _subschemas(value: dict[str, Any], loc: Loc) -> Iterator[tuple[Loc, Any]]:
    """Every subschema position of a schema object (in place, descending and definitions)."""
    for key, sub in value.items():
        if key in _IN_PLACE_ONE or key in _REST or key in _EVERY_ITEM or key in ("items", "propertyNames"):
            if isinstance(sub, dict):
                yield (*loc, key), sub
            elif key == "items" and isinstance(sub, list):
                yield from (((*loc, key, i), s) for i, s in enumerate(sub))
        elif key in ("unevaluatedProperties", "contentSchema"):
            if isinstance(sub, dict):
                yield (*loc, key), sub
        elif key in _IN_PLACE_LIST or key == "prefixItems":
            yield from (((*loc, key, i), s) for i, s in enumerate(_list(sub)))
        elif key in (*_IN_PLACE_MAP, *_DEFINITIONS, "properties", "patternProperties"):
            yield from (((*loc, key, name), s) for name, s in _dict(sub).items())
