"""Imports point downward only: no package imports one above it, so there is no cycle.

Every `app.*` import in app/ (module level, inside functions and under TYPE_CHECKING alike) is
read with ast and mapped to its top-level unit (a package such as `store` or a module such as
`settings`); a unit may import only units on a strictly lower layer, or itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from pathlib import Path

import app

ROOT = Path(app.__file__).parent

# Bottom first. The lower a unit, the fewer things it may know about.
LAYERS: list[set[str]] = [
    {"errors", "language", "texts", "timespec", "public_url"},  # pure: import nothing from app
    {"settings", "chatwoot"},  # configuration; Chatwoot's API as data
    {"logs", "client", "store"},
    {"hub", "web", "tunnel", "proxy"},
    {"worker", "register"},
    {"ops"},  # the operator's tools: doctor, logs, simulate
    {"demo"},  # the demo drives the programs and reuses the tools' payloads
    {"cli"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
NOT_CODE = {"example"}  # the example business: data files only


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "app" else [f"app.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "app" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        if path.parent == ROOT and path.name == "__init__.py":
            continue
        source = _unit(path)
        for line, target in _imports(path):
            if target != source:
                edges.setdefault((source, target), []).append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_every_unit_of_app_has_a_layer():
    units = {_unit(p) for p in ROOT.rglob("*.py") if p != ROOT / "__init__.py"} - NOT_CODE
    assert units - set(RANK) == set(), "add the new package or module to LAYERS"


def test_imports_point_downward_only():
    upward = [
        f"{source} → {target} ({', '.join(where)})"
        for (source, target), where in _edges().items()
        if RANK.get(target, -1) >= RANK[source]
    ]
    assert upward == []


def test_no_cycle_between_packages():
    """Also true by the ranks above; checked on the graph itself so a wrong LAYERS cannot hide one."""
    graph: dict[str, set[str]] = {}
    for source, target in _edges():
        graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert unit not in path, f"import cycle: {' → '.join((*path, unit))}"
        if unit in done:
            return
        for target in graph.get(unit, ()):
            visit(target, (*path, unit))
        done.add(unit)

    for unit in list(graph):
        visit(unit, ())


def test_the_store_no_longer_imports_the_hub():
    assert not [edge for edge in _edges() if edge == ("store", "hub")]


# SQL lives in app/store/ only: elsewhere a connection is `app.store.db.Connection`, a store
# failure is `StoreError`/`OperationalError`, and every query is a named store function.
SQL_MARKS = re.compile(r"sqlite3|execute\(")


def _sql_outside_store(root: Path, allowed: Collection[str] = ()) -> list[str]:
    """`file:line: text` of every line under `root` outside store/ that names sqlite3 or calls
    execute( — the same lines `grep -rn "sqlite3\\|execute(" app/ | grep -v app/store/` finds."""
    hits = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "store":
            continue
        name = f"{root.name}/{rel.as_posix()}"
        if name in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SQL_MARKS.search(line):
                hits.append(f"{name}:{number}: {line.strip()}")
    return hits


def test_sql_lives_in_the_store_only():
    assert _sql_outside_store(ROOT) == []


def test_the_sql_scan_names_a_query_outside_the_store(tmp_path):
    """The scan above finds what it looks for: a query or a sqlite3 name anywhere but store/."""
    root = tmp_path / "app"
    (root / "store").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "store" / "views.py").write_text('import sqlite3\nconn.execute("SELECT 1")\n')
    (root / "web" / "page.py").write_text('"""A page."""\n\nrow = db.execute("SELECT 1")\n')
    (root / "web" / "types.py").write_text("def f(conn: sqlite3.Connection) -> None: ...\n")
    (root / "cli.py").write_text("x = 1\n")
    assert _sql_outside_store(root) == [
        'app/web/page.py:3: row = db.execute("SELECT 1")',
        "app/web/types.py:1: def f(conn: sqlite3.Connection) -> None: ...",
    ]
    assert _sql_outside_store(root, {"app/web/page.py", "app/web/types.py"}) == []
