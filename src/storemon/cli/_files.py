"""Writing an output file so that a failed write never leaves half a file behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """``data`` into a temporary file beside ``path``, renamed over it when written.

    Through a symlink the file it names is replaced; something that is not a regular
    file (``/dev/null``, a pipe) is written in place. An existing file keeps its
    permission bits.
    """
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        path.write_bytes(data)
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            if path.exists():
                os.chmod(handle.fileno(), stat.S_IMODE(path.stat().st_mode))
            handle.flush()
            os.fsync(handle.fileno())  # complete on disk before it takes the name
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
