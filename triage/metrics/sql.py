"""SQL pieces the metrics share, and the few that differ between PostgreSQL and SQLite (the
demo's database). Every piece is built from constants or column names of this package, never
from a request value; values travel as query parameters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from triage.models import L1_STATUSES, T2_STATUSES


def in_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` for an ``IN`` test on constants of the code (not for outside values)."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


# The statuses an alert leaves by an L1 decision, and those of its T2 stage.
L1_STATUSES_SQL = in_list(L1_STATUSES)
T2_STATUSES_SQL = in_list(T2_STATUSES)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def seconds(later: str, earlier: str) -> str:
    """SQL for ``later - earlier`` in seconds (a float)."""
    if is_postgres():
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    # julianday() is a float of days: round to the millisecond to drop its float noise.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def json_text(column: str, key: str, vendor: str | None = None) -> str:
    """SQL for the text of ``key`` in the JSON ``column`` (NULL when absent); ``vendor``
    defaults to the current connection's."""
    if (vendor or connection.vendor) == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def p90(expression: str) -> str:
    """The nearest-rank 90th percentile aggregate (PostgreSQL); elsewhere NULL, for the caller
    to fill in with :func:`nearest_rank`."""
    if is_postgres():
        return f"percentile_disc(0.9) WITHIN GROUP (ORDER BY {expression})"
    return "NULL"


def param(value: datetime):
    """A datetime as the connection wants it as a raw query parameter."""
    return connection.ops.adapt_datetimefield_value(value)
