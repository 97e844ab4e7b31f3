"""Child runs (the iterations of a Map or Parallel state, store/children.py) are not runs to the API: not
listed, 404 by id (even for the parent run's owner), and their logs are not readable as a run's."""

from __future__ import annotations

import uuid

from openflows.store import children, runs
from openflows.store.db import Database

from .conftest import User


def test_child_runs_are_invisible_through_the_api(alice: User, db: Database) -> None:
    flow = alice.create_flow()
    parent = alice.run_flow(flow["id"], {"items": [1, 2]})
    key = children.IterationsKey(uuid.UUID(parent["run_id"]), "Fan", "1/0")
    with db.begin() as conn:
        stored = runs.get_run(conn, run_id=key.parent_run_id)
        assert stored is not None
        children.create_children(
            conn, parent=stored, key=key, inputs=[1, 2], contexts=[{}, {}], start=2, now=stored["start_time"]
        )
    child = str(children.child_run_id(key, 0))
    assert alice.get(f"/runs/{parent['run_id']}").status_code == 200
    for path in (f"/runs/{child}", f"/runs/{child}/log", f"/runs/{child}/definition"):
        response = alice.get(path)
        assert response.status_code == 404, (path, response.text)
    assert alice.post(f"/runs/{child}/cancel").status_code == 404
    listed = alice.get("/runs").json()["runs"]
    assert [run["run_id"] for run in listed] == [parent["run_id"]]
