"""The run state's measure: its size as the cap counts it (compact UTF-8 JSON) and the first string in it that
cannot be stored (NUL, unpaired surrogates: `storable.py`), from one serialisation, and the failure a step
reports for such a value."""

from __future__ import annotations

import json
from typing import Any

import orjson

from .model import Failure
from .storable import Unstorable, find_unstorable


def run_state_size(run_state: Any) -> int:
    """The size in bytes of the run state serialised as compact UTF-8 JSON (what the cap applies to); orjson
    where it can (measured after every transition that changes the state), else `json.dumps`."""
    try:
        return len(orjson.dumps(run_state))
    except TypeError:  # integers beyond 64 bits, non-string keys
        return len(json.dumps(run_state, separators=(",", ":"), ensure_ascii=False).encode())


def measure_run_state(run_state: Any) -> tuple[int, Unstorable | None]:
    """The size of `run_state` as in `run_state_size`, and its first string that cannot be stored, from one
    serialisation: orjson refuses unpaired surrogates and spells NUL `\\u0000`, so only a state that orjson
    refuses or whose bytes hold that escape is walked (`find_unstorable`)."""
    try:
        data = orjson.dumps(run_state)
    except TypeError:  # unpaired surrogates, integers beyond 64 bits, non-string keys
        bad = find_unstorable(run_state)
        if bad is not None:
            return 0, bad
        return len(json.dumps(run_state, separators=(",", ":"), ensure_ascii=False).encode()), None
    if b"\\u0000" in data:  # a NUL, or the six characters `\u0000` in a string (escaped as `\\u0000`)
        return len(data), find_unstorable(run_state)
    return len(data), None


def unstorable_failure(subject: str, bad: Unstorable) -> Failure:
    """The `States.Runtime` failure of a value that cannot be stored, e.g. subject "The output of state A"."""
    return Failure("States.Runtime", bad.describe(subject))
