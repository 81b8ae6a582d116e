from django.urls import path

from rules import views

app_name = "rules"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("exceptions/new", views.exception_new, name="exception_new"),
]
