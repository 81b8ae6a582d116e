"""The HTTP API (ingest endpoints land with the detection pipeline)."""

urlpatterns: list = []
