"""T2 actions on one alert: claim, accept, return to L1, T2 actions and containment, close."""

from __future__ import annotations

from django.views.decorators.http import require_POST

from triage import roles, services
from triage.views.alert import run_action


@require_POST
@roles.role_required(roles.T2)
def claim(request, alert_id: int):
    return run_action(request, alert_id, lambda: services.t2_claim(alert_id, request.user))


@require_POST
@roles.role_required(roles.T2)
def accept(request, alert_id: int):
    note = request.POST.get("note", "")
    return run_action(request, alert_id, lambda: services.t2_accept(alert_id, request.user, note))


@require_POST
@roles.role_required(roles.T2)
def return_to_l1(request, alert_id: int):
    reason = request.POST.get("reason", "")
    return run_action(request, alert_id, lambda: services.t2_return(alert_id, request.user, reason))


@require_POST
@roles.role_required(roles.T2)
def item(request, alert_id: int):
    p = request.POST
    section = p.get("section", "")
    if section not in ("t2_actions", "containment"):
        section = "invalid"
    return run_action(
        request,
        alert_id,
        lambda: services.set_checklist_item(
            alert_id,
            request.user,
            section,
            p.get("item", ""),
            p.get("state", ""),
            p.get("note", ""),
            p.get("evidence", ""),
        ),
        item=(section, p.get("item", "")),
    )


@require_POST
@roles.role_required(roles.T2)
def close(request, alert_id: int):
    p = request.POST
    return run_action(
        request,
        alert_id,
        lambda: services.t2_close(
            alert_id, request.user, p.get("disposition", ""), p.get("reason", "")
        ),
    )
