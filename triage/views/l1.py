"""L1 actions on one alert: claim, answer a question, tick a step, escalate, close."""

from __future__ import annotations

from django.urls import path
from django.views.decorators.http import require_POST

from triage import roles, services
from triage.views import alert as alert_views


def _act(request, alert_id: int, action, **fragment):
    alert_views.get_alert(request, alert_id)  # 404 outside the user's reach
    try:
        action()
    except services.WorkflowError as exc:
        return alert_views.after_action(request, alert_id, str(exc))
    return alert_views.after_action(request, alert_id, **fragment)


@require_POST
@roles.role_required(roles.L1)
def claim(request, alert_id: int):
    return _act(request, alert_id, lambda: services.claim(alert_id, request.user))


@require_POST
@roles.role_required(roles.L1)
def answer(request, alert_id: int):
    p = request.POST
    return _act(
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
    return _act(
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
    return _act(
        request,
        alert_id,
        lambda: services.escalate(alert_id, request.user, request.POST.get("rationale", "")),
    )


@require_POST
@roles.role_required(roles.L1)
def close(request, alert_id: int):
    p = request.POST
    return _act(
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


urlpatterns = [
    path("<int:alert_id>/claim/", claim, name="claim"),
    path("<int:alert_id>/answer/", answer, name="answer"),
    path("<int:alert_id>/step/", step, name="step"),
    path("<int:alert_id>/escalate/", escalate, name="escalate"),
    path("<int:alert_id>/close/", close, name="close"),
]
