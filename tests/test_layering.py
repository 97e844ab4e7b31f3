"""The import graph of `src/openflows` follows DESIGN.md's layering, and no module grows past a line limit.

Every import (at the top of a module or inside a function, `TYPE_CHECKING` ones included) is read with `ast`
and must point down: a module may import its own package and the packages of lower layers, never a higher
layer nor a peer of its own layer. A layer that needs something from a higher one receives it as an argument.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "openflows"

#: top to bottom; the units of one layer are peers and import none of each other. A unit is a sub-package
#: (`api`) or a top-level module (`server`) of `openflows`; `openflows` itself is the package's face.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),  # `openflows ...`: composes everything below
    ("client", "server"),  # globus-sdk clients for an OpenFlows server; one running server, composed
    ("ui",),  # the web dashboard, on top of the API and the Auth pages
    ("api", "auth_http"),  # the Flows API; the HTTP surface of Auth beside it
    ("engine",),  # the executor, timers, delegation, the action-provider client
    ("providers",),  # built-in action providers
    ("auth",),  # principals, tokens, scopes, consents: the pure parts and the services built on store/
    ("store",),  # tables and queries, migrations
    ("language",),  # the pure flow language
    ("shared", "profiles", "settings", "slow_clients"),  # low-level pieces every layer may use
    ("openflows",),  # the package's face (`__version__`)
)

#: DESIGN.md: "`language/` imports nothing from the project"
SELF_CONTAINED = ("language", "shared")

#: files allowed over MAX_LINES, each with its reason
MAX_LINES = 750
LONG_FILES: dict[str, str] = {
    "store/schema.py": "every table on one MetaData, the schema the migrations are checked against",
}


def _rank() -> dict[str, int]:
    rank: dict[str, int] = {}
    for index, layer in enumerate(LAYERS):
        for unit in layer:
            assert unit not in rank, f"{unit} is named twice in LAYERS"
            rank[unit] = index
    return rank


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_module(dotted: str, package: Path = PACKAGE) -> bool:
    base = package.parent / Path(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, imported openflows module) for every import in `path`, relative ones resolved."""
    module = _module_name(path, package)
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append((node.lineno, submodule if _is_module(submodule, package) else target))
    return list(
        dict.fromkeys((line, target) for line, target in found if target.split(".")[0] == "openflows")
    )


def _sources(package: Path = PACKAGE) -> list[Path]:
    return sorted(package.rglob("*.py"))


def _wrong_imports(package: Path = PACKAGE) -> list[str]:
    """Every import of a higher layer or a peer, and every import out of a self-contained unit."""
    rank = _rank()
    wrong: list[str] = []
    for path in _sources(package):
        importer = _unit(_module_name(path, package))
        for line, target in _imports(path, package):
            imported = _unit(target)
            if imported == importer:
                continue
            where = f"{path.relative_to(package)}:{line} imports {target}"
            if imported in rank and rank[imported] > rank[importer]:
                if importer in SELF_CONTAINED and imported != "openflows":
                    wrong.append(f"{where} ({importer} imports nothing else of OpenFlows)")
                continue
            kind = "a peer" if rank.get(imported) == rank[importer] else "a higher layer"
            wrong.append(f"{where} ({kind}: {imported})")
    return wrong


def test_every_unit_has_a_layer() -> None:
    rank = _rank()
    units = {_unit(_module_name(path)) for path in _sources()}
    assert units - set(rank) == set(), "add these packages or modules to LAYERS"
    assert set(rank) - units == set(), "LAYERS names units that do not exist"


def test_every_import_points_down() -> None:
    assert _wrong_imports() == []


def test_the_check_sees_wrong_way_imports(tmp_path: Path) -> None:
    """The check resolves relative, absolute and function-level imports, and flags what points up or
    sideways (a guard against a check that passes because it reads nothing)."""
    package = tmp_path / "openflows"
    files = {
        "__init__.py": "",
        "engine/__init__.py": "",
        "engine/executor.py": "from ..store import work\n",
        "store/__init__.py": "",
        "store/work.py": "def f():\n    from ..engine import executor\n",
        "store/runs.py": "from openflows.auth.roles import X\nfrom ..language.model import Y\n",
        "language/__init__.py": "",
        "language/model.py": "from ..shared import clock\n",
        "api/__init__.py": "",
        "api/app.py": "from ..auth_http import web\nfrom .. import __version__\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert _wrong_imports(package) == [
        "api/app.py:1 imports openflows.auth_http (a peer: auth_http)",
        "language/model.py:1 imports openflows.shared (language imports nothing else of OpenFlows)",
        "store/runs.py:1 imports openflows.auth.roles (a higher layer: auth)",
        "store/work.py:2 imports openflows.engine.executor (a higher layer: engine)",
    ]


#: circles of modules that import each other (inside one package), each with its reason; no new ones
KNOWN_CIRCLES: dict[frozenset[str], str] = {
    frozenset({"auth.authorization", "auth.clients", "auth.tokens"}): "tokens records consents at login",
    frozenset({"ui.login", "ui.routes"}): "login starts a dashboard session, which routes.py keeps",
    frozenset(
        {"language.iterations", "language.states"}
    ): "a Map's or Parallel's sub-machine holds states of "
    "any type, Map and Parallel included: parsing a state and parsing a nested state recurse into each other",
}


def _circles(package: Path = PACKAGE) -> list[frozenset[str]]:
    """Strongly connected groups of modules (more than one) in the import graph of `package`."""
    graph: dict[str, set[str]] = {}
    for path in _sources(package):
        module = _module_name(path, package)
        graph[module] = {target for _, target in _imports(path, package) if target != module}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(frozenset(m.split(".", 1)[1] for m in group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_new_circles_of_imports() -> None:
    circles = _circles()
    assert [sorted(c) for c in circles if c not in KNOWN_CIRCLES] == []
    assert [sorted(c) for c in KNOWN_CIRCLES if c not in circles] == [], "gone: remove from KNOWN_CIRCLES"


def test_the_circle_check_sees_circles(tmp_path: Path) -> None:
    package = tmp_path / "openflows"
    (package / "store").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "store" / "__init__.py").write_text("")
    (package / "store" / "a.py").write_text("from . import b\n")
    (package / "store" / "b.py").write_text("def f():\n    from .a import g\n")
    (package / "store" / "c.py").write_text("from . import a\n")
    assert _circles(package) == [frozenset({"store.a", "store.b"})]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long(path: Path) -> None:
    name = str(path.relative_to(PACKAGE))
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if name in LONG_FILES:
        assert lines > MAX_LINES, f"{name} is short now ({lines} lines): remove it from LONG_FILES"
    else:
        assert lines <= MAX_LINES, (
            f"{name} has {lines} lines (more than {MAX_LINES}): split it along its concepts"
        )
