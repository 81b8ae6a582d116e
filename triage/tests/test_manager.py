"""Manager pages: who may see them, what they show, the CSV and NDJSON exports, SLA clocks."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.template import Context, Template
from django.urls import reverse

from triage import sla
from triage.tests import test_metrics as constructed
from triage.views.manager import neutralise

# The constructed history of test_metrics (figures computed by hand there), shared here.
built = constructed.built
team = constructed.team
playbook_version = constructed.playbook_version
fast_passwords = constructed.fast_passwords

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
PAGES = ("manager:history", "manager:metrics", "manager:questions", "manager:export_csv")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", ["l1", "t2"])
def test_analysts_cannot_see_manager_pages(client, make_user, role, page):
    client.force_login(make_user(f"someone_{role}", role))
    assert client.get(reverse(page)).status_code == 403


def test_manager_pages_need_a_login(client, db):
    response = client.get(reverse("manager:metrics"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("page", PAGES)
def test_manager_pages_are_read_only(client, manager_user, page):
    client.force_login(manager_user)
    assert client.post(reverse(page), MARCH).status_code == 405


def test_managers_cannot_change_alerts_through_the_workflow(built, manager_user):
    from triage import services

    a4 = built["alerts"][3]
    for attempt in (
        lambda: services.claim(a4.pk, manager_user),
        lambda: services.escalate(a4.pk, manager_user),
        lambda: services.close_l1(a4.pk, manager_user, "false_positive", "no"),
        lambda: services.t2_claim(a4.pk, manager_user),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    a4.refresh_from_db()
    assert a4.status == "new" and a4.assignee_id is None


def test_history_page_lists_decisions_escaped_with_links_to_the_alert(client, built, manager_user):
    client.force_login(manager_user)
    response = client.get(reverse("manager:history"), MARCH)
    assert response.status_code == 200
    page = response.content.decode()
    assert "5 decisions" in page
    a1 = built["alerts"][0]
    assert f'href="/alerts/{a1.pk}/?tab=history"' in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Returned to L1" in page and "Accepted by T2" in page


def test_history_htmx_request_gets_only_the_results_fragment(client, built, manager_user):
    client.force_login(manager_user)
    response = client.get(
        reverse("manager:history"),
        {**MARCH, "outcome": "returned", "sort": "claim"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page and 'id="filters"' not in page
    assert "1 decision " in page
    assert "Returned to L1" in page


def test_history_sorting_and_paging_keep_the_filters(client, built, manager_user, monkeypatch):
    monkeypatch.setattr("triage.views.manager.PAGE_SIZE", 2)
    client.force_login(manager_user)
    page = client.get(reverse("manager:history"), {**MARCH, "sort": "-claim"}).content.decode()
    assert "Page 1 of 3" in page
    assert "from=2026-03-01" in page and "sort=-claim" in page and "page=2" in page


def test_metrics_page_shows_charts_and_tables_with_the_same_numbers(
    client, built, manager_user, settings
):
    client.force_login(manager_user)
    page = client.get(reverse("manager:metrics"), MARCH).content.decode()
    assert page.count("<svg") == 4
    assert "Noisy rule" in page and "2 FP (67%)" in page
    assert "40%" in page and "50%" in page  # escalation/override and return rates
    assert "Propose an exception" in page


def test_noisy_rules_link_to_the_rule_exception_form_with_a_false_positive(built):
    from triage.views.manager import rule_exception_url

    noisy, a3 = built["rules"][0], built["alerts"][2]
    assert rule_exception_url(noisy.pk, a3.pk) == f"/rules/exceptions/new?alert={a3.pk}"
    # No false positive to start from: the admin's add page, preset to the rule.
    assert rule_exception_url(noisy.pk, None).endswith(
        f"/admin/rules/ruleexception/add/?rule={noisy.pk}"
    )


def test_questions_page(client, built, manager_user):
    client.force_login(manager_user)
    page = client.get(reverse("manager:questions"), MARCH).content.decode()
    assert "obfuscated" in page and "50 %" in page


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_export_streams_the_filtered_history_and_defuses_formulas(client, built, manager_user):
    client.force_login(manager_user)
    response = client.get(reverse("manager:export_csv"), MARCH)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    assert len(rows) == 5
    a2 = next(r for r in rows if r["alert_id"] == str(built["alerts"][1].pk))
    assert a2["rationale"].startswith("'=HYPERLINK")
    assert a2["override"] == "True" and a2["final_disposition"] == "false_positive"
    assert a2["time_to_claim_seconds"] == "300.0"
    returned = _csv(client.get(reverse("manager:export_csv"), {**MARCH, "outcome": "returned"}))
    assert [r["t2_outcome"] for r in returned] == ["returned"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (-3.5, -3.5),
        (True, True),
    ],
)
def test_neutralise_spreadsheet_formulas(value, expected):
    assert neutralise(value) == expected


def test_api_history_is_ndjson_for_managers_only(client, built, manager_user, l1_user):
    url = reverse("api_history:export")
    assert client.get(url, MARCH).status_code == 401
    client.force_login(l1_user)
    assert client.get(url, MARCH).status_code == 403
    client.force_login(manager_user)
    response = client.get(url, MARCH)
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    assert records[0]["t2_outcome"] == "accepted"
    assert records[0]["containment_items_done"] == 2


# --- SLA clock ------------------------------------------------------------------------------


def _alert(severity="high", status="new", created=None, due=None):
    return SimpleNamespace(
        severity=severity,
        status=status,
        created_at=created or datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        sla_due_at=due,
        closed_at=None,
    )


def test_sla_remaining_counts_down_from_the_severity_target(settings):
    settings.SLA_MINUTES = {"critical": 60, "high": 240, "medium": 1440, "low": 4320}
    raised = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    alert = _alert("high", created=raised)
    assert sla.sla_remaining(alert, raised + timedelta(hours=1)) == timedelta(hours=3)
    assert sla.sla_remaining(alert, raised + timedelta(hours=5)) == -timedelta(hours=1)
    assert sla.sla_remaining(_alert(status="closed"), raised) is None
    fixed = _alert("low", created=raised, due=raised + timedelta(minutes=10))
    assert sla.sla_remaining(fixed, raised) == timedelta(minutes=10)


def test_sla_clock_tag_renders_time_left_or_breach():
    raised = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    template = Template("{% load sla_tags %}{% sla_clock alert now %}")
    html = template.render(
        Context({"alert": _alert("critical", created=raised), "now": raised + timedelta(hours=2)})
    )
    assert "breached 1h 00m ago" in html and "breach" in html
    html = template.render(Context({"alert": _alert("high", created=raised), "now": raised}))
    assert "4h 00m left" in html


def test_queue_can_sort_open_alerts_by_remaining_sla_time(built, settings):
    from triage.models import Alert

    settings.SLA_MINUTES = {"critical": 60, "high": 240, "medium": 1440, "low": 4320}
    open_alerts = sla.order_by_sla(Alert.objects.open())
    severities = [(a.severity, a.sla_due) for a in open_alerts]
    # A6 (high, raised 27 Feb) is due before A4 (critical, raised 2 Mar).
    assert [s for s, _ in severities] == ["high", "critical"]
    assert severities[0][1] == datetime(2026, 2, 27, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("page", ["manager:metrics", "manager:questions"])
def test_range_change_over_htmx_swaps_only_the_results(client, built, manager_user, page):
    client.force_login(manager_user)
    response = client.get(
        reverse(page), MARCH, headers={"HX-Request": "true", "HX-Target": "results"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="filters"' not in body
    assert "<svg" in body
