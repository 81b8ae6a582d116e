"""``manage.py ingest FILE...``: store events from files and run detection on them."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rules.ingest import read_path, size_hint, sniff_path
from rules.store import ingest_records

MAX_REJECTIONS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Store the events of NDJSON (ECS), Windows .evtx, Winlogbeat or NXLog JSON files, "
        "plain, zipped or gzipped, recognised by content. Events already stored (same "
        "event.id, else same content) are skipped. Detection runs on the new events. "
        "A progress bar goes to stderr on a terminal; the summary to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--no-progress", action="store_true", help="no progress bar even on a terminal"
        )

    def handle(self, *args, files, no_progress, **options):
        show_progress = not no_progress and sys.stderr.isatty()
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        unreadable = 0
        for name in files:
            try:
                kind = sniff_path(name)
                total = size_hint(name)
            except OSError as exc:
                self.stderr.write(f"{name}: cannot read: {exc.strerror or exc}")
                unreadable += 1
                continue
            bar = None
            if show_progress:
                from tqdm import tqdm

                bar = tqdm(
                    total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr, leave=False
                )
            try:
                records = read_path(
                    name,
                    max_line_bytes=settings.INGEST_MAX_LINE_BYTES,
                    on_progress=bar.update if bar is not None else None,
                )
                summary = ingest_records(records)
            except OSError as exc:
                self.stderr.write(f"{name}: cannot read: {exc.strerror or exc}")
                unreadable += 1
                continue
            finally:
                if bar is not None:
                    bar.close()
            for item in summary.rejected[:MAX_REJECTIONS_SHOWN]:
                where = item.get("source") or name
                self.stderr.write(f"{where}: record {item['line']}: {item['error']}")
            if len(summary.rejected) > MAX_REJECTIONS_SHOWN:
                self.stderr.write(
                    f"{name}: ... and {len(summary.rejected) - MAX_REJECTIONS_SHOWN} more "
                    "rejected records"
                )
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_kind.items())) or kind
            self.stdout.write(
                f"{name} ({kinds}): accepted {summary.accepted}, duplicates "
                f"{summary.duplicates}, rejected {len(summary.rejected)}"
            )
            totals["accepted"] += summary.accepted
            totals["duplicates"] += summary.duplicates
            totals["rejected"] += len(summary.rejected)
        if len(files) > 1:
            self.stdout.write(
                f"total: accepted {totals['accepted']}, duplicates {totals['duplicates']}, "
                f"rejected {totals['rejected']}"
            )
        if unreadable:
            raise CommandError(f"{unreadable} file(s) could not be read")
