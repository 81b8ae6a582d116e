"""Detection over stored events: alerts, idempotency, exceptions, runs, retention, commands."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.core.management import call_command

from rules import detection
from rules.detection import alert_key, lookback
from rules.models import DetectionRule, Event, RuleException, RuleRun
from rules.store import event_row, ingest_records, store_events
from rules.tests.pipeline_helpers import (
    DOWNLOAD_RULE_ID,
    LIBRARY,
    NODEJS_RULE_ID,
    WINSCRIPT_RULE_ID,
    download_then_run,
    import_library,
    ndjson,
    nodejs_attack,
    process_start,
    winscript_attack,
)
from triage.models import Alert, AlertEvent

pytestmark = pytest.mark.django_db


def store(events) -> list[int]:
    """Store events without running detection (the test calls it)."""
    rows = [event_row(e) for e in events]
    return store_events(rows).new_pks


@pytest.fixture
def rules():
    return import_library()


def test_an_attack_posted_over_http_is_an_alert_once_the_batch_commits(
    client, rules, django_capture_on_commit_callbacks
):
    from rules.tests.pipeline_helpers import make_source

    _source, token = make_source()
    attack = winscript_attack()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/events",
            data=ndjson([process_start(), attack]),
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.json()["accepted"] == 2
    alert = Alert.objects.get()
    rule = rules[WINSCRIPT_RULE_ID]
    assert alert.rule == rule and alert.rule_version == 202
    assert alert.key == alert_key(WINSCRIPT_RULE_ID, [attack["event"]["id"]])
    assert alert.event_ids == [attack["event"]["id"]]
    assert alert.event_snapshot[0]["process"]["name"] == "powershell.exe"
    assert (alert.severity, alert.risk_score) == ("high", 73)
    assert (alert.host_name, alert.user_name) == ("WS-0001", "alice")
    assert alert.status == "new"
    assert alert.sla_due_at - alert.created_at == timedelta(minutes=240)
    assert set(alert.techniques.values_list("external_id", flat=True)) >= {"T1059.001"}
    history = list(alert.history.all())
    assert [(h.kind, h.actor, h.to_status) for h in history] == [("raised", None, "new")]
    # The shape triage/services.py documents for "raised" rows.
    assert history[0].data == {"rule_id": WINSCRIPT_RULE_ID, "event_ids": [attack["event"]["id"]]}
    run = RuleRun.objects.get(rule=rule)
    assert (run.trigger, run.outcome, run.alerts_raised) == ("ingest", "succeeded", 1)


def test_the_same_batch_processed_twice_raises_no_second_alert(rules):
    pks = store([winscript_attack(), nodejs_attack(), process_start()])
    first = detection.detect_new_events(pks)
    second = detection.detect_new_events(pks)
    assert (first.alerts, second.alerts) == (2, 0)
    assert Alert.objects.count() == 2
    assert AlertEvent.objects.count() == 2
    # And a scheduled run over the same events adds nothing either.
    for rule in DetectionRule.objects.enabled():
        detection.run_rule(rule)
    assert Alert.objects.count() == 2


def test_a_rule_edited_or_disabled_between_batches_is_run_as_it_now_reads(rules):
    winscript = rules[WINSCRIPT_RULE_ID]
    assert detection.detect_new_events(store([winscript_attack()])).alerts == 1
    winscript.query = 'process where process.name == "edited.exe"'
    winscript.save()
    assert detection.detect_new_events(store([winscript_attack()])).alerts == 0
    assert detection.detect_new_events(store([process_start("edited.exe")])).alerts == 1
    # Edited again in the same transaction: still the text it now holds.
    DetectionRule.objects.filter(pk=winscript.pk).update(
        query='process where process.name == "again.exe"'
    )
    assert detection.detect_new_events(store([process_start("again.exe")])).alerts == 1
    winscript.enabled = False
    winscript.save()
    assert detection.detect_new_events(store([process_start("again.exe")])).alerts == 0


def test_a_sequence_split_across_two_batches_is_found_by_looking_back(rules):
    write, run = download_then_run(datetime.now(UTC) - timedelta(minutes=1))
    first = store([write])
    assert detection.detect_new_events(first).alerts == 0
    second = store([run])
    outcome = detection.detect_new_events(second)
    assert outcome.alerts == 1
    alert = Alert.objects.get(rule__rule_id=DOWNLOAD_RULE_ID)
    assert alert.event_ids == [write["event"]["id"], run["event"]["id"]]


def test_a_sequence_does_not_join_events_of_another_host(rules):
    write, _run = download_then_run(datetime.now(UTC) - timedelta(minutes=1), host="A")
    _write, run = download_then_run(datetime.now(UTC) - timedelta(minutes=1), host="B")
    detection.detect_new_events(store([write]))
    assert detection.detect_new_events(store([run])).alerts == 0


def test_an_active_exception_suppresses_the_alert_and_an_expired_one_does_not(rules):
    rule = rules[WINSCRIPT_RULE_ID]
    RuleException.objects.create(
        rule=rule,
        field="process.parent.args",
        operator="matches",
        values=["c:\\users\\*\\downloads\\invoice.js"],
        comment="known admin script",
    )
    RuleException.objects.create(
        rule=rule,
        field="host.name",
        operator="is",
        values=["WS-0009"],
        comment="expired",
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    assert detection.detect_new_events(store([winscript_attack()])).alerts == 0
    other = winscript_attack(host="WS-0009")
    other["process"]["parent"]["args"] = ["wscript.exe", "C:\\Users\\x\\evil.js"]
    assert detection.detect_new_events(store([other])).alerts == 1


def test_an_exception_added_between_two_batches_applies_to_the_second(rules):
    # The first batch leaves this worker holding the listing of the enabled rules, made
    # when the rule had no exception; the new exception must still be seen.
    assert detection.detect_new_events(store([winscript_attack()])).alerts == 1
    RuleException.objects.create(
        rule=rules[WINSCRIPT_RULE_ID],
        field="host.name",
        operator="is",
        values=["WS-0001"],
        comment="lab machine",
    )
    assert detection.detect_new_events(store([winscript_attack()])).alerts == 0
    assert detection.detect_new_events(store([winscript_attack(host="WS-0002")])).alerts == 1


@pytest.mark.parametrize(
    ("field", "operator", "values", "suppressed"),
    [
        ("host.name", "is", ["WS-0001"], True),
        ("host.name", "is", ["ws-0001"], False),
        ("user.name", "is_one_of", ["bob", "alice"], True),
        ("process.args", "matches", ["-NOP"], True),
        ("process.pe.original_file_name", "exists", [], False),
        ("process.parent.name", "exists", [], True),
    ],
)
def test_exception_operators(field, operator, values, suppressed):
    matcher = detection.ExceptionMatcher(
        [RuleException(field=field, operator=operator, values=values, comment="c")]
    )
    assert (matcher.match([winscript_attack()]) is not None) is suppressed


def test_max_signals_is_honoured_and_reported(rules):
    rule = rules[WINSCRIPT_RULE_ID]
    rule.max_signals = 2
    rule.save()
    DetectionRule.objects.exclude(pk=rule.pk).update(enabled=False)
    now = datetime.now(UTC)
    store([winscript_attack(when=now - timedelta(seconds=i)) for i in range(5)])
    run = detection.run_rule(rule, now=now)
    assert (run.alerts_raised, run.max_signals_reached, run.events_scanned) == (2, True, 5)
    assert Alert.objects.count() == 2


def test_a_scheduled_run_is_a_rule_run_over_the_look_back_window(rules):
    rule = rules[WINSCRIPT_RULE_ID]
    now = datetime.now(UTC)
    store([winscript_attack(when=now - timedelta(minutes=1))])
    store([winscript_attack(when=now - timedelta(minutes=30))])  # outside now-9m
    run = detection.run_rule(rule, now=now)
    assert run.trigger == "schedule" and run.outcome == "succeeded"
    assert (run.events_scanned, run.alerts_raised) == (1, 1)
    assert run.window_start == now - timedelta(minutes=9) and run.window_end == now
    assert run.ended_at >= run.started_at and run.duration_ms >= 0


def test_a_rule_with_a_timestamp_override_also_sees_late_events_stored_in_its_window(rules):
    rule = rules[NODEJS_RULE_ID]
    assert rule.timestamp_override == "event.ingested"
    now = datetime.now(UTC)
    store([nodejs_attack(when=now - timedelta(hours=3))])  # arrived late, stored just now
    run = detection.run_rule(rule, now=now + timedelta(seconds=1))
    assert (run.events_scanned, run.alerts_raised) == (1, 1)


def test_a_rule_whose_query_fails_is_marked_failed_and_the_others_still_run(rules):
    now = datetime.now(UTC)
    broken = rules[NODEJS_RULE_ID]
    DetectionRule.objects.filter(pk=broken.pk).update(query="process where process.name ==")
    store([winscript_attack(when=now - timedelta(seconds=5)), nodejs_attack()])
    runs = detection.run_rules(DetectionRule.objects.enabled(), now=now)
    by_rule = {r.rule.rule_id: r for r in runs}
    assert by_rule[NODEJS_RULE_ID].outcome == "failed"
    assert "EqlSyntaxError" in by_rule[NODEJS_RULE_ID].error
    assert by_rule[WINSCRIPT_RULE_ID].outcome == "succeeded"
    assert Alert.objects.filter(rule__rule_id=WINSCRIPT_RULE_ID).count() == 1
    # On ingest too: the broken rule gets a failed run, the others alert.
    outcome = detection.detect_new_events(store([winscript_attack()]))
    assert outcome.failed_rules == [NODEJS_RULE_ID] and outcome.alerts == 1
    assert RuleRun.objects.filter(rule=broken, trigger="ingest", outcome="failed").exists()


def test_a_rule_that_raises_while_searching_fails_alone(rules, monkeypatch):
    query = detection.compile_query("x", "process where true")
    original = type(query).search

    def search(self, events, size=None):
        if "node.exe" in self.text:
            raise RuntimeError("boom")
        return original(self, events, size)

    monkeypatch.setattr(type(query), "search", search)
    outcome = detection.detect_new_events(store([winscript_attack(), nodejs_attack()]))
    assert outcome.failed_rules == [NODEJS_RULE_ID] and outcome.alerts == 1


def test_due_rules_are_claimed_once_per_interval(rules):
    now = datetime.now(UTC)
    first = detection.claim_due_rules(now)
    assert len(first) == 3
    assert detection.claim_due_rules(now + timedelta(seconds=10)) == []
    assert len(detection.claim_due_rules(now + timedelta(minutes=5))) == 3


def test_the_beat_tasks_run_due_rules_and_purge_old_events(rules, settings):
    from rules import tasks

    now = datetime.now(UTC)
    store([nodejs_attack(when=now - timedelta(minutes=2))])
    assert tasks.run_due_rules() == 3  # eager in tests: the runs happen here
    assert RuleRun.objects.filter(trigger="schedule").count() == 3
    assert Alert.objects.filter(rule__rule_id=NODEJS_RULE_ID).count() == 1
    settings.EVENT_RETENTION_DAYS = 30
    store([process_start(when=now - timedelta(days=31)), process_start(when=now)])
    assert tasks.purge_expired_events() == 1
    assert Event.objects.count() == 2


def test_events_are_stored_with_their_indexed_columns():
    event = winscript_attack()
    event["host"]["name"] = "H" * 400  # over the column: the index copy is cut, not the doc
    store([event])
    row = Event.objects.get()
    assert row.category == "process" and row.action == "start"
    assert row.process_entity_id == event["process"]["entity_id"]
    assert row.parent_entity_id == event["process"]["parent"]["entity_id"]
    assert row.process_pid == event["process"]["pid"]
    assert row.user_name == "alice" and len(row.host_name) == 255
    assert row.doc["host"]["name"] == "H" * 400


# --- commands -----------------------------------------------------------------------------


def test_detect_prints_one_json_line_per_alert_and_stores_nothing(tmp_path):
    attack = winscript_attack()
    write, run = download_then_run(datetime.now(UTC))
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson([process_start(), attack, write, run, nodejs_attack()]))
    out, err = io.StringIO(), io.StringIO()
    call_command("detect", str(path), "--rules", str(LIBRARY), stdout=out, stderr=err)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3
    assert all(set(line) == {"rule_id", "rule_name", "event_ids", "timestamp"} for line in lines)
    by_rule = {line["rule_id"]: line for line in lines}
    assert by_rule[WINSCRIPT_RULE_ID]["event_ids"] == [attack["event"]["id"]]
    assert by_rule[WINSCRIPT_RULE_ID]["timestamp"] == attack["@timestamp"]
    assert by_rule[DOWNLOAD_RULE_ID]["event_ids"] == [write["event"]["id"], run["event"]["id"]]
    assert Event.objects.count() == 0 and Alert.objects.count() == 0


def test_detect_uses_the_database_rules_and_their_exceptions_by_default(tmp_path, rules):
    RuleException.objects.create(
        rule=rules[NODEJS_RULE_ID], field="user.name", operator="is", values=["alice"], comment="x"
    )
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson([winscript_attack(), nodejs_attack()]))
    out = io.StringIO()
    call_command("detect", str(path), stdout=out, stderr=io.StringIO())
    assert [orjson.loads(x)["rule_id"] for x in out.getvalue().splitlines()] == [WINSCRIPT_RULE_ID]


def test_ingesting_the_same_file_twice_stores_nothing_new(
    tmp_path, rules, django_capture_on_commit_callbacks
):
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson([process_start(), winscript_attack()]) + b"not json\n")
    out, err = io.StringIO(), io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", str(path), stdout=out, stderr=err)
    assert "accepted 2, duplicates 0, rejected 1" in out.getvalue()
    assert "record 3: malformed JSON" in err.getvalue()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", str(path), stdout=out, stderr=io.StringIO())
    assert "accepted 0, duplicates 2, rejected 1" in out.getvalue()
    assert Event.objects.count() == 2 and Alert.objects.count() == 1


def test_ingest_reads_zipped_winlogbeat_records(tmp_path):
    import zipfile

    record = {
        "@timestamp": "2026-01-05T08:00:00.000Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "provider_name": "Microsoft-Windows-Sysmon",
            "event_id": 1,
            "record_id": 42,
            "computer_name": "WS-7",
            "event_data": {
                "Image": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": "cmd.exe /c whoami",
                "ProcessId": "100",
                "ProcessGuid": "{11111111-2222-3333-4444-555555555555}",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ParentProcessId": "50",
                "User": "CORP\\alice",
            },
        },
        "agent": {"type": "winlogbeat"},
    }
    path = tmp_path / "logs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("winlogbeat.json", orjson.dumps(record) + b"\n")
    out = io.StringIO()
    call_command("ingest", str(path), stdout=out, stderr=io.StringIO())
    assert "accepted 1" in out.getvalue()
    assert Event.objects.get().category == "process"


def test_ingest_records_reports_rejections_with_line_numbers():
    from rules.ingest import parse_ndjson

    summary = ingest_records(parse_ndjson(b"{}\n" + ndjson([process_start()])))
    assert summary.accepted == 1
    assert summary.rejected[0]["line"] == 1


def test_create_ingest_source_prints_the_token_once_and_stores_its_hash():
    from rules.models import IngestSource

    out = io.StringIO()
    call_command("create_ingest_source", "winlogbeat-dc1", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    source = IngestSource.objects.get(name="winlogbeat-dc1")
    assert token and token not in source.token_hash
    assert IngestSource.authenticate(token) == source


def test_sequence_look_back_narrows_by_shared_and_per_term_join_keys():
    shared = detection.compile_query(
        "t1", "sequence by host.id with maxspan=1m [process where true] [file where true]"
    )
    per_term = detection.compile_query(
        "t2",
        "sequence with maxspan=2h [file where true] by host.id, file.path "
        "[process where true] by host.id, process.executable",
    )
    assert lookback.sequence_shape(shared) == lookback.SequenceShape(
        timedelta(minutes=1), ("host.id",)
    )
    assert lookback.sequence_shape(per_term) == lookback.SequenceShape(
        timedelta(hours=2), ("host.id",)
    )
    assert lookback.sequence_shape(detection.compile_query("t3", "process where true")) is None


def test_import_rules_without_a_path_loads_the_shipped_library():
    out = io.StringIO()
    call_command("import_rules", stdout=out, stderr=io.StringIO())
    assert "imported 3" in out.getvalue()


def test_ingest_draws_a_progress_bar_on_stderr_when_it_is_a_terminal(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    path = tmp_path / "events.ndjson"
    path.write_bytes(ndjson([process_start() for _ in range(3)]))
    out = io.StringIO()
    call_command("ingest", str(path), stdout=out)
    assert "accepted 3" in out.getvalue()
    assert "events.ndjson:" in terminal.getvalue() and "%|" in terminal.getvalue()


def test_batches_larger_and_smaller_than_an_id_block_get_distinct_ids_in_order():
    big = store_events([event_row(process_start()) for _ in range(2500)])
    again = process_start()
    small = store_events([event_row(again), event_row(process_start())])
    # A batch with an event stored already takes the safe path, whose rows get the id
    # column's default: it must not collide with the blocks reserved around it.
    mixed = store_events([event_row(again), event_row(process_start())])
    after = store_events([event_row(process_start()) for _ in range(5)])
    assert (mixed.accepted, mixed.duplicates) == (1, 1)
    pks = [*big.new_pks, *small.new_pks, *mixed.new_pks, *after.new_pks]
    assert len(pks) == len(set(pks)) == 2508 == Event.objects.count()
    assert big.new_pks == sorted(big.new_pks)
    assert max(big.new_pks) < min(small.new_pks) < min(mixed.new_pks) < min(after.new_pks)


def test_a_batch_holding_an_event_stored_already_stores_only_the_new_one():
    first = process_start()
    store([first])
    # `first` is stored (sent twice, or by a concurrent writer): the fast COPY fails on the
    # unique constraint and the safe path stores the rest.
    second = process_start()
    result = store_events([event_row(first), event_row(second)])
    assert (result.accepted, result.duplicates) == (1, 1)
    assert result.new_event_ids == {second["event"]["id"]}
    assert Event.objects.count() == 2


def test_a_per_term_keyed_sequence_is_joined_across_batches_on_the_same_host_only():
    DetectionRule.objects.create(
        rule_id="per-term",
        name="a then b",
        query=(
            'sequence with maxspan=5m [process where process.name == "a.exe"] by host.id '
            '[process where process.name == "b.exe"] by host.id'
        ),
    )
    now = datetime.now(UTC)
    first = process_start("a.exe", when=now - timedelta(minutes=2), host="H1")
    detection.detect_new_events(store([first]))
    other_host = process_start("b.exe", when=now - timedelta(minutes=1), host="H2")
    assert detection.detect_new_events(store([other_host])).alerts == 0
    second = process_start("b.exe", when=now - timedelta(minutes=1), host="H1")
    assert detection.detect_new_events(store([second])).alerts == 1
    assert Alert.objects.get().event_ids == [first["event"]["id"], second["event"]["id"]]
