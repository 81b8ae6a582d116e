"""A batch's documents handed from ingest to detection through Redis: exactly the batch or
nothing, and detection that reads PostgreSQL whenever the hand-off is not there."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rules import detection, handoff
from rules.store import event_row, store_events
from rules.tests.pipeline_helpers import (
    WINSCRIPT_RULE_ID,
    download_then_run,
    import_library,
    process_start,
    winscript_attack,
)
from triage.models import Alert

pytestmark = pytest.mark.django_db


def hand_off(rows, pks) -> str:
    key = handoff.put(pks, [r.columns["timestamp"] for r in rows], [r.doc_json for r in rows])
    assert key is not None
    return key


def stored(events):
    rows = [event_row(e) for e in events]
    return rows, store_events(rows).new_pks


def test_a_batch_comes_back_exactly_as_it_was_handed_over(redis_available):
    when = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    texts = [
        '{"a":"é\\n\\"x\\""}'.encode(),
        b'{"b":[1,2.5,null]}',
        '{"c":"\U0001d54f \\\\ tab\\t"}'.encode(),
    ]
    key = handoff.put([7, 3, 9], [when, when + timedelta(seconds=1), when], texts)
    got = handoff.take(key, [3, 7, 9])
    assert [(pk, orjson.loads(text), ts) for pk, text, ts in got] == [
        (7, {"a": 'é\n"x"'}, when),
        (3, {"b": [1, 2.5, None]}, when + timedelta(seconds=1)),
        (9, {"c": "\U0001d54f \\ tab\t"}, when),
    ]


def test_a_key_holding_other_events_a_damaged_value_or_nothing_gives_nothing(redis_available):
    import redis

    when = datetime.now(UTC)
    key = handoff.put([1, 2], [when, when], [b"{}", b"{}"])
    assert handoff.take(key, [1, 2, 3]) is None
    assert handoff.take(key, [1]) is None
    client = redis.Redis.from_url(redis_available)
    for damaged in (b"not json\n{}", b"[[1,2],[0]]\n{}\n{}", b'{"pks":1}', b"\n\n"):
        client.set(key, damaged, ex=60)
        assert handoff.take(key, [1, 2]) is None
    handoff.discard(key)
    assert handoff.take(key, [1, 2]) is None
    assert 0 < client.ttl(handoff.put([1], [when], [b"{}"])) <= handoff.TTL_SECONDS


def test_redis_out_of_reach_costs_a_warning_not_an_error(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    when = datetime.now(UTC)
    with caplog.at_level(logging.WARNING, logger="rules.handoff"):
        assert handoff.put([1], [when], [b"{}"]) is None
        assert handoff.take("soc:detect-batch:missing", [1]) is None
        handoff.discard("soc:detect-batch:missing")
    assert "could not hand a batch" in caplog.text


def test_detection_from_a_handed_over_batch_does_not_read_the_documents_back(redis_available):
    import_library(WINSCRIPT_RULE_ID)
    rows, pks = stored([winscript_attack(), process_start()])
    key = hand_off(rows, pks)
    with CaptureQueriesContext(connection) as queries:
        outcome = detection.detect_new_events(pks, batch_key=key)
    assert outcome.alerts == 1
    assert not [q for q in queries.captured_queries if "doc" in q["sql"].split("FROM")[0]]


def test_detection_reads_the_store_when_the_handed_over_batch_is_gone(redis_available):
    import_library()
    now = datetime.now(UTC)
    events = [winscript_attack(), *download_then_run(now - timedelta(minutes=1))]
    rows, pks = stored(events)
    key = hand_off(rows, pks)
    handoff.discard(key)  # expired, or Redis restarted, before the task ran
    assert detection.detect_new_events(pks, batch_key=key).alerts == 2
    assert Alert.objects.count() == 2


def test_a_handed_over_batch_and_the_store_raise_the_same_alerts(redis_available):
    import_library()
    now = datetime.now(UTC)
    events = [
        winscript_attack(when=now - timedelta(minutes=3)),
        *download_then_run(now - timedelta(minutes=2)),
        *(process_start(f"tool{i}.exe", when=now - timedelta(seconds=i)) for i in range(30)),
    ]
    rows, pks = stored(events)

    def alerts():
        return sorted(Alert.objects.values_list("key", "event_ids", "rule_version"))

    try:
        with transaction.atomic():  # detection reading the store, then undone
            assert detection.detect_new_events(pks).alerts == 2
            from_store = alerts()
            raise Undo
    except Undo:
        pass
    assert alerts() == []
    assert detection.detect_new_events(pks, batch_key=hand_off(rows, pks)).alerts == 2
    assert alerts() == from_store


class Undo(Exception):
    pass
