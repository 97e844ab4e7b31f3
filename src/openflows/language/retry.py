"""Retry (an OpenFlows extension to Globus Flows, with Amazon States Language semantics; spec §6).

Globus Flows has no `Retry`; OpenFlows accepts it on Action and ExpressionEval states (strict-compat
validation rejects it). A state's retriers are tried in order and the first whose `ErrorEquals` names the
error (or the wildcard `States.ALL`, any case) decides:
- it retries while its own retry count is below `MaxAttempts` (default 3; 0 = never retry);
- the delay is `IntervalSeconds` (default 1) * `BackoffRate` (default 2.0) ** (that retrier's retry count),
  capped by `MaxDelaySeconds` when given;
- `JitterStrategy: "FULL"` draws the delay uniformly from [0, delay] with the injected random source.
When the matching retrier is exhausted, retrying stops and Catch applies. `States.DataLimitExceeded` is
terminal and never retried.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: the ASL wildcard (Gladier writes `States.All`; matched case-insensitively)
WILDCARD = "states.all"
#: errors no Retry or Catch can handle
TERMINAL_ERRORS = frozenset({"States.DataLimitExceeded"})

#: a random source: a `random.Random` or a callable returning a float in [0, 1)
RandomSource = _random.Random | Callable[[], float]


def error_matches(error_equals: tuple[str, ...], error: str) -> bool:
    """True when `error_equals` names `error` exactly or holds the wildcard (never for terminal errors)."""
    if error in TERMINAL_ERRORS:
        return False
    return error in error_equals or any(name.lower() == WILDCARD for name in error_equals)


@dataclass(frozen=True, slots=True)
class Retrier:
    """One element of `Retry`: which errors it handles and how long to wait before each retry."""

    error_equals: tuple[str, ...]
    #: "IntervalSeconds (Optional): seconds before the first retry attempt (default 1)"
    interval_seconds: float = 1
    #: "MaxAttempts (Optional): maximum number of retry attempts (default 3); 0 means never retry"
    max_attempts: int = 3
    #: "BackoffRate (Optional): multiplier of the retry interval at each attempt (default 2.0)"
    backoff_rate: float = 2.0
    #: "MaxDelaySeconds (Optional): upper bound of the retry interval"
    max_delay_seconds: float | None = None
    #: "JitterStrategy (Optional): FULL randomises each interval in [0, interval]; NONE (default)"
    jitter_strategy: str = "NONE"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Retrier:
        return cls(
            error_equals=tuple(data["ErrorEquals"]),
            interval_seconds=data.get("IntervalSeconds", 1),
            max_attempts=data.get("MaxAttempts", 3),
            backoff_rate=data.get("BackoffRate", 2.0),
            max_delay_seconds=data.get("MaxDelaySeconds"),
            jitter_strategy=str(data.get("JitterStrategy", "NONE")).upper(),
        )

    def delay(self, retry_count: int, random: RandomSource) -> float:
        """Seconds to wait before retry number `retry_count + 1` of this retrier."""
        interval = self.interval_seconds * self.backoff_rate**retry_count
        if self.max_delay_seconds is not None:
            interval = min(interval, self.max_delay_seconds)
        if self.jitter_strategy == "FULL":
            draw = random.random() if isinstance(random, _random.Random) else random()
            interval = draw * interval
        return float(interval)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Retry after `delay` seconds; `retries` is the cursor's updated per-retrier count."""

    delay: float
    retries: tuple[int, ...]
    retrier_index: int


def decide_retry(
    retriers: tuple[Retrier, ...], retries: tuple[int, ...], error: str, random: RandomSource
) -> RetryDecision | None:
    """Whether (and after how long) to retry after `error`, given the counts so far; None = do not retry."""
    for index, retrier in enumerate(retriers):
        if not error_matches(retrier.error_equals, error):
            continue
        counts = list(retries) + [0] * (len(retriers) - len(retries))
        count = counts[index]
        if count >= retrier.max_attempts:
            return None
        counts[index] = count + 1
        return RetryDecision(retrier.delay(count, random), tuple(counts), index)
    return None
