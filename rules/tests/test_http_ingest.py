"""POST /api/v1/events and the Elasticsearch-compatible endpoints."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from django.urls import reverse

from rules.models import Event
from rules.tests.pipeline_helpers import make_source, ndjson, process_start

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


@pytest.fixture
def token():
    return make_source()[1]


def post(client, body: bytes, token: str | None, **headers):
    if token is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    return client.post(URL, data=body, content_type="application/x-ndjson", **headers)


def test_the_url_is_the_contract():
    assert reverse("api:events") == URL


def test_without_a_valid_token_the_answer_is_401_and_nothing_is_stored(client, token):
    body = ndjson([process_start()])
    assert post(client, body, None).status_code == 401
    assert post(client, body, "not-the-token").status_code == 401
    assert Event.objects.count() == 0


def test_good_lines_are_stored_and_sending_them_again_stores_nothing(client, token):
    events = [process_start(), process_start()]
    response = post(client, ndjson(events), token)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    response = post(client, ndjson(events), token)
    assert response.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert Event.objects.count() == 2


def test_a_line_taken_as_sent_and_one_coerced_are_each_stored_as_the_event_they_became(
    client, token
):
    # Sent exactly as Elastic Defend writes it (spacing, escapes and an integer past 2**64
    # aside): the line is stored as it came. Coerced values and assigned ids are stored
    # as they became.
    exact = process_start()
    line = orjson.dumps(exact).replace(b'"process":', b'"process" :  ')
    line = line.replace(
        b'"process" :  {', b'"process" :  {"note":"caf\\u00e9 \\/ 2","big":18446744073709551616,', 1
    )
    coerced = process_start()
    coerced["event"]["category"] = "process"  # a string where ECS has a list
    coerced["process"]["pid"] = "0x10"
    unnamed = process_start()
    del unnamed["event"]["id"]
    body = b"\n".join([line, orjson.dumps(coerced), orjson.dumps(unnamed)]) + b"\n"
    assert post(client, body, token).json()["accepted"] == 3
    by_id = {e.event_id: e.doc for e in Event.objects.all()}
    sent = by_id[exact["event"]["id"]]["process"]
    assert (sent["note"], sent["big"], sent["name"]) == (
        "café / 2",
        18446744073709551616,
        exact["process"]["name"],
    )
    kept = by_id[coerced["event"]["id"]]
    assert (kept["event"]["category"], kept["process"]["pid"]) == (["process"], 16)
    (assigned,) = [doc for event_id, doc in by_id.items() if len(event_id) == 64]
    assert len(assigned["event"]["id"]) == 64


def test_whitespace_backslashes_and_any_unicode_survive_the_store_exactly(client, token):
    # The store's COPY sends the line's own JSON text: a tab between tokens, Windows paths
    # full of backslashes, escapes, non-BMP characters and hostile-looking text come back
    # as the same document, in the document and in the indexed columns.
    event = process_start()
    event["host"]["name"] = "hôte-\U0001d54f\\evil\tname"
    event["process"]["executable"] = "C:\\Users\\Ünïcode\\AppData\\Local\\Temp\\a b.exe"
    event["process"]["command_line"] = '"C:\\x.exe" /c "\\\\srv\\share\\evil.ps1" \\N \\.'
    event["message"] = "<script>alert(1)</script> \u2028 \\x00 \\u0000 literal"
    line = orjson.dumps(event).replace(b'"process":', b'"process"\t:\t', 1)
    assert post(client, line + b"\n", token).json()["accepted"] == 1
    stored = Event.objects.get()
    assert stored.doc == event
    assert stored.host_name == event["host"]["name"]
    assert stored.process_entity_id == event["process"]["entity_id"]


def test_an_event_without_an_id_is_identified_by_its_content(client, token):
    event = process_start()
    del event["event"]["id"]
    post(client, ndjson([event]), token)
    assert post(client, ndjson([event]), token).json()["duplicates"] == 1
    stored = Event.objects.get()
    assert len(stored.event_id) == 64  # sha256 hex


def test_bad_lines_are_rejected_with_their_numbers_and_good_lines_are_stored(client, token):
    good = [process_start() for _ in range(3)]
    wrong_type = process_start()
    wrong_type["process"]["pid"] = "not a number"
    nul = process_start()
    nul["process"]["command_line"] = "a\u0000b"
    body = (
        orjson.dumps(good[0])
        + b"\n"
        + b'{"@timestamp": "2026-01-01T00:00:00Z", "event": \n'  # 2: malformed JSON
        + b"\xff\xfe not utf-8\n"  # 3
        + orjson.dumps(good[1])
        + b"\n"
        + b"[1, 2, 3]\n"  # 5: not an object
        + b"\n"  # 6: blank, skipped
        + orjson.dumps(wrong_type)
        + b"\n"  # 7
        + b'{"event": {"id": "no-time"}}\n'  # 8: no @timestamp
        + b'{"@timestamp": "'
        + b"x" * 3000
        + b'"}\n'  # 9: over the line limit
        + orjson.dumps(nul)
        + b"\n"  # 10
        + orjson.dumps(good[2])
        + b"\n"  # 11
        + b'{"@timestamp": "2026-01-01T00:00:00Z", "event": {"id": "trunc'  # 12: truncated
    )
    from django.test import override_settings

    with override_settings(INGEST_MAX_LINE_BYTES=2048):
        response = post(client, body, token)
    data = response.json()
    assert response.status_code == 200
    assert data["accepted"] == 3 and data["duplicates"] == 0
    rejected = {item["line"]: item["error"] for item in data["rejected"]}
    assert sorted(rejected) == [2, 3, 5, 7, 8, 9, 10, 12]
    assert all(set(item) == {"line", "error"} for item in data["rejected"])
    assert "UTF-8" in rejected[3]
    assert "process.pid" in rejected[7]
    assert "@timestamp" in rejected[8]
    assert "limit" in rejected[9]
    assert "NUL" in rejected[10]
    assert "truncated" in rejected[12]
    assert Event.objects.count() == 3


def test_gzip_bodies_are_accepted(client, token):
    body = gzip.compress(ndjson([process_start(), process_start()]))
    response = post(client, body, token, HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["accepted"] == 2


def test_a_body_over_the_limit_is_413_with_a_clear_message(client, token, settings):
    settings.INGEST_MAX_BODY_BYTES = 2000
    body = ndjson([process_start() for _ in range(5)])
    response = post(client, body, token)
    assert response.status_code == 413
    assert "larger than the limit of 2000 bytes" in response.json()["error"]
    # A small gzip that inflates past the limit is refused the same way.
    bomb = gzip.compress(b"\n" * 100_000)
    response = post(client, bomb, token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]
    assert Event.objects.count() == 0


def test_broken_gzip_is_400(client, token):
    response = post(client, b"\x1f\x8bnot gzip at all", token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400


# --- Elasticsearch-compatible ---------------------------------------------------------------


def test_shippers_version_probe_answers_like_elasticsearch(client, token):
    response = client.get("/api/es/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["version"]["number"].startswith("8.")
    assert response["X-Elastic-Product"] == "Elasticsearch"
    assert client.get("/api/es/").status_code == 401


@pytest.mark.parametrize("scheme", ["bearer", "apikey", "basic"])
def test_bulk_accepts_the_token_in_the_headers_shippers_send(client, token, scheme):
    header = {
        "bearer": f"Bearer {token}",
        "apikey": "ApiKey " + base64.b64encode(f"shipper:{token}".encode()).decode(),
        "basic": "Basic " + base64.b64encode(f"winlogbeat:{token}".encode()).decode(),
    }[scheme]
    body = b'{"create": {"_index": "logs-endpoint"}}\n' + orjson.dumps(process_start()) + b"\n"
    response = client.post(
        "/api/es/_bulk", data=body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 200, response.content
    assert response.json()["items"][0]["create"]["status"] == 201


def test_bulk_reports_each_item(client, token):
    first, second = process_start(), process_start()
    body = (
        b'{"create": {}}\n'
        + orjson.dumps(first)
        + b"\n"
        + b'{"index": {"_index": "winlogbeat-8"}}\n'
        + orjson.dumps(second)
        + b"\n"
        + b'{"create": {}}\n'
        + b'{"@timestamp": "yesterday"}\n'
        + b'{"delete": {"_id": "x"}}\n'
        + b'{"create": {}}\n'
        + orjson.dumps(first)
        + b"\n"
    )
    response = client.post(
        "/api/es/logs/_bulk",
        data=body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    data = response.json()
    assert response.status_code == 200 and data["errors"] is True
    statuses = [next(iter(item.values()))["status"] for item in data["items"]]
    assert statuses == [201, 201, 400, 400, 409]
    assert data["items"][1]["index"]["_index"] == "winlogbeat-8"
    assert Event.objects.count() == 2
    # Sent again: create conflicts (409), index is a no-op (200); nothing new stored.
    again = b'{"create": {}}\n' + orjson.dumps(first) + b"\n"
    again += b'{"index": {}}\n' + orjson.dumps(second) + b"\n"
    response = client.post(
        "/api/es/_bulk",
        data=again,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    statuses = [next(iter(item.values()))["status"] for item in response.json()["items"]]
    assert statuses == [409, 200]
    assert Event.objects.count() == 2


def test_a_disabled_source_is_refused(client):
    source, token = make_source("disabled")
    source.enabled = False
    source.save()
    assert post(client, ndjson([process_start()]), token).status_code == 401


def test_bulk_refuses_a_document_that_cannot_be_stored(client, token):
    event = process_start()
    event["process"]["name"] = "nul\u0000byte"
    body = b'{"create": {}}\n' + orjson.dumps(event) + b"\n"
    response = client.post(
        "/api/es/_bulk",
        data=body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    item = response.json()["items"][0]["create"]
    assert item["status"] == 400 and "NUL" in item["error"]["reason"]
    assert Event.objects.count() == 0


def test_bulk_over_the_size_limit_is_413_in_elasticsearch_form(client, token, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024
    body = (b'{"create": {}}\n' + orjson.dumps(process_start()) + b"\n") * 5
    response = client.post(
        "/api/es/_bulk",
        data=body,
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "content_too_long_exception"
