"""Dependencies point one way: the engine is pure computation and imports no adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
