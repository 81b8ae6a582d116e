"""The HTTP ingest API of the machine side: events from scripts and from log shippers.

* ``POST /api/v1/events`` — NDJSON of events (ECS, Winlogbeat or NXLog records), optionally
  ``Content-Encoding: gzip``. Answers ``{"accepted": n, "duplicates": n, "rejected":
  [{"line": i, "error": "..."}]}``; good lines are stored even when others are bad.
* ``/api/es/`` — enough of the Elasticsearch API for Beats, Vector and Fluent Bit:
  ``GET /`` (version probe), ``GET /_license``, ``POST /_bulk`` and ``POST /<index>/_bulk``
  (``index``/``create`` actions; duplicates answer 409 for ``create``, 200 "noop" for
  ``index``).

Authentication: an ingest source's token as ``Authorization: Bearer <token>``, as
``Authorization: ApiKey <base64("<anything>:<token>")>`` (or the bare token), or as HTTP Basic
with the token as password (any user name). Without a valid token: 401. A body over
``INGEST_MAX_BODY_BYTES`` (before or after gunzip): 413.

The URL patterns are in ``rules/urls.py`` (namespace ``api``, mounted at ``/api/``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import time
import zlib
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rules.ingest import bulk_response, parse_bulk, parse_ndjson
from rules.models import IngestSource
from rules.store import UnstorableEvent, event_row, ingest_records, store_events

logger = logging.getLogger(__name__)

# The Elasticsearch version we answer the shippers' probe with (8.x bulk semantics).
ES_COMPAT_VERSION = "8.15.0"


class BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _token_from(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "").strip()
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return value
    if scheme in ("apikey", "basic"):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return value if scheme == "apikey" else ""
        if ":" in decoded:
            return decoded.split(":", 1)[1]
        return decoded if scheme == "apikey" else ""
    return ""


def _authenticate(request: HttpRequest) -> IngestSource | None:
    return IngestSource.authenticate(_token_from(request))


def _read_body(request: HttpRequest) -> bytes:
    """The request body, gunzipped if need be, never more than INGEST_MAX_BODY_BYTES."""
    limit = settings.INGEST_MAX_BODY_BYTES
    too_big = (
        f"request body is larger than the limit of {limit} bytes; "
        "send fewer events per request (INGEST_MAX_BODY_BYTES)"
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyError(413, too_big)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyError(413, too_big)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip") or (not encoding and body[:2] == b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise BodyError(400, f"body is not valid gzip data: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise BodyError(
                413,
                f"decompressed request body is larger than the limit of {limit} bytes; "
                "send fewer events per request (INGEST_MAX_BODY_BYTES)",
            )
        if not inflater.eof:
            raise BodyError(400, "body is truncated gzip data")
    elif encoding not in ("", "identity"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    return body


def _unauthorized(es: bool = False) -> JsonResponse:
    reason = "a valid ingest token is required (Authorization: Bearer <token>)"
    if es:
        data = {"error": {"type": "security_exception", "reason": reason}, "status": 401}
    else:
        data = {"error": reason}
    response = JsonResponse(data, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="ingest", ApiKey, Basic realm="ingest"'
    return response


def _body_error(exc: BodyError, es: bool = False) -> JsonResponse:
    if es:
        kind = "content_too_long_exception" if exc.status == 413 else "parse_exception"
        data = {"error": {"type": kind, "reason": exc.message}, "status": exc.status}
    else:
        data = {"error": exc.message}
    return JsonResponse(data, status=exc.status)


@csrf_exempt
@require_http_methods(["POST"])
def events(request: HttpRequest) -> JsonResponse:
    """Store the NDJSON events of the body; per-line answer."""
    source = _authenticate(request)
    if source is None:
        return _unauthorized()
    try:
        body = _read_body(request)
    except BodyError as exc:
        return _body_error(exc)
    records = parse_ndjson(body, max_line_bytes=settings.INGEST_MAX_LINE_BYTES)
    summary = ingest_records(records, source)
    return JsonResponse(summary.as_response())


# --- the Elasticsearch-compatible endpoints ------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def es_root(request: HttpRequest) -> JsonResponse:
    """The version probe shippers send before their first ``_bulk``."""
    if _authenticate(request) is None:
        return _unauthorized(es=True)
    response = JsonResponse(
        {
            "name": "soc-triage-console",
            "cluster_name": "soc-triage-console",
            "cluster_uuid": "soc-triage-console",
            "version": {
                "number": ES_COMPAT_VERSION,
                "build_flavor": "default",
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }
    )
    response["X-Elastic-Product"] = "Elasticsearch"
    return response


@csrf_exempt
@require_http_methods(["GET"])
def es_license(request: HttpRequest) -> JsonResponse:
    """Beats check the licence before they send; ours never expires."""
    if _authenticate(request) is None:
        return _unauthorized(es=True)
    response = JsonResponse(
        {"license": {"status": "active", "type": "basic", "mode": "basic", "uid": "soc-triage"}}
    )
    response["X-Elastic-Product"] = "Elasticsearch"
    return response


@csrf_exempt
@require_http_methods(["POST", "PUT"])
def es_bulk(request: HttpRequest, index: str | None = None) -> JsonResponse:
    """Elasticsearch ``_bulk``: per-item statuses, as shippers expect them."""
    started = time.monotonic()
    source = _authenticate(request)
    if source is None:
        return _unauthorized(es=True)
    try:
        body = _read_body(request)
    except BodyError as exc:
        return _body_error(exc, es=True)
    items = parse_bulk(body, max_line_bytes=settings.INGEST_MAX_LINE_BYTES)
    rows = {}
    for i, item in enumerate(items):
        if item.event is None or item.error is not None:
            continue
        try:
            rows[i] = event_row(item.event)
        except UnstorableEvent as exc:
            items[i] = dataclasses.replace(
                item, event=None, error=str(exc), error_type="document_parsing_exception"
            )
    result = store_events(list(rows.values()), source)
    created = set(result.new_event_ids)
    outcomes: list = []
    for i, _item in enumerate(items):
        row = rows.get(i)
        if row is None:
            outcomes.append(None)
        elif row.event_id in created:
            created.discard(row.event_id)  # a second copy in the same body is a duplicate
            outcomes.append("created")
        else:
            outcomes.append("duplicate")
    if rows:
        IngestSource.objects.filter(pk=source.pk).update(last_seen_at=datetime.now(UTC))
    took = int((time.monotonic() - started) * 1000)
    response = JsonResponse(bulk_response(items, outcomes, took, default_index=index or "events"))
    response["X-Elastic-Product"] = "Elasticsearch"
    return response
