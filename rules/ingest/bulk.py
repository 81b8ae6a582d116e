"""Elasticsearch ``_bulk`` bodies: action/metadata lines each followed by a document line."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .fields import get_field
from .ndjson import Line, iter_lines
from .records import DEFAULT_MAX_LINE_BYTES, RecordKind, normalise_record, parse_json_line

__all__ = ["BulkItem", "bulk_response", "parse_bulk"]

_ACTIONS = ("index", "create", "delete", "update")
_WITH_DOCUMENT = ("index", "create", "update")

Outcome = Literal["created", "duplicate"]


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One ``_bulk`` item: an action and, for ``index``/``create``, its event or an error.

    ``line`` is the 1-based line of the action line in the body; ``action`` is None when
    that line was not a usable action. ``event`` has ``event.id`` set: the event's own, else
    the metadata ``_id``, else the content hash.
    """

    line: int
    action: str | None
    index: str | None = None
    doc_id: str | None = None
    event: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    kind: RecordKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _as_action(obj: dict) -> tuple[str, dict] | None:
    if len(obj) != 1:
        return None
    ((name, meta),) = obj.items()
    if name in _ACTIONS and isinstance(meta, dict):
        return name, meta
    return None


def _looks_like_action(line: Line) -> bool:
    if line.data is None:
        return False
    try:
        return _as_action(parse_json_line(line.data)) is not None
    except ValueError:
        return False


def _line_error(line: Line, max_line_bytes: int) -> str | None:
    if line.data is None:
        return f"line {line.number} is longer than the limit of {max_line_bytes} bytes"
    return None


def parse_bulk(body: bytes, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[BulkItem]:
    """Items of a ``_bulk`` body (already gunzipped), in order.

    ``index`` and ``create`` with a document are accepted (the document is read like an
    NDJSON line: ECS, Winlogbeat or NXLog); ``delete`` and ``update`` are rejected per item
    (events are append-only). A broken action line is an error item; its document line, if
    the next line does not look like an action, is skipped with it. Never raises.
    """
    lines = [
        line
        for line in iter_lines([body], max_line_bytes)
        if line.data is None or line.data.strip(b" \t\r")
    ]
    items: list[BulkItem] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        nxt = lines[i] if i < len(lines) else None
        problem = _line_error(line, max_line_bytes)
        action = None
        if problem is None:
            try:
                action = _as_action(parse_json_line(line.data or b""))
                if action is None:
                    problem = 'expected an action line like {"create": {}}'
            except ValueError as exc:
                problem = f"malformed action line: {exc}"
        if action is None:
            if nxt is not None and not _looks_like_action(nxt):
                i += 1  # the document of the broken action
            items.append(BulkItem(line.number, None, error=problem, error_type="parse_exception"))
            continue
        name, meta = action
        index = meta.get("_index") if isinstance(meta.get("_index"), str) else None
        doc_id = meta.get("_id") if isinstance(meta.get("_id"), str) else None
        if name in _WITH_DOCUMENT:
            i += 1 if nxt is not None else 0
        item = functools.partial(BulkItem, line.number, name, index, doc_id)
        if name in ("delete", "update"):
            items.append(
                item(
                    error=f"{name} is not supported: events are append-only",
                    error_type="illegal_argument_exception",
                )
            )
            continue
        if nxt is None:
            items.append(
                item(error="action line without a document line", error_type="parse_exception")
            )
            continue
        try:
            problem = _line_error(nxt, max_line_bytes)
            if problem:
                raise ValueError(problem)
            kind, event = normalise_record(parse_json_line(nxt.data or b""), fallback_id=doc_id)
        except ValueError as exc:
            items.append(
                item(
                    error=f"document on line {nxt.number}: {exc}",
                    error_type="document_parsing_exception",
                )
            )
            continue
        items.append(item(event=event, kind=kind))
    return items


def bulk_response(
    items: Sequence[BulkItem],
    outcomes: Sequence[Outcome | None],
    took_ms: int = 0,
    default_index: str = "events",
) -> dict[str, Any]:
    """The ``_bulk`` answer for ``items``, given what storage did with each good one.

    ``outcomes[i]`` is "created" (stored: 201) or "duplicate" (already stored: 409
    version conflict for ``create``, 200 "noop" for ``index``) for good items; it is
    ignored for error items (400 with the error). ``errors`` is true when any item has an
    error, as in Elasticsearch.
    """
    if len(outcomes) != len(items):
        raise ValueError("one outcome per item is needed")
    answers = []
    errors = False
    for item, outcome in zip(items, outcomes, strict=True):
        action = item.action or "index"
        entry: dict[str, Any] = {"_index": item.index or default_index}
        if item.event is not None:
            entry["_id"] = get_field(item.event, "event.id", None)
        elif item.doc_id is not None:
            entry["_id"] = item.doc_id
        if item.error is not None or item.event is None:
            entry["status"] = 400
            entry["error"] = {
                "type": item.error_type or "illegal_argument_exception",
                "reason": item.error or "no document",
            }
            errors = True
        elif outcome == "created":
            entry.update(status=201, result="created", _version=1)
        elif outcome == "duplicate" and action == "create":
            entry["status"] = 409
            entry["error"] = {
                "type": "version_conflict_engine_exception",
                "reason": f"[{entry['_id']}]: version conflict, document already exists",
            }
            errors = True
        elif outcome == "duplicate":
            entry.update(status=200, result="noop", _version=1)
        else:
            raise ValueError(f"unknown outcome for item on line {item.line}: {outcome!r}")
        answers.append({action: entry})
    return {"took": took_ms, "errors": errors, "items": answers}
