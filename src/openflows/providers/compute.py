"""The built-in `compute` provider: the Globus Compute action provider's shape, running functions that an
administrator registered (`openflows functions register --id UUID module:callable`).

Body: `{endpoint, function, args?, kwargs? (alias payload)}` or `{tasks: [{endpoint, function, args?,
kwargs|payload}, ...]}`. `function` is a registered function id; `endpoint` is accepted and ignored (every
task runs on this machine).

Each task runs in its own Python subprocess (the server's interpreter and `sys.path`) with a wall-clock
timeout, an address-space limit (`RLIMIT_AS`) and a CPU-time limit (`RLIMIT_CPU`), which the child sets on
itself before it imports anything else. Arguments and the result travel as JSON. Asynchronous: the tasks run
in the background runner, one after the other. Output `details`: `{"result": [output, ...], "results":
[{"task_id", "output"}, ...]}`. An unknown function id, or a task that raises, times out or exceeds its
memory, makes the action FAILED with a message saying which task and why.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from typing import Any

from ..auth.scopes import LEGACY_PROVIDER_SCOPES, PROVIDER_SCOPES
from ..store.collections import get_function
from .base import BadActionRequest, Caller
from .outcomes import Outcome, failure
from .runner import ActionCanceled, Job
from .stored import StoredProvider

#: the scope of the hosted Globus Compute action provider
COMPUTE_SCOPE = PROVIDER_SCOPES["compute"]
#: largest JSON result kept from one task
MAX_OUTPUT_BYTES = 1024 * 1024  # bytes
#: how often a running task checks for a cancel
CANCEL_CHECK_SECONDS = 0.2  # seconds

#: the program a task runs: {target, args, kwargs} on stdin, {"output"} or {"error"} on stdout
TASK_PROGRAM = """
import resource, sys
memory, cpu = int(sys.argv[1]), int(sys.argv[2])
if memory > 0:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
if cpu > 0:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
import importlib, json, traceback
out = sys.stdout
sys.stdout = sys.stderr
try:
    spec = json.load(sys.stdin)
    module_name, _, attr = spec["target"].partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    result = obj(*spec["args"], **spec["kwargs"])
    text = json.dumps({"output": result}, default=repr)
except BaseException as exc:
    text = json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)[:2000],
                                 "traceback": traceback.format_exc()[-4000:]}})
    out.write(text)
    out.flush()
    sys.exit(1)
out.write(text)
out.flush()
"""


class ComputeProvider(StoredProvider):
    """Run registered Python functions in resource-limited subprocesses."""

    name = "compute"
    hosted_urls = (
        "https://compute.actions.globus.org",
        "https://compute.actions.globus.org/fxap",
        "https://compute.actions.globus.org/v3",
        "https://api.funcx.org/automate",
        "https://automate.funcx.org",
    )
    title = "Compute"
    subtitle = "Run registered functions"
    description = (
        "Runs functions an administrator registered (openflows functions register), each task in a "
        "subprocess with a timeout and a memory limit."
    )
    keywords = ("compute", "function")
    globus_auth_scope = COMPUTE_SCOPE
    legacy_scopes = LEGACY_PROVIDER_SCOPES["compute"]
    synchronous = False
    background = True
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "endpoint": {"type": "string"},
            "function": {"type": "string"},
            "args": {"type": "array"},
            "kwargs": {"type": "object"},
            "payload": {"type": "object"},
            "tasks": {"type": "array", "items": {"type": "object"}},
        },
    }

    def __init__(
        self, *args: Any, timeout_seconds: float = 60.0, memory_mb: int = 1024, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb

    def check_body(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        specs = body.get("tasks", [body])
        if not isinstance(specs, list) or not specs:
            raise BadActionRequest("tasks must be a non-empty list")
        tasks = []
        for spec in specs:
            if not isinstance(spec, dict):
                raise BadActionRequest("each task must be an object")
            function = spec.get("function")
            if not isinstance(function, str) or not function:
                raise BadActionRequest("function (a registered function id) is required")
            args = spec.get("args", [])
            kwargs = spec.get("kwargs", spec.get("payload", {}))
            if args is None:
                args = []
            if kwargs is None:
                kwargs = {}
            if not isinstance(args, list):
                raise BadActionRequest("args must be a list")
            if not isinstance(kwargs, dict):
                raise BadActionRequest("kwargs (or payload) must be an object")
            tasks.append(
                {
                    "task_id": str(uuid.uuid4()),
                    "endpoint": spec.get("endpoint"),
                    "function": function,
                    "args": args,
                    "kwargs": kwargs,
                }
            )
        return {"tasks": tasks}

    def initial_details(self, body: dict[str, Any], state: dict[str, Any], now: Any) -> Any:
        return {"description": f"{len(state['tasks'])} task(s) queued", "results": []}

    def work(self, job: Job) -> Outcome:
        results: list[dict[str, Any]] = []
        for index, task in enumerate(job.state["tasks"]):
            job.progress(
                {"description": f"running task {index + 1} of {len(job.state['tasks'])}", "results": results},
                force=True,
            )
            try:
                key = uuid.UUID(task["function"])
            except ValueError:
                key = None
            with self.db.read() as conn:
                registered = get_function(conn, key) if key is not None else None
            if registered is None:
                return Outcome.failed(
                    failure(
                        "FunctionNotFound",
                        f"function {task['function']!r} is not registered on this server "
                        "(an administrator registers functions with `openflows functions register`)",
                        task_id=task["task_id"],
                        results=results,
                    )
                )
            ok, value = self.run_task(registered.target, task["args"], task["kwargs"], job)
            if not ok:
                return Outcome.failed(
                    failure(
                        "TaskFailed",
                        f"task {index + 1} ({registered.target}) failed: {value}",
                        task_id=task["task_id"],
                        results=results,
                    )
                )
            results.append({"task_id": task["task_id"], "output": value})
        return Outcome.succeeded({"result": [r["output"] for r in results], "results": results})

    def run_task(
        self, target: str, args: list[Any], kwargs: dict[str, Any], job: Job | None = None
    ) -> tuple[bool, Any]:
        """Run `target(*args, **kwargs)` in a limited subprocess: (True, output) or (False, reason)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        memory = self.memory_mb * 1024 * 1024
        cpu = max(1, math.ceil(self.timeout_seconds))
        # the child limits itself first thing (no preexec_fn: this process has threads)
        proc = subprocess.Popen(
            [sys.executable, "-c", TASK_PROGRAM, str(memory), str(cpu)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        payload = json.dumps({"target": target, "args": args, "kwargs": kwargs}).encode()
        waited = 0.0
        stdout = stderr = b""
        first = True
        while True:
            try:
                stdout, stderr = proc.communicate(payload if first else None, timeout=CANCEL_CHECK_SECONDS)
                break
            except subprocess.TimeoutExpired:
                first = False
                waited += CANCEL_CHECK_SECONDS
                canceled = job is not None and job.canceled.is_set()
                if waited >= self.timeout_seconds or canceled:
                    proc.kill()
                    proc.communicate()
                    if canceled:
                        raise ActionCanceled("canceled") from None
                    return False, f"timed out after {self.timeout_seconds:g} seconds"
        if len(stdout) > MAX_OUTPUT_BYTES:
            return False, f"its result is larger than {MAX_OUTPUT_BYTES} bytes"
        try:
            answer = json.loads(stdout or b"null")
        except json.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and "output" in answer and proc.returncode == 0:
            return True, answer["output"]
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            error = answer["error"]
            return False, f"{error.get('type')}: {error.get('message')}"
        if proc.returncode and proc.returncode < 0:
            return False, f"killed by signal {-proc.returncode} (CPU or memory limit?)"
        tail = stderr.decode(errors="replace")[-500:]
        return False, f"exited with status {proc.returncode}: {tail}"
