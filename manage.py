#!/usr/bin/env python
import os
import sys

# Commands that sign nothing (no sessions, no cookies, no tokens derived from the secret): they
# run without SECRET_KEY, as DESIGN §4 promises for `detect` and the docs show for the others.
# The web server (runserver, gunicorn via triage.wsgi) still refuses to start without one.
OFFLINE_COMMANDS = frozenset({"detect", "ingest", "import_rules", "create_ingest_source"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE_COMMANDS:
        os.environ["SOC_OFFLINE_COMMAND"] = "1"
    else:
        # Never inherited by a server started from a shell that ran an offline command.
        os.environ.pop("SOC_OFFLINE_COMMAND", None)
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - load the settings now, to report a bad value plainly
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
