"""Transfer benchmark: how fast the built-in transfer provider copies beside `cp -r` on the same disk.

Two data sets, both in a temporary directory on the disk being measured (`--dir`, default the system temp):
one large file (1 GiB) and many small files (10,000 x 4 KiB in 100 directories). For each, `cp -r` and the
transfer provider (a real `TransferProvider` on a SQLite database, its background work run inline, so the
time covers planning, copying, renaming, progress writes and the final status) copy the same tree to a fresh
destination after an `os.sync()`. Each measurement is repeated and the best time kept (warm page cache for
the source in both cases; the destination's writeback is not included in either). Prints a table
with MB/s, files/s and the ratio provider / cp (target: at least 0.8).

    .venv/bin/python bench/transfer.py            # full: 1 GiB file, 10,000 small files, 5 repetitions
    .venv/bin/python bench/transfer.py --quick    # CI smoke: 8 MiB file, 300 small files, 1 repetition
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from openflows.providers.base import Caller
from openflows.providers.runner import ActionRunner
from openflows.providers.transfer import TransferProvider
from openflows.store.collections import add_collection
from openflows.store.db import Database
from openflows.store.migrate import upgrade

CALLER = Caller("urn:globus:auth:identity:00000000-0000-4000-8000-0000000bench")
WRITE_CHUNK = 16 * 1024 * 1024  # bytes


@dataclass(frozen=True)
class Sizes:
    big_bytes: int
    small_files: int
    small_bytes: int
    repetitions: int


FULL = Sizes(big_bytes=1024**3, small_files=10_000, small_bytes=4096, repetitions=5)
QUICK = Sizes(big_bytes=8 * 1024**2, small_files=300, small_bytes=4096, repetitions=1)


def make_big(root: Path, size: int) -> None:
    root.mkdir(parents=True)
    block = os.urandom(min(WRITE_CHUNK, size))
    with open(root / "big.bin", "wb") as handle:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            handle.write(block[:n])
            written += n


def make_small(root: Path, count: int, size: int) -> None:
    root.mkdir(parents=True)
    payload = os.urandom(size)
    for i in range(count):
        directory = root / f"d{i % 100:03}"
        if i < 100:
            directory.mkdir()
        (directory / f"f{i:05}.dat").write_bytes(payload[:size])


def time_cp(source: Path, destination: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(destination)], check=True)
    return time.perf_counter() - started


class ProviderBench:
    """A transfer provider on its own SQLite database, with two collections over the work directory."""

    def __init__(self, work: Path) -> None:
        self.db = Database(f"sqlite:///{work / 'bench.db'}")
        upgrade(self.db)
        self.provider = TransferProvider(self.db, runner=ActionRunner(self.db, inline=True))
        self.collection = uuid.uuid4()
        now = dt.datetime.now(dt.UTC)
        self.db.transact(
            add_collection,
            collection_id=self.collection,
            name="bench",
            root=work.resolve(),
            now=now,
            owner=CALLER.identity,
        )

    def time_transfer(self, source: str, destination: str) -> float:
        body = {
            "source_endpoint": str(self.collection),
            "destination_endpoint": str(self.collection),
            "DATA": [{"source_path": source, "destination_path": destination, "recursive": True}],
        }
        started = time.perf_counter()
        doc, _ = self.provider.run({"request_id": uuid.uuid4().hex, "body": body}, CALLER)
        elapsed = time.perf_counter() - started
        if doc["status"] != "SUCCEEDED":
            raise SystemExit(f"the transfer failed: {doc['details']}")
        return elapsed

    def close(self) -> None:
        self.db.dispose()


def best(times: list[float]) -> float:
    return min(times)


def measure(
    work: Path, bench: ProviderBench, name: str, files: int, size: int, reps: int
) -> dict[str, float]:
    source = work / name
    cp_times, of_times = [], []
    for rep in range(reps):
        # flush the previous copy's dirty pages first, so neither tool pays for the other's writeback
        cp_dst = work / f"{name}-cp-{rep}"
        os.sync()
        cp_times.append(time_cp(source, cp_dst))
        shutil.rmtree(cp_dst)
        of_dst = f"/{name}-of-{rep}"
        os.sync()
        of_times.append(bench.time_transfer(f"/{name}", of_dst))
        shutil.rmtree(work / of_dst.lstrip("/"))
    cp_t, of_t = best(cp_times), best(of_times)
    return {"files": files, "bytes": size, "cp": cp_t, "openflows": of_t}


def fmt_rate(bytes_: float, files: int, seconds: float) -> str:
    return f"{bytes_ / seconds / 1e6:8.1f} MB/s {files / seconds:9.0f} files/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (CI smoke)")
    parser.add_argument("--dir", type=Path, default=None, help="directory on the disk to measure")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="openflows-transfer-bench-", dir=args.dir))
    try:
        make_big(work / "big", sizes.big_bytes)
        make_small(work / "small", sizes.small_files, sizes.small_bytes)
        bench = ProviderBench(work)
        try:
            rows = [
                ("1 file", measure(work, bench, "big", 1, sizes.big_bytes, sizes.repetitions)),
                (
                    f"{sizes.small_files} small files",
                    measure(
                        work,
                        bench,
                        "small",
                        sizes.small_files,
                        sizes.small_files * sizes.small_bytes,
                        sizes.repetitions,
                    ),
                ),
            ]
        finally:
            bench.close()
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(f"work directory: {work} (best of {sizes.repetitions})")
        print()
        print("| data set | size | cp -r | openflows transfer | ratio (target >= 0.8) |")
        print("|---|---|---|---|---|")
        for label, row in rows:
            ratio = row["cp"] / row["openflows"]
            files, size = int(row["files"]), row["bytes"]
            cp_cell = f"{row['cp']:.3f} s ({fmt_rate(size, files, row['cp']).strip()})"
            of_cell = f"{row['openflows']:.3f} s ({fmt_rate(size, files, row['openflows']).strip()})"
            print(f"| {label} | {size / 1e6:.1f} MB | {cp_cell} | {of_cell} | {ratio:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
