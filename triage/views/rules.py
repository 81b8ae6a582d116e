"""Rules pages of the human side: the rule list with each rule's latest run, and the form that
creates a rule exception from an alert.

Who may create an exception: **t2 and managers**. An exception silences a rule for everyone
from then on, so it is a tuning decision taken above L1; L1 analysts see the rule list but
get 403 on the form (they close a benign alert with a reason instead, and T2 can turn it into
an exception).

Rules and exceptions are read and made through ``rules.catalog``; the alert's history row is
written by ``services.add_rule_exception``. Templates stay in ``templates/rules/``.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from rules.catalog import ExceptionOperator, field_values, rules_with_latest_run
from triage import roles, services
from triage.models import Alert

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
    return render(request, "rules/rule_list.html", {"rules": rules_with_latest_run()})


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
    values = field_values(alert.event_snapshot, EXCEPTION_FIELDS)
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
        exception = services.add_rule_exception(
            alert,
            request.user,
            field=data["field"],
            operator=data["operator"],
            values=data["value_list"],
            comment=data["comment"],
            expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
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
