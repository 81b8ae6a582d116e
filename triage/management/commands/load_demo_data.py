"""Load the demo data set (see ``triage/demo/``): events, alerts by detection, and a
realistic past of analyst work. Idempotent: running it again adds nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from triage import demo


class Command(BaseCommand):
    help = "Generate demo events, raise alerts with the detection pipeline, walk them through the workflow."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=demo.SEED)

    def handle(self, *args, seed: int, **options):
        try:
            summary = demo.load(seed=seed)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        walked = ", ".join(f"{n} {state}" for state, n in sorted(summary.walked.items()))
        self.stdout.write(
            f"demo data: {summary.events} new events, {summary.alerts} alerts in total"
            f"{f' ({summary.direct} created directly: the engine missed their chain)' if summary.direct else ''}"
            f"; walked: {walked or 'nothing new'}"
        )
