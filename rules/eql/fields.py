"""Field access: resolve a dotted field path in an event, nested, dotted or mixed.

``{"process": {"name": x}}``, ``{"process.name": x}``, ``{"process": {"pe.name": x}}`` and
lists of objects (``{"process": [{"name": x}, ...]}``, read as a multi-valued field) all work.

This is the project's one field reader: queries use :func:`field_getter`, everything else
(rule exceptions, ingest, storage, look-back) uses :func:`get_field`, which reads a field
exactly as a query does and tells a missing field from a null one.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["MISSING", "field_getter", "get_field", "has_dotted_key"]

_MISSING = object()


class _Missing:
    """The type of :data:`MISSING`: falsy, and named in reprs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


# What get_field returns for a field a document does not have (a null value is None).
MISSING: Any = _Missing()


def _resolve(obj, parts, i, cands):
    """General path resolution over nested dicts, dotted keys, mixtures and lists of objects."""
    if type(obj) is list:
        out = []
        for x in obj:
            r = _resolve(x, parts, i, cands)
            if r is _MISSING:
                continue
            if type(r) is list:
                out.extend(r)
            else:
                out.append(r)
        return out if out else _MISSING
    if type(obj) is not dict:
        return _MISSING
    for key, j in cands[i]:
        if key in obj:
            v = obj[key]
            if j == len(parts):
                return v
            r = _resolve(v, parts, j, cands)
            if r is not _MISSING:
                return r
    return _MISSING


def _candidates(parts: tuple[str, ...]) -> list[list[tuple[str, int]]]:
    """Per depth i, the keys that may spell ``parts[i:j]`` with the depth j they lead to,
    the shortest (most nested spelling) first."""
    n = len(parts)
    return [[(".".join(parts[i:j]), j) for j in range(i + 1, n + 1)] for i in range(n)]


def field_getter(path: tuple[str, ...]):
    """``get(event)`` for a field path: the value, a list for multi-valued fields, or None.

    Nested dicts are tried first (the common ECS shape), then dotted keys and mixtures.
    """
    parts = tuple(path)
    n = len(parts)
    cands = _candidates(parts)

    def slow(e):
        r = _resolve(e, parts, 0, cands)
        return None if r is _MISSING else r

    if n == 1:
        key = parts[0]

        def get1(e):
            return e.get(key)

        return get1
    if n == 2:
        p0, p1 = parts
        k01 = p0 + "." + p1

        def get2(e):
            a = e.get(p0)
            if type(a) is dict:
                v = a.get(p1, _MISSING)
                if v is not _MISSING:
                    return v
            elif type(a) is list:
                return slow(e)
            return e.get(k01)

        return get2
    if n == 3:
        p0, p1, p2 = parts
        k12 = p1 + "." + p2
        k01 = p0 + "." + p1
        k012 = k01 + "." + p2

        def get3(e):
            a = e.get(p0)
            if type(a) is dict:
                b = a.get(p1)
                if type(b) is dict:
                    v = b.get(p2, _MISSING)
                    if v is not _MISSING:
                        return v
                elif type(b) is list:
                    return slow(e)
                v = a.get(k12, _MISSING)
                if v is not _MISSING:
                    return v
            elif type(a) is list:
                return slow(e)
            v = e.get(k012, _MISSING)
            if v is not _MISSING:
                return v
            b = e.get(k01)
            if type(b) is dict:
                return b.get(p2)
            if type(b) is list:
                return slow(e)
            return None

        return get3

    # per depth k, the dotted keys that could spell the rest of the path from there
    # ("process.Ext", "process.Ext.token", ... at the top; "Ext.token", ... in "process")
    alternatives = tuple(tuple(".".join(parts[k:m]) for m in range(k + 2, n + 1)) for k in range(n))

    def getn(e):
        cur = e
        walked = [e]
        for p in parts:
            if type(cur) is not dict:
                break
            nxt = cur.get(p, _MISSING)
            if nxt is _MISSING:
                break
            cur = nxt
            walked.append(cur)
        else:
            return cur
        if type(cur) is list:
            return slow(e)
        # The nested path stops here: only a dotted key in one of the objects on the way
        # ({"process.Ext": ...}, {"Ext.token": ...}) could still spell it.
        for k, d in enumerate(walked):
            if type(d) is dict:
                for key in alternatives[k]:
                    if key in d:
                        return slow(e)
        return None

    return getn


@functools.lru_cache(maxsize=4096)
def _reader(path: str):
    parts = tuple(path.split("."))
    return field_getter(parts), parts, _candidates(parts)


def get_field(doc: dict, path: str, default: Any = MISSING) -> Any:
    """The value of field ``path`` (a dotted name) in ``doc`` as a query reads it, or ``default``.

    Same resolution as :func:`field_getter` (nested, dotted and mixed spellings; a list of
    objects is a multi-valued field, read as the list of its elements' values), except that a
    field the document does not have is ``default``, while a field set to null is None.
    """
    get, parts, cands = _reader(path)
    value = get(doc)
    if value is not None:
        return value
    # None is a null value or no value at all: only the general walk tells them apart.
    found = _resolve(doc, parts, 0, cands)
    return default if found is _MISSING else found


def has_dotted_key(d: dict) -> bool:
    """Whether an object has a key with a dot in it (then fields may be spelled dotted)."""
    try:
        return "." in "".join(d)
    except TypeError:  # a key that is not a string: let the general lookup decide
        return True
