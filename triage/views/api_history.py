"""The escalation history as NDJSON through the API, for session-authenticated managers.

``GET /api/v1/history/?from=YYYY-MM-DD&to=YYYY-MM-DD&analyst=&rule=&technique=&outcome=``
answers ``application/x-ndjson``: one JSON object per decision (the CSV export's columns),
oldest first, streamed from a server-side cursor so memory stays flat for any range.
Without a session: 401; without the manager role: 403 (JSON bodies, no login redirect).
"""

from __future__ import annotations

import orjson
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from triage import roles
from triage.views.manager import export_records


def _lines(records):
    for record in records:
        yield orjson.dumps(record) + b"\n"


@require_GET
def export(request: HttpRequest):
    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    if not roles.has_role(request.user, roles.MANAGER):
        return JsonResponse({"error": "managers only"}, status=403)
    _, records = export_records(request.GET)
    response = StreamingHttpResponse(
        _lines(records),
        content_type="application/x-ndjson",
    )
    response["Cache-Control"] = "no-store"
    return response
