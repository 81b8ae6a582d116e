"""Settings come from the environment and refuse bad values with a message naming them."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from triage.env import env_bool, env_int, env_list, validate_database_url, validate_redis_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("off", False), ("", False)]
)
def test_booleans_accept_the_usual_spellings(raw, expected):
    assert env_bool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_a_misspelt_boolean_is_refused_with_its_name():
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='ture' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "ture"})


def test_numbers_are_checked_for_type_and_range():
    assert env_int("EVENT_RETENTION_DAYS", 90, environ={}) == 90
    with pytest.raises(ImproperlyConfigured, match="EVENT_RETENTION_DAYS='ninety'"):
        env_int("EVENT_RETENTION_DAYS", 90, environ={"EVENT_RETENTION_DAYS": "ninety"})
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("EVENT_RETENTION_DAYS", 90, minimum=1, environ={"EVENT_RETENTION_DAYS": "0"})


def test_lists_are_comma_separated_and_trimmed():
    environ = {"ALLOWED_HOSTS": " soc.example.org, ,10.0.0.5 "}
    assert env_list("ALLOWED_HOSTS", [], environ=environ) == ["soc.example.org", "10.0.0.5"]


def test_database_and_broker_urls_are_validated():
    assert validate_database_url("DATABASE_URL", "postgres://u@db:5432/soc")
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme 'mysql'"):
        validate_database_url("DATABASE_URL", "mysql://u@db/soc")
    with pytest.raises(ImproperlyConfigured, match="is not a Redis URL"):
        validate_redis_url("REDIS_URL", "http://redis:6379")
    with pytest.raises(ImproperlyConfigured, match="names no host"):
        validate_redis_url("REDIS_URL", "redis://")


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "triage.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('loaded')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_without_secret_key_fails_loudly():
    result = _load_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_start_with_a_bad_value_names_the_variable():
    result = _load_settings({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_production_settings_pass_the_deploy_check():
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-value-0123456789",
        "ALLOWED_HOSTS": "soc.example.org",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    clean = {"PATH": "/usr/bin:/bin", **env}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": "/usr/bin:/bin", "DEBUG": "0", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_offline_commands_run_without_a_secret_key(tmp_path):
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    events = ROOT / "rules" / "tests" / "fixtures" / "ingest" / "ecs.ndjson"
    migrated = _manage(["migrate", "--no-input"], {**database, "SECRET_KEY": "k" * 60})
    assert migrated.returncode == 0, migrated.stderr

    detect = _manage(["detect", str(events), "--rules", "rules/library"], database)
    assert detect.returncode == 0, detect.stderr
    imported = _manage(["import_rules", "rules/library"], database)
    assert imported.returncode == 0, imported.stderr
    assert "imported" in imported.stdout + imported.stderr
    ingested = _manage(["ingest", str(events)], database)
    assert ingested.returncode == 0, ingested.stderr
    source = _manage(["create_ingest_source", "lab-shipper"], database)
    assert source.returncode == 0, source.stderr


def test_the_web_server_still_refuses_to_start_without_a_secret_key():
    served = _manage(["runserver", "--noreload", "127.0.0.1:0"], {})
    assert served.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in served.stderr
    # The flag manage.py sets for offline commands does not open the WSGI entry point.
    wsgi = subprocess.run(
        [sys.executable, "-c", "import triage.wsgi"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "0", "SOC_OFFLINE_COMMAND": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wsgi.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in wsgi.stderr
