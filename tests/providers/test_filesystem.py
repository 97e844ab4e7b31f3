"""ls, stat, mkdir (synchronous) and delete (background) on local collections, current and legacy shapes."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from providerkit import MakeCollection, run_action, write_tree

from openflows.providers.base import BadActionRequest, Provider
from openflows.providers.collections import PathRefused


def test_ls_lists_a_directory_like_transfer(providers: dict[str, Provider], make_collection: MakeCollection):
    c = make_collection()
    write_tree(c.root, {"b.txt": "bb", "a/x": "x", ".h": ""})
    doc = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/~/"})
    assert doc["status"] == "SUCCEEDED"
    details = doc["details"]
    assert details["DATA_TYPE"] == "file_list" and details["path"] == "/"
    assert [(e["name"], e["type"], e["is_folder"]) for e in details["DATA"]] == [
        (".h", "file", False),
        ("a", "dir", True),
        ("b.txt", "file", False),
    ]
    assert details["length"] == 3 and details["total"] == 3
    b = details["DATA"][2]
    assert b["size"] == 2 and b["permissions"] == "0644" and b["last_modified"].endswith("+00:00")
    hidden = run_action(
        providers["ls"], {"endpoint": str(c.id), "path": "/", "show_hidden": False, "limit": 1}
    )
    assert [e["name"] for e in hidden["details"]["DATA"]] == ["a"]
    assert hidden["details"]["total"] == 2 and hidden["details"]["has_next_page"] is True


def test_ls_path_only_describes_the_path_itself(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    c = make_collection()
    write_tree(c.root, {"dir/f.txt": "f"})
    doc = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/dir/f.txt", "path_only": True})
    assert doc["details"]["path"] == "/dir/"
    assert [(e["name"], e["is_folder"]) for e in doc["details"]["DATA"]] == [("f.txt", False)]
    missing = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/nope", "path_only": True})
    assert missing["status"] == "SUCCEEDED" and missing["details"]["DATA"] == []


def test_ls_of_a_missing_path_fails(providers: dict[str, Provider], make_collection: MakeCollection):
    c = make_collection()
    doc = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/missing"})
    assert doc["status"] == "FAILED" and doc["details"]["code"] == "NotFound"
    assert "/missing" in doc["details"]["description"]


def test_stat_and_mkdir(providers: dict[str, Provider], make_collection: MakeCollection):
    c = make_collection()
    made = run_action(providers["mkdir"], {"endpoint_id": str(c.id), "path": "/new"})
    assert made["status"] == "SUCCEEDED" and made["details"]["code"] == "DirectoryCreated"
    assert (c.root / "new").is_dir()
    again = run_action(providers["mkdir"], {"endpoint_id": str(c.id), "path": "/new"})
    assert again["status"] == "FAILED" and "Exists" in again["details"]["code"]
    orphan = run_action(providers["mkdir"], {"endpoint_id": str(c.id), "path": "/a/b/c"})
    assert orphan["status"] == "FAILED"
    stat = run_action(providers["stat"], {"endpoint_id": str(c.id), "path": "/new"})
    assert stat["status"] == "SUCCEEDED"
    assert stat["details"]["name"] == "new" and stat["details"]["type"] == "dir"
    missing = run_action(providers["stat"], {"endpoint_id": str(c.id), "path": "/gone"})
    assert missing["status"] == "FAILED" and missing["details"]["code"] == "NotFound"


def test_escapes_are_refused_before_anything_happens(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    c = make_collection()
    for name in ("ls", "stat", "mkdir"):
        with pytest.raises(PathRefused):
            providers[name].run(
                {"request_id": name, "body": {"endpoint_id": str(c.id), "path": "/../x"}}, _alice()
            )
    with pytest.raises(BadActionRequest, match="endpoint_id"):
        providers["ls"].run({"request_id": "no-endpoint", "body": {"path": "/"}}, _alice())


class _StubJob:
    """What a background provider's `work` reads of its job."""

    def __init__(self, state: dict, body: dict, creator_id: str | None = None) -> None:
        self.state, self.body = state, body
        self.row = {"start_time": dt.datetime.now(dt.UTC), "creator_id": creator_id or _alice().identity}
        self.canceled = threading.Event()
        self.recovered = False

    def progress(self, details: object, *, force: bool = False) -> None:
        pass


def _alice():
    from providerkit import ALICE

    return ALICE


def test_delete_current_and_legacy_shapes(providers: dict[str, Provider], make_collection: MakeCollection):
    c = make_collection()
    write_tree(c.root, {"f.txt": "f", "d/x": "x", "d/e/y": "y", "keep": "k"})
    current = run_action(
        providers["delete"], {"endpoint": str(c.id), "DATA": [{"path": "/f.txt"}], "label": "one"}
    )
    assert current["status"] == "SUCCEEDED", current["details"]
    assert current["details"]["DATA_TYPE"] == "task" and current["details"]["type"] == "DELETE"
    assert not (c.root / "f.txt").exists()
    not_recursive = run_action(providers["delete"], {"endpoint_id": str(c.id), "items": ["/d"]})
    assert not_recursive["status"] == "FAILED"
    assert not_recursive["details"]["fatal_error"]["code"] == "IS_A_DIRECTORY"
    legacy = run_action(providers["delete"], {"endpoint_id": str(c.id), "items": ["/d"], "recursive": True})
    assert legacy["status"] == "SUCCEEDED" and legacy["details"]["files_deleted"] == 2
    assert sorted(p.name for p in c.root.iterdir()) == ["keep"]
    missing = run_action(providers["delete"], {"endpoint_id": str(c.id), "items": ["/nope"]})
    assert missing["status"] == "FAILED" and missing["details"]["fatal_error"]["code"] == "FILE_NOT_FOUND"
    ignored = run_action(
        providers["delete"], {"endpoint_id": str(c.id), "items": ["/nope"], "ignore_missing": True}
    )
    assert ignored["status"] == "SUCCEEDED"
    with pytest.raises(PathRefused, match="root"):
        providers["delete"].run(
            {"request_id": "root", "body": {"endpoint_id": str(c.id), "items": ["/"]}}, _alice()
        )


def _outside(tmp_path: Path) -> Path:
    """A directory beside the collections, with a file whose size and mode are easy to spot."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text("s" * 12345)
    secret.chmod(0o600)
    return outside


def test_deleting_a_symlink_removes_the_link_and_keeps_the_target(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    c = make_collection()
    outside = _outside(tmp_path)
    write_tree(c.root, {"target.txt": "t", "dir/kept": "k"})
    os.symlink(c.root / "target.txt", c.root / "file-link")
    os.symlink(c.root / "dir", c.root / "dir-link")
    os.symlink(outside, c.root / "out-link")
    os.symlink(outside / "secret.txt", c.root / "secret-link")
    for name in ("file-link", "dir-link", "out-link", "secret-link"):
        doc = run_action(providers["delete"], {"endpoint": str(c.id), "DATA": [{"path": f"/{name}"}]})
        assert doc["status"] == "SUCCEEDED", doc["details"]
        assert doc["details"]["files_deleted"] == 1
        assert not os.path.lexists(c.root / name)
    # a recursive delete of a directory holding links removes the links, never what they point to
    os.symlink(outside, c.root / "dir" / "inner-out")
    os.symlink(c.root / "target.txt", c.root / "dir" / "inner-file")
    doc = run_action(
        providers["delete"], {"endpoint": str(c.id), "DATA": [{"path": "/dir"}], "recursive": True}
    )
    assert doc["status"] == "SUCCEEDED", doc["details"]
    assert doc["details"]["files_deleted"] == 3
    assert sorted(p.name for p in c.root.iterdir()) == ["target.txt"]
    assert (c.root / "target.txt").read_text() == "t"
    assert (outside / "secret.txt").read_text() == "s" * 12345


def test_ls_and_stat_show_nothing_outside_the_collection(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    c = make_collection()
    outside = _outside(tmp_path)
    write_tree(c.root, {"inside/real.txt": "abc"})
    os.symlink(outside / "secret.txt", c.root / "secret-link")  # absolute, outside
    os.symlink("../../outside", c.root / "inside" / "climbs")  # relative, climbs out
    os.symlink(outside, c.root / "out-dir")
    os.symlink(c.root / "nowhere", c.root / "dangling")
    os.symlink("inside/real.txt", c.root / "ok-link")  # stays inside
    os.symlink(c.root / "inside", c.root / "ok-dir")
    doc = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/"})
    assert doc["status"] == "SUCCEEDED", doc["details"]
    entries = {e["name"]: e for e in doc["details"]["DATA"]}
    for name in ("secret-link", "out-dir", "dangling"):
        entry = entries[name]
        assert (entry["type"], entry["is_folder"], entry["size"], entry["link_target"]) == (
            "invalid_symlink",
            False,
            0,
            None,
        ), entry
    assert str(tmp_path) not in repr(doc)  # no absolute path of the server, no outside name
    assert "12345" not in repr(doc) and "0600" not in repr(doc)
    ok = entries["ok-link"]
    assert (ok["type"], ok["size"], ok["link_target"]) == ("file", 3, "/inside/real.txt")
    assert (entries["ok-dir"]["type"], entries["ok-dir"]["link_target"]) == ("dir", "/inside")
    inner = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": "/inside"})
    climbs = {e["name"]: e for e in inner["details"]["DATA"]}["climbs"]
    assert (climbs["type"], climbs["size"], climbs["link_target"]) == ("invalid_symlink", 0, None)
    # naming the escaping link itself: refused before anything is read
    for name, body in [
        ("stat", {"endpoint_id": str(c.id), "path": "/secret-link"}),
        ("stat", {"endpoint_id": str(c.id), "path": "/out-dir/secret.txt"}),
        ("ls", {"endpoint_id": str(c.id), "path": "/out-dir"}),
        ("ls", {"endpoint_id": str(c.id), "path": "/secret-link", "path_only": True}),
    ]:
        with pytest.raises(PathRefused, match="outside the collection"):
            providers[name].run({"request_id": f"{name}-{body['path']}", "body": body}, _alice())
    stat = run_action(providers["stat"], {"endpoint_id": str(c.id), "path": "/ok-link"})
    assert stat["details"]["path"] == "/inside/real.txt" and stat["details"]["size"] == 3


def test_mkdir_and_delete_never_go_through_a_symlinked_directory(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    c = make_collection()
    outside = _outside(tmp_path)
    (c.root / "inside").mkdir()
    (c.root / "inside" / "victim.txt").write_text("v")
    os.symlink(outside, c.root / "out-dir")
    os.symlink(c.root / "inside", c.root / "in-dir")  # even a link that stays inside is not a way to write
    for link in ("out-dir", "in-dir"):
        with pytest.raises(PathRefused, match="symbolic link"):
            providers["mkdir"].run(
                {"request_id": f"mkdir-{link}", "body": {"endpoint_id": str(c.id), "path": f"/{link}/new"}},
                _alice(),
            )
        with pytest.raises(PathRefused, match="symbolic link"):
            providers["delete"].run(
                {
                    "request_id": f"del-{link}",
                    "body": {"endpoint": str(c.id), "DATA": [{"path": f"/{link}/x"}]},
                },
                _alice(),
            )
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (c.root / "inside" / "victim.txt").read_text() == "v"
    assert not (c.root / "inside" / "new").exists()
    # mkdir over an existing link is "exists", and leaves the link alone
    exists = run_action(providers["mkdir"], {"endpoint_id": str(c.id), "path": "/out-dir"})
    assert exists["details"]["code"] == "ExternalError.MkdirFailed.Exists"


def test_a_link_swapped_in_after_the_check_is_not_followed(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    """The path is checked at /run; a directory replaced by a link before the background delete runs is
    refused then, not followed."""
    c = make_collection()
    outside = _outside(tmp_path)
    write_tree(c.root, {"d/secret.txt": "mine"})
    provider = providers["delete"]
    body = {"endpoint": str(c.id), "DATA": [{"path": "/d/secret.txt"}]}
    state = provider.check_body(body, _alice())
    os.rename(c.root / "d", c.root / "d-moved")
    os.symlink(outside, c.root / "d")
    outcome = provider.work(_StubJob(state, body))  # type: ignore[attr-defined,arg-type]
    assert outcome.status == "FAILED"
    assert outcome.details["fatal_error"]["code"] == "PATH_REFUSED"
    assert (outside / "secret.txt").exists() and (c.root / "d-moved" / "secret.txt").exists()


@pytest.mark.parametrize("name", ["ls", "stat", "mkdir", "delete"])
def test_a_2000_level_path_is_path_refused(
    providers: dict[str, Provider], make_collection: MakeCollection, name
):
    c = make_collection()
    deep = "/" + "/".join(["d"] * 2000)
    body = {"endpoint_id": str(c.id), "path": deep}
    if name == "delete":
        body = {"endpoint": str(c.id), "DATA": [{"path": deep}], "recursive": True}
    with pytest.raises(PathRefused, match="2000 levels deep") as caught:
        providers[name].run({"request_id": f"deep-{name}", "body": body}, _alice())
    assert caught.value.status_code == 400


def test_ls_path_only_under_a_missing_directory_is_empty(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    c = make_collection()
    write_tree(c.root, {"file.txt": "f"})
    for path in ("/missing/deeper", "/file.txt/under"):
        doc = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": path, "path_only": True})
        assert doc["status"] == "SUCCEEDED" and doc["details"]["DATA"] == [], doc["details"]
        listed = run_action(providers["ls"], {"endpoint_id": str(c.id), "path": path})
        assert listed["status"] == "FAILED" and listed["details"]["code"] == "NotFound"
