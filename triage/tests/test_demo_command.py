"""`manage.py demo` creates one user per role and is safe to re-run."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from triage import roles


@pytest.mark.django_db
def test_demo_creates_one_user_per_role_with_the_chosen_password(monkeypatch, capsys):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-for-tests-123")
    call_command("demo", "--skip-data")

    for username, role in [("l1", roles.L1), ("t2", roles.T2), ("manager", roles.MANAGER)]:
        user = authenticate(username=username, password="demo-pass-for-tests-123")
        assert user is not None, username
        assert roles.roles_of(user) == {role}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff


@pytest.mark.django_db
def test_demo_prints_a_generated_password_once_and_keeps_it_on_rerun(monkeypatch, capsys):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("demo", "--skip-data")
    first = capsys.readouterr().out
    assert "created with password:" in first
    password = first.split("created with password:")[1].split()[0]

    call_command("demo", "--skip-data")
    second = capsys.readouterr().out
    assert "passwords are unchanged" in second
    assert authenticate(username="l1", password=password) is not None
    assert get_user_model().objects.filter(username="l1").count() == 1
