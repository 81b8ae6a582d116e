"""The seam between detection and the writer of alerts.

``rules`` imports nothing of ``triage``, yet detection's alerts become ``triage`` rows in the
same transaction as the batch's ``RuleRun`` rows. So detection hands its candidates to the
function named by the setting ``DETECTION_ALERT_WRITER`` (a dotted path; the project sets
``"triage.alerts.raise_alerts"``), imported on first use and kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from rules.detection.candidates import AlertCandidate

# candidates, now= -> rule pk -> the ids of the alerts that are new
AlertWriter = Callable[..., dict[int, list[int]]]


@functools.cache
def _load(path: str) -> AlertWriter:
    return import_string(path)


def alert_writer() -> AlertWriter:
    """The configured writer (imported once per dotted path)."""
    path = getattr(settings, "DETECTION_ALERT_WRITER", "")
    if not path:
        raise ImproperlyConfigured("DETECTION_ALERT_WRITER names no function to raise alerts")
    return _load(path)


def write_alerts(
    candidates: Sequence[AlertCandidate], *, now: datetime | None = None
) -> dict[int, list[int]]:
    """Raise the candidates' alerts through the configured writer; rule pk -> the ids of the
    new alerts (a candidate whose key is raised already is not new). Nothing is called when
    there are no candidates."""
    if not candidates:
        return {}
    return alert_writer()(candidates, now=now)
