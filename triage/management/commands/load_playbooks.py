"""Load the ATT&CK rows and the technique playbooks into the database (idempotent).

- Tactics and techniques the product ships (``rules.attack``) are upserted by external id.
- Every playbook file in ``triage/playbooks`` (or the given folder) is validated; a file whose
  content is unchanged adds nothing, a higher ``version`` adds a PlaybookVersion (earlier
  versions stay, so triages keep the version they ran with), and changed content under the same
  version is refused with the file and field named.
- Rules already imported are linked to the techniques of their MITRE mapping.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rules import catalog
from triage.models import Playbook, PlaybookVersion
from triage.playbook_files import default_directory, load_all
from triage.playbook_format import PlaybookFormatError, version_change


class Command(BaseCommand):
    help = "Load ATT&CK techniques and the technique playbooks (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=None)

    def handle(self, *args, directory=None, **options):
        folder = Path(directory) if directory else default_directory()
        try:
            playbooks = load_all(folder)
        except PlaybookFormatError as exc:
            raise CommandError(str(exc)) from None
        counts = {"new": 0, "new_version": 0, "unchanged": 0}
        with transaction.atomic():
            techniques = catalog.load_attack_techniques()
            for playbook in playbooks:
                technique = techniques.get(playbook.technique)
                if technique is None:
                    raise CommandError(f"{playbook.source}: unknown technique {playbook.technique}")
                row, _ = Playbook.objects.get_or_create(
                    technique=technique,
                    defaults={"title": playbook.title, "source_path": str(playbook.source)},
                )
                latest = row.current_version()
                try:
                    change = version_change(
                        latest.version if latest else None,
                        latest.content_hash if latest else None,
                        playbook,
                    )
                except PlaybookFormatError as exc:
                    raise CommandError(str(exc)) from None
                counts[change] += 1
                if change == "unchanged":
                    continue
                PlaybookVersion.objects.create(
                    playbook=row,
                    version=playbook.version,
                    content=playbook.to_dict(),
                    content_hash=playbook.content_hash,
                )
                row.title = playbook.title
                row.source_path = str(playbook.source)
                row.save(update_fields=["title", "source_path"])
            linked = catalog.link_rules_to_techniques(techniques)
        self.stdout.write(
            f"playbooks: {counts['new']} new, {counts['new_version']} new versions, "
            f"{counts['unchanged']} unchanged; techniques: {len(techniques)}; "
            f"rules linked: {linked}"
        )
