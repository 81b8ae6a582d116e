"""Manager review (placeholder page until the manager screens land)."""

from django.shortcuts import render
from django.urls import path

from triage import roles


@roles.role_required(roles.MANAGER)
def history(request):
    return render(request, "triage/placeholder.html", {"title": "Escalation history"})


urlpatterns = [
    path("history/", history, name="history"),
]
