"""JSON-lines input: ECS pass-through, bad lines reported by number, containers, streaming."""

import codecs
import gzip
import io
import json
import zipfile
from pathlib import Path

import orjson
import pytest

from rules.ingest import (
    DEFAULT_MAX_LINE_BYTES,
    parse_ndjson,
    read_bytes,
    read_path,
    read_stream,
    size_hint,
    sniff_path,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def ecs_line(**fields) -> bytes:
    doc = {"@timestamp": "2024-01-01T00:00:00.000Z", "host": {"name": "h1"}, **fields}
    return orjson.dumps(doc)


def test_ecs_event_with_id_passes_through_unchanged():
    original = json.loads((FIXTURES / "ecs.ndjson").read_text(encoding="utf-8").splitlines()[0])
    [record, *_] = read_path(FIXTURES / "ecs.ndjson")
    assert record.ok and record.kind == "ecs" and record.number == 1
    assert record.event == original


def test_dotted_ecs_event_gets_a_dotted_hashed_id_and_nothing_else_changes():
    lines = (FIXTURES / "ecs.ndjson").read_text(encoding="utf-8").splitlines()
    original = json.loads(lines[1])
    record = list(read_path(FIXTURES / "ecs.ndjson"))[1]
    assert set(record.event) - set(original) == {"event.id"}
    assert len(record.event["event.id"]) == 64
    assert {k: v for k, v in record.event.items() if k != "event.id"} == original


def test_well_known_fields_are_coerced():
    record = list(read_path(FIXTURES / "ecs.ndjson"))[2]
    event = record.event
    assert event["@timestamp"] == "2024-06-03T09:00:02.000Z"  # +02:00 turned into UTC
    assert event["event"]["category"] == ["process"]
    assert event["event"]["type"] == ["start"]
    assert event["event"]["code"] == "1"
    assert event["process"]["pid"] == 8200
    assert event["process"]["parent"]["pid"] == 8120
    assert event["message"] == "RTL \u202e and emoji 🙂"


def test_mixed_good_and_bad_lines_report_line_numbers_and_keep_good_ones():
    body = b"\n".join(
        [
            ecs_line(message="first"),  # 1
            b'{"@timestamp": "2024-01-01T00:00:00Z", "oops"}',  # 2 malformed JSON
            b'{"@timestamp": "2024-01-01T00:00:00Z", "message": "caf\xe9"}',  # 3 Latin-1 byte
            b"",  # 4 blank: ignored
            b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',  # 5 a 2 MB line
            b"[1, 2, 3]",  # 6 array
            b'"just a string"',  # 7
            ecs_line(**{"@timestamp": "yesterday"}),  # 8
            ecs_line(process={"pid": "abc"}),  # 9
            ecs_line(event={"category": 5}),  # 10
            b'{"message": "no timestamp"}',  # 11
            ecs_line(process={"command_line": 'cmd /c "\u202eexe.bat" 🙂'}),  # 12
            ecs_line(source={"ip": "999.1.1.1"}),  # 13
            b"   \t",  # 14 whitespace only: ignored
            ecs_line(process={"pid": True}),  # 15
            b'{"@timestamp": "2024-01-01T00:00:00Z", "message": "trunc',  # 16, no newline
        ]
    )
    results = {r.number: r for r in parse_ndjson(body)}
    assert sorted(results) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16]
    good = [n for n, r in results.items() if r.ok]
    assert good == [1, 12]
    assert results[12].event["process"]["command_line"] == 'cmd /c "\u202eexe.bat" 🙂'
    errors = {n: r.error for n, r in results.items() if not r.ok}
    assert errors[2].startswith("malformed JSON")
    assert errors[3] == "not valid UTF-8 (byte 55 of the line)"
    assert errors[5] == f"line is longer than the limit of {DEFAULT_MAX_LINE_BYTES} bytes"
    assert errors[6] == "expected a JSON object, got array"
    assert errors[7] == "expected a JSON object, got string"
    assert errors[8] == "@timestamp: not a date: 'yesterday'"
    assert errors[9] == "process.pid: expected an integer, got 'abc'"
    assert errors[10] == "event.category: expected a string or a list of strings"
    assert errors[11] == "@timestamp: required field is missing"
    assert errors[13] == "source.ip: not an IP address: '999.1.1.1'"
    assert errors[15] == "process.pid: expected an integer, got True"
    assert errors[16].startswith("truncated last line (no newline at end of input): malformed JSON")


def test_last_line_without_newline_is_fine_when_complete():
    [record] = parse_ndjson(ecs_line(message="x"))
    assert record.ok


def test_crlf_line_endings_and_byte_order_mark():
    body = codecs.BOM_UTF8 + ecs_line(message="a") + b"\r\n" + ecs_line(message="b") + b"\r\n"
    records = list(parse_ndjson(body))
    assert [r.event["message"] for r in records] == ["a", "b"]


def test_line_limit_is_the_callers():
    records = list(parse_ndjson(ecs_line(message="x" * 200) + b"\n" + ecs_line(), 150))
    assert records[0].error == "line is longer than the limit of 150 bytes"
    assert records[1].ok


def test_line_exactly_at_the_limit_is_accepted():
    line = ecs_line(message="x")
    [record] = parse_ndjson(line + b"\r\n", max_line_bytes=len(line))
    assert record.ok


def test_hostile_json_is_an_error_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b"\n".join(
        [
            deep,
            b'{"@timestamp": "2024-01-01T00:00:00Z", "n": 123456789012345678901234567890}',
            b'{"@timestamp": "2024-01-01T00:00:00Z", "s": "\\ud800"}',
            b'{"@timestamp": NaN}',
            b"\x00\x01\x02",
            b'{"@timestamp": "2024-01-01T00:00:00Z", "process": {"pid": 18446744073709551615}}',
            ecs_line(event={"id": "x" * 300}),
        ]
    )
    records = list(parse_ndjson(body, max_line_bytes=1_000_000))
    # orjson reads integers past 64 bits as floats: harmless outside well-known fields
    assert [r.ok for r in records] == [False, True, False, False, False, False, False]
    assert records[0].error.startswith("malformed JSON")
    assert records[2].error.startswith("malformed JSON: no low surrogate")
    assert records[5].error == "process.pid: integer out of range: 18446744073709551615"
    assert records[6].error == "event.id: longer than 255 characters"


@pytest.mark.parametrize("depth", [100, 900, 1020])
def test_deep_nesting_is_refused_without_exhausting_the_stack(depth):
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    body = b"\n".join(
        [
            b'{"@timestamp": "2024-01-01T00:00:00Z", "x": ' + nested + b"}",
            b'{"@timestamp": "2024-01-01T00:00:00Z", "winlog": {"event_id": 1, "channel": "c",'
            b' "event_data": {"k": ' + b"[" * depth + b"]" * depth + b"}}}",
            ecs_line(x=orjson.loads(b'{"a":' * 97 + b"1" + b"}" * 97)),  # 99 levels: fine
        ]
    )
    records = list(parse_ndjson(body))
    assert [r.error for r in records] == [
        "nested deeper than 100 levels",
        "nested deeper than 100 levels",
        None,
    ]


def test_winlogbeat_and_nxlog_lines_are_normalised_in_any_mix():
    body = b"".join(
        [
            (FIXTURES / "winlogbeat.ndjson").read_bytes().splitlines(keepends=True)[0],
            (FIXTURES / "nxlog.json").read_bytes().splitlines(keepends=True)[0],
            ecs_line(message="plain"),
        ]
    )
    records = list(parse_ndjson(body))
    assert [r.kind for r in records] == ["winlogbeat", "nxlog", "ecs"]
    assert [r.event["event"].get("code") for r in records[:2]] == ["1", "4688"]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("ecs.ndjson", "ecs"), ("winlogbeat.ndjson", "winlogbeat"), ("nxlog.json", "nxlog")],
)
def test_format_is_recognised_by_content_not_name(tmp_path, fixture, expected):
    misleading = tmp_path / "events.evtx.zip"
    misleading.write_bytes((FIXTURES / fixture).read_bytes())
    assert sniff_path(misleading) == expected
    assert all(r.ok and r.kind == expected for r in read_path(misleading))


def test_sniff_reports_empty_and_unknown(tmp_path):
    (tmp_path / "empty").write_bytes(b"\n\n")
    (tmp_path / "text").write_bytes(b"\nhello world\n")
    assert sniff_path(tmp_path / "empty") == "empty"
    assert sniff_path(tmp_path / "text") == "unknown"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_mixed_formats_reads_every_member(tmp_path):
    archive = tmp_path / "upload.bin"
    archive.write_bytes(
        zip_bytes(
            {
                "a/ecs.json": (FIXTURES / "ecs.ndjson").read_bytes(),
                "b/nx.log": (FIXTURES / "nxlog.json").read_bytes(),
                "c/": b"",
                "__MACOSX/._junk": b"\x00\x05\x16\x07",
                "d/inner.gz": gzip.compress((FIXTURES / "winlogbeat.ndjson").read_bytes()),
                "e/sec.dat": (FIXTURES / "sample.evtx").read_bytes(),
                "f/bad.txt": b"not json\n" + ecs_line(),
            }
        )
    )
    assert sniff_path(archive) == "zip"
    records = list(read_path(archive))
    by_source = {}
    for r in records:
        by_source.setdefault(r.source, []).append(r)
    assert sorted(by_source) == ["a/ecs.json", "b/nx.log", "d/inner.gz", "e/sec.dat", "f/bad.txt"]
    assert len(by_source["a/ecs.json"]) == 3 and all(r.ok for r in by_source["a/ecs.json"])
    assert [r.kind for r in by_source["b/nx.log"]] == ["nxlog"] * 3
    assert [r.kind for r in by_source["d/inner.gz"]] == ["winlogbeat"] * 7
    assert [r.kind for r in by_source["e/sec.dat"]] == ["evtx"] * 3
    assert [(r.number, r.ok) for r in by_source["f/bad.txt"]] == [(1, False), (2, True)]


def test_nested_zip_names_members_with_their_path():
    inner = zip_bytes({"x.ndjson": ecs_line()})
    [record] = read_bytes(zip_bytes({"inner.zip": inner}))
    assert record.ok and record.source == "inner.zip!x.ndjson"


def test_damaged_zip_and_gzip_are_errors():
    assert [r.error for r in read_bytes(b"PK\x03\x04garbage")] == [
        "not a readable zip archive: File is not a zip file"
    ]
    damaged = gzip.compress(ecs_line() + b"\n" + ecs_line(message="2") + b"\n")[:-12]
    records = list(read_bytes(damaged))
    assert records[-1].error.startswith("damaged gzip data")


def test_gzip_file_is_read_by_content(tmp_path):
    path = tmp_path / "events.ndjson"  # the name does not say gzip
    path.write_bytes(gzip.compress((FIXTURES / "nxlog.json").read_bytes()))
    assert sniff_path(path) == "gzip"
    assert [r.kind for r in read_path(path)] == ["nxlog"] * 3


def test_utf16_file_with_bom_is_read(tmp_path):
    path = tmp_path / "powershell-out-file.json"
    text = (FIXTURES / "ecs.ndjson").read_text(encoding="utf-8").replace("\n", "\r\n")
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert sniff_path(path) == "ecs"
    records = list(read_path(path))
    assert [r.ok for r in records] == [True, True, True]
    assert records[2].event["message"] == "RTL \u202e and emoji 🙂"


def test_progress_adds_up_to_the_size_hint(tmp_path):
    path = tmp_path / "big.ndjson"
    path.write_bytes(b"\n".join(ecs_line(n=i) for i in range(3000)))
    seen = []
    records = list(read_path(path, on_progress=seen.append))
    assert len(records) == 3000
    assert sum(seen) == size_hint(path) == path.stat().st_size
    assert len(seen) > 1  # reported while reading, not only at the end


def test_reading_is_streaming():
    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            line = ecs_line() + b"\n"
            n = min(len(buffer), len(line))
            buffer[:n] = line[:n]
            return n

    records = read_stream(io.BufferedReader(Endless()))
    assert next(records).ok
    assert next(records).ok


def test_encrypted_and_too_deeply_nested_members_are_errors():
    data = bytearray(zip_bytes({"secret.ndjson": ecs_line(), "plain.ndjson": ecs_line()}))
    data[6] |= 0x1  # the "encrypted" flag of the first member, local header...
    data[data.find(b"PK\x01\x02") + 8] |= 0x1  # ...and central directory
    records = list(read_bytes(bytes(data)))
    assert [(r.source, r.error) for r in records] == [
        ("secret.ndjson", "encrypted archive member"),
        ("plain.ndjson", None),
    ]
    nested = ecs_line()
    for depth in range(4):
        nested = zip_bytes({f"level{depth}": nested})
    [record] = read_bytes(nested)
    assert record.error == "archives nested too deeply"


def test_progress_for_a_zip_adds_up(tmp_path):
    path = tmp_path / "events.zip"
    path.write_bytes(zip_bytes({f"{i}.ndjson": ecs_line(n=i) * 1 for i in range(50)}))
    seen = []
    assert len(list(read_path(path, on_progress=seen.append))) == 50
    assert sum(seen) == size_hint(path)
