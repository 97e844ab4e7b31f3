"""The service context: writes are run again when the executor changed a run under them."""

from __future__ import annotations

from typing import Any

import pytest

from openflows.store import errors as store_errors


def test_transact_retries_concurrent_updates(app: Any) -> None:
    service = app.state.service
    calls: list[int] = []

    def flaky(conn: Any) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise store_errors.ConcurrentUpdate("run changed")
        return "ok"

    assert service.transact(flaky) == "ok"
    assert len(calls) == 3

    def always(conn: Any) -> None:
        raise store_errors.ConcurrentUpdate("run changed")

    with pytest.raises(store_errors.ConcurrentUpdate):
        service.transact(always)
