"""The bundled demo inputs: the real business hours and timezones of the public data set.

They ship inside the package (``storemon/data/*.csv.gz``), so a pip-installed
storemon can load a demo without any download. Poll data is not bundled: it is
generated (:mod:`storemon.generate`): by default a deterministic week ending
2023-01-25 18:13 UTC (`storemon demo`), or ending now (`--end now`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["hours_path", "timezones_path"]


def hours_path() -> Path:
    """The bundled business hours (11,116 stores): a gzipped CSV for the ``hours`` source."""
    return _bundled("menu_hours.csv.gz")


def timezones_path() -> Path:
    """The bundled store timezones (13,559 stores): a gzipped CSV for the ``timezones`` source."""
    return _bundled("timezones.csv.gz")


def _bundled(name: str) -> Path:
    path = Path(str(files("storemon").joinpath("data", name)))
    if not path.is_file():  # a broken install, not a user error
        raise FileNotFoundError(f"bundled demo file missing: {path} (reinstall storemon)")
    return path
