"""The alert workflow in services.py: claims, answers, recommendation, decisions, T2, history."""

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections

from triage import services
from triage.models import (
    Alert,
    AlertEvent,
    AppendOnlyError,
    Playbook,
    PlaybookAnswer,
    PlaybookVersion,
    Status,
)
from triage.tests import factories
from triage.tests.factories import fast_password_hashing  # noqa: F401 - autouse fixture

ESCALATE_ANSWERS = {"credential_or_lateral": "yes"}
# Every relevant T1059.001 question answered benign: the playbook recommends close.
CLOSE_ANSWERS = {
    "expected_user": "yes",
    "known_management_tool": "yes",
    "unusual_parent": "no",
    "obfuscated": "no",
    "stealth_flags": "no",
    "download_cradle": "no",
    "defense_evasion": "no",
    "follow_on": "no",
    "credential_or_lateral": "no",
    "decoded_script": "Get-ChildItem C:\\Deploy (ConfigMgr inventory script)",
}


@pytest.fixture
def alert(db):
    factories.load_playbooks()
    return factories.make_alert()


def kinds(alert):
    return list(alert.history.order_by("pk").values_list("kind", flat=True))


def answer_all(alert, user, answers):
    for qid, value in answers.items():
        services.answer(alert.pk, user, qid, value)


def test_claim_moves_new_to_triage_and_pins_the_current_playbook_version(alert, l1_user):
    services.claim(alert.pk, l1_user)
    alert.refresh_from_db()
    assert (alert.status, alert.assignee) == (Status.TRIAGE, l1_user)
    assert alert.playbook_run.playbook_version.playbook.technique.external_id == "T1059.001"
    assert kinds(alert) == ["raised", "claimed"]


def test_a_second_claim_is_refused_and_names_the_winner(alert, l1_user, make_user):
    other = make_user("dave_l1", "l1")
    services.claim(alert.pk, l1_user)
    with pytest.raises(services.AlreadyClaimed, match="alice_l1"):
        services.claim(alert.pk, other)
    assert Alert.objects.get(pk=alert.pk).assignee == l1_user
    assert kinds(alert).count("claimed") == 1


@pytest.mark.django_db(transaction=True)
def test_two_analysts_claiming_at_the_same_moment_one_wins(make_user):
    factories.ensure_role_groups()  # a flush by an earlier transactional test removes them
    factories.load_playbooks()
    alert = factories.make_alert()
    users = [make_user(f"racer{i}", "l1") for i in range(4)]
    barrier = threading.Barrier(len(users))
    outcomes = []

    def race(user):
        try:
            barrier.wait()
            services.claim(alert.pk, user)
            outcomes.append("won")
        except services.AlreadyClaimed:
            outcomes.append("lost")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert AlertEvent.objects.filter(alert=alert, kind="claimed").count() == 1


def test_the_most_specific_playbook_wins(db):
    factories.load_playbooks()
    rule = factories.make_rule(techniques=("T1059", "T1059.007"))
    alert = factories.make_alert(rule)
    assert services.playbook_for(alert).technique.external_id == "T1059.007"
    generic = factories.make_alert(factories.make_rule(techniques=("T1059",)))
    assert services.playbook_for(generic).technique.external_id == "T1059"


def test_answers_are_saved_as_they_go_and_drive_the_recommendation(alert, l1_user):
    services.claim(alert.pk, l1_user)
    run = Alert.objects.get(pk=alert.pk).playbook_run
    assert services.recommendation_for(run).decision == "undecided"
    services.answer(alert.pk, l1_user, "unusual_parent", "YES", "wscript parent")
    rec = services.recommendation_for(run)
    assert rec.decision == "escalate"
    assert any("unusual parent" in r for r in rec.reasons)
    services.answer(alert.pk, l1_user, "unusual_parent", "yes", "wscript parent")  # unchanged
    assert kinds(alert).count("answered") == 1
    event = alert.history.get(kind="answered")
    assert event.data == {
        "question": "unusual_parent",
        "answer": "yes",
        "note": "wscript parent",
        "playbook_version": run.playbook_version_id,
    }


def test_bad_answers_are_refused(alert, l1_user):
    services.claim(alert.pk, l1_user)
    with pytest.raises(services.WorkflowError):
        services.answer(alert.pk, l1_user, "unusual_parent", "maybe")
    with pytest.raises(services.WorkflowError):
        services.answer(alert.pk, l1_user, "no_such_question", "yes")
    with pytest.raises(services.WorkflowError):
        services.answer(alert.pk, l1_user, "decoded_script", "   ")


def test_only_the_assigned_l1_can_answer(alert, l1_user, make_user):
    other = make_user("dave_l1", "l1")
    services.claim(alert.pk, l1_user)
    with pytest.raises(services.WorkflowError):
        services.answer(alert.pk, other, "unusual_parent", "yes")


def test_escalating_with_the_recommendation_records_decision_and_version(alert, l1_user):
    services.claim(alert.pk, l1_user)
    answer_all(alert, l1_user, ESCALATE_ANSWERS)
    services.escalate(alert.pk, l1_user)
    alert.refresh_from_db()
    assert alert.status == Status.ESCALATED and alert.assignee is None
    assert kinds(alert)[-2:] == ["recommendation", "escalated"]
    escalated = alert.history.get(kind="escalated")
    assert escalated.from_status == "triage" and escalated.to_status == "escalated"
    assert escalated.data["recommendation"] == "escalate"
    assert escalated.data["override"] is False
    assert escalated.data["playbook"] == "T1059.001"
    assert escalated.data["playbook_version"] == alert.playbook_run.playbook_version_id
    snapshot = alert.history.get(kind="recommendation").data
    assert snapshot["met_criteria"] == ["credential_or_lateral"] and snapshot["urgent"] is True


def test_escalating_against_a_close_recommendation_needs_a_rationale(alert, l1_user):
    services.claim(alert.pk, l1_user)
    answer_all(alert, l1_user, CLOSE_ANSWERS)
    with pytest.raises(services.WorkflowError, match="rationale"):
        services.escalate(alert.pk, l1_user)
    services.escalate(alert.pk, l1_user, "Same user tripped two other rules today")
    data = alert.history.get(kind="escalated").data
    assert data["override"] is True and data["recommendation"] == "close"
    assert data["rationale"].startswith("Same user")


def test_closing_needs_disposition_reason_and_against_advice_a_rationale(alert, l1_user):
    services.claim(alert.pk, l1_user)
    with pytest.raises(services.WorkflowError, match="disposition"):
        services.close_l1(alert.pk, l1_user, "", "noise")
    with pytest.raises(services.WorkflowError, match="reason"):
        services.close_l1(alert.pk, l1_user, "false_positive", "  ")
    with pytest.raises(services.WorkflowError, match="rationale"):
        services.close_l1(alert.pk, l1_user, "false_positive", "noise")  # still undecided
    answer_all(alert, l1_user, CLOSE_ANSWERS)
    services.close_l1(alert.pk, l1_user, "benign_true_positive", "ConfigMgr inventory")
    alert.refresh_from_db()
    assert alert.status == Status.CLOSED and alert.closed_at is not None
    assert alert.disposition == "benign_true_positive"
    closed = alert.history.get(kind="closed")
    assert closed.data["stage"] == "l1" and closed.data["override"] is False
    assert closed.data["recommendation"] == "close"


def test_a_new_playbook_version_does_not_change_a_running_triage(alert, l1_user):
    services.claim(alert.pk, l1_user)
    pinned = Alert.objects.get(pk=alert.pk).playbook_run.playbook_version
    playbook = Playbook.objects.get(technique__external_id="T1059.001")
    content = dict(pinned.content, title="Edited title", version=2)
    PlaybookVersion.objects.create(
        playbook=playbook, version=2, content=content, content_hash="edited"
    )
    services.answer(alert.pk, l1_user, "unusual_parent", "yes")
    run = Alert.objects.get(pk=alert.pk).playbook_run
    assert run.playbook_version == pinned
    fresh = factories.make_alert(alert.rule, [factories.process_doc()])
    services.claim(fresh.pk, l1_user)
    assert Alert.objects.get(pk=fresh.pk).playbook_run.playbook_version.version == 2


def test_l1_steps_checklist(alert, l1_user):
    services.claim(alert.pk, l1_user)
    services.set_checklist_item(alert.pk, l1_user, "l1_steps", "decode_command", "done", "IEX")
    event = alert.history.get(kind="step_checked")
    assert event.data["item"] == "decode_command" and event.data["state"] == "done"
    with pytest.raises(services.WorkflowError):
        services.set_checklist_item(alert.pk, l1_user, "l1_steps", "nope", "done")
    with pytest.raises(PermissionDenied):
        services.set_checklist_item(alert.pk, l1_user, "containment", "isolate_host", "done")


def _escalated(alert, l1_user):
    services.claim(alert.pk, l1_user)
    answer_all(alert, l1_user, ESCALATE_ANSWERS)
    services.escalate(alert.pk, l1_user)


def test_t2_claims_accepts_contains_and_closes(alert, l1_user, t2_user):
    _escalated(alert, l1_user)
    services.t2_claim(alert.pk, t2_user)
    services.set_checklist_item(
        alert.pk, t2_user, "t2_actions", "analyse_script", "done", "", "case-7"
    )
    services.t2_accept(alert.pk, t2_user)
    with pytest.raises(services.WorkflowError, match="containment"):
        services.t2_close(alert.pk, t2_user, "true_positive", "contained")
    version = Alert.objects.get(pk=alert.pk).playbook_run.playbook_version.parsed()
    for item in version.containment:
        state = "not_applicable" if item.id == "reset_credentials" else "done"
        services.set_checklist_item(alert.pk, t2_user, "containment", item.id, state, "", "EDR-1")
    services.t2_close(alert.pk, t2_user, "true_positive", "contained and cleaned")
    alert.refresh_from_db()
    assert alert.status == Status.CLOSED
    assert kinds(alert)[-1] == "closed"
    assert {"t2_claimed", "t2_accepted", "action_done", "containment_item"} <= set(kinds(alert))
    transitions = [
        (e.from_status, e.to_status) for e in alert.history.order_by("pk") if e.to_status
    ]
    assert transitions == [
        ("", "new"),
        ("new", "triage"),
        ("triage", "escalated"),
        ("escalated", "investigating"),
        ("investigating", "containment"),
        ("containment", "closed"),
    ]


def test_t2_return_goes_back_to_the_l1_who_escalated(alert, l1_user, t2_user):
    _escalated(alert, l1_user)
    services.t2_claim(alert.pk, t2_user)
    with pytest.raises(services.WorkflowError):
        services.t2_return(alert.pk, t2_user, "")
    services.t2_return(alert.pk, t2_user, "Answer the follow-on question first")
    alert.refresh_from_db()
    assert (alert.status, alert.assignee) == (Status.TRIAGE, l1_user)
    event = alert.history.get(kind="returned")
    assert event.data == {"reason": "Answer the follow-on question first", "to_user": l1_user.pk}
    # The L1 analyst can work it again and answers are still there.
    assert PlaybookAnswer.objects.filter(run__alert=alert).exists()
    services.answer(alert.pk, l1_user, "follow_on", "yes")


def test_roles_are_checked_in_the_services_too(alert, l1_user, t2_user, manager_user):
    with pytest.raises(PermissionDenied):
        services.claim(alert.pk, t2_user)
    with pytest.raises(PermissionDenied):
        services.claim(alert.pk, manager_user)
    _escalated(alert, l1_user)
    with pytest.raises(PermissionDenied):
        services.t2_claim(alert.pk, l1_user)


def test_bulk_claim_and_close_audit_each_alert(db, l1_user, make_user):
    factories.load_playbooks()
    rule = factories.make_rule()
    alerts = [factories.make_alert(rule, [factories.process_doc()]) for _ in range(4)]
    other = make_user("dave_l1", "l1")
    services.claim(alerts[0].pk, other)
    result = services.bulk_claim([a.pk for a in alerts[:2]], l1_user)
    assert result.done == [alerts[1].pk] and result.skipped[0][0] == alerts[0].pk
    with pytest.raises(services.WorkflowError):
        services.bulk_close([alerts[2].pk], l1_user, "true_positive", "no")
    result = services.bulk_close([a.pk for a in alerts], l1_user, "duplicate", "same as #1")
    assert result.done == [alerts[1].pk, alerts[2].pk, alerts[3].pk]
    for a in alerts[1:]:
        event = a.history.get(kind="closed")
        assert event.data["stage"] == "bulk" and event.data["disposition"] == "duplicate"
        assert event.data["reason"] == "same as #1"


def test_history_rows_cannot_be_changed_or_deleted_through_the_orm(alert):
    row = alert.history.first()
    row.kind = "tampered"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        AlertEvent.objects.filter(pk=row.pk).update(kind="x")
    with pytest.raises(AppendOnlyError):
        AlertEvent.objects.filter(pk=row.pk).delete()


def test_the_database_trigger_rejects_update_and_delete_of_history(alert):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    from django.db import DatabaseError, transaction

    row = alert.history.first()
    for sql in (
        "UPDATE triage_alertevent SET kind = 'x' WHERE id = %s",
        "DELETE FROM triage_alertevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [row.pk])
    assert AlertEvent.objects.get(pk=row.pk).kind == "raised"
