"""Winlogbeat records (``winlog.*``) as JSON objects."""

from __future__ import annotations

from typing import Any

from rules.eql.timestamps import parse_ingest_timestamp

from .coerce import int_or_none, str_or_empty
from .fields import MISSING, get_field
from .normalise import WinEvent

__all__ = ["looks_like_winlogbeat", "winlogbeat_to_win_event"]


def looks_like_winlogbeat(obj: dict) -> bool:
    """A raw Winlogbeat record: ``winlog.event_id`` plus provider or channel, not yet ECS-mapped."""
    if get_field(obj, "event.category") is not MISSING:
        return False
    if get_field(obj, "winlog.event_id") is MISSING:
        return False
    return (
        get_field(obj, "winlog.provider_name") is not MISSING
        or get_field(obj, "winlog.channel") is not MISSING
    )


def _same_host(computer: str, host: dict) -> bool:
    short = computer.split(".")[0].lower()
    for key in ("name", "hostname"):
        value = host.get(key)
        if isinstance(value, str) and value and value.split(".")[0].lower() == short:
            return True
    return False


def winlogbeat_to_win_event(obj: dict) -> WinEvent:
    """The :class:`WinEvent` in a Winlogbeat record. Raises ValueError without an event id."""
    event_id = int_or_none(get_field(obj, "winlog.event_id", None))
    if event_id is None:
        event_id = int_or_none(get_field(obj, "event.code", None))
    if event_id is None:
        raise ValueError("winlog.event_id: expected an integer")
    computer = str_or_empty(get_field(obj, "winlog.computer_name", None))
    data = get_field(obj, "winlog.event_data", None)
    user_data = get_field(obj, "winlog.user_data", None)
    extra: dict[str, Any] = {}
    for key in ("agent", "tags", "labels"):
        value = get_field(obj, key, None)
        if value is not None:
            extra[key] = value
    host = get_field(obj, "host", None)
    if isinstance(host, dict) and (not computer or _same_host(computer, host)):
        extra["host"] = host  # the shipper runs on the machine that logged the event
    existing_id = get_field(obj, "event.id", None)
    if isinstance(existing_id, str) and existing_id:
        extra["event"] = {"id": existing_id}
    message = get_field(obj, "message", None)
    return WinEvent(
        event_id=event_id,
        provider=str_or_empty(get_field(obj, "winlog.provider_name", None)),
        channel=str_or_empty(get_field(obj, "winlog.channel", None)),
        computer=computer,
        time_created=parse_ingest_timestamp(get_field(obj, "@timestamp", None)),
        record_id=int_or_none(get_field(obj, "winlog.record_id", None)),
        provider_guid=get_field(obj, "winlog.provider_guid", None) or None,
        version=int_or_none(get_field(obj, "winlog.version", None)),
        process_id=int_or_none(get_field(obj, "winlog.process.pid", None)),
        thread_id=int_or_none(get_field(obj, "winlog.process.thread.id", None)),
        user_sid=get_field(obj, "winlog.user.identifier", None) or None,
        event_data=data if isinstance(data, dict) else {},
        user_data=user_data if isinstance(user_data, dict) else None,
        message=message if isinstance(message, str) else None,
        received=parse_ingest_timestamp(get_field(obj, "event.created", None)),
        extra=extra,
    )
