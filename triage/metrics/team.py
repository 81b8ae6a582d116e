"""Team metrics, computed from the append-only alert history (``AlertEvent``) in SQL.

Every figure is an aggregate over ``triage_alertevent``, read through ``triage_alertfacts`` (the
history folded per alert by a database trigger, rebuildable from it); from ``triage_alert`` only
facts that never change are read (raise time ``created_at``, ``severity``, ``rule``, ``sla_due_at``).
Nothing loops over alerts in Python, so a year of alerts costs one scan, not 100,000 objects.

**The range.** ``start <= Alert.created_at < end`` selects the *cohort*: the alerts raised in
the range. Durations, rates, false positives and SLA figures describe that cohort with all of
its history (also what happened after ``end``). Workload is different: it counts the actions
each person took *within* the range, whatever the alert's age.

**Definitions** (``raised`` = ``Alert.created_at``):

* *time to acknowledge*: first ``claimed`` - raised; alerts never claimed are left out (and
  counted as ``unclaimed``).
* *time to escalate*: first ``escalated`` - raised.
* *time to resolve*: the standing close - raised. The standing close is the last ``closed``
  event when no ``reopened`` event follows it; an alert reopened and not closed again is open.
* *mean* is the arithmetic mean; *p90* is the nearest-rank 90th percentile
  (``percentile_disc(0.9)``: the smallest value with at least 90 % of values at or below it).
  Both are None when there is no value.
* *L1 decisions*: ``escalated`` events, and ``closed`` events from ``new`` or ``triage`` (an L1
  or bulk close). *Escalation rate* = escalations / L1 decisions. *Override rate* = decisions
  whose ``data.override`` is true / L1 decisions. *Return rate* = ``returned`` events /
  escalations (each escalation is returned at most once).
* *false-positive rate of a rule*: cohort alerts of the rule whose standing close has
  disposition ``false_positive`` / the rule's cohort alerts with a standing close.
* *SLA breach*: resolved later than ``sla_due_at`` (else raised + ``SLA_MINUTES[severity]``),
  or still open at ``now`` past that time.

Rates are None (shown as "—") when their denominator is 0.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from triage.metrics.sql import (
    L1_STATUSES_SQL,
    T2_STATUSES_SQL,
    is_postgres,
    p90,
    param,
    seconds,
)
from triage.models import Severity


def nearest_rank(values: list[float], fraction: float = 0.9) -> float | None:
    """The nearest-rank percentile of ``values`` (same as ``percentile_disc``)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """Mean and p90 of a duration over ``count`` alerts, in seconds (None when count is 0)."""

    count: int
    mean: float | None
    p90: float | None


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class RuleNoise:
    rule_id: int
    rule_name: str
    alerts: int
    closed: int
    false_positives: int
    latest_false_positive: int | None = None  # an alert id, for the rule-exception form

    @property
    def false_positive_rate(self) -> float | None:
        return rate(self.false_positives, self.closed)


# Each workload figure (a field of Workload, in order) and the history rows it counts.
WORKLOAD_ACTIONS = {
    "claims": "e.kind = 'claimed'",
    "escalations": "e.kind = 'escalated'",
    "l1_closes": f"e.kind = 'closed' AND e.from_status IN {L1_STATUSES_SQL}",
    "t2_claims": "e.kind = 't2_claimed'",
    "returns": "e.kind = 'returned'",
    "t2_closes": f"e.kind = 'closed' AND e.from_status IN {T2_STATUSES_SQL}",
}


@dataclass(frozen=True)
class Workload:
    """The actions one person took in the range (see :data:`WORKLOAD_ACTIONS`)."""

    user_id: int
    username: str
    claims: int = 0
    escalations: int = 0
    l1_closes: int = 0
    t2_claims: int = 0
    returns: int = 0
    t2_closes: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in WORKLOAD_ACTIONS)


@dataclass(frozen=True)
class SlaRow:
    severity: str
    target: timedelta
    alerts: int
    breached: int
    open_breached: int


@dataclass
class TeamMetrics:
    start: datetime
    end: datetime
    now: datetime
    alerts: int = 0
    claimed: int = 0
    resolved: int = 0
    acknowledge: Duration = Duration(0, None, None)
    escalate: Duration = Duration(0, None, None)
    resolve: Duration = Duration(0, None, None)
    decisions: int = 0
    escalations: int = 0
    overrides: int = 0
    returns: int = 0
    sla: list[SlaRow] = field(default_factory=list)
    rules: list[RuleNoise] = field(default_factory=list)
    workload: list[Workload] = field(default_factory=list)

    @property
    def unclaimed(self) -> int:
        return self.alerts - self.claimed

    @property
    def open(self) -> int:
        return self.alerts - self.resolved

    @property
    def escalation_rate(self) -> float | None:
        return rate(self.escalations, self.decisions)

    @property
    def override_rate(self) -> float | None:
        return rate(self.overrides, self.decisions)

    @property
    def return_rate(self) -> float | None:
        return rate(self.returns, self.escalations)

    @property
    def sla_breached(self) -> int:
        return sum(row.breached for row in self.sla)


# --- the queries -----------------------------------------------------------------------------

# One row per cohort alert with the times the metrics need, then every figure from it in one
# statement. The times come from ``triage_alertfacts``, the history folded per alert by a
# database trigger (see AlertFacts), so this is one scan of the cohort's alerts and their facts
# rows, not a join over every history row; alerts without workflow events have no facts row.
_FACTS = """
WITH facts AS (
    SELECT a.id, a.rule_id, a.severity, a.created_at AS raised_at,
           {due_seconds} AS due_seconds,
           f.claimed_at, f.escalated_at, f.closed_at, f.fp_closed_at, f.reopened_at,
           COALESCE(f.n_escalated, 0) AS n_escalated,
           COALESCE(f.n_l1_closed, 0) AS n_l1_closed,
           COALESCE(f.n_override, 0) AS n_override,
           COALESCE(f.n_returned, 0) AS n_returned
    FROM triage_alert a
    LEFT JOIN triage_alertfacts f ON f.alert_id = a.id
    WHERE a.created_at >= %s AND a.created_at < %s
),
resolved AS (
    SELECT f.*,
           CASE WHEN f.closed_at IS NOT NULL
                 AND (f.reopened_at IS NULL OR f.reopened_at < f.closed_at)
                THEN f.closed_at END AS resolved_at
    FROM facts f
),
timed AS (
    SELECT r.*,
           {ack} AS ack, {esc} AS esc, {res} AS res,
           CASE WHEN r.resolved_at IS NULL AND {age_now} > r.due_seconds
                THEN 1 ELSE 0 END AS open_breached,
           CASE WHEN (r.resolved_at IS NOT NULL AND {res} > r.due_seconds)
                  OR (r.resolved_at IS NULL AND {age_now} > r.due_seconds)
                THEN 1 ELSE 0 END AS breached
    FROM resolved r
)
SELECT 'total', '',
       COUNT(*), COUNT(claimed_at), COUNT(resolved_at),
       AVG(ack), {p90_ack}, COUNT(esc), AVG(esc), {p90_esc}, AVG(res), {p90_res},
       SUM(n_escalated), SUM(n_l1_closed), SUM(n_override), SUM(n_returned)
FROM timed
UNION ALL
SELECT 'sla', severity, COUNT(*), SUM(breached), SUM(open_breached),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM timed GROUP BY severity
UNION ALL
SELECT 'rule', CAST(rule_id AS TEXT), COUNT(*), COUNT(resolved_at),
       COUNT(*) FILTER (WHERE resolved_at IS NOT NULL AND fp_closed_at = resolved_at),
       MAX(id) FILTER (WHERE resolved_at IS NOT NULL AND fp_closed_at = resolved_at),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM timed GROUP BY rule_id
"""


def _facts_sql() -> str:
    """The one statement behind :func:`team_metrics`; parameters: start, end, now, now."""
    minutes = settings.SLA_MINUTES
    target = " ".join(
        f"WHEN '{severity}' THEN {int(minutes[severity]) * 60}"
        for severity in minutes
        if severity in Severity.values
    )
    default = int(minutes.get("medium", 1440)) * 60
    age = seconds("a.sla_due_at", "a.created_at")
    ack = seconds("r.claimed_at", "r.raised_at")
    esc = seconds("r.escalated_at", "r.raised_at")
    res = seconds("r.resolved_at", "r.raised_at")
    return _FACTS.format(
        due_seconds=f"COALESCE({age}, CASE a.severity {target} ELSE {default} END)",
        ack=ack,
        esc=esc,
        res=res,
        age_now=seconds("%s", "r.raised_at"),
        p90_ack=p90("ack"),
        p90_esc=p90("esc"),
        p90_res=p90("res"),
    )


# Built from the constants above only.
_WORKLOAD = f"""
SELECT u.id, u.username,
       {", ".join(f"COUNT(*) FILTER (WHERE {rows})" for rows in WORKLOAD_ACTIONS.values())}
FROM triage_alertevent e
JOIN auth_user u ON u.id = e.actor_id
WHERE e.kind IN ('claimed', 'escalated', 'closed', 't2_claimed', 'returned')
  AND e.created_at >= %s AND e.created_at < %s
GROUP BY u.id, u.username
"""  # noqa: S608


def _percentiles_elsewhere(cursor, params) -> dict[str, float | None]:
    """Without ``percentile_disc`` (SQLite, the demo): fetch the durations, rank them here."""
    sql = _facts_sql()
    body = sql[: sql.index("SELECT 'total'")]
    cursor.execute(body + "SELECT ack, esc, res FROM timed", params)  # noqa: S608
    rows = cursor.fetchall()
    return {
        name: nearest_rank([row[i] for row in rows if row[i] is not None])
        for i, name in enumerate(("acknowledge", "escalate", "resolve"))
    }


def team_metrics(start: datetime, end: datetime, now: datetime | None = None) -> TeamMetrics:
    """All team figures for the alerts raised in ``[start, end)`` (see the module docstring):
    one statement over the cohort's history, one over the range's actions (workload)."""
    now = now or timezone.now()
    metrics = TeamMetrics(start=start, end=end, now=now)
    params = [param(start), param(end), param(now), param(now)]
    sla_counts: dict[str, tuple[int, int, int]] = {}
    rules: list[RuleNoise] = []
    with connection.cursor() as cursor:
        cursor.execute(_facts_sql(), params)
        for section, key, *v in cursor.fetchall():
            if section == "total":
                metrics.alerts, metrics.claimed, metrics.resolved = v[0], v[1], v[2]
                metrics.acknowledge = Duration(v[1], _float(v[3]), _float(v[4]))
                metrics.escalate = Duration(v[5], _float(v[6]), _float(v[7]))
                metrics.resolve = Duration(v[2], _float(v[8]), _float(v[9]))
                escalations, l1_closes = int(v[10] or 0), int(v[11] or 0)
                metrics.decisions = escalations + l1_closes
                metrics.escalations = escalations
                metrics.overrides, metrics.returns = int(v[12] or 0), int(v[13] or 0)
            elif section == "sla":
                sla_counts[key] = (int(v[0]), int(v[1] or 0), int(v[2] or 0))
            else:
                latest_fp = int(v[3]) if v[3] is not None else None
                rules.append(RuleNoise(int(key), "", int(v[0]), int(v[1]), int(v[2]), latest_fp))
        if not is_postgres() and metrics.alerts:
            p90 = _percentiles_elsewhere(cursor, params)
            for name, value in p90.items():
                current: Duration = getattr(metrics, name)
                setattr(metrics, name, Duration(current.count, current.mean, value))

        cursor.execute(_WORKLOAD, params[:2])
        workload = [Workload(*row) for row in cursor.fetchall()]

    metrics.sla = [
        SlaRow(
            severity=severity,
            target=timedelta(minutes=settings.SLA_MINUTES.get(severity, 0)),
            alerts=sla_counts.get(severity, (0, 0, 0))[0],
            breached=sla_counts.get(severity, (0, 0, 0))[1],
            open_breached=sla_counts.get(severity, (0, 0, 0))[2],
        )
        for severity in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
    ]
    names = _rule_names([r.rule_id for r in rules])
    rules = [replace(r, rule_name=names.get(r.rule_id, f"rule {r.rule_id}")) for r in rules]
    # The noisiest first: most false positives, then the highest rate, then the name.
    rules.sort(key=lambda r: (-r.false_positives, -(r.false_positive_rate or 0), r.rule_name))
    metrics.rules = rules
    workload.sort(key=lambda w: (-w.total, w.username))
    metrics.workload = workload
    return metrics


# How long a computed result may be reused. It is keyed by the history's high-water marks, so
# a reused result is never stale: any new AlertEvent (or alert) changes the key.
CACHE_SECONDS = 300


def _watermark() -> tuple:
    """The newest AlertEvent and Alert ids: the history is append-only, so together with the
    range and the minute they identify every figure exactly."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT MAX(id) FROM triage_alertevent), (SELECT MAX(id) FROM triage_alert)"
        )
        return tuple(cursor.fetchone())


def cached_team_metrics(start: datetime, end: datetime, now: datetime | None = None):
    """:func:`team_metrics` as of the current minute, reused while the history is unchanged
    (a manager switching tabs or ranges back and forth pays the query once)."""
    from django.core.cache import cache

    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    material = repr((start, end, minute, _watermark(), sorted(settings.SLA_MINUTES.items())))
    key = "manager-metrics:" + hashlib.sha256(material.encode()).hexdigest()
    result = cache.get(key)
    if result is None:
        result = team_metrics(start, end, now=minute)
        cache.set(key, result, CACHE_SECONDS)
    return result


def _rule_names(ids: list[int]) -> dict[int, str]:
    from django.apps import apps

    rule_model = apps.get_model("rules", "DetectionRule")
    return dict(rule_model.objects.filter(pk__in=ids).values_list("pk", "name"))


def _float(value) -> float | None:
    return None if value is None else float(value)
