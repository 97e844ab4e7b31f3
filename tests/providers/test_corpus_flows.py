"""Every runnable corpus flow that uses the built-in providers runs to SUCCEEDED through the executor (fake
clock, background work inline) against local collections, and the files on disk are checked afterwards.

The collections belong to the runs' owner (the identity the built-ins act for). The two sharing flows
(trigger-transfer-share, trigger-transfer-publish) call the retired `transfer/set_permission` URL, which
the `manage_permission` built-in answers: the rule they make is checked to take effect. The weboption
flows are not listed: a person chooses their options over HTTP (tests/e2e/test_corpus_serve.py runs them)."""

from __future__ import annotations

import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from providerkit import BOB, read_tree, run_action, write_tree

from corpus import CORPUS_DIR
from engine.enginekit import OWNER, drive, get_run, insert_run
from openflows.engine.executor import Executor
from openflows.providers.base import Caller, Provider, ProviderRegistry
from openflows.providers.collections import Collection, PermissionDenied, load_collection
from openflows.settings import Settings
from openflows.shared.clock import FakeClock
from openflows.store.collections import add_collection, register_function
from openflows.store.db import Database
from openflows.store.schema import search_entries

#: the Globus tutorial collection gac-loop-with-batch-processing lists
TUTORIAL_ENDPOINT = uuid.UUID("ddb59aef-6d04-11e5-ba46-22000b92c6ec")


class World:
    """Local collections and an executor to run corpus flows against them."""

    def __init__(self, db: Database, executor: Executor, clock: FakeClock, tmp_path: Path) -> None:
        self.db, self.executor, self.clock, self.tmp = db, executor, clock, tmp_path

    def collection(self, name: str, collection_id: uuid.UUID | None = None) -> Collection:
        root = self.tmp / name
        root.mkdir(parents=True, exist_ok=True)
        key = collection_id or uuid.uuid4()
        self.db.transact(  # owned by the runs' owner: the identity the providers act for
            add_collection,
            collection_id=key,
            name=name,
            root=root.resolve(),
            now=self.clock.now(),
            owner=OWNER,
        )
        return load_collection(self.db, key)

    def function(self, target: str) -> str:
        key = uuid.uuid4()
        self.db.transact(register_function, function_id=key, target=target, now=self.clock.now())
        return str(key)

    def run(self, flow: str, body: dict[str, Any]) -> dict[str, Any]:
        definition = json.loads((CORPUS_DIR / flow).read_text())
        run_id = insert_run(self.db, definition, body, now=self.clock.now())
        drive(self.executor, self.clock)
        run = get_run(self.db, run_id)
        assert run["status"] == "SUCCEEDED", json.dumps(run["details"], indent=1)[:3000]
        return run["details"]["output"]


@pytest.fixture
def world(
    db: Database, settings: Settings, providers: dict[str, Provider], clock: FakeClock, tmp_path: Path
) -> World:
    registry = ProviderRegistry(providers.values(), base_urls=["http://openflows.test"])
    executor = Executor(db, settings, registry=registry, clock=clock, threads=1)
    return World(db, executor, clock, tmp_path)


def test_single_transfer(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"data/a.txt": "a", "data/b/c.txt": "c"})
    out = world.run(
        "gac-single-transfer.json",
        {
            "source_endpoint_id": str(src.id),
            "destination_endpoint_id": str(dst.id),
            "transfer_items": [{"source_path": "/~/data", "destination_path": "/~/copy", "recursive": True}],
        },
    )
    assert out["TransferResult"]["status"] == "SUCCEEDED"
    assert out["TransferResult"]["details"]["files_transferred"] == 2
    assert read_tree(dst.root / "copy") == read_tree(src.root / "data")


def test_hello_plus_transfer(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"f.txt": "hello"})
    out = world.run(
        "gac-hello-plus-transfer.json",
        {
            "HelloInput": {"echo_string": "hi"},
            "TransferInput": {
                "source_endpoint_id": str(src.id),
                "destination_endpoint_id": str(dst.id),
                "source_path": "/f.txt",
                "destination_path": "/g.txt",
                "recursive": False,
            },
        },
    )
    assert out["HelloOutput"]["details"]["hello"] == "hi"
    assert (dst.root / "g.txt").read_text() == "hello"


def test_trigger_transfer_and_gladier_transfer(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"in/x.dat": b"\x00" * 100, "in/y.dat": b"\x01" * 10})
    world.run(
        "trigger-transfer.json",
        {
            "input": {
                "source": {"id": str(src.id), "path": "/in"},
                "destination": {"id": str(dst.id), "path": "/trigger"},
                "recursive_tx": True,
            }
        },
    )
    assert read_tree(dst.root / "trigger") == read_tree(src.root / "in")
    out = world.run(
        "gladier-tools-transfer.json",
        {
            "input": {
                "transfer_source_endpoint_id": str(src.id),
                "transfer_destination_endpoint_id": str(dst.id),
                "transfer_source_path": "/in",
                "transfer_destination_path": "/gladier",
                "transfer_recursive": True,
            }
        },
    )
    assert out["Transfer"]["details"]["DATA_TYPE"] == "task"
    assert read_tree(dst.root / "gladier") == read_tree(src.root / "in")


def test_single_delete(world: World):
    c = world.collection("c")
    write_tree(c.root, {"old/a": "a", "old/b/c": "c", "keep": "k"})
    out = world.run(
        "gac-single-delete.json",
        {"endpoint_id": str(c.id), "items": ["/old"], "recursive": True, "label": "cleanup"},
    )
    assert out["DeleteResult"]["details"]["label"] == "cleanup"
    assert sorted(p.name for p in c.root.iterdir()) == ["keep"]


def test_transfer_mv(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"move/me.txt": "m", "move/sub/too.txt": "t"})
    expected = read_tree(src.root / "move")
    out = world.run(
        "gac-transfer-mv.json",
        {
            "source_endpoint_id": str(src.id),
            "destination_endpoint_id": str(dst.id),
            "source_path": "/move",
            "destination_path": "/moved",
            "recursive": True,
            "transfer_label": "mv",
            "delete_label": "mv-delete",
        },
    )
    assert out["FlowResult"] == {"message": "Move operation complete"}
    assert read_tree(dst.root / "moved") == expected
    assert not (src.root / "move").exists()


def test_docs_move_copy_and_delete(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"project/data.csv": "1,2", "project/raw/r.bin": b"\x07" * 64})
    (dst.root / "archive").mkdir()
    expected = read_tree(src.root / "project")
    out = world.run(
        "gac-docs-move-copy-and-delete.json",
        {
            "source": {"id": str(src.id), "path": "/project"},
            "destination": {"id": str(dst.id), "path": "/archive"},
        },
    )
    assert out["SourceInfo"]["is_recursive"] is True
    assert out["DestinationInfo"]["is_folder"] is True
    assert read_tree(dst.root / "archive" / "project") == expected
    assert not (src.root / "project").exists()


def test_loop_with_batch_processing(world: World):
    c = world.collection("tutorial", TUTORIAL_ENDPOINT)
    write_tree(c.root, {f"file{i}.txt": str(i) for i in range(7)})
    out = world.run("gac-loop-with-batch-processing.json", {"step": 3})
    assert out["state"]["batches"] == [
        ["file0.txt", "file1.txt", "file2.txt"],
        ["file3.txt", "file4.txt", "file5.txt"],
        ["file6.txt"],
    ]


def test_send_notification(world: World, tmp_path: Path):
    out = world.run(
        "gac-send-notification.json",
        {
            "EmailNotificationInput": {
                "destination": "someone@example.org",
                "subject": "corpus",
                "body_template": "Dear $who",
                "body_variables": {"who": "reader"},
            }
        },
    )
    assert out["EmailNotificationResult"]["status"] == "SUCCEEDED"
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    text = eml.read_text()
    assert "To: someone@example.org" in text and "Dear reader" in text


def test_transfer_then_compute(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"batch/1": "a", "batch/2": "b", "batch/3/4": "c"})
    function = world.function("flowfuncs:count_files")
    out = world.run(
        "trigger-transfer-compute.json",
        {
            "input": {
                "source": {"id": str(src.id), "path": "/batch"},
                "destination": {"id": str(dst.id), "path": "/landed"},
                "recursive_tx": True,
                "compute_endpoint_id": str(uuid.uuid4()),
                "compute_function_id": function,
                "compute_function_kwargs": {"directory": str(dst.root / "landed")},
            }
        },
    )
    assert out["ProcessFiles"]["details"]["result"] == [3]


def test_tar_then_transfer(world: World):
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"results/r1.txt": "r1", "results/r2.txt": "r2"})
    function = world.function("flowfuncs:make_tar")
    out = world.run(
        "trigger-tar-transfer.json",
        {
            "tar": {
                "compute_endpoint_id": str(uuid.uuid4()),
                "compute_function_id": function,
                "compute_function_kwargs": {
                    "tar_path": str(src.root / "results.tgz"),
                    "paths": [str(src.root / "results")],
                },
            },
            "transfer": {
                "source_collection": str(src.id),
                "destination_collection": str(dst.id),
                "source_path": "/results.tgz",
                "destination_path": "/results.tgz",
            },
        },
    )
    assert out["TarResult"]["details"]["result"] == [str(src.root / "results.tgz")]
    with tarfile.open(dst.root / "results.tgz") as tar:
        assert sorted(tar.getnames()) == ["results", "results/r1.txt", "results/r2.txt"]


def test_two_hop_transfer_of_a_thousand_files(world: World):
    """The globus-sdk "Multi Step Transfer" example (legacy shape) across three local collections."""
    campus, dmz, repo = world.collection("campus"), world.collection("dmz"), world.collection("repo")
    write_tree(
        campus.root, {f"dataset/d{i // 100}/f{i:04}.dat": f"file {i}\n" * (i % 7 + 1) for i in range(1000)}
    )
    out = world.run(
        "sdk-two-hop-transfer.json",
        {
            "source_endpoint_id": str(campus.id),
            "source_path": "/~/dataset",
            "staging_endpoint_id": str(dmz.id),
            "staging_path": "/~/staging",
            "destination_endpoint_id": str(repo.id),
            "destination_path": "/~/published",
        },
    )
    assert out["Transfer2Result"]["details"]["files_transferred"] == 1000
    source = read_tree(campus.root / "dataset")
    assert len(source) == 1000
    assert read_tree(dmz.root / "staging") == source
    assert read_tree(repo.root / "published") == source


def _shared_rules(db: Database, collection: Collection) -> list[tuple[str, str, str]]:
    return [
        (rule.principal, rule.shown_path, rule.permissions)
        for rule in load_collection(db, collection.id).access.rules
    ]


def test_transfer_share(world: World, db: Database, providers: dict[str, Provider]):
    """trigger-transfer-share: transfer, then grant an identity read access to what arrived. Bob could read
    nothing of the destination before; afterwards he may list and stat the shared directory, and still
    nothing else of it."""
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"in/x.dat": "x", "in/y/z.dat": "z"})
    write_tree(dst.root, {"private/own.txt": "mine"})
    bob_id = BOB.identity.rsplit(":", 1)[1]
    ls = {"endpoint_id": str(dst.id), "path": "/shared"}
    with pytest.raises(PermissionDenied):
        run_action(providers["ls"], ls, BOB)
    out = world.run(
        "trigger-transfer-share.json",
        {
            "input": {
                "source": {"id": str(src.id), "path": "/in"},
                "destination": {"id": str(dst.id), "path": "/shared"},
                "recursive_tx": True,
                "principal": {"type": "identity", "id": bob_id},
            }
        },
    )
    assert read_tree(dst.root / "shared") == read_tree(src.root / "in")
    created = out["SetPermission"]["details"]
    assert out["SetPermission"]["status"] == "SUCCEEDED"
    assert created["code"] == "Created" and created["DATA_TYPE"] == "access_create_result"
    assert _shared_rules(db, dst) == [(BOB.identity, "/shared/", "r")]
    assert [rule.id for rule in load_collection(db, dst.id).access.rules] == [uuid.UUID(created["access_id"])]
    listed = run_action(providers["ls"], ls, BOB)
    assert sorted(entry["name"] for entry in listed["details"]["DATA"]) == ["x.dat", "y"]
    for body in ({"endpoint_id": str(dst.id), "path": "/private"}, {"endpoint_id": str(dst.id), "path": "/"}):
        with pytest.raises(PermissionDenied):
            run_action(providers["ls"], body, BOB)
    with pytest.raises(PermissionDenied):  # read-only
        run_action(providers["mkdir"], {"endpoint_id": str(dst.id), "path": "/shared/mine"}, BOB)


def test_transfer_publish(world: World, db: Database, providers: dict[str, Provider]):
    """trigger-transfer-publish: transfer, grant a group read access, ingest two search entries. A member
    of the group may then read the published directory; someone outside it may not."""
    src, dst = world.collection("src"), world.collection("dst")
    write_tree(src.root, {"results/r1.txt": "r1"})
    group = uuid.uuid4()
    out = world.run(
        "trigger-transfer-publish.json",
        {
            "input": {
                "source": {"id": str(src.id), "path": "/results"},
                "destination": {"id": str(dst.id), "path": "/published/"},
                "recursive_tx": True,
                "principal_type": "group",
                "principal_identifier": str(group),
                "search_ingest_document": {
                    "search_index": "publish-index",
                    "search_subject": f"globus://{dst.id}/published/",
                    "search_visible_to": ["public"],
                    "search_content_metadata": {"title": "results"},
                    "search_entry_id": "metadata",
                    "search_restricted_visible_to": [f"urn:globus:groups:id:{group}"],
                    "search_content_restricted_metadata": {"owner": "lab"},
                    "search_restricted_entry_id": "restricted",
                },
            }
        },
    )
    assert out["SetPermission"]["status"] == "SUCCEEDED", out["SetPermission"]
    assert _shared_rules(db, dst) == [(f"urn:globus:groups:id:{group}", "/published/", "r")]
    assert read_tree(dst.root / "published") == {"r1.txt": b"r1"}
    member = Caller(BOB.identity, groups=(f"urn:globus:groups:id:{group}",))
    stat = {"endpoint_id": str(dst.id), "path": "/published/r1.txt"}
    assert run_action(providers["stat"], stat, member)["details"]["size"] == 2
    with pytest.raises(PermissionDenied):
        run_action(providers["stat"], stat, BOB)
    import sqlalchemy as sa

    with db.read() as conn:
        rows = conn.execute(sa.select(search_entries).order_by(search_entries.c.entry_id)).all()
    assert [(r.search_index, r.entry_id, r.visible_to) for r in rows] == [
        ("publish-index", "metadata", ["public"]),
        ("publish-index", "restricted", [f"urn:globus:groups:id:{group}"]),
    ]


def test_search_ingest_flow(world: World, db: Database):
    """No corpus flow ingests without set_permission first; the ingest step of trigger-transfer-publish runs
    alone here with the same parameters."""
    definition = json.loads((CORPUS_DIR / "trigger-transfer-publish.json").read_text())
    ingest = dict(definition["States"]["SearchIngest"], End=True)
    ingest.pop("Next", None)
    flow = {"StartAt": "SearchIngest", "States": {"SearchIngest": ingest}}
    body = {k: v for k, v in ingest["Parameters"].items()}
    assert set(body) == {"search_index.$", "subject.$", "visible_to.$", "content.$", "id.$"}
    from engine.enginekit import drive, get_run, insert_run

    run_input = {}
    values = {
        "search_index": "local-index",
        "subject": "globus://collection/path",
        "visible_to": ["public"],
        "content": {"title": "published"},
        "id": "metadata",
    }
    for key, path in body.items():
        from openflows.language.paths import write_path

        run_input = write_path(run_input, path, values[key[:-2]])
    run_id = insert_run(db, flow, run_input, now=world.clock.now())
    drive(world.executor, world.clock)
    assert get_run(db, run_id)["status"] == "SUCCEEDED"
    import sqlalchemy as sa

    with db.read() as conn:
        rows = conn.execute(sa.select(search_entries)).all()
    assert [(r.search_index, r.subject, r.entry_id, r.content) for r in rows] == [
        ("local-index", "globus://collection/path", "metadata", {"title": "published"})
    ]


Runner = Callable[..., Any]
