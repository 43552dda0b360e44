"""Import direction: maskwatch core <- models <- workers; ingest and dashboard import only the core;
only the composition root (maskwatch/commands, and maskwatch/builders that it calls) imports across.
Heavy runtimes (TensorFlow, Keras, ONNX Runtime) are imported only under models/."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"maskwatch", "models", "workers", "ingest", "dashboard"}
ALLOWED = {
    "maskwatch": {"maskwatch"},
    "models": {"maskwatch", "models"},
    "workers": {"maskwatch", "models", "workers"},
    "ingest": {"maskwatch", "ingest"},
    "dashboard": {"maskwatch", "dashboard"},
}
ROOTS = ("maskwatch/commands/", "maskwatch/builders.py")
HEAVY = {"tensorflow", "keras", "onnxruntime", "ai_edge_litert", "torch"}
# the bus owns its errors: nothing else sees redis (the dashboard's login limiter still talks to
# the client directly until the shared limiter replaces it)
REDIS_OK = {"maskwatch/bus.py", "dashboard/limiter.py"}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def sources():
    for pkg in ALLOWED:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "migrations/" not in rel:
                yield pytest.param(pkg, path, id=rel)


@pytest.mark.parametrize("pkg, path", sources())
def test_import_direction(pkg, path):
    rel = path.relative_to(ROOT).as_posix()
    found = imports(path)
    if not rel.startswith(ROOTS):
        assert not (found & OURS) - ALLOWED[pkg], f"{rel} imports {sorted((found & OURS) - ALLOWED[pkg])}"
    if pkg != "models":
        assert not found & HEAVY, f"{rel} imports {sorted(found & HEAVY)}: heavy runtimes live in models/"
    if rel not in REDIS_OK:
        assert "redis" not in found, f"{rel} imports redis: use maskwatch.bus and maskwatch.errors"
