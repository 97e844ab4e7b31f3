"""Map and Parallel: the two state types that hold sub-machines (OpenFlows extensions, issue 19).

Their fields follow the Amazon States Language:

- `Parallel`: `Branches` (a non-empty array of complete sub-machines, each
  `{"StartAt", "States", "Comment"}`), `Parameters`, `InputPath`, `ResultPath`, `Retry`, `Catch`,
  `Next` / `End`.
- `Map`: `ItemProcessor` (or the older `Iterator`: a sub-machine; `ItemProcessor` may also hold
  `ProcessorConfig`), `ItemsPath`, `ItemSelector` (or the older `Parameters`), `MaxConcurrency`
  (0 = no limit), `ToleratedFailureCount` / `ToleratedFailurePercentage`, `InputPath`, `ResultPath`,
  `Retry`, `Catch`, `Next` / `End`.

A sub-machine is validated by the same checker as a whole definition, and its problems are located inside
the state: `("States", "Fan", "Iterator", "States", "X", "Next")`. States of a sub-machine move only to states
of the same sub-machine. State names are unique in the whole definition, sub-machines included (as in the
Amazon States Language): the run log, the dashboard and action request ids name a state by its name alone.

This module holds the validation rules; the checker itself (`validation._Checker`) calls `check_map` and
`check_parallel` and hands itself in, so nothing here imports `validation`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .model import Problem

Loc = tuple[str | int, ...]

#: the state types that hold sub-machines
NESTED_TYPES = ("Map", "Parallel")

#: fields allowed on each nested state type (besides Type and Comment)
NESTED_FIELDS: dict[str, tuple[str, ...]] = {
    "Parallel": ("Branches", "Parameters", "InputPath", "ResultPath", "Retry", "Catch", "Next", "End"),
    "Map": (
        "ItemProcessor",
        "Iterator",
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "MaxConcurrency",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "InputPath",
        "ResultPath",
        "Retry",
        "Catch",
        "Next",
        "End",
    ),
}

#: Amazon States Language fields of Map (Distributed mode) that OpenFlows does not have, with the reason
NESTED_UNSUPPORTED_FIELDS = {
    "ItemReader": "OpenFlows has no ItemReader; a Map reads its items from the array at 'ItemsPath'",
    "ItemBatcher": "OpenFlows has no ItemBatcher; group items beforehand (an ExpressionEval state) if needed",
    "ResultWriter": "OpenFlows has no ResultWriter; a Map's results are gathered at 'ResultPath'",
    "MaxConcurrencyPath": "OpenFlows has no MaxConcurrencyPath; give 'MaxConcurrency' as a number",
    "ToleratedFailureCountPath": "OpenFlows has no ToleratedFailureCountPath; give 'ToleratedFailureCount'",
    "ToleratedFailurePercentagePath": "OpenFlows has no ToleratedFailurePercentagePath; give "
    "'ToleratedFailurePercentage'",
    "Label": "OpenFlows has no Map 'Label'; the run log names each iteration by its item index",
}

#: fields of a sub-machine (besides StartAt, States and Comment)
PROCESSOR_FIELDS = ("ProcessorConfig",)
PROCESSOR_CONFIG_FIELDS = ("Mode", "ExecutionType")
PROCESSOR_MODES = ("INLINE", "DISTRIBUTED")
EXECUTION_TYPES = ("STANDARD", "EXPRESS")


def sub_machines(state: Any) -> list[tuple[Loc, Any]]:
    """The sub-machines of a (possibly malformed) state, each with its location relative to the state:
    `(("Iterator",), {...})`, `(("ItemProcessor",), {...})`, `(("Branches", 0), {...})`...
    Read leniently."""
    if not isinstance(state, dict) or state.get("Type") not in NESTED_TYPES:
        return []
    found: list[tuple[Loc, Any]] = []
    if state["Type"] == "Map":
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                found.append(((key,), state[key]))
    else:
        branches = state.get("Branches")
        if isinstance(branches, list):
            found.extend((("Branches", i), b) for i, b in enumerate(branches) if isinstance(b, dict))
    return found


def iter_states(definition: Any) -> Iterator[tuple[Loc, str, Any]]:
    """Every state of a (possibly malformed) definition, sub-machines included, depth first, as
    `(loc, name, state)` with `loc` the state's location (`("States", "Fan", "Iterator", "States", "X")`)."""
    stack: list[tuple[Loc, Any]] = [((), definition)]
    while stack:
        prefix, machine = stack.pop()
        states = machine.get("States") if isinstance(machine, dict) else None
        if not isinstance(states, dict):
            continue
        inner: list[tuple[Loc, Any]] = []
        for name, state in states.items():
            loc = (*prefix, "States", name)
            yield loc, name, state
            inner.extend(((*loc, *sub_loc), sub) for sub_loc, sub in sub_machines(state))
        stack.extend(reversed(inner))


def all_states(definition: Any) -> dict[str, Any]:
    """State name -> state over the whole definition, sub-machines included (names are unique in a valid
    definition; in an invalid one the first wins). Read leniently: `{}` for anything without 'States'."""
    found: dict[str, Any] = {}
    for _, name, state in iter_states(definition):
        found.setdefault(str(name), state)
    return found


def has_nested_states(definition: Any) -> bool:
    """Whether any state of the definition is a Map or a Parallel."""
    return any(
        isinstance(state, dict) and state.get("Type") in NESTED_TYPES
        for _, _, state in iter_states(definition)
    )


# -- validation -------------------------------------------------------------------------------------------


def check_map(checker: Any, state: dict, loc: Loc) -> None:
    """The rules of a Map state (the checker has already checked its field names, Comment and Type)."""
    checker.check_io(state, loc)
    has_processor, has_iterator = "ItemProcessor" in state, "Iterator" in state
    if has_processor and has_iterator:
        checker.add(
            (*loc, "Iterator"), "Use either 'ItemProcessor' or the older 'Iterator', not both", "value_error"
        )
    elif not has_processor and not has_iterator:
        checker.add(
            (*loc, "ItemProcessor"),
            "A Map state needs 'ItemProcessor' (or the older 'Iterator'): the sub-machine each item runs "
            "through",
            "missing",
        )
    for key in ("ItemProcessor", "Iterator"):
        if key in state:
            check_sub_machine(checker, state[key], (*loc, key), key, processor=key == "ItemProcessor")
    if "ItemSelector" in state and "Parameters" in state:
        checker.add(
            (*loc, "Parameters"),
            "Use either 'ItemSelector' or the older 'Parameters', not both",
            "value_error",
        )
    if "ItemSelector" in state and checker.expect(
        state["ItemSelector"], (*loc, "ItemSelector"), "ItemSelector", dict, "an object"
    ):
        checker.check_parameters(state["ItemSelector"], (*loc, "ItemSelector"))
    if "ItemsPath" in state:
        checker.check_path(state["ItemsPath"], (*loc, "ItemsPath"), "ItemsPath")
    if "MaxConcurrency" in state:
        checker.check_int(state["MaxConcurrency"], (*loc, "MaxConcurrency"), "MaxConcurrency", 0, None)
    if "ToleratedFailureCount" in state:
        field = "ToleratedFailureCount"
        checker.check_int(state[field], (*loc, field), field, 0, None)
    if "ToleratedFailurePercentage" in state:
        value = state["ToleratedFailurePercentage"]
        ploc = (*loc, "ToleratedFailurePercentage")
        if not isinstance(value, int | float) or isinstance(value, bool):
            checker.expect(value, ploc, "ToleratedFailurePercentage", (int, float), "a number")
        elif not 0 <= value <= 100:
            checker.add(ploc, f"'ToleratedFailurePercentage' must be between 0 and 100, not {value}")
    _check_error_handling(checker, state, loc)


def check_parallel(checker: Any, state: dict, loc: Loc) -> None:
    """The rules of a Parallel state (the checker has already checked its field names, Comment and Type)."""
    checker.check_io(state, loc)
    bloc = (*loc, "Branches")
    if "Branches" not in state:
        checker.add(bloc, "A Parallel state needs 'Branches', a non-empty array of sub-machines", "missing")
    elif checker.expect(state["Branches"], bloc, "Branches", list, "an array of sub-machines"):
        if not state["Branches"]:
            checker.add(bloc, "'Branches' must contain at least one sub-machine")
        for i, branch in enumerate(state["Branches"]):
            check_sub_machine(checker, branch, (*bloc, i), f"Branches[{i}]", processor=False)
    _check_error_handling(checker, state, loc)


def _check_error_handling(checker: Any, state: dict, loc: Loc) -> None:
    if "Catch" in state:
        checker.check_catch(state["Catch"], (*loc, "Catch"))
    if "Retry" in state:
        checker.check_retry(state["Retry"], (*loc, "Retry"))


def check_sub_machine(checker: Any, machine: object, loc: Loc, what: str, *, processor: bool) -> None:
    """Validate a sub-machine with a fresh checker of the same kind and limits, and report its problems at
    `loc` inside the enclosing definition. Names are registered in the definition-wide registry first, so a
    name used twice anywhere is reported once, where it is used again."""
    if not isinstance(machine, dict):
        checker.expect(machine, loc, what, dict, "a sub-machine object with 'StartAt' and 'States'")
        return
    body = dict(machine)
    if processor and "ProcessorConfig" in body:
        _check_processor_config(checker, body.pop("ProcessorConfig"), (*loc, "ProcessorConfig"))
    homes = _name_registry(checker)
    states = body.get("States")
    if isinstance(states, dict):
        for name in states:
            here = (*loc, "States", name)
            if name in homes:
                checker.add(
                    here,
                    f"State name '{name}' is already used at {_json_path(homes[name])}: state names must be "
                    "unique in the whole definition, sub-machines included",
                )
            else:
                homes[name] = here
        if len(homes) > checker.limits.max_states:
            if not getattr(checker, "_reported_total", False):
                checker.add(
                    loc,
                    f"The flow has more than {checker.limits.max_states} states, sub-machines included; the "
                    f"limit is {checker.limits.max_states}",
                )
                checker._reported_total = True
            return
    sub = type(checker)(checker.limits, strict=checker.strict)
    sub.suggestion_budget = checker.suggestion_budget
    sub._state_homes = homes
    sub._reported_total = getattr(checker, "_reported_total", False)
    sub.check_definition(body)
    checker.problems.extend(Problem((*loc, *p.loc), p.msg, p.type) for p in sub.problems)
    checker.consequences.extend(Problem((*loc, *p.loc), p.msg, p.type) for p in sub.consequences)


def _name_registry(checker: Any) -> dict[str, Loc]:
    """State name -> where it is defined, over the whole definition (the outermost checker seeds it with
    its own names the first time a sub-machine is met)."""
    homes = getattr(checker, "_state_homes", None)
    if homes is None:
        homes = {name: ("States", name) for name in checker.names}
        checker._state_homes = homes
    return homes


def _check_processor_config(checker: Any, config: object, loc: Loc) -> None:
    if not checker.expect(config, loc, "ProcessorConfig", dict, "an object"):
        return
    checker.check_fields(config, loc, PROCESSOR_CONFIG_FIELDS, "in 'ProcessorConfig'")
    mode = config.get("Mode")
    if "Mode" in config and mode not in PROCESSOR_MODES:
        checker.add((*loc, "Mode"), f"'Mode' must be one of {', '.join(PROCESSOR_MODES)}")
    kind = config.get("ExecutionType")
    if "ExecutionType" in config and kind not in EXECUTION_TYPES:
        checker.add((*loc, "ExecutionType"), f"'ExecutionType' must be one of {', '.join(EXECUTION_TYPES)}")


def _json_path(loc: Loc) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
