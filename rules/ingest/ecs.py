"""ECS documents: checking well-known fields, stable ids, and the columns storage indexes."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime
from typing import Any

import orjson

from rules.eql.timestamps import format_timestamp, parse_ingest_timestamp

from .fields import MISSING, flatten, get_field, has_dotted_key, set_field

__all__ = [
    "ECS_VERSION",
    "HASH_EXCLUDED_FIELDS",
    "HASH_EXCLUDED_PREFIXES",
    "MAX_EVENT_ID_LENGTH",
    "EcsFieldError",
    "assign_id",
    "check_ecs",
    "content_hash",
    "event_id_of",
    "index_columns",
]

ECS_VERSION = "9.5.0"
MAX_EVENT_ID_LENGTH = 255

# Fields left out of the content hash: they change when the same event is shipped again.
HASH_EXCLUDED_FIELDS = frozenset(
    {
        "event.id",
        "event.created",
        "event.ingested",
        "agent.ephemeral_id",
        "ecs.version",
        "log.offset",
        "_id",
        "_index",
        "_type",
    }
)
HASH_EXCLUDED_PREFIXES = ("@metadata.", "log.file.", "input.")


class EcsFieldError(ValueError):
    """A well-known field has a value that cannot be coerced to its ECS type."""


_DATE_FIELDS = (
    "event.created",
    "event.ingested",
    "event.start",
    "event.end",
    "process.start",
    "process.end",
    "process.parent.start",
)
_LONG_FIELDS = (
    "process.pid",
    "process.parent.pid",
    "process.args_count",
    "process.parent.args_count",
    "process.exit_code",
    "process.thread.id",
    "source.port",
    "destination.port",
)
_KEYWORD_LIST_FIELDS = ("event.category", "event.type")
_KEYWORD_FIELDS = (
    "event.id",
    "event.code",
    "event.action",
    "event.kind",
    "event.module",
    "event.dataset",
    "event.provider",
    "host.id",
    "host.name",
    "host.os.type",
    "user.id",
    "user.name",
    "user.domain",
    "process.entity_id",
    "process.name",
    "process.executable",
    "process.command_line",
    "process.parent.entity_id",
    "process.parent.name",
    "process.parent.executable",
    "process.parent.command_line",
    "file.path",
    "file.name",
    "file.extension",
)
_ARGS_FIELDS = ("process.args", "process.parent.args")
_IP_FIELDS = ("source.ip", "destination.ip")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_long(path: str, value: Any) -> int:
    if isinstance(value, bool):
        raise EcsFieldError(f"{path}: expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
        except ValueError:
            raise EcsFieldError(f"{path}: expected an integer, got {_describe(value)}") from None
    else:
        raise EcsFieldError(f"{path}: expected an integer, got {_describe(value)}")
    if not _LONG_MIN <= result <= _LONG_MAX:
        raise EcsFieldError(f"{path}: integer out of range: {_describe(value)}")
    return result


def _as_keyword(path: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise EcsFieldError(f"{path}: expected a string, got {_describe(value)}")


def _check_date(path: str, value: Any) -> Any:
    dt = parse_ingest_timestamp(value)
    if dt is None:
        raise EcsFieldError(f"{path}: not a date: {_describe(value)}")
    if isinstance(value, str) and value.rstrip().endswith(("Z", "z")):
        return value  # already UTC: kept as written (nanoseconds survive)
    return format_timestamp(dt)


def _check_long(path: str, value: Any) -> Any:
    if type(value) is int and _LONG_MIN <= value <= _LONG_MAX:
        return value
    return _as_long(path, value)


def _check_keyword(path: str, value: Any) -> Any:
    return value if isinstance(value, str) else _as_keyword(path, value)


def _check_keyword_list(path: str, value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise EcsFieldError(f"{path}: expected a string or a list of strings")


def _check_args(path: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise EcsFieldError(f"{path}: expected a list of strings, got {_describe(value)}")
    if all(isinstance(v, str) for v in value):
        return value
    return [_as_keyword(path, v) for v in value]


def _check_ip(path: str, value: Any) -> Any:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise EcsFieldError(f"{path}: not an IP address: {_describe(value)}") from None
    return value


_CHECKERS: dict[str, Any] = {
    **dict.fromkeys(("@timestamp", *_DATE_FIELDS), _check_date),
    **dict.fromkeys(_LONG_FIELDS, _check_long),
    **dict.fromkeys(_KEYWORD_FIELDS, _check_keyword),
    **dict.fromkeys(_KEYWORD_LIST_FIELDS, _check_keyword_list),
    **dict.fromkeys(_ARGS_FIELDS, _check_args),
    **dict.fromkeys(_IP_FIELDS, _check_ip),
}
_ORDER = {path: i for i, path in enumerate(_CHECKERS)}


# What a value must be to need no check at all (the usual case), per checker.
_PLAIN_STR, _PLAIN_INT, _PLAIN_STR_LIST, _CHECK = range(4)
_PLAIN = {
    _check_keyword: _PLAIN_STR,
    _check_long: _PLAIN_INT,
    _check_keyword_list: _PLAIN_STR_LIST,
    _check_args: _PLAIN_STR_LIST,
}


def _checked_tree() -> dict:
    """The checked fields as a tree of nested names; a leaf is (checking order, path, what
    a value needs to be to pass unchecked)."""
    tree: dict = {}
    for path, checker in _CHECKERS.items():
        *heads, last = path.split(".")
        node = tree
        for part in heads:
            node = node.setdefault(part, {})
        plain = _CHECK if path == "event.id" else _PLAIN.get(checker, _CHECK)
        node[last] = (_ORDER[path], path, plain)
    return tree


def _all_str(values: list) -> bool:
    for v in values:  # noqa: SIM110 - a plain loop is faster than all() over a generator
        if type(v) is not str:
            return False
    return True


_CHECKED_TREE = _checked_tree()


def _collector_source(tree: dict) -> str:
    """Python source of ``_collect``: the walk of the tree of checked names unrolled into
    straight-line lookups (this runs for every event ingested, and a loop over the tree
    costs several times more). See ``_check_nested`` for what it returns."""
    lines = [
        "def _collect(doc):",
        "    found = []",
        "    append = found.append",
        "    if has_dotted_key(doc):",
        "        return None",
    ]
    counter = [0]

    def walk(node: dict, holder: str, indent: str) -> None:
        for name, sub in node.items():
            if type(sub) is tuple:
                order, path, plain = sub
                value = f"v{counter[0]}"
                counter[0] += 1
                lines.append(f"{indent}{value} = {holder}.get({name!r}, MISSING)")
                lines.append(f"{indent}if {value} is not MISSING:")
                item = f"({order}, {path!r}, {holder}, {name!r}, {value})"
                if plain == _PLAIN_STR:
                    test = f"{value}.__class__ is not str"
                elif plain == _PLAIN_INT:
                    test = (
                        f"{value}.__class__ is not int or not ({_LONG_MIN} <= {value} <= "
                        f"{_LONG_MAX})"
                    )
                elif plain == _PLAIN_STR_LIST:
                    test = f"{value}.__class__ is not list or not _all_str({value})"
                else:
                    test = None  # always checked
                if test is None:
                    lines.append(f"{indent}    append({item})")
                else:
                    lines.append(f"{indent}    if {test}:")
                    lines.append(f"{indent}        append({item})")
            else:
                child = f"o{counter[0]}"
                counter[0] += 1
                lines.append(f"{indent}{child} = {holder}.get({name!r})")
                lines.append(f"{indent}if {child} is not None:")
                lines.append(
                    f"{indent}    if {child}.__class__ is not dict or has_dotted_key({child}):"
                )
                lines.append(f"{indent}        return None")
                walk(sub, child, indent + "    ")

    walk(tree, "doc", "    ")
    lines.append("    return found")
    return "\n".join(lines) + "\n"


def _compile_collector(tree: dict):
    # Generated: a recursive walk of the tree collects 1.6x slower, and ingest parsing (NDJSON
    # to event rows, bench.events' documents) ran about 12% slower with it (measured 2026-12).
    namespace = {"MISSING": MISSING, "has_dotted_key": has_dotted_key, "_all_str": _all_str}
    exec(compile(_collector_source(tree), "<ecs field collector>", "exec"), namespace)  # noqa: S102 (source generated from the constant tree above)
    return namespace["_collect"]


_collect = _compile_collector(_CHECKED_TREE)


def _check_nested(doc: dict) -> bool | None:
    """``check_ecs`` for a document whose objects on the way to the checked fields hold no
    dotted key (the usual case): each field is looked up where it must live, in one walk of
    the tree of checked names. Returns whether a value was coerced; None, having changed
    nothing, for any other document.
    """
    # (checking order, path, holder, key, value) of each checked field whose value is not
    # already plainly of its type (only those are checked)
    found = _collect(doc)
    if found is None:
        return None  # a dotted key, or a value where an object belongs: the general path
    found.sort(key=_first)
    if not found or found[0][1] != "@timestamp" or found[0][4] is None:
        raise EcsFieldError("@timestamp: required field is missing")
    event_id = None
    changed = False
    for _order, path, holder, key, value in found:
        if value is None:
            continue
        coerced = _CHECKERS[path](path, value)
        if coerced is not value:
            holder[key] = coerced
            changed = True
        if path == "event.id":
            event_id = value
    if isinstance(event_id, str) and len(event_id) > MAX_EVENT_ID_LENGTH:
        raise EcsFieldError(f"event.id: longer than {MAX_EVENT_ID_LENGTH} characters")
    return changed


def _first(item: tuple) -> int:
    return item[0]


def check_ecs(doc: dict) -> dict:
    """Check and coerce the well-known fields of an ECS document, in place; return it.

    Fatal (raises :class:`EcsFieldError`): ``@timestamp`` missing or not a date; a date,
    integer, keyword, or IP field whose value cannot be coerced (see docs/normalisation.md);
    ``event.id`` longer than :data:`MAX_EVENT_ID_LENGTH`.
    Coerced: ``@timestamp`` and other dates not already UTC ``...Z`` strings become
    ``YYYY-MM-DDTHH:MM:SS.sssZ``; integer strings (decimal or ``0x`` hex) and integral
    floats become ints; numbers in keyword fields become strings; a single string in
    ``event.category``/``event.type`` becomes a one-element list. Other fields are untouched.
    """
    if _check_nested(doc) is None:
        _check_general(doc)
    return doc


def check_ecs_nested(doc: dict) -> tuple[bool, bool]:
    """:func:`check_ecs`, telling also how the document was found: ``(plain, changed)``.
    ``plain``: no object on the way to a checked field (``@timestamp``, ``event.*``,
    ``host.*``, ``user.*``, ``process.*`` and ``process.parent.*``...) holds a dotted key, so
    each of those fields is where its nested path says or absent; ``changed``: a value was
    coerced (always True when not ``plain``: the general path does not tell)."""
    changed = _check_nested(doc)
    if changed is None:
        _check_general(doc)
        return False, True
    return True, changed


def _check_general(doc: dict) -> dict:
    """``check_ecs`` for any document: nested, dotted or mixed keys."""
    objects: set[str] = set()
    flat = flatten(doc, objects)  # one pass; the typed fields present are looked up in it
    ts = flat.get("@timestamp")
    if ts is None and "@timestamp" not in objects:
        raise EcsFieldError("@timestamp: required field is missing")
    present = (flat.keys() | objects) & _CHECKERS.keys()
    for path in sorted(present, key=_ORDER.__getitem__):
        value = flat.get(path, MISSING)
        if value is MISSING:
            value = get_field(doc, path)  # an object where a value belongs: fails below
        elif value is None:
            continue
        coerced = _CHECKERS[path](path, value)
        if coerced is not value:
            set_field(doc, path, coerced)
    event_id = flat.get("event.id")
    if isinstance(event_id, str) and len(event_id) > MAX_EVENT_ID_LENGTH:
        raise EcsFieldError(f"event.id: longer than {MAX_EVENT_ID_LENGTH} characters")
    return doc


def _hashed_items(doc: dict) -> dict[str, Any]:
    flat = flatten(doc)
    return {
        k: v
        for k, v in flat.items()
        if k not in HASH_EXCLUDED_FIELDS and not k.startswith(HASH_EXCLUDED_PREFIXES)
    }


def event_id_of(event: dict) -> str:
    """The event's id: its ``event.id`` when it has a non-empty one, else its content hash.

    The content hash is the sha256 hex digest of the canonical JSON of the document
    flattened to dotted keys, minus :data:`HASH_EXCLUDED_FIELDS` and fields under
    :data:`HASH_EXCLUDED_PREFIXES`; keys sorted, no whitespace, UTF-8 (orjson's output).
    Nested and dotted spellings of the same document therefore hash alike.
    """
    existing = get_field(event, "event.id")
    if isinstance(existing, str) and existing:
        return existing
    if isinstance(existing, int | float) and not isinstance(existing, bool):
        return str(existing)
    return content_hash(event)


def content_hash(event: dict) -> str:
    """sha256 hex of the canonical JSON of ``event`` minus the excluded (volatile) fields."""
    canonical = orjson.dumps(_hashed_items(event), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def assign_id(event: dict, fallback_id: str | None = None) -> str:
    """Make sure ``event.id`` is set (``fallback_id``, else the content hash); return it."""
    existing = get_field(event, "event.id")
    if isinstance(existing, str) and existing:
        return existing
    new_id = fallback_id or content_hash(event)
    set_field(event, "event.id", new_id)
    return new_id


def _str_or_none(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int_or_none(value: Any) -> int | None:
    if value is MISSING or value is None:
        return None
    try:
        return _as_long("", value)
    except EcsFieldError:
        return None


def index_columns(doc: dict, *, plain: bool = False) -> dict[str, Any]:
    """The values storage indexes, tolerant of nested and dotted keys and of odd types.

    Keys: ``timestamp`` (aware UTC datetime or None), ``event_id`` (str, from
    :func:`event_id_of`), ``action`` (``event.action`` when it is a string), ``host_id``,
    ``host_name``, ``user_id``, ``user_name``, ``category`` (first of ``event.category``),
    ``process_entity_id``, ``process_pid``, ``parent_entity_id``, ``parent_pid``. Missing or
    unusable values are None. Every value is the one :func:`get_field` reads.

    Fast for the usual nested document, as it runs for every stored event: a value found at
    its nested path is the one ``get_field`` reads; anything else (dotted keys, lists of
    objects, missing values) asks ``get_field``. ``plain``: the caller knows that no object on
    the way to these fields holds a dotted key (see :func:`check_ecs_nested`), so a field
    missing there is missing."""
    if not plain and has_dotted_key(doc):
        return _index_columns_general(doc)
    # Straight-line lookups: this runs for every stored event.
    get = doc.get
    event, host, user, process = get("event"), get("host"), get("user"), get("process")
    parent = process.get("parent") if type(process) is dict else None
    if list in (type(event), type(host), type(user), type(process), type(parent)):
        # A list of objects is a multi-valued field: the general reader flattens it.
        return _index_columns_general(doc)
    if type(event) is not dict:
        event = _EMPTY
    if type(host) is not dict:
        host = _EMPTY
    if type(user) is not dict:
        user = _EMPTY
    if type(process) is not dict:
        process = _EMPTY
    if type(parent) is not dict:
        parent = _EMPTY
    # With no dotted key on the way, a field missing at its nested path is missing; whether
    # there is one is only worked out when a field is missing (``dotted`` None: not yet).
    dotted = False if plain else None

    def spelled_dotted() -> bool:
        nonlocal dotted
        if dotted is None:
            dotted = (
                has_dotted_key(event)
                or has_dotted_key(host)
                or has_dotted_key(user)
                or has_dotted_key(process)
                or has_dotted_key(parent)
            )
        return dotted

    event_id = event.get("id")
    if type(event_id) is not str or not event_id:
        event_id = event_id_of(doc)
    action = event.get("action", MISSING)
    if action is MISSING and spelled_dotted():
        action = get_field(doc, "event.action")
    columns = {
        "timestamp": parse_ingest_timestamp(get("@timestamp")),
        "event_id": event_id,
        "action": action if type(action) is str else None,
    }
    for name, holder, key in (
        ("host_id", host, "id"),
        ("host_name", host, "name"),
        ("user_id", user, "id"),
        ("user_name", user, "name"),
        ("category", event, "category"),
        ("process_entity_id", process, "entity_id"),
        ("parent_entity_id", parent, "entity_id"),
    ):
        value = holder.get(key, MISSING)
        if type(value) is str:
            columns[name] = value
        else:
            if value is MISSING and spelled_dotted():
                value = get_field(doc, _COLUMN_FIELDS[name])
            columns[name] = _str_or_none(value)
    for name, holder in (("process_pid", process), ("parent_pid", parent)):
        value = holder.get("pid", MISSING)
        if type(value) is int:
            columns[name] = value if _LONG_MIN <= value <= _LONG_MAX else None
        else:
            if value is MISSING and spelled_dotted():
                value = get_field(doc, _COLUMN_FIELDS[name])
            columns[name] = _int_or_none(value)
    return columns


_EMPTY: dict = {}  # stands for an absent object; only ever read


_COLUMN_FIELDS = {
    "host_id": "host.id",
    "host_name": "host.name",
    "user_id": "user.id",
    "user_name": "user.name",
    "category": "event.category",
    "action": "event.action",
    "process_entity_id": "process.entity_id",
    "process_pid": "process.pid",
    "parent_entity_id": "process.parent.entity_id",
    "parent_pid": "process.parent.pid",
}


def _index_columns_general(event: dict) -> dict[str, Any]:
    """:func:`index_columns` for any document, one :func:`get_field` per column."""
    ts: datetime | None = parse_ingest_timestamp(get_field(event, "@timestamp", None))
    return {
        "timestamp": ts,
        "event_id": event_id_of(event),
        "action": _str_only(get_field(event, "event.action", None)),
        "host_id": _str_or_none(get_field(event, "host.id")),
        "host_name": _str_or_none(get_field(event, "host.name")),
        "user_id": _str_or_none(get_field(event, "user.id")),
        "user_name": _str_or_none(get_field(event, "user.name")),
        "category": _str_or_none(get_field(event, "event.category")),
        "process_entity_id": _str_or_none(get_field(event, "process.entity_id")),
        "process_pid": _int_or_none(get_field(event, "process.pid")),
        "parent_entity_id": _str_or_none(get_field(event, "process.parent.entity_id")),
        "parent_pid": _int_or_none(get_field(event, "process.parent.pid")),
    }


def _str_only(value: Any) -> str | None:
    return value if type(value) is str else None
