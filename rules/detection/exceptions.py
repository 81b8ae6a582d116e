"""Rule exceptions: the active ``RuleException`` rows of a rule, ready to test matched events."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rules.ingest.fields import MISSING, get_field
from rules.models import DetectionRule, ExceptionOperator, RuleException, active_exceptions_q


def _wildcard(pattern: str) -> re.Pattern:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _as_strings(value) -> list[str]:
    if value is MISSING or value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, str | int | float):
            out.append(str(v))
    return out


@dataclass
class ExceptionMatcher:
    """The active exceptions of one rule, ready to test events.

    ``is`` and ``is one of`` compare exactly (case-sensitive, as Elastic's keyword fields);
    ``matches`` is a case-insensitive wildcard (``*``, ``?``) over the whole value; ``exists``
    needs the field present and not null. Multi-valued fields match when any element does.
    """

    exceptions: Sequence[RuleException]
    _tests: list = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for exc in self.exceptions:
            values = [str(v) for v in (exc.values or [])]
            if exc.operator == ExceptionOperator.MATCHES:
                patterns = [_wildcard(v) for v in values]
                test = (lambda ps: lambda vs: any(p.fullmatch(v) for p in ps for v in vs))(patterns)
            elif exc.operator == ExceptionOperator.EXISTS:
                test = None
            else:
                wanted = frozenset(values[:1] if exc.operator == ExceptionOperator.IS else values)
                test = (lambda w: lambda vs: any(v in w for v in vs))(wanted)
            self._tests.append((exc, exc.field, test))

    def match(self, docs: Iterable[dict | None]) -> RuleException | None:
        """The first exception that one of ``docs`` meets, or None."""
        for exc, path, test in self._tests:
            for doc in docs:
                if doc is None:
                    continue
                value = get_field(doc, path)
                if test is None:
                    if value is not MISSING and value is not None:
                        return exc
                elif test(_as_strings(value)):
                    return exc
        return None


# The matcher of a rule without exceptions (it matches nothing).
NO_EXCEPTIONS = ExceptionMatcher([])


def active_exceptions(rule: DetectionRule, now: datetime) -> ExceptionMatcher:
    """The exceptions of ``rule`` active at ``now``."""
    return ExceptionMatcher(list(rule.exceptions.filter(active_exceptions_q(now))))


def active_exceptions_of(rules: list[DetectionRule], now: datetime) -> dict[int, ExceptionMatcher]:
    """Rule pk -> its active exceptions, for several rules in one query."""
    found: dict[int, list[RuleException]] = {rule.pk: [] for rule in rules}
    if rules:
        for exc in RuleException.objects.filter(active_exceptions_q(now), rule__in=rules):
            found[exc.rule_id].append(exc)
    return {pk: ExceptionMatcher(excs) for pk, excs in found.items()}
