"""Load the ATT&CK rows and the technique playbooks into the database (idempotent).

- Tactics and techniques from ``triage.attack_data`` are upserted by external id.
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

from triage import attack_data
from triage.models import Playbook, PlaybookVersion, Tactic, Technique
from triage.playbook_files import default_directory, load_all
from triage.playbook_format import PlaybookFormatError, version_change


def load_attack_rows() -> dict[str, Technique]:
    tactics = {}
    for row in attack_data.TACTICS:
        tactics[row.external_id], _ = Tactic.objects.update_or_create(
            external_id=row.external_id,
            defaults={"name": row.name, "description": row.description, "url": row.url},
        )
    techniques: dict[str, Technique] = {}
    # Parents first: the tuple lists T1059 before its sub-techniques, but do not rely on it.
    for row in sorted(attack_data.TECHNIQUES, key=lambda r: r.parent_id is not None):
        techniques[row.external_id], _ = Technique.objects.update_or_create(
            external_id=row.external_id,
            defaults={
                "name": row.name,
                "description": row.description,
                "url": row.url,
                "tactic": tactics[row.tactic_id],
                "parent": techniques.get(row.parent_id) if row.parent_id else None,
            },
        )
    return techniques


def technique_ids_of_threat(threat) -> list[str]:
    """Technique and sub-technique ids named in an Elastic rule's ``threat`` mapping."""
    ids: list[str] = []
    for entry in threat or []:
        for technique in (entry or {}).get("technique", []) or []:
            if technique.get("id"):
                ids.append(technique["id"])
            for sub in technique.get("subtechnique", []) or []:
                if sub.get("id"):
                    ids.append(sub["id"])
    return ids


def link_rules(techniques: dict[str, Technique]) -> int:
    from rules.models import DetectionRule

    linked = 0
    for rule in DetectionRule.objects.all():
        wanted = [techniques[i] for i in technique_ids_of_threat(rule.threat) if i in techniques]
        if wanted:
            rule.techniques.add(*wanted)
            linked += 1
    return linked


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
            techniques = load_attack_rows()
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
            linked = link_rules(techniques)
        self.stdout.write(
            f"playbooks: {counts['new']} new, {counts['new_version']} new versions, "
            f"{counts['unchanged']} unchanged; techniques: {len(techniques)}; "
            f"rules linked: {linked}"
        )
