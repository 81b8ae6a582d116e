from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from triage.views import core

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
    path("queue/", include(("triage.views.queue", "queue"))),
    path("alerts/", include(("triage.views.alert", "alert"))),
    path("manager/", include(("triage.views.manager", "manager"))),
    path("rules/", include(("triage.views.rules", "rules"))),
    # More specific than the ingest API below, so it is matched first.
    path("api/v1/history/", include(("triage.views.api_history", "api_history"))),
    path("api/", include("rules.urls")),  # HTTP ingest (namespace "api")
    path("admin/", admin.site.urls),
]
