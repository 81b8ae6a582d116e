"""The date range of the manager pages: whole days in the site's time zone, from the query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

PRESETS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PRESET = "30d"


@dataclass(frozen=True)
class DateRange:
    """Whole days ``first`` .. ``last`` (inclusive) in the site's time zone; ``start``/``end``
    are the matching half-open datetimes ``[first 00:00, last + 1 day 00:00)``."""

    first: date
    last: date
    preset: str = ""

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    def query(self) -> dict[str, str]:
        if self.preset:
            return {"preset": self.preset}
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    @classmethod
    def from_query(cls, query, today: date | None = None) -> DateRange:
        """From ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` or ``?preset=7d|30d|90d|365d``; bad or
        missing values fall back to the last 30 days; a reversed range is swapped."""
        today = today or timezone.localdate()
        first, last = _parse_date(query.get("from")), _parse_date(query.get("to"))
        if first or last:
            last = last or today
            first = first or last - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
            if first > last:
                first, last = last, first
            return cls(first, last)
        preset = query.get("preset") if query.get("preset") in PRESETS else DEFAULT_PRESET
        return cls(today - timedelta(days=PRESETS[preset] - 1), today, preset)


def _parse_date(value) -> date | None:
    try:
        parsed = date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    # Keep to years the database and the date widgets handle.
    return parsed if parsed and 1970 <= parsed.year <= 9998 else None
