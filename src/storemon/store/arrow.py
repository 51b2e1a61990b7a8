"""Arrow tables in and out of the stores: batches checked and conformed, last-row-wins
de-duplication, store codes and the dictionary-coded polls of report inputs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from storemon import schema
from storemon.errors import StoreError
from storemon.store.base import IngestBatch

#: Polls as :meth:`storemon.store.base.Store.report_inputs` returns them: schema.POLLS, but
#: ``store_id`` is ``dictionary<int32, string>`` (indices into the stores' ids), so the
#: engine numbers the stores without hashing a string per poll.
CODED_POLLS: Final = schema.POLLS.set(
    0, pa.field("store_id", pa.dictionary(pa.int32(), pa.string()), nullable=False)
)

_STORE_ID: Final = pa.field("store_id", pa.string(), nullable=True)
#: Rejected rows as the store takes them: schema.REJECTS with a nullable ``store_id``
#: (the rejected row's id, when its id field was valid) after ``raw``. A table without
#: ``store_id`` is taken too (all null), for writers from before that column.
REJECTS_IN: Final = (
    schema.REJECTS if "store_id" in schema.REJECTS.names else schema.REJECTS.append(_STORE_ID)
)
#: Rejected rows as :meth:`storemon.store.base.DataStore.rejects` returns them.
REJECTS_OUT: Final = REJECTS_IN.append(
    pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False)
)
#: The select list of rejects joined with ingests (aliases r, i), in REJECTS_OUT's order.
REJECTS_SELECT: Final = ", ".join([*(f"r.{name}" for name in REJECTS_IN.names), "i.ingested_at"])
_SHA256: Final = re.compile(r"[0-9a-f]{64}")

#: Store codes are int32: the highest code an id can be given.
MAX_STORE_CODE: Final = 2**31 - 1


def with_row_numbers(table: pa.Table) -> pa.Table:
    """``table`` plus an int64 ``_rn`` column 0..n-1, so "last row wins" can be applied in SQL."""
    return table.append_column("_rn", pa.array(np.arange(table.num_rows, dtype=np.int64)))


def last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """One row per ``keys``: the last in row order; the result is sorted by ``keys``.

    Strings sort by bytes (like ``COLLATE "C"``), which is also the order that makes
    inserting into a (store_id, ...) B-tree cheap. Vectorized: string keys become
    integer ranks (dictionary-encode, sort only the distinct values), then one
    stable ``numpy.lexsort`` and one mask keep the last row of each key.
    """
    if table.num_rows < 2:
        return table
    codes = [_sort_codes(table.column(key)) for key in keys]
    order = _stable_order(codes)  # equal keys stay in row order
    last = np.ones(len(order), dtype=bool)
    same = np.ones(len(order) - 1, dtype=bool)
    for code in codes:
        ordered = code[order]
        same &= ordered[1:] == ordered[:-1]
    last[:-1] = ~same  # keep a row unless the next one has the same key
    return table.take(order[last])


def _stable_order(codes: list[NDArray[np.int64]]) -> NDArray[np.int64]:
    """Indices sorting rows by ``codes`` (first is most significant), ties in row order.

    When the codes fit in 63 bits together they are packed into one int64 key and
    sorted once (about twice as fast as ``lexsort``).
    """
    packed = np.zeros(len(codes[0]), dtype=np.int64)
    bits_used = 0
    for code in reversed(codes):
        low = int(code.min())
        bits = max(int(code.max()) - low, 1).bit_length()
        if bits_used + bits > 63:
            return np.lexsort(codes[::-1])
        packed |= (code - low) << bits_used
        bits_used += bits
    return np.argsort(packed, kind="stable")


def _sort_codes(column: pa.ChunkedArray[Any]) -> NDArray[np.int64]:
    """int64 codes that sort like ``column`` (strings by bytes, instants by time)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded: pa.DictionaryArray[Any, Any] = pc.dictionary_encode(column).combine_chunks()  # type: ignore[assignment]
        ranks = np.empty(len(encoded.dictionary), dtype=np.int64)
        ranks[pc.sort_indices(encoded.dictionary).to_numpy()] = np.arange(len(ranks))
        result: NDArray[np.int64] = ranks[encoded.indices.to_numpy(zero_copy_only=False)]
        return result
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return np.asarray(column.to_numpy(), dtype=np.int64)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` cast to exactly ``schema`` (types, nullability, and a UTC zone on instants)."""
    return table.select(schema.names).cast(schema)


def _conformed(name: str, table: pa.Table, table_schema: pa.Schema) -> pa.Table:
    if name == "rejects" and "store_id" not in table.column_names:
        table = table.append_column(_STORE_ID, pa.nulls(table.num_rows, pa.string()))
    try:
        return conform(table, table_schema)
    except (KeyError, ValueError, TypeError, pa.ArrowException) as error:
        raise StoreError(
            f"invalid ingest batch: the {name} table does not match storemon.schema ({error})"
        ) from error


def _conformed_polls(batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
    for table in batches:
        if not isinstance(table, pa.Table):
            raise StoreError(
                f"invalid ingest batch: polls must be tables, got a {type(table).__name__}"
            )
        yield _conformed("polls", table, schema.POLLS)


def prepared(batch: IngestBatch) -> IngestBatch:
    """``batch`` with every table conformed to its schema; StoreError if one cannot be.

    Called before a transaction starts, so a malformed table never reaches the
    database. Polls given as an iterable of tables stay lazy: each is conformed as
    it is consumed (inside the transaction, which a malformed one rolls back).
    """
    tables: dict[str, pa.Table | None] = {}
    for name, table_schema in (
        ("hours", schema.HOURS),
        ("timezones", schema.TIMEZONES),
        ("rejects", REJECTS_IN),
    ):
        table = getattr(batch, name)
        tables[name] = None if table is None else _conformed(name, table, table_schema)
    polls: pa.Table | Iterable[pa.Table] | None = batch.polls
    if isinstance(polls, pa.Table):
        polls = _conformed("polls", polls, schema.POLLS)
    elif polls is not None:
        polls = _conformed_polls(polls)
    for source, digest in batch.file_hashes.items():
        if source not in batch.files:
            raise StoreError(f"invalid ingest batch: a hash for {source} but no file name")
        if not _SHA256.fullmatch(digest):
            raise StoreError(
                f"invalid ingest batch: the hash of {source} is not 64 lower-case hex digits"
            )
    return IngestBatch(
        polls=polls, **tables, files=dict(batch.files), file_hashes=dict(batch.file_hashes)
    )


def poll_batches(batch: IngestBatch) -> tuple[pa.Table | None, Iterator[pa.Table]]:
    """The first non-empty polls table of a :func:`prepared` batch (None: no polls), and
    an iterator over the non-empty ones after it. A store that gets no second table
    can take the first as it is; otherwise it stages them one by one."""
    polls = batch.polls
    tables: Iterator[pa.Table] = iter(
        () if polls is None else [polls] if isinstance(polls, pa.Table) else polls
    )
    rows = (table for table in tables if table.num_rows)
    return next(rows, None), rows


def ledger_rows(batch: IngestBatch) -> list[tuple[str, str, str]]:
    """(source, file name, sha256) for each hashed file of a :func:`prepared` batch."""
    return [(source, batch.files[source], digest) for source, digest in batch.file_hashes.items()]


def changes_data(batch: IngestBatch, polls: int) -> bool:
    """Whether ``batch`` (with ``polls`` poll rows) has a polls, hours or timezones row
    (then the data version is bumped).

    Rejects alone change no report, so they leave the version, and reusable jobs, as they are.
    """
    return polls > 0 or any(
        table is not None and table.num_rows > 0 for table in (batch.hours, batch.timezones)
    )


def check_code_room(highest: int, most_new: int, count_new: Callable[[], int]) -> None:
    """StoreError when a batch's new store ids would need codes beyond int32.

    ``highest`` is the highest code given (-1: none); ``most_new`` bounds the number
    of new ids (the batch's rows or distinct ids), so the usual batch costs no extra
    query: only when the bound does not fit is ``count_new`` asked for the exact number.
    """
    if highest + most_new <= MAX_STORE_CODE:
        return
    new = count_new()
    if highest + new > MAX_STORE_CODE:
        raise StoreError(
            f"cannot store polls of {new:,} new store id{'s' if new != 1 else ''}: store codes "
            f"are 32-bit (0 to {MAX_STORE_CODE:,}) and the highest given is {highest:,}, so "
            f"{MAX_STORE_CODE - highest:,} more ids fit; nothing of this ingest was stored"
        )


def coded_polls(polls: pa.Table, stores: pa.Table) -> pa.Table:
    """Polls read by store code as :data:`CODED_POLLS`.

    ``polls`` has columns ``store_code`` (int32), ``timestamp_utc`` and ``active``;
    ``stores`` has ``code`` (int32) and ``store_id``, every store once, in any order.
    The dictionary is the stores' ids ordered by code. Codes are assigned densely
    (0, 1, …), so the poll codes are the dictionary indices as they are; should there
    be gaps, a binary search in the sorted codes (no table sized by the highest
    code) maps codes to positions. No per-row Python, no hashing of text.
    """
    codes = np.asarray(_whole(stores.column("code")).to_numpy(zero_copy_only=False), np.int32)
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    dictionary = _whole(stores.column("store_id")).take(order).cast(pa.string())
    rows = np.asarray(_whole(polls.column("store_code")).to_numpy(zero_copy_only=False), np.int32)
    if len(rows):
        low, high = int(rows.min()), int(rows.max())
        top = int(codes[-1]) if len(codes) else -1
        if low < 0 or high > top:
            raise StoreError(f"polls refer to store code {low if low < 0 else high}, not in stores")
        if top != len(codes) - 1:  # gaps in the codes: find each in the sorted codes
            positions = np.searchsorted(codes, rows)  # < len(codes): high <= top checked
            if not np.array_equal(codes[positions], rows):
                raise StoreError("polls refer to a store code that is not in stores")
            rows = positions.astype(np.int32)
    # Indices checked above: from_arrays need not check them again.
    store_id = pa.DictionaryArray.from_arrays(pa.array(rows, pa.int32()), dictionary, safe=False)
    rest = conform(polls.select(["timestamp_utc", "active"]), schema.POLLS.remove(0))
    return pa.Table.from_arrays([store_id, *rest.columns], schema=CODED_POLLS)


def _whole(column: pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """A column as one array (a copy only when it has several chunks)."""
    whole = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return cast("pa.Array[Any]", whole)
