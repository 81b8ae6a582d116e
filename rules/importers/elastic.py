"""Elastic detection rules (TOML) → ``DetectionRule`` rows.

Parsing (:func:`parse_rule_file`) is plain Python and needs no database, so ``manage.py detect``
can run rules straight from files. :func:`import_rule` upserts one parsed rule: a newer
``version`` updates the row and keeps the previous content as a ``DetectionRuleVersion``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from rules import eql

SUPPORTED_TYPES = {"eql"}
SEVERITIES = {"low", "medium", "high", "critical"}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_FROM = re.compile(r"^\s*now-(\d+)([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The fields copied from the TOML's [rule] table into the model, with their defaults.
_RULE_FIELDS = (
    "name",
    "description",
    "query",
    "type",
    "language",
    "severity",
    "risk_score",
    "max_signals",
    "index_patterns",
    "tags",
    "references",
    "false_positives",
    "note",
    "author",
    "license",
    "timestamp_override",
    "threat",
)


class RuleFileError(Exception):
    """A rule file that cannot be imported, with where (1-based line and column) and why."""

    def __init__(self, path: str, reason: str, line: int | None = None, column: int | None = None):
        self.path, self.reason, self.line, self.column = path, reason, line, column
        where = f"{path}:{line or 0}:{column or 0}"
        super().__init__(f"{where}: {reason}")


@dataclass
class ParsedRule:
    """One rule as read from TOML: the model's field values plus where it came from."""

    rule_id: str
    version: int
    fields: dict[str, Any]
    interval: timedelta
    lookback: timedelta
    source_path: str
    content_hash: str
    techniques: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.fields["name"]

    @property
    def query(self) -> str:
        return self.fields["query"]


def _duration(value: Any, path: str, key: str, pattern: re.Pattern) -> timedelta:
    match = pattern.match(value) if isinstance(value, str) else None
    if not match:
        raise RuleFileError(path, f"{key}: cannot read {value!r} as a duration")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(seconds=amount * _UNIT_SECONDS[unit])


def _string_list(rule: dict, key: str, path: str) -> list[str]:
    value = rule.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleFileError(path, f"{key}: expected a list of strings")
    return value


def _query_position(text: str) -> tuple[int, int, bool]:
    """Where the query string starts in the TOML text: (line, column, opens with a newline)."""
    match = re.search(r"^[ \t]*query[ \t]*=[ \t]*('''|\"\"\"|'|\")", text, re.MULTILINE)
    if not match:
        return 1, 1, False
    line = text.count("\n", 0, match.start()) + 1
    column = match.end() - text.rfind("\n", 0, match.start())
    after = text[match.end() : match.end() + 2]
    return line, column, after.startswith(("\n", "\r\n"))


def _techniques(threat: Any, path: str) -> list[dict[str, str]]:
    """The technique (and sub-technique) rows a rule maps to, each with its tactic."""
    if not isinstance(threat, list):
        raise RuleFileError(path, "threat: expected a list of tables")
    rows: list[dict[str, str]] = []
    for entry in threat:
        if not isinstance(entry, dict):
            raise RuleFileError(path, "threat: expected a list of tables")
        tactic = entry.get("tactic") or {}
        tactic_id, tactic_name = str(tactic.get("id", "")), str(tactic.get("name", ""))
        for tech in entry.get("technique") or []:
            if not isinstance(tech, dict) or not tech.get("id"):
                continue
            rows.append(
                {
                    "id": str(tech["id"]),
                    "name": str(tech.get("name", "")),
                    "url": str(tech.get("reference", "")),
                    "tactic_id": tactic_id,
                    "tactic_name": tactic_name,
                    "parent_id": "",
                }
            )
            for sub in tech.get("subtechnique") or []:
                if isinstance(sub, dict) and sub.get("id"):
                    rows.append(
                        {
                            "id": str(sub["id"]),
                            "name": str(sub.get("name", "")),
                            "url": str(sub.get("reference", "")),
                            "tactic_id": tactic_id,
                            "tactic_name": tactic_name,
                            "parent_id": str(tech["id"]),
                        }
                    )
    return rows


def _key_position(text: str, reason: str) -> tuple[int, int]:
    """Where the field a reason names ("rule.severity: ...") is set in the TOML text."""
    head = reason.split(":", 1)[0].strip()
    key = head.rsplit(".", 1)[-1]
    if key == "index_patterns":
        key = "index"
    match = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=", text, re.MULTILINE)
    if not match:
        return 1, 1
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return line, column + (len(match.group(0)) - len(match.group(0).lstrip()))


def parse_rule_text(text: str, path: str = "<rule>") -> ParsedRule:
    """Read one Elastic rule from TOML text and compile its query.

    Raises :class:`RuleFileError` with the line and column (in the file) of a TOML error, of
    an EQL error in the query, or of the field a problem is about.
    """
    try:
        return _parse_rule_text(text, path)
    except RuleFileError as exc:
        if exc.line is None:
            line, column = _key_position(text, exc.reason)
            raise RuleFileError(path, exc.reason, line, column) from None
        raise


def _parse_rule_text(text: str, path: str) -> ParsedRule:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", reason)
        if where:
            line, column = int(where.group(1)), int(where.group(2))
            reason = reason[: where.start()]
        else:
            line, column = text.count("\n") + 1, 1  # "at end of document"
            reason = reason.replace(" (at end of document)", " at end of document")
        raise RuleFileError(path, f"TOML: {reason}", line, column) from None
    rule = data.get("rule")
    if not isinstance(rule, dict):
        raise RuleFileError(path, "no [rule] table", 1, 1)
    for key in ("rule_id", "name", "query"):
        if not isinstance(rule.get(key), str) or not rule[key].strip():
            raise RuleFileError(path, f"rule.{key}: required string is missing")
    rule_type = rule.get("type", "eql")
    language = rule.get("language", "eql")
    if rule_type not in SUPPORTED_TYPES or language != "eql":
        raise RuleFileError(
            path, f"unsupported rule type {rule_type!r} / language {language!r} (only EQL rules)"
        )
    version = rule.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RuleFileError(path, "rule.version: expected a positive integer")
    severity = str(rule.get("severity", "medium")).lower()
    if severity not in SEVERITIES:
        raise RuleFileError(path, f"rule.severity: {severity!r} is not one of {sorted(SEVERITIES)}")
    risk_score = rule.get("risk_score", 47)
    if not isinstance(risk_score, int) or not 0 <= risk_score <= 100:
        raise RuleFileError(path, "rule.risk_score: expected an integer from 0 to 100")
    max_signals = rule.get("max_signals", 100)
    if not isinstance(max_signals, int) or max_signals < 1:
        raise RuleFileError(path, "rule.max_signals: expected a positive integer")
    interval = _duration(rule.get("interval", "5m"), path, "rule.interval", _DURATION)
    lookback = _duration(rule.get("from", "now-9m"), path, "rule.from", _FROM)
    if interval <= timedelta(0):
        raise RuleFileError(path, "rule.interval: must be longer than zero")

    timestamp_override = rule.get("timestamp_override", "")
    try:
        eql.compile(rule["query"], timestamp_field="@timestamp", category_field="event.category")
    except eql.EqlError as exc:
        q_line, q_column, newline_first = _query_position(text)
        e_line = getattr(exc, "line", None) or 1
        e_column = getattr(exc, "column", None) or 1
        if newline_first:
            line, column = q_line + e_line, e_column
        else:
            line = q_line + e_line - 1
            column = e_column + q_column - 1 if e_line == 1 else e_column
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise RuleFileError(path, f"EQL: {reason}", line, column) from None

    fields = {
        "name": rule["name"].strip(),
        "description": str(rule.get("description", "")).strip(),
        "query": rule["query"].strip(),
        "type": rule_type,
        "language": language,
        "severity": severity,
        "risk_score": risk_score,
        "max_signals": max_signals,
        "index_patterns": _string_list(rule, "index", path),
        "tags": _string_list(rule, "tags", path),
        "references": _string_list(rule, "references", path),
        "false_positives": _string_list(rule, "false_positives", path),
        "note": str(rule.get("note", "")),
        "author": _string_list(rule, "author", path),
        "license": str(rule.get("license", ""))[:100],
        "timestamp_override": str(timestamp_override)[:100],
        "threat": rule.get("threat", []),
    }
    techniques = _techniques(fields["threat"], path)
    material = {
        **fields,
        "version": version,
        "interval": interval.total_seconds(),
        "lookback": lookback.total_seconds(),
    }
    content_hash = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return ParsedRule(
        rule_id=rule["rule_id"].strip(),
        version=version,
        fields=fields,
        interval=interval,
        lookback=lookback,
        source_path=path,
        content_hash=content_hash,
        techniques=techniques,
    )


def parse_rule_file(path: str | Path) -> ParsedRule:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RuleFileError(str(path), "not valid UTF-8", line, column) from None
    return parse_rule_text(text, str(path))


def parsed_text_of(path: str | Path) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")


def rule_files(paths: list[str | Path]) -> Iterator[Path]:
    """The ``.toml`` files named, and those under the folders named (sorted, recursive)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.toml") if p.is_file())
        else:
            yield path


# --- database side -----------------------------------------------------------------------


def ensure_techniques(rows: list[dict[str, str]]) -> list:
    """The Technique rows for a rule's mapping, created (with tactic and parent) if unknown."""
    from rules import attack
    from rules.models import Tactic, Technique

    known_tactics = {t.external_id: t for t in attack.TACTICS}
    known_techniques = {t.external_id: t for t in attack.TECHNIQUES}
    result = []
    for row in sorted(rows, key=lambda r: (r["parent_id"] != "", r["id"])):
        tactic_id = row["tactic_id"] or "TA0002"
        known_tactic = known_tactics.get(tactic_id)
        tactic, _ = Tactic.objects.get_or_create(
            external_id=tactic_id,
            defaults={
                "name": (known_tactic.name if known_tactic else row["tactic_name"]) or tactic_id,
                "url": known_tactic.url if known_tactic else "",
            },
        )
        parent = None
        if row["parent_id"]:
            parent = Technique.objects.filter(external_id=row["parent_id"]).first()
        known = known_techniques.get(row["id"])
        technique, _ = Technique.objects.get_or_create(
            external_id=row["id"],
            defaults={
                "name": (known.name if known else row["name"]) or row["id"],
                "description": known.description if known else "",
                "url": (known.url if known else row["url"])[:200],
                "tactic": tactic,
                "parent": parent,
            },
        )
        result.append(technique)
    return result


def _snapshot(rule) -> dict[str, Any]:
    content = {name: getattr(rule, name) for name in _RULE_FIELDS}
    content.update(
        rule_id=rule.rule_id,
        version=rule.version,
        interval=rule.interval.total_seconds(),
        lookback=rule.lookback.total_seconds(),
        source_path=rule.source_path,
    )
    return content


def import_rule(parsed: ParsedRule, *, dry_run: bool = False) -> str:
    """Create or update the rule; returns "imported", "updated" or "unchanged".

    An existing rule is updated only by a higher version, or by the same version with changed
    content (a local fix); the content it had is kept as a ``DetectionRuleVersion``. A lower
    version is left alone ("unchanged"). The ``enabled`` flag an operator set is kept.
    """
    from django.db import transaction

    from rules.models import DetectionRule, DetectionRuleVersion

    with transaction.atomic():
        rule = DetectionRule.objects.select_for_update().filter(rule_id=parsed.rule_id).first()
        if rule is not None:
            if parsed.version < rule.version or parsed.content_hash == rule.content_hash:
                return "unchanged"
            status = "updated"
        else:
            status = "imported"
        if dry_run:
            return status
        if rule is None:
            rule = DetectionRule(rule_id=parsed.rule_id)
        else:
            DetectionRuleVersion.objects.get_or_create(
                rule=rule,
                version=rule.version,
                defaults={"content": _snapshot(rule), "content_hash": rule.content_hash},
            )
        for name, value in parsed.fields.items():
            setattr(rule, name, value)
        rule.version = parsed.version
        rule.interval = parsed.interval
        rule.lookback = parsed.lookback
        rule.content_hash = parsed.content_hash
        rule.source_path = parsed.source_path[:500]
        rule.save()
        rule.techniques.set(ensure_techniques(parsed.techniques))
    return status


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[RuleFileError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


def import_paths(paths: list[str | Path], *, dry_run: bool = False) -> ImportReport:
    """Import every rule file under ``paths``; a bad file is reported and the rest go on."""
    report = ImportReport()
    seen: dict[str, ParsedRule] = {}
    for path in rule_files(paths):
        try:
            parsed = parse_rule_file(path)
            earlier = seen.get(parsed.rule_id)
            if earlier is not None:
                if earlier.content_hash != parsed.content_hash:
                    line, column = _key_position(parsed_text_of(path), "rule_id")
                    raise RuleFileError(
                        str(path),
                        f"rule_id {parsed.rule_id} is also in {earlier.source_path} "
                        "with other content",
                        line,
                        column,
                    )
                report.unchanged += 1
                continue
            seen[parsed.rule_id] = parsed
            status = import_rule(parsed, dry_run=dry_run)
        except RuleFileError as exc:
            report.failures.append(exc)
            continue
        setattr(report, status, getattr(report, status) + 1)
    return report
