"""Every command shown in README.md and docs/*.md runs, against one real `openflows serve`, and prints what
the page shows (issue 18: the docs had drifted).

What runs: each ```` ```console ```` block, its `$ ` lines being commands (a line ending in `\\` continues on
the next) and the lines up to the next command their expected output. A block preceded by
`<!-- doc-test: skip REASON -->` is not run (the reason is required; e.g. the stock `globus` CLI, run by its
own test). Blocks in other languages (`sh`, `python`, ...) are configuration or fragments, not run here; the
README's Python example is docs/examples/sdk_examples.py, checked to be that file.

Each page is a session, like a reader's terminal: its blocks run in order in a fresh directory that holds the
repository's `corpus/`, `docs/` and `.venv/` (links), with the server's OPENFLOWS_HOME and database, PATH
without the virtualenv (so the pages must say how to get `openflows` on it), `$PASSWORD` and `$NEW` set for
the local-account examples, its own home directory (shown as /home/you), and no other OPENFLOWS_ or GLOBUS_
variables. README.md runs first, then the pages of docs/ by name, on one server started once for this module
(pages do not rely on each other: under xdist a page may get its own server). `openflows ...` commands run in
this process (Typer's runner, once `openflows` is found on the session's PATH); other commands run in bash,
whose `export`s, `source`s and `cd`s carry over to the next command. `openflows serve` itself is the
module's server: its shown output is compared with the server's own.

Output is compared loosely: whitespace runs are one space, a line `…` (or `...`) stands for any lines, `…`
in a line for any text; ids (UUIDs) are matched by position and remembered, so a command that uses an id
shown earlier gets the real one; times (`3 s ago`, `2026-11-26 20:52:27`, ISO), durations (`2.0 s`) and the
port (8765 in the pages) may differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk.support import Server, start_server

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent
#: the port the pages show; the server under test listens elsewhere
DOC_PORT = 8765
#: longest a shell command may take
COMMAND_TIMEOUT = 120  # seconds
#: what the local-account examples read from `$PASSWORD` and `$NEW`
SESSION_SECRETS = {"PASSWORD": "correct horse battery staple", "NEW": "another long pass phrase"}

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: a flow id inside a scope's name (`flow_<id with underscores>_user`)
UNDERSCORED_UUID = r"[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}"
_TOKENS = re.compile(
    rf"(?P<uuid>{UUID})"
    rf"|(?P<underscored>{UNDERSCORED_UUID})"
    r"|(?P<ago>\b(?:in )?\d+ (?:s|min|h|d)(?: ago)?\b)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)?)"
    r"|(?P<clock>\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?)"
    r"|(?P<duration>\b\d+\.\d s\b)"
    r"|(?P<rule>─+)"
    r"|(?P<gap>…)"
    r"|(?P<space>\s+)"
)
_SKIP = re.compile(r"<!--\s*doc-test:\s*skip\s+(?P<reason>\S.*?)\s*-->\s*$")


@dataclasses.dataclass
class Command:
    page: str
    line: int
    text: str
    expected: list[str]


@dataclasses.dataclass
class Block:
    line: int
    commands: list[Command]
    skip: str | None


def blocks_of(page: Path) -> list[Block]:
    """The console blocks of a page, with their commands and expected output."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        skip = _SKIP.match(previous.strip())
        start = index + 1
        end = next(i for i in range(start, len(lines)) if lines[i].strip() == "```")
        commands: list[Command] = []
        body = lines[start:end]
        i = 0
        while i < len(body):
            if not body[i].startswith("$ "):
                assert commands, f"{page.name}:{start + i + 1}: output before the first command"
                commands[-1].expected.append(body[i])
                i += 1
                continue
            text, first = body[i][2:], start + i + 1
            while text.endswith("\\") and i + 1 < len(body):
                i += 1
                text = text[:-1] + " " + body[i].strip()
            commands.append(Command(page.name, first, text, []))
            i += 1
        blocks.append(Block(index + 1, commands, skip.group("reason") if skip else None))
        index = end + 1
    return blocks


# -- comparing output --------------------------------------------------------------------------------------


def line_pattern(line: str, ids: dict[str, str], port: int) -> tuple[re.Pattern[str], list[str]]:
    """A regex for one shown line, and the shown ids its groups capture (in order)."""
    line = line.replace(f":{DOC_PORT}", f":{port}")
    parts: list[str] = []
    captured: list[str] = []
    position = 0
    for match in _TOKENS.finditer(line):
        parts.append(re.escape(line[position : match.start()]))
        position = match.end()
        kind, text = match.lastgroup, match.group()
        if kind == "uuid":
            if text in ids:
                parts.append(re.escape(ids[text]))
            elif text in captured:
                parts.append(f"(?P=id{captured.index(text)})")
            else:
                parts.append(f"(?P<id{len(captured)}>{UUID})")
                captured.append(text)
        elif kind == "underscored":
            parts.append(UNDERSCORED_UUID)
        elif kind == "ago":
            parts.append(r"(?:in )?\d+ (?:s|min|h|d)(?: ago)?")
        elif kind == "iso":
            parts.append(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)?")
        elif kind == "clock":
            parts.append(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?")
        elif kind == "duration":
            parts.append(r"\d+\.\d s")
        elif kind == "rule":
            parts.append("─+")
        elif kind == "gap":
            parts.append(".*?")
        else:
            parts.append(r"\s+")
    parts.append(re.escape(line[position:]))
    return re.compile("".join(parts)), captured


def is_gap(line: str) -> bool:
    return line.strip() in ("…", "...")


def match_output(
    expected: list[str], actual: list[str], ids: dict[str, str], port: int, *, anchored: bool = True
) -> dict[str, str] | None:
    """The new id bindings when `actual` fits `expected` (gaps match any lines), else None."""
    if not anchored:
        expected = ["…", *expected, "…"]

    def fit(e: int, a: int, bound: dict[str, str]) -> dict[str, str] | None:
        if e == len(expected):
            return bound if a == len(actual) else None
        if is_gap(expected[e]):
            for skip in range(a, len(actual) + 1):
                found = fit(e + 1, skip, bound)
                if found is not None:
                    return found
            return None
        if a == len(actual):
            return None
        pattern, captured = line_pattern(expected[e].strip(), {**ids, **bound}, port)
        match = pattern.fullmatch(actual[a].strip())
        if match is None:
            return None
        more = {shown: match.group(f"id{n}") for n, shown in enumerate(captured)}
        return fit(e + 1, a + 1, {**bound, **more})

    return fit(0, 0, {})


def normalised(output: str) -> list[str]:
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# -- running commands --------------------------------------------------------------------------------------


class Session:
    """A reader's terminal for one page: its own directory and environment, the ids seen so far."""

    def __init__(self, server: Server, root: Path) -> None:
        self.server = server
        self.cwd = root
        for name in ("corpus", "docs"):
            (root / name).symlink_to(REPO / name)
        (root / ".venv").symlink_to(VENV_BIN.parent)
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN]
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OPENFLOWS_", "GLOBUS_", "VIRTUAL_ENV"))
        }
        self.env.update(
            PATH=os.pathsep.join(path),
            HOME=str(root),
            COLUMNS="110",
            TERM="dumb",
            OPENFLOWS_HOME=server.env["OPENFLOWS_HOME"],
            OPENFLOWS_DATABASE_URL=server.env["OPENFLOWS_DATABASE_URL"],
            **SESSION_SECRETS,
        )
        self.ids: dict[str, str] = {}

    def prepare(self, text: str) -> str:
        text = text.replace(f":{DOC_PORT}", f":{self.server.port}")
        for shown, real in self.ids.items():
            text = text.replace(shown, real)
        return text

    def run(self, text: str) -> tuple[int, str]:
        """Exit status and output (stdout and stderr, as a terminal shows them; the session's home reads
        /home/you)."""
        home = self.env["HOME"]
        argv = _plain_openflows(text)
        if argv is not None:
            assert shutil.which("openflows", path=self.env["PATH"]), (
                f"`openflows` is not on PATH in this session: {text}"
            )
            code, output = self._in_process(argv)
        else:
            code, output = self._in_bash(text)
        return code, output.replace(home, "/home/you")

    def _in_process(self, argv: list[str]) -> tuple[int, str]:
        from typer.testing import CliRunner

        from openflows.cli.main import app

        with _environment(self.env), contextlib.chdir(self.cwd):
            result = CliRunner().invoke(app, argv[1:], prog_name="openflows")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def _in_bash(self, text: str) -> tuple[int, str]:
        marker = "__DOC_TEST_STATE__"
        script = f'{text}\n__rc=$?\nprintf "\\0{marker}\\0%s\\0" "$__rc"\npwd\nenv -0\n'
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        output, _, state = done.stdout.decode(errors="replace").partition(f"\0{marker}\0")
        code, _, rest = state.partition("\0")
        cwd, _, environment = rest.partition("\n")
        self.cwd = Path(cwd)
        self.env = dict(item.split("=", 1) for item in environment.split("\0") if "=" in item)
        self.env.pop("_", None)
        return int(code), output


_SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?~]")


def _plain_openflows(text: str) -> list[str] | None:
    """argv of a plain `openflows ...` command (no shell syntax besides a trailing comment), else None."""
    command = text.split(" #", 1)[0].strip()
    if not command.startswith("openflows ") or _SHELL_SYNTAX.search(command):
        return None
    return shlex.split(command)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- the test ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One `openflows serve` for every page, started without the virtualenv on PATH (as a reader's)."""
    workdir = Path(tempfile.mkdtemp(prefix="openflows-docs-"))
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join(p for p in saved.split(os.pathsep) if p and Path(p) != VENV_BIN)
    try:
        started = start_server(VENV_BIN / "openflows", workdir)
    finally:
        os.environ["PATH"] = saved
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_pages_have_console_blocks_to_run() -> None:
    runnable = {page.name: [b for b in blocks_of(page) if b.skip is None] for page in PAGES}
    assert runnable["README.md"] and runnable["cli.md"]
    assert all(command.text for blocks in runnable.values() for block in blocks for command in block.commands)


def test_the_readme_python_example_is_the_tested_file() -> None:
    readme = (REPO / "README.md").read_text()
    example = (REPO / "docs" / "examples" / "sdk_examples.py").read_text()
    body = example.split('"""\n\n', 1)[1] if example.startswith('"""') else example  # without the docstring
    assert f"```python\n{body}```" in readme


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_command_of_the_page_runs_and_prints_what_it_shows(
    page: Path, server: Server, tmp_path: Path
) -> None:
    session = Session(server, tmp_path)
    for block in blocks_of(page):
        if block.skip is not None:
            continue
        for command in block.commands:
            where = f"{command.page}:{command.line}: $ {command.text}"
            if re.match(r"^(\S*/)?openflows serve\b", command.text):
                actual, anchored, code = normalised(server.log_path.read_text()), False, 0
            else:
                code, output = session.run(session.prepare(command.text))
                actual, anchored = normalised(output), True
            bound = match_output(command.expected, actual, session.ids, server.port, anchored=anchored)
            assert bound is not None, (
                f"{where}\nexit status {code}\n--- the page shows:\n"
                + "\n".join(command.expected)
                + "\n--- the command printed:\n"
                + "\n".join(actual)
            )
            shown = [line for line in command.expected if not is_gap(line)]
            assert code == 0 or shown, f"{where}: exit status {code}, and the page shows no output"
            session.ids.update(bound)
