"""Sequences across ingest batches: hits recorded per query, look-back only for the join keys
that can still make a match, and the same alerts as one search over everything.

The oracle is the engine run once over every stored event: batches processed in any order,
each with its own look-back, must raise exactly the alerts that search finds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from rules import detection, eql
from rules.detection import alert_key, lookback
from rules.ingest.ecs import event_id_of
from rules.models import DetectionRule, Event, SequenceHit
from rules.store import event_row, store_events
from rules.tests.pipeline_helpers import process_start
from rules.tests.test_eql_corpus import needs_corpus, windows_rules
from triage.models import Alert

pytestmark = pytest.mark.django_db

# A selective first query (by name) and a broad second one (any process start of the same
# host): the second is deferred by the rule set and evaluated only for hosts with a hit.
THEN_ANYTHING = (
    "sequence by host.id with maxspan=5m "
    '[process where process.name == "dropper.exe"] '
    '[process where event.type == "start" and process.name != "dropper.exe"]'
)


def store(events) -> list[int]:
    return store_events([event_row(e) for e in events]).new_pks


def rule(rule_id: str, query: str) -> DetectionRule:
    return DetectionRule.objects.create(rule_id=rule_id, name=rule_id, query=query)


def test_a_broad_query_in_a_later_batch_completes_a_sequence_begun_earlier():
    rule("then-anything", THEN_ANYTHING)
    now = datetime.now(UTC)
    first = process_start("dropper.exe", when=now - timedelta(minutes=2), host="H1")
    assert detection.detect_new_events(store([first])).alerts == 0
    assert SequenceHit.objects.filter(rule_id="then-anything", term=0).count() == 1
    other_host = process_start("calc.exe", when=now - timedelta(minutes=1), host="H2")
    second = process_start("calc.exe", when=now - timedelta(minutes=1), host="H1")
    assert detection.detect_new_events(store([other_host, second])).alerts == 1
    assert Alert.objects.get().event_ids == [first["event"]["id"], second["event"]["id"]]


def test_a_sequence_begun_in_a_batch_processed_later_is_found_by_looking_forward():
    rule("then-anything", THEN_ANYTHING)
    now = datetime.now(UTC)
    first = process_start("dropper.exe", when=now - timedelta(minutes=2), host="H1")
    second = process_start("calc.exe", when=now - timedelta(minutes=1), host="H1")
    early, late = store([first]), store([second])
    # The later batch is detected first: no hit of the first query is known yet, so it
    # skips the sequence; the earlier batch then finds the later event in the store.
    assert detection.detect_new_events(late).alerts == 0
    assert detection.detect_new_events(early).alerts == 1


def test_a_batch_without_a_hit_for_a_join_key_does_not_look_back_for_it(monkeypatch):
    rule("then-anything", THEN_ANYTHING)
    looked = []
    original = lookback.look_around

    def spy(specs, narrow, rows):
        looked.append(set(specs))
        return original(specs, narrow, rows)

    monkeypatch.setattr(lookback, "look_around", spy)
    detection.detect_new_events(store([process_start("calc.exe") for _ in range(20)]))
    assert looked == []  # every event fits the broad query, but no host has a first hit
    detection.detect_new_events(store([process_start("dropper.exe")]))
    assert looked == [{"then-anything"}]


def test_hits_older_than_any_rule_can_look_back_are_purged(settings):
    rule("then-anything", THEN_ANYTHING)
    now = datetime.now(UTC)
    detection.detect_new_events(store([process_start("dropper.exe", when=now - timedelta(days=3))]))
    detection.detect_new_events(store([process_start("dropper.exe", when=now)]))
    assert SequenceHit.objects.count() == 2
    settings.EVENT_RETENTION_DAYS = 90
    detection.purge_expired_events(now)
    assert SequenceHit.objects.count() == 1  # a day is kept: the rule looks back 5 minutes


@needs_corpus
@pytest.mark.parametrize("seed", [1, 2])
def test_batches_in_any_order_raise_exactly_what_one_search_over_everything_finds(seed):
    from bench.events import generate_events

    texts = windows_rules()
    DetectionRule.objects.bulk_create(
        DetectionRule(rule_id=rid, name=rid[:300], query=text, max_signals=10_000)
        for rid, text in texts.items()
    )
    # Attack-heavy events from a few hosts, so that sequences have company across batches.
    events = list(generate_events(2_000, seed=seed, attack_rate=0.05, hosts=20))
    pks = store(events)
    docs = [doc for _pk, doc, _ts in lookback.load_rows(pks)]
    expected = set()
    for rid, text in texts.items():
        try:
            query = eql.compile(text, size=1_000_000)
        except eql.EqlError:
            continue
        for m in query.search(docs):
            ids = [event_id_of(d) for d in m.events if isinstance(d, dict)]
            expected.add(alert_key(rid, ids))
    assert len(expected) >= 20, "the generator plants attacks that the corpus rules catch"

    ordered = sorted(Event.objects.filter(pk__in=pks).values_list("timestamp", "pk"))
    batches = [[pk for _ts, pk in ordered[i : i + 250]] for i in range(0, len(ordered), 250)]
    random.Random(seed).shuffle(batches)
    lookback.sequence_cache.entries.clear()
    for batch in batches:
        detection.detect_new_events(batch)
    assert set(Alert.objects.values_list("key", flat=True)) == expected


def test_stored_hits_are_read_by_a_range_scan_per_rule_however_many_are_stored():
    # Every batch reads the stored hits of its sequences' windows. As a plain join that was
    # a scan of the whole hits table per batch, slower as the day's hits pile up; each
    # rule's window must be an index range scan whatever the table holds.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the query plan is PostgreSQL's (CI runs PostgreSQL)")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    SequenceHit.objects.bulk_create(
        SequenceHit(
            rule_id=f"rule-{n % 30}",
            term=n % 2,
            key=f'["host-{n % 500}"]',
            event_pk=n,
            timestamp=start + timedelta(seconds=n),
        )
        for n in range(20_000)
    )
    table = SequenceHit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        rids = [f"rule-{n}" for n in range(27)]
        lo = [start + timedelta(hours=3)] * len(rids)
        hi = [start + timedelta(hours=3, minutes=5)] * len(rids)
        cursor.execute("EXPLAIN " + lookback.STORED_HITS_SQL.format(table=table), [rids, lo, hi])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(lookback.STORED_HITS_SQL.format(table=table), [rids, lo, hi])
        found = set(cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "Index Scan" in plan or "Index Only Scan" in plan, plan
    # and it reads what the windows hold: seconds 10800..11100 of the rules asked for
    expected = {
        (f"rule-{n % 30}", n % 2, f'["host-{n % 500}"]')
        for n in range(10_800, 11_101)
        if n % 30 < 27
    }
    assert found == expected


def test_look_back_by_host_id_reads_that_hosts_events_not_the_whole_window():
    # Most of Elastic's sequences join by host.id. Their look-back must find the batch's
    # hosts' stored events through an index, also for events newer than the table's
    # statistics (always the case for live ingest), not every event of the span.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the query plan is PostgreSQL's (CI runs PostgreSQL)")
    start = datetime(2026, 3, 1, tzinfo=UTC)

    def events(first: int, count: int) -> list[dict]:
        return [
            process_start(host=f"host-{n % 50}", when=start + timedelta(seconds=n))
            for n in range(first, first + count)
        ]

    store(events(0, 3000))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rules_event")
    store(events(3000, 3000))  # newer than the statistics, as live events are
    host_id = Event.objects.filter(host_name="host-7").values_list("host_id", flat=True)[0]
    lo, hi = start + timedelta(seconds=3000), start + timedelta(seconds=6000)
    sql, params = lookback.events_in_sql(lo, hi, [(("host_id",), {host_id})], 1000)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        found = cursor.fetchall()
    assert "event_hostid_time" in plan, plan
    assert len(found) == 60 and {row[2] for row in found} == {host_id}
    # several hosts, and a second narrowing column beside
    other = Event.objects.filter(host_name="host-8").values_list("host_id", flat=True)[0]
    users = set(Event.objects.values_list("user_id", flat=True))
    sql, params = lookback.events_in_sql(
        lo, hi, [(("host_id",), {host_id, other}), (("user_id",), users)], 1000
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        found = cursor.fetchall()
    assert "event_hostid_time" in plan and "Seq Scan" not in plan, plan
    assert len(found) == 120 and {row[2] for row in found} == {host_id, other}
