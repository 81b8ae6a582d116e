"""Alert queues (placeholder pages until the triage screens land)."""

from django.shortcuts import render
from django.urls import path

from triage import roles


@roles.role_required(roles.L1, roles.MANAGER)
def l1_queue(request):
    return render(request, "triage/placeholder.html", {"title": "L1 queue"})


@roles.role_required(roles.T2, roles.MANAGER)
def t2_queue(request):
    return render(request, "triage/placeholder.html", {"title": "T2 queue"})


urlpatterns = [
    path("l1/", l1_queue, name="l1"),
    path("t2/", t2_queue, name="t2"),
]
