"""A real SMTP server for the notification tests: aiosmtpd on 127.0.0.1 and a free port, in a thread.

`SmtpSink` keeps every message it accepted; it can refuse (`refuse(n)`: the next n messages get `451 try
again later`, or `refuse_all()` until `accept()`) and hold (`hold()`: a message's RCPT TO waits until
`release()`, so a test can kill the sender while it is in the middle of sending).
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

#: longest a held RCPT waits for `release()`
HOLD_TIMEOUT = 60.0  # seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.sink.rcpt_seen.set()
        if not self.sink.released.is_set():
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.sink.released.wait, HOLD_TIMEOUT)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.lock:
            self.sink.attempts += 1
            if self.sink.refusals != 0:
                if self.sink.refusals > 0:
                    self.sink.refusals -= 1
                return self.sink.refuse_code
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.sink.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"


class SmtpSink:
    """An SMTP server that records what it accepts (see the module docstring)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.attempts = 0
        self.refusals = 0
        #: what a refused message is answered (a 4xx is temporary, a 5xx permanent)
        self.refuse_code = "451 4.3.0 Try again later"
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.rcpt_seen = threading.Event()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.released.set()
        self.controller.stop()

    def refuse(self, count: int) -> None:
        with self.lock:
            self.refusals = count

    def refuse_all(self) -> None:
        with self.lock:
            self.refusals = -1

    def accept(self) -> None:
        with self.lock:
            self.refusals = 0

    def hold(self) -> None:
        self.rcpt_seen.clear()
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)
