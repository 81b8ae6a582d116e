"""Celery tasks of the detection pipeline: thin wrappers around ``rules.detection``.

Keyword-only ids, re-fetch, call a plain function. Every task is idempotent by database
constraint (alert keys, event ids), so a redelivery after a worker dies (``acks_late`` +
``reject_on_worker_lost``) is harmless.
"""

from __future__ import annotations

import logging

from celery.signals import worker_process_init
from django.db import OperationalError as DatabaseOperationalError

from rules import detection
from rules.models import DetectionRule, RuleRun
from triage.celery import app

logger = logging.getLogger(__name__)


@app.task(
    name="rules.tasks.detect_events",
    # The database restarting under a worker: try again shortly (the work is idempotent).
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_events(*, event_pks: list[int]) -> dict:
    """Evaluate the enabled rules over newly stored events (queued when their batch commits)."""
    return detection.detect_new_events(event_pks).as_dict()


@app.task(
    name="rules.tasks.run_rule",
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    max_retries=3,
)
def run_rule(*, rule_pk: int, trigger: str = RuleRun.Trigger.SCHEDULE) -> dict | None:
    """One scheduled (or manual) run of one rule over its look-back window."""
    rule = DetectionRule.objects.enabled().filter(pk=rule_pk).first()
    if rule is None:
        return None
    run = detection.run_rule(rule, trigger=trigger)
    return {"run": run.pk, "outcome": run.outcome, "alerts": run.alerts_raised}


@app.task(name="rules.tasks.run_due_rules")
def run_due_rules() -> int:
    """Beat's tick: queue a run of every rule whose interval has elapsed."""
    due = detection.claim_due_rules()
    for pk in due:
        run_rule.apply_async(kwargs={"rule_pk": pk})
    return len(due)


@app.task(name="rules.tasks.purge_expired_events")
def purge_expired_events() -> int:
    """Daily: delete events older than the retention setting."""
    return detection.purge_expired_events()


@worker_process_init.connect
def _compile_rules_at_start(**_kwargs) -> None:
    """Compile the enabled rules when a worker process starts, so the first batch it gets is
    evaluated in milliseconds rather than after compiling hundreds of queries."""
    try:
        detection.warm_up()
    except Exception:  # a worker must start even when the database is not reachable yet
        logger.warning("could not compile the rules at worker start", exc_info=True)
