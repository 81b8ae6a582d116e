"""Detection on ingest: the enabled rules over one batch of newly stored events.

A batch goes through named steps: read its documents (handed over by ingest, else from the
store), compile the enabled rules (one cached rule set), prefilter (which rules each event can
match; for sequences, the stored events they may complete), search each rule, select
candidates (exceptions, ``max_signals``), and commit the alerts and the ``RuleRun`` rows in
one transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rules import handoff
from rules.detection.alert_writer import write_alerts
from rules.detection.candidates import AlertCandidate, select_candidates
from rules.detection.exceptions import NO_EXCEPTIONS, active_exceptions_of
from rules.detection.lookback import derived_writes, load_rows, rows_of_texts, sequence_context
from rules.detection.rule_cache import RuleText, rule_cache
from rules.eql.gc_pause import gc_paused
from rules.models import DetectionRule, RuleRun

logger = logging.getLogger(__name__)

# What raising alerts and recording runs reads of a rule (its long texts are not needed).
_ALERTING = ("rule_id", "version", "name", "severity", "risk_score", "max_signals")


def after_alerts_raised() -> None:
    """Called once a batch that raised alerts has committed them, before the task returns.
    Does nothing; the reliability tests patch it to hold a worker there (see
    ``rules/tests/paused_worker.py``)."""


@dataclass
class BatchOutcome:
    """What one batch came to: events read, alerts that are new, rules that failed."""

    events: int = 0
    alerts: int = 0
    failed_rules: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"events": self.events, "alerts": self.alerts, "failed_rules": self.failed_rules}


@dataclass
class _Selected:
    """A rule that matched: its row, its candidates, and whether max_signals cut them."""

    rule: DetectionRule
    candidates: list[AlertCandidate]
    reached: bool


def detect_new_events(
    event_pks: list[int], *, now: datetime | None = None, batch_key: str | None = None
) -> BatchOutcome:
    """Evaluate the enabled rules over newly stored events and raise their alerts.

    Event rules see the batch; sequence rules also see stored events within their maxspan
    that share their join keys (an attack split across two batches is still one sequence).
    A ``RuleRun`` (trigger "ingest") is recorded for each rule that raised alerts or failed,
    in the same transaction as the alerts. ``batch_key`` names the events' documents handed
    over by ingest (``rules.handoff``); without it, or when it is gone, they are read from
    the store.
    """
    with gc_paused():
        return _detect(event_pks, now or datetime.now(UTC), batch_key)


def _detect(event_pks: list[int], now: datetime, batch_key: str | None) -> BatchOutcome:
    started = time.monotonic()
    texts: dict[int, str | bytes] = {}  # pk -> JSON text, for the look-back cache
    rows = _read_batch(event_pks, texts, batch_key)
    outcome = BatchOutcome(events=len(rows))
    if not rows:
        return outcome
    rules = rule_cache.enabled_rules()
    if not rules:
        return outcome
    ruleset = rule_cache.compile_enabled(rules)
    # A stored query our engine can no longer compile fails its rule, not the batch.
    failures = {rid: f"{type(exc).__name__}: {exc}" for rid, exc in ruleset.errors.items()}
    per_rule, context_of = _prefilter(ruleset, rules, rows, texts)
    matches = _search(ruleset, per_rule, context_of, rows, failures)
    involved = {
        r.rule_id: r
        for r in DetectionRule.objects.filter(rule_id__in=[*matches, *failures]).only(*_ALERTING)
    }
    selected = _select(matches, involved, rules, now)
    for rule_id, error in failures.items():
        logger.error("rule %s failed on an ingest batch: %s", rule_id, error)
    outcome.alerts = _commit(selected, failures, involved, rows, now, started)
    if outcome.alerts:
        after_alerts_raised()
    outcome.failed_rules = sorted(failures)
    return outcome


def _read_batch(event_pks: list[int], texts: dict, batch_key: str | None) -> list:
    """(pk, document, timestamp) of the batch's events, in time order; ``texts`` gets their
    JSON texts."""
    if batch_key:
        handed = handoff.take(batch_key, event_pks)
        if handed is not None:
            return rows_of_texts(handed, texts)
    return load_rows(event_pks, texts)


def _prefilter(ruleset, rules: dict[str, RuleText], rows: list, texts: dict):
    """One pass of the rule set's prefilter: per rule, the batch events that can match it
    (and, for sequences, which of their queries each one satisfies), and, per sequence rule,
    the stored events it may complete. Returns (per-rule work, rule id -> stored context)."""
    docs = [doc for _, doc, _ in rows]
    try:
        # The broad queries of sequences wait until it is known which join keys can still
        # make a match (defer).
        found = ruleset.candidates(docs, defer=True)
    except Exception:
        logger.exception("rule set prefilter failed; evaluating every rule on every event")
        return [(rid, docs, None) for rid in ruleset.rule_ids], {}
    context_of = sequence_context(ruleset, found, ruleset.sequence_ids, rules, rows, texts)
    return found.kept(), context_of


def _search(ruleset, per_rule, context_of: dict, rows: list, failures: dict) -> dict[str, list]:
    """Rule id -> its matches over the batch; a rule that fails is added to ``failures``.
    A sequence searched with stored context keeps only matches holding a batch event (the
    others were found by an earlier batch)."""
    batch_ids = {id(doc) for _, doc, _ in rows}
    matches: dict[str, list] = {}
    for rule_id, candidates, flags in per_rule:
        if not candidates:
            continue
        extra = context_of.get(rule_id)
        try:
            if extra:
                found = ruleset.queries[rule_id].search([*candidates, *extra])
                found = [m for m in found if any(id(e) in batch_ids for e in m.events)]
            else:
                found = ruleset.search_rule(rule_id, candidates, flags)
        except Exception as exc:
            failures[rule_id] = f"{type(exc).__name__}: {exc}"
            continue
        if found:
            matches[rule_id] = found
    return matches


def _select(
    matches: dict[str, list], involved: dict[str, DetectionRule], rules: dict, now: datetime
) -> list[_Selected]:
    """Each matching rule's candidates, its active exceptions applied (read only for the
    rules that have exceptions at all, as the listing said)."""
    exceptions = active_exceptions_of(
        [involved[rid] for rid in matches if rid in involved and rules[rid].has_exceptions], now
    )
    selected = []
    for rule_id, found in matches.items():
        rule = involved.get(rule_id)
        if rule is None:  # deleted since the batch started
            continue
        cands, _suppressed, reached = select_candidates(
            rule, found, exceptions.get(rule.pk, NO_EXCEPTIONS)
        )
        selected.append(_Selected(rule, cands, reached))
    return selected


def _commit(
    selected: list[_Selected],
    failures: dict[str, str],
    involved: dict[str, DetectionRule],
    rows: list,
    now: datetime,
    started: float,
) -> int:
    """The batch's alerts, of every rule, and its runs (one per rule that matched or
    failed): one commit. Returns how many alerts are new."""
    window = (rows[0][2], rows[-1][2])
    with derived_writes():
        new_ids = write_alerts([c for sel in selected for c in sel.candidates], now=now)
        runs = [
            run_row(
                sel.rule,
                RuleRun.Trigger.INGEST,
                now,
                window,
                scanned=len(rows),
                raised=len(new_ids.get(sel.rule.pk, ())),
                reached=sel.reached,
                started=started,
            )
            for sel in selected
        ]
        runs += [
            run_row(
                involved[rule_id],
                RuleRun.Trigger.INGEST,
                now,
                window,
                scanned=len(rows),
                error=error,
                started=started,
            )
            for rule_id, error in failures.items()
            if rule_id in involved
        ]
        RuleRun.objects.bulk_create(runs)
    return sum(len(ids) for ids in new_ids.values())


def run_row(
    rule: DetectionRule,
    trigger: str,
    now: datetime,
    window: tuple[datetime, datetime],
    *,
    scanned: int,
    raised: int = 0,
    reached: bool = False,
    error: str = "",
    started: float,
) -> RuleRun:
    """An unsaved RuleRun of a rule over an ingest batch."""
    return RuleRun(
        rule=rule,
        trigger=trigger,
        outcome=RuleRun.Outcome.FAILED if error else RuleRun.Outcome.SUCCEEDED,
        started_at=now,
        ended_at=datetime.now(UTC),
        window_start=window[0],
        window_end=window[1],
        events_scanned=scanned,
        alerts_raised=raised,
        max_signals_reached=reached,
        duration_ms=int((time.monotonic() - started) * 1000),
        error=error[:5000],
    )
