"""The text of one input file, as a stream of chunks: opened, hashed, unpacked, limited.

An input is a path, the file's bytes, or an open binary file. It is read
:data:`READ_BYTES` at a time, hashed (sha256 of the bytes as given) and, when it
starts with the gzip magic, unpacked incrementally: no call yields more than
:data:`UNPACK_BYTES`, and the text of a file may not exceed ``max_text_bytes``
(:class:`~storemon.errors.FileTooLarge`), so a compression bomb costs a bounded amount
of memory and stops at the limit. Several gzip members are read one after the other,
as ``gzip -d`` does; bytes after the last member that are not gzip data are ignored
with a warning (``gzip -d``: "trailing garbage ignored"). A truncated or corrupt gzip
stream refuses the file. Unpacking is ISA-L's inflate (``isal``, zlib's interface and
output, 3-4x faster than zlib's on this machine).

:func:`refuse_binary` refuses, from the first bytes of text, what is no CSV text at
all (UTF-16, archives, other compressions, binary data), with one message that says
what the file is and never quotes its bytes.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import threading
from collections.abc import Iterator
from typing import IO, Final, cast

from isal import isal_zlib

from storemon.errors import FileTooLarge, IngestError

__all__ = ["READ_BYTES", "UNPACK_BYTES", "Input", "InputData", "input_size", "refuse_binary"]

#: Bytes of the file as given read at a time, and most bytes of text one step unpacks.
READ_BYTES: Final = 1 << 20
UNPACK_BYTES: Final = 1 << 20
#: Chunks of text read ahead of the parser, on a helper thread.
AHEAD: Final = 4

InputData = str | os.PathLike[str] | bytes | IO[bytes]

_GZIP: Final = b"\x1f\x8b"
# What a file that is no CSV text often starts with, and what to tell its sender.
_MAGIC: Final = (
    (_GZIP, "is compressed twice (a gzip file inside a gzip file); unpack it once"),
    (b"PK\x03\x04", "is a zip archive (or an .xlsx workbook); extract or export the CSV first"),
    (b"BZh", "is bzip2-compressed; send it plain or gzip-compressed"),
    (b"\xfd7zXZ\x00", "is xz-compressed; send it plain or gzip-compressed"),
    (b"\x28\xb5\x2f\xfd", "is zstd-compressed; send it plain or gzip-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "is a 7-zip archive; extract the CSV first"),
    (b"\xd0\xcf\x11\xe0", "is an Excel (.xls) or other Office file; export it as CSV"),
    (b"%PDF", "is a PDF document, not a CSV file"),
)
#: Share of control bytes (other than tab, CR, LF, FF, VT) above which text is binary.
_BINARY_SHARE: Final = 0.1
_CONTROL: Final = bytes(range(0, 9)) + bytes(range(14, 32))


class Input:
    """One file's text, read once through :meth:`chunks`; counts and hashes as it goes."""

    def __init__(self, data: InputData, file: str, *, max_text_bytes: int) -> None:
        self.file = file
        self.max_text_bytes = max_text_bytes
        self.bytes_read = 0  # bytes of the file as given, so far
        self.bytes_total: int | None = None  # the file's size, when known
        self.text_bytes = 0  # bytes of text (unpacked) so far
        self.gzip = False
        self.warnings: list[str] = []
        self._hash = hashlib.sha256()
        self._data = data

    @property
    def sha256(self) -> str:
        """The sha256 (hex) of the bytes read so far: of the whole file once it is read."""
        return self._hash.hexdigest()

    def chunks(self) -> Iterator[bytes]:
        """The file's text, in chunks of at most :data:`UNPACK_BYTES` (plain files: as read).

        Read, hashed and unpacked on a helper thread, :data:`AHEAD` chunks ahead of the
        consumer (ISA-L and hashlib release the GIL: unpacking runs beside parsing).
        """
        return _ahead(self._text())

    def _text(self) -> Iterator[bytes]:
        raw = self._raw()
        first = b""
        for piece in raw:  # the first two bytes tell a gzip file
            first += piece
            if len(first) >= len(_GZIP):
                break
        if first[: len(_GZIP)] == _GZIP:
            self.gzip = True
            yield from self._gunzip(first, raw)
            return
        if first:
            yield self._counted(first)
        for piece in raw:
            yield self._counted(piece)

    def _raw(self) -> Iterator[bytes]:
        """The bytes as given, hashed and counted."""
        data = self._data
        if isinstance(data, bytes):
            self.bytes_total = len(data)
            view = memoryview(data)
            for start in range(0, len(data), READ_BYTES):
                yield self._took(bytes(view[start : start + READ_BYTES]))
            return
        if isinstance(data, (str, os.PathLike)):
            with _open(data, self.file) as stream:
                info = os.fstat(stream.fileno())
                self.bytes_total = info.st_size if stat.S_ISREG(info.st_mode) else None
                yield from self._stream(stream)
            return
        self.bytes_total = _remaining(data)
        yield from self._stream(data)

    def _stream(self, stream: IO[bytes]) -> Iterator[bytes]:
        while True:
            try:
                piece = stream.read(READ_BYTES)
            except OSError as error:
                raise IngestError(
                    f"{self.file}: cannot be read ({error.strerror or error})"
                ) from None
            if not piece:
                return
            yield self._took(piece)

    def _took(self, piece: bytes) -> bytes:
        self.bytes_read += len(piece)
        self._hash.update(piece)
        return piece

    def _counted(self, text: bytes) -> bytes:
        self.text_bytes += len(text)
        if self.text_bytes > self.max_text_bytes:
            raise FileTooLarge(self.file, self.max_text_bytes)
        return text

    def _gunzip(self, first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
        unpack = _inflater()
        between = b""  # bytes after a finished member: a next member, or trailing garbage
        trailing = 0
        pending = [first]
        while True:
            data = pending.pop() if pending else next(rest, None)
            if data is None:
                break
            if trailing:
                trailing += len(data)
                continue
            if unpack.eof:  # after a member: another one, or the end of the gzip data
                between += data
                if len(between) < len(_GZIP):
                    continue
                if between[: len(_GZIP)] != _GZIP:
                    trailing, between = len(between), b""
                    continue
                unpack, data, between = _inflater(), between, b""
            yield from self._inflate(unpack, data)
            if unpack.eof and unpack.unused_data:
                pending.append(unpack.unused_data)
        if not unpack.eof:
            raise IngestError(
                f"{self.file}: is a truncated gzip file (it ends inside its compressed data); "
                "send the whole file"
            )
        trailing += len(between)
        if trailing:
            self.warnings.append(
                f"ignored {trailing:,} bytes after the end of the gzip data "
                "(like gzip -d: trailing garbage)"
            )

    def _inflate(self, unpack: isal_zlib.Decompress, data: bytes) -> Iterator[bytes]:
        """Unpack ``data`` through ``unpack``, at most :data:`UNPACK_BYTES` per step."""
        while True:
            try:
                text = unpack.decompress(data, UNPACK_BYTES)
            except _UNPACK_ERROR as error:
                raise IngestError(
                    f"{self.file}: looks gzipped but cannot be unpacked ({error})"
                ) from None
            if text:
                yield self._counted(text)
            data = unpack.unconsumed_tail
            if unpack.eof or (not data and len(text) < UNPACK_BYTES):
                return


# isal's stub declares ``error`` an instance; it is the class ``IsalError``
_UNPACK_ERROR: Final = cast("type[Exception]", isal_zlib.error)


def _inflater() -> isal_zlib.Decompress:
    """A fresh inflater of one gzip member (wbits 16 + 15: the gzip header and trailer)."""
    return isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END: Final = object()


def _ahead(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks``, produced on a helper thread at most :data:`AHEAD` ahead; its errors are
    raised here. Closing the iterator stops the thread."""
    ready: queue.Queue[object] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failed(error))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="storemon-ingest-read", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield cast(bytes, item)
    finally:
        stop.set()
        worker.join()


def refuse_binary(head: bytes, file: str) -> None:
    """Raise :class:`IngestError` when the first bytes of a file's text are no CSV text."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{file}: is UTF-16 text; save it as UTF-8 CSV")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{file}: {what}")
    sample = head[:4096]
    if len(sample) >= 4 and _utf16_like(sample):
        raise IngestError(
            f"{file}: looks like UTF-16 text without a byte order mark; save it as UTF-8 CSV"
        )
    controls = sum(sample.count(byte) for byte in _CONTROL)
    if sample and controls > _BINARY_SHARE * len(sample):
        raise IngestError(f"{file}: is not a text file (binary data); expected a UTF-8 CSV")


def _utf16_like(sample: bytes) -> bool:
    """Mostly NUL at every other byte and mostly not at the others: ASCII as UTF-16."""
    for zeros, other in ((sample[1::2], sample[0::2]), (sample[0::2], sample[1::2])):
        if zeros.count(0) > 0.9 * len(zeros) and other.count(0) < 0.1 * len(other):
            return True
    return False


def _open(path: str | os.PathLike[str], file: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise IngestError(f"{file}: no such file (check the path)") from None
    except IsADirectoryError:
        raise IngestError(f"{file}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise IngestError(f"{file}: permission denied (check the file's permissions)") from None
    except OSError as error:
        raise IngestError(f"{file}: cannot be read ({error.strerror or error})") from None


def input_size(data: InputData) -> int | None:
    """The size of an input before it is read, when cheap to know (else None)."""
    if isinstance(data, bytes):
        return len(data)
    if isinstance(data, (str, os.PathLike)):
        try:
            info = os.stat(data)
        except OSError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None
    return _remaining(data)


def _remaining(stream: IO[bytes]) -> int | None:
    """Bytes from the position to the end of a seekable stream, else None."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (OSError, ValueError):
        return None
    return end - here
