"""Where the corpus of real public flows lives in the repository (a copy of shared/corpus/flows)."""

from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "flows"
CORPUS_FILES = sorted(CORPUS_DIR.glob("*.json"))
assert CORPUS_FILES, f"the flow corpus is missing: {CORPUS_DIR}"
