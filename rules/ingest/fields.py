"""Writing ECS fields in documents that use nested keys, dotted keys or both.

``{"process": {"name": "x"}}``, ``{"process.name": "x"}`` and ``{"process": {"name.x": ...}}``
style mixtures are all accepted. Reading is :mod:`rules.eql.fields`' (re-exported here), so
ingest, rule exceptions and queries read a field the same way.
"""

from __future__ import annotations

from typing import Any

from rules.eql.fields import MISSING, get_field, has_dotted_key

__all__ = ["MISSING", "flatten", "get_field", "has_dotted_key", "has_field", "set_field"]


def _locate(doc: dict, parts: list[str]) -> tuple[dict, str] | None:
    """Find the dict and key that hold the field named by ``parts``, or None."""
    for i in range(1, len(parts) + 1):
        key = ".".join(parts[:i])
        if key not in doc:
            continue
        if i == len(parts):
            return doc, key
        child = doc[key]
        if isinstance(child, dict):
            found = _locate(child, parts[i:])
            if found is not None:
                return found
    return None


def has_field(doc: dict, path: str) -> bool:
    """Whether ``doc`` has the field ``path``, even set to null."""
    return get_field(doc, path) is not MISSING


def set_field(doc: dict, path: str, value: Any) -> None:
    """Set ``path`` where it already lives; otherwise create it nested (``{"a": {"b": v}}``).

    When a dotted key shares the field's first segment (``"event.code"`` beside a missing
    ``event.id``), the new field is written dotted too, so a document keeps one style.
    """
    parts = path.split(".")
    found = _locate(doc, parts)
    if found is not None:
        holder, key = found
        holder[key] = value
        return
    head = parts[0]
    if head not in doc and any(k.startswith(head + ".") for k in doc):
        doc[path] = value
        return
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if child is not None:
                # A scalar is in the way ({"process": "x"}): keep it, write the rest dotted.
                node[".".join(parts[i:])] = value
                return
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _flatten_into(node: dict, prefix: str, out: dict, objects: set[str] | None) -> None:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if type(value) is dict:
            if objects is not None:
                objects.add(path)
            if value:
                _flatten_into(value, path + ".", out, objects)
            else:
                out[path] = {}
        else:
            out[path] = value


def flatten(doc: dict, objects: set[str] | None = None) -> dict[str, Any]:
    """Dotted-key copy of ``doc``; lists are kept as values (objects inside them untouched).

    An empty object stays as ``{}``. If ``objects`` is given, the dotted name of every
    object met is added to it.
    """
    out: dict[str, Any] = {}
    _flatten_into(doc, "", out, objects)
    return out
