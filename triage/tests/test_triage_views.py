"""Triage screens over HTTP: every action checked per role on the server, 404 for alerts out
of reach, CSRF on every POST, htmx fragments versus redirects, queue filters and bulk actions."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from triage import services
from triage.models import Alert, Status
from triage.tests import factories
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture

HX = {"HX-Request": "true"}


@pytest.fixture
def alert(db):
    factories.load_playbooks()
    return factories.make_alert()


def _post(client, name, alert, data=None, **kwargs):
    return client.post(reverse(f"alert:{name}", args=[alert.pk]), data or {}, **kwargs)


L1_ACTIONS = ["claim", "answer", "step", "escalate", "close"]
T2_ACTIONS = ["t2_claim", "t2_accept", "t2_return", "t2_item", "t2_close"]


@pytest.mark.parametrize("action", L1_ACTIONS)
@pytest.mark.parametrize("role", ["t2", "manager"])
def test_l1_actions_are_refused_to_other_roles(client, make_user, alert, action, role):
    client.force_login(make_user(f"u_{role}", role))
    assert _post(client, action, alert).status_code == 403
    assert Alert.objects.get(pk=alert.pk).status == Status.NEW


@pytest.mark.parametrize("action", T2_ACTIONS)
@pytest.mark.parametrize("role", ["l1", "manager"])
def test_t2_actions_are_refused_to_other_roles(client, make_user, alert, action, role):
    client.force_login(make_user(f"u_{role}", role))
    assert _post(client, action, alert).status_code == 403


@pytest.mark.parametrize("action", L1_ACTIONS + T2_ACTIONS)
def test_actions_need_a_login(client, alert, action):
    response = _post(client, action, alert)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_actions_refuse_get(client, l1_user, alert):
    client.force_login(l1_user)
    assert client.get(reverse("alert:claim", args=[alert.pk])).status_code == 405


def test_an_alert_outside_the_users_reach_is_404(client, l1_user, t2_user, alert):
    client.force_login(t2_user)  # a new alert is L1 work
    assert client.get(reverse("alert:detail", args=[alert.pk])).status_code == 404
    assert _post(client, "t2_claim", alert).status_code == 404
    client.force_login(l1_user)
    assert client.get(reverse("alert:detail", args=[999999])).status_code == 404


def test_manager_reads_every_alert_but_gets_no_action_buttons(client, manager_user, alert):
    client.force_login(manager_user)
    page = client.get(reverse("alert:detail", args=[alert.pk])).content.decode()
    assert "Claim for L1 triage" not in page and "Escalate to T2" not in page


def test_l1_journey_over_http_with_htmx_fragments(client, l1_user, alert):
    client.force_login(l1_user)
    response = _post(client, "claim", alert, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="workflow"' in body and 'hx-swap-oob="true"' in body and "<html" not in body
    response = _post(
        client, "answer", alert, {"question": "unusual_parent", "value": "yes"}, headers=HX
    )
    assert "Recommendation" in response.content.decode() and "Escalate to T2" in (
        response.content.decode()
    )
    response = _post(client, "escalate", alert, headers=HX)
    assert response.status_code == 200
    assert Alert.objects.get(pk=alert.pk).status == Status.ESCALATED


def test_without_htmx_actions_redirect_and_errors_become_messages(client, l1_user, alert):
    client.force_login(l1_user)
    response = _post(client, "claim", alert)
    assert response.status_code == 302
    assert response["Location"] == reverse("alert:detail", args=[alert.pk])
    response = _post(client, "close", alert, {"disposition": "false_positive"}, follow=True)
    assert "reason for closing is required" in response.content.decode()
    assert Alert.objects.get(pk=alert.pk).status == Status.TRIAGE


def test_the_losing_claimant_is_told(client, l1_user, make_user, alert):
    services.claim(alert.pk, make_user("dave_l1", "l1"))
    client.force_login(l1_user)
    response = _post(client, "claim", alert, headers=HX)
    assert "already claimed by dave_l1" in response.content.decode()


def test_t2_journey_over_http(client, l1_user, t2_user, alert):
    services.claim(alert.pk, l1_user)
    services.answer(alert.pk, l1_user, "unusual_parent", "yes")
    services.escalate(alert.pk, l1_user)
    client.force_login(t2_user)
    assert _post(client, "t2_claim", alert, headers=HX).status_code == 200
    assert _post(client, "t2_accept", alert, headers=HX).status_code == 200
    version = Alert.objects.get(pk=alert.pk).playbook_run.playbook_version.parsed()
    for item in version.containment:
        _post(
            client,
            "t2_item",
            alert,
            {"section": "containment", "item": item.id, "state": "done", "evidence": "EDR"},
            headers=HX,
        )
    response = _post(
        client, "t2_close", alert, {"disposition": "true_positive", "reason": "done"}, headers=HX
    )
    assert "Closed" in response.content.decode()
    assert Alert.objects.get(pk=alert.pk).status == Status.CLOSED


def test_every_post_needs_a_csrf_token(l1_user, alert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(l1_user)
    for name in L1_ACTIONS:
        assert _post(client, name, alert).status_code == 403
    assert client.post(reverse("queue:bulk", args=["l1"]), {"ids": [alert.pk]}).status_code == 403
    assert Alert.objects.get(pk=alert.pk).status == Status.NEW
    # With the token from the page, the same POST goes through.
    page = client.get(reverse("alert:detail", args=[alert.pk]))
    token = page.cookies["csrftoken"].value
    response = _post(client, "claim", alert, headers={"X-CSRFToken": token})
    assert response.status_code == 302
    assert Alert.objects.get(pk=alert.pk).status == Status.TRIAGE


def test_queue_filters_sorting_and_grouping(client, l1_user, db):
    factories.load_playbooks()
    ps = factories.make_rule(name="PowerShell rule")
    js = factories.make_rule(name="NodeJS rule", techniques=("T1059", "T1059.007"), risk_score=21)
    factories.make_alert(ps, [factories.process_doc(host="HOST-A")])
    factories.make_alert(js, [factories.process_doc(host="HOST-B")], severity="low")
    factories.make_alert(js, [factories.process_doc(host="HOST-B")])
    client.force_login(l1_user)
    url = reverse("queue:l1")
    page = client.get(url + "?technique=T1059.007").content.decode()
    assert page.count("NodeJS rule</a>") == 2 and "PowerShell rule</a>" not in page
    page = client.get(url + "?host=HOST-A").content.decode()
    assert "PowerShell rule</a>" in page and "NodeJS rule</a>" not in page
    page = client.get(url + "?severity=low").content.decode()
    assert page.count("NodeJS rule</a>") == 1
    page = client.get(url + f"?rule={ps.pk}").content.decode()
    assert "PowerShell rule</a>" in page and "NodeJS rule</a>" not in page
    page = client.get(url + "?sort=risk").content.decode()
    assert page.index("PowerShell rule</a>") < page.index("NodeJS rule</a>")
    page = client.get(url + "?group=rule_host").content.decode()
    assert "HOST-B" in page and ">2<" in page
    fragment = client.get(url + "?assignee=none", headers={**HX, "HX-Target": "queue-results"})
    assert b"<html" not in fragment.content and b'id="queue-results"' in fragment.content


def test_new_alerts_banner_counts_alerts_since_the_page_was_drawn(client, l1_user, alert):
    client.force_login(l1_user)
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = client.get(reverse("queue:new_count", args=["l1"]), {"since": since}, headers=HX)
    assert "1 new alert — show" in response.content.decode()
    since = (timezone.now() + timedelta(minutes=1)).isoformat()
    response = client.get(reverse("queue:new_count", args=["l1"]), {"since": since}, headers=HX)
    assert "new alert" not in response.content.decode()


def test_bulk_claim_and_close_from_the_queue(client, l1_user, db):
    factories.load_playbooks()
    rule = factories.make_rule()
    alerts = [factories.make_alert(rule, [factories.process_doc()]) for _ in range(3)]
    client.force_login(l1_user)
    url = reverse("queue:bulk", args=["l1"])
    response = client.post(url, {"action": "claim", "ids": [alerts[0].pk]}, follow=True)
    assert "Claimed 1 alert" in response.content.decode()
    response = client.post(
        url,
        {"action": "close", "ids": [a.pk for a in alerts], "disposition": "false_positive"},
        follow=True,
    )
    assert "reason for closing is required" in response.content.decode()
    client.post(
        url,
        {
            "action": "close",
            "ids": [a.pk for a in alerts],
            "disposition": "false_positive",
            "reason": "test traffic",
        },
    )
    assert all(
        a.status == Status.CLOSED for a in Alert.objects.filter(pk__in=[a.pk for a in alerts])
    )


def test_bulk_actions_are_refused_to_managers(client, manager_user, alert):
    client.force_login(manager_user)
    response = client.post(
        reverse("queue:bulk", args=["l1"]), {"action": "claim", "ids": [alert.pk]}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("role", "page", "expected"),
    [
        ("l1", "queue:l1", 200),
        ("l1", "queue:t2", 403),
        ("t2", "queue:l1", 403),
        ("t2", "queue:t2", 200),
        ("manager", "queue:l1", 200),
        ("manager", "queue:t2", 200),
    ],
)
def test_queue_pages_per_role(client, make_user, db, role, page, expected):
    client.force_login(make_user(f"u_{role}", role))
    assert client.get(reverse(page)).status_code == expected


@pytest.mark.parametrize(("role", "stage"), [("l1", "t2"), ("t2", "l1"), ("manager", "l1")])
def test_bulk_actions_of_another_stage_are_refused(client, make_user, alert, role, stage):
    client.force_login(make_user(f"u_{role}", role))
    response = client.post(
        reverse("queue:bulk", args=[stage]), {"action": "claim", "ids": [alert.pk]}
    )
    assert response.status_code == 403
    assert Alert.objects.get(pk=alert.pk).status == Status.NEW


def test_a_t2_analyst_sees_only_escalated_stages_in_the_queue(client, t2_user, l1_user, alert):
    client.force_login(t2_user)
    assert (
        f'href="/alerts/{alert.pk}/"'
        not in client.get(reverse("queue:t2") + "?status=new").content.decode()
    )
    services.claim(alert.pk, l1_user)
    services.answer(alert.pk, l1_user, "unusual_parent", "yes")
    services.escalate(alert.pk, l1_user)
    assert f'href="/alerts/{alert.pk}/"' in client.get(reverse("queue:t2")).content.decode()


def test_history_is_read_only_in_the_admin(admin_client, alert):
    from triage.models import AlertEvent

    row = AlertEvent.objects.filter(alert=alert).first()
    url = reverse("admin:triage_alertevent_change", args=[row.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'type="submit"' not in page.content.split(b"<main")[-1]
    assert (
        admin_client.post(
            reverse("admin:triage_alertevent_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )


def test_a_refused_decision_keeps_what_the_analyst_typed(client, l1_user, alert):
    services.claim(alert.pk, l1_user)
    client.force_login(l1_user)
    response = _post(
        client,
        "close",
        alert,
        {"disposition": "false_positive", "reason": "Known admin script <b>x</b>"},
        headers=HX,
    )
    body = response.content.decode()
    assert response["HX-Retarget"] == "#workflow"
    assert "rationale" in body and "Known admin script &lt;b&gt;x&lt;/b&gt;</textarea>" in body


def test_a_user_with_both_roles_claims_for_the_queue_they_are_in(client, make_user, alert):
    both = make_user("both_roles", "l1", "t2")
    services.claim(alert.pk, both)
    services.answer(alert.pk, both, "unusual_parent", "yes")
    services.escalate(alert.pk, both)
    client.force_login(both)
    client.post(reverse("queue:bulk", args=["t2"]), {"action": "claim", "ids": [alert.pk]})
    assert Alert.objects.get(pk=alert.pk).status == Status.INVESTIGATING
