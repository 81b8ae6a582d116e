"""The alert queues: L1 (new and in triage), T2 (escalated and beyond); managers read both.

Filters, sorting and grouping are GET parameters (bookmarkable, work without JavaScript); the
"N new alerts" banner polls a small fragment; bulk claim and bulk close post back here.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, Paginator
from django.db.models import Count, Max, Min
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET, require_POST

from rules.catalog import DetectionRule, Technique
from triage import roles, services
from triage.models import (
    L1_STATUSES,
    T2_STATUSES,
    Alert,
    Severity,
    Status,
)
from triage.views import htmx
from triage.views.filters import FilterForm, QueryChoice, QueryText

PAGE_SIZE = 50
# Counting stops here: "1,000+ alerts" is as useful to an analyst as an exact 18,124, and a
# capped count reads at most this many index entries however large the backlog grows.
COUNT_CAP = 1000
SORTS = {
    "risk": ("-risk_score", "-timestamp", "-pk"),  # alert_l1_queue_risk / alert_t2_queue_risk
    "age": ("created_at", "pk"),  # alert_l1_queue_age / alert_t2_queue_age
    "newest": ("-created_at", "-pk"),
    "sla": ("sla_due_at", "pk"),
}
SINCE = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
# Grouped by rule id (names looked up after) so alert_l1_group / alert_t2_group cover it.
GROUPS = {"rule": ("rule_id",), "host": ("host_name",), "rule_host": ("rule_id", "host_name")}


class QueueFilterForm(FilterForm):
    """The queue's filters. Text values are matched by :func:`filtered_alerts` (an unknown
    status or severity there filters nothing); sort and group fall back to risk and none."""

    status = QueryText()
    severity = QueryText()
    technique = QueryText()
    rule = QueryText()
    host = QueryText()
    assignee = QueryText()
    since = QueryText()
    sort = QueryChoice(SORTS, default="risk")
    group = QueryChoice(GROUPS, default="")


FILTER_KEYS = tuple(QueueFilterForm.base_fields)


def _stage_statuses(stage: str) -> tuple[str, ...]:
    return L1_STATUSES if stage == "l1" else T2_STATUSES


class CappedPaginator(Paginator):
    """A paginator whose count stops at ``COUNT_CAP`` (``capped`` says whether it did)."""

    @cached_property
    def count(self) -> int:
        counted = self.object_list[: COUNT_CAP + 1].count()
        self.capped = counted > COUNT_CAP
        return min(counted, COUNT_CAP)


def role_statuses(user) -> set[str]:
    """The statuses every alert of which the user's roles may see."""
    user_roles = roles.roles_of(user)
    if roles.MANAGER in user_roles:
        return set(Status.values)
    seen: set[str] = set()
    if roles.L1 in user_roles:
        seen.update(L1_STATUSES)
    if roles.T2 in user_roles:
        seen.update(T2_STATUSES)
    return seen


def _filters(request) -> dict[str, str]:
    """The queue's filter values from the query string, every key present."""
    return QueueFilterForm(request.GET).values()


def filtered_alerts(user, stage: str, f: dict[str, str]):
    """The queue's queryset for ``user`` and the filter values ``f``."""
    statuses = _stage_statuses(stage)
    wanted = [f["status"]] if f["status"] in Status.values else list(statuses)
    if f["status"] == "all" and roles.has_role(user, roles.MANAGER):
        qs = Alert.objects.all()
    elif set(wanted) <= role_statuses(user):
        # Statuses the user's roles see anyway: the same rows as for_user(), without its
        # "or touched by me" subquery, so the queue's partial indexes apply.
        qs = Alert.objects.filter(status__in=wanted)
    else:
        qs = Alert.objects.for_user(user).filter(status__in=wanted)
    if f["severity"] in Severity.values:
        qs = qs.filter(severity=f["severity"])
    if f["technique"]:
        qs = qs.filter(techniques__external_id=f["technique"])
    if f["rule"].isdigit():
        qs = qs.filter(rule_id=int(f["rule"]))
    if f["host"]:
        qs = qs.filter(host_name=f["host"])
    if f["assignee"] == "me":
        qs = qs.filter(assignee=user)
    elif f["assignee"] == "none":
        qs = qs.filter(assignee__isnull=True)
    elif f["assignee"]:
        qs = qs.filter(assignee__username=f["assignee"])
    if f["since"] in SINCE:
        qs = qs.filter(timestamp__gte=timezone.now() - SINCE[f["since"]])
    return qs


def _queue(request, stage: str):
    f = _filters(request)
    qs = filtered_alerts(request.user, stage, f)
    now = timezone.now()
    context = {
        "stage": stage,
        "f": f,
        "now": now,
        "query": urlencode({k: v for k, v in f.items() if v}),
        "statuses": [s for s in Status if s.value in _stage_statuses(stage)] + [Status.CLOSED],
        "severities": Severity.choices,
        "techniques": Technique.objects.only("external_id", "name"),
        "rules": DetectionRule.objects.only("pk", "name"),
        "bulk_dispositions": [(d.value, d.label) for d in services.BULK_CLOSE_DISPOSITIONS],
        # One reverse() for the page instead of two per row.
        "alert_url": reverse("alert:detail", args=[0]).removesuffix("0/"),
        "can_act": roles.has_role(request.user, roles.L1 if stage == "l1" else roles.T2),
        "can_bulk_close": stage == "l1" and roles.has_role(request.user, roles.L1),
    }
    if f["group"]:
        fields = GROUPS[f["group"]]
        groups = list(
            qs.values(*fields)
            .annotate(n=Count("*"), max_risk=Max("risk_score"), oldest=Min("created_at"))
            .order_by("-n", "-max_risk")[:200]
        )
        names = dict(DetectionRule.objects.values_list("pk", "name"))
        for group in groups:
            group["rule_name"] = names.get(group.get("rule_id"), "")
        context["groups"] = groups
    else:
        paginator = CappedPaginator(
            qs.select_related("assignee")
            # The matched documents can be large; the queue shows none of them.
            .defer("event_snapshot", "event_ids", "key", "close_reason")
            .order_by(*SORTS[f["sort"]]),
            PAGE_SIZE,
        )
        try:
            page = paginator.page(request.GET.get("page") or 1)
        except (EmptyPage, ValueError, TypeError):
            page = paginator.page(1)
        context["page"] = page
        context["alerts"] = page.object_list
    return htmx.render_fragment_or_page(
        request, "triage/queue.html", "results", context, target="queue-results"
    )


@require_GET
@roles.role_required(roles.L1, roles.MANAGER)
def l1_queue(request):
    return _queue(request, "l1")


@require_GET
@roles.role_required(roles.T2, roles.MANAGER)
def t2_queue(request):
    return _queue(request, "t2")


@require_GET
@roles.role_required(roles.L1, roles.T2, roles.MANAGER)
def new_count(request, stage: str):
    """The "N new alerts — show" banner: alerts created after ``since`` matching the filters."""
    if stage not in ("l1", "t2"):
        stage = "l1"
    f = _filters(request)
    since = parse_datetime(request.GET.get("since", "")) or timezone.now()
    count = filtered_alerts(request.user, stage, f).filter(created_at__gt=since).count()
    return render(
        request,
        "triage/queue.html#new_count",
        {
            "stage": stage,
            "new_count": count,
            "since": since,
            "query": urlencode({k: v for k, v in f.items() if v}),
        },
    )


def _alert_ids(request) -> list[int]:
    ids = []
    for raw in request.POST.getlist("ids")[:500]:
        if raw.isdigit():
            ids.append(int(raw))
    return ids


@require_POST
@roles.role_required(roles.L1, roles.T2)
def bulk(request, stage: str):
    """Bulk claim (L1 new alerts, T2 escalated ones) or bulk close (L1: duplicate or false
    positive, with a reason). Each alert is audited on its own."""
    stage = "t2" if stage == "t2" else "l1"
    needed = roles.L1 if stage == "l1" else roles.T2
    if not roles.has_role(request.user, needed):
        raise PermissionDenied
    # Only alerts the user may see are touched; others are silently not found.
    visible = set(
        Alert.objects.for_user(request.user)
        .filter(pk__in=_alert_ids(request))
        .values_list("pk", flat=True)
    )
    ids = [i for i in _alert_ids(request) if i in visible]
    action = request.POST.get("action")
    if not ids:
        messages.warning(request, "Select at least one alert.")
    elif action == "claim":
        result = services.bulk_claim(ids, request.user, stage)
        _report(request, "Claimed", result)
    elif action == "close" and stage == "l1":
        try:
            result = services.bulk_close(
                ids,
                request.user,
                request.POST.get("disposition", ""),
                request.POST.get("reason", ""),
            )
            _report(request, "Closed", result)
        except services.WorkflowError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Unknown action.")
    back = reverse(f"queue:{stage}")
    query = request.POST.get("query", "")
    if query:
        back += "?" + urlencode(
            {k: v for k, v in _parse_query(query).items() if k in FILTER_KEYS or k == "page"}
        )
    return redirect(back)


def _parse_query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query[:2000]))


def _report(request, verb: str, result: services.BulkResult) -> None:
    if result.done:
        messages.success(request, f"{verb} {len(result.done)} alert(s).")
    if result.skipped:
        ids = ", ".join(f"#{i}" for i, _ in result.skipped[:20])
        messages.warning(
            request, f"{len(result.skipped)} skipped (taken or changed meanwhile): {ids}"
        )
