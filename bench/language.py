"""Benchmark of the pure language library: step() costs and JSONPath look-ups against jsonpath-ng.

Prints two tables:
1. microseconds per step() call (and per state) for a chain of Pass states, a Choice, Parameters with paths,
   and `.=` expressions;
2. path look-ups per second with `compile_path` (ours, compiled once) against jsonpath-ng (compiled once,
   and parsed on every look-up), on the same paths and document, with the ratio (target: >= 10x).

Usage: `python bench/language.py [--quick]` (`--quick` is a CI smoke run of a few seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

from openflows.language import Cursor, RunContext, Start, compile_path, parse_definition, step

CONTEXT = RunContext(flow_id="bench-flow", run_id="bench-run")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

DOC: dict[str, Any] = {
    "a": 1,
    "input": {"publishv2": {"enable_transfer": True, "metadata": {"title": "x", "authors": ["a", "b"]}}},
    "list": [{"name": f"n{i}", "size": i} for i in range(10)],
    "deep": {"l1": {"l2": {"l3": {"l4": {"l5": "bottom"}}}}},
}
PATHS = [
    "$.a",
    "$.input.publishv2.enable_transfer",
    "$.list[3].name",
    "$.deep.l1.l2.l3.l4.l5",
    "$.input.publishv2.metadata.authors[1]",
]


def time_per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Mean CPU seconds per call of `fn`, measured for about `seconds` (CPU time, so that other processes on
    the machine do not skew the ratios)."""
    fn()  # warm up caches
    calls, start = 0, time.process_time()
    batch = 1
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return elapsed / calls
        batch = min(batch * 2, 10_000)


def pass_chain(n: int) -> dict[str, Any]:
    states = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(n - 1)}
    states[f"P{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "P0", "States": states}


CHOICE = {
    "StartAt": "C",
    "States": {
        "C": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.input.publishv2.enable_transfer", "IsPresent": True},
                        {"Variable": "$.input.publishv2.enable_transfer", "BooleanEquals": False},
                    ],
                    "Next": "No",
                },
                {"Variable": "$.a", "NumericGreaterThan": 0, "Next": "Yes"},
            ],
            "Default": "No",
        },
        "Yes": {"Type": "Succeed"},
        "No": {"Type": "Succeed"},
    },
}

PARAMETERS = {
    "StartAt": "P",
    "States": {
        "P": {
            "Type": "Pass",
            "Parameters": {
                "title.$": "$.input.publishv2.metadata.title",
                "authors.$": "$.input.publishv2.metadata.authors",
                "first.$": "$.list[0].name",
                "bottom.$": "$.deep.l1.l2.l3.l4.l5",
                "run.$": "$._context.run_id",
                "nested": {"a.$": "$.a", "const": [1, 2, 3]},
            },
            "ResultPath": "$.out",
            "End": True,
        }
    },
}

EXPRESSIONS = {
    "StartAt": "E",
    "States": {
        "E": {
            "Type": "ExpressionEval",
            "Parameters": {
                "sum.=": "a + 41",
                "names.=": "[item.name for item in list if item.size > 4]",
                "title.=": "input.publishv2.metadata.title + '-' + str(a)",
                "flag.=": "'yes' if input.publishv2.enable_transfer else 'no'",
            },
            "ResultPath": "$.out",
            "End": True,
        }
    },
}


def bench_steps(seconds: float) -> list[tuple[str, float, int]]:
    rows = []
    cases = [
        ("Pass chain (100 states)", pass_chain(100)),
        ("Pass (1 state)", pass_chain(1)),
        ("Choice (And + 2 rules)", CHOICE),
        ("Parameters with 6 paths", PARAMETERS),
        ("ExpressionEval, 4 expressions", EXPRESSIONS),
    ]
    for label, definition in cases:
        parsed = parse_definition(definition)
        sample = step(parsed, Cursor(None), DOC, Start(), context=CONTEXT, now=NOW)
        per_call = time_per_call(
            lambda parsed=parsed: step(parsed, Cursor(None), DOC, Start(), context=CONTEXT, now=NOW), seconds
        )
        rows.append((label, per_call * 1e6, sample.transitions))
    return rows


def bench_paths(seconds: float) -> list[tuple[str, float, float | None, float | None]]:
    """Look-ups per second; the cost of the benchmark's own call (an empty lambda) is subtracted."""
    overhead = time_per_call(lambda: None, seconds)

    def rate(fn: Callable[[], Any]) -> float:
        return 1 / max(time_per_call(fn, seconds) - overhead, 1e-9)

    try:
        import jsonpath_ng
    except ImportError:  # pragma: no cover - jsonpath-ng is a bench extra
        jsonpath_ng = None
    rows = []
    for text in PATHS:
        ours = compile_path(text)
        ours_rate = rate(lambda ours=ours: ours.read(DOC))
        compiled_rate = parsed_rate = None
        if jsonpath_ng is not None:
            theirs = jsonpath_ng.parse(text)
            compiled_rate = 1 / time_per_call(lambda theirs=theirs: theirs.find(DOC)[0].value, seconds)
            parsed_rate = 1 / time_per_call(
                lambda text=text: jsonpath_ng.parse(text).find(DOC)[0].value, seconds
            )
        rows.append((text, ours_rate, compiled_rate, parsed_rate))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (CI)")
    args = parser.parse_args(argv)
    seconds = 0.02 if args.quick else 0.4

    print("step() cost")
    print(f"{'case':<32} {'us/step':>10} {'states':>7} {'us/state':>9}")
    for label, micros, states in bench_steps(seconds):
        print(f"{label:<32} {micros:>10.1f} {states:>7} {micros / max(states, 1):>9.2f}")

    print()
    print("JSONPath look-ups per second (ours = compile_path, compiled once; call overhead subtracted)")
    print(f"{'path':<40} {'ours':>11} {'jsonpath-ng':>12} {'ratio':>7} {'ng parse+find':>14} {'ratio':>8}")
    ratios = []
    for text, ours, compiled, parsed in bench_paths(seconds):
        if compiled is None or parsed is None:
            print(f"{text:<40} {ours:>11,.0f} {'n/a':>12}")
            continue
        ratios.append(ours / compiled)
        print(
            f"{text:<40} {ours:>11,.0f} {compiled:>12,.0f} {ours / compiled:>6.1f}x {parsed:>14,.0f} "
            f"{ours / parsed:>7.0f}x"
        )
    if ratios:
        worst = min(ratios)
        verdict = "meets" if worst >= 10 else "misses"
        print(f"\nslowest ratio vs precompiled jsonpath-ng: {worst:.1f}x ({verdict} the 10x target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
