"""NXLog ``im_msvistalog`` records written with ``to_json()``: flat keys, event data on top."""

from __future__ import annotations

from typing import Any

from rules.eql.timestamps import parse_ingest_timestamp

from .coerce import int_or_none, str_or_empty
from .normalise import WinEvent

__all__ = ["NXLOG_SYSTEM_KEYS", "looks_like_nxlog", "nxlog_to_win_event"]

# Keys NXLog adds itself; every other key is event data (EventData/UserData fields).
NXLOG_SYSTEM_KEYS = frozenset(
    {
        "EventTime",
        "EventReceivedTime",
        "Hostname",
        "Keywords",
        "EventType",
        "SeverityValue",
        "Severity",
        "EventID",
        "SourceName",
        "ProviderGuid",
        "Version",
        "Task",
        "OpcodeValue",
        "RecordNumber",
        "ActivityID",
        "RelatedActivityID",
        "ProcessID",
        "ThreadID",
        "Channel",
        "Domain",
        "AccountName",
        "UserID",
        "AccountType",
        "Category",
        "Opcode",
        "Message",
        "SourceModuleName",
        "SourceModuleType",
        "MessageSourceAddress",
        "ERROR_EVT_UNRESOLVED",
    }
)


# NXLog's own EventType values; any other value is the event's data (Sysmon 12-14 have one).
_NXLOG_EVENT_TYPES = frozenset(
    {"INFO", "WARNING", "ERROR", "CRITICAL", "VERBOSE", "AUDIT_SUCCESS", "AUDIT_FAILURE"}
)


def looks_like_nxlog(obj: dict) -> bool:
    return "EventID" in obj and any(k in obj for k in ("SourceName", "Channel", "ProviderGuid"))


def _is_event_data(key: str, value: Any) -> bool:
    if key == "EventType":
        return value not in _NXLOG_EVENT_TYPES
    return key not in NXLOG_SYSTEM_KEYS


def nxlog_to_win_event(obj: dict) -> WinEvent:
    """The :class:`WinEvent` in an NXLog record. Raises ValueError without an event id.

    ``EventTime`` without a UTC offset is taken as UTC (configure NXLog to write UTC).
    """
    event_id = int_or_none(obj.get("EventID"))
    if event_id is None:
        raise ValueError("EventID: expected an integer")
    return WinEvent(
        event_id=event_id,
        provider=str_or_empty(obj.get("SourceName")),
        channel=str_or_empty(obj.get("Channel")),
        computer=str_or_empty(obj.get("Hostname")),
        time_created=parse_ingest_timestamp(obj.get("EventTime")),
        record_id=int_or_none(obj.get("RecordNumber")),
        provider_guid=obj.get("ProviderGuid") or None,
        version=int_or_none(obj.get("Version")),
        process_id=int_or_none(obj.get("ProcessID")),
        thread_id=int_or_none(obj.get("ThreadID")),
        user_sid=obj.get("UserID") or None,
        event_data={k: v for k, v in obj.items() if _is_event_data(k, v)},
        message=obj.get("Message") if isinstance(obj.get("Message"), str) else None,
        received=parse_ingest_timestamp(obj.get("EventReceivedTime")),
    )
