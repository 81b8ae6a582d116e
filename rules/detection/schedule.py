"""Detection on schedule: each rule over its ``from`` look-back window, as Elastic runs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db.models import Q

from rules.detection.alert_writer import write_alerts
from rules.detection.candidates import select_candidates
from rules.detection.exceptions import active_exceptions
from rules.detection.lookback import load_documents
from rules.detection.rule_cache import rule_cache
from rules.models import DetectionRule, Event, RuleRun

logger = logging.getLogger(__name__)


def claim_due_rules(now: datetime | None = None) -> list[int]:
    """The enabled rules whose ``interval`` has elapsed, each claimed by compare-and-set on
    ``last_run_at`` so two beats (or two workers) never start the same run twice."""
    now = now or datetime.now(UTC)
    claimed = []
    for rule in DetectionRule.objects.enabled().only("pk", "interval", "last_run_at"):
        if rule.last_run_at is not None and rule.last_run_at + rule.interval > now:
            continue
        updated = DetectionRule.objects.filter(pk=rule.pk, last_run_at=rule.last_run_at).update(
            last_run_at=now
        )
        if updated:
            claimed.append(rule.pk)
    return claimed


def run_rule(
    rule: DetectionRule, *, trigger: str = RuleRun.Trigger.SCHEDULE, now: datetime | None = None
) -> RuleRun:
    """One run of one rule over its ``from`` look-back window, as Elastic schedules it.

    The window holds events whose ``@timestamp`` is within ``[now - from, now]``, plus, for
    rules with a ``timestamp_override`` (Elastic's ``event.ingested``), events *stored* in
    that window whatever their own time (late events). Never raises: a failure is the run's
    ``error``.
    """
    now = now or datetime.now(UTC)
    started = time.monotonic()
    window_start = now - rule.lookback
    run = RuleRun.objects.create(
        rule=rule,
        trigger=trigger,
        started_at=now,
        window_start=window_start,
        window_end=now,
    )
    try:
        query = rule_cache.compile_query(rule.rule_id, rule.query)
        in_window = Q(timestamp__gte=window_start, timestamp__lte=now)
        if rule.timestamp_override:
            in_window |= Q(ingested_at__gte=window_start, ingested_at__lte=now)
        docs = [
            doc for _, doc in load_documents(Event.objects.filter(in_window).order_by("timestamp"))
        ]
        run.events_scanned = len(docs)
        found = query.search(docs)
        cands, _suppressed, reached = select_candidates(rule, found, active_exceptions(rule, now))
        run.alerts_raised = len(write_alerts(cands, now=now).get(rule.pk, []))
        run.max_signals_reached = reached
        run.outcome = RuleRun.Outcome.SUCCEEDED
    except Exception as exc:
        logger.exception("rule %s (%s) failed", rule.rule_id, rule.name)
        run.outcome = RuleRun.Outcome.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:5000]
    run.ended_at = datetime.now(UTC)
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save()
    return run


def run_rules(rules: Iterable[DetectionRule], **kwargs) -> list[RuleRun]:
    """Run several rules one after another; one failing does not stop the others."""
    return [run_rule(rule, **kwargs) for rule in rules]
