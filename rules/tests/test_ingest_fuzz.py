"""Hostile input never escapes as an exception: every line becomes an event or an error."""

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import index_columns, parse_bulk, parse_ndjson, read_bytes

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["2024-01-01T00:00:00Z", "0x10", "-", "", "S-1-5-18", "1.2.3.4"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "@timestamp",
        "event",
        "event.id",
        "event.category",
        "process",
        "process.pid",
        "process.args",
        "host",
        "host.name",
        "source.ip",
        "winlog",
        "winlog.event_id",
        "winlog.provider_name",
        "winlog.event_data",
        "EventID",
        "SourceName",
        "EventTime",
        "Image",
        "CommandLine",
    ]
)
objects = st.dictionaries(field_names, values, max_size=8)


@FAST
@given(st.lists(objects, max_size=4))
def test_any_json_objects_give_one_result_per_line(docs):
    body = b"\n".join(orjson.dumps(d) for d in docs)
    records = list(parse_ndjson(body))
    assert [r.number for r in records] == list(range(1, len(docs) + 1))
    for record in records:
        assert (record.event is None) != (record.error is None)
        if record.ok:
            assert index_columns(record.event)["timestamp"] is not None


MAGICS = [b"", b"PK\x03\x04", b"\x1f\x8b", b"ElfFile\x00", b"\xff\xfe", b"\xef\xbb\xbf"]


@FAST
@given(st.sampled_from(MAGICS), st.binary(max_size=300))
def test_any_bytes_never_raise(magic, data):
    for record in read_bytes(magic + data, max_line_bytes=100):
        assert record.ok or record.error


@FAST
@given(st.lists(st.one_of(objects, st.binary(max_size=30)), max_size=6))
def test_any_bulk_body_never_raises(lines):
    body = b"\n".join(orjson.dumps(x) if isinstance(x, dict) else x for x in lines)
    for item in parse_bulk(body):
        assert item.ok or item.error
