"""Login, landing pages per role, role checks on the server, and /healthz."""

import pytest
from django.urls import reverse

from conftest import TEST_PASSWORD


def _login(client, user):
    response = client.post(
        reverse("login"), {"username": user.username, "password": TEST_PASSWORD}, follow=True
    )
    return response


@pytest.mark.parametrize(
    ("role", "landing"),
    [("l1", "/queue/l1/"), ("t2", "/queue/t2/"), ("manager", "/manager/history/")],
)
def test_each_role_lands_on_its_own_page_after_login(client, make_user, role, landing):
    user = make_user(f"user_{role}", role)
    response = _login(client, user)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == landing


def test_login_with_a_wrong_password_is_refused_with_a_message(client, l1_user):
    response = client.post(reverse("login"), {"username": l1_user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
    assert "_auth_user_id" not in client.session


def test_pages_need_a_login(client):
    response = client.get(reverse("queue:l1"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_wrong_role_is_refused_by_the_server(client, l1_user):
    client.force_login(l1_user)
    assert client.get(reverse("manager:history")).status_code == 403
    assert client.get(reverse("queue:t2")).status_code == 403


def test_navigation_shows_only_what_the_role_may_use(client, l1_user, manager_user):
    client.force_login(l1_user)
    page = client.get(reverse("queue:l1")).content.decode()
    assert 'href="/queue/l1/"' in page
    assert 'href="/manager/history/"' not in page
    client.force_login(manager_user)
    page = client.get(reverse("manager:history")).content.decode()
    assert 'href="/manager/history/"' in page


def test_a_user_without_a_role_is_told_so(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get("/", follow=True)
    assert response.status_code == 403
    assert b"No role assigned" in response.content


def test_logout_ends_the_session(client, l1_user):
    client.force_login(l1_user)
    client.post(reverse("logout"))
    assert client.get(reverse("queue:l1")).status_code == 302


def test_pages_load_htmx_from_our_own_static_files_with_csrf_in_headers(client, l1_user):
    client.force_login(l1_user)
    page = client.get(reverse("queue:l1")).content.decode()
    assert "django_htmx/htmx" in page or "htmx.min.js" in page
    assert "unpkg.com" not in page and "cdn" not in page.lower()
    assert 'hx-headers=\'{"X-CSRFToken"' in page


def test_healthz_reports_database_and_broker(client, db):
    response = client.get("/healthz")
    body = response.json()
    assert body["database"] == "ok"
    assert response.status_code == (200 if body["broker"] != "unreachable" else 503)


def test_healthz_answers_503_when_the_broker_is_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}
