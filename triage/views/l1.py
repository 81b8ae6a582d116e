"""L1 actions on one alert: claim, answer a question, tick a step, escalate, close."""

from __future__ import annotations

from triage import roles, services
from triage.views.alert import alert_action


@alert_action(roles.L1)
def claim(request, alert_id: int):
    services.claim(alert_id, request.user)


@alert_action(roles.L1)
def answer(request, alert_id: int):
    p = request.POST
    question = p.get("question", "")
    services.answer(alert_id, request.user, question, p.get("value", ""), p.get("note", ""))
    return {"question": question}


@alert_action(roles.L1)
def step(request, alert_id: int):
    p = request.POST
    item = p.get("item", "")
    services.set_checklist_item(
        alert_id, request.user, "l1_steps", item, p.get("state", ""), p.get("note", "")
    )
    return {"item": ("l1_steps", item)}


@alert_action(roles.L1)
def escalate(request, alert_id: int):
    services.escalate(alert_id, request.user, request.POST.get("rationale", ""))


@alert_action(roles.L1)
def close(request, alert_id: int):
    p = request.POST
    services.close_l1(
        alert_id,
        request.user,
        p.get("disposition", ""),
        p.get("reason", ""),
        p.get("rationale", ""),
    )
