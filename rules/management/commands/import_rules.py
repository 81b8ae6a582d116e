"""``manage.py import_rules PATH... [--dry-run]``: load Elastic TOML detection rules."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rules.importers.elastic import import_paths

LIBRARY = Path(__file__).resolve().parents[2] / "library"


class Command(BaseCommand):
    help = (
        "Import Elastic detection rules (TOML files or folders of them). Prints counts of "
        "imported, updated, unchanged and failed rules, and each failure as FILE:LINE:COLUMN: "
        "reason. A newer version updates a rule and keeps its previous content as history."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths",
            nargs="*",
            metavar="PATH",
            help="TOML files or folders (default: the rules the product ships, rules/library)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check and count, change nothing"
        )

    def handle(self, *args, paths, dry_run, **options):
        paths = paths or [str(LIBRARY)]
        report = import_paths(paths, dry_run=dry_run)
        for failure in report.failures:
            self.stderr.write(
                f"failed: {failure.path}:{failure.line or 0}:{failure.column or 0}: "
                f"{failure.reason}"
            )
        prefix = "dry run, nothing saved: " if dry_run else ""
        self.stdout.write(
            f"{prefix}imported {report.imported}, updated {report.updated}, "
            f"unchanged {report.unchanged}, failed {report.failed}"
        )
        total = report.imported + report.updated + report.unchanged + report.failed
        if total == 0:
            raise CommandError("no rule files found under the given paths")
        if report.failed:
            raise CommandError(f"{report.failed} rule file(s) failed", returncode=2)
