"""A SIGKILL between a run's status change and the sending of its activity notification neither loses nor
repeats the message: the notification row commits with the status change, the restarted server sends it, and
once it is recorded as sent nothing sends it again.

A real `openflows serve` subprocess sends to a real local SMTP server (aiosmtpd, tests/mailkit.py) that holds
the message at RCPT TO, so the server is killed in the middle of sending."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import globus_sdk
import pytest
from crashkit import ServerProcess, wait_until

from mailkit import SmtpSink

pytestmark = pytest.mark.slow

PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
#: longest wait for anything the server does
TIMEOUT = 60.0  # seconds


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def test_sigkill_between_status_change_and_send_neither_loses_nor_repeats(
    tmp_path: Path, sink: SmtpSink
) -> None:
    server = ServerProcess(
        tmp_path,
        extra_env={
            "OPENFLOWS_SMTP_HOST": "127.0.0.1",
            "OPENFLOWS_SMTP_PORT": str(sink.port),
            "OPENFLOWS_SMTP_STARTTLS": "false",
        },
    )
    created = json.loads(
        server.cli("tokens", "create", "--username", "alice", "--email", "alice@example.org", "--json")
        .strip()
        .splitlines()[-1]
    )
    authorizer = globus_sdk.AccessTokenAuthorizer(created["token"])
    server.start()
    try:
        flows = globus_sdk.FlowsClient(base_url=server.url, authorizer=authorizer)
        flow_id = flows.create_flow("crash", PASS, {})["id"]
        specific = globus_sdk.SpecificFlowClient(flow_id, authorizer=authorizer)
        specific.base_url = server.url  # type: ignore[misc]
        sink.hold()
        run_id = specific.run_flow({}, label="held", activity_notification_policy={"status": ["SUCCEEDED"]})[
            "run_id"
        ]
        # the status change is committed, and the message is being sent when the server dies
        assert sink.rcpt_seen.wait(TIMEOUT), server.output()
        assert flows.get_run(run_id)["status"] == "SUCCEEDED"
        server.kill()
        sink.release()
        time.sleep(0.5)
        assert sink.received() == []

        server.start()  # the dead server's lease expires; the restarted one sends the message
        [message] = wait_until(sink.received, timeout=TIMEOUT, what="the notification after the restart")
        assert message["To"] == "alice <alice@example.org>"
        assert message["X-OpenFlows-Run"] == run_id
        assert message["Subject"] == '[OpenFlows] Run "held" of flow crash succeeded'

        # recorded as sent: neither waiting nor another restart sends it again
        time.sleep(3)
        server.kill()
        server.start()
        time.sleep(3)
        assert len(sink.received()) == 1
        notices = server.cli("notifications", "list", "--run", run_id, "--json")
        [row] = json.loads(notices)
        assert (row["status"], row["kind"]) == ("sent", "activity")
    finally:
        sink.release()
        server.stop()
