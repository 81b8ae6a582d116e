"""Fixtures shared by every test package: users per role, and a real Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
TEST_PASSWORD = "correct-horse-battery-staple-42"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def make_user(db, django_user_model):
    """Create a user holding the given roles (group names).

    Groups come from a data migration, but transactional tests truncate every table, so a
    later test may find them gone: create them when missing.
    """
    from django.contrib.auth.models import Group

    def make(username: str, *roles: str, **extra):
        user = django_user_model.objects.create_user(
            username=username, password=TEST_PASSWORD, **extra
        )
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def l1_user(make_user):
    return make_user("alice_l1", "l1")


@pytest.fixture
def t2_user(make_user):
    return make_user("bob_t2", "t2")


@pytest.fixture
def manager_user(make_user):
    return make_user("carol_manager", "manager")


def _require_broker() -> None:
    reason = os.environ.get("TEST_BROKER_UNAVAILABLE")
    if reason:
        if in_ci():
            pytest.fail(f"CI needs Redis: {reason}")
        print(f"\nSKIPPED broker test: {reason}", file=sys.stderr)
        pytest.skip(reason)


def database_url_for_worker() -> str:
    """The URL of the database this test process is using (the test database), for a worker."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "root"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@pytest.fixture
def redis_available(settings) -> str:
    """The test Redis (REDIS_URL), for tests that talk to it without a worker."""
    _require_broker()
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set although the broker was found")
    return settings.REDIS_URL


class WorkerProcess:
    """A `celery worker` subprocess bound to the test database and the test broker."""

    def __init__(
        self,
        extra_env: dict[str, str] | None = None,
        concurrency: int = 1,
        pause_file: Path | None = None,
    ):
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.pause_file = pause_file
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "test-artifacts" / f"celery-worker-{os.getpid()}.log"

    def start(self) -> WorkerProcess:
        from triage.celery import app

        env = os.environ.copy()
        env.update(
            DATABASE_URL=database_url_for_worker(),
            CELERY_TASK_ALWAYS_EAGER="0",
            PYTHONUNBUFFERED="1",
            **self.extra_env,
        )
        self.log_path.parent.mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        # With a pause file, detection holds after committing a batch's alerts while the file
        # exists (see rules/tests/paused_worker.py).
        if self.pause_file is None:
            launcher = ["-m", "celery"]
        else:
            launcher = ["-m", "rules.tests.paused_worker", str(self.pause_file)]
        self.process = subprocess.Popen(
            [
                sys.executable,
                *launcher,
                "-A",
                "triage",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname=test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early; see {self.log_path}")
            replies = app.control.ping(timeout=0.5)
            if replies:
                return self
        self.stop()
        raise RuntimeError(f"celery worker did not answer within 30 s; see {self.log_path}")

    def kill(self) -> None:
        """Kill the worker and its pool children at once, as a crash or OOM kill would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """Start a real Celery worker on the test database and Redis; tasks are sent, not eager.

    Uses ``transactional_db`` because the worker is another process: it sees only committed rows.
    Yields a factory so a test can start (and kill) workers with its own environment; with
    ``pause_file``, detection holds while that file exists (``rules/tests/paused_worker.py``).
    """
    _require_broker()
    from triage.celery import app

    workers: list[WorkerProcess] = []
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.control.purge()

    def start(
        extra_env: dict[str, str] | None = None,
        concurrency: int = 1,
        pause_file: Path | None = None,
    ) -> WorkerProcess:
        worker = WorkerProcess(extra_env, concurrency, pause_file).start()
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        app.control.purge()
        app.conf.task_always_eager = previous
