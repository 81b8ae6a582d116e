"""load_playbooks and load_demo_data: idempotent, versioned, and the demo covers every state."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rules.models import Technique
from triage.models import Alert, AlertEvent, Playbook, PlaybookVersion, Status
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _copy_playbooks(tmp_path):
    from triage.playbook_files import default_directory

    for path in default_directory().glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    return tmp_path


def test_load_playbooks_is_idempotent_and_versions_edits(db, tmp_path):
    folder = _copy_playbooks(tmp_path)
    assert "0 unchanged" in run("load_playbooks", str(folder))
    count = PlaybookVersion.objects.count()
    assert count == Playbook.objects.count() >= 4
    assert "0 new," in run("load_playbooks", str(folder))
    assert PlaybookVersion.objects.count() == count
    assert set(Technique.objects.values_list("external_id", flat=True)) >= {
        "T1059", "T1059.001", "T1059.003", "T1059.005", "T1059.007"
    }  # fmt: skip
    path = folder / "T1059.001.yaml"
    edited = path.read_text().replace('title: "', 'title: "Edited ', 1)
    path.write_text(edited)
    with pytest.raises(CommandError, match="increase version"):
        run("load_playbooks", str(folder))
    path.write_text(edited.replace("version: 1", "version: 2", 1))
    assert "1 new versions" in run("load_playbooks", str(folder))
    versions = PlaybookVersion.objects.filter(playbook__technique__external_id="T1059.001")
    assert sorted(versions.values_list("version", flat=True)) == [1, 2]


def test_load_demo_data_covers_every_state_and_adds_nothing_twice(db):
    run("load_playbooks")
    run("import_rules", "rules/library")
    run("load_demo_data")
    alerts = Alert.objects.count()
    events = AlertEvent.objects.count()
    for rule_name in Alert.objects.values_list("rule_name", flat=True).distinct():
        states = set(Alert.objects.filter(rule_name=rule_name).values_list("status", flat=True))
        assert states == set(Status.values), rule_name
    assert AlertEvent.objects.filter(kind="returned").exists()
    assert AlertEvent.objects.filter(kind="closed", data__stage="bulk").exists()
    # History is in time order for every alert, and all of it lies in the past.
    for alert in Alert.objects.all():
        times = list(alert.history.order_by("pk").values_list("created_at", flat=True))
        assert times == sorted(times), alert.pk
    assert "walked: nothing new" in run("load_demo_data")
    assert (Alert.objects.count(), AlertEvent.objects.count()) == (alerts, events)
