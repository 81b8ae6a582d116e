"""Run the test suite against real PostgreSQL and Redis, deciding the environment up front.

Settings are read when Django starts, before any conftest runs, so the choice of database and
broker is made here: probe the servers, then exec pytest with the environment set.

- ``DATABASE_URL`` defaults to the local PostgreSQL (user root); ``REDIS_URL`` to local Redis.
- With ``CI=true`` an unreachable server is an error (exit 1), never a silent fallback.
- Otherwise PostgreSQL falls back to SQLite and the broker tests are skipped, each with a
  printed reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/soc_triage"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def probe_postgres(url: str) -> str | None:
    """None when the server answers, else the reason it does not."""
    import psycopg

    parsed = urlparse(url)
    try:
        with psycopg.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "root",
            password=parsed.password or None,
            dbname="postgres",
            connect_timeout=3,
        ) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not usable", with its message
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def probe_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def main(argv: list[str]) -> int:
    env = os.environ
    database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    ci = _in_ci()

    if urlparse(database_url).scheme.startswith("postgres"):
        problem = probe_postgres(database_url)
        if problem:
            if ci:
                print(
                    f"CI: PostgreSQL at {database_url} is unreachable: {problem}", file=sys.stderr
                )
                return 1
            print(f"PostgreSQL unreachable ({problem}); falling back to SQLite.", file=sys.stderr)
            database_url = f"sqlite:///{ROOT / 'test-db.sqlite3'}"
    problem = probe_redis(redis_url)
    if problem:
        if ci:
            print(f"CI: Redis at {redis_url} is unreachable: {problem}", file=sys.stderr)
            return 1
        print(f"Redis unreachable ({problem}); broker tests will be skipped.", file=sys.stderr)
        env["TEST_BROKER_UNAVAILABLE"] = f"Redis at {redis_url} is unreachable: {problem}"

    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = redis_url
    # Tests run tasks in-process unless a test asks for the real worker (see conftest.py).
    env.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    env.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
    env.setdefault("DEBUG", "0")
    env.setdefault("SECURE_SSL_REDIRECT", "0")
    env.setdefault("SECURE_COOKIES", "0")
    env.setdefault("STATIC_MANIFEST", "0")
    env.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    print(f"Tests use database {database_url} and broker {redis_url}", file=sys.stderr)
    pytest = str(Path(sys.executable).with_name("pytest"))
    os.execv(pytest, [pytest, *argv])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
