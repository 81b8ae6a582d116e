"""Stable ids, indexed columns and field access for the storage layer."""

import copy
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.ingest import (
    EcsFieldError,
    check_ecs,
    content_hash,
    event_id_of,
    flatten,
    get_field,
    index_columns,
    normalise_record,
    parse_ndjson,
    set_field,
)

NESTED = {
    "@timestamp": "2024-01-01T00:00:00.000Z",
    "event": {"category": ["process"], "type": ["start"]},
    "host": {"id": "h-1", "name": "ws1"},
    "process": {"pid": 10, "name": "cmd.exe", "parent": {"pid": 4, "entity_id": "p-4"}},
    "user": {"id": "S-1-5-21-1", "name": "bob"},
}
DOTTED = {
    "@timestamp": "2024-01-01T00:00:00.000Z",
    "event.category": ["process"],
    "event.type": ["start"],
    "host.id": "h-1",
    "host.name": "ws1",
    "process.pid": 10,
    "process.name": "cmd.exe",
    "process.parent.pid": 4,
    "process.parent.entity_id": "p-4",
    "user.id": "S-1-5-21-1",
    "user.name": "bob",
}


def test_event_id_is_kept_when_present():
    assert event_id_of({**NESTED, "event": {"id": "abc"}}) == "abc"
    assert event_id_of({**DOTTED, "event.id": "xyz"}) == "xyz"


def test_same_event_gives_the_same_id_whatever_the_spelling_and_key_order():
    reordered = dict(reversed(list(copy.deepcopy(NESTED).items())))
    assert event_id_of(NESTED) == event_id_of(DOTTED) == event_id_of(reordered)
    assert len(event_id_of(NESTED)) == 64 and int(event_id_of(NESTED), 16) >= 0


def test_volatile_fields_do_not_change_the_id():
    shipped_again = copy.deepcopy(NESTED)
    shipped_again["event"].update(created="2030-01-01T00:00:00Z", ingested="2030-01-01T00:00:01Z")
    shipped_again.update(
        ecs={"version": "1.0.0"},
        agent={"ephemeral_id": "new-run"},
        log={"offset": 123, "file": {"path": "/var/log/other.json"}},
        input={"type": "filestream"},
        _id="es-id",
        _index="idx",
    )
    shipped_again["@metadata"] = {"beat": "winlogbeat"}
    assert event_id_of(shipped_again) == event_id_of(NESTED)


def test_any_content_change_changes_the_id():
    changed = copy.deepcopy(NESTED)
    changed["process"]["args"] = ["cmd.exe"]
    assert event_id_of(changed) != event_id_of(NESTED)
    changed = copy.deepcopy(NESTED)
    changed["agent"] = {"id": "other-agent"}  # agent.id is not volatile
    assert event_id_of(changed) != event_id_of(NESTED)


def test_id_is_the_documented_hash():
    import hashlib

    import orjson

    doc = {"@timestamp": "2024-01-01T00:00:00Z", "b": {"c": 1}, "a": [{"y": 1, "x": 2}]}
    canonical = b'{"@timestamp":"2024-01-01T00:00:00Z","a":[{"x":2,"y":1}],"b.c":1}'
    assert orjson.dumps(flatten(doc), option=orjson.OPT_SORT_KEYS) == canonical
    assert content_hash(doc) == hashlib.sha256(canonical).hexdigest()


def test_the_same_line_ingested_twice_gets_the_same_id():
    line = b'{"@timestamp": "2024-01-01T00:00:00+00:00", "message": "x \xe2\x80\xae \xf0\x9f\x99\x82"}\n'
    first, second = parse_ndjson(line * 2)
    assert first.event["event"]["id"] == second.event["event"]["id"]


def test_ids_survive_a_round_trip_through_storage():
    _, doc = normalise_record(copy.deepcopy(NESTED))
    assert event_id_of(doc) == doc["event"]["id"] == content_hash(doc)


def test_index_columns_from_nested_and_dotted_documents():
    expected = {
        "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
        "event_id": event_id_of(NESTED),
        "action": None,
        "host_id": "h-1",
        "host_name": "ws1",
        "user_id": "S-1-5-21-1",
        "user_name": "bob",
        "category": "process",
        "process_entity_id": None,
        "process_pid": 10,
        "parent_entity_id": "p-4",
        "parent_pid": 4,
    }
    assert index_columns(NESTED) == expected
    assert index_columns(DOTTED) == expected


def test_index_columns_tolerate_odd_values():
    columns = index_columns(
        {
            "@timestamp": "2024-01-01T01:00:00+01:00",
            "event": {"category": "file", "id": 42},
            "process": {"pid": "0x10", "entity_id": ["a", "b"]},
            "process.parent.pid": {"nested": True},
            "host": "not-an-object",
            "user": {"id": None},
        }
    )
    assert columns["timestamp"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert columns["timestamp"].tzinfo is not None
    assert columns["event_id"] == "42"
    assert columns["category"] == "file"
    assert columns["process_pid"] == 16
    assert columns["process_entity_id"] == "a"
    assert columns["parent_pid"] is None
    assert columns["host_id"] is None and columns["user_id"] is None
    assert index_columns({})["timestamp"] is None


def _spelled_dotted(node) -> bool:
    if type(node) is list:
        return any(_spelled_dotted(x) for x in node)
    if type(node) is not dict:
        return False
    return any("." in k or _spelled_dotted(v) for k, v in node.items())


def test_fast_index_columns_agree_with_one_get_field_per_column():
    from bench.events import generate_events
    from rules.ingest.ecs import _index_columns_general

    odd = [
        {"@timestamp": "2026-01-01T00:00:00Z", "process.pid": "12", "host": {"name": 5}},
        {"@timestamp": 1, "process": {"parent.entity_id": "p", "pid": True}, "event": {}},
        {"@timestamp": "x", "event": {"category": ["a", "b"], "action": 3}, "user": "flat"},
        {"@timestamp": "2026-01-01T00:00:00Z", "host": {"id": ["h1", "h2"]}, "event.id": "e"},
        # dotted keys below the top level, odd ids and pids, objects that are not objects
        {"@timestamp": "2026-01-01T00:00:00Z", "process": {"parent.pid": 7, "pid": 2**63}},
        {"@timestamp": "2026-01-01T00:00:00Z", "process": {"parent": {"pid.x": 1}, "pid": 3.0}},
        {"@timestamp": "2026-01-01T00:00:00Z", "event": {"id": 42, "action.x": "a"}},
        {"@timestamp": "2026-01-01T00:00:00Z", "event": {"id": ""}, "host": ["h"]},
        {"@timestamp": "2026-01-01T00:00:00Z", "user": {"name.first": "a"}, "process": "p"},
        {"@timestamp": "2026-01-01T00:00:00Z", "host": {"os.type": "windows", "id": None}},
        # lists of objects: multi-valued fields, read as a query reads them
        {"@timestamp": "2026-01-01T00:00:00Z", "host": [{"name": "h1"}, {"name": "h2"}]},
        {"@timestamp": "2026-01-01T00:00:00Z", "process": [{"pid": 4, "entity_id": "e"}]},
        {"@timestamp": "2026-01-01T00:00:00Z", "process": {"parent": [{"pid": 3}]}},
        {"@timestamp": "2026-01-01T00:00:00Z", "event": [{"action": "a", "id": "i"}]},
    ]
    for doc in [*generate_events(300, seed=7), *odd]:
        for plain in (False, True):
            if plain and _spelled_dotted(doc):
                continue  # plain is a promise that no key on the way has a dot
            assert index_columns(doc, plain=plain) == _index_columns_general(doc), doc
    assert index_columns(odd[-4])["host_name"] == "h1"
    assert index_columns(odd[-3])["process_pid"] is None  # [4] is no single pid


def test_get_field_prefers_nested_and_accepts_mixtures():
    doc = {"process": {"parent.name": "a.exe", "pid": 1}, "process.pid": 2, "x.y": {"z": 3}}
    assert get_field(doc, "process.parent.name") == "a.exe"
    assert get_field(doc, "process.pid") == 1  # the nested spelling wins, as in a query
    assert get_field(doc, "x.y.z") == 3
    assert get_field(doc, "missing.field", "default") == "default"


def test_set_field_writes_where_the_field_lives_or_in_the_documents_style():
    nested = {"event": {"code": "1"}}
    set_field(nested, "event.id", "n")
    assert nested == {"event": {"code": "1", "id": "n"}}
    dotted = {"event.code": "1"}
    set_field(dotted, "event.id", "d")
    assert dotted == {"event.code": "1", "event.id": "d"}
    blocked = {"event": "a string"}
    set_field(blocked, "event.id", "b")
    assert blocked == {"event": "a string", "event.id": "b"}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"@timestamp": 1704067200000}, {"@timestamp": "2024-01-01T00:00:00.000Z"}),
        ({"@timestamp": "2024-01-01 00:00:00"}, {"@timestamp": "2024-01-01T00:00:00.000Z"}),
        (
            {"@timestamp": "2024-01-01T00:00:00.123456789Z"},  # already UTC: kept as written
            {"@timestamp": "2024-01-01T00:00:00.123456789Z"},
        ),
        (
            {"@timestamp": "2024-01-01T05:30:00.5+0530"},
            {"@timestamp": "2024-01-01T00:00:00.500Z"},
        ),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "source": {"port": "443"}, "process.pid": 7.0},
            {"@timestamp": "2024-01-01T00:00:00Z", "source": {"port": 443}, "process.pid": 7},
        ),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "process": {"args": ["a", 1]}},
            {"@timestamp": "2024-01-01T00:00:00Z", "process": {"args": ["a", "1"]}},
        ),
    ],
)
def test_check_ecs_coercions(doc, expected):
    assert check_ecs(doc) == expected


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"@timestamp": None}, "@timestamp: required field is missing"),
        ({"@timestamp": "2024-13-01T00:00:00Z"}, "@timestamp: not a date: '2024-13-01T00:00:00Z'"),
        ({"@timestamp": True}, "@timestamp: not a date: True"),
        ({"@timestamp": 1e20}, "@timestamp: not a date: 1e+20"),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "event": {"created": "soon"}},
            "event.created: not a date: 'soon'",
        ),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "process": {"pid": 1.5}},
            "process.pid: expected an integer, got 1.5",
        ),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "host": {"name": ["a", "b"]}},
            "host.name: expected a string, got ['a', 'b']",
        ),
        (
            {"@timestamp": "2024-01-01T00:00:00Z", "process": {"args": {"0": "a"}}},
            "process.args: expected a list of strings, got {'0': 'a'}",
        ),
    ],
)
def test_check_ecs_fatal_errors(doc, error):
    with pytest.raises(EcsFieldError) as raised:
        check_ecs(doc)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T10:20", "2024-01-01T10:20:00.000Z"),
        ("2024-01-01T10:20:30,5", "2024-01-01T10:20:30.500Z"),
        ("2024-01-01 10:20:30.123456 UTC", "2024-01-01T10:20:30.123456Z"),
        ("2024-01-01T00:30:00-01:30", "2024-01-01T02:00:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1.5, "1970-01-01T00:00:00.001500Z"),
    ],
)
def test_timestamp_forms(value, expected):
    assert check_ecs({"@timestamp": value})["@timestamp"] == expected


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30T00:00:00Z",
        "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00+24:00",
        "01/02/2024",
        "",
        [],
    ],
)
def test_timestamps_that_are_not_dates(value):
    with pytest.raises(EcsFieldError):
        check_ecs({"@timestamp": value})


# ---- the nested fast path of check_ecs ---------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False),
    st.sampled_from(["2024-01-01T00:00:00.000Z", "2024-01-01", "0x1f", "12", "x", "10.0.0.1", ""]),
    st.lists(st.sampled_from(["a", "b", 1, None]), max_size=3),
    st.dictionaries(st.sampled_from(["x", "pid"]), st.integers(0, 3), max_size=2),
)
FIELDS = ["@timestamp", "event.id", "event.category", "event.created", "process.pid",
          "process.args", "process.parent.name", "host.os.type", "source.ip", "user.name",
          "process.name", "other.field"]  # fmt: skip


_TEXT = st.sampled_from(["a", "cmd.exe", "x y"])
TYPICAL = {
    "@timestamp": st.sampled_from(["2024-01-01T00:00:00.000Z", 1704067200000, "2024-01-01"]),
    "event.id": st.one_of(_TEXT, st.integers(0, 9)),
    "event.category": st.one_of(_TEXT, st.lists(_TEXT, max_size=2)),
    "event.created": st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 00:00:00+0100"]),
    "process.pid": st.one_of(st.integers(0, 10**6), st.sampled_from(["12", "0x1f", 7.0])),
    "process.args": st.lists(st.one_of(_TEXT, st.integers(0, 9)), max_size=3),
    "process.parent.name": st.one_of(_TEXT, st.integers(0, 9)),
    "host.os.type": _TEXT,
    "source.ip": st.sampled_from(["10.0.0.1", "::1", "300.1.1.1"]),
    "user.name": st.one_of(_TEXT, st.floats(allow_nan=False)),
    "process.name": _TEXT,
    "other.field": VALUES,
}


@st.composite
def documents(draw):
    # mostly a good timestamp, so that the other fields are reached
    doc: dict = {"@timestamp": "2024-01-01T00:00:00.000Z"} if draw(st.integers(0, 4)) else {}
    for field in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=7)):
        # mostly a value of the field's own type (which may still need coercing), so that
        # the fields checked after it are reached too
        value = draw(VALUES) if draw(st.integers(0, 3)) == 0 else draw(TYPICAL[field])
        parts = field.split(".")
        if draw(st.integers(0, 5)) == 0:  # now and then a dotted spelling
            doc[field] = value
            continue
        node = doc
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return doc


def outcome(check, doc):
    """("ok", the checked document) or ("error", why); ("ok", None) when ``check`` is the
    nested fast path and the document is not plain."""
    doc = copy.deepcopy(doc)
    try:
        result = check(doc)
    except EcsFieldError as exc:
        return ("error", str(exc))
    return ("ok", None if result is None else doc)


@settings(max_examples=400, deadline=None)
@given(documents())
def test_the_nested_fast_path_checks_exactly_as_the_general_one(doc):
    from rules.ingest.ecs import _check_general, _check_nested

    fast = outcome(_check_nested, doc)
    if fast == ("ok", None):
        return  # not a plain nested document: the general path is the only one
    assert fast == outcome(_check_general, doc)
    # "nothing coerced" must mean the document is exactly as it came: ingest then stores
    # the line as it was sent
    if fast[0] == "ok":
        checked = copy.deepcopy(doc)
        if _check_nested(checked) is False:
            assert orjson.dumps(checked) == orjson.dumps(doc)


def test_canonical_timestamps_read_fast_are_read_as_the_general_pattern_reads_them():
    from rules.eql import timestamps

    for text in ["2024-01-01T00:00:00.000Z", "2026-11-30T23:59:59.999Z", "2024-02-30T00:00:00.000Z",
                 "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"]:  # fmt: skip
        general = timestamps._ISO.fullmatch(text)
        assert timestamps._CANONICAL.fullmatch(text)
        fast = timestamps.parse_ingest_timestamp(text)
        if general is None or fast is None:
            assert fast is None
        else:
            assert fast == timestamps.parse_ingest_timestamp(text + " ")  # " " skips the fast path
