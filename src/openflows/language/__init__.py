"""openflows.language: the pure flow definition language (spec/flows-language.md).

Validation, paths, expressions, Parameters, redaction, parsing and the `step()` interpreter. Nothing here does
I/O or reads a clock. `step` and `redact` are functions here (not the modules of the same name).
"""

from __future__ import annotations

from . import runlog
from .analysis import analyze_definition
from .errors import (
    ExpressionError,
    ExpressionSyntaxError,
    InvalidDefinition,
    LanguageError,
    PathNotFound,
    PathSyntaxError,
    PathWriteError,
    StatesError,
)
from .expressions import compile_expression, evaluate_expression
from .model import (
    DEFAULT_LIMITS,
    JSON,
    ActionRef,
    ActionStatus,
    ActionUnableToRun,
    AwaitAction,
    Cursor,
    Decision,
    Enter,
    Event,
    Failed,
    Failure,
    Limits,
    LogEntry,
    Outcome,
    Problem,
    RunContext,
    Start,
    StartAction,
    Succeeded,
    TimerFired,
    WaitUntil,
    isoformat,
)
from .parameters import evaluate_parameters
from .paths import CompiledPath, compile_path, read_path, write_path
from .redact import redact, redact_definition
from .run_state import run_state_size
from .states import STATE_TYPES, Definition, State, parse_definition
from .step import UnexpectedEvent, step
from .validation import validate_definition, validate_input_schema

__all__ = [
    "DEFAULT_LIMITS",
    "JSON",
    "ActionRef",
    "ActionStatus",
    "ActionUnableToRun",
    "AwaitAction",
    "Cursor",
    "Decision",
    "Enter",
    "Event",
    "ExpressionError",
    "ExpressionSyntaxError",
    "Failed",
    "Failure",
    "InvalidDefinition",
    "LanguageError",
    "Limits",
    "LogEntry",
    "Outcome",
    "PathNotFound",
    "PathSyntaxError",
    "PathWriteError",
    "Problem",
    "RunContext",
    "Start",
    "StartAction",
    "StatesError",
    "Succeeded",
    "TimerFired",
    "WaitUntil",
    "isoformat",
    "validate_definition",
    "validate_input_schema",
    "compile_path",
    "read_path",
    "write_path",
    "CompiledPath",
    "compile_expression",
    "evaluate_expression",
    "evaluate_parameters",
    "redact",
    "redact_definition",
    "analyze_definition",
    "parse_definition",
    "Definition",
    "State",
    "STATE_TYPES",
    "step",
    "run_state_size",
    "UnexpectedEvent",
    "runlog",
]
