"""CSV text the way storemon writes it for people and programs: vectorized, exact, safe.

- Lines end in ``\\n``; a text field is quoted (quotes doubled) only when it holds a comma,
  a quote, CR or LF.
- **Spreadsheet safety** (OWASP, "CSV injection"): a text field that begins with ``=``,
  ``+``, ``-``, ``@``, a tab or CR would run as a formula in a spreadsheet, so it is written
  with a leading apostrophe ``'`` and quoted: ``=1+1`` is written ``"'=1+1"``. A field that
  begins with ``'`` gets one too, so the escape can be undone exactly: **a program reading
  the file drops one leading apostrophe from every text field that begins with one.** No
  real store id is changed by it (ids of digits and letters do not start with these).
- Durations have exactly two decimals (``0.00``, ``1.74``); counts are integers.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_join = cast("Callable[..., pa.Array[Any]]", pc.binary_join_element_wise)
#: First characters that make a spreadsheet evaluate a cell (and the escape itself).
FORMULA_START: Final = r"^[=+\-@\t\r']"


def text_field(values: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Text values as CSV fields: spreadsheet-safe, quoted only when they need it."""
    text = pc.cast(values, pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    risky = pc.match_substring_regex(text, FORMULA_START)
    if pc.any(risky).as_py():
        text = cast("pa.Array[Any]", pc.if_else(risky, _join("'", text, ""), text))
    quoted = _join('"', pc.replace_substring(text, '"', '""'), '"', "")
    needs_quotes = pc.or_(pc.match_substring_regex(text, r'[",\r\n]'), risky)
    return cast("pa.Array[Any]", pc.if_else(needs_quotes, quoted, text))


def two_decimals(values: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Non-negative floats as text with exactly two decimals (``1.7``: ``1.70``)."""
    q = np.rint(np.asarray(values.to_numpy(), dtype=np.float64) * 100).astype(np.int64)
    return hundredths_text(q)


def hundredths_text(q: np.ndarray[Any, np.dtype[np.int64]]) -> pa.Array[Any]:
    """Non-negative integers of hundredths as decimal text (``174``: ``1.74``)."""
    whole = pa.array(q // 100).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(q % 100).cast(pa.string()), width=2, padding="0")
    return _join(whole, frac, ".")


def integers(values: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """Integers as text."""
    text = pc.cast(values, pa.string())
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def lines(header: Sequence[str], fields: Sequence[pa.Array[Any]]) -> bytes:
    """The header and one line per row of the (already formatted) fields."""
    head = ",".join(header) + "\n"
    if not fields or len(fields[0]) == 0:
        return head.encode()
    joined = _join(*fields, ",") if len(fields) > 1 else fields[0]
    return (head + "\n".join(cast("list[str]", joined.to_pylist())) + "\n").encode()


def table_csv(table: pa.Table) -> bytes:
    """A table as CSV: text columns spreadsheet-safe, floats with two decimals, integers and
    booleans (``true``/``false``) as they are; timestamps must be formatted beforehand."""
    fields = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_dictionary(kind):
            fields.append(text_field(column))
        elif pa.types.is_floating(kind):
            fields.append(two_decimals(column))
        elif pa.types.is_boolean(kind):
            fields.append(
                cast(
                    "pa.Array[Any]",
                    pc.if_else(column.combine_chunks(), pa.scalar("true"), pa.scalar("false")),
                )
            )
        else:
            fields.append(integers(column))
    return lines(table.column_names, fields)


__all__ = [
    "FORMULA_START",
    "hundredths_text",
    "integers",
    "lines",
    "read_table",
    "table_csv",
    "text_field",
    "two_decimals",
]


def read_table(data: bytes) -> pa.Table:
    """A CSV storemon wrote, read back: text columns as strings with the spreadsheet
    escape undone (one leading ``'`` dropped), numbers as numbers."""
    import pyarrow.csv as pacsv  # only readers of results need it

    header = data.split(b"\n", 1)[0].decode().split(",")
    text = [name for name in header if name in _TEXT_COLUMNS]
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in text},
            true_values=["true"],
            false_values=["false"],
        ),
    )
    for name in text:
        if name == "store_id":
            column = table.column(name)
            escaped = pc.starts_with(column, "'")
            undone = pc.if_else(escaped, pc.utf8_slice_codeunits(column, 1), column)
            table = table.set_column(table.column_names.index(name), name, undone)
    return table


#: The columns of storemon's CSVs that hold text.
_TEXT_COLUMNS: Final = frozenset({"store_id", "start_utc", "end_utc"})
