"""`bench/RESULTS.md` holds one section per benchmark, each between two HTML comments (invisible once the
Markdown is rendered); a benchmark's `--output` rewrites its own section and keeps the others
(`write_section`)."""

from __future__ import annotations

from pathlib import Path


def _begin(name: str, script: str | None = None) -> str:
    return f"<!-- section {name}: written by bench/{script or name}.py -->"


def _end(name: str) -> str:
    return f"<!-- end of section {name} -->"


def _find(text: str, name: str) -> tuple[int, int, int] | None:
    """Where section `name` is in `text`: (start of its begin comment, end of that comment, start of its end
    comment); None when it is missing. The begin comment names the script that wrote it, whichever it is."""
    start = text.find(f"<!-- section {name}: ")
    if start < 0:
        return None
    opened = text.find("-->", start)
    stop = text.find(_end(name), opened) if opened >= 0 else -1
    return None if stop < 0 else (start, opened + len("-->"), stop)


def read_section(path: Path, name: str) -> str | None:
    """The text of section `name` of `path` (None when the file or the section is missing)."""
    if not path.exists():
        return None
    text = path.read_text()
    found = _find(text, name)
    if found is None:
        return None
    return text[found[1] : found[2]].strip("\n") + "\n"


def write_section(path: Path, name: str, table: str, *, script: str | None = None) -> None:
    """Put `table` as section `name` of `path`, written by bench/`script`.py (default: `name`): in the place
    of the section's old text, or at the end of the file when it has no such section yet (the file is created
    when missing). The rest is kept as it was."""
    text = path.read_text() if path.exists() else ""
    block = f"{_begin(name, script)}\n{table.strip(chr(10))}\n{_end(name)}"
    found = _find(text, name)
    if found is not None:
        text = text[: found[0]] + block + text[found[2] + len(_end(name)) :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)
