"""The machine side: ATT&CK techniques, detection rules, their exceptions and runs, stored events,
ingest sources."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Tactic(models.Model):
    """A MITRE ATT&CK tactic (the adversary's goal, e.g. TA0002 Execution)."""

    external_id = models.CharField(max_length=16, unique=True)  # "TA0002"
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    url = models.URLField(blank=True)

    def __str__(self) -> str:
        return f"{self.external_id} {self.name}"


class Technique(models.Model):
    """A MITRE ATT&CK technique or sub-technique, named by a rule's ``[rule.threat]`` mapping.

    It lives beside the rules it describes; the human side's alerts and playbooks point at it.
    """

    external_id = models.CharField(max_length=16, unique=True)  # "T1059.001"
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    url = models.URLField(blank=True)
    tactic = models.ForeignKey(Tactic, on_delete=models.PROTECT, related_name="techniques")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="subtechniques"
    )

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return f"{self.external_id} {self.name}"

    @property
    def is_subtechnique(self) -> bool:
        return "." in self.external_id


class DetectionRuleQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)


class DetectionRule(models.Model):
    """An Elastic-format detection rule (mirrors the fields of its TOML)."""

    rule_id = models.CharField(max_length=64, help_text="Elastic rule_id (a UUID)")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    query = models.TextField()
    type = models.CharField(max_length=32, default="eql")
    language = models.CharField(max_length=32, default="eql")
    severity = models.CharField(max_length=10, default="medium")
    risk_score = models.PositiveSmallIntegerField(default=47)
    interval = models.DurationField(default=timedelta(minutes=5))
    lookback = models.DurationField(
        default=timedelta(minutes=9),
        help_text="Elastic's `from` (now-9m): how far back a run looks",
    )
    max_signals = models.PositiveIntegerField(default=100)
    index_patterns = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    references = models.JSONField(default=list, blank=True)
    false_positives = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True, help_text="investigation guide (markdown)")
    author = models.JSONField(default=list, blank=True)
    license = models.CharField(max_length=100, blank=True)
    timestamp_override = models.CharField(max_length=100, blank=True)
    threat = models.JSONField(default=list, blank=True, help_text="the TOML's MITRE mapping")
    techniques = models.ManyToManyField(Technique, blank=True, related_name="rules")
    enabled = models.BooleanField(default=True)
    content_hash = models.CharField(max_length=64, blank=True)
    source_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    objects = DetectionRuleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["rule_id"], name="detectionrule_rule_id")]
        indexes = [
            # Scheduled runs pick the enabled rules whose interval has elapsed.
            models.Index(fields=["enabled", "last_run_at"], name="rule_due"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class DetectionRuleVersion(models.Model):
    """A rule's earlier content, kept when an import brings a newer version."""

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="ruleversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"


class ExceptionOperator(models.TextChoices):
    IS = "is", "is"
    IS_ONE_OF = "is_one_of", "is one of"
    MATCHES = "matches", "matches (wildcard)"
    EXISTS = "exists", "exists"


class RuleException(models.Model):
    """A condition under which a rule's match raises no alert (a known benign pattern)."""

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="exceptions")
    field = models.CharField(max_length=200)
    operator = models.CharField(max_length=16, choices=ExceptionOperator.choices)
    values = models.JSONField(default=list, blank=True)
    comment = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.values}"


class RuleRun(models.Model):
    class Trigger(models.TextChoices):
        INGEST = "ingest", "On ingest"
        SCHEDULE = "schedule", "Scheduled"
        MANUAL = "manual", "Manual"

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    events_scanned = models.PositiveIntegerField(default=0)
    alerts_raised = models.PositiveIntegerField(default=0)
    max_signals_reached = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The rule page lists a rule's latest runs.
            models.Index(fields=["rule", "-started_at"], name="rulerun_rule_time"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.trigger} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M}"


class SequenceHit(models.Model):
    """A stored event that matched one of a sequence rule's queries, with its join key there.

    Detection on ingest records, for every sequence rule, the batch events that matched its
    queries evaluated in the first pass (all but the broad ones, see ``rules.eql.deferral``).
    A later batch then knows, without reading stored events, which join keys can still make
    a match with it: those with a hit of each of these queries in the batch or stored within
    the rule's span. Rows are small, written in bulk with their batch, purged with events.
    """

    rule_id = models.CharField(max_length=64)
    term = models.PositiveSmallIntegerField(help_text="the query's position in the matcher")
    key = models.TextField(help_text="the join key, as a JSON array")
    event_pk = models.BigIntegerField(help_text="the event's row (no foreign key: bulk writes)")
    timestamp = models.DateTimeField()

    class Meta:
        indexes = [
            # Detection reads a rule's hits within its maxspan of a batch.
            models.Index(fields=["rule_id", "timestamp"], name="seqhit_rule_time"),
            # The retention purge deletes by age.
            models.Index(fields=["timestamp"], name="seqhit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}[{self.term}] {self.key} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IngestSource(models.Model):
    """A sender of events (a shipper, a script), authenticated by a bearer token stored hashed."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False, help_text="to recognise a token")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    def issue_token(self) -> str:
        """Set a new random token and return it: the only time it is ever visible."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_prefix = token[:8]
        return token

    @classmethod
    def authenticate(cls, token: str) -> IngestSource | None:
        if not token:
            return None
        return cls.objects.filter(token_hash=hash_token(token), enabled=True).first()


class Event(models.Model):
    """An endpoint event: the ECS document plus the columns that queries need indexed."""

    event_id = models.CharField(max_length=255, help_text="event.id, else a content hash")
    timestamp = models.DateTimeField()
    ingested_at = models.DateTimeField(auto_now_add=True)
    # No database-level foreign key: its check ran once per stored row (a trigger on every
    # event of every COPY), for a column that only says where an event came from. Deleting a
    # source still clears it on its events (Django applies SET_NULL).
    source = models.ForeignKey(
        IngestSource, on_delete=models.SET_NULL, null=True, blank=True, db_constraint=False
    )
    category = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, blank=True)
    host_id = models.CharField(max_length=255, blank=True)
    host_name = models.CharField(max_length=255, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
    user_name = models.CharField(max_length=255, blank=True)
    process_entity_id = models.CharField(max_length=255, blank=True)
    process_pid = models.BigIntegerField(null=True, blank=True)
    parent_entity_id = models.CharField(max_length=255, blank=True)
    parent_pid = models.BigIntegerField(null=True, blank=True)
    doc = models.JSONField()

    class Meta:
        ordering = ["timestamp", "pk"]
        constraints = [models.UniqueConstraint(fields=["event_id"], name="event_id_unique")]
        indexes = [
            # Scheduled rule runs scan a time window; the retention purge deletes by age.
            models.Index(fields=["timestamp"], name="event_time"),
            # Scheduled runs of rules with a timestamp override also take late events by
            # the time they were stored.
            models.Index(fields=["ingested_at"], name="event_ingested"),
            # The host timeline around an alert.
            models.Index(fields=["host_name", "timestamp"], name="event_host_time"),
            # The process tree: a process by its entity id, its children by their parent's.
            models.Index(fields=["process_entity_id"], name="event_process_entity"),
            models.Index(fields=["parent_entity_id"], name="event_parent_entity"),
            # Process tree fallback for sources without entity ids (pid reuse bounded by time).
            models.Index(fields=["host_name", "process_pid", "timestamp"], name="event_host_pid"),
            models.Index(fields=["host_name", "parent_pid", "timestamp"], name="event_host_ppid"),
            # Sequences joined by host.id (most of Elastic's) look back for the stored events
            # of the batch's hosts within their span: without it, every event of the span.
            models.Index(fields=["host_id", "timestamp"], name="event_hostid_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.category} {self.host_name}"


def active_exceptions_q(now) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)
