"""Typed readers for settings taken from the environment.

Each reader either returns a valid value or raises ``ImproperlyConfigured`` naming the
variable, the bad value and what was expected, so a misconfigured deployment fails at start-up
instead of behaving oddly later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    source = os.environ if environ is None else environ
    value = source.get(name)
    return None if value is None else value.strip()


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = _raw(name, environ)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = _raw(name, environ)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum of {maximum}.")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    raw = _raw(name, environ)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    raw = _raw(name, environ)
    return default if raw is None or raw == "" else raw


_DB_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
_BROKER_SCHEMES = {"redis", "rediss", "memory"}


def validate_database_url(name: str, url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme not in _DB_SCHEMES:
        raise ImproperlyConfigured(
            f"{name}={url!r} has an unsupported scheme {scheme!r}: "
            "use postgres://user@host:port/dbname or sqlite:///path/to/file.sqlite3."
        )
    return url


def validate_redis_url(name: str, url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in _BROKER_SCHEMES:
        raise ImproperlyConfigured(
            f"{name}={url!r} is not a Redis URL: use redis://host:port/db (or rediss:// for TLS)."
        )
    if parsed.scheme.startswith("redis") and not parsed.hostname:
        raise ImproperlyConfigured(f"{name}={url!r} names no host.")
    return url
