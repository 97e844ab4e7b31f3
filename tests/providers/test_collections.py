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
from openflows.providers.beneath import MAX_DEPTH
from openflows.providers.collections import Collection, PathRefused, UnknownCollection, load_collection
from openflows.store.db import Database


def located(c: Collection, path: str, *, follow: bool = True) -> tuple[str, ...]:
    """The real components below the root that `path` leads to."""
    root_fd = c.open_root()
    try:
        with c.locate(root_fd, c.parts(path), follow=follow) as loc:
            return loc.parts
    finally:
        os.close(root_fd)


def test_root_aliases_resolve_to_the_root(make_collection: MakeCollection):
    c = make_collection()
    for path in ("/", "/~/", "~/", "", "/~", "~", "."):
        assert c.parts(path) == ()
        assert located(c, path) == ()
    assert c.parts("/~/a/b.txt") == ("a", "b.txt")
    assert c.parts("a//b/./c") == ("a", "b", "c")
    assert c.display(("a", "b")) == "/a/b"
    assert c.display(()) == "/"


@pytest.mark.parametrize("path", ["..", "/../etc/passwd", "/~/a/../../x", "a/..", "/x/\x00"])
def test_dot_dot_and_nul_are_refused(make_collection: MakeCollection, path: str):
    c = make_collection()
    with pytest.raises(PathRefused) as caught:
        c.parts(path)
    assert caught.value.status_code == 400
    assert "collection" in caught.value.description or "NUL" in caught.value.description


def test_symlinks_pointing_outside_are_refused(make_collection: MakeCollection, tmp_path: Path):
    c = make_collection()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("k")
    os.symlink(outside, c.root / "escape")
    os.symlink(outside / "key", c.root / "key-link")
    os.symlink("../../secret", c.root / "climbs")  # relative, through `..` above the root
    (c.root / "inside").mkdir()
    os.symlink(c.root / "inside", c.root / "ok-link")
    os.symlink("inside/../inside", c.root / "ok-relative")
    os.symlink("loop-b", c.root / "loop-a")
    os.symlink("loop-a", c.root / "loop-b")
    for path in ("/escape", "/escape/key", "/key-link"):
        with pytest.raises(PathRefused, match="outside the collection"):
            located(c, path)
    with pytest.raises(PathRefused, match="above the root"):
        located(c, "/climbs/key")
    with pytest.raises(PathRefused, match="too many levels"):
        located(c, "/loop-a")
    assert located(c, "/ok-link") == ("inside",)
    assert located(c, "/ok-relative/new") == ("inside", "new")


def test_writes_never_go_through_a_link(make_collection: MakeCollection, tmp_path: Path):
    """Without `follow`, a link in a directory component is refused even when it points inside; the final
    component is taken as it is (the link itself)."""
    c = make_collection()
    (c.root / "inside").mkdir()
    os.symlink(c.root / "inside", c.root / "ok-link")
    os.symlink(tmp_path, c.root / "escape")
    for path in ("/ok-link/x", "/escape/x", "/escape/a/b"):
        with pytest.raises(PathRefused, match="is a symbolic link"):
            located(c, path, follow=False)
    assert located(c, "/ok-link", follow=False) == ("ok-link",)
    assert located(c, "/escape", follow=False) == ("escape",)


def test_a_2000_level_path_is_refused_cleanly(make_collection: MakeCollection):
    c = make_collection()
    deep = "/" + "/".join(["d"] * 2000)
    with pytest.raises(PathRefused, match="2000 levels deep"):
        c.parts(deep)
    assert len(c.parts("/" + "/".join(["d"] * MAX_DEPTH))) == MAX_DEPTH


def test_a_root_that_is_a_prefix_of_a_sibling_does_not_leak(make_collection: MakeCollection, tmp_path: Path):
    c = make_collection(root=tmp_path / "data")
    (tmp_path / "data-other").mkdir()
    os.symlink(tmp_path / "data-other", c.root / "sib")
    with pytest.raises(PathRefused):
        located(c, "/sib")


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
    assert rows == [
        {
            "id": collection_id,
            "name": "Data",
            "root": str(root.resolve()),
            "owner": None,  # the local administrator, who does not exist in this fresh database
            "owner_username": None,
            "rules": 0,
        }
    ]
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
