"""docs/cli.md's `openflows.client` example: create a flow, run it, wait for the end, read the log.

Start a server first (`make serve`); `FlowsClient()` finds its URL and token in the profile it wrote.
tests/test_docs_commands.py runs this file (through docs/cli.md) and checks what it prints.
"""

import time

from openflows.client import FlowsClient, SpecificFlowClient

definition = {
    "StartAt": "Double",
    "States": {"Double": {"Type": "Pass", "Parameters": {"y.=": "x * 2"}, "End": True}},
}

flows = FlowsClient()  # URL and token from the active profile
flow = flows.create_flow(title="hello", definition=definition, input_schema={})
run = SpecificFlowClient(flow["id"]).run_flow({"x": 21}, label="from Python")
while (run := flows.get_run(run["run_id"]))["status"] in ("ACTIVE", "INACTIVE"):
    time.sleep(0.2)  # the log is complete once the run has ended
print(run["status"], run["details"]["output"])
for entry in flows.get_run_logs(run["run_id"])["entries"]:
    print(entry["code"])
flows.delete_flow(flow["id"])
