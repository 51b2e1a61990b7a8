"""The ingest tests drive the CLI and the API too (tests/ingest/test_hostile_channels.py):
their in-process helpers, ``cli_helpers`` and ``api_helpers``, are importable here."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("cli", "api"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))
