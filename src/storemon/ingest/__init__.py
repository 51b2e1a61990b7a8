"""Read and validate the three CSV sources (polls, business hours, timezones).

:func:`read_source` turns one file into typed columns (``storemon.schema``)
plus rejected rows; :func:`parse_instant` reads one SPEC timestamp.
"""

from __future__ import annotations

from storemon.ingest.csv import ParsedFile, read_source
from storemon.ingest.timestamps import parse_instant

__all__ = ["ParsedFile", "parse_instant", "read_source"]
