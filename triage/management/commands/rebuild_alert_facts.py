"""Recompute the per-alert metrics facts from the append-only history."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from triage.metrics import facts_sql
from triage.models import AlertFacts


class Command(BaseCommand):
    help = (
        "Recompute triage_alertfacts from the alert history (the trigger keeps it current; "
        "use this after restoring a backup or to verify it)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="report whether the stored facts equal a fresh fold, change nothing",
        )

    def handle(self, *args, check: bool = False, **options):
        with transaction.atomic():
            before = _snapshot()
            AlertFacts.objects.all().delete()
            with connection.cursor() as cursor:
                cursor.execute(facts_sql.rebuild_sql(connection.vendor))
            after = _snapshot()
            if check:
                transaction.set_rollback(True)
        differing = len(set(before.items()) ^ set(after.items()))
        if check:
            if differing:
                self.stdout.write(f"facts differ from the history for {differing} row(s)")
                raise SystemExit(1)
            self.stdout.write(f"facts match the history ({len(after)} alerts)")
        else:
            self.stdout.write(f"rebuilt facts for {len(after)} alerts ({differing} rows changed)")


def _snapshot() -> dict:
    columns = ("alert_id", *facts_sql.COLUMNS)
    return {row[0]: row for row in AlertFacts.objects.values_list(*columns)}
