"""The transfer provider: both input shapes, trees, atomic files, checksums, sync levels, pruning, failures
that name the path, cancel, durable resume after a crash, and real background threads."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from providerkit import ALICE, MakeCollection, read_tree, run_action, write_tree

from openflows.providers import beneath
from openflows.providers.base import BadActionRequest, Provider
from openflows.providers.collections import PathRefused
from openflows.providers.copytree import Options, TransferFailed, copy_tree
from openflows.providers.runner import ActionRunner
from openflows.providers.transfer import TransferProvider
from openflows.shared.clock import FakeClock
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
    p = copy_tree(src, dst, items, Options(sync_level=0), threads=1, caller=ALICE)
    assert (p.files_transferred, p.files_skipped) == (0, 3)
    # level 1: same size is skipped ("a" and "c"), "b" differs in size
    p = copy_tree(src, dst, items, Options(sync_level=1), threads=1, caller=ALICE)
    assert (p.files_transferred, p.files_skipped) == (1, 2)
    assert (dst.root / "b").read_text() == "source-b" and (dst.root / "c").read_text() == "C"
    # level 3: checksums: "c" differs
    p = copy_tree(src, dst, items, Options(sync_level=3, verify_checksum=True), threads=2, caller=ALICE)
    assert (p.files_transferred, p.files_skipped) == (1, 2)
    assert p.bytes_checksummed == 1
    assert read_tree(dst.root) == read_tree(src.root)
    # level 2: the copies got the source's mtime: nothing newer, nothing copied; touching the source copies
    p = copy_tree(src, dst, items, Options(sync_level=2), threads=1, caller=ALICE)
    assert p.files_transferred == 0
    future = time.time() + 100
    os.utime(src.root / "a", (future, future))
    p = copy_tree(src, dst, items, Options(sync_level=2), threads=1, caller=ALICE)
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
        caller=ALICE,
    )
    assert read_tree(dst.root) == {"keep/a": b"a"}


def test_checksum_mismatch_is_reported(make_collection: MakeCollection, monkeypatch: pytest.MonkeyPatch):
    from openflows.providers import copytree

    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f": "data"})
    real_copy = copytree.copy_file

    def corrupting_copy(src_dir: int, src_name: str, dst_dir: int, dst_name: str, **kw: bool) -> int:
        size = real_copy(src_dir, src_name, dst_dir, dst_name, **kw)
        fd = os.open(dst_name, os.O_WRONLY | os.O_TRUNC, dir_fd=dst_dir)  # a disk that flips bytes
        os.write(fd, b"DATA")
        os.close(fd)
        return size

    monkeypatch.setattr(copytree, "copy_file", corrupting_copy)
    with pytest.raises(TransferFailed) as caught:
        copy_tree(
            src,
            dst,
            [{"source_path": "/f", "destination_path": "/f"}],
            Options(verify_checksum=True),
            caller=ALICE,
        )
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
        from openflows.providers import copytree

        gate = threading.Event()
        started = threading.Event()
        real_copy = copytree.copy_file

        def gated_copy(*args: object, **kw: object) -> int:
            started.set()
            gate.wait(10)
            return real_copy(*args, **kw)  # type: ignore[arg-type]

        copytree.copy_file = gated_copy  # type: ignore[assignment]
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
            copytree.copy_file = real_copy  # type: ignore[assignment]
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


# -- symbolic links and races --------------------------------------------------------------------------------

#: the race trees: 6 directories of 40 files
RACE_TREE = {f"tree/sub{i}/f{j:03}": f"{i}-{j}" for i in range(6) for j in range(40)}


def _tempting_outside(tmp_path: Path) -> Path:
    """A directory outside both collections shaped like the race tree, full of secrets."""
    outside = tmp_path / "outside"
    write_tree(outside, {f"sub{i}/f{j:03}": "SECRET" for i in range(6) for j in range(40)})
    return outside


def _files_under(root: Path) -> dict[str, bytes]:
    return read_tree(root) if root.exists() else {}


class _SwapAfter:
    """A `should_stop` hook that, before the `after`-th file, moves `directory` aside (inside its collection)
    and puts a symlink to `outside` in its place: the race of a local user, made deterministic."""

    def __init__(self, directory: Path, outside: Path, after: int) -> None:
        self.directory, self.outside, self.after = directory, outside, after
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> bool:
        with self.lock:
            self.calls += 1
            if self.calls == self.after:
                os.rename(self.directory, self.directory.with_name(self.directory.name + "-moved"))
                os.symlink(self.outside, self.directory)
        return False


@pytest.mark.parametrize("threads", [1, 3])
def test_a_destination_directory_swapped_for_a_link_mid_transfer_writes_nothing_outside(
    make_collection: MakeCollection, tmp_path: Path, threads: int
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, RACE_TREE)
    outside = _tempting_outside(tmp_path)
    before = _files_under(outside)
    hook = _SwapAfter(dst.root / "tree", outside, after=30)
    items = [{"source_path": "/tree", "destination_path": "/tree", "recursive": True}]
    with pytest.raises(TransferFailed) as caught:
        copy_tree(src, dst, items, Options(), threads=threads, should_stop=hook, caller=ALICE)
    # one thread: refused at the next directory; more: another thread may also see the moment between the
    # rename and the symlink, when the directory does not exist
    expected = {"PATH_REFUSED"} if threads == 1 else {"PATH_REFUSED", "FILE_NOT_FOUND"}
    assert caught.value.code in expected, caught.value.description
    assert hook.calls >= 30
    assert _files_under(outside) == before  # nothing written, replaced or left as .part outside
    assert not list(outside.rglob("*.part"))
    written = read_tree(dst.root / "tree-moved")
    assert written and all(data != b"SECRET" for data in written.values())


@pytest.mark.parametrize("threads", [1, 3])
def test_a_source_directory_swapped_for_a_link_mid_transfer_reads_nothing_outside(
    make_collection: MakeCollection, tmp_path: Path, threads: int
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, RACE_TREE)
    outside = _tempting_outside(tmp_path)
    hook = _SwapAfter(src.root / "tree", outside, after=30)
    items = [{"source_path": "/tree", "destination_path": "/copy", "recursive": True}]
    with pytest.raises(TransferFailed) as caught:
        copy_tree(src, dst, items, Options(), threads=threads, should_stop=hook, caller=ALICE)
    # one thread: refused at the next directory; more: another thread may also see the moment between the
    # rename and the symlink, when the directory does not exist
    expected = {"PATH_REFUSED"} if threads == 1 else {"PATH_REFUSED", "FILE_NOT_FOUND"}
    assert caught.value.code in expected, caught.value.description
    copied = read_tree(dst.root)
    assert copied and b"SECRET" not in copied.values()


@pytest.mark.parametrize("side", ["destination", "source"])
def test_links_hammered_during_transfers_never_lead_outside(
    make_collection: MakeCollection, tmp_path: Path, side: str
):
    """A thread flips a destination (or source) directory between real and symlink-to-outside while
    transfers run; whatever each transfer's outcome, nothing outside is written and no secret is read."""
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, RACE_TREE)
    outside = _tempting_outside(tmp_path)
    before = _files_under(outside)
    items = [{"source_path": "/tree", "destination_path": "/tree", "recursive": True}]
    copy_tree(
        src, dst, items, Options(), threads=1, caller=ALICE
    )  # the destination tree exists: the hammer can flip it
    stop = threading.Event()
    flips = 0

    def flip(directory: Path, n: int) -> None:
        """Real directory -> symlink to outside -> real directory again."""
        aside = directory.with_name(directory.name + "-aside")
        try:
            os.rename(directory, aside)
        except OSError:
            return
        with contextlib.suppress(OSError):  # the transfer may have made the directory again meanwhile
            os.symlink(outside / "sub1", directory)
            stop.wait(0.002)  # the link stays a moment: long enough for a copy to try it
            os.unlink(directory)
        try:
            os.rename(aside, directory)
        except OSError:  # it did, and wrote into it: put that one aside
            os.rename(directory, directory.with_name(f"{directory.name}-again{n}"))
            os.rename(aside, directory)

    def hammer() -> None:
        nonlocal flips
        directory = (dst.root if side == "destination" else src.root) / "tree" / "sub1"
        while not stop.is_set():
            flip(directory, flips)
            flips += 1

    thread = threading.Thread(target=hammer)
    thread.start()
    outcomes: list[str] = []
    try:
        for _ in range(8):  # bounded by transfers, not by time
            try:
                copy_tree(src, dst, items, Options(), threads=2, caller=ALICE)
                outcomes.append("SUCCEEDED")
            except TransferFailed as exc:
                outcomes.append(exc.code)
    finally:
        stop.set()
        thread.join(10)
    assert flips > 0, outcomes
    # a transfer may fail (a directory vanished or became a link under it), never escape
    assert set(outcomes) <= {"SUCCEEDED", "PATH_REFUSED", "FILE_NOT_FOUND", "NOT_A_DIRECTORY"}, outcomes
    assert _files_under(outside) == before
    assert b"SECRET" not in read_tree(dst.root).values()


def test_destination_paths_through_links_are_refused_and_final_links_replaced(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f.txt": "new", "d/g.txt": "g"})
    outside = _tempting_outside(tmp_path)
    (dst.root / "inside").mkdir()
    os.symlink(outside, dst.root / "out")
    os.symlink(dst.root / "inside", dst.root / "in")
    for destination in ("/out/f.txt", "/in/f.txt", "/out/sub1/", "/in/x/y"):
        with pytest.raises(PathRefused, match="symbolic link"):
            providers["transfer"].run(
                {
                    "request_id": f"through-{destination}",
                    "body": {
                        "source_endpoint": str(src.id),
                        "destination_endpoint": str(dst.id),
                        "DATA": [{"source_path": "/f.txt", "destination_path": destination}],
                    },
                },
                ALICE,
            )
    # a link as the final destination name is replaced by the file, its target is left alone
    os.symlink(outside / "sub0" / "f000", dst.root / "file-link")
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/f.txt", "destination_path": "/file-link"}],
        },
    )
    assert doc["status"] == "SUCCEEDED", doc["details"]
    assert not (dst.root / "file-link").is_symlink() and (dst.root / "file-link").read_text() == "new"
    assert (outside / "sub0" / "f000").read_text() == "SECRET"


def test_source_links_inside_are_followed_and_outside_refused(
    providers: dict[str, Provider], make_collection: MakeCollection, tmp_path: Path
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"real/a.txt": "a", "real/deep/b.txt": "b"})
    os.symlink("real", src.root / "alias")  # a relative link that stays inside
    os.symlink(src.root / "real" / "a.txt", src.root / "real" / "deep" / "again.txt")
    doc = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/alias", "destination_path": "/copy", "recursive": True}],
        },
    )
    assert doc["status"] == "SUCCEEDED", doc["details"]
    assert read_tree(dst.root / "copy") == {"a.txt": b"a", "deep/b.txt": b"b", "deep/again.txt": b"a"}
    outside = _tempting_outside(tmp_path)
    os.symlink("../../outside/sub0", src.root / "real" / "climbs")
    failed = run_action(
        providers["transfer"],
        {
            "source_endpoint": str(src.id),
            "destination_endpoint": str(dst.id),
            "DATA": [{"source_path": "/real", "destination_path": "/again", "recursive": True}],
        },
    )
    assert failed["status"] == "FAILED"
    assert failed["details"]["fatal_error"]["code"] == "PATH_REFUSED"
    assert "/real/climbs" in failed["details"]["fatal_error"]["description"]
    assert str(outside) not in failed["details"]["fatal_error"]["description"]
    assert b"SECRET" not in read_tree(dst.root).values()


def _deep_chain(root: Path, depth: int) -> None:
    """root/d/d/.../d/leaf.txt, `depth` directories deep, made with directory descriptors (no long paths)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom")
        os.close(leaf)
    finally:
        os.close(fd)


def test_a_2000_level_destination_is_path_refused(
    providers: dict[str, Provider], make_collection: MakeCollection
):
    src, dst = make_collection("src"), make_collection("dst")
    write_tree(src.root, {"f.txt": "x"})
    with pytest.raises(PathRefused, match="2000 levels deep") as caught:
        providers["transfer"].run(
            {
                "request_id": "deep",
                "body": {
                    "source_endpoint": str(src.id),
                    "destination_endpoint": str(dst.id),
                    "DATA": [{"source_path": "/f.txt", "destination_path": "/" + "/".join(["d"] * 2000)}],
                },
            },
            ALICE,
        )
    assert caught.value.status_code == 400


def test_deep_trees_are_copied_and_deleted_without_recursion(
    providers: dict[str, Provider], make_collection: MakeCollection, monkeypatch: pytest.MonkeyPatch
):
    """Planning, copying and deleting a tree 300 levels deep needs no Python stack per level; a tree deeper
    than the limit fails cleanly with PATH_REFUSED."""
    src, dst = make_collection("src"), make_collection("dst")
    _deep_chain(src.root, 300)
    items = [{"source_path": "/d", "destination_path": "/copy", "recursive": True}]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)  # far fewer frames than levels
    try:
        progress = copy_tree(src, dst, items, Options(), threads=1, caller=ALICE)
        deleted = run_action(
            providers["delete"], {"endpoint": str(dst.id), "DATA": [{"path": "/copy"}], "recursive": True}
        )
    finally:
        sys.setrecursionlimit(limit)
    assert progress.files_transferred == 1 and progress.directories == 300
    assert deleted["status"] == "SUCCEEDED", deleted["details"]
    assert deleted["details"]["files_deleted"] == 1 and list(dst.root.iterdir()) == []
    monkeypatch.setattr(beneath, "MAX_DEPTH", 50)  # the limit met while walking a tree (1,000 in production)
    too_deep = make_collection("deep")
    _deep_chain(too_deep.root, 55)
    with pytest.raises(TransferFailed) as caught:
        copy_tree(
            too_deep,
            dst,
            [{"source_path": "/", "destination_path": "/x", "recursive": True}],
            Options(),
            caller=ALICE,
        )
    assert caught.value.code == "PATH_REFUSED" and "levels deep" in caught.value.description
