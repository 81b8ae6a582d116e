"""T2 actions on one alert: claim, accept, return to L1, T2 actions and containment, close."""

from __future__ import annotations

from triage import roles, services
from triage.views.alert import alert_action

# The checklists a T2 analyst works through; anything else is refused by services.
T2_SECTIONS = ("t2_actions", "containment")


@alert_action(roles.T2)
def claim(request, alert_id: int):
    services.t2_claim(alert_id, request.user)


@alert_action(roles.T2)
def accept(request, alert_id: int):
    services.t2_accept(alert_id, request.user, request.POST.get("note", ""))


@alert_action(roles.T2)
def return_to_l1(request, alert_id: int):
    services.t2_return(alert_id, request.user, request.POST.get("reason", ""))


@alert_action(roles.T2)
def item(request, alert_id: int):
    p = request.POST
    section = p.get("section", "")
    if section not in T2_SECTIONS:
        section = "invalid"
    item_id = p.get("item", "")
    services.set_checklist_item(
        alert_id,
        request.user,
        section,
        item_id,
        p.get("state", ""),
        p.get("note", ""),
        p.get("evidence", ""),
    )
    return {"item": (section, item_id)}


@alert_action(roles.T2)
def close(request, alert_id: int):
    p = request.POST
    services.t2_close(alert_id, request.user, p.get("disposition", ""), p.get("reason", ""))
