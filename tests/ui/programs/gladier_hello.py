"""A person's gladier program, run unchanged with gladier's default login (no client credentials in the
environment: `UserAppLoginManager`, gladier's public client, globus-sdk's command-line login that prints the
authorize URL and reads the code from standard input). It runs in gladier's virtualenv, pointed at OpenFlows
by the GLOBUS_SDK_* variables only.

A minimal GladierBaseClient with one tool whose flow says hello through the Hello World action provider.
`run_flow` deploys the flow (a first login for Flows, Compute and Auth), logs in again for the new flow's own
scope, and starts the run; the program follows the run with gladier's `get_status` until it ends or waits
(at most a minute) and prints one line `RESULT <json>` with the run as started, its last status, the flow id
and whether gladier still needs a login.

With `--shout` the tool's flow has a second step, at the expression_eval provider (another scope): gladier
updates the deployed flow, whose scope then depends on that provider's scope too, and the run asks for the
person's consent to it (403 MISSING_SCOPE, on which gladier logs in again for the flow's scope).

`--logout` instead logs the person out (gladier's `logout`: the tokens are revoked and forgotten).

Usage: gladier_hello.py ECHO_STRING [--shout] | gladier_hello.py --logout
"""

import json
import sys
import time

from gladier import GladierBaseClient, GladierBaseTool, generate_flow_definition

SHOUT = "--shout" in sys.argv[2:]
SAY_HELLO = {
    "Type": "Action",
    "ActionUrl": "https://actions.globus.org/hello_world",
    "Parameters": {"echo_string.$": "$.input.echo_string"},
    "ResultPath": "$.SayHello",
}
SHOUT_IT = {
    "Type": "Action",
    "ActionUrl": "https://actions.globus.org/expression_eval",
    "Parameters": {"expression": "said + '!'", "arguments": {"said.$": "$.SayHello.details.hello"}},
    "ResultPath": "$.Shout",
    "End": True,
}


class SayHello(GladierBaseTool):
    """Echo a string through the Hello World action provider (and shout it with --shout)."""

    flow_definition = {
        "StartAt": "SayHello",
        "States": (
            {"SayHello": {**SAY_HELLO, "Next": "Shout"}, "Shout": SHOUT_IT}
            if SHOUT
            else {"SayHello": {**SAY_HELLO, "End": True}}
        ),
    }
    required_input = ["echo_string"]


@generate_flow_definition
class HelloClient(GladierBaseClient):
    """Say hello, as the signed-in person."""

    gladier_tools = [SayHello]


def main():
    client = HelloClient()
    if sys.argv[1] == "--logout":
        client.logout()
        print("RESULT " + json.dumps({"logged_in": client.is_logged_in()}), flush=True)
        return
    run = client.run_flow(flow_input={"input": {"echo_string": sys.argv[1]}}, label="hello from gladier")
    deadline = time.monotonic() + 60
    status = client.get_status(run["run_id"])
    while status["status"] == "ACTIVE" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.get_status(run["run_id"])
    result = {
        "run": run,
        "status": status,
        "flow_id": client.get_flow_id(),
        "logged_in": client.is_logged_in(),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
