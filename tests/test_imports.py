"""The house as its imports draw it, computed from the code: no import circles (imports inside
functions and type-only imports count too), and each room imports only what it may:

* the runtime (``venuelink`` and its modules, the CCXT tier, the venues' adapters) never imports
  the simulators (``venuelink.sim``, a venue's ``simulator`` module), the operator tools
  (``venuelink.tools``) or the examples;
* the simulators never import the tools; the hot path (``venuelink.ext``) imports only itself;
* nothing imports the repository's folder names (``engine``, ``ext``, ``adapters``) as packages.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"engine": "venuelink", "ext": "venuelink.ext", "adapters": "venuelink.adapters"}
CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.M)


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".pyx", ".pxd") or "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.setdefault(".".join([package, *parts]), path)
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(path: Path) -> set[str]:
    """Every module the file names in an import (package-level names resolved to the module
    they are, ``from venuelink import registry`` -> ``venuelink.registry``)."""
    text = path.read_text()
    names: set[str] = set()
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    else:
        names.update(a or b for a, b in CYTHON_IMPORT.findall(text))
    return names


def _graph() -> dict[str, set[str]]:
    graph = {}
    for mod, path in MODULES.items():
        deps = set()
        for name in _imported(path):
            if name.split(".")[0] == "venuelink":
                target = name if name in MODULES else _resolve(name)
                if target and target != mod and target != "venuelink":
                    deps.add(target)
        graph[mod] = deps
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _room(mod: str) -> str:
    if mod.startswith("venuelink.tools"):
        return "tools"
    if mod.startswith("venuelink.examples"):
        return "examples"
    if mod.startswith("venuelink.sim") or mod.endswith(".simulator"):
        return "sim"
    if mod.startswith("venuelink.ext"):
        return "ext"
    return "runtime"


ALLOWED = {
    "ext": {"ext"},
    "runtime": {"runtime", "ext"},
    "sim": {"sim", "runtime", "ext"},
    "tools": {"tools", "sim", "runtime", "ext", "examples"},
    "examples": {"examples", "runtime", "ext", "tools"},
}


def test_the_graph_is_read():
    assert len(MODULES) > 120
    assert "venuelink.registry" in GRAPH["venuelink.engine"]
    assert "venuelink.ext.book" in GRAPH["venuelink.ext.feed"]          # a cimport
    assert "venuelink.tools.simconfig" in GRAPH["venuelink.tools.cli"]  # an import inside a function


def test_no_import_circles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_room_imports_only_what_it_may():
    wrong = sorted(f"{m} ({_room(m)}) -> {d} ({_room(d)})" for m, deps in GRAPH.items() for d in deps
                   if _room(d) not in ALLOWED[_room(m)])
    assert wrong == []


def test_nothing_imports_the_folder_names():
    old = sorted(f"{path.relative_to(ROOT)}: {name}" for path in MODULES.values() for name in _imported(path)
                 if name.split(".")[0] in FOLDERS)
    tests = sorted(f"{p.relative_to(ROOT)}: {name}" for p in (ROOT / "tests").rglob("*.py")
                   for name in _imported(p) if name.split(".")[0] in FOLDERS)
    assert old == [] and tests == []
