"""Rules pages: the rule list with each rule's latest run, and the form that creates a rule
exception from an alert.

Who may create an exception: **t2 and managers**. An exception silences a rule for everyone
from then on, so it is a tuning decision taken above L1; L1 analysts see the rule list but
get 403 on the form (they close a benign alert with a reason instead, and T2 can turn it into
an exception).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from rules.ingest import get_field
from rules.models import DetectionRule, ExceptionOperator, RuleException, RuleRun
from triage import roles
from triage.models import Alert, AlertEvent

# Fields offered when an exception is made from an alert, most useful first.
EXCEPTION_FIELDS = (
    "process.executable",
    "process.name",
    "process.command_line",
    "process.parent.executable",
    "process.parent.name",
    "process.parent.command_line",
    "process.code_signature.subject_name",
    "file.path",
    "host.name",
    "user.name",
)
EXPIRY_CHOICES = (("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year"), ("", "never"))


@roles.role_required(roles.L1, roles.T2, roles.MANAGER)
def rule_list(request):
    """Every rule with its latest run and its open alerts (one query)."""
    latest = RuleRun.objects.filter(rule=OuterRef("pk")).order_by("-started_at")
    rules = DetectionRule.objects.annotate(
        run_outcome=Subquery(latest.values("outcome")[:1]),
        run_started=Subquery(latest.values("started_at")[:1]),
        run_alerts=Subquery(latest.values("alerts_raised")[:1]),
        run_error=Subquery(latest.values("error")[:1]),
        exception_count=Count(
            "exceptions",
            filter=Q(exceptions__expires_at__isnull=True)
            | Q(exceptions__expires_at__gt=timezone.now()),
            distinct=True,
        ),
    ).order_by("-enabled", "name")
    return render(request, "rules/rule_list.html", {"rules": rules})


class ExceptionForm(forms.Form):
    field = forms.CharField(max_length=200)
    operator = forms.ChoiceField(choices=ExceptionOperator.choices)
    values = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One value per line (the first for “is”; wildcards * and ? for “matches”).",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False)

    def clean(self):
        data = super().clean()
        values = [v.strip() for v in data.get("values", "").splitlines() if v.strip()]
        if data.get("operator") != ExceptionOperator.EXISTS and not values:
            self.add_error("values", "Give at least one value.")
        data["value_list"] = values
        return data


def _event_values(alert: Alert) -> dict[str, list[str]]:
    """Per offered field, the distinct values it has in the alert's matched events."""
    found: dict[str, list[str]] = {}
    for doc in alert.event_snapshot or []:
        if not isinstance(doc, dict):
            continue
        for path in EXCEPTION_FIELDS:
            value = get_field(doc, path, None)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str | int) and str(v) and str(v) not in found.get(path, []):
                    found.setdefault(path, []).append(str(v))
    return found


@roles.role_required(roles.T2, roles.MANAGER)
@require_http_methods(["GET", "POST"])
def exception_new(request):
    """Create a rule exception from ``?alert=<id>``, prefilled from the alert's events."""
    alert_id = request.GET.get("alert", "")
    if not alert_id.isdigit():
        return render(request, "rules/exception_form.html", {"missing": True}, status=400)
    alert = get_object_or_404(
        Alert.objects.for_user(request.user).select_related("rule"), pk=alert_id
    )
    values = _event_values(alert)
    first_field = next(iter(values), "process.executable")
    initial = {
        "field": first_field,
        "operator": ExceptionOperator.IS,
        "values": "\n".join(values.get(first_field, [])[:1]),
        "expires_in_days": "90",
    }
    form = ExceptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        days = data.get("expires_in_days")
        with transaction.atomic():
            exception = RuleException.objects.create(
                rule=alert.rule,
                field=data["field"].strip(),
                operator=data["operator"],
                values=data["value_list"],
                comment=data["comment"],
                author=request.user,
                expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
            )
            AlertEvent.objects.create(
                alert=alert,
                actor=request.user,
                kind="exception_created",
                data={
                    "exception": exception.pk,
                    "rule_id": alert.rule.rule_id,
                    "field": exception.field,
                    "operator": exception.operator,
                    "values": exception.values,
                },
            )
        messages.success(
            request,
            f"Exception added to “{alert.rule.name}”: {exception.field} "
            f"{exception.get_operator_display()} {', '.join(exception.values)}",
        )
        return redirect("rules:list")
    return render(
        request,
        "rules/exception_form.html",
        {"form": form, "alert": alert, "event_values": values},
    )
