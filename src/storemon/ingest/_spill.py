"""The valid rows of one file, kept in arrival order: in memory up to a bound, then on disk.

Reading a file whole before anything is written (so that a refused file changes
nothing) must not hold a large file's rows in memory: past :data:`MEMORY_BYTES` of
Arrow data, :class:`Spill` writes its tables to an anonymous temporary file (Arrow
IPC stream; the operating system removes it when it is closed, even after a crash)
and reads them back one batch at a time.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import IO, Final, cast

import pyarrow as pa

__all__ = ["GATHER_BYTES", "MEMORY_BYTES", "Spill"]

#: Arrow bytes held in memory before the tables go to a temporary file: a few batches'
#: worth (a larger bound only adds to the peak the store's own work then sits on).
MEMORY_BYTES: Final = 16 << 20

#: Arrow bytes of the tables :meth:`Spill.tables` gives back (pieces joined up to it).
GATHER_BYTES: Final = 16 << 20


class Spill:
    """Tables of one schema, appended in order; read back with :meth:`tables`."""

    def __init__(self, schema: pa.Schema, *, memory_bytes: int | None = None) -> None:
        self.schema = schema
        self.rows = 0
        self._memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes
        self._held: list[pa.Table] = []
        self._held_bytes = 0
        self._file: IO[bytes] | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    @property
    def spilled(self) -> bool:
        """Whether the tables went to disk."""
        return self._file is not None

    def add(self, table: pa.Table) -> None:
        """Append ``table`` (of ``schema``)."""
        self.rows += table.num_rows
        if self._writer is not None:
            self._writer.write_table(table)
            return
        self._held.append(table)
        self._held_bytes += table.nbytes
        if self._held_bytes > self._memory_bytes:
            self._file = tempfile.TemporaryFile(prefix="storemon-ingest-")  # noqa: SIM115
            sink = pa.PythonFile(cast("io.IOBase", self._file), mode="w")
            self._writer = pa.ipc.new_stream(sink, self.schema)
            for held in self._held:
                self._writer.write_table(held)
            self._held, self._held_bytes = [], 0

    def tables(self) -> Iterator[pa.Table]:
        """The rows in order (again on each call), one table at a time from disk.

        The pieces added (the reader's: a CSV block each, some 30,000 polls) come back
        gathered, without copying, into tables of up to :data:`GATHER_BYTES` of Arrow
        data (16 MiB: about half a million polls), whatever the memory bound: the store
        pays some of its cost per table (DuckDB merges each one against the stored
        polls), and a reader of the tables holds one at a time."""
        if self._file is None:
            yield from _gathered(iter(self._held), GATHER_BYTES)
            return
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._file.seek(0)
        reader = pa.ipc.open_stream(pa.PythonFile(cast("io.IOBase", self._file), mode="r"))
        pieces = (pa.Table.from_batches([batch], self.schema) for batch in reader)
        yield from _gathered(pieces, GATHER_BYTES)

    def table(self) -> pa.Table:
        """All rows as one table (in memory)."""
        tables = list(self.tables())
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

    def close(self) -> None:
        """Drop the tables and the temporary file. Idempotent."""
        self._held = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _gathered(pieces: Iterator[pa.Table], most_bytes: int) -> Iterator[pa.Table]:
    """``pieces`` in order, consecutive ones joined (no copy) up to ``most_bytes`` of
    Arrow data; a piece of that size or more is passed on alone."""
    group: list[pa.Table] = []
    held = 0
    for piece in pieces:
        if group and held + piece.nbytes > most_bytes:
            yield pa.concat_tables(group) if len(group) > 1 else group[0]
            group, held = [], 0
        group.append(piece)
        held += piece.nbytes
    if group:
        yield pa.concat_tables(group) if len(group) > 1 else group[0]
