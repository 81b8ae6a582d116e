"""Running detection rules over stored events: the plain functions behind the Celery tasks
(``rules/tasks.py``) and the ``detect``/``ingest``/``run_rules`` commands.

Detection finds; it does not write alerts. It turns a rule's matches into
:class:`AlertCandidate` values (plain data: the rule's pk, id, version, name, severity and risk
score; the alert key; the matched events, their ids, time, host and user) and hands them to
the **alert writer**, the one function of the human side that writes ``Alert`` rows, their
history and technique links. ``rules`` imports nothing of ``triage``, so the writer is found
through a setting: ``DETECTION_ALERT_WRITER`` (``"triage.alerts.raise_alerts"`` in the
project), a dotted path imported once (``alert_writer``). The writer is called inside the
transaction that also stores the batch's ``RuleRun`` rows, so a batch still commits once.

Guarantees:

* **Idempotent.** An alert's key is ``alert_key(rule_id, ordered event ids)``; the writer
  inserts under the unique constraint on that key and skips keys raised already, so running
  the same batch or window twice (a retried task, a worker killed mid-task, overlapping
  scheduled windows) never makes a second alert, and only new alerts count as raised.
* **Isolated failures.** A rule that fails (compile or run time) is recorded as a failed
  ``RuleRun``; the other rules still run.
* **Exceptions first.** A match is dropped when one of its events meets an active
  ``RuleException`` of its rule; ``max_signals`` then caps the alerts of one run.

Modules: ``rule_cache`` (the process's compiled rules), ``exceptions``, ``candidates``,
``alert_writer`` (the seam), ``batch`` (on ingest), ``lookback`` (sequences across batches),
``schedule`` (rule runs over their windows), ``retention``.
"""

from __future__ import annotations

from rules.detection.alert_writer import alert_writer, write_alerts
from rules.detection.batch import BatchOutcome, detect_new_events
from rules.detection.candidates import (
    AlertCandidate,
    alert_key,
    make_candidate,
    select_candidates,
)
from rules.detection.exceptions import ExceptionMatcher, active_exceptions
from rules.detection.retention import purge_expired_events
from rules.detection.rule_cache import rule_cache
from rules.detection.schedule import claim_due_rules, run_rule, run_rules

__all__ = [
    "AlertCandidate",
    "BatchOutcome",
    "ExceptionMatcher",
    "active_exceptions",
    "alert_key",
    "alert_writer",
    "claim_due_rules",
    "compile_query",
    "compile_ruleset",
    "detect_new_events",
    "make_candidate",
    "purge_expired_events",
    "rule_cache",
    "run_rule",
    "run_rules",
    "select_candidates",
    "warm_up",
    "write_alerts",
]

compile_query = rule_cache.compile_query
compile_ruleset = rule_cache.compile_ruleset


def warm_up() -> None:
    """Compile the enabled rules into this process's cache (and close the connection used)."""
    from django.db import close_old_connections

    rule_cache.compile_enabled(rule_cache.enabled_rules()).prepare()
    close_old_connections()
