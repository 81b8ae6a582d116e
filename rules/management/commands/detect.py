"""``manage.py detect FILE... [--rules PATH...]``: run rules over event files, store nothing.

stdout is data: one JSON line per alert, ``{"rule_id", "rule_name", "event_ids",
"timestamp"}``; stderr is progress and problems.
"""

from __future__ import annotations

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rules import detection
from rules.importers.elastic import RuleFileError, parse_rule_file, rule_files
from rules.ingest import get_field, read_path
from rules.models import DetectionRule


class _FileRule:
    """A rule read from TOML for this run only (no row, so no pk; no exceptions: they live in
    the database)."""

    pk = None

    def __init__(self, parsed):
        self.rule_id = parsed.rule_id
        self.version = parsed.version
        self.name = parsed.name
        self.query = parsed.query
        self.severity = parsed.fields["severity"]
        self.risk_score = parsed.fields["risk_score"]
        self.max_signals = parsed.fields["max_signals"]


class Command(BaseCommand):
    help = (
        "Run detection rules (TOML files or folders given with --rules; by default the "
        "enabled rules in the database, with their exceptions) over event files without "
        "storing anything. Prints one JSON line per alert."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--rules", nargs="+", metavar="PATH", default=None)

    def _rules(self, paths):
        if paths is None:
            now = timezone.now()
            rules = []
            for rule in DetectionRule.objects.enabled():
                rule.exceptions_matcher = detection.active_exceptions(rule, now)
                rules.append(rule)
            return rules
        rules, seen = [], set()
        for path in rule_files(paths):
            try:
                parsed = parse_rule_file(path)
            except RuleFileError as exc:
                self.stderr.write(f"skipped rule {exc}")
                continue
            if parsed.rule_id not in seen:
                seen.add(parsed.rule_id)
                rules.append(_FileRule(parsed))
        return rules

    def handle(self, *args, files, rules, **options):
        loaded = self._rules(rules)
        if not loaded:
            raise CommandError("no rules to run (import some, or pass --rules PATH)")
        docs = []
        for name in files:
            try:
                for record in read_path(name, max_line_bytes=settings.INGEST_MAX_LINE_BYTES):
                    if record.error is not None:
                        where = record.source or name
                        self.stderr.write(f"{where}: record {record.number}: {record.error}")
                    elif record.event is not None:
                        docs.append(record.event)
            except OSError as exc:
                raise CommandError(f"{name}: cannot read: {exc.strerror or exc}") from None
        self.stderr.write(f"{len(docs)} events, {len(loaded)} rules")
        by_id = {rule.rule_id: rule for rule in loaded}
        ruleset = detection.compile_ruleset({rule.rule_id: rule.query for rule in loaded})
        for rule_id, error in ruleset.errors.items():
            self.stderr.write(f"rule {rule_id} skipped: {error}")
        found: dict[str, list] = {}
        for rule_id, match in ruleset.search(docs):
            found.setdefault(rule_id, []).append(match)
        for rule_id, matches in found.items():
            rule = by_id[rule_id]
            matcher = getattr(rule, "exceptions_matcher", None) or detection.ExceptionMatcher([])
            cands, suppressed, reached = detection.select_candidates(rule, matches, matcher)
            if suppressed:
                self.stderr.write(f"{rule.name}: {suppressed} match(es) excepted")
            if reached:
                self.stderr.write(f"{rule.name}: max_signals ({rule.max_signals}) reached")
            for cand in cands:
                line = orjson.dumps(
                    {
                        "rule_id": rule_id,
                        "rule_name": rule.name,
                        "event_ids": cand.event_ids,
                        "timestamp": get_field(cand.documents[-1], "@timestamp", None),
                    }
                )
                self.stdout.write(line.decode())
