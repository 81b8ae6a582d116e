"""The per-alert facts behind the manager metrics stay equal to a fold of the history."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from triage.models import AlertEvent, AlertFacts

# The constructed history of the metrics tests (a reopened alert, a returned escalation...).
from triage.tests.test_metrics import built, playbook_version, team  # noqa: F401


def _facts():
    return {row["alert_id"]: row for row in AlertFacts.objects.values().order_by("alert_id")}


@pytest.mark.django_db
def test_the_trigger_folds_every_history_row_as_it_is_inserted(built):  # noqa: F811
    folded_live = _facts()
    assert folded_live, "the constructed history has workflow events"

    call_command("rebuild_alert_facts", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert _facts() == folded_live


@pytest.mark.django_db
def test_first_claim_is_kept_and_later_closes_win(built):  # noqa: F811
    facts = AlertFacts.objects.exclude(claimed_at=None).first()
    alert = facts.alert
    later = timezone.now() + timedelta(days=400)
    AlertEvent.objects.create(alert=alert, kind="claimed", created_at=later)
    AlertEvent.objects.create(
        alert=alert,
        kind="closed",
        from_status="triage",
        to_status="closed",
        data={"disposition": "false_positive", "override": True},
        created_at=later,
    )
    facts.refresh_from_db()
    assert facts.claimed_at < later
    assert facts.closed_at == later == facts.fp_closed_at


@pytest.mark.django_db
def test_rebuild_check_reports_a_tampered_table(built, capsys):  # noqa: F811
    with connection.cursor() as cursor:
        cursor.execute("UPDATE triage_alertfacts SET n_escalated = n_escalated + 5")
    with pytest.raises(SystemExit):
        call_command("rebuild_alert_facts", "--check")
    assert "differ" in capsys.readouterr().out
    call_command("rebuild_alert_facts")
    call_command("rebuild_alert_facts", "--check")
    assert "match" in capsys.readouterr().out
