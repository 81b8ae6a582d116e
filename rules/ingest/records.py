"""Results of parsing, and turning one decoded JSON object into a stored-ready ECS event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from .ecs import EcsFieldError, assign_id, check_ecs_nested
from .normalise import NormaliseError, normalise_windows
from .nxlog import looks_like_nxlog, nxlog_to_win_event
from .winlogbeat import looks_like_winlogbeat, winlogbeat_to_win_event

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "ParsedRecord",
    "RecordKind",
    "classify_record",
    "fits_depth",
    "normalise_json",
    "normalise_record",
    "parse_json_line",
]

DEFAULT_MAX_LINE_BYTES = 1024 * 1024
MAX_DEPTH = 100  # objects and arrays nested deeper than this are refused

RecordKind = Literal["ecs", "winlogbeat", "nxlog", "evtx"]


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """One input line or record: an ECS event (with ``event.id`` set) or an error.

    ``number`` is the 1-based line number for JSON lines, or the 1-based position of the
    record in an EVTX file. ``source`` names the archive member it came from, if any.
    ``kind`` says how the record was read ("ecs", "winlogbeat", "nxlog", "evtx"), None when
    the line never became a JSON object.
    """

    number: int
    event: dict[str, Any] | None = None
    error: str | None = None
    kind: RecordKind | None = None
    source: str | None = None
    # Set by the JSON-lines reader for an ECS line taken as it came (see ``normalise_json``):
    # ``plain``, the event's indexed fields are where their nested paths say (no dotted
    # key on the way); ``text``, the line is the event's JSON exactly (nothing was coerced
    # or added), so it is stored as sent rather than written out again.
    plain: bool = False
    text: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def classify_record(obj: dict) -> RecordKind:
    """How a JSON object is read: raw Winlogbeat, NXLog, or (anything else) ECS."""
    event = obj.get("event")
    if type(event) is dict and "category" in event and "EventID" not in obj:
        return "ecs"  # the usual case, told at once: neither raw form has an event.category
    if looks_like_winlogbeat(obj):
        return "winlogbeat"
    if looks_like_nxlog(obj):
        return "nxlog"
    return "ecs"


def normalise_record(
    obj: dict, *, fallback_id: str | None = None, shallow: bool = False
) -> tuple[RecordKind, dict]:
    """Turn a decoded JSON object into a checked ECS event with ``event.id`` set.

    ECS objects are checked and coerced in place (:func:`check_ecs`); Winlogbeat and NXLog
    records become new documents (:func:`normalise_windows`). ``fallback_id`` (for example
    a ``_bulk`` ``_id``) is used as the id when the event has none, else the content hash.
    ``shallow``: the caller knows the object cannot nest deeper than ``MAX_DEPTH`` (see
    :func:`fits_depth`), so it is not walked to find out.
    Raises ValueError (with a message fit for the user) when the object cannot be used.
    """
    kind, doc, _plain, _changed = normalise_json(obj, fallback_id=fallback_id, shallow=shallow)
    return kind, doc


def normalise_json(
    obj: dict, *, fallback_id: str | None = None, shallow: bool = False
) -> tuple[RecordKind, dict, bool, bool]:
    """:func:`normalise_record`, telling also ``plain`` and ``changed``: whether the event's
    checked fields are where their nested paths say (see
    :func:`~rules.ingest.ecs.check_ecs_nested`), and whether it differs from ``obj`` as
    decoded (a Winlogbeat or NXLog record always does; an ECS object when a value was
    coerced or its id assigned)."""
    kind = classify_record(obj)
    if not shallow and _too_deep(obj):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        if kind == "winlogbeat":
            doc = normalise_windows(winlogbeat_to_win_event(obj))
        elif kind == "nxlog":
            doc = normalise_windows(nxlog_to_win_event(obj))
        else:
            doc = obj
        plain, changed = check_ecs_nested(doc)
    except (EcsFieldError, NormaliseError) as exc:
        raise ValueError(str(exc)) from None
    event = doc.get("event") if plain else None
    given = event.get("id") if type(event) is dict else None
    if type(given) is not str or not given:
        assign_id(doc, fallback_id)
        changed = True
    return kind, doc, plain, changed or kind != "ecs"


def fits_depth(data: bytes) -> bool:
    """True when the JSON text ``data`` cannot nest deeper than ``MAX_DEPTH``: it opens no
    more objects and arrays than that (brackets inside strings only make this cautious)."""
    return data.count(b"{") + data.count(b"[") <= MAX_DEPTH


def _too_deep(value: Any) -> bool:
    """True when ``value`` nests objects/arrays deeper than MAX_DEPTH (checked without
    recursion, so hostile input cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _type_name(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def parse_json_line(data: bytes) -> dict:
    """Decode one line (bytes, no newline) to a JSON object. Raises ValueError with a reason."""
    try:
        # orjson reads the bytes and checks their UTF-8 itself (decoding to str first cost a
        # copy of every line); only a line it refuses is looked at again, for the reason.
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not valid UTF-8 (byte {exc.start + 1} of the line)") from None
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {_type_name(value)}")
    return value
