"""The house's rules, read from the code's own imports (lazy ones included):

- one namespace: every folder installs under `maskwatch.` (ingest/ is maskwatch.ingest ...); no
  code imports a bare `models`, `workers`, `ingest`, `dashboard` or `demo`;
- import direction: the core (maskwatch/) imports only itself; ingest and dashboard the core;
  workers the core and the serving models; models/ in rooms: serving <- evaluation <- training <-
  studies, which may also replay the services' parts (the tracker, ingest's motion estimate) on
  recorded footage; only the composition root (maskwatch/cli.py, maskwatch/builders.py, maskwatch/commands/)
  imports across, and never a study: nothing outside models/studies/ imports one;
- no import loops between modules;
- heavy runtimes (TensorFlow, Keras, ONNX Runtime, LiteRT, PyTorch) only under models/; redis only
  in the bus (and the dashboard's login limiter);
- no path built from `__file__` outside the one resolver, maskwatch/paths.py.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.settings import ROOT

FOLDERS = {"maskwatch": "maskwatch", "ingest": "maskwatch.ingest", "workers": "maskwatch.workers",
           "dashboard": "maskwatch.dashboard", "models": "maskwatch.models", "demo": "maskwatch.demo"}
BARE = {"models", "workers", "ingest", "dashboard", "demo"}
ROOT_MODULES = ("maskwatch.cli", "maskwatch.builders", "maskwatch.commands")
# room -> the rooms it may import
ALLOWED = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "dashboard": {"core", "dashboard"},
    "workers": {"core", "workers", "serving"},
    "serving": {"core", "serving"},
    "evaluation": {"core", "serving", "evaluation"},
    "training": {"core", "serving", "evaluation", "training"},
    "studies": {"core", "ingest", "workers", "serving", "evaluation", "training", "studies"},
    "root": {"core", "ingest", "dashboard", "workers", "serving", "evaluation", "training", "root"},
}
HEAVY = {"tensorflow", "keras", "onnxruntime", "ai_edge_litert", "torch"}
HEAVY_OK = {"serving", "evaluation", "training", "studies"}
REDIS_OK = {"maskwatch.bus", "maskwatch.dashboard.limiter"}
PATHS_OK = {"maskwatch.paths"}


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    name = ".".join([FOLDERS[parts[0]], *parts[1:]])
    return name.removesuffix(".__init__")


def room_of(module: str) -> str:
    if any(module == r or module.startswith(f"{r}.") for r in ROOT_MODULES):  # not maskwatch.clip*
        return "root"
    for room in ("training", "evaluation", "studies"):
        if module.startswith(f"maskwatch.models.{room}"):
            return room
    for pkg in ("ingest", "workers", "dashboard"):
        if module == f"maskwatch.{pkg}" or module.startswith(f"maskwatch.{pkg}."):
            return pkg
    if module == "maskwatch.models" or module.startswith("maskwatch.models."):
        return "serving"
    return "core"


def code_files() -> list[Path]:
    return [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py")) if "migrations" not in p.parts]


MODULES = {module_of(p): p for p in code_files()}


def imported(path: Path) -> set[str]:
    """The modules a file imports (`from pkg import module` names the module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            names |= subs or {node.module}
    return names


def ours(names: set[str]) -> set[str]:
    """Our modules among the names: the longest known module each starts with."""
    found = set()
    for name in names:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in MODULES:
                found.add(".".join(parts[:i]))
                break
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_import_direction(module):
    path = MODULES[module]
    found = imported(path)
    tops = {n.split(".")[0] for n in found}
    assert not tops & BARE, f"{module} imports a bare {sorted(tops & BARE)}: our folders are maskwatch.*"
    room = room_of(module)
    bad = {m for m in ours(found) if room_of(m) not in ALLOWED[room]}
    assert not bad, f"{module} ({room}) imports {sorted(bad)}"
    if room not in HEAVY_OK:
        assert not tops & HEAVY, f"{module} imports {sorted(tops & HEAVY)}: heavy runtimes live in models/"
    if module not in REDIS_OK:
        assert "redis" not in tops, f"{module} imports redis: use maskwatch.bus and maskwatch.errors"
    if module not in PATHS_OK:
        assert "__file__" not in path.read_text(), f"{module} builds a path from __file__: use maskwatch.paths"


def test_no_import_loops():
    graph = {m: ours(imported(p)) - {m} for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    assert not loops, f"import loops: {loops}"


def test_every_folder_is_seen():
    """The rules above cover the code: each folder has modules, and each room exists."""
    rooms = {room_of(m) for m in MODULES}
    assert rooms == set(ALLOWED), f"rooms found: {sorted(rooms)}"
