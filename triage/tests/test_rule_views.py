"""The rules list and the rule exception form (created from an alert)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from rules import detection
from rules.models import RuleException
from rules.store import event_row, store_events
from rules.tests.pipeline_helpers import WINSCRIPT_RULE_ID, import_library, winscript_attack
from triage import services
from triage.models import Alert, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert():
    import_library()
    event = winscript_attack()
    detection.detect_new_events(store_events([event_row(event)]).new_pks)
    return Alert.objects.get(rule__rule_id=WINSCRIPT_RULE_ID)


def test_the_rule_list_shows_rules_with_their_last_run(client, l1_user, alert):
    client.force_login(l1_user)
    response = client.get(reverse("rules:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Command and Scripting Interpreter via Windows Scripts" in body
    assert "succeeded" in body


def test_the_exception_form_is_prefilled_from_the_alert(client, t2_user, alert):
    Alert.objects.filter(pk=alert.pk).update(status=Status.ESCALATED)
    client.force_login(t2_user)
    response = client.get(reverse("rules:exception_new") + f"?alert={alert.pk}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "process.executable" in body
    assert "C:\\Windows\\System32\\powershell.exe" in body


def test_t2_creates_an_exception_that_then_suppresses_the_rule(client, t2_user, alert):
    Alert.objects.filter(pk=alert.pk).update(status=Status.ESCALATED)
    client.force_login(t2_user)
    response = client.post(
        reverse("rules:exception_new") + f"?alert={alert.pk}",
        {
            "field": "process.parent.args",
            "operator": "matches",
            "values": "*\\invoice.js",
            "comment": "the finance team's invoice macro",
            "expires_in_days": "30",
        },
    )
    assert response.status_code == 302
    exception = RuleException.objects.get()
    assert exception.author == t2_user and exception.values == ["*\\invoice.js"]
    assert exception.expires_at is not None
    assert alert.history.filter(kind="exception_created", actor=t2_user).exists()
    assert alert.history.get(kind="exception_created").data == {
        "exception": exception.pk,
        "rule_id": WINSCRIPT_RULE_ID,
        "field": "process.parent.args",
        "operator": "matches",
        "values": ["*\\invoice.js"],
    }
    # The same attack again raises nothing.
    again = store_events([event_row(winscript_attack())]).new_pks
    assert detection.detect_new_events(again).alerts == 0


def test_l1_may_not_create_exceptions(client, l1_user, alert):
    client.force_login(l1_user)
    response = client.get(reverse("rules:exception_new") + f"?alert={alert.pk}")
    assert response.status_code == 403


def test_the_service_refuses_an_exception_to_l1_and_writes_nothing(l1_user, alert):
    with pytest.raises(PermissionDenied):
        services.add_rule_exception(
            alert,
            l1_user,
            field="host.name",
            operator="exists",
            values=[],
            comment="x",
            expires_at=None,
        )
    assert RuleException.objects.count() == 0
    assert not alert.history.filter(kind="exception_created").exists()


def test_an_alert_out_of_reach_is_404_and_a_missing_alert_parameter_400(client, t2_user, alert):
    client.force_login(t2_user)  # the alert is "new": an L1 stage, not T2's
    assert client.get(reverse("rules:exception_new") + f"?alert={alert.pk}").status_code == 404
    assert client.get(reverse("rules:exception_new")).status_code == 400


def test_values_are_required_unless_the_operator_is_exists(client, manager_user, alert):
    client.force_login(manager_user)
    url = reverse("rules:exception_new") + f"?alert={alert.pk}"
    response = client.post(url, {"field": "host.name", "operator": "is", "comment": "x"})
    assert response.status_code == 200 and RuleException.objects.count() == 0
    response = client.post(url, {"field": "host.name", "operator": "exists", "comment": "x"})
    assert response.status_code == 302 and RuleException.objects.count() == 1


def test_admin_can_add_an_exception_for_a_rule(admin_client, alert):
    response = admin_client.get(f"/admin/rules/ruleexception/add/?rule={alert.rule_id}")
    assert response.status_code == 200
    assert admin_client.get("/admin/rules/ingestsource/add/").status_code == 200


def test_admin_shows_a_new_ingest_sources_token_once(admin_client):
    from rules.models import IngestSource

    response = admin_client.post(
        "/admin/rules/ingestsource/add/", {"name": "beats", "enabled": "on"}, follow=True
    )
    token = next(
        str(m).split(": ", 1)[1] for m in response.context["messages"] if "Token for" in str(m)
    )
    assert IngestSource.authenticate(token) == IngestSource.objects.get(name="beats")
