"""Map and Parallel as `step()` runs them: parsed states, the iteration inputs, and the gathered result.

`step()` stays pure: entering a Map or a Parallel state logs `<Type>Started`, computes every iteration's
input and returns the outcome `StartIterations`; the engine runs each iteration (a Map item, a Parallel
branch) as its own durable child and, once they are all done, delivers `IterationsDone` built by
`iterations_done(...)`, which decides the state's result or failure the same way wherever it is called. The
state then completes like any other: its result is written at `ResultPath`, errors go to Retry and Catch.

Semantics (Amazon States Language):
- Parallel: every branch gets the state's effective input (`InputPath`, then `Parameters`); the result is the
  array of the branches' outputs, in branch order.
- Map: the effective input is the value at `InputPath`; the items are the array at `ItemsPath` (default `$`)
  in it (anything but an array is `States.Runtime`). Each iteration's input is the item, or `ItemSelector`
  (the older `Parameters`) evaluated against the effective input with `$._context.map_item` =
  `{"index", "value"}` (ASL's `$$.Map.Item`). The result is the array of the iterations' outputs in item
  order. An empty array completes at once with `[]`.
- A failed iteration fails the state with the iteration's error and cause (the lowest index first). With
  `ToleratedFailureCount` or `ToleratedFailurePercentage`, failures up to the threshold are tolerated: the
  failed items' places in the result hold `{"Error", "Cause"}`; past it the state fails with
  `States.ExceedToleratedFailureThreshold`.
- Inside an iteration `$._context` holds the run's fields plus `map_item` (Map) or `parallel_branch` (the
  branch index, Parallel) — `iteration_context(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import StatesError
from .expression_values import _type_name
from .model import Failure
from .parameters import evaluate_parameters
from .states import ROOT, Definition, PathRef, State, _catch, _parameters, _result_path, _retry, parse_state

#: the error of a Map whose failures passed its ToleratedFailureCount / ToleratedFailurePercentage
EXCEED_TOLERATED = "States.ExceedToleratedFailureThreshold"


def parse_machine(data: dict[str, Any]) -> Definition:
    """A sub-machine (already validated with the whole definition) parsed for `step()`."""
    states = {name: parse_state(name, state) for name, state in data["States"].items()}
    return Definition(start_at=data["StartAt"], states=states, comment=data.get("Comment"))


@dataclass(frozen=True, kw_only=True)
class ParallelState(State):
    """Parallel (ASL): "causes parallel execution of branches"; the result is the array of their outputs."""

    type_name: ClassVar[str] = "Parallel"

    branches: tuple[Definition, ...] = ()
    input_path: PathRef | None = None
    parameters: Any = None
    result_path: str | None = ROOT
    retry: tuple[Any, ...] = ()
    catch: tuple[Any, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ParallelState:
        return cls(
            **cls._common(name, data),
            branches=tuple(parse_machine(b) for b in data["Branches"]),
            input_path=PathRef.of(data.get("InputPath")),
            parameters=_parameters(data),
            result_path=_result_path(data),
            retry=_retry(data),
            catch=_catch(data),
        )


@dataclass(frozen=True, kw_only=True)
class MapState(State):
    """Map (ASL): "run a set of steps for each element of an input array"; the result is the array of the
    iterations' outputs, in item order."""

    type_name: ClassVar[str] = "Map"

    processor: Definition = field(default_factory=lambda: Definition(start_at=""))
    input_path: PathRef | None = None
    items_path: PathRef | None = None
    item_selector: Any = None
    #: 0: no limit (the engine may cap it)
    max_concurrency: int = 0
    tolerated_count: int | None = None
    tolerated_percentage: float | None = None
    result_path: str | None = ROOT
    retry: tuple[Any, ...] = ()
    catch: tuple[Any, ...] = ()

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> MapState:
        processor = data.get("ItemProcessor") or data["Iterator"]
        selector = data.get("ItemSelector", data.get("Parameters"))
        return cls(
            **cls._common(name, data),
            processor=parse_machine(processor),
            input_path=PathRef.of(data.get("InputPath")),
            items_path=PathRef.of(data.get("ItemsPath")),
            item_selector=None if selector is None else _parameters({"Parameters": selector}),
            max_concurrency=int(data.get("MaxConcurrency") or 0),
            tolerated_count=data.get("ToleratedFailureCount"),
            tolerated_percentage=data.get("ToleratedFailurePercentage"),
            result_path=_result_path(data),
            retry=_retry(data),
            catch=_catch(data),
        )


#: the nested state classes, by `Type` name (`states.parse_state` consults them)
NESTED_STATE_TYPES: dict[str, type[State]] = {"Map": MapState, "Parallel": ParallelState}


# -- the outcome and the event ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartIterations:
    """Run one child per input of `inputs` through the sub-machine of `state` (`branch` i for a Parallel,
    the processor for a Map), at most `max_concurrency` at a time (0: no limit), then deliver
    `IterationsDone`. Children are named by the parent's visit of the state and their index, so a replayed
    step starts the same children and a later visit (a loop, a Retry of the whole state) new ones."""

    state: str
    kind: str  # "Map" or "Parallel"
    inputs: tuple[Any, ...]
    max_concurrency: int = 0
    #: a Map's items as they were in the array (`$._context.map_item.value` inside iteration i): the same
    #: objects as `inputs` when there is no ItemSelector; empty for a Parallel
    items: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class IterationsDone:
    """Every child of the Map or Parallel state at the cursor has finished (or the state failed early):
    `result` is the gathered array, or `failure` the state's error."""

    result: list[Any] | None = None
    failure: Failure | None = None


# -- what step() computes ---------------------------------------------------------------------------------


def iteration_inputs(
    state: MapState | ParallelState, effective_input: Any, context: dict[str, Any], *, limits: Any
) -> tuple[list[Any], list[Any]]:
    """The input of every iteration, in order, and (Map) the items they come from; raises `StatesError`
    (`States.Runtime`) when `ItemsPath` is missing or not an array, or an `ItemSelector` path is missing."""
    if isinstance(state, ParallelState):
        return [effective_input for _ in state.branches], []
    items: Any = effective_input
    if state.items_path is not None:
        try:
            items = state.items_path.compiled.read(effective_input, context)
        except Exception:  # PathNotFound (and nothing else: the path compiled)
            raise StatesError(
                "States.Runtime",
                f"The path '{state.items_path.text}' specified for the field 'ItemsPath' could not be found "
                "in the state input.",
            ) from None
    if not isinstance(items, list):
        where = state.items_path.text if state.items_path else "$"
        raise StatesError(
            "States.Runtime", f"The value at ItemsPath '{where}' must be an array, not {_type_name(items)}."
        )
    if state.item_selector is None:
        return list(items), list(items)
    return [
        evaluate_parameters(
            state.item_selector,
            effective_input,
            context={**context, "map_item": {"index": index, "value": item}},
            limits=limits,
        )
        for index, item in enumerate(items)
    ], list(items)


def sub_definition(definition: Definition, state_name: str, iteration: int) -> Definition:
    """The sub-machine iteration `iteration` of the Map or Parallel state `state_name` runs (found anywhere in
    `definition`: state names are unique across sub-machines). Raises KeyError when there is none."""
    todo = [definition]
    while todo:
        machine = todo.pop()
        state = machine.states.get(state_name)
        if isinstance(state, MapState):
            return state.processor
        if isinstance(state, ParallelState):
            return state.branches[iteration]
        for other in machine.states.values():
            if isinstance(other, MapState):
                todo.append(other.processor)
            elif isinstance(other, ParallelState):
                todo.extend(other.branches)
    raise KeyError(state_name)


def all_parsed_states(definition: Definition) -> list[State]:
    """Every state of a parsed definition, those of Map and Parallel sub-machines included."""
    found: list[State] = []
    todo = [definition]
    while todo:
        machine = todo.pop()
        for state in machine.states.values():
            found.append(state)
            if isinstance(state, MapState):
                todo.append(state.processor)
            elif isinstance(state, ParallelState):
                todo.extend(state.branches)
    return found


def iteration_context(context: dict[str, Any], kind: str, index: int, value: Any = None) -> dict[str, Any]:
    """`$._context` inside iteration `index`: the run's fields plus `map_item: {"index", "value"}` (Map;
    `value` is the item as it was in the array) or `parallel_branch: index` (Parallel)."""
    if kind == "Map":
        return {**context, "map_item": {"index": index, "value": value}}
    return {**context, "parallel_branch": index}


@dataclass(frozen=True, slots=True)
class ChildEnd:
    """How one iteration ended: `output` when it succeeded, else `error` and `cause`."""

    succeeded: bool
    output: Any = None
    error: str | None = None
    cause: Any = None


def tolerates(state: MapState | ParallelState, failed: int, total: int) -> bool:
    """Whether `failed` failures out of `total` iterations leave the state successful."""
    if failed == 0:
        return True
    if isinstance(state, ParallelState):
        return False
    count, percentage = state.tolerated_count, state.tolerated_percentage
    if count is None and percentage is None:
        return False
    if count is not None and failed > count:
        return False
    return not (percentage is not None and failed * 100 > percentage * total)


def iterations_done(state: MapState | ParallelState, ends: list[ChildEnd | None]) -> IterationsDone:
    """The state's outcome once its children have ended (`None`: not ended; the engine asks early to fail
    as soon as the failures exceed what is tolerated, and then cancels the others)."""
    failed = [(i, end) for i, end in enumerate(ends) if end is not None and not end.succeeded]
    total = len(ends)
    if not tolerates(state, len(failed), total):
        tolerant = isinstance(state, MapState) and (
            state.tolerated_count is not None or state.tolerated_percentage is not None
        )
        if tolerant:
            cause = (
                f"{len(failed)} of {total} iterations of state {state.name} failed, more than it tolerates"
            )
            return IterationsDone(failure=Failure(EXCEED_TOLERATED, cause))
        _, first = failed[0]
        return IterationsDone(failure=Failure(first.error or "States.Runtime", first.cause))
    if any(end is None for end in ends):
        raise ValueError("iterations_done: children still running and no failure to report")
    result = [
        end.output if end.succeeded else {"Error": end.error, "Cause": end.cause}
        for end in ends  # type: ignore[union-attr]
    ]
    return IterationsDone(result=result)
