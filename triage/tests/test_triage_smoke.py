"""Every triage screen renders for every role (a quick net for template errors)."""

import pytest
from django.urls import reverse

from triage import services
from triage.tests import factories
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture


@pytest.fixture
def alert(db):
    factories.load_playbooks()
    return factories.make_alert(store=True)


@pytest.mark.parametrize("tab", ["events", "tree", "timeline", "history", "guide"])
def test_alert_page_renders_each_tab(client, l1_user, alert, tab):
    client.force_login(l1_user)
    response = client.get(reverse("alert:detail", args=[alert.pk]) + f"?tab={tab}")
    assert response.status_code == 200, response.content[:2000]
    response = client.get(
        reverse("alert:detail", args=[alert.pk]) + f"?tab={tab}",
        headers={"HX-Request": "true", "HX-Target": "tab-content"},
    )
    assert response.status_code == 200
    assert b"<html" not in response.content


def test_queues_render(client, l1_user, t2_user, manager_user, alert):
    client.force_login(l1_user)
    assert client.get(reverse("queue:l1")).status_code == 200
    assert client.get(reverse("queue:l1") + "?group=rule_host").status_code == 200
    client.force_login(t2_user)
    assert client.get(reverse("queue:t2")).status_code == 200
    client.force_login(manager_user)
    assert client.get(reverse("queue:l1") + "?status=all").status_code == 200
    assert client.get(reverse("queue:t2")).status_code == 200


def test_workflow_panel_renders_in_every_state(client, l1_user, t2_user, alert):
    client.force_login(l1_user)
    url = reverse("alert:detail", args=[alert.pk])
    services.claim(alert.pk, l1_user)
    assert client.get(url).status_code == 200
    services.escalate(alert.pk, l1_user)
    services.t2_claim(alert.pk, t2_user)
    client.force_login(t2_user)
    assert client.get(url).status_code == 200
    services.t2_accept(alert.pk, t2_user)
    assert client.get(url).status_code == 200
