"""The transfer provider: both input shapes, trees, atomic files, checksums, sync levels, pruning, failures
that name the path, cancel, durable resume after a crash, and real background threads."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from providerkit import ALICE, MakeCollection, read_tree, run_action, write_tree

from openflows.engine.clock import FakeClock
from openflows.providers.base import BadActionRequest, Provider
from openflows.providers.collections import PathRefused
from openflows.providers.runner import ActionRunner
from openflows.providers.transfer import Options, TransferFailed, TransferProvider, copy_tree
from openflows.store.db import Database
from openflows.store.schema import provider_actions

TREE = {"a.txt": "alpha", "sub/b.bin": b"\x00\x01" * 1000, "sub/deeper/c.txt": "gamma", ".hidden": "h"}


def test_current_shape_copies_a_tree(providers: dict[str, Provider], make_collection: MakeCollection):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, TREE)
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/~/", "destination_path": "/copy/", "recursive": True}],
            "label": "tree",
        },
    )
    assert doc["status"] == "SUCCEEDED", doc["details"]
    details = doc["details"]
    assert details["DATA_TYPE"] == "task" and details["type"] == "TRANSFER"
    assert details["status"] == "SUCCEEDED" and details["label"] == "tree"
    assert details["files"] == 4 and details["files_transferred"] == 4
    assert details["bytes_transferred"] == sum(len(v) for v in read_tree(src.root).values())
    assert details["source_endpoint_id"] == str(src.id) and details["destination_endpoint_id"] == str(dst.id)
    assert details["subtasks_pending"] == 0 and details["is_ok"] is True
    assert read_tree(dst.root / "copy") == read_tree(src.root)
    assert not list(dst.root.rglob("*.part"))  # no temporary file left behind


def test_legacy_shape_copies_a_file(providers: dict[str, Provider], make_collection: MakeCollection):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"in/file.txt": "legacy"})
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint_id": str(src.id),
            "destination_endpoint_id": str(dst.id),
            "transfer_items": [
                {"source_path": "/in/file.txt", "destination_path": "/out.txt", "recursive": False}
            ],
        },
    )
    assert doc["status"] == "SUCCEEDED", doc["details"]
    assert (dst.root / "out.txt").read_text() == "legacy"


def test_a_file_into_an_existing_directory_keeps_its_name(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f.txt": "x"})
    (dst.root / "d").mkdir()
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/f.txt", "destination_path": "/d"}],
        },
    )
    assert doc["status"] == "SUCCEEDED"
    assert (dst.root / "d" / "f.txt").read_text() == "x"


def test_failures_name_the_path_and_the_reason(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    src, dst = make_collection("src"), make_collection("dst")
    (src.root / "dir").mkdir()
    missing = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/nope.txt", "destination_path": "/x"}],
        },
    )
    assert missing["status"] == "FAILED"
    assert missing["details"]["fatal_error"]["code"] == "FILE_NOT_FOUND"
    assert "/nope.txt" in missing["details"]["fatal_error"]["description"]
    assert missing["details"]["nice_status"] == "FILE_NOT_FOUND"
    not_recursive = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/dir", "destination_path": "/x", "recursive": False}],
        },
    )
    assert not_recursive["status"] == "FAILED"
    assert not_recursive["details"]["fatal_error"]["code"] == "IS_A_DIRECTORY"


def test_unreadable_file_fails_naming_it(providers: dict[str, Provider], make_collection: MakeCollection):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"ok.txt": "1", "locked.txt": "2"})
    (src.root / "locked.txt").chmod(0)
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
        },
    )
    assert doc["status"] == "FAILED"
    assert doc["details"]["fatal_error"]["code"] == "PERMISSION_DENIED"
    assert "/locked.txt" in doc["details"]["fatal_error"]["description"]


def test_paths_escaping_a_collection_are_refused_at_run(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    src, dst = make_collection("src"), make_collection("dst")
    with pytest.raises(PathRefused):
        providers["transfer"].run(
            {
                "request_id": "r1",
                "body": {
                    "source_endpoint": str(src.id),
                    "destination_endpoint": str(dst.id),
                    "DATA": [{"source_path": "/../../etc/passwd", "destination_path": "/x"}],
                },
            },
            ALICE,
        )
    with pytest.raises(BadActionRequest, match="not a local collection"):
        providers["transfer"].run(
            {
                "request_id": "r2",
                "body": {
                    "source_endpoint": str(uuid.uuid4()),
                    "destination_endpoint": str(dst.id),
                    "DATA": [{"source_path": "/a", "destination_path": "/x"}],
                },
            },
            ALICE,
        )


def test_symlink_inside_the_tree_pointing_outside_fails(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"d/ok.txt": "ok"})
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", src.root / "d" / "leak.txt")
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/d", "destination_path": "/d", "recursive": True}],
        },
    )
    assert doc["status"] == "FAILED"
    assert doc["details"]["fatal_error"]["code"] == "PATH_REFUSED"
    assert not (dst.root / "d" / "leak.txt").exists()


def test_verify_checksum_and_sync_levels(make_collection: MakeCollection):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"a": "same", "b": "source-b", "c": "c"})
    write_tree(dst.root, {"a": "same", "b": "old", "c": "C"})
    items = [{"source_path": "/", "destination_path": "/", "recursive": True}]
    # level 0: everything that exists is skipped
    p = copy_tree(src, dst, items, Options(sync_level=0), threads=1)
    assert (p.files_transferred, p.files_skipped) == (0, 3)
    # level 1: same size is skipped ("a" and "c"), "b" differs in size
    p = copy_tree(src, dst, items, Options(sync_level=1), threads=1)
    assert (p.files_transferred, p.files_skipped) == (1, 2)
    assert (dst.root / "b").read_text() == "source-b" and (dst.root / "c").read_text() == "C"
    # level 3: checksums: "c" differs
    p = copy_tree(src, dst, items, Options(sync_level=3, verify_checksum=True), threads=2)
    assert (p.files_transferred, p.files_skipped) == (1, 2)
    assert p.bytes_checksummed == 1
    assert read_tree(dst.root) == read_tree(src.root)
    # level 2: the copies got the source's mtime: nothing newer, nothing copied; touching the source copies
    p = copy_tree(src, dst, items, Options(sync_level=2), threads=1)
    assert p.files_transferred == 0
    future = time.time() + 100
    os.utime(src.root / "a", (future, future))
    p = copy_tree(src, dst, items, Options(sync_level=2), threads=1)
    assert p.files_transferred == 1


def test_delete_destination_extra_prunes(make_collection: MakeCollection):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"keep/a": "a"})
    write_tree(dst.root, {"keep/a": "old", "keep/extra": "x", "keep/olddir/f": "y"})
    copy_tree(
        src,
        dst,
        [{"source_path": "/keep", "destination_path": "/keep", "recursive": True}],
        Options(delete_destination_extra=True),
    )
    assert read_tree(dst.root) == {"keep/a": b"a"}


def test_checksum_mismatch_is_reported(make_collection: MakeCollection, monkeypatch: pytest.MonkeyPatch):
    from openflows.providers import transfer

    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f": "data"})
    real_copy = transfer.copy_file

    def corrupting_copy(s: Path, d: Path) -> int:  # simulates a disk that flips bytes
        size = real_copy(s, d)
        Path(d).write_text("DATA")
        return size

    monkeypatch.setattr(transfer, "copy_file", corrupting_copy)
    with pytest.raises(TransferFailed) as caught:
        copy_tree(src, dst, [{"source_path": "/f", "destination_path": "/f"}], Options(verify_checksum=True))
    assert caught.value.code == "CHECKSUM_MISMATCH" and "/f" in caught.value.description


def test_run_is_idempotent(providers: dict[str, Provider], make_collection: MakeCollection, db: Database):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f": "1"})
    body = {
        "source_endpoint": str(src.id),
        "destination_endpoint": str(dst.id),
        "DATA": [{"source_path": "/f", "destination_path": "/f"}],
    }
    first, created = providers["transfer"].run({"request_id": "same", "body": body}, ALICE)
    second, again = providers["transfer"].run({"request_id": "same", "body": body}, ALICE)
    assert created and not again and first["action_id"] == second["action_id"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(provider_actions)).scalar() == 1


def _slow_provider(db: Database, clock: FakeClock, runner: ActionRunner) -> TransferProvider:
    return TransferProvider(db, clock=clock, runner=runner, copy_threads=1)


def test_background_threads_cancel_and_wake(db: Database, make_collection: MakeCollection, clock: FakeClock):
    """A real thread pool: /run answers ACTIVE, the copy happens in the background, on_finished fires; a
    cancel stops a transfer in the middle."""
    finished = threading.Event()
    seen: list[tuple[str, str, str]] = []

    def on_finished(provider: str, action_id: str, request_id: str) -> None:
        seen.append((provider, action_id, request_id))
        finished.set()

    runner = ActionRunner(db, clock=clock, threads=2, on_finished=on_finished, lease_seconds=5)
    provider = _slow_provider(db, clock, runner)
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {f"f{i:03}": str(i) for i in range(50)})
    runner.start()
    try:
        doc = run_action(
            provider,
            {
                "source_endpoint": str(src.id),
                "destination_endpoint": str(dst.id),
                "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
            },
            request_id="run-1/Transfer/0",
        )
        assert finished.wait(30)
        assert seen == [("transfer", doc["action_id"], "run-1/Transfer/0")]
        final = provider.status(doc["action_id"], ALICE)
        assert final["status"] == "SUCCEEDED" and final["details"]["files_transferred"] == 50
        assert read_tree(dst.root) == read_tree(src.root)

        # cancel in the middle: a copy that blocks until the test has canceled
        from openflows.providers import transfer

        gate = threading.Event()
        started = threading.Event()
        real_copy = transfer.copy_file

        def gated_copy(s: Path, d: Path) -> int:
            started.set()
            gate.wait(10)
            return real_copy(s, d)

        transfer.copy_file = gated_copy  # type: ignore[assignment]
        try:
            dst2 = make_collection("dst2")
            doc2 = run_action(
                provider,
                {
                    "source_endpoint": str(src.id),
                    "destination_endpoint": str(dst2.id),
                    "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
                },
            )
            assert started.wait(10)
            canceled = provider.cancel(doc2["action_id"], ALICE)
            assert canceled["status"] == "FAILED" and canceled["display_status"] == "CANCELED"
            gate.set()
            deadline = time.monotonic() + 10
            while runner.busy() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert runner.busy() == 0
            assert len(list(dst2.root.iterdir())) <= 1  # stopped after (at most) the file in flight
            assert provider.status(doc2["action_id"], ALICE)["display_status"] == "CANCELED"
        finally:
            transfer.copy_file = real_copy  # type: ignore[assignment]
    finally:
        runner.stop()


def test_an_interrupted_transfer_resumes_after_a_restart(
    db: Database, make_collection: MakeCollection, clock: FakeClock
):
    """A crash leaves the action ACTIVE with a lease nobody renews; the next process's runner recovers it."""
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, TREE)
    dead = ActionRunner(db, clock=clock, inline=True)
    dead.submit = lambda provider, action_id: None  # type: ignore[method-assign] # "crashes" before working
    provider = TransferProvider(db, clock=clock, runner=dead)
    doc = run_action(
        provider,
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
        },
    )
    assert doc["status"] == "ACTIVE"
    # the dead process had claimed it: its lease is in the future
    with db.begin() as conn:
        conn.execute(sa.update(provider_actions).values(due_at=clock.now() + dt.timedelta(seconds=30)))
    (dst.root / "sub").mkdir()
    (dst.root / "sub" / ".b.bin.4242-7.part").write_bytes(b"half a fi")  # what the killed copy left behind
    restarted = ActionRunner(db, clock=clock, inline=True, lease_seconds=30)
    TransferProvider(db, clock=clock, runner=restarted)
    assert restarted.recover() == 0  # the lease is still held
    clock.advance(31)
    assert restarted.recover() == 1
    assert provider.status(doc["action_id"], ALICE)["status"] == "SUCCEEDED"
    assert read_tree(dst.root) == read_tree(src.root)
