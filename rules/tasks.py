"""Celery tasks of the detection pipeline: thin wrappers around ``rules.detection``.

Keyword-only ids, re-fetch, call a plain function. Every task is idempotent by database
constraint (alert keys, event ids), so a redelivery after a worker dies (``acks_late`` +
``reject_on_worker_lost``) is harmless.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_process_init
from django.db import OperationalError as DatabaseOperationalError
from django.db import close_old_connections

from rules import detection, handoff
from rules.models import DetectionRule, RuleRun

logger = logging.getLogger(__name__)


@shared_task(
    name="rules.tasks.detect_events",
    # Its outcome is recorded as RuleRun rows and alerts; nothing waits for a return value.
    ignore_result=True,
    # The database restarting under a worker: try again shortly (the work is idempotent).
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def detect_events(*, event_pks: list[int], batch_key: str | None = None) -> dict:
    """Evaluate the enabled rules over newly stored events (queued when their batch commits).
    ``batch_key`` names their documents handed over through Redis (``rules.handoff``)."""
    outcome = detection.detect_new_events(event_pks, batch_key=batch_key).as_dict()
    if batch_key:
        handoff.discard(batch_key)
    return outcome


@shared_task(
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


@shared_task(name="rules.tasks.run_due_rules")
def run_due_rules() -> int:
    """Beat's tick: queue a run of every rule whose interval has elapsed."""
    due = detection.claim_due_rules()
    for pk in due:
        run_rule.apply_async(kwargs={"rule_pk": pk})
    return len(due)


@shared_task(name="rules.tasks.purge_expired_events")
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


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **_kwargs) -> None:
    """Database connections are kept between tasks as between web requests: closed when
    older than ``CONN_MAX_AGE`` or broken (Celery's own per-task close is off, see
    ``CELERY_DB_REUSE_MAX`` in settings). A new connection per task cost a server process
    start and a cold catalog cache on PostgreSQL for every ingest batch. An eager task runs
    inside its caller's request or transaction, whose connection is not ours to close."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
