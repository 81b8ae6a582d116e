"""triage.alerts.raise_alerts, the one writer of alerts: idempotent, SLA from settings, and the
same rows from its PostgreSQL one-statement path as from its generic path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from rules.detection import make_candidate
from rules.models import Tactic, Technique
from triage import alerts, services
from triage.models import Alert, AlertEvent
from triage.tests.factories import make_rule, process_doc

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RECORDED = NOW + timedelta(seconds=3)


def candidates_of(rule, n=3):
    out = []
    for i in range(n):
        docs = [
            process_doc(event_id=f"parent-{i}", name="wscript.exe"),
            process_doc(event_id=f"child-{i}", host=f"WS-{i:04d}", user=f"user{i}"),
        ]
        out.append(make_candidate(rule, docs, [d["event"]["id"] for d in docs]))
    return out


def a_rule_with_techniques():
    tactic, _ = Tactic.objects.get_or_create(external_id="TA0002", defaults={"name": "Execution"})
    for external_id in ("T1059", "T1059.001"):
        Technique.objects.get_or_create(
            external_id=external_id, defaults={"name": external_id, "tactic": tactic}
        )
    rule = make_rule(severity="critical", risk_score=99)
    assert rule.techniques.count() == 2
    return rule


def rows_written() -> dict:
    """Every row the writer writes, without the ids the database chose."""
    fields = [f.attname for f in Alert._meta.concrete_fields if not f.primary_key]
    key_of = dict(Alert.objects.values_list("pk", "key"))
    return {
        "alerts": sorted(tuple(v[f] for f in fields) for v in Alert.objects.values(*fields)),
        "history": sorted(
            (
                key_of[h.alert_id],
                h.actor_id,
                h.created_at,
                h.kind,
                h.from_status,
                h.to_status,
                h.data,
            )
            for h in AlertEvent.objects.all()
        ),
        "links": sorted(
            (key_of[alert_id], technique_id)
            for alert_id, technique_id in Alert.techniques.through.objects.values_list(
                "alert_id", "technique_id"
            )
        ),
    }


def write_and_roll_back(candidates) -> dict:
    with transaction.atomic():
        with services.clock(RECORDED):
            new = alerts.raise_alerts(candidates, now=NOW)
        rows = rows_written()
        transaction.set_rollback(True)
    assert sum(len(ids) for ids in new.values()) == len(candidates)
    return rows


def test_the_one_statement_path_and_the_generic_path_write_identical_rows(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path needs PostgreSQL")
    rule = a_rule_with_techniques()
    candidates = candidates_of(rule)
    one_statement = write_and_roll_back(candidates)
    monkeypatch.setattr(alerts, "_one_statement", lambda: False)
    generic = write_and_roll_back(candidates)
    assert one_statement == generic
    assert len(generic["alerts"]) == 3 and len(generic["links"]) == 6
    # The "raised" row is the one triage/services.py documents.
    first = next(row for row in generic["history"] if row[0] == candidates[0].key)
    assert first[1:] == (
        None,
        RECORDED,
        "raised",
        "",
        "new",
        {"rule_id": rule.rule_id, "event_ids": ["parent-0", "child-0"]},
    )


@pytest.mark.parametrize("one_statement", [True, False], ids=["one statement", "generic"])
def test_raising_twice_makes_one_alert_and_one_history_row(monkeypatch, one_statement):
    if one_statement and connection.vendor != "postgresql":
        pytest.skip("the one-statement path needs PostgreSQL")
    monkeypatch.setattr(alerts, "_one_statement", lambda: one_statement)
    rule = a_rule_with_techniques()
    candidates = candidates_of(rule, 2)
    first = alerts.raise_alerts(candidates, now=NOW)
    assert len(first[rule.pk]) == 2
    again = alerts.raise_alerts([*candidates, *candidates_of(rule, 3)], now=NOW)
    assert len(again[rule.pk]) == 1  # only the third candidate is new
    assert Alert.objects.count() == 3
    assert AlertEvent.objects.filter(kind="raised").count() == 3
    assert Alert.techniques.through.objects.count() == 6


def test_the_sla_comes_from_settings(settings):
    settings.SLA_MINUTES = {**settings.SLA_MINUTES, "critical": 17}
    rule = a_rule_with_techniques()
    alerts.raise_alerts(candidates_of(rule, 1), now=NOW)
    alert = Alert.objects.get()
    assert alert.sla_due_at == NOW + timedelta(minutes=17)
    assert (alert.severity, alert.risk_score, alert.status) == ("critical", 99, "new")
    assert (alert.host_name, alert.user_name) == ("WS-0000", "user0")


def test_the_demos_fallback_raises_through_the_writer_with_the_sla_of_settings(settings):
    from triage.demo.loader import raise_missed

    settings.SLA_MINUTES = {**settings.SLA_MINUTES, "critical": 17}
    rule = a_rule_with_techniques()
    docs = [process_doc(event_id="first"), process_doc(event_id="second")]
    alert = raise_missed(rule, docs, NOW)
    assert alert.event_ids == ["second"] and alert.created_at == NOW
    assert alert.sla_due_at == NOW + timedelta(minutes=17)
    assert alert.techniques.count() == 2
    (raised,) = alert.history.all()
    assert (raised.kind, raised.created_at) == ("raised", NOW)
    assert raise_missed(rule, docs, NOW).pk == alert.pk  # the same key: no second alert
    assert Alert.objects.count() == 1
