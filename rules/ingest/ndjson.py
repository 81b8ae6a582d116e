"""JSON lines: splitting a byte stream into bounded lines, and the HTTP NDJSON body parser."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .records import (
    DEFAULT_MAX_LINE_BYTES,
    ParsedRecord,
    classify_record,
    fits_depth,
    normalise_json,
    parse_json_line,
)

__all__ = ["Line", "iter_lines", "parse_line", "parse_ndjson", "read_json_lines"]

_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Line:
    """One line: ``data`` without its line ending, or None when it was too long."""

    number: int
    data: bytes | None
    terminated: bool  # False only for a last line with no newline after it
    length: int  # bytes in the line, without its ending (for a too-long line, at least this)


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[Line]:
    """Split a stream of byte chunks into lines, holding at most ``max_line_bytes`` + a chunk.

    A line longer than ``max_line_bytes`` (not counting ``\\n`` or ``\\r\\n``) comes out with
    ``data=None``; its bytes are skipped without being kept. Blank lines are yielded too,
    so line numbers stay true.
    """
    buf = bytearray()
    number = 0
    skipping = False  # inside an over-long line
    skipped = 0
    for chunk in chunks:
        if not chunk:
            continue
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                rest = chunk[start:]
                if skipping:
                    skipped += len(rest)
                else:
                    buf += rest
                    if len(buf) > max_line_bytes + 1:  # +1: a "\r" may still come off
                        skipping, skipped = True, len(buf)
                        buf.clear()
                break
            piece = chunk[start:nl]
            start = nl + 1
            number += 1
            if skipping:
                yield Line(number, None, True, skipped + len(piece))
                skipping, skipped = False, 0
                continue
            if not buf:  # the whole line is in this chunk (the usual case): no copying
                if piece.endswith(b"\r"):
                    piece = piece[:-1]
                size = len(piece)
                yield Line(number, piece if size <= max_line_bytes else None, True, size)
                continue
            buf += piece
            if buf.endswith(b"\r"):
                del buf[-1]
            if len(buf) > max_line_bytes:
                yield Line(number, None, True, len(buf))
            else:
                yield Line(number, bytes(buf), True, len(buf))
            buf.clear()
    if skipping:
        yield Line(number + 1, None, False, skipped)
    elif buf:
        if buf.endswith(b"\r"):
            del buf[-1]
        if len(buf) > max_line_bytes:
            yield Line(number + 1, None, False, len(buf))
        else:
            yield Line(number + 1, bytes(buf), False, len(buf))


def parse_line(line: Line, max_line_bytes: int, *, first: bool = False) -> ParsedRecord | None:
    """The record for one line, or None for a blank line."""
    if line.data is None:
        return ParsedRecord(
            line.number, error=f"line is longer than the limit of {max_line_bytes} bytes"
        )
    data = line.data
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark some Windows tools write
    if data[:1] != b"{" and not data.strip(b" \t\r"):  # an object's line is not blank
        return None
    try:
        obj = parse_json_line(data)
    except ValueError as exc:
        reason = str(exc)
        if not line.terminated:
            reason = f"truncated last line (no newline at end of input): {reason}"
        return ParsedRecord(line.number, error=reason)
    try:
        kind, event, plain, changed = normalise_json(obj, shallow=fits_depth(data))
    except ValueError as exc:
        return ParsedRecord(line.number, error=str(exc), kind=classify_record(obj))
    return ParsedRecord(
        line.number, event=event, kind=kind, plain=plain, text=None if changed else data
    )


def read_json_lines(
    chunks: Iterable[bytes],
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    source: str | None = None,
    after_chunk: Callable[[], None] | None = None,
) -> Iterator[ParsedRecord]:
    """Records for every non-blank line of a JSON-lines stream (ECS, Winlogbeat or NXLog)."""

    def counted() -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk
            if after_chunk is not None:
                after_chunk()

    first = True
    for line in iter_lines(counted(), max_line_bytes):
        record = parse_line(line, max_line_bytes, first=first)
        first = False
        if record is None:
            continue
        if source is not None:
            record = dataclasses.replace(record, source=source)
        yield record


def parse_ndjson(
    body: bytes, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[ParsedRecord]:
    """Per-line results for an HTTP NDJSON body (already gunzipped); blank lines skipped.

    Line numbers are 1-based and count blank lines. Never raises for bad input: every
    problem is a record with ``error`` set.
    """
    stream = io.BytesIO(body)
    return read_json_lines(iter(lambda: stream.read(_CHUNK), b""), max_line_bytes=max_line_bytes)
