"""Helpers of the corpus end-to-end tests (tests/e2e/test_corpus_serve.py): trees of files, the action URLs of
a definition, and the compute function the gladier publish flow calls.

The server's compute tasks import this module (it is on their PYTHONPATH), so it imports the standard library
only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_tree(root: Path, files: dict[str, bytes | str]) -> dict[str, bytes]:
    """Write `files` (relative path -> content) under `root`; return them as bytes."""
    written = {}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        written[rel] = data.encode() if isinstance(data, str) else data
        path.write_bytes(written[rel])
    return written


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`: relative path -> content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def action_urls(definition: dict[str, Any]) -> list[str]:
    """The `ActionUrl` of every Action state of a definition, in state order."""
    return [
        state["ActionUrl"]
        for state in definition["States"].values()
        if state.get("Type") == "Action" and isinstance(state.get("ActionUrl"), str)
    ]


def gather_metadata(
    *,
    dataset_dir: str,
    source_collection: str,
    source_path: str,
    destination_collection: str,
    destination_path: str,
    index: str,
    **_flags: Any,
) -> dict[str, Any]:
    """The gladier publishv2 "gather metadata" step: a Transfer request (current shape) that publishes the
    dataset and a Search ingest document describing its files (`dataset_dir` is the dataset's real path)."""
    files = sorted(str(p.relative_to(dataset_dir)) for p in Path(dataset_dir).rglob("*") if p.is_file())
    return {
        "transfer": {
            "source_endpoint": source_collection,
            "destination_endpoint": destination_collection,
            "label": "publishv2",
            "DATA": [{"source_path": source_path, "destination_path": destination_path, "recursive": True}],
        },
        "search": {
            "search_index": index,
            "subject": f"globus://{destination_collection}{destination_path}",
            "visible_to": ["public"],
            "id": "metadata",
            "content": {"title": Path(dataset_dir).name, "files": files},
        },
    }
