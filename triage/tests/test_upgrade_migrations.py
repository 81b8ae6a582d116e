"""An upgraded database keeps its rows, ids and links through the moves of the house:
ATT&CK techniques from triage to rules (rules/0008_attack_techniques,
triage/0008_techniques_moved_to_rules), and the model "Triage" renamed PlaybookRun, its answers
PlaybookAnswer (triage/0009_playbook_run)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

# The heads of both apps before the move.
BEFORE = [("rules", "0007_event_host_id_time_index"), ("triage", "0007_alert_facts")]
AFTER = [("rules", "0008_attack_techniques"), ("triage", "0008_techniques_moved_to_rules")]
RENAMED = [("triage", "0009_playbook_run")]


def _migrate(targets):
    """Migrate the test database to ``targets``; the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.fixture
def at_old_head():
    """The database at the heads before the move; migrated to the newest state afterwards,
    whatever the test did, so later tests find the schema they expect."""
    old_apps = _migrate(BEFORE)
    yield old_apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_techniques_rule_links_alert_links_and_playbooks_survive_the_move(at_old_head):
    old = at_old_head
    tactic = old.get_model("triage", "Tactic").objects.create(external_id="TA0002", name="Exec")
    technique_model = old.get_model("triage", "Technique")
    parent = technique_model.objects.create(external_id="T1059", name="Interp", tactic=tactic)
    sub = technique_model.objects.create(
        external_id="T1059.001", name="PowerShell", tactic=tactic, parent=parent
    )
    rule = old.get_model("rules", "DetectionRule").objects.create(
        rule_id="r-1", name="Rule", query="process where true"
    )
    rule.techniques.add(sub)
    alert = old.get_model("triage", "Alert").objects.create(
        key="k" * 64, rule=rule, rule_name="Rule", timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    alert.techniques.add(parent, sub)
    playbook = old.get_model("triage", "Playbook").objects.create(technique=sub, title="PS")

    new = _migrate(AFTER)

    moved = new.get_model("rules", "Technique").objects.get(pk=sub.pk)
    assert (moved.external_id, moved.parent_id, moved.tactic_id) == (
        "T1059.001",
        parent.pk,
        tactic.pk,
    )
    assert new.get_model("rules", "Tactic").objects.get(pk=tactic.pk).external_id == "TA0002"
    new_rule = new.get_model("rules", "DetectionRule").objects.get(pk=rule.pk)
    assert list(new_rule.techniques.values_list("pk", flat=True)) == [sub.pk]
    new_alert = new.get_model("triage", "Alert").objects.get(pk=alert.pk)
    assert sorted(new_alert.techniques.values_list("pk", flat=True)) == [parent.pk, sub.pk]
    assert new.get_model("triage", "Playbook").objects.get(pk=playbook.pk).technique_id == sub.pk
    # New rows get fresh ids after the renamed tables' own.
    added = new.get_model("rules", "Technique").objects.create(
        external_id="T1204", name="User Execution", tactic_id=tactic.pk
    )
    assert added.pk > sub.pk


@pytest.mark.django_db(transaction=True)
def test_a_triage_with_its_answers_and_checklist_survives_the_rename_to_playbook_run(at_old_head):
    old = at_old_head
    user = old.get_model("auth", "User").objects.create(username="l1-analyst")
    tactic = old.get_model("triage", "Tactic").objects.create(external_id="TA0002", name="Exec")
    technique = old.get_model("triage", "Technique").objects.create(
        external_id="T1059", name="Interp", tactic=tactic
    )
    rule = old.get_model("rules", "DetectionRule").objects.create(
        rule_id="r-2", name="Rule", query="process where true"
    )
    alert = old.get_model("triage", "Alert").objects.create(
        key="m" * 64, rule=rule, rule_name="Rule", timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    playbook = old.get_model("triage", "Playbook").objects.create(technique=technique, title="I")
    version = old.get_model("triage", "PlaybookVersion").objects.create(
        playbook=playbook, version=1, content={}, content_hash="h"
    )
    triage = old.get_model("triage", "Triage").objects.create(
        alert=alert, playbook_version=version, l1_analyst=user
    )
    old.get_model("triage", "TriageAnswer").objects.create(
        triage=triage, question_id="q1", value="yes", answered_by=user
    )
    old.get_model("triage", "ChecklistEntry").objects.create(
        triage=triage, section="containment", item_id="isolate", state="done", updated_by=user
    )

    new = _migrate(RENAMED)

    run = new.get_model("triage", "PlaybookRun").objects.get(pk=triage.pk)
    assert (run.alert_id, run.playbook_version_id, run.l1_analyst_id) == (
        alert.pk,
        version.pk,
        user.pk,
    )
    answer = new.get_model("triage", "PlaybookAnswer").objects.get(run=run)
    assert (answer.question_id, answer.value) == ("q1", "yes")
    entry = new.get_model("triage", "ChecklistEntry").objects.get(run=run)
    assert (entry.item_id, entry.state) == ("isolate", "done")
    # One answer per question per run still holds after the rename.
    with pytest.raises(IntegrityError), transaction.atomic():
        new.get_model("triage", "PlaybookAnswer").objects.create(
            run=run, question_id="q1", value="no", answered_by_id=user.pk
        )
