"""GET filters as Django forms: fields that never fail, and the manager's history filters
(the queue's form, built from these fields, sits beside its sort orders in ``queue.py``).

Filters come from bookmarkable query strings that anyone can edit, so a bad value is never an
error page: each field reads a bad or missing value as its default (an empty text filters
nothing; an unknown sort is the default sort). :meth:`FilterForm.values` therefore always
answers, for every field.
"""

from __future__ import annotations

from django import forms

from triage import history

# Longest value read from a free-text filter; longer input is clipped, not refused.
MAX_PARAM = 200
# Longest id read as a number: an 18-digit id still fits PostgreSQL's bigint.
MAX_ID_DIGITS = 18


class QueryText(forms.CharField):
    """Free text from a query string: stripped (unless ``strip=False``) and clipped to
    ``clip`` characters. A NUL byte makes it invalid (PostgreSQL refuses it in a query), so it
    reads as empty."""

    default = ""

    def __init__(self, *, clip: int = MAX_PARAM, strip: bool = True):
        super().__init__(required=False, strip=strip)
        self.clip = clip

    def to_python(self, value) -> str:
        return super().to_python(value)[: self.clip]


class QueryChoice(QueryText):
    """One of ``choices``; anything else reads as ``default``."""

    def __init__(self, choices, *, default: str = "", strip: bool = True):
        super().__init__(strip=strip)
        self.allowed = frozenset(choices)
        self.default = default

    def clean(self, value) -> str:
        value = super().clean(value)
        return value if value in self.allowed else self.default


class QueryId(forms.Field):
    """A database id written in digits; anything else reads as None."""

    default = None

    def __init__(self):
        super().__init__(required=False)

    def to_python(self, value) -> int | None:
        text = str(value or "").strip()
        if not (text.isdigit() and len(text) <= MAX_ID_DIGITS):
            return None
        try:
            return int(text)
        except ValueError:  # digits int() does not read, such as superscripts
            return None


class FilterForm(forms.Form):
    """A form over ``request.GET`` whose fields never fail: see :meth:`values`."""

    def values(self) -> dict:
        """Every field's cleaned value, or the field's default where the input was bad."""
        self.is_valid()
        return {
            name: self.cleaned_data.get(name, field.default) for name, field in self.fields.items()
        }


# --- the manager's escalation history ---------------------------------------------------------


class HistoryFilterForm(FilterForm):
    """The escalation history's filters (the page, its CSV export and the NDJSON API)."""

    analyst = QueryId()
    rule = QueryId()
    # A technique id such as T1059.001 (or a sub-technique's parent), kept as typed.
    technique = QueryText(clip=16, strip=False)
    outcome = QueryChoice([*history.OUTCOMES, "override"], strip=False)


def history_filters(query, date_range) -> history.Filters:
    """History filters from a query dict and a :class:`triage.metrics.DateRange`; unknown
    values are ignored, never an error."""
    values = HistoryFilterForm(query).values()
    return history.Filters(start=date_range.start, end=date_range.end, **values)
