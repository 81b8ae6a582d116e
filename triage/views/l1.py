"""L1 actions on one alert: claim, answer a question, tick a step, escalate, close."""

from __future__ import annotations

from django.views.decorators.http import require_POST

from triage import roles, services
from triage.views.alert import run_action


@require_POST
@roles.role_required(roles.L1)
def claim(request, alert_id: int):
    return run_action(request, alert_id, lambda: services.claim(alert_id, request.user))


@require_POST
@roles.role_required(roles.L1)
def answer(request, alert_id: int):
    p = request.POST
    return run_action(
        request,
        alert_id,
        lambda: services.answer(
            alert_id, request.user, p.get("question", ""), p.get("value", ""), p.get("note", "")
        ),
        question=p.get("question", ""),
    )


@require_POST
@roles.role_required(roles.L1)
def step(request, alert_id: int):
    p = request.POST
    return run_action(
        request,
        alert_id,
        lambda: services.set_checklist_item(
            alert_id,
            request.user,
            "l1_steps",
            p.get("item", ""),
            p.get("state", ""),
            p.get("note", ""),
        ),
        item=("l1_steps", p.get("item", "")),
    )


@require_POST
@roles.role_required(roles.L1)
def escalate(request, alert_id: int):
    return run_action(
        request,
        alert_id,
        lambda: services.escalate(alert_id, request.user, request.POST.get("rationale", "")),
    )


@require_POST
@roles.role_required(roles.L1)
def close(request, alert_id: int):
    p = request.POST
    return run_action(
        request,
        alert_id,
        lambda: services.close_l1(
            alert_id,
            request.user,
            p.get("disposition", ""),
            p.get("reason", ""),
            p.get("rationale", ""),
        ),
    )
