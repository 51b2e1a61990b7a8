"""Dependencies point one way: the engine is pure computation and imports no adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import storemon.engine

FORBIDDEN = ("storemon.store", "storemon.api", "storemon.cli", "storemon.jobs", "storemon.ingest")
ENGINE = Path(storemon.engine.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_engine_sources_import_no_adapter() -> None:
    files = sorted(ENGINE.glob("*.py"))
    assert len(files) > 3
    for path in files:
        bad = {n for n in _imports(path) if n.startswith(FORBIDDEN) or n == "storemon"}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_the_engine_loads_no_adapter() -> None:
    code = (
        "import sys, storemon.engine; "
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


PACKAGE = ENGINE.parent
#: package -> what its modules may never import (dependencies point one way).
LAYERS = {
    "store": ("storemon.api", "storemon.cli", "storemon.web", "storemon.jobs"),
    "ingest": ("storemon.api", "storemon.cli", "storemon.web", "storemon.jobs"),
    "jobs": ("storemon.api", "storemon.cli", "storemon.web"),
    "api": ("storemon.cli",),
    "web": ("storemon.cli",),
}


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_layers_import_only_downwards(package: str) -> None:
    files = _modules(package)
    assert files, package
    for path in files:
        bad = {n for n in _imports(path) if n.startswith(LAYERS[package])}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_only_the_app_imports_the_web_package() -> None:
    allowed = {PACKAGE / "api" / "app.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "web") or path in allowed:
            continue
        bad = {n for n in _imports(path) if n.startswith("storemon.web")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"
