"""SLA clocks: how long an open alert has left before it breaches its severity's target.

The target of a severity is ``settings.SLA_MINUTES[severity]``, counted from the moment the
alert was raised (``Alert.created_at``) to its close. ``Alert.sla_due_at``, when set, is the due
time fixed when the alert was raised and wins over the current setting (a changed setting does
not move old deadlines).

For the queue:

* :func:`sla_remaining` ``(alert, now) -> timedelta | None`` (negative once breached, None for
  a closed alert);
* :func:`with_sla` annotates a queryset with ``sla_due`` (a datetime) and
  :func:`order_by_sla` sorts by it, soonest (or longest overdue) first; sorting by the due time
  is sorting by remaining time, since ``now`` is the same for every row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, QuerySet, Value, When
from django.db.models.functions import Coalesce

DEFAULT_SEVERITY = "medium"


def sla_target(severity: str) -> timedelta:
    """The SLA target of a severity (an unknown severity gets the medium target)."""
    minutes = settings.SLA_MINUTES.get(severity) or settings.SLA_MINUTES[DEFAULT_SEVERITY]
    return timedelta(minutes=minutes)


def sla_due(alert) -> datetime | None:
    """When the alert breaches its SLA: ``sla_due_at`` if fixed, else raised + target."""
    if alert.sla_due_at is not None:
        return alert.sla_due_at
    if alert.created_at is None:
        return None
    return alert.created_at + sla_target(alert.severity)


def sla_remaining(alert, now: datetime) -> timedelta | None:
    """Time left before the alert breaches its SLA at ``now``: negative when already breached,
    None when the alert is closed (its clock has stopped) or has no raise time yet."""
    if alert.status == "closed":
        return None
    due = sla_due(alert)
    return None if due is None else due - now


def _target_case():
    return Case(
        *(
            When(severity=severity, then=Value(timedelta(minutes=minutes)))
            for severity, minutes in settings.SLA_MINUTES.items()
        ),
        default=Value(sla_target(DEFAULT_SEVERITY)),
    )


def sla_due_expression():
    """A query expression for the due time of each alert row (see :func:`sla_due`)."""
    return Coalesce(
        F("sla_due_at"),
        ExpressionWrapper(F("created_at") + _target_case(), output_field=DateTimeField()),
        output_field=DateTimeField(),
    )


def with_sla(queryset: QuerySet) -> QuerySet:
    """Annotate alerts with ``sla_due``: ``with_sla(Alert.objects.open())``."""
    return queryset.annotate(sla_due=sla_due_expression())


def order_by_sla(queryset: QuerySet, *then: str) -> QuerySet:
    """Sort alerts by remaining SLA time, least (most overdue) first; ``then`` breaks ties.

    Rows with a fixed ``sla_due_at`` can use the ``alert_queue_sla`` index when the queue
    filters by status; rows without one are computed per row."""
    return with_sla(queryset).order_by(F("sla_due").asc(nulls_last=True), *(then or ("pk",)))
