"""The human side: alerts, their append-only history, playbooks and the playbook runs over alerts.

Workflow transitions live in ``triage/services.py``; models here hold data, invariants and
small chainable querysets. ATT&CK techniques live in ``rules`` (they describe rules); alerts and
playbooks point at them, so every foreign key between the apps points from triage to rules.
"""

from __future__ import annotations

import contextvars
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from rules.detection import alert_key  # noqa: F401 (the key Alert.key holds; detection owns it)
from triage import roles
from triage.playbook_format import Playbook as ParsedPlaybook
from triage.playbook_validation import playbook_from_dict


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class Status(models.TextChoices):
    NEW = "new", "New"
    TRIAGE = "triage", "In triage (L1)"
    ESCALATED = "escalated", "Escalated"
    INVESTIGATING = "investigating", "Investigating (T2)"
    CONTAINMENT = "containment", "Containment"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    Status.NEW,
    Status.TRIAGE,
    Status.ESCALATED,
    Status.INVESTIGATING,
    Status.CONTAINMENT,
)
L1_STATUSES = (Status.NEW, Status.TRIAGE)
T2_STATUSES = (Status.ESCALATED, Status.INVESTIGATING, Status.CONTAINMENT)


class Disposition(models.TextChoices):
    TRUE_POSITIVE = "true_positive", "True positive"
    BENIGN_TRUE_POSITIVE = "benign_true_positive", "Benign true positive"
    FALSE_POSITIVE = "false_positive", "False positive"
    DUPLICATE = "duplicate", "Duplicate"


class AlertQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def closed(self):
        return self.filter(status=Status.CLOSED)

    def for_user(self, user):
        """The alerts a user's roles let them see: l1 the L1 stages (and what they decided),
        t2 the escalated stages, managers everything."""
        user_roles = roles.roles_of(user)
        if roles.MANAGER in user_roles:
            return self
        if not user_roles:
            return self.none()
        statuses: list[str] = []
        if roles.L1 in user_roles:
            statuses += L1_STATUSES
        if roles.T2 in user_roles:
            statuses += T2_STATUSES
        # A subquery rather than a join: no DISTINCT, so the queue's sorted index scans stay
        # usable (the alert page and queue run this on every request).
        touched = AlertEvent.objects.filter(actor=user).values("alert_id")
        return self.filter(Q(status__in=statuses) | Q(pk__in=touched))

    def assigned_to(self, user):
        return self.filter(assignee=user)

    def unassigned(self):
        return self.filter(assignee__isnull=True)


class Alert(models.Model):
    key = models.CharField(max_length=64, help_text="sha256 of rule id and ordered event ids")
    rule = models.ForeignKey("rules.DetectionRule", on_delete=models.PROTECT, related_name="alerts")
    rule_version = models.PositiveIntegerField(default=1)
    rule_name = models.CharField(max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    risk_score = models.PositiveSmallIntegerField(default=47)
    timestamp = models.DateTimeField(help_text="time of the last matched event")
    # A default rather than auto_now_add, so detection (and the demo data) can give the time
    # an alert was raised.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    host_name = models.CharField(max_length=255, blank=True)
    host_id = models.CharField(max_length=255, blank=True)
    user_name = models.CharField(max_length=255, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
    techniques = models.ManyToManyField("rules.Technique", blank=True, related_name="alerts")
    event_ids = models.JSONField(default=list, help_text="event.id of each matched event, in order")
    event_snapshot = models.JSONField(
        default=list, help_text="the matched ECS documents as they were when the alert was raised"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_alerts",
    )
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True)
    close_reason = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(
        null=True, blank=True, help_text="created_at plus the SLA target of the severity"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-risk_score", "-timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="alert_key_unique"),
            models.CheckConstraint(
                condition=Q(status=Status.CLOSED, closed_at__isnull=False) | ~Q(status="closed"),
                name="alert_closed_has_time",
            ),
        ]
        indexes = [
            # The queue: open alerts by status, sorted by risk or age.
            models.Index(fields=["status", "-risk_score", "-timestamp"], name="alert_queue_risk"),
            models.Index(fields=["status", "created_at"], name="alert_queue_age"),
            # Manager metrics select the alerts raised in a date range.
            models.Index(fields=["created_at"], name="alert_created"),
            # The queue's SLA clock sort.
            models.Index(fields=["status", "sla_due_at"], name="alert_queue_sla"),
            # Queue filters by host and grouping by rule and host.
            models.Index(fields=["host_name", "status"], name="alert_host_status"),
            models.Index(fields=["rule", "status"], name="alert_rule_status"),
            # The L1 and T2 queues' default views (open alerts of one stage, by risk or age):
            # partial indexes give an ordered scan that stops after one page, and a count that
            # reads only the open alerts, however many closed ones pile up.
            models.Index(
                F("risk_score").desc(),
                F("timestamp").desc(),
                F("id").desc(),
                condition=Q(status__in=["new", "triage"]),
                name="alert_l1_queue_risk",
            ),
            models.Index(
                "created_at",
                "id",
                condition=Q(status__in=["new", "triage"]),
                name="alert_l1_queue_age",
            ),
            models.Index(
                F("risk_score").desc(),
                F("timestamp").desc(),
                F("id").desc(),
                condition=Q(status__in=["escalated", "investigating", "containment"]),
                name="alert_t2_queue_risk",
            ),
            models.Index(
                "created_at",
                "id",
                condition=Q(status__in=["escalated", "investigating", "containment"]),
                name="alert_t2_queue_age",
            ),
            # The queues grouped by rule and host: an index-only scan of the open alerts.
            models.Index(
                fields=["rule", "host_name"],
                include=["risk_score", "created_at"],
                condition=Q(status__in=["new", "triage"]),
                name="alert_l1_group",
            ),
            models.Index(
                fields=["rule", "host_name"],
                include=["risk_score", "created_at"],
                condition=Q(status__in=["escalated", "investigating", "containment"]),
                name="alert_t2_group",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule_name} on {self.host_name or '?'}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)


# The clock history rows are stamped with: the real time, except inside ``services.clock``.
_clock: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("clock", default=None)


def recorded_now() -> datetime:
    return _clock.get() or timezone.now()


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit row."""


class AlertEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("AlertEvent rows are append-only")

    def delete(self):
        raise AppendOnlyError("AlertEvent rows are append-only")


class AlertEvent(models.Model):
    """One step in an alert's life. Append-only: rows are inserted, never updated or deleted
    (enforced here and, on PostgreSQL, by a trigger)."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="history")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alert_events",
        help_text="empty for the system (detection, scheduled jobs)",
    )
    # A default rather than auto_now_add, so the demo data generator can replay a realistic
    # past (``services.clock``); the row is still never changed afterwards.
    created_at = models.DateTimeField(default=recorded_now, db_index=True)
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AlertEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # The history tab and every metric walk one alert's events in order.
            models.Index(fields=["alert", "created_at"], name="alertevent_alert_time"),
            # Manager metrics filter by kind over a date range.
            models.Index(fields=["kind", "created_at"], name="alertevent_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.kind} {self.from_status}->{self.to_status}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("AlertEvent rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("AlertEvent rows are append-only")


# --- Playbooks and their runs over alerts ----------------------------------------------------


class Playbook(models.Model):
    """The playbook of one technique; its content lives in versions (newest is current)."""

    technique = models.OneToOneField(
        "rules.Technique", on_delete=models.PROTECT, related_name="playbook"
    )
    title = models.CharField(max_length=300)
    source_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["technique__external_id"]

    def __str__(self) -> str:
        return f"{self.technique.external_id} {self.title}"

    def current_version(self) -> PlaybookVersion | None:
        return self.versions.order_by("-version").first()


class PlaybookVersion(models.Model):
    """One immutable version of a playbook: the parsed content (``Playbook.to_dict()``) and
    its hash. A playbook run keeps the version it started with, even after the file changes."""

    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["playbook", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "version"], name="playbookversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook.technique.external_id} v{self.version}"

    _parsed: ParsedPlaybook | None = None

    def parsed(self) -> ParsedPlaybook:
        """The content as a frozen ``playbook_format.Playbook``, validated again on the way in.
        Built from the stored data directly, once per instance: versions are immutable."""
        if self._parsed is None:
            self._parsed = playbook_from_dict(self.content, source=str(self.pk))
        return self._parsed


class PlaybookRun(models.Model):
    """The analysts' work on one alert: the playbook version it runs with, who worked it, and
    (through ``answers`` and ``checklist``) what they answered and ticked."""

    alert = models.OneToOneField(Alert, on_delete=models.PROTECT, related_name="playbook_run")
    playbook_version = models.ForeignKey(
        PlaybookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    l1_analyst = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="l1_playbook_runs",
    )
    t2_analyst = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="t2_playbook_runs",
    )
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"playbook run of alert {self.alert_id}"


class AnswerValue(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class PlaybookAnswer(models.Model):
    """The current answer to one playbook question (its changes are in the alert history)."""

    run = models.ForeignKey(PlaybookRun, on_delete=models.PROTECT, related_name="answers")
    question_id = models.CharField(max_length=64)
    value = models.TextField(help_text="yes/no/unknown, or the text of a text question")
    note = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "question_id"], name="triageanswer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}={self.value[:20]}"


class ChecklistSection(models.TextChoices):
    L1_STEPS = "l1_steps", "L1 additional steps"
    T2_ACTIONS = "t2_actions", "T2 actions"
    CONTAINMENT = "containment", "Containment"


class ChecklistState(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class ChecklistEntry(models.Model):
    """The current state of one checklist item of a playbook run (changes are in the history)."""

    run = models.ForeignKey(PlaybookRun, on_delete=models.PROTECT, related_name="checklist")
    section = models.CharField(max_length=16, choices=ChecklistSection.choices)
    item_id = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=ChecklistState.choices)
    note = models.TextField(blank=True)
    evidence = models.TextField(blank=True, help_text="a reference: ticket, file hash, URL…")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "section", "item_id"], name="checklistentry_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section}.{self.item_id}={self.state}"


class AlertFacts(models.Model):
    """One alert's history folded into the few times and counts the manager metrics need.

    Derived, never written by application code: a database trigger folds each AlertEvent as it
    is inserted (``triage/metrics/facts_sql.py``), and ``manage.py rebuild_alert_facts``
    recomputes the table from the history. It exists so a year of metrics is one scan of a narrow table
    instead of a join over every history row.
    """

    alert = models.OneToOneField(
        Alert, on_delete=models.DO_NOTHING, primary_key=True, related_name="facts"
    )
    claimed_at = models.DateTimeField(null=True)
    escalated_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    fp_closed_at = models.DateTimeField(null=True)
    reopened_at = models.DateTimeField(null=True)
    n_escalated = models.IntegerField(default=0)
    n_l1_closed = models.IntegerField(default=0)
    n_override = models.IntegerField(default=0)
    n_returned = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"facts of alert {self.alert_id}"
