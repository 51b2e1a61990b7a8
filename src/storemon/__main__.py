"""``python -m storemon``: the same as the ``storemon`` command."""

from __future__ import annotations

from storemon.cli import main

if __name__ == "__main__":
    main()
