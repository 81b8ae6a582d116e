"""Timestamp parsing and formatting for ingest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_timestamp", "parse_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 2024-01-02T03:04:05[.fraction][Z|+hh:mm|+hhmm], also with a space instead of T.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2}|UTC)?)?"
)


# The canonical form (format_timestamp, Elastic Defend): read by the C parser, which agrees
# with the general pattern on it; anything else goes through the general pattern.
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _fromiso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # digits in the right places, but not a date (month 13...)
        return None


# The last string parsed and its result (strings are immutable: the same object is the
# same text). Replaced as one tuple, so a reader in another thread sees a consistent pair.
_last: tuple[str | None, datetime | None] = (None, None)


def _remember(value: str, result: datetime | None) -> datetime | None:
    global _last
    _last = (value, result)
    return result


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime for ``value``, or None when it is not a date.

    Accepted: ISO 8601 / RFC 3339 strings (``T`` or a space between date and time, 1-9
    fractional digits, ``Z``, ``+hh:mm``, ``+hhmm`` or no zone, which means UTC; a date
    alone means midnight UTC), and numbers,
    which are epoch milliseconds as in Elasticsearch's default date format. Precision
    beyond microseconds is truncated. Years outside 1970-9999 (epoch) are rejected.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value != value or abs(value) > 253_402_300_799_999:  # NaN or past year 9999
            return None
        return _EPOCH + timedelta(milliseconds=value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    last = _last
    if value is last[0]:  # ingest checks a document's @timestamp, then indexes it
        return last[1]
    if len(value) == 24 and _CANONICAL.fullmatch(value):  # what ingest itself writes
        return _remember(value, _fromiso(value))
    m = _ISO.fullmatch(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
        )
    except ValueError:
        return None
    if zone and zone not in ("Z", "z", "UTC"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset >= timedelta(hours=24):
            return None
        try:
            return (dt - sign * offset).replace(tzinfo=UTC)
        except OverflowError:
            return None
    return dt.replace(tzinfo=UTC)


def format_timestamp(dt: datetime) -> str:
    """``2024-01-02T03:04:05.678Z``: UTC, milliseconds, or microseconds when they are set."""
    dt = dt.astimezone(UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond % 1000:
        return f"{base}.{dt.microsecond:06d}Z"
    return f"{base}.{dt.microsecond // 1000:03d}Z"
