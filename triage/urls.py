"""Every URL of the project's human side, in one place.

The view modules only define views; this module names them. Namespaces (``queue:``,
``alert:``, ``manager:``, ``rules:``, ``api_history:``; ``api:`` is the machine side's ``rules.urls``) are part of the contract: templates, tests and
redirects reverse them.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from triage.views import alert, api_history, core, l1, manager, queue, rules, t2

queue_patterns = [
    path("l1/", queue.l1_queue, name="l1"),
    path("t2/", queue.t2_queue, name="t2"),
    path("<str:stage>/new-count/", queue.new_count, name="new_count"),
    path("<str:stage>/bulk/", queue.bulk, name="bulk"),
]


def _on_alert(route: str, view, name: str):
    """A URL under one alert: ``<alert id>/<route>``."""
    return path(f"<int:alert_id>/{route}", view, name=name)


alert_patterns = [
    _on_alert("", alert.detail, "detail"),
    # L1 actions
    _on_alert("claim/", l1.claim, "claim"),
    _on_alert("answer/", l1.answer, "answer"),
    _on_alert("step/", l1.step, "step"),
    _on_alert("escalate/", l1.escalate, "escalate"),
    _on_alert("close/", l1.close, "close"),
    # T2 actions
    _on_alert("t2/claim/", t2.claim, "t2_claim"),
    _on_alert("t2/accept/", t2.accept, "t2_accept"),
    _on_alert("t2/return/", t2.return_to_l1, "t2_return"),
    _on_alert("t2/item/", t2.item, "t2_item"),
    _on_alert("t2/close/", t2.close, "t2_close"),
]

# The landing page keeps its name: managers are sent to "manager:history" after login.
manager_patterns = [
    path("history/", manager.history_view, name="history"),
    path("history/export.csv", manager.export_csv, name="export_csv"),
    path("metrics/", manager.metrics_view, name="metrics"),
    path("questions/", manager.questions_view, name="questions"),
]

rule_patterns = [
    path("", rules.rule_list, name="list"),
    path("exceptions/new", rules.exception_new, name="exception_new"),
]

api_history_patterns = [
    path("", api_history.export, name="export"),
]

urlpatterns = [
    path("", core.home, name="home"),
    path("healthz", core.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("no-role/", core.no_role, name="no_role"),
    path("queue/", include((queue_patterns, "queue"))),
    path("alerts/", include((alert_patterns, "alert"))),
    path("manager/", include((manager_patterns, "manager"))),
    path("rules/", include((rule_patterns, "rules"))),
    # More specific than the ingest API below, so it is matched first.
    path("api/v1/history/", include((api_history_patterns, "api_history"))),
    path("api/", include("rules.urls")),  # the machine side's HTTP ingest (namespace "api")
    path("admin/", admin.site.urls),
]
