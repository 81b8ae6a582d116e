"""Reading event files of any supported format, recognised by content, never by name."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Literal

from .evtx import EVTX_MAGIC, read_evtx
from .ndjson import iter_lines, read_json_lines
from .records import DEFAULT_MAX_LINE_BYTES, ParsedRecord, classify_record, parse_json_line

__all__ = ["FileFormat", "read_bytes", "read_path", "read_stream", "size_hint", "sniff_path"]

FileFormat = Literal["evtx", "zip", "gzip", "ecs", "winlogbeat", "nxlog", "empty", "unknown"]
Progress = Callable[[int], None]

_CHUNK = 1 << 16
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_MAX_NESTING = 3  # containers inside containers (zip in zip in gzip...)


def _container_of(head: bytes) -> FileFormat | None:
    if head.startswith(EVTX_MAGIC):
        return "evtx"
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    return None


class _Head(io.RawIOBase):
    """A readable stream that gives back ``head`` before the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: stream.read(_CHUNK), b"")


def _utf16_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    text = io.TextIOWrapper(stream, encoding="utf-16", newline="")  # type: ignore[arg-type]
    for piece in iter(lambda: text.read(_CHUNK), ""):
        yield piece.encode("utf-8", "surrogatepass")


def read_stream(
    stream: IO[bytes],
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    source: str | None = None,
    _tick: Callable[[], None] | None = None,
    _depth: int = 0,
) -> Iterator[ParsedRecord]:
    """Records from a binary stream of any supported format.

    EVTX and zip need seeking: a non-seekable stream holding one is first copied to a
    temporary file. Never raises for bad content; errors are records.
    """
    head = stream.read(8)
    container = _container_of(head)
    if container is not None and _depth >= _MAX_NESTING:
        yield ParsedRecord(1, error="archives nested too deeply", source=source)
        return
    if container in ("evtx", "zip"):
        file, owned = _seekable(head, stream)
        try:
            if container == "evtx":
                yield from read_evtx(file, source=source)
            else:
                yield from _read_zip(file, max_line_bytes, source, _tick, _depth)
        finally:
            if owned:
                file.close()
    elif container == "gzip":
        inner = gzip.GzipFile(fileobj=io.BufferedReader(_Head(head, stream)), mode="rb")
        try:
            yield from read_stream(
                inner, max_line_bytes=max_line_bytes, source=source, _tick=_tick, _depth=_depth + 1
            )
        except (OSError, EOFError, zlib.error) as exc:
            yield ParsedRecord(0, error=f"damaged gzip data: {exc}", source=source)
    else:
        rest = io.BufferedReader(_Head(head, stream))
        chunks = _utf16_chunks(rest) if head.startswith(_UTF16_BOMS) else _chunks(rest)
        try:
            yield from read_json_lines(
                chunks, max_line_bytes=max_line_bytes, source=source, after_chunk=_tick
            )
        except UnicodeDecodeError as exc:
            yield ParsedRecord(0, error=f"not valid UTF-16 text: {exc.reason}", source=source)


def _seekable(head: bytes, stream: IO[bytes]) -> tuple[IO[bytes], bool]:
    """``stream`` rewound by ``head`` if it is a real file or in memory; otherwise (gzip,
    zip members, pipes, whose seeking is emulated or absent) a temporary copy."""
    try:
        direct = isinstance(stream, io.BytesIO) or (stream.fileno() >= 0 and stream.seekable())
    except (OSError, ValueError, AttributeError):
        direct = False
    if direct:
        stream.seek(stream.tell() - len(head))
        return stream, False
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    spool.write(head)
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool, True


def _member_label(source: str | None, name: str) -> str:
    return f"{source}!{name}" if source else name


def _read_zip(
    file: IO[bytes],
    max_line_bytes: int,
    source: str | None,
    tick: Callable[[], None] | None,
    depth: int,
) -> Iterator[ParsedRecord]:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield ParsedRecord(1, error=f"not a readable zip archive: {exc}", source=source)
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            label = _member_label(source, info.filename)
            if info.flag_bits & 0x1:
                yield ParsedRecord(1, error="encrypted archive member", source=label)
                continue
            try:
                with archive.open(info) as member:
                    yield from read_stream(
                        member,
                        max_line_bytes=max_line_bytes,
                        source=label,
                        _tick=tick,
                        _depth=depth + 1,
                    )
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
                yield ParsedRecord(0, error=f"damaged archive member: {exc}", source=label)


def read_path(
    path: str | os.PathLike[str],
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Progress | None = None,
) -> Iterator[ParsedRecord]:
    """Stream the records of an event file, whatever its name: NDJSON of ECS events,
    Winlogbeat or NXLog JSON lines (UTF-8, or UTF-16 with a byte-order mark), ``.evtx``,
    and any of those inside a zip or gzip file.

    Memory stays bounded by ``max_line_bytes`` plus a 64 KiB chunk for JSON lines. Bad
    lines and records are yielded as errors; reading goes on. ``on_progress(n)`` is called
    with the number of bytes of the file consumed since the last call; the calls add up to
    :func:`size_hint` by the end (EVTX reports at the end only). Raises OSError only when
    the file cannot be opened.
    """
    with open(path, "rb") as file:
        if file.read(len(EVTX_MAGIC)) == EVTX_MAGIC:
            # The parser reads a path faster than a Python file object.
            yield from read_evtx(os.fspath(path))
            if on_progress is not None:
                on_progress(os.fstat(file.fileno()).st_size)
            return
        file.seek(0)
        total = os.fstat(file.fileno()).st_size
        reported = 0

        def tick() -> None:
            nonlocal reported
            if on_progress is None:
                return
            try:
                position = min(file.tell(), total)
            except (OSError, ValueError):
                return
            if position > reported:
                on_progress(position - reported)
                reported = position

        yield from read_stream(file, max_line_bytes=max_line_bytes, _tick=tick)
        if on_progress is not None and reported < total:
            on_progress(total - reported)


def read_bytes(
    data: bytes, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[ParsedRecord]:
    """Like :func:`read_path` for content already in memory."""
    return read_stream(io.BytesIO(data), max_line_bytes=max_line_bytes)


def size_hint(path: str | os.PathLike[str]) -> int:
    """Total for a progress bar fed by ``read_path(..., on_progress=...)``: the file size."""
    return os.path.getsize(path)


def sniff_path(path: str | os.PathLike[str]) -> FileFormat:
    """The format of a file by content: a container ("evtx", "zip", "gzip") or, for JSON
    lines, the kind of its first non-blank line ("ecs", "winlogbeat", "nxlog"); "empty" for
    a file with no content, "unknown" when the first line is not a JSON object."""
    with open(path, "rb") as file:
        head = file.read(8)
        container = _container_of(head)
        if container is not None:
            return container
        file.seek(0)
        chunks = _utf16_chunks(file) if head.startswith(_UTF16_BOMS) else _chunks(file)
        for line in iter_lines(chunks, DEFAULT_MAX_LINE_BYTES):
            if line.data is None:
                return "unknown"
            data = line.data.removeprefix(codecs.BOM_UTF8) if line.number == 1 else line.data
            if not data.strip(b" \t\r"):
                continue
            try:
                return classify_record(parse_json_line(data))
            except ValueError:
                return "unknown"
        return "empty"
