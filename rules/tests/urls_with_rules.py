"""The project's URLs plus the rules pages, for tests run before triage/urls.py includes them."""

from django.urls import include, path

from triage.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *[p for p in project_urlpatterns if getattr(p, "namespace", None) != "rules"],
    path("rules/", include("rules.urls")),
]
