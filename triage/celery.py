"""The Celery application.

Configuration comes from Django settings (``CELERY_*``). With no ``REDIS_URL`` (the demo),
tasks run eagerly in the calling process, so the product needs no servers to show detection.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")

app = Celery("triage")
# rules/tasks.py declares shared tasks (rules imports nothing of triage): they send through
# the current app, which is this one in every thread, not only the one that created it.
app.set_default()
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Each enabled rule decides whether its own interval has elapsed; this tick only wakes it.
    "run-due-rules": {"task": "rules.tasks.run_due_rules", "schedule": 60.0},
    "purge-expired-events": {
        "task": "rules.tasks.purge_expired_events",
        "schedule": crontab(minute=17, hour=3),
    },
}


@app.task(name="triage.ping")
def ping(*, value: int) -> dict:
    """A round trip for health checks and tests: proves broker, worker and result backend."""
    return {"pong": value, "worker_pid": os.getpid()}


def load_producer() -> None:
    """Import what sending a task needs (the tasks, the broker's transport, the result
    backend) without connecting to anything: a web server that preloads its application
    calls this before forking, so no worker pays these imports on its first ingest."""
    app.loader.import_default_modules()
    app.amqp  # noqa: B018 (the property builds and caches the producer machinery)
    app.backend  # noqa: B018
    with app.connection_for_write() as connection:
        connection.transport  # noqa: B018 (resolves and imports the transport; no I/O)
