"""Timestamps: the one module that reads and writes them, for the engine and for ingest.

Two readers live here on purpose, because they answer different questions:

* :func:`epoch_millis` is how a *query* reads a field as an Elasticsearch ``date`` field with
  the default format ``strict_date_optional_time||epoch_millis`` does: ISO 8601 text or epoch
  milliseconds (numbers, or digit strings), the first value of an array. It returns a number
  (milliseconds since the epoch, a float when there are digits past the millisecond), which
  the engine orders events by. It runs once per event per query, so it is built for speed.
* :func:`parse_ingest_timestamp` is the gate an event passes at *ingest*: it returns an aware
  datetime for the ``timestamp`` column and for :func:`format_timestamp`, and it accepts what
  the readers meet in the wild (``2024-01-02 03:04:05``, a trailing ``UTC``, ``+hhmm``) while
  refusing what no column can hold (years past 9999, digit strings, arrays). Ingest rewrites any
  accepted text that is not already UTC (``...Z``) into the canonical form, so every
  ``@timestamp`` it stores is one :func:`epoch_millis` reads as the same instant (tested).

Nothing here imports outside the standard library and ``rules.eql``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .functions import flat

__all__ = ["epoch_millis", "format_timestamp", "parse_ingest_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---- the engine's reading: an Elasticsearch date field ---------------------------------------

_US = timedelta(microseconds=1)
_fromiso = datetime.fromisoformat


def epoch_millis(v):
    """Milliseconds since the epoch from epoch-ms numbers, numeric strings or ISO-8601 text
    (a naive time is UTC; digits past microseconds are kept as a fraction of a millisecond),
    the first non-null value of a list; None for anything else, NaN and infinities included."""
    t = type(v)
    if t is str:
        if v.isdigit():  # epoch millis as text (fromisoformat would read 8 digits as a date)
            return int(v)
        try:
            d = _fromiso(v)
        except ValueError:
            return _epoch_millis_slow(v)
        if d.tzinfo is None:
            d = d.replace(tzinfo=UTC)
        us = (d - _EPOCH) // _US
        return us // 1000 if us % 1000 == 0 else us / 1000
    if t is int:
        return v
    if t is float:
        # NaN would poison the ordering (it compares false with everything), and neither it
        # nor an infinity is an instant Elasticsearch would index.
        return v if v - v == 0.0 else None
    if v is None:
        return None
    if t is list:
        vals = flat(v)
        return epoch_millis(vals[0]) if vals else None
    return None


def _epoch_millis_slow(v: str):
    """What ``fromisoformat`` refuses: decimal epoch millis, and fractions past microseconds."""
    try:
        ms = float(v) if "." in v else int(v)
    except ValueError:
        pass
    else:
        return ms if ms - ms == 0 else None
    s = v.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    frac = None
    dot = s.find(".", 10)
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        digits = s[dot + 1 : end]
        frac = float("0." + digits) * 1000 if digits else 0.0
        s = s[:dot] + s[end:]
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    seconds = (d - _EPOCH) // timedelta(seconds=1)
    if frac is None:
        return seconds * 1000
    ms = seconds * 1000 + frac
    return int(ms) if ms == int(ms) else ms


# ---- ingest's reading: what a stored event's timestamp may be --------------------------------

# 2024-01-02T03:04:05[.fraction][Z|+hh:mm|+hhmm], also with a space instead of T.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2}|UTC)?)?"
)


# The canonical form (format_timestamp, Elastic Defend): read by the C parser, which agrees
# with the general pattern on it; anything else goes through the general pattern.
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _fromiso_or_none(value: str) -> datetime | None:
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


def parse_ingest_timestamp(value: object) -> datetime | None:
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
        return _remember(value, _fromiso_or_none(value))
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
