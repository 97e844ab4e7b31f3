"""The state machine of a flow drawn in the terminal, as an indented tree from `StartAt`: each state shows its
type and, below it, its transitions labelled `Next`, `Choice [n]`, `Default`, `Catch [errors]`. A state
reached again is shown as a reference (`↺ Name`). With `marks` (from a run's log), states are coloured by
what the run did: done (green), running (yellow), failed (red), not reached (dim).

`to_dot` writes the same graph as Graphviz DOT (`--dot`), for a picture: `dot -Tsvg`. Its back edges (loops)
are those of the dashboard's layout (`ui/static/graph.js`: a depth-first walk from `StartAt`, edges in
definition order), written reversed with `dir=back`, so Graphviz ranks the states as the dashboard does.
"""

from __future__ import annotations

from typing import Any

#: mark -> (symbol, rich style)
MARKS = {
    "done": ("✓", "green"),
    "running": ("…", "yellow"),
    "failed": ("✗", "red"),
    "not reached": ("·", "dim"),
}


def transitions(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, target) for every way out of a state, in definition order."""
    edges: list[tuple[str, str]] = []
    for index, choice in enumerate(state.get("Choices") or []):
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            edges.append((f"Choice {index + 1}: {describe_rule(choice)}", choice["Next"]))
    if isinstance(state.get("Default"), str):
        edges.append(("Default", state["Default"]))
    if isinstance(state.get("Next"), str):
        edges.append(("Next", state["Next"]))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            errors = ", ".join(str(e) for e in catcher.get("ErrorEquals") or [])
            edges.append((f"Catch [{errors}]", catcher["Next"]))
    return edges


def describe_rule(rule: dict[str, Any]) -> str:
    """A short text for a Choice rule: `$.x NumericGreaterThan 3`, `And(...)`."""
    for combinator in ("And", "Or"):
        if isinstance(rule.get(combinator), list):
            inner = f" {combinator.lower()} ".join(
                describe_rule(r) for r in rule[combinator] if isinstance(r, dict)
            )
            return f"({inner})"
    if isinstance(rule.get("Not"), dict):
        return f"not {describe_rule(rule['Not'])}"
    for key, value in rule.items():
        if key not in ("Variable", "Next", "Comment"):
            return f"{rule.get('Variable', '?')} {key} {value!r}"
    return str(rule.get("Variable", "?"))


def state_marks(entries: list[dict[str, Any]], status: str) -> dict[str, str]:
    """What a run did to each state, from its log: done, running or failed (absent = not reached)."""
    marks: dict[str, str] = {}
    for entry in entries:
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        name = details.get("state_name")
        code = str(entry.get("code") or "")
        if not isinstance(name, str):
            continue
        if code == "FlowFailed" or code == "ActionFailed" or code == "ExceptionCaught":
            marks[name] = "failed"
        elif code.endswith("Completed"):
            marks[name] = "done"
        elif code.endswith("Started") and code != "FlowStarted":
            marks[name] = "running"
    if status in ("SUCCEEDED", "FAILED", "ENDED"):
        marks = {
            name: ("failed" if mark == "running" and status != "SUCCEEDED" else mark)
            for name, mark in marks.items()
        }
    return marks


def build_tree(
    definition: dict[str, Any], marks: dict[str, str] | None = None, title: str | None = None
) -> Any:
    """A `rich.tree.Tree` of the definition; the sub-machines of Map and Parallel states are drawn nested
    under their state ("each item ⤵", "branch i ⤵")."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(Text(f"{title or 'Flow'}  StartAt → {definition.get('StartAt')}", style="bold"))
    _grow_machine(root, definition, marks)
    return root


def _grow_machine(root: Any, definition: dict[str, Any], marks: dict[str, str] | None) -> None:
    from rich.text import Text

    from ..language.nested import sub_machines

    states = definition.get("States") if isinstance(definition.get("States"), dict) else {}
    start = definition.get("StartAt")

    def label(name: str) -> Text:
        state = states.get(name) if isinstance(states.get(name), dict) else {}
        kind = str(state.get("Type") or "?")
        ending = " [End]" if state.get("End") is True or kind in ("Succeed", "Fail") else ""
        text = Text()
        if marks is not None:
            symbol, style = MARKS[marks.get(name, "not reached")]
            text.append(f"{symbol} {name}", style=style)
        else:
            text.append(name, style="bold")
        text.append(f" ({kind}){ending}", style="dim" if marks is not None else "")
        return text

    shown: set[str] = set()

    def grow(node: Any, name: str) -> None:
        if name in shown:
            node.add(Text(f"↺ {name}", style="dim"))
            return
        shown.add(name)
        if name not in states:
            node.add(Text(f"? {name} (no such state)", style="red"))
            return
        branch = node.add(label(name))
        for where, machine in sub_machines(states[name]):
            what = f"branch {where[1]}" if where[0] == "Branches" else "each item"
            inner = branch.add(Text(f"{what} ⤵  StartAt → {machine.get('StartAt')}", style="magenta"))
            _grow_machine(inner, machine, marks)
        for edge, target in transitions(states[name]):
            sub = branch.add(Text(f"{edge} →", style="cyan"))
            grow(sub, target)

    if isinstance(start, str):
        grow(root, start)
    for name in states:
        if name not in shown:  # unreachable states are drawn too
            grow(root.add(Text("(unreachable)", style="dim")), name)


def print_graph(
    definition: dict[str, Any],
    *,
    marks: dict[str, str] | None = None,
    title: str | None = None,
    console: Any = None,
) -> None:
    from .output import make_console

    console = console or make_console()
    console.print(build_tree(definition, marks, title))
    if marks is not None:
        from rich.text import Text

        legend = Text("  ")
        for mark, (symbol, style) in MARKS.items():
            legend.append(f"{symbol} {mark}   ", style=style)
        console.print(legend)


#: mark -> DOT node attributes (the dashboard's colours)
DOT_MARKS = {
    "done": 'color="#1a7f37", fillcolor="#dafbe1"',
    "running": 'color="#0969da", fillcolor="#ddf4ff"',
    "failed": 'color="#cf222e", fillcolor="#ffebe9"',
    "not reached": 'color="#8c959f", fontcolor="#8c959f", style="rounded,dashed"',
}
#: edge kind -> DOT edge attributes
DOT_EDGES = {
    "next": "",
    "choice": 'color="#0550ae", fontcolor="#0550ae"',
    "catch": 'color="#cf222e", fontcolor="#cf222e", style=dashed',
}


def graph_edges(definition: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(from, to, label, kind) of every transition to an existing state, states in definition order and
    each state's edges in `transitions` order (as the dashboard's `flowEdges`)."""
    states = definition.get("States") if isinstance(definition.get("States"), dict) else {}
    edges = []
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        for label, target in transitions(state):
            if target in states:
                kind = "catch" if label.startswith("Catch") else "next" if label == "Next" else "choice"
                edges.append((name, target, "" if label == "Next" else label, kind))
    return edges


def back_edges(definition: dict[str, Any], edges: list[tuple[str, str, str, str]]) -> set[int]:
    """Indexes of the edges reaching a state still on the path of a depth-first walk from `StartAt` (then
    from each state not reached yet, in definition order): the loops. Same rule as graph.js `backEdges`."""
    states = definition.get("States") if isinstance(definition.get("States"), dict) else {}
    out: dict[str, list[int]] = {name: [] for name in states}
    for index, (source, *_) in enumerate(edges):
        out[source].append(index)
    seen: set[str] = set()
    on_path: set[str] = set()
    back: set[int] = set()

    def walk(start: str) -> None:  # iterative: a long chain of states must not hit the recursion limit
        stack = [(start, iter(out[start]))]
        seen.add(start)
        on_path.add(start)
        while stack:
            name, pending = stack[-1]
            index = next(pending, None)
            if index is None:
                on_path.discard(name)
                stack.pop()
                continue
            target = edges[index][1]
            if target in on_path:
                back.add(index)
            elif target not in seen:
                seen.add(target)
                on_path.add(target)
                stack.append((target, iter(out[target])))

    start = definition.get("StartAt")
    if isinstance(start, str) and start in out:
        walk(start)
    for name in states:
        if name not in seen:
            walk(name)
    return back


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


#: deepest Map/Parallel nesting drawn as clusters (deeper sub-machines are drawn as their state only)
MAX_DOT_NESTING = 10  # levels


def sub_machines(state: Any) -> list[tuple[str, dict[str, Any]]]:
    """The sub-machines of a Map (`ItemProcessor`, or the older `Iterator`) or Parallel (`Branches`) state,
    each with its label: `("each item", machine)` or `("branch 0", machine)` ... (numbered from 0, as
    the terminal tree and the iterations API number them); [] for other states."""
    if not isinstance(state, dict):
        return []
    if state.get("Type") == "Map":
        machine = state.get("ItemProcessor") or state.get("Iterator")
        return [("each item", machine)] if isinstance(machine, dict) else []
    if state.get("Type") == "Parallel" and isinstance(state.get("Branches"), list):
        return [
            (f"branch {number}", machine)
            for number, machine in enumerate(state["Branches"])
            if isinstance(machine, dict)
        ]
    return []


def to_dot(
    definition: dict[str, Any], *, marks: dict[str, str] | None = None, title: str | None = None
) -> str:
    """The flow as a Graphviz DOT digraph: a box per state (name and type; the start state bold), an edge
    per transition (choices blue, catches red and dashed, labelled), states filled by `marks` if given.
    The sub-machines of Map and Parallel states are drawn nested, each in a cluster under its state (an
    edge from the state to the sub-machine's first state, labelled "each item" or "branch N"); their
    states are named by path (`Fan/Shape`, `Both[1]/Left`) and not filled by `marks`, which name the top
    level's states."""
    lines = [
        f"digraph {_quote(title or 'Flow')} {{",
        '  graph [rankdir=TB, nodesep=0.5, ranksep=0.6, fontname="Helvetica"];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=12];',
        '  edge [fontname="Helvetica", fontsize=10, color="#57606a"];',
    ]
    _dot_machine(lines, definition, prefix="", marks=marks, indent="  ", depth=0)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_machine(
    lines: list[str],
    machine: dict[str, Any],
    *,
    prefix: str,
    marks: dict[str, str] | None,
    indent: str,
    depth: int,
) -> None:
    """Append one (sub-)machine's nodes, clusters and edges; node ids are `prefix` + state name."""
    states = machine.get("States") if isinstance(machine.get("States"), dict) else {}
    edges = graph_edges(machine)
    back = back_edges(machine, edges)
    for name, state in states.items():
        node = prefix + name
        kind = str(state.get("Type") or "?") if isinstance(state, dict) else "?"
        attrs = ["label=" + _quote(name + "\n" + kind)]
        if name == machine.get("StartAt"):
            attrs.append("penwidth=2.5")
        if marks is not None and not prefix:
            attrs.append(DOT_MARKS[marks.get(name, "not reached")])
        lines.append(f"{indent}{_quote(node)} [{', '.join(attrs)}];")
        subs = sub_machines(state) if depth < MAX_DOT_NESTING else []
        for number, (label, sub) in enumerate(subs):
            inner = f"{node}/" if len(subs) == 1 and kind == "Map" else f"{node}[{number}]/"
            lines.append(f"{indent}subgraph {_quote('cluster_' + inner)} {{")
            caption = f"{name} ({kind})" if kind == "Map" else f"{name}: {label}"
            lines.append(
                f'{indent}  graph [label={_quote(caption)}, style="rounded,dashed", color="#8c959f", '
                "fontsize=11, labeljust=l];"
            )
            _dot_machine(lines, sub, prefix=inner, marks=marks, indent=indent + "  ", depth=depth + 1)
            lines.append(f"{indent}}}")
            start = sub.get("StartAt")
            if isinstance(start, str) and start in (sub.get("States") or {}):
                lines.append(
                    f"{indent}{_quote(node)} -> {_quote(inner + start)} "
                    f'[style=dotted, color="#8c959f", label={_quote(" " + label)}];'
                )
    for index, (source, target, label, kind) in enumerate(edges):
        attrs = [a for a in (DOT_EDGES[kind], "label=" + _quote(" " + label) if label else "") if a]
        if index in back:  # written target -> source, drawn back: Graphviz sees no cycle, as ELK does
            attrs.append("dir=back")
            source, target = target, source
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"{indent}{_quote(prefix + source)} -> {_quote(prefix + target)}{suffix};")
