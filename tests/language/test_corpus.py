"""Every real public flow in the corpus validates with no problem (strictly too) and can be analysed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import CORPUS_DIR as _CORPUS_DIR
from corpus import CORPUS_FILES
from openflows.language.analysis import analyze_definition
from openflows.language.validation import validate_definition

CORPUS_DIR = _CORPUS_DIR
CORPUS = CORPUS_FILES


def test_corpus_is_present() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_flow_is_valid(path: Path) -> None:
    definition = json.loads(path.read_text())
    assert validate_definition(definition) == []
    assert validate_definition(definition, strict=True) == []


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_flow_analysis(path: Path) -> None:
    result = analyze_definition(json.loads(path.read_text()))
    assert result["analysis"]["number_of_possibilities"] >= 1
    assert list(result["scopes"]) == sorted(result["scopes"])
