"""The SLA clock of an alert in templates: ``{% load sla_tags %}{% sla_clock alert %}``.

Renders ``<span class="sla ...">`` with the remaining time ("2h 05m left") or how long ago the
alert breached ("breached 35m ago"); nothing for a closed alert. ``now`` defaults to the time
of rendering; pass one to render a whole table against the same instant.
"""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html

from triage.sla import sla_remaining

register = template.Library()

# Under this much time left the clock turns amber.
WARN_MINUTES = 30


def format_duration(delta: timedelta | None) -> str:
    """Compact, human duration: ``3d 4h``, ``2h 05m``, ``12m``, ``40s``; ``—`` for None."""
    if delta is None:
        return "—"
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


@register.filter
def duration(value) -> str:
    """``{{ some_timedelta|duration }}`` (seconds as a number are accepted too)."""
    if isinstance(value, int | float):
        value = timedelta(seconds=value)
    return format_duration(value)


@register.simple_tag
def sla_clock(alert, now=None):
    remaining = sla_remaining(alert, now or timezone.now())
    if remaining is None:
        return ""
    if remaining < timedelta(0):
        return format_html(
            '<span class="sla breach" title="SLA breached">breached {} ago</span>',
            format_duration(remaining),
        )
    state = "sla-warn" if remaining < timedelta(minutes=WARN_MINUTES) else "sla-ok"
    return format_html(
        '<span class="sla {}" title="time left before the SLA is breached">{} left</span>',
        state,
        format_duration(remaining),
    )
