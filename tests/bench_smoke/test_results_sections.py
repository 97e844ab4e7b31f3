"""bench/results.py: each benchmark rewrites only its own section of bench/RESULTS.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# loaded by path: putting bench/ on sys.path would shadow the tests' own `engine` package with bench/engine.py
_spec = importlib.util.spec_from_file_location(
    "bench_results", Path(__file__).resolve().parents[2] / "bench" / "results.py"
)
assert _spec is not None and _spec.loader is not None
_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_results)
read_section, write_section = _results.read_section, _results.write_section


def test_a_benchmark_rewrites_its_own_section_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    write_section(path, "engine", "# engine\n\n| a | 1 |\n")
    write_section(path, "map", "# map\n\n| b | 2 |\n")
    write_section(path, "engine", "# engine\n\n| a | 3 |\n")  # engine again: map stays, engine replaced
    text = path.read_text()
    assert read_section(path, "engine") == "# engine\n\n| a | 3 |\n"
    assert read_section(path, "map") == "# map\n\n| b | 2 |\n"
    assert text.index("section engine") < text.index("section map")  # in place, not moved
    assert "| a | 1 |" not in text
    write_section(path, "map", "# map\n\n| b | 4 |\n")
    assert read_section(path, "engine") == "# engine\n\n| a | 3 |\n"
    assert read_section(path, "map") == "# map\n\n| b | 4 |\n"


def test_text_outside_the_sections_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("Read me first.\n")
    write_section(path, "map", "| m | 1 |\n")
    write_section(path, "map", "| m | 2 |\n")
    assert path.read_text() == (
        "Read me first.\n\n"
        "<!-- section map: written by bench/map.py -->\n| m | 2 |\n<!-- end of section map -->\n"
    )
    assert read_section(path, "engine") is None


def test_the_checked_in_results_have_both_sections() -> None:
    results = Path(__file__).resolve().parents[2] / "bench" / "RESULTS.md"
    engine, mapped = read_section(results, "engine"), read_section(results, "map")
    assert engine is not None and "bench/engine.py" in engine
    assert mapped is not None and "pure Map" in mapped
