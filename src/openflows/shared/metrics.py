"""Prometheus metrics of one process, written in the text exposition format (version 0.0.4) without a
client library.

`Metrics` holds the executor's counters and histograms (in memory, per process; Prometheus sums them across
processes). `store.gauges.database_gauges` measures what every process can read from the database at scrape
time: due work and its lag, leased and scheduled work, runs by status, and this process's connection pool.
`render` joins them into one exposition, which `api/metrics.py` serves at `GET /metrics` and `serve_metrics`
serves from a worker process.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Content-Type of the exposition
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: upper bounds of the step latency histogram
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # seconds
#: upper bounds of the claim lag histogram (how late due work was claimed)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)  # seconds

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple((name, str(labels[name])) for name in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A count that only goes up."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            values = sorted(self._values.items())
        if not values and not self.labelnames:
            values = [((), 0.0)]
        return [*self.header(), *(f"{self.name}{_format_labels(k)} {_format_value(v)}" for k, v in values)]


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self._values: dict[Labels, tuple[list[int], float, int]] = {}

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total, count = self._values.get(key) or ([0] * len(self.buckets), 0.0, 0)
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._values[key] = (counts, total + value, count + 1)

    def count(self, **labels: Any) -> int:
        with self._lock:
            entry = self._values.get(self._key(labels))
        return entry[2] if entry else 0

    def lines(self) -> list[str]:
        with self._lock:
            values = sorted((key, (list(c), s, n)) for key, (c, s, n) in self._values.items())
        out = self.header()
        for key, (counts, total, count) in values:
            for bound, bucket in zip(self.buckets, counts, strict=True):
                labels = _format_labels((*key, ("le", _format_value(bound))))
                out.append(f"{self.name}_bucket{labels} {bucket}")
            out.append(f"{self.name}_bucket{_format_labels((*key, ('le', '+Inf')))} {count}")
            out.append(f"{self.name}_sum{_format_labels(key)} {_format_value(total)}")
            out.append(f"{self.name}_count{_format_labels(key)} {count}")
        return out


class Gauge(_Metric):
    """Values measured at scrape time."""

    kind = "gauge"

    def __init__(
        self, name: str, help_text: str, samples: Iterable[tuple[dict[str, Any], float]] = ()
    ) -> None:
        super().__init__(name, help_text)
        self.samples = [(tuple((k, str(v)) for k, v in labels.items()), value) for labels, value in samples]

    def lines(self) -> list[str]:
        return [
            *self.header(),
            *(f"{self.name}{_format_labels(k)} {_format_value(v)}" for k, v in self.samples),
        ]


class Metrics:
    """The executor's counters and histograms (one instance per executor)."""

    def __init__(self) -> None:
        self.runs_started = Counter("openflows_runs_started_total", "Runs whose first step was committed.")
        self.runs_redriven = Counter(
            "openflows_runs_redriven_total", "Redriven runs whose first step after the redrive was committed."
        )
        self.runs_finished = Counter(
            "openflows_runs_finished_total", "Runs that ended, by final status.", ("status",)
        )
        self.transitions = Counter(
            "openflows_state_transitions_total", "States entered or completed by committed steps."
        )
        self.steps = Counter(
            "openflows_steps_total", "Work items processed, by kind and outcome.", ("kind", "outcome")
        )
        self.step_seconds = Histogram(
            "openflows_step_duration_seconds",
            "Time to process one work item (claim to commit), by kind.",
            ("kind",),
            buckets=STEP_BUCKETS,
        )
        self.claim_lag_seconds = Histogram(
            "openflows_work_claim_lag_seconds",
            "How long after its due time a work item was claimed.",
            buckets=LAG_BUCKETS,
        )
        self.action_polls = Counter(
            "openflows_action_polls_total",
            "Status polls of actions, by provider and result (action status or call outcome).",
            ("provider", "result"),
        )
        self.leases_reaped = Counter("openflows_leases_reaped_total", "Expired leases returned to the pool.")
        self.runs_purged = Counter("openflows_runs_purged_total", "Ended runs deleted by retention.")
        self.wakeups = Counter(
            "openflows_worker_wakeups_total", "Wake-ups of the claim loop, by source.", ("source",)
        )
        self.timer_firings = Counter(
            "openflows_timer_firings_total",
            "Timer occurrences fired, by timer type and outcome (started, error).",
            ("type", "outcome"),
        )
        self.timer_missed = Counter(
            "openflows_timer_missed_total",
            "Timer occurrences skipped because no worker ran when they were due.",
        )

    def all(self) -> list[_Metric]:
        return [value for value in vars(self).values() if isinstance(value, _Metric)]


def render(metrics: Metrics | None, gauges: Iterable[_Metric] = ()) -> str:
    """The text exposition of `metrics` (if any) and `gauges`."""
    lines: list[str] = []
    for metric in [*(metrics.all() if metrics is not None else []), *gauges]:
        lines.extend(metric.lines())
    return "\n".join(lines) + "\n"


def serve_metrics(exposition: Callable[[], str], *, host: str, port: int) -> ThreadingHTTPServer:
    """Serve `GET /metrics` with `exposition()` on host:port in a daemon thread (worker processes have no
    API); call `shutdown()` on the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            try:
                body = exposition().encode()
            except Exception as exc:  # the database is down: say so, the scrape is marked failed
                self.send_error(503, str(exc)[:200])
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="openflows-metrics", daemon=True).start()
    return server
