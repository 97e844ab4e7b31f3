"""The globus-sdk documentation's FlowsClient / SpecificFlowClient examples, run against a local OpenFlows.

Start a server first (`make serve`); `openflows.client` then finds its URL and the local admin's token in the
profile `openflows serve` wrote. tests/cli/test_sdk_examples.py runs this file against a real server.
"""

import time

from openflows.client import FlowsAPIError, FlowsClient, SpecificFlowClient

flows = FlowsClient()

# Create a flow (the SDK docs' "hello world" shape)
definition = {
    "StartAt": "SayHello",
    "States": {
        "SayHello": {
            "Type": "Action",
            "ActionUrl": "https://actions.globus.org/hello_world",
            "Parameters": {"echo_string.$": "$.message"},
            "ResultPath": "$.hello",
            "End": True,
        }
    },
}
schema = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
flow = flows.create_flow(title="Hello World", definition=definition, input_schema=schema)
print("created flow", flow["id"], "scope", flow["globus_auth_scope"])

# List flows, newest first, then by title
for f in flows.list_flows(orderby=["updated_at DESC", "title ASC"]):
    print("flow:", f["title"], f["user_role"])

# Run it, and follow the run to its end
run = SpecificFlowClient(flow["id"]).run_flow(body={"message": "hi"}, label="docs example", tags=["demo"])
run_id = run["run_id"]
while (run := flows.get_run(run_id))["status"] in ("ACTIVE", "INACTIVE"):
    time.sleep(0.2)
print("run", run["status"], run["details"]["output"]["hello"]["details"])

# Read its log
for entry in flows.paginated.get_run_logs(run_id).items():
    print("log:", entry["code"])

# Update, cancel (a finished run stays as it is), delete
print("label:", flows.update_run(run_id, label="renamed")["label"])
print("cancel:", flows.cancel_run(run_id)["status"])
print("released:", flows.delete_run(run_id)["run_id"] == run_id)
print("deleted flow:", flows.delete_flow(flow["id"])["DELETED"])

# Errors are globus-sdk's FlowsAPIError
try:
    flows.get_run(run_id)
except FlowsAPIError as err:
    print("error:", err.http_status, err.code)
