"""Alert candidates: what a rule's matches become once exceptions and ``max_signals`` are applied,
as plain data for the writer of alerts (the human side, see the package docstring).

The machine side derives every value read from the matched documents (the alert's time, its
host and user): it is the side that knows how ECS fields resolve and how event times parse.
The writer adds only what belongs to the workflow (status, SLA, when it was recorded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rules.detection.exceptions import ExceptionMatcher
from rules.eql.timestamps import parse_ingest_timestamp
from rules.ingest.ecs import event_id_of
from rules.ingest.fields import get_field


def alert_key(rule_id: str, event_ids: list[str]) -> str:
    """The idempotency key of an alert: the same rule over the same ordered events is one alert."""
    material = "\x1f".join([rule_id, *event_ids]).encode()
    return hashlib.sha256(material).hexdigest()


class AlertingRule(Protocol):
    """What a candidate needs of its rule (a ``DetectionRule``, or a rule read from a file)."""

    pk: int | None
    rule_id: str
    version: int
    name: str
    severity: str
    risk_score: int
    max_signals: int


@dataclass(frozen=True)
class AlertCandidate:
    """One alert to raise, unless its ``key`` is raised already.

    ``rule_pk`` is the ``DetectionRule`` row's primary key (None for a rule read from a file);
    ``documents`` are the matched events in match order, ``event_ids`` their ids;
    ``timestamp`` is the latest ``@timestamp`` among them (None when none parses); host and
    user are the last non-empty value among them (at most 255 characters, "" when none).
    """

    rule_pk: int | None
    rule_id: str
    rule_version: int
    rule_name: str
    severity: str
    risk_score: int
    key: str
    event_ids: tuple[str, ...]
    documents: tuple[dict, ...]
    timestamp: datetime | None
    host_name: str
    host_id: str
    user_name: str
    user_id: str


def _last_value(docs: list[dict], path: str) -> str:
    for doc in reversed(docs):
        value = get_field(doc, path)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:255]
    return ""


def _latest_timestamp(docs: list[dict]) -> datetime | None:
    stamps = [parse_ingest_timestamp(get_field(doc, "@timestamp", None)) for doc in docs]
    stamps = [ts for ts in stamps if ts is not None]
    return max(stamps) if stamps else None


def make_candidate(
    rule: AlertingRule, documents: list[dict], event_ids: list[str], key: str | None = None
) -> AlertCandidate:
    """The candidate of ``rule`` over these matched documents (``key`` computed when not given)."""
    return AlertCandidate(
        rule_pk=rule.pk,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        rule_name=rule.name,
        severity=rule.severity,
        risk_score=rule.risk_score,
        key=key or alert_key(rule.rule_id, event_ids),
        event_ids=tuple(event_ids),
        documents=tuple(documents),
        timestamp=_latest_timestamp(documents),
        host_name=_last_value(documents, "host.name"),
        host_id=_last_value(documents, "host.id"),
        user_name=_last_value(documents, "user.name"),
        user_id=_last_value(documents, "user.id"),
    )


def select_candidates(
    rule: AlertingRule, matches: Iterable, exceptions: ExceptionMatcher
) -> tuple[list[AlertCandidate], int, bool]:
    """Matches → candidates: exceptions applied, duplicates (same key) dropped, then capped
    at the rule's ``max_signals``.

    Returns (candidates, matches suppressed by exceptions, max_signals reached).
    """
    out: list[AlertCandidate] = []
    suppressed = 0
    reached = False
    seen: set[str] = set()
    for match in matches:
        if exceptions.match(match.events) is not None:
            suppressed += 1
            continue
        docs = [doc for doc in match.events if isinstance(doc, dict)]
        ids = [event_id_of(doc) for doc in docs]
        key = alert_key(rule.rule_id, ids)
        if key in seen:
            continue
        if len(out) >= rule.max_signals:
            reached = True
            break
        seen.add(key)
        out.append(make_candidate(rule, docs, ids, key))
    return out, suppressed, reached
