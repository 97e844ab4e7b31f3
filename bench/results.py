"""`bench/RESULTS.md` holds one section per benchmark, each between two HTML comments (invisible once the
Markdown is rendered); a benchmark's `--output` rewrites its own section and keeps the others
(`write_section`)."""

from __future__ import annotations

from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section {name}: written by bench/{name}.py -->", f"<!-- end of section {name} -->"


def read_section(path: Path, name: str) -> str | None:
    """The text of section `name` of `path` (None when the file or the section is missing)."""
    if not path.exists():
        return None
    text = path.read_text()
    begin, end = _markers(name)
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if stop < 0:
        return None
    return text[start + len(begin) : stop].strip("\n") + "\n"


def write_section(path: Path, name: str, table: str) -> None:
    """Put `table` as section `name` of `path`: in the place of the section's old text, or at the end of the
    file when it has no such section yet (the file is created when missing). The rest is kept as it was."""
    text = path.read_text() if path.exists() else ""
    begin, end = _markers(name)
    block = f"{begin}\n{table.strip(chr(10))}\n{end}"
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if stop >= 0:
        text = text[:start] + block + text[stop + len(end) :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)
