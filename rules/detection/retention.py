"""Retention: events older than ``EVENT_RETENTION_DAYS`` and sequence hits no rule can use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings

from rules import eql
from rules.detection.lookback import sequence_shape
from rules.detection.rule_cache import rule_cache
from rules.models import DetectionRule, Event, SequenceHit


def _hit_retention() -> timedelta:
    """How long sequence hits are useful: the longest span of an enabled sequence rule (its
    maxspan, else its look-back), and never less than a day."""
    longest = timedelta(days=1)
    for rule in DetectionRule.objects.enabled().only("rule_id", "query", "lookback"):
        try:
            shape = sequence_shape(rule_cache.compile_query(rule.rule_id, rule.query))
        except eql.EqlError:
            continue
        if shape is not None:
            longest = max(longest, shape.maxspan or rule.lookback)
    return longest


def purge_expired_events(now: datetime | None = None, *, chunk: int = 10_000) -> int:
    """Delete events whose ``@timestamp`` is older than ``EVENT_RETENTION_DAYS``, in chunks
    (short transactions); returns how many were deleted. Alerts keep their own snapshot of
    the events they matched. Sequence hits are kept as long as a sequence rule can look back
    (at least a day)."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.EVENT_RETENTION_DAYS)
    SequenceHit.objects.filter(timestamp__lt=max(cutoff, now - _hit_retention())).delete()
    total = 0
    while True:
        pks = list(Event.objects.filter(timestamp__lt=cutoff).values_list("pk", flat=True)[:chunk])
        if not pks:
            return total
        deleted, _ = Event.objects.filter(pk__in=pks).delete()
        total += deleted
