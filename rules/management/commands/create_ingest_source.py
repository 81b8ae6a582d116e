"""``manage.py create_ingest_source NAME [--rotate]``: a sender of events and its token."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rules.models import IngestSource


class Command(BaseCommand):
    help = (
        "Create an ingest source and print its bearer token (stdout, once: only a hash is "
        "stored). With --rotate, issue a new token for an existing source."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--rotate", action="store_true", help="replace an existing token")

    def handle(self, *args, name, rotate, **options):
        with transaction.atomic():
            source = IngestSource.objects.select_for_update().filter(name=name).first()
            if source is not None and not rotate:
                raise CommandError(
                    f"ingest source {name!r} exists; use --rotate to issue a new token"
                )
            if source is None:
                if rotate:
                    raise CommandError(f"no ingest source named {name!r}")
                source = IngestSource(name=name)
            token = source.issue_token()
            source.save()
        self.stderr.write(
            f"ingest source {name!r}: token below (shown once; send it as "
            "'Authorization: Bearer <token>')"
        )
        self.stdout.write(token)
