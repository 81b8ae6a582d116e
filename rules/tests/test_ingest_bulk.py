"""Elasticsearch _bulk bodies and the answers built from them."""

import json
from pathlib import Path

import orjson

from rules.ingest import bulk_response, parse_bulk

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def body(*lines) -> bytes:
    return b"\n".join(orjson.dumps(x) if not isinstance(x, bytes) else x for x in lines) + b"\n"


DOC = {"@timestamp": "2024-01-01T00:00:00Z", "message": "hello"}


def test_index_and_create_items_carry_their_events():
    items = parse_bulk(
        body(
            {"create": {"_index": "logs-x", "_id": "given-id"}},
            DOC,
            {"index": {}},
            {**DOC, "event": {"id": "own-id"}},
            {"index": {"_id": "ignored-when-the-event-has-an-id"}},
            {**DOC, "event": {"id": "own-2"}},
        )
    )
    assert [(i.line, i.action, i.ok) for i in items] == [
        (1, "create", True),
        (3, "index", True),
        (5, "index", True),
    ]
    assert items[0].index == "logs-x"
    assert items[0].event["event"]["id"] == "given-id"
    assert items[1].event["event"]["id"] == "own-id"
    assert items[2].event["event"]["id"] == "own-2"


def test_delete_and_update_are_rejected_per_item():
    items = parse_bulk(
        body(
            {"delete": {"_id": "a"}},
            {"update": {"_id": "b"}},
            {"doc": {"x": 1}},
            {"create": {}},
            DOC,
        )
    )
    assert [(i.line, i.action, i.error) for i in items] == [
        (1, "delete", "delete is not supported: events are append-only"),
        (2, "update", "update is not supported: events are append-only"),
        (4, "create", None),
    ]
    assert items[2].event["message"] == "hello"


def test_bad_documents_fail_only_their_item():
    items = parse_bulk(
        body(
            {"create": {}},
            b"{broken",
            {"create": {}},
            [1, 2],
            {"create": {}},
            {"message": "no timestamp"},
            {"create": {}},
            b'{"@timestamp": "2024-01-01T00:00:00Z", "m": "\xff"}',
            {"create": {}},
            {**DOC, "process": {"command_line": "\u202eexe.js 🙂"}},
        )
    )
    assert [i.ok for i in items] == [False, False, False, False, True]
    assert items[0].error.startswith("document on line 2: malformed JSON")
    assert items[1].error == "document on line 4: expected a JSON object, got array"
    assert items[2].error == "document on line 6: @timestamp: required field is missing"
    assert items[3].error == "document on line 8: not valid UTF-8 (byte 46 of the line)"
    assert items[4].event["process"]["command_line"] == "\u202eexe.js 🙂"


def test_broken_action_lines_resynchronise():
    items = parse_bulk(
        body(
            b"{not json",  # its document follows
            DOC,
            {"create": {}},
            DOC,
            {"frobnicate": {}},  # not an action; the next line is an action
            {"create": {}},
            DOC,
            {"create": {}},  # no document line at the end
        )
    )
    assert [(i.line, i.action, i.ok) for i in items] == [
        (1, None, False),
        (3, "create", True),
        (5, None, False),
        (6, "create", True),
        (8, "create", False),
    ]
    assert items[0].error.startswith("malformed action line")
    assert items[2].error == 'expected an action line like {"create": {}}'
    assert items[4].error == "action line without a document line"


def test_blank_lines_are_skipped_and_line_numbers_stay_true():
    items = parse_bulk(b'\n{"create":{}}\n\n' + orjson.dumps(DOC) + b"\n")
    assert [(i.line, i.ok) for i in items] == [(2, True)]


def test_oversized_lines_fail_their_item():
    big = {**DOC, "message": "x" * 3000}
    items = parse_bulk(body({"create": {}}, big, {"create": {}}, DOC), max_line_bytes=1000)
    assert items[0].error == "document on line 2: line 2 is longer than the limit of 1000 bytes"
    assert items[1].ok


def test_winlogbeat_documents_are_normalised():
    record = json.loads(
        (FIXTURES / "winlogbeat.ndjson").read_text(encoding="utf-8").splitlines()[0]
    )
    [item] = parse_bulk(body({"create": {"_index": "winlogbeat-8"}}, record))
    assert item.kind == "winlogbeat"
    assert item.event["process"]["name"] == "powershell.exe"


def test_bulk_response_has_the_elasticsearch_shape():
    items = parse_bulk(
        body(
            {"create": {"_id": "a"}},
            DOC,
            {"create": {"_id": "b"}},
            DOC,
            {"index": {"_id": "c"}},
            DOC,
            {"delete": {"_id": "d"}},
        )
    )
    answer = bulk_response(items, ["created", "duplicate", "duplicate", None], took_ms=7)
    assert answer == {
        "took": 7,
        "errors": True,
        "items": [
            {
                "create": {
                    "_index": "events",
                    "_id": "a",
                    "status": 201,
                    "result": "created",
                    "_version": 1,
                }
            },
            {
                "create": {
                    "_index": "events",
                    "_id": "b",
                    "status": 409,
                    "error": {
                        "type": "version_conflict_engine_exception",
                        "reason": "[b]: version conflict, document already exists",
                    },
                }
            },
            {
                "index": {
                    "_index": "events",
                    "_id": "c",
                    "status": 200,
                    "result": "noop",
                    "_version": 1,
                }
            },
            {
                "delete": {
                    "_index": "events",
                    "_id": "d",
                    "status": 400,
                    "error": {
                        "type": "illegal_argument_exception",
                        "reason": "delete is not supported: events are append-only",
                    },
                }
            },
        ],
    }


def test_bulk_response_without_errors():
    items = parse_bulk(body({"create": {}}, DOC))
    answer = bulk_response(items, ["created"])
    assert answer["errors"] is False
    assert answer["items"][0]["create"]["_id"] == items[0].event["event"]["id"]


def test_bulk_response_uses_dotted_ids_too():
    items = parse_bulk(body({"create": {}}, {**DOC, "event.id": "dotted"}))
    assert bulk_response(items, ["created"])["items"][0]["create"]["_id"] == "dotted"
