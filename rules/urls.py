"""URLs of the machine side: HTTP ingest (namespace ``api``), mounted at ``/api/`` by the
project's root URLs."""

from django.urls import path

from rules import api

app_name = "api"

urlpatterns = [
    path("v1/events", api.events, name="events"),
    path("es", api.es_root),
    path("es/", api.es_root, name="es_root"),
    path("es/_license", api.es_license, name="es_license"),
    path("es/_bulk", api.es_bulk, name="es_bulk"),
    path("es/<str:index>/_bulk", api.es_bulk, name="es_index_bulk"),
]
