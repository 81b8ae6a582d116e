"""``manage.py run_rules [RULE_ID...]``: run rules now over their look-back windows."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rules import detection
from rules.models import DetectionRule, RuleRun


class Command(BaseCommand):
    help = (
        "Run enabled rules (all, or those named by rule_id) once over their `from` look-back "
        "window, in this process, and print one line per run."
    )

    def add_arguments(self, parser):
        parser.add_argument("rule_ids", nargs="*", metavar="RULE_ID")

    def handle(self, *args, rule_ids, **options):
        rules = DetectionRule.objects.enabled()
        if rule_ids:
            rules = rules.filter(rule_id__in=rule_ids)
        failed = 0
        for run in detection.run_rules(rules, trigger=RuleRun.Trigger.MANUAL):
            failed += run.outcome == RuleRun.Outcome.FAILED
            self.stdout.write(
                f"{run.outcome:9} {run.rule.name}: scanned {run.events_scanned}, "
                f"alerts {run.alerts_raised}"
                + (" (max_signals reached)" if run.max_signals_reached else "")
                + (f" error: {run.error}" if run.error else "")
            )
        if failed:
            self.stderr.write(f"{failed} rule(s) failed")
