"""Functions the compute provider runs in the corpus tests (registered with `functions register`)."""

from __future__ import annotations

import tarfile
from pathlib import Path


def make_tar(*, tar_path: str, paths: list[str]) -> str:
    """Tar `paths` (absolute) into `tar_path`; return tar_path."""
    with tarfile.open(tar_path, "w:gz") as tar:
        for path in paths:
            tar.add(path, arcname=Path(path).name)
    return tar_path


def count_files(*, directory: str) -> int:
    return sum(1 for p in Path(directory).rglob("*") if p.is_file())
