"""Every corpus flow that needs only hello_world, Pass, Choice and ExpressionEval runs to SUCCEEDED."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from enginekit import drive, get_run

from corpus import CORPUS_DIR as CORPUS
from openflows.engine.executor import Executor
from openflows.providers.base import normalize_url
from openflows.providers.hello_world import HelloWorldProvider
from openflows.shared.clock import FakeClock
from openflows.store.db import Database

RUNNABLE_TYPES = {"Pass", "Choice", "ExpressionEval"}
HELLO_URLS = {normalize_url(url) for url in HelloWorldProvider.hosted_urls}

#: run inputs for the flows that read their input
INPUTS = {"gac-hello-world.json": {"input": {"echo_string": "hello corpus", "sleep_time": 3}}}


def runnable(definition: dict) -> bool:
    for state in definition["States"].values():
        if state["Type"] == "Action":
            if normalize_url(state.get("ActionUrl", "")) not in HELLO_URLS:
                return False
            if "required_dependent_scope" in (state.get("Parameters") or {}):
                return False
        elif state["Type"] not in RUNNABLE_TYPES:
            return False
    return True


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.glob("*.json") if runnable(json.loads(path.read_text())))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not available")
def test_the_corpus_has_runnable_flows():
    names = {path.name for path in corpus_files()}
    assert {
        "gac-hello-world.json",
        "gac-loop-a-set-number-of-times.json",
        "gac-pass-with-parameters.json",
    } <= names


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.stem)
def test_corpus_flow_succeeds(
    path: Path, db: Database, executor: Executor, start_run: Callable, clock: FakeClock
):
    run_id = start_run(json.loads(path.read_text()), INPUTS.get(path.name, {}))
    drive(executor, clock)
    run = get_run(db, run_id)
    assert run["status"] == "SUCCEEDED", run["details"]
    if path.name == "gac-hello-world.json":
        assert run["details"]["output"]["HelloResult"]["details"] == {
            "Hello": "World",
            "hello": "hello corpus",
        }
    if path.name == "gac-loop-a-set-number-of-times.json":
        assert run["details"]["output"]["state_manager"] == {"counter": 10}
