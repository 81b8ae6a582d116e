"""The alert page: summary, matched events with decoded command lines, process tree, host
timeline, history, the rule's investigation guide, and the playbook/workflow panel.

The L1 and T2 actions (``l1.py``, ``t2.py``) are made by :func:`alert_action`, which re-renders
the workflow panel (and the summary, out of band) from fresh state when the request comes from
htmx, else redirects.
"""

from __future__ import annotations

from functools import wraps

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from triage import evidence, roles, services, workflow
from triage.models import (
    Alert,
    AnswerValue,
    ChecklistSection,
    ChecklistState,
    Disposition,
    Status,
)
from triage.views import htmx

ACTION_URLS = (
    "claim", "answer", "step", "escalate", "close",
    "t2_claim", "t2_accept", "t2_return", "t2_item", "t2_close",
)  # fmt: skip
TABS = (
    ("events", "Events"),
    ("tree", "Process tree"),
    ("timeline", "Host timeline"),
    ("history", "History"),
    ("guide", "Rule guide"),
)
# The playbook's checklists in the panel's order; each is also the workflow action that edits it.
SECTION_TITLES = (
    (ChecklistSection.L1_STEPS, "L1 additional steps"),
    (ChecklistSection.T2_ACTIONS, "T2 actions"),
    (ChecklistSection.CONTAINMENT, "Containment and further analysis"),
)


def get_alert(request, alert_id: int) -> Alert:
    """The alert if the user's roles reach it, else 404 (never 403: existence stays hidden)."""
    return get_object_or_404(
        Alert.objects.for_user(request.user).select_related("rule", "assignee"), pk=alert_id
    )


def workflow_context(request, alert: Alert, error: str = "") -> dict:
    """What the workflow panel draws: the playbook with its answers and checklists, the
    recommendation, and ``allowed``, the actions the user may take now (``triage.workflow``:
    the same table the services enforce), which decides every form the panel shows."""
    run = services.run_of(alert)
    version = run.playbook_version if run else None
    if version is None:
        playbook_row = services.playbook_for(alert)
        version = playbook_row.current_version() if playbook_row else None
    playbook = version.parsed() if version else None
    answers = services.answers_of(run)
    allowed = workflow.allowed_actions(alert, request.user)
    questions = [{"q": q, "a": answers.get(q.id)} for q in (playbook.questions if playbook else ())]
    return {
        "alert": alert,
        # Reversed once here rather than in every question and checklist row.
        "urls": {name: reverse(f"alert:{name}", args=[alert.pk]) for name in ACTION_URLS},
        "run": run,
        "version": version,
        "playbook": playbook,
        "questions": questions,
        "answered": len(answers),
        "sections": _checklist_sections(run, playbook, allowed),
        "rec": services.recommendation_for(run),
        "error": error,
        "last_return": _last_return(alert),
        "allowed": allowed,
        "open_containment": services.open_containment_items(run),
        "dispositions": Disposition.choices,
        "answer_choices": AnswerValue.choices,
        "now": timezone.now(),
        "states": ChecklistState.choices,
    }


def _checklist_sections(run, playbook, allowed: frozenset[str]) -> list[dict]:
    """The playbook's three checklists with their entries; a section is editable when its
    action (named after the section) is allowed."""
    if not playbook:
        return []
    checklist: dict[str, dict] = {s: {} for s in ChecklistSection.values}
    if run:
        for entry in run.checklist.all():
            checklist[entry.section][entry.item_id] = entry
    return [
        {
            "key": key,
            "title": title,
            "items": [
                {"item": item, "entry": checklist[key].get(item.id)}
                for item in getattr(playbook, key)
            ],
            "editable": key in allowed,
        }
        for key, title in SECTION_TITLES
    ]


def _last_return(alert: Alert):
    """The T2 return that sent an alert in triage back, shown with its reason."""
    if alert.status != Status.TRIAGE:
        return None
    return alert.history.filter(kind="returned").order_by("-created_at", "-pk").first()


def tab_context(alert: Alert, tab: str, request) -> dict:
    if tab == "tree":
        return {"tree": evidence.process_tree(alert)}
    if tab == "timeline":
        try:
            minutes = int(request.GET.get("minutes", 15))
        except ValueError:
            minutes = 15
        minutes = minutes if minutes in evidence.TIMELINE_WINDOWS else 15
        return {
            "timeline": evidence.host_timeline(alert, minutes),
            "minutes": minutes,
            "windows": evidence.TIMELINE_WINDOWS,
            "timeline_limit": evidence.TIMELINE_LIMIT,
        }
    if tab == "history":
        return {"history": alert.history.select_related("actor").order_by("created_at", "pk")}
    if tab == "guide":
        return {"guide_html": evidence.render_guide(alert.rule.note)}
    return {"events": evidence.matched_events(alert)}


@require_GET
@roles.role_required(roles.L1, roles.T2, roles.MANAGER)
def detail(request, alert_id: int):
    alert = get_alert(request, alert_id)
    tab = request.GET.get("tab", "events")
    if tab not in dict(TABS):
        tab = "events"
    context = {"tab": tab, "tabs": TABS, "alert": alert, **tab_context(alert, tab, request)}
    if not htmx.wants_fragment(request, "tab-content"):
        # The whole page also draws the workflow panel; the tab fragment does not need it.
        context.update(workflow_context(request, alert))
        context["techniques"] = list(alert.techniques.all())
    return htmx.render_fragment_or_page(
        request, "triage/alert.html", "tab_content", context, target="tab-content"
    )


def after_action(request, alert_id: int, error: str = "", *, question=None, item=None):
    """Answer an action: without htmx a redirect to the page (errors as messages); with htmx
    the fresh workflow panel and summary (out of band). An answer or checklist change returns
    only its own row plus what depends on it, so quick clicks elsewhere are never overwritten;
    an error re-targets the whole panel."""
    return htmx.rerender_or_redirect(
        request,
        lambda: _fresh_workflow(request, alert_id, error, question=question, item=item),
        reverse("alert:detail", args=[alert_id]),
        error=error,
    )


def _fresh_workflow(request, alert_id: int, error: str, *, question, item):
    alert = get_object_or_404(Alert.objects.select_related("rule", "assignee"), pk=alert_id)
    context = workflow_context(request, alert, error)
    context["techniques"] = list(alert.techniques.all())
    if not error and question:
        rows = [row for row in context["questions"] if row["q"].id == question]
        if rows:
            return render(request, "triage/alert_answer.html", {**context, "row": rows[0]})
    if not error and item:
        section_key, item_id = item
        for section in context["sections"]:
            for row in section["items"] if section["key"] == section_key else ():
                if row["item"].id == item_id:
                    return render(
                        request,
                        "triage/alert_item.html",
                        {**context, "section": section, "row": row},
                    )
    if error:
        # Keep what the analyst typed, so a refused decision is corrected, not retyped.
        context["posted"] = request.POST
        context["kept"] = request.resolver_match.url_name
    response = render(request, "triage/alert_update.html", context)
    if error:
        response = reswap(retarget(response, "#workflow"), "outerHTML")
    return response


def alert_action(role: str):
    """Make ``view(request, alert_id)`` a POST-only action of ``role`` on one alert.

    The alert must be within the user's reach (else 404, before anything runs). The view runs
    one ``services`` transition: a refused one (``WorkflowError``) becomes the error shown; on
    success the view may return which row to redraw (``{"question": id}`` or
    ``{"item": (section, id)}``), else the panel is redrawn (see :func:`after_action`)."""

    def decorator(view):
        @require_POST
        @roles.role_required(role)
        @wraps(view)
        def action(request, alert_id: int):
            get_alert(request, alert_id)
            try:
                fragment = view(request, alert_id) or {}
            except services.WorkflowError as exc:
                return after_action(request, alert_id, str(exc))
            return after_action(request, alert_id, **fragment)

        return action

    return decorator
