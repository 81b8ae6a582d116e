"""The shell around the role pages: landing redirect, health check, the no-role page."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from triage import roles

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest):
    """Send each user to the page of their role."""
    return redirect(roles.home_url_name(request.user))


@login_required
def no_role(request: HttpRequest):
    return render(request, "triage/no_role.html", status=403)


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("healthz: database check failed: %s", exc)
        return False, "unreachable"
    return True, "ok"


def _broker_ok() -> tuple[bool, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.REDIS_URL:
        return True, "in-process (no broker configured)"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:
        logger.warning("healthz: broker check failed: %s", exc)
        return False, "unreachable"
    return True, "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming what does not.

    Says nothing more than ok/unreachable: it is served without login.
    """
    db_ok, db_state = _database_ok()
    broker_ok, broker_state = _broker_ok()
    healthy = db_ok and broker_ok
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": db_state,
            "broker": broker_state,
        },
        status=200 if healthy else 503,
    )
