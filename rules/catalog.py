"""The catalog of the machine side, as the human side reads and tunes it: detection rules, their
exceptions, versions and runs, and the ATT&CK tactics and techniques the rules map to.

This module is the public surface ``triage`` uses for rules and techniques; it imports nothing
of ``triage``. Events have their own surface (the event store), detection its own; the ATT&CK
rows the product ships are plain data in ``rules.attack`` (no Django, so the playbook format
can check technique ids without it).

Techniques live on this side because they describe rules (a rule's ``[rule.threat]``): alerts
and playbooks of the human side point at them, so every foreign key between the apps points
the same way as the imports: triage → rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from rules import attack
from rules.ingest import get_field
from rules.models import (
    DetectionRule,
    DetectionRuleVersion,
    ExceptionOperator,
    RuleException,
    RuleRun,
    Tactic,
    Technique,
    active_exceptions_q,
)

__all__ = [
    "DetectionRule",
    "DetectionRuleVersion",
    "ExceptionOperator",
    "RuleException",
    "RuleRun",
    "Tactic",
    "Technique",
    "active_exceptions_q",
    "create_rule_exception",
    "field_values",
    "link_rules_to_techniques",
    "load_attack_techniques",
    "rules_with_latest_run",
    "technique_ids_of_threat",
]

# --- rules ----------------------------------------------------------------------------------


def rules_with_latest_run() -> QuerySet[DetectionRule]:
    """Every rule, enabled first then by name, annotated with its latest run (``run_outcome``,
    ``run_started``, ``run_alerts``, ``run_error``; None before its first run) and
    ``exception_count``, the exceptions in force now. One query."""
    latest = RuleRun.objects.filter(rule=OuterRef("pk")).order_by("-started_at")
    return DetectionRule.objects.annotate(
        run_outcome=Subquery(latest.values("outcome")[:1]),
        run_started=Subquery(latest.values("started_at")[:1]),
        run_alerts=Subquery(latest.values("alerts_raised")[:1]),
        run_error=Subquery(latest.values("error")[:1]),
        exception_count=Count(
            "exceptions",
            filter=Q(exceptions__expires_at__isnull=True)
            | Q(exceptions__expires_at__gt=timezone.now()),
            distinct=True,
        ),
    ).order_by("-enabled", "name")


# --- exceptions -----------------------------------------------------------------------------


def field_values(documents: Iterable, paths: Iterable[str]) -> dict[str, list[str]]:
    """Per path, the distinct scalar values (as text, in order of first appearance) the
    documents hold there. Paths without a value are left out; the others come in the order
    they are first found (document by document, each in the order of ``paths``).

    Fields are read as an exception reads them when it is matched, so a value offered here is
    one the exception will meet. Items that are not dicts are skipped.
    """
    paths = list(paths)
    found: dict[str, list[str]] = {}
    for doc in documents or []:
        if not isinstance(doc, dict):
            continue
        for path in paths:
            value = get_field(doc, path, None)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str | int) and str(v) and str(v) not in found.get(path, []):
                    found.setdefault(path, []).append(str(v))
    return found


def create_rule_exception(
    rule: DetectionRule,
    *,
    field: str,
    operator: str,
    values: list[str],
    comment: str,
    author,
    expires_at: datetime | None,
) -> RuleException:
    """Add an exception to ``rule``: from now on a match whose events meet it raises no alert.

    ``field`` is stored stripped; ``expires_at`` None means it never expires. The caller
    validates the form (operator among ``ExceptionOperator``, values present unless it is
    "exists") and records who asked for it where it keeps its own history.
    """
    return RuleException.objects.create(
        rule=rule,
        field=field.strip(),
        operator=operator,
        values=values,
        comment=comment,
        author=author,
        expires_at=expires_at,
    )


# --- ATT&CK techniques ----------------------------------------------------------------------


def load_attack_techniques() -> dict[str, Technique]:
    """Upsert the tactics and techniques the product ships (``rules.attack``) by external id;
    returns every shipped technique by its id. Idempotent; parents are saved before their
    sub-techniques."""
    tactics = {}
    for row in attack.TACTICS:
        tactics[row.external_id], _ = Tactic.objects.update_or_create(
            external_id=row.external_id,
            defaults={"name": row.name, "description": row.description, "url": row.url},
        )
    techniques: dict[str, Technique] = {}
    # Parents first: the tuple lists T1059 before its sub-techniques, but do not rely on it.
    for row in sorted(attack.TECHNIQUES, key=lambda r: r.parent_id is not None):
        techniques[row.external_id], _ = Technique.objects.update_or_create(
            external_id=row.external_id,
            defaults={
                "name": row.name,
                "description": row.description,
                "url": row.url,
                "tactic": tactics[row.tactic_id],
                "parent": techniques.get(row.parent_id) if row.parent_id else None,
            },
        )
    return techniques


def technique_ids_of_threat(threat) -> list[str]:
    """Technique and sub-technique ids named in an Elastic rule's ``threat`` mapping."""
    ids: list[str] = []
    for entry in threat or []:
        for technique in (entry or {}).get("technique", []) or []:
            if technique.get("id"):
                ids.append(technique["id"])
            for sub in technique.get("subtechnique", []) or []:
                if sub.get("id"):
                    ids.append(sub["id"])
    return ids


def link_rules_to_techniques(techniques: dict[str, Technique]) -> int:
    """Link every stored rule to those of ``techniques`` (by external id) its ``threat``
    mapping names, keeping links it has; returns how many rules named at least one."""
    linked = 0
    for rule in DetectionRule.objects.all():
        wanted = [techniques[i] for i in technique_ids_of_threat(rule.threat) if i in techniques]
        if wanted:
            rule.techniques.add(*wanted)
            linked += 1
    return linked
