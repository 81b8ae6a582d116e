"""Test only: a Celery worker whose detection holds after committing a batch's alerts.

``python -m rules.tests.paused_worker PAUSE_FILE CELERY_ARGS...`` runs ``celery CELERY_ARGS``
with ``rules.detection.batch.after_alerts_raised`` patched: once a batch has committed its
alerts, the task writes ``PAUSE_FILE.reached`` (its pid) and blocks while ``PAUSE_FILE``
exists (at most two minutes), before it returns and its message is acknowledged. The
reliability tests kill the worker there (``conftest.py``'s ``celery_worker_process``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HOLD_AT_MOST_SECONDS = 120


def pause_while_file_exists(path: Path) -> Callable[[], None]:
    """A hook that blocks while ``path`` exists, after telling the test it got there."""

    def hold() -> None:
        if not path.exists():
            return
        path.with_name(path.name + ".reached").write_text(str(os.getpid()))
        deadline = time.monotonic() + HOLD_AT_MOST_SECONDS
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    return hold


def main(argv: list[str]) -> None:
    pause_file, *celery_args = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    import django

    django.setup()
    from rules.detection import batch

    # Patched before the worker forks its pool: every child inherits it.
    batch.after_alerts_raised = pause_while_file_exists(Path(pause_file))

    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *celery_args]
    celery_main()


if __name__ == "__main__":
    main(sys.argv[1:])
