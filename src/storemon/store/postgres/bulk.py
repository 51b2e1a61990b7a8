"""The Arrow bulk path of the PostgreSQL store: COPY in, binary aggregates out.

- in: Arrow writes the table as CSV (instants as epoch microseconds where the caller
  converted them), sent to the server with ``COPY ... FROM STDIN`` in chunks;
- out: each column of a query is aggregated server-side into one ``bytea`` of its
  binary send format (``string_agg(int4send(...))`` …), fetched in binary and turned
  into Arrow buffers with numpy, in a few chunks; no Python work per row;
- store codes: only a batch's distinct store ids go to the server, new ones get
  codes in ``stores``, and the codes come back in bulk.
"""

from __future__ import annotations

import io
import json
from typing import Any, Final

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from storemon import schema
from storemon.errors import StoreError
from storemon.store.arrow import check_code_room

__all__ = [
    "CODED_ROWS",
    "STORES",
    "bulk_select",
    "chunk_count",
    "copy_csv",
    "count",
    "estimated_rows",
    "planned_rows",
    "store_codes",
]

_Conn = psycopg.Connection[Any]

#: Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
_PG_EPOCH_US: Final = 946_684_800_000_000
_COPY_CHUNK: Final = 1 << 20
#: bulk_select's chunks for speed: about this many rows each, by the planner's estimate.
_ROWS_PER_CHUNK: Final = 4_000_000
#: bulk_select's chunks for safety: at most this many bytes each, by a bound on the rows
#: that needs no statistics. A chunk is one result row, and the server builds a row's
#: message, all its columns together, in one buffer of at most 1 GB (as it does each
#: ``bytea``): three quarters of that leaves room for chunks of uneven size. For the
#: polls (13 bytes a row) that is 62 M rows.
_MOST_BYTES_PER_CHUNK: Final = 768 << 20


def _fields(*fields: pa.Field[Any]) -> pa.Schema:
    return pa.schema(list(fields))


#: What ingest and report_inputs read by code: polls, the stores, a batch's codes.
CODED_ROWS: Final = schema.POLLS.set(0, pa.field("store_code", pa.int32(), nullable=False))
STORES: Final = _fields(
    pa.field("code", pa.int32(), nullable=False),
    pa.field("store_id", pa.string(), nullable=False),
)
_CODES_BY_POSITION: Final = _fields(
    pa.field("position", pa.int32(), nullable=False),
    pa.field("code", pa.int32(), nullable=False),
)


def store_codes(conn: _Conn, store_ids: pa.ChunkedArray[Any]) -> NDArray[np.int32]:
    """Each row's store code; ids not yet in ``stores`` get codes first.

    Only the batch's distinct ids go to the server (with their position), and the
    codes come back in bulk. New ids are numbered after the highest code, in byte
    order. Ingests hold a transaction-level advisory lock, so no other one assigns
    codes meanwhile; should one ever, the unique constraints make it fail and roll
    back rather than give an id two codes, and ``ON CONFLICT`` skips an id inserted
    first by another (its code is then read back like any stored one).
    """
    encoded = pc.dictionary_encode(store_ids).combine_chunks()
    assert isinstance(encoded, pa.DictionaryArray)
    distinct = encoded.dictionary
    conn.execute(  # once per transaction, emptied for each further batch of an ingest
        "CREATE TEMP TABLE IF NOT EXISTS _ids_staged (position integer NOT NULL,"
        ' store_id text COLLATE "C" NOT NULL) ON COMMIT DROP'
    )
    conn.execute("TRUNCATE _ids_staged")
    positions = pa.array(np.arange(len(distinct), dtype=np.int32))
    copy_csv(
        conn,
        "_ids_staged (position, store_id)",
        pa.table([positions, distinct], names=["position", "store_id"]),
    )
    conn.execute("ANALYZE _ids_staged")
    highest = conn.execute("SELECT coalesce(max(code), -1) FROM stores").fetchone()
    check_code_room(
        int(highest[0]) if highest else -1,
        len(distinct),
        lambda: count(
            conn,
            "SELECT count(*) FROM _ids_staged i"
            " WHERE NOT EXISTS (SELECT FROM stores s WHERE s.store_id = i.store_id)",
        ),
    )
    conn.execute(
        "INSERT INTO stores (code, store_id)"
        " SELECT top.code + row_number() OVER (ORDER BY i.store_id), i.store_id"
        " FROM _ids_staged i, (SELECT coalesce(max(code), -1) AS code FROM stores) AS top"
        " WHERE NOT EXISTS (SELECT FROM stores s WHERE s.store_id = i.store_id)"
        " ON CONFLICT (store_id) DO NOTHING"
    )
    found = bulk_select(
        conn,
        "SELECT i.position, s.code FROM _ids_staged i JOIN stores s ON s.store_id = i.store_id",
        {},
        _CODES_BY_POSITION,
        len(distinct),
    )
    if found.num_rows != len(distinct):  # pragma: no cover - the insert gives every id a code
        raise StoreError(f"{len(distinct) - found.num_rows} store ids got no code")
    codes = np.empty(len(distinct), dtype=np.int32)
    codes[found.column("position").to_numpy()] = found.column("code").to_numpy()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    result: NDArray[np.int32] = codes[indices]
    return result


def count(conn: _Conn, query: str) -> int:
    """The number a ``SELECT count(*) ...`` gives."""
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def copy_csv(conn: _Conn, target: str, table: pa.Table) -> None:
    """``COPY target FROM STDIN`` the rows of ``table`` (CSV written by Arrow, sent in chunks)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    data = buffer.getbuffer()
    with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, len(data), _COPY_CHUNK):
            copy.write(data[start : start + _COPY_CHUNK])


def planned_rows(conn: _Conn, query: str, params: dict[str, object]) -> int:
    """The planner's estimate of the rows ``query`` gives (``EXPLAIN``: nothing is run),
    with the partitions outside its bounds pruned: a report's read of one week is
    estimated at that week's polls, not the history kept. It sizes :func:`bulk_select`'s
    chunks for speed only: it can be far too low (a partition never analyzed, the
    planner's default guess), so a read that could near the 1 GB limit of a ``bytea``
    also gives a bound that needs no statistics
    (:func:`storemon.store.postgres.partitions.rows_at_most`)."""
    with conn.cursor() as cur:
        cur.execute(f"EXPLAIN (FORMAT JSON) {query}".encode(), params)
        row = cur.fetchone()
    plan = row[0] if row else None
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0


def estimated_rows(conn: _Conn, table: str) -> int:
    """The planner's row estimate for ``table`` (0 if never analyzed)."""
    row = conn.execute(  # a partitioned table: the sum of its partitions' estimates
        "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c"
        " WHERE c.oid = %(t)s::regclass AND c.relkind <> 'p' OR c.oid IN"
        " (SELECT inhrelid FROM pg_inherits WHERE inhparent = %(t)s::regclass)",
        {"t": table},
    ).fetchone()
    return int(row[0]) if row else 0


def chunk_count(estimate: int, at_most: int = 0, row_bytes: int = 0) -> int:
    """The fewest chunks, a power of 2, of about :data:`_ROWS_PER_CHUNK` of the
    ``estimate`` rows each and, of ``at_most`` rows of ``row_bytes`` each, at most
    :data:`_MOST_BYTES_PER_CHUNK` each."""
    chunks = 1
    while (
        chunks * _ROWS_PER_CHUNK < estimate or chunks * _MOST_BYTES_PER_CHUNK < at_most * row_bytes
    ):
        chunks *= 2
    return chunks


def _row_bytes(target: pa.Schema) -> int:
    """The bytes a row of ``target`` takes in :func:`bulk_select`'s aggregates."""
    widths = {pa.int32(): 4, pa.int64(): 8, pa.bool_(): 1}
    total = 0
    for field in target:
        if pa.types.is_timestamp(field.type):
            total += 8
        elif field.type in widths:
            total += widths[field.type]
        else:  # a text column's bytes are not bounded by its rows
            raise TypeError(f"no bound on the bytes of {field} from a number of rows")
    return total


def bulk_select(
    conn: _Conn,
    query: str,
    params: dict[str, object],
    target: pa.Schema,
    estimate: int,
    *,
    at_most: int = 0,
) -> pa.Table:
    """The rows of ``query`` (columns as in ``target``) as an Arrow table, in bulk.

    Each column is aggregated server-side into one ``bytea`` of its binary send
    format and decoded with numpy: no per-row work in Python. Rows are split into
    ``2^k`` chunks by the first column (a hash of it when it is text, its low bits
    when it is an integer code) so that each ``bytea`` stays far below PostgreSQL's
    1 GB limit: :func:`chunk_count` of ``estimate``, the rows expected (for speed: a
    ``GROUP BY`` costs time, one chunk of many rows costs memory), and ``at_most``, a
    bound on the rows that does not rest on statistics (for safety: the estimate can be
    far too low; columns of fixed width only). Row order is not kept.
    """
    chunks = chunk_count(estimate, at_most, _row_bytes(target) if at_most else 0)
    aggregates: list[str] = []
    for field in target:
        name = field.name
        if pa.types.is_string(field.type):
            aggregates.append(f"string_agg(textsend({name}), ''::bytea)")
            aggregates.append(f"string_agg(int4send(octet_length({name})), ''::bytea)")
        elif pa.types.is_timestamp(field.type):
            aggregates.append(f"string_agg(timestamptz_send({name}), ''::bytea)")
        elif pa.types.is_boolean(field.type):
            aggregates.append(f"string_agg(boolsend({name}), ''::bytea)")
        elif pa.types.is_int32(field.type):
            aggregates.append(f"string_agg(int4send({name}), ''::bytea)")
        elif pa.types.is_integer(field.type):
            aggregates.append(f"string_agg(int8send({name}::bigint), ''::bytea)")
        else:  # pragma: no cover - the schemas hold only these types
            raise TypeError(f"no bulk decoder for {field}")
    statement = f"WITH chosen AS ({query}) SELECT {', '.join(aggregates)}, count(*) FROM chosen"
    if chunks > 1:
        first = target.field(0)
        key = f"hashtext({first.name})" if pa.types.is_string(first.type) else first.name
        statement += f" GROUP BY {key} & {chunks - 1}"
    else:
        statement += " HAVING count(*) > 0"  # no rows: no chunk (not one of NULLs)
    with conn.cursor(binary=True) as cur:
        cur.execute(statement.encode(), params)
        parts = [_decode_chunk(list(row), target) for row in cur.fetchall()]
    if not parts:
        return schema.empty(target)
    return pa.concat_tables(parts).combine_chunks()


def _decode_chunk(values: list[Any], target: pa.Schema) -> pa.Table:
    """One chunk of :func:`bulk_select`: byte strings in column order, then the row count."""
    rows = int(values[-1])
    position = 0
    arrays: list[pa.Array[Any]] = []
    for field in target:
        data = bytes(values[position])
        position += 1
        if pa.types.is_string(field.type):
            offsets = np.zeros(rows + 1, dtype=np.int32)
            np.cumsum(np.frombuffer(values[position], dtype=">i4"), out=offsets[1:])
            position += 1
            arrays.append(
                pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.data), pa.py_buffer(data))
            )
        elif pa.types.is_timestamp(field.type):
            micros = np.frombuffer(data, dtype=">i8").astype(np.int64) + _PG_EPOCH_US
            arrays.append(pa.array(micros, field.type))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array(np.frombuffer(data, dtype=np.uint8).astype(bool)))
        elif pa.types.is_int32(field.type):
            arrays.append(pa.array(np.frombuffer(data, dtype=">i4").astype(np.int32)))
        else:
            numbers = np.frombuffer(data, dtype=">i8").astype(field.type.to_pandas_dtype())
            arrays.append(pa.array(numbers, field.type))
    return pa.Table.from_arrays(arrays, schema=target)
