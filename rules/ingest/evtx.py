"""Windows ``.evtx`` files, read with the ``evtx`` package (pyevtx-rs)."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from typing import IO, Any

import orjson

from rules.eql.timestamps import parse_ingest_timestamp

from .coerce import int_or_none
from .ecs import EcsFieldError, assign_id, check_ecs
from .normalise import NormaliseError, WinEvent, normalise_windows
from .records import ParsedRecord

__all__ = ["EVTX_MAGIC", "evtx_json_to_win_event", "read_evtx"]

EVTX_MAGIC = b"ElfFile\x00"


def _attrs(node: Any) -> dict[str, Any]:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs
    return {}


def _text(node: Any) -> Any:
    """The value of an element that may carry attributes (``{"#attributes":…, "#text":…}``)."""
    if isinstance(node, dict) and "#text" in node:
        return node["#text"]
    return node


def _int(value: Any) -> int | None:
    # evtx writes some numbers as hex literals (0x...), so the base comes from the text.
    return int_or_none(_text(value), 0)


def _section(node: Any) -> dict[str, Any]:
    """EventData/UserData content as a flat dict; unnamed ``<Data>`` become param1, param2…"""
    if not isinstance(node, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "#attributes":
            continue
        if key == "Data":
            values = value if isinstance(value, list) else [value]
            texts = _text(values[0]) if len(values) == 1 else None
            if isinstance(texts, list):
                values = texts
            for i, item in enumerate(values, 1):
                out[f"param{i}"] = _text(item)
        else:
            out[key] = _text(value) if not isinstance(value, dict) or "#text" in value else value
    return out


def evtx_json_to_win_event(record: dict) -> WinEvent:
    """The :class:`WinEvent` in one ``PyEvtxParser.records_json()`` item.

    The item is ``{"event_record_id": int, "timestamp": str, "data": "<JSON text>"}``, the
    JSON being ``{"Event": {"System": {...}, "EventData": {...} | "UserData": {...}}}`` with
    XML attributes under ``"#attributes"``. Raises ValueError if there is no event id.
    """
    data = record.get("data")
    doc = orjson.loads(data) if isinstance(data, str | bytes) else data
    event = doc.get("Event", {}) if isinstance(doc, dict) else {}
    system = event.get("System") or {}
    event_id = _int(system.get("EventID"))
    if event_id is None:
        raise ValueError("System/EventID: missing or not an integer")
    provider = _attrs(system.get("Provider"))
    execution = _attrs(system.get("Execution"))
    created = _attrs(system.get("TimeCreated")).get("SystemTime")
    if not created and isinstance(record.get("timestamp"), str):
        created = record["timestamp"].removesuffix(" UTC")  # the parser's "...Z UTC" form
    user_data = event.get("UserData")
    return WinEvent(
        event_id=event_id,
        provider=str(provider.get("Name") or ""),
        channel=str(_text(system.get("Channel")) or ""),
        computer=str(_text(system.get("Computer")) or ""),
        time_created=parse_ingest_timestamp(created),
        record_id=_int(system.get("EventRecordID")) or _int(record.get("event_record_id")),
        provider_guid=provider.get("Guid") or None,
        version=_int(system.get("Version")),
        process_id=_int(execution.get("ProcessID")),
        thread_id=_int(execution.get("ThreadID")),
        user_sid=_attrs(system.get("Security")).get("UserID") or None,
        event_data=_section(event.get("EventData")),
        user_data=user_data if isinstance(user_data, dict) else None,
    )


def _header_problems(file: str | IO[bytes]) -> list[str]:
    """Damage the parser would skip silently: a bad header checksum, missing chunks."""
    if isinstance(file, str):
        with open(file, "rb") as f:
            header = f.read(4096)
            size = os.fstat(f.fileno()).st_size
    else:
        start = file.tell()
        header = file.read(4096)
        size = file.seek(0, os.SEEK_END) - start
        file.seek(start)
    if len(header) < 128:
        return ["truncated EVTX file: the file header is incomplete"]
    problems = []
    if struct.unpack_from("<I", header, 124)[0] != zlib.crc32(header[:120]):
        problems.append("damaged EVTX file header (checksum mismatch)")
    (chunks,) = struct.unpack_from("<H", header, 42)
    header_size = struct.unpack_from("<H", header, 40)[0] or 4096
    if size < header_size + chunks * 0x10000:
        problems.append(
            f"truncated EVTX file: the header announces {chunks} chunk(s) of 64 KiB, "
            f"the file has {max(size - header_size, 0)} bytes after the header"
        )
    return problems


def read_evtx(file: str | IO[bytes], *, source: str | None = None) -> Iterator[ParsedRecord]:
    """Records of an EVTX file (a path, or a seekable binary file object).

    ``number`` counts the items yielded from 1: records in file order, and problems found
    (a damaged header, missing chunks, a record or chunk the parser had to skip) as error
    items in their place. Reading goes on after a problem.
    """
    from evtx import PyEvtxParser  # a compiled extension: import only when an .evtx appears

    number = 0
    try:
        problems = _header_problems(file)
    except OSError as exc:
        problems = [f"cannot read EVTX file: {exc}"]
    for problem in problems:
        number += 1
        yield ParsedRecord(number, error=problem, kind="evtx", source=source)
    try:
        parser = PyEvtxParser(file, number_of_threads=1, skip_errors=True)
        records = iter(parser.records_json())
    except (OSError, RuntimeError, ValueError) as exc:
        yield ParsedRecord(
            number + 1, error=f"not a readable EVTX file: {exc}", kind="evtx", source=source
        )
        return
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                item = next(records)
            except StopIteration:
                item = None
            except RuntimeError as exc:
                caught.append(warnings.WarningMessage(str(exc), RuntimeWarning, "", 0))
                item = None
        for warning in caught:
            number += 1
            yield ParsedRecord(
                number,
                error=f"damaged EVTX data: {warning.message}",
                kind="evtx",
                source=source,
            )
        if item is None:
            return
        number += 1
        yield _parsed(number, item, source)


def _parsed(number: int, item: Any, source: str | None) -> ParsedRecord:
    try:
        doc = normalise_windows(evtx_json_to_win_event(item))
        check_ecs(doc)
    except (ValueError, NormaliseError, EcsFieldError, AttributeError, TypeError) as exc:
        return ParsedRecord(number, error=str(exc), kind="evtx", source=source)
    except RecursionError:
        return ParsedRecord(number, error="record nested too deeply", kind="evtx", source=source)
    assign_id(doc)
    return ParsedRecord(number, event=doc, kind="evtx", source=source)
