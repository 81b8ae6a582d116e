"""Workflow transitions of an alert: claims, answers, checklists, escalation, return, close.

Every function here checks the actor's role and the alert's state itself against the one
transition table, ``triage.workflow`` (the views offer what that table allows),
changes the alert with a compare-and-set ``UPDATE … WHERE <expected state>`` so that two
analysts acting at once cannot both win, and writes one or more ``AlertEvent`` rows in the same
transaction. Nothing here (or anywhere) updates or deletes an ``AlertEvent``.

Statuses::

    new ──claim──► triage ──escalate──► escalated ──t2_claim──► investigating ──accept──► containment
     │               │                                              │    │                     │
     └─bulk close──► closed ◄──────────close (L1)───────────────────┘    └─return─► triage     │
                     ▲ ◄────────────────────────close (T2)──────────────────────────────────────┘

A T2 **return** sends the alert back to ``triage`` *with the L1 analyst who escalated it as
assignee* (the person with the context gets it back, and sees the reason on the alert). If no L1
analyst is known (an alert escalated by an admin script), it goes back to ``new``, unassigned.

AlertEvent kinds (``from_status``/``to_status`` are set only when the status changes; the
manager's metrics are computed from these rows, so the names and ``data`` keys are a contract):

``raised``          by detection (actor empty): ``{"rule_id", "event_ids"}``.
``claimed``         L1 claim, new → triage: ``{"bulk": bool}``.
``answered``        ``{"question", "answer", "note", "playbook_version"}`` (answer is the value).
``step_checked``    L1 additional step: ``{"section": "l1_steps", "item", "state", "note"}``.
``recommendation``  snapshot at L1 decision time: ``Recommendation.to_dict()`` plus
                    ``{"playbook", "playbook_version"}``; written just before ``escalated`` or an
                    L1 ``closed``.
``escalated``       triage → escalated: ``{"recommendation": "escalate"|"close"|"undecided"|None,
                    "decision": "escalate", "override": bool, "rationale", "playbook",
                    "playbook_version"}``.
``closed``          → closed: ``{"stage": "l1"|"t2"|"bulk", "disposition", "reason",
                    "recommendation", "override", "rationale", "playbook_version"}``.
``t2_claimed``      escalated → investigating: ``{"bulk": bool}``.
``t2_accepted``     investigating → containment: ``{"note"}``.
``returned``        investigating → triage (or new): ``{"reason", "to_user"}`` (user id or None).
``action_done``     T2 action checklist: ``{"section": "t2_actions", "item", "state", "note",
                    "evidence"}``.
``containment_item`` containment checklist: same keys with ``"section": "containment"``.

"override" means the decision differs from the recommendation: escalating when the playbook
recommends close, or closing when it recommends escalate *or is still undecided*. An override
needs a rationale. ``playbook_version`` is the PlaybookVersion id, ``playbook`` its technique id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction

from rules import catalog
from triage import roles, workflow
from triage.models import (
    Alert,
    AlertEvent,
    ChecklistEntry,
    ChecklistSection,
    ChecklistState,
    Disposition,
    Playbook,
    PlaybookAnswer,
    PlaybookRun,
    Status,
    _clock,
    recorded_now,
)
from triage.playbook_format import CHOICES, TEXT, YES_NO_UNKNOWN
from triage.recommendation import CLOSE, ESCALATE, Recommendation, recommend

MAX_TEXT = 20_000
BULK_CLOSE_DISPOSITIONS = (Disposition.DUPLICATE, Disposition.FALSE_POSITIVE)
CHECKLIST_KINDS = {
    ChecklistSection.L1_STEPS: "step_checked",
    ChecklistSection.T2_ACTIONS: "action_done",
    ChecklistSection.CONTAINMENT: "containment_item",
}


def now() -> datetime:
    """The time transitions are recorded at: the real time, or the demo generator's clock."""
    return recorded_now()


@contextlib.contextmanager
def clock(when: datetime):
    """Record transitions inside the block as happening at ``when`` (demo data replay only)."""
    token = _clock.set(when)
    try:
        yield
    finally:
        _clock.reset(token)


class WorkflowError(Exception):
    """A transition that the alert's current state does not allow; the message is for users."""


class AlreadyClaimed(WorkflowError):
    pass


def _require_role(user, action: str) -> None:
    """PermissionDenied unless the user holds the role that ``action`` belongs to."""
    if not roles.has_role(user, workflow.required_role(action)):
        raise PermissionDenied


# What a user is told when the alert's state no longer allows their action.
REFUSALS = {
    roles.L1: "Only the L1 analyst who claimed this alert can work on it now.",
    roles.T2: "Only the T2 analyst who claimed this alert can do that now.",
}


def _lock_for(alert_id: int, user, action: str, refusal: str = "") -> Alert:
    """The alert, locked for the transaction, if its state lets ``user`` take ``action``;
    else :class:`WorkflowError` with ``refusal`` (by default, its role's)."""
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if not workflow.state_allows(action, alert, user):
        raise WorkflowError(refusal or REFUSALS[workflow.required_role(action)])
    return alert


def record(alert: Alert, actor, kind: str, from_status="", to_status="", **data) -> AlertEvent:
    """Append one history row."""
    return AlertEvent.objects.create(
        alert=alert,
        created_at=now(),
        actor=actor,
        kind=kind,
        from_status=from_status or "",
        to_status=to_status or "",
        data=data,
    )


def _clean_text(value: str | None, what: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise WorkflowError(f"{what} is required.")
    if len(text) > MAX_TEXT:
        raise WorkflowError(f"{what} is longer than {MAX_TEXT} characters.")
    return text


# --- playbooks ------------------------------------------------------------------------------


def playbook_for(alert: Alert) -> Playbook | None:
    """The most specific playbook among the alert's techniques (a sub-technique before its
    parent; then the lowest id), falling back to the rule's techniques."""
    candidates = list(
        Playbook.objects.filter(technique__alerts=alert).select_related("technique")
    ) or list(Playbook.objects.filter(technique__rules=alert.rule_id).select_related("technique"))
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda p: (-p.technique.external_id.count("."), p.technique.external_id),
    )


def run_of(alert: Alert) -> PlaybookRun | None:
    """The alert's playbook run with its playbook version (content left deferred: the parsed
    playbook is cached by content hash, so the JSON is read only on a cache miss)."""
    return (
        PlaybookRun.objects.select_related("playbook_version__playbook__technique")
        .defer("playbook_version__content")
        .filter(alert=alert)
        .first()
    )


def _ensure_run(alert: Alert, **defaults) -> PlaybookRun:
    playbook = playbook_for(alert)
    version = playbook.current_version() if playbook else None
    run, created = PlaybookRun.objects.get_or_create(
        alert=alert, defaults={"playbook_version": version, **defaults}
    )
    if not created and defaults:
        changed = [k for k, v in defaults.items() if getattr(run, f"{k}_id", None) is None]
        for key in changed:
            setattr(run, key, defaults[key])
        if changed:
            run.save(update_fields=changed)
    return run


def answers_of(run: PlaybookRun | None) -> dict[str, PlaybookAnswer]:
    if run is None:
        return {}
    return {a.question_id: a for a in run.answers.all()}


def recommendation_for(run: PlaybookRun | None) -> Recommendation | None:
    """The recommendation from the run's playbook version and current answers."""
    if run is None or run.playbook_version is None:
        return None
    answers = {qid: {"value": a.value} for qid, a in answers_of(run).items()}
    return recommend(run.playbook_version.parsed(), answers)


def _version_ref(run: PlaybookRun | None) -> tuple[str | None, int | None]:
    if run is None or run.playbook_version is None:
        return None, None
    version = run.playbook_version
    return version.playbook.technique.external_id, version.pk


# --- L1 -------------------------------------------------------------------------------------


def claim(alert_id: int, user, *, bulk: bool = False) -> Alert:
    """Claim a new alert for L1 triage. Compare-and-set: of two analysts claiming at once,
    exactly one wins; the other gets :class:`AlreadyClaimed`."""
    _require_role(user, workflow.CLAIM)
    with transaction.atomic():
        won = Alert.objects.filter(pk=alert_id, assignee__isnull=True, status=Status.NEW).update(
            assignee=user, status=Status.TRIAGE, updated_at=now()
        )
        if not won:
            current = Alert.objects.filter(pk=alert_id).select_related("assignee").first()
            if current and current.assignee_id:
                raise AlreadyClaimed(f"Alert {alert_id} was already claimed by {current.assignee}.")
            raise AlreadyClaimed(f"Alert {alert_id} can no longer be claimed.")
        alert = Alert.objects.get(pk=alert_id)
        record(alert, user, "claimed", Status.NEW, Status.TRIAGE, bulk=bulk)
        _ensure_run(alert, l1_analyst=user)
    return alert


def answer(alert_id: int, user, question_id: str, value: str, note: str = "") -> PlaybookAnswer:
    """Save (or change) the answer to one playbook question; writes ``answered`` when the
    answer or note changed."""
    _require_role(user, workflow.ANSWER)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.ANSWER)
        run = _ensure_run(alert, l1_analyst=user)
        if run.playbook_version is None:
            raise WorkflowError("This alert has no playbook.")
        try:
            question = run.playbook_version.parsed().question(question_id)
        except KeyError:
            raise WorkflowError("Unknown question.") from None
        value = (value or "").strip()
        if question.type == YES_NO_UNKNOWN:
            value = value.lower()
            if value not in CHOICES:
                raise WorkflowError("Answer yes, no or unknown.")
        elif question.type == TEXT:
            value = _clean_text(value, "The answer", required=True)
        note = _clean_text(note, "The note", required=False)
        existing = PlaybookAnswer.objects.filter(run=run, question_id=question_id).first()
        if existing and existing.value == value and existing.note == note:
            return existing
        if existing:
            existing.value, existing.note, existing.answered_by = value, note, user
            existing.save()
        else:
            existing = PlaybookAnswer.objects.create(
                run=run, question_id=question_id, value=value, note=note, answered_by=user
            )
        record(
            alert,
            user,
            "answered",
            question=question_id,
            answer=value,
            note=note,
            playbook_version=run.playbook_version_id,
        )
    return existing


def set_checklist_item(
    alert_id: int, user, section: str, item_id: str, state: str, note: str = "", evidence: str = ""
) -> ChecklistEntry:
    """Mark an L1 step, T2 action or containment item done / not applicable / open again."""
    if section not in ChecklistSection.values:
        raise WorkflowError("Unknown checklist.")
    if state not in ChecklistState.values:
        raise WorkflowError("Unknown state.")
    # Each checklist section is an action of the workflow table, named after it.
    _require_role(user, section)
    with transaction.atomic():
        alert = _lock_for(
            alert_id, user, section, "This checklist cannot be changed by you in the alert's state."
        )
        run = _ensure_run(alert)
        if run.playbook_version is None:
            raise WorkflowError("This alert has no playbook.")
        items = getattr(run.playbook_version.parsed(), section)
        if item_id not in {item.id for item in items}:
            raise WorkflowError("Unknown checklist item.")
        note = _clean_text(note, "The note", required=False)
        evidence = _clean_text(evidence, "The evidence", required=False)
        entry, _ = ChecklistEntry.objects.update_or_create(
            run=run,
            section=section,
            item_id=item_id,
            defaults={"state": state, "note": note, "evidence": evidence, "updated_by": user},
        )
        data = {"section": section, "item": item_id, "state": state, "note": note}
        if section != ChecklistSection.L1_STEPS:
            data["evidence"] = evidence
        record(alert, user, CHECKLIST_KINDS[section], **data)
    return entry


def _decision_snapshot(alert: Alert, user, run: PlaybookRun | None) -> Recommendation | None:
    rec = recommendation_for(run)
    technique, version_id = _version_ref(run)
    if rec is not None:
        record(
            alert,
            user,
            "recommendation",
            **rec.to_dict(),
            playbook=technique,
            playbook_version=version_id,
        )
    return rec


def escalate(alert_id: int, user, rationale: str = "") -> Alert:
    """L1 escalates to T2 (unassigned, for any T2 analyst to claim). Against a "close"
    recommendation it needs a rationale."""
    _require_role(user, workflow.ESCALATE)
    rationale = _clean_text(rationale, "The rationale", required=False)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.ESCALATE)
        run = _ensure_run(alert, l1_analyst=user)
        rec = recommendation_for(run)
        override = rec is not None and rec.decision == CLOSE
        if override and not rationale:
            raise WorkflowError(
                "The playbook recommends closing: say why you escalate (rationale)."
            )
        _decision_snapshot(alert, user, run)
        Alert.objects.filter(pk=alert.pk).update(
            status=Status.ESCALATED, assignee=None, updated_at=now()
        )
        technique, version_id = _version_ref(run)
        record(
            alert,
            user,
            "escalated",
            Status.TRIAGE,
            Status.ESCALATED,
            recommendation=rec.decision if rec else None,
            decision=ESCALATE,
            override=override,
            rationale=rationale,
            playbook=technique,
            playbook_version=version_id,
        )
    alert.refresh_from_db()
    return alert


def _validate_close(disposition: str, reason: str) -> tuple[str, str]:
    if disposition not in Disposition.values:
        raise WorkflowError("Choose a disposition.")
    return disposition, _clean_text(reason, "A reason for closing", required=True)


def close_l1(alert_id: int, user, disposition: str, reason: str, rationale: str = "") -> Alert:
    """L1 closes an alert in triage. Unless the playbook recommends close, this is an override
    and needs a rationale."""
    _require_role(user, workflow.CLOSE)
    disposition, reason = _validate_close(disposition, reason)
    rationale = _clean_text(rationale, "The rationale", required=False)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.CLOSE)
        run = _ensure_run(alert, l1_analyst=user)
        rec = recommendation_for(run)
        override = rec is not None and rec.decision != CLOSE
        if override and not rationale:
            raise WorkflowError(
                f"The playbook's recommendation is {rec.decision}: say why you close (rationale)."
            )
        _decision_snapshot(alert, user, run)
        _close(alert, user, "l1", disposition, reason, rec, override, rationale, run)
    alert.refresh_from_db()
    return alert


def _close(alert, user, stage, disposition, reason, rec, override, rationale, run) -> None:
    when = now()
    from_status = alert.status
    Alert.objects.filter(pk=alert.pk).update(
        status=Status.CLOSED,
        disposition=disposition,
        close_reason=reason,
        closed_at=when,
        updated_at=when,
    )
    _, version_id = _version_ref(run)
    record(
        alert,
        user,
        "closed",
        from_status,
        Status.CLOSED,
        stage=stage,
        disposition=disposition,
        reason=reason,
        recommendation=rec.decision if rec else None,
        override=override,
        rationale=rationale,
        playbook_version=version_id,
    )


@dataclass
class BulkResult:
    done: list[int]
    skipped: list[tuple[int, str]]


def bulk_claim(alert_ids: Iterable[int], user, stage: str = "l1") -> BulkResult:
    """Claim each alert for ``stage`` (l1: new ones; t2: escalated ones); each claim is
    audited alone."""
    result = BulkResult([], [])
    for alert_id in alert_ids:
        try:
            if stage == "l1":
                claim(alert_id, user, bulk=True)
            else:
                t2_claim(alert_id, user, bulk=True)
            result.done.append(alert_id)
        except WorkflowError as exc:
            result.skipped.append((alert_id, str(exc)))
    return result


def bulk_close(alert_ids: Iterable[int], user, disposition: str, reason: str) -> BulkResult:
    """L1 closes noise from the queue as duplicate or false positive: new alerts (unassigned)
    or alerts in triage assigned to the user. Each close is audited alone (stage "bulk")."""
    _require_role(user, workflow.BULK_CLOSE)
    if disposition not in BULK_CLOSE_DISPOSITIONS:
        raise WorkflowError("Bulk close is for duplicates and false positives only.")
    disposition, reason = _validate_close(disposition, reason)
    result = BulkResult([], [])
    for alert_id in alert_ids:
        with transaction.atomic():
            alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
            if not (alert and workflow.state_allows(workflow.BULK_CLOSE, alert, user)):
                result.skipped.append((alert_id, "not new, nor in triage with you"))
                continue
            _close(alert, user, "bulk", disposition, reason, None, False, "", run_of(alert))
            result.done.append(alert_id)
    return result


# --- T2 -------------------------------------------------------------------------------------


def t2_claim(alert_id: int, user, *, bulk: bool = False) -> Alert:
    """Claim an escalated alert for T2 investigation (compare-and-set)."""
    _require_role(user, workflow.T2_CLAIM)
    with transaction.atomic():
        won = Alert.objects.filter(
            pk=alert_id, assignee__isnull=True, status=Status.ESCALATED
        ).update(assignee=user, status=Status.INVESTIGATING, updated_at=now())
        if not won:
            raise AlreadyClaimed(f"Alert {alert_id} was already claimed or is not escalated.")
        alert = Alert.objects.get(pk=alert_id)
        record(alert, user, "t2_claimed", Status.ESCALATED, Status.INVESTIGATING, bulk=bulk)
        run = _ensure_run(alert)
        run.t2_analyst = user
        run.save(update_fields=["t2_analyst"])
    return alert


def t2_accept(alert_id: int, user, note: str = "") -> Alert:
    """T2 confirms the escalation: investigating → containment."""
    _require_role(user, workflow.T2_ACCEPT)
    note = _clean_text(note, "The note", required=False)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.T2_ACCEPT)
        Alert.objects.filter(pk=alert.pk).update(status=Status.CONTAINMENT, updated_at=now())
        record(alert, user, "t2_accepted", Status.INVESTIGATING, Status.CONTAINMENT, note=note)
    alert.refresh_from_db()
    return alert


def t2_return(alert_id: int, user, reason: str) -> Alert:
    """T2 sends the alert back to the L1 analyst who escalated it (status triage), or to the
    new queue if there is none. Needs a reason."""
    _require_role(user, workflow.T2_RETURN)
    reason = _clean_text(reason, "A reason for returning", required=True)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.T2_RETURN)
        run = run_of(alert)
        l1 = run.l1_analyst if run else None
        to_status = Status.TRIAGE if l1 else Status.NEW
        Alert.objects.filter(pk=alert.pk).update(status=to_status, assignee=l1, updated_at=now())
        record(
            alert,
            user,
            "returned",
            Status.INVESTIGATING,
            to_status,
            reason=reason,
            to_user=l1.pk if l1 else None,
        )
    alert.refresh_from_db()
    return alert


def open_containment_items(run: PlaybookRun | None) -> list[str]:
    """Containment items not yet done or marked not applicable."""
    if run is None or run.playbook_version is None:
        return []
    resolved = set(
        run.checklist.filter(section=ChecklistSection.CONTAINMENT)
        .exclude(state=ChecklistState.OPEN)
        .values_list("item_id", flat=True)
    )
    return [i.id for i in run.playbook_version.parsed().containment if i.id not in resolved]


def t2_close(alert_id: int, user, disposition: str, reason: str) -> Alert:
    """T2 closes: from investigating (e.g. benign after all) or from containment once every
    containment item is done or not applicable."""
    _require_role(user, workflow.T2_CLOSE)
    disposition, reason = _validate_close(disposition, reason)
    with transaction.atomic():
        alert = _lock_for(alert_id, user, workflow.T2_CLOSE)
        run = run_of(alert)
        if alert.status == Status.CONTAINMENT and open_containment_items(run):
            raise WorkflowError(
                "Mark every containment item done or not applicable before closing."
            )
        _close(alert, user, "t2", disposition, reason, None, False, "", run)
    alert.refresh_from_db()
    return alert


def add_rule_exception(
    alert: Alert,
    user,
    *,
    field: str,
    operator: str,
    values: list[str],
    comment: str,
    expires_at: datetime | None,
) -> catalog.RuleException:
    """Add an exception to the rule of ``alert`` (t2 and managers only) and record it in the
    alert's history, both in one transaction; returns the new ``RuleException``.

    The history row has kind ``exception_created``, the actor ``user`` and data ``{"exception",
    "rule_id", "field", "operator", "values"}`` (the exception's id, the rule's Elastic id and
    the condition as stored). The exception itself is made by the machine side
    (``rules.catalog.create_rule_exception``), which owns rules and their exceptions.
    """
    if not roles.has_role(user, roles.T2, roles.MANAGER):
        raise PermissionDenied
    with transaction.atomic():
        exception = catalog.create_rule_exception(
            alert.rule,
            field=field,
            operator=operator,
            values=values,
            comment=comment,
            author=user,
            expires_at=expires_at,
        )
        record(
            alert,
            user,
            "exception_created",
            exception=exception.pk,
            rule_id=alert.rule.rule_id,
            field=exception.field,
            operator=exception.operator,
            values=exception.values,
        )
    return exception
