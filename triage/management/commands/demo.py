"""Load everything the demo shows and create one user per role.

Safe to re-run: each step keeps what exists and adds only what is missing, and existing users
keep their passwords unless ``DEMO_PASSWORD`` is set.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

from triage import roles

DEMO_USERS = (
    ("l1", (roles.L1,), False),
    ("t2", (roles.T2,), False),
    ("manager", (roles.MANAGER,), False),
    ("admin", (), True),
)


class Command(BaseCommand):
    help = "Load playbooks, the shipped rules and demo data, and create the demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-data", action="store_true", help="create users and load rules only"
        )

    def handle(self, *args, skip_data: bool = False, **options):
        available = get_commands()
        self._step("load_playbooks", available)
        library = Path(settings.BASE_DIR) / "rules" / "library"
        self._step("import_rules", available, str(library))
        if not skip_data:
            self._step("load_demo_data", available)
        self._create_users()

    def _step(self, name: str, available: dict, *args: str) -> None:
        if name not in available:
            self.stderr.write(f"demo: '{name}' is not available in this build; skipped.")
            return
        self.stderr.write(f"demo: {name} {' '.join(args)}".rstrip())
        call_command(name, *args, stdout=self.stderr, stderr=self.stderr)

    @transaction.atomic
    def _create_users(self) -> None:
        password = os.environ.get("DEMO_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        created_any = False
        user_model = get_user_model()
        for username, groups, is_admin in DEMO_USERS:
            user, created = user_model.objects.get_or_create(username=username)
            if created or not generated:
                user.set_password(password)
                created_any = created_any or created
            user.is_staff = user.is_superuser = is_admin
            user.save()
            for name in groups:
                user.groups.add(Group.objects.get_or_create(name=name)[0])
        if created_any and generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Demo users l1, t2, manager and admin created with password: {password}\n"
                    "(shown once; set DEMO_PASSWORD to choose it)"
                )
            )
        elif not generated:
            self.stdout.write("Demo users l1, t2, manager and admin use DEMO_PASSWORD.")
        else:
            self.stdout.write("Demo users exist already; their passwords are unchanged.")
