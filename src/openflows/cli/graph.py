"""The state machine of a flow drawn in the terminal, as an indented tree from `StartAt`: each state shows its
type and, below it, its transitions labelled `Next`, `Choice [n]`, `Default`, `Catch [errors]`. A state
reached again is shown as a reference (`↺ Name`). With `marks` (from a run's log), states are coloured by
what the run did: done (green), running (yellow), failed (red), not reached (dim).
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
    """A `rich.tree.Tree` of the definition."""
    from rich.text import Text
    from rich.tree import Tree

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

    root = Tree(Text(f"{title or 'Flow'}  StartAt → {start}", style="bold"))
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
        for edge, target in transitions(states[name]):
            sub = branch.add(Text(f"{edge} →", style="cyan"))
            grow(sub, target)

    if isinstance(start, str):
        grow(root, start)
    for name in states:
        if name not in shown:  # unreachable states are drawn too
            grow(root.add(Text("(unreachable)", style="dim")), name)
    return root


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
