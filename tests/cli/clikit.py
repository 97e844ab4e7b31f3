"""Data shared by the client-command tests."""

from __future__ import annotations

#: the smallest flow that succeeds
HELLO = {"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "Result": {"greeting": "hello"}, "End": True}}}
