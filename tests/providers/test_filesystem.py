"""ls, stat, mkdir (synchronous) and delete (background) on local collections, current and legacy shapes."""

from __future__ import annotations

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
