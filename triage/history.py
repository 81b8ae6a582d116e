"""The escalation history: one row per L1 decision, read from the alert history.

A *decision* is an ``escalated`` event, or a ``closed`` event from ``new`` or ``triage`` (an L1
close, or an L1 bulk close of noise). Each row carries, from the same alert's events:

* ``claimed_at``: the latest ``claimed`` event at or before the decision (None for a bulk close
  of an unclaimed alert); ``time_to_claim`` = claimed - raised, ``time_to_decision`` =
  decision - claimed;
* ``recommendation``, ``override``, ``rationale`` (and ``reason`` of a close) from the
  decision's own data;
* ``outcome``: for an escalation, the first T2 outcome after it: ``accepted`` (``t2_accepted``),
  ``returned``, ``t2_closed`` (T2 closed it without accepting), or ``pending``; for an L1 close,
  ``l1_closed``;
* ``final_disposition``: the disposition of the alert's standing close (its last ``closed``
  event, unless a ``reopened`` follows), else empty;
* ``containment_done``: how many distinct containment items were marked done after it.

Functions take and return querysets, so they chain: ``sort(filter_by(rows(), ...), "-decided")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as CaseWhen
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from triage.models import L1_STATUSES, Alert, AlertEvent

DECISION = Q(kind="escalated") | Q(kind="closed", from_status__in=L1_STATUSES)
OUTCOME_KINDS = {"t2_accepted": "accepted", "returned": "returned", "closed": "t2_closed"}
OUTCOMES = {
    "accepted": "Accepted by T2",
    "returned": "Returned to L1",
    "t2_closed": "Closed by T2",
    "pending": "Pending at T2",
    "l1_closed": "Closed by L1",
}
# Sort keys offered to users: name -> field (a leading "-" in the request reverses).
SORTS = {
    "decided": "created_at",
    "alert": "alert_id",
    "rule": "alert__rule_name",
    "analyst": "actor__username",
    "claim": "time_to_claim",
    "decision": "time_to_decision",
    "outcome": "outcome",
}
DEFAULT_SORT = "-decided"


class GroupConcat(Aggregate):
    """Comma-separated text of the values (``string_agg`` / ``group_concat``)."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, ', ' ORDER BY %(expressions)s)"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            function="GROUP_CONCAT",
            template="%(function)s(%(expressions)s, ', ')",
        )


def _events():
    return AlertEvent.objects.filter(alert_id=OuterRef("alert_id")).order_by()


def rows(queryset: QuerySet | None = None) -> QuerySet:
    """The decisions, annotated (see the module docstring). ``queryset`` narrows the events."""
    qs = (queryset if queryset is not None else AlertEvent.objects.all()).filter(DECISION)
    claim = (
        _events()
        .filter(kind="claimed", created_at__lte=OuterRef("created_at"))
        .order_by("-created_at", "-pk")
        .values("created_at")[:1]
    )
    outcome = (
        _events()
        .filter(
            Q(kind__in=("t2_accepted", "returned"))
            | Q(kind="closed", from_status__in=("investigating", "containment")),
            created_at__gt=OuterRef("created_at"),
        )
        .order_by("created_at", "pk")
    )
    standing = (
        _events()
        .filter(kind__in=("closed", "reopened"))
        .order_by("-created_at", "-pk")
        .annotate(
            standing=CaseWhen(
                When(kind="closed", then=KT("data__disposition")),
                default=Value(""),
                output_field=CharField(),
            )
        )
        .values("standing")[:1]
    )
    containment = (
        _events()
        .filter(kind="containment_item", created_at__gt=OuterRef("created_at"))
        .filter(data__state="done")
        .values("alert_id")
        .annotate(n=Count("data__item", distinct=True))
        .values("n")
    )
    techniques = (
        Alert.techniques.through.objects.filter(alert_id=OuterRef("alert_id"))
        .order_by()
        .values("alert_id")
        .annotate(ids=GroupConcat("technique__external_id"))
        .values("ids")
    )
    outcome_case = CaseWhen(
        When(kind="closed", then=Value("l1_closed")),
        *(When(outcome_kind=kind, then=Value(label)) for kind, label in OUTCOME_KINDS.items()),
        default=Value("pending"),
        output_field=CharField(),
    )
    return (
        qs.annotate(
            claimed_at=Subquery(claim),
            outcome_kind=Subquery(outcome.values("kind")[:1]),
            outcome_at=Subquery(outcome.values("created_at")[:1]),
            final_disposition=Coalesce(Subquery(standing), Value(""), output_field=CharField()),
            containment_done=Coalesce(Subquery(containment), Value(0)),
            technique_ids=Coalesce(Subquery(techniques), Value(""), output_field=CharField()),
            recommendation=KT("data__recommendation"),
            rationale=KT("data__rationale"),
            reason=KT("data__reason"),
            override_text=KT("data__override"),
        )
        .annotate(
            outcome=outcome_case,
            time_to_claim=ExpressionWrapper(
                F("claimed_at") - F("alert__created_at"), output_field=DurationField()
            ),
            time_to_decision=ExpressionWrapper(
                F("created_at") - F("claimed_at"), output_field=DurationField()
            ),
        )
        .select_related("alert", "actor")
    )


def is_override(row) -> bool:
    return str(getattr(row, "override_text", "") or "").lower() in ("true", "1")


@dataclass(frozen=True)
class Filters:
    start: datetime | None = None
    end: datetime | None = None
    analyst: int | None = None
    rule: int | None = None
    technique: str = ""
    outcome: str = ""  # a key of OUTCOMES, or "override"


def filter_by(qs: QuerySet, f: Filters) -> QuerySet:
    """Narrow decision rows; dates bound the decision time, ``[start, end)``."""
    if f.start:
        qs = qs.filter(created_at__gte=f.start)
    if f.end:
        qs = qs.filter(created_at__lt=f.end)
    if f.analyst:
        qs = qs.filter(actor_id=f.analyst)
    if f.rule:
        qs = qs.filter(alert__rule_id=f.rule)
    if f.technique:
        qs = qs.filter(alert__techniques__external_id=f.technique)
    if f.outcome == "override":
        qs = qs.filter(data__override=True)
    elif f.outcome in OUTCOMES:
        qs = qs.filter(outcome=f.outcome)
    return qs


def sort(qs: QuerySet, key: str) -> tuple[QuerySet, str]:
    """Order rows by a key of :data:`SORTS` ("-key" descending); returns the key applied."""
    name = key.lstrip("-")
    if name not in SORTS:
        key, name = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    descending = key.startswith("-")
    expression = F(SORTS[name])
    ordered = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return qs.order_by(ordered, "-pk" if descending else "pk"), key


EXPORT_COLUMNS = (
    "decision_id",
    "decided_at",
    "alert_id",
    "alert_raised_at",
    "severity",
    "rule_id",
    "rule_name",
    "techniques",
    "l1_analyst",
    "decision",
    "recommendation",
    "override",
    "rationale",
    "close_reason",
    "claimed_at",
    "time_to_claim_seconds",
    "time_to_decision_seconds",
    "t2_outcome",
    "t2_outcome_at",
    "final_disposition",
    "containment_items_done",
)

_EXPORT_VALUES = (
    "pk",
    "created_at",
    "alert_id",
    "alert__created_at",
    "alert__severity",
    "alert__rule_id",
    "alert__rule_name",
    "technique_ids",
    "actor__username",
    "kind",
    "recommendation",
    "override_text",
    "rationale",
    "reason",
    "claimed_at",
    "outcome",
    "outcome_at",
    "final_disposition",
    "containment_done",
)


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


def _secs(value) -> float | str:
    return round(value.total_seconds(), 3) if value is not None else ""


def export_records(qs: QuerySet, chunk_size: int = 2000):
    """Yield one plain dict per decision (keys: :data:`EXPORT_COLUMNS`), streaming from the
    database ``chunk_size`` rows at a time (a server-side cursor on PostgreSQL)."""
    values = qs.select_related(None).values_list(*_EXPORT_VALUES)
    for row in values.iterator(chunk_size=chunk_size):
        (pk, decided, alert_id, raised, severity, rule_id, rule_name, techniques, analyst) = row[:9]
        (kind, rec, override, rationale, reason, claimed, outcome) = row[9:16]
        (outcome_at, disposition, containment) = row[16:]
        # Computed here rather than in SQL, where each would repeat the claim subquery.
        ttc = claimed - raised if claimed and raised else None
        ttd = decided - claimed if claimed else None
        yield {
            "decision_id": pk,
            "decided_at": _iso(decided),
            "alert_id": alert_id,
            "alert_raised_at": _iso(raised),
            "severity": severity,
            "rule_id": rule_id,
            "rule_name": rule_name,
            "techniques": techniques or "",
            "l1_analyst": analyst or "",
            "decision": "escalate" if kind == "escalated" else "close",
            "recommendation": rec or "",
            "override": str(override).lower() in ("true", "1"),
            "rationale": rationale or "",
            "close_reason": reason or "",
            "claimed_at": _iso(claimed),
            "time_to_claim_seconds": _secs(ttc),
            "time_to_decision_seconds": _secs(ttd),
            "t2_outcome": outcome,
            "t2_outcome_at": _iso(outcome_at),
            "final_disposition": disposition or "",
            "containment_items_done": containment or 0,
        }
