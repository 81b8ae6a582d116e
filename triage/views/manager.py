"""Manager review: the escalation history, team metrics, per-question analytics, CSV export.

Managers read everything and change nothing here: every view is GET only. Charts are SVG drawn
on the server, each with the same numbers in a table beneath it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from rules.catalog import Technique
from triage import history, metrics, roles
from triage.templatetags.sla_tags import format_duration
from triage.views import htmx
from triage.views.filters import history_filters

PAGE_SIZE = 25
EXPORT_CHUNK = 2000
# Spreadsheets run a cell starting with these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# --- links to other people's pages -----------------------------------------------------------


def rule_exception_url(rule_id: int, alert_id: int | None) -> str:
    """Where to propose an exception to a noisy rule: the pipeline's rule-exception form,
    prefilled from one of the rule's false-positive alerts, when it is installed; else the
    Django admin's add page, preset to the rule."""
    if alert_id is not None:
        try:
            return reverse("rules:exception_new") + f"?alert={alert_id}"
        except NoReverseMatch:
            pass
    try:
        add = reverse("admin:rules_ruleexception_add")
    except NoReverseMatch:  # not registered in the admin: its standard address
        add = "/admin/rules/ruleexception/add/"
    return f"{add}?rule={rule_id}"


# --- helpers ---------------------------------------------------------------------------------


def _query(request: HttpRequest, **changes) -> str:
    """The current query string with some keys replaced (None removes a key)."""
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value not in (None, ""):
            query[key] = value
    return query.urlencode()


def _range_context(request: HttpRequest, tab: str, date_range: metrics.DateRange) -> dict:
    """What every manager page shows around its content: tabs, the range form, presets."""
    return {
        "tab": tab,
        "date_range": date_range,
        "range_query": urlencode(date_range.query()),
        "range_links": _range_links(request, date_range),
    }


def _range_links(request: HttpRequest, date_range: metrics.DateRange) -> list[dict]:
    return [
        {
            "label": f"Last {days} days",
            "query": _query(request, preset=key, **{"from": None, "to": None, "page": None}),
            "current": date_range.preset == key,
        }
        for key, days in metrics.PRESETS.items()
    ]


def bar_chart(rows, *, unit: str = "", width: int = 640, bar_height: int = 22) -> dict:
    """Geometry of a horizontal SVG bar chart for ``(label, value, text)`` rows; ``text`` is
    what the bar's label shows (the template escapes every string)."""
    label_width, value_width, gap = 190, 110, 6
    plot = width - label_width - value_width
    peak = max((value or 0 for _, value, _ in rows), default=0)
    bars = []
    for index, (label, value, text) in enumerate(rows):
        length = 0 if not peak or not value else max(1, round(plot * value / peak))
        bars.append(
            {
                "label": label,
                "text": text,
                "y": index * (bar_height + gap),
                "length": length,
                "value_x": label_width + length + 6,
            }
        )
    return {
        "bars": bars,
        "width": width,
        "height": max(bar_height + gap, len(bars) * (bar_height + gap)),
        "bar_height": bar_height,
        "label_width": label_width,
        "text_y": bar_height // 2 + 5,
        "unit": unit,
    }


def _hours(seconds: float | None) -> float:
    return (seconds or 0) / 3600


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _duration_text(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(timedelta(seconds=seconds))


def _page_or_results(request: HttpRequest, template: str, context: dict):
    """Every manager page redraws only its ``results`` fragment when htmx asks for it."""
    return htmx.render_fragment_or_page(request, template, "results", context, target="results")


# --- views -----------------------------------------------------------------------------------


def manager_page(view):
    """A GET-only page for managers, called as ``view(request, date_range)`` with the range
    the query string asks for (the last 30 days by default)."""

    @require_GET
    @roles.role_required(roles.MANAGER)
    @wraps(view)
    def page(request: HttpRequest):
        return view(request, metrics.DateRange.from_query(request.GET))

    return page


@manager_page
def history_view(request: HttpRequest, date_range: metrics.DateRange):
    """Every L1 decision with its claim and decision times and how it ended at T2."""
    filters = history_filters(request.GET, date_range)
    rows, sort_key = history.sort(
        history.filter_by(history.rows(), filters), request.GET.get("sort", "")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        row.override = history.is_override(row)
        row.outcome_label = history.OUTCOMES.get(row.outcome, row.outcome)
    columns = [
        ("decided", "Decided"),
        ("alert", "Alert"),
        ("rule", "Rule"),
        ("analyst", "L1 analyst"),
        ("claim", "Time to claim"),
        ("decision", "Time to decision"),
        ("outcome", "T2 outcome"),
    ]
    headers = []
    for key, label in columns:
        current = sort_key.lstrip("-") == key
        descending = sort_key.startswith("-")
        next_key = key if current and descending else f"-{key}"
        headers.append(
            {
                "label": label,
                "query": _query(request, sort=next_key, page=None),
                "sort": ("descending" if descending else "ascending") if current else "none",
            }
        )
    context = {
        **_range_context(request, "history", date_range),
        "filters": filters,
        "page": page,
        "headers": headers,
        "page_query": _query(request, page=None),
        "export_query": _query(request, page=None, sort=None),
        "analysts": get_user_model()
        .objects.filter(groups__name=roles.L1)
        .order_by("username")
        .values("id", "username"),
        "rules": _rule_choices(),
        "techniques": Technique.objects.values_list("external_id", "name"),
        "outcomes": [*history.OUTCOMES.items(), ("override", "Overrides only")],
        "now": timezone.now(),
    }
    return _page_or_results(request, "triage/manager/history.html", context)


def _rule_choices():
    from django.apps import apps

    rule_model = apps.get_model("rules", "DetectionRule")
    return rule_model.objects.order_by("name").values_list("id", "name")


@manager_page
def metrics_view(request: HttpRequest, date_range: metrics.DateRange):
    """Team figures for the alerts raised in the range, as SVG charts over tables."""
    m = metrics.cached_team_metrics(date_range.start, date_range.end)
    durations = [
        ("Acknowledge", m.acknowledge),
        ("Escalate", m.escalate),
        ("Resolve", m.resolve),
    ]
    duration_rows = []
    for label, d in durations:
        duration_rows.append((f"{label}: mean", _hours(d.mean), _duration_text(d.mean)))
        duration_rows.append((f"{label}: p90", _hours(d.p90), _duration_text(d.p90)))
    noisy = [r for r in m.rules if r.closed][:10]
    rules = [
        {
            "rule": r,
            "fp_rate": _percent(r.false_positive_rate),
            "url": rule_exception_url(r.rule_id, r.latest_false_positive),
        }
        for r in m.rules
    ]
    context = {
        **_range_context(request, "metrics", date_range),
        "m": m,
        "rules": rules,
        "durations": [
            {"label": label, "d": d, "mean": _duration_text(d.mean), "p90": _duration_text(d.p90)}
            for label, d in durations
        ],
        "rates": [
            (
                "Escalation rate",
                _percent(m.escalation_rate),
                f"{m.escalations} of {m.decisions} L1 decisions",
            ),
            (
                "Override rate",
                _percent(m.override_rate),
                f"{m.overrides} of {m.decisions} L1 decisions",
            ),
            ("Return rate", _percent(m.return_rate), f"{m.returns} of {m.escalations} escalations"),
        ],
        "duration_chart": bar_chart(duration_rows, unit="hours"),
        "sla_chart": bar_chart(
            [
                (row.severity.title(), row.breached, f"{row.breached} of {row.alerts}")
                for row in m.sla
            ]
        ),
        "rules_chart": bar_chart(
            [
                (
                    r.rule_name[:28],
                    r.false_positives,
                    f"{r.false_positives} FP ({_percent(r.false_positive_rate)})",
                )
                for r in noisy
            ]
        ),
        "workload_chart": bar_chart(
            [(w.username[:28], w.total, str(w.total)) for w in m.workload[:15]]
        ),
    }
    return _page_or_results(request, "triage/manager/metrics.html", context)


@manager_page
def questions_view(request: HttpRequest, date_range: metrics.DateRange):
    """How each playbook question's answers lined up with the final dispositions."""
    stats = metrics.question_stats(date_range.start, date_range.end)
    chart_rows = [
        (f"{s.technique} {s.question}"[:28], s.precision or 0, _percent(s.precision))
        for s in stats
        if s.alarming
    ][:15]
    context = {
        **_range_context(request, "questions", date_range),
        "stats": stats,
        "chart": bar_chart(chart_rows),
    }
    return _page_or_results(request, "triage/manager/questions.html", context)


# --- exports ------------------------------------------------------------------------------


def export_records(query) -> tuple[metrics.DateRange, Iterator[dict]]:
    """The date range of a history query and its filtered decisions as export records, oldest
    first, read from a server-side cursor in chunks (memory stays flat for any range)."""
    date_range = metrics.DateRange.from_query(query)
    filters = history_filters(query, date_range)
    rows, _ = history.sort(history.filter_by(history.rows(), filters), "decided")
    return date_range, history.export_records(rows, chunk_size=EXPORT_CHUNK)


class _Line:
    """A file-like object whose write() returns the text, for csv.writer in a generator."""

    def write(self, text: str) -> str:
        return text


def neutralise(value) -> object:
    """A CSV cell that a spreadsheet will not run: text starting with ``= + - @``, tab or CR
    gets a leading apostrophe. Numbers and booleans pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_lines(records, columns):
    """The CSV text, one line per record, header first."""
    writer = csv.writer(_Line())
    yield writer.writerow(columns)
    for record in records:
        yield writer.writerow([neutralise(record[column]) for column in columns])


@require_GET
@roles.role_required(roles.MANAGER)
def export_csv(request: HttpRequest):
    """The filtered history as CSV, streamed: rows are read from a server-side cursor in
    chunks, so memory stays flat however long the range is."""
    date_range, records = export_records(request.GET)
    response = StreamingHttpResponse(
        csv_lines(records, history.EXPORT_COLUMNS), content_type="text/csv; charset=utf-8"
    )
    name = f"escalation-history-{date_range.first}-{date_range.last}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
