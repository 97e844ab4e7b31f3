"""Local collections: path resolution stays inside the root; the store and the CLI manage them."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from providerkit import MakeCollection
from typer.testing import CliRunner

from openflows.cli.main import app
from openflows.providers.collections import PathRefused, UnknownCollection, load_collection
from openflows.store.db import Database


def test_root_aliases_resolve_to_the_root(make_collection: MakeCollection):
    c = make_collection()
    for path in ("/", "/~/", "~/", "", "/~", "~", "."):
        assert c.resolve(path) == c.root
    assert c.resolve("/~/a/b.txt") == c.root / "a" / "b.txt"
    assert c.resolve("a//b/./c") == c.root / "a" / "b" / "c"
    assert c.display(c.root / "a" / "b") == "/a/b"
    assert c.display(c.root) == "/"


@pytest.mark.parametrize("path", ["..", "/../etc/passwd", "/~/a/../../x", "a/..", "/x/\x00"])
def test_dot_dot_and_nul_are_refused(make_collection: MakeCollection, path: str):
    c = make_collection()
    with pytest.raises(PathRefused) as caught:
        c.resolve(path)
    assert caught.value.status_code == 400
    assert "collection" in caught.value.description or "NUL" in caught.value.description


def test_symlinks_pointing_outside_are_refused(make_collection: MakeCollection, tmp_path: Path):
    c = make_collection()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("k")
    os.symlink(outside, c.root / "escape")
    os.symlink(outside / "key", c.root / "key-link")
    (c.root / "inside").mkdir()
    os.symlink(c.root / "inside", c.root / "ok-link")
    for path in ("/escape", "/escape/key", "/key-link"):
        with pytest.raises(PathRefused, match="outside collection"):
            c.resolve(path)
    assert c.resolve("/ok-link") == c.root / "inside"


def test_a_root_that_is_a_prefix_of_a_sibling_does_not_leak(make_collection: MakeCollection, tmp_path: Path):
    c = make_collection(root=tmp_path / "data")
    (tmp_path / "data-other").mkdir()
    os.symlink(tmp_path / "data-other", c.root / "sib")
    with pytest.raises(PathRefused):
        c.resolve("/sib")


def test_unknown_collection_is_a_clear_400(db: Database):
    with pytest.raises(UnknownCollection, match="not a local collection"):
        load_collection(db, uuid.uuid4())
    with pytest.raises(UnknownCollection, match="not a collection id"):
        load_collection(db, "nope")


def test_cli_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENFLOWS_HOME", str(tmp_path / "home"))
    cli = CliRunner()
    root = tmp_path / "data"
    root.mkdir()
    collection_id = str(uuid.uuid4())
    added = cli.invoke(app, ["collections", "add", "--id", collection_id, "--name", "Data", str(root)])
    assert added.exit_code == 0, added.output
    listed = cli.invoke(app, ["collections", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert rows == [{"id": collection_id, "name": "Data", "root": str(root.resolve())}]
    missing = cli.invoke(
        app, ["collections", "add", "--id", str(uuid.uuid4()), "--name", "x", str(tmp_path / "no")]
    )
    assert missing.exit_code == 1 and "not a directory" in missing.output
    bad_id = cli.invoke(app, ["collections", "add", "--id", "nope", "--name", "x", str(root)])
    assert bad_id.exit_code != 0
    removed = cli.invoke(app, ["collections", "remove", collection_id])
    assert removed.exit_code == 0, removed.output
    assert json.loads(cli.invoke(app, ["collections", "list", "--json"]).stdout) == []
    again = cli.invoke(app, ["collections", "remove", collection_id])
    assert again.exit_code == 1
