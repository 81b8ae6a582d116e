"""Windows event records to ECS as Elastic Defend writes it.

Every source format (EVTX, Winlogbeat, NXLog) is first turned into a :class:`WinEvent`, the
fields any Windows event log record has, then :func:`normalise_windows` maps it by provider
and event id. The mapping table is in docs/normalisation.md; unknown events keep their data
under ``winlog.event_data`` and get only the generic fields.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rules.eql.timestamps import format_timestamp, parse_ingest_timestamp

from .cmdline import split_command_line
from .coerce import number_or_none
from .ecs import ECS_VERSION

__all__ = [
    "NormaliseError",
    "WinEvent",
    "normalise_windows",
    "user_id_for_account",
    "windows_basename",
]

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"
POWERSHELL = "Microsoft-Windows-PowerShell"

# (event.module, event.dataset) by provider, as Elastic's Windows and System integrations set them.
_DATASETS = {
    SYSMON: ("sysmon", "windows.sysmon_operational"),
    SECURITY: ("system", "system.security"),
    POWERSHELL: ("powershell", "windows.powershell_operational"),
}
_GENERIC_DATASET = ("windows", "windows.generic")

# Accounts Sysmon names without a SID; their SIDs are fixed on every Windows machine.
_WELL_KNOWN_SIDS = {
    "nt authority\\system": "S-1-5-18",
    "nt authority\\local service": "S-1-5-19",
    "nt authority\\network service": "S-1-5-20",
}
_NULL_SIDS = {"", "-", "S-1-0-0"}


class NormaliseError(ValueError):
    """The record cannot become an ECS event (for example: it has no usable time)."""


@dataclass(slots=True)
class WinEvent:
    """One Windows event log record, whatever format it came in."""

    event_id: int
    provider: str = ""
    channel: str = ""
    computer: str = ""
    time_created: datetime | None = None
    record_id: int | None = None
    provider_guid: str | None = None
    version: int | None = None
    process_id: int | None = None
    thread_id: int | None = None
    user_sid: str | None = None
    event_data: dict[str, Any] = field(default_factory=dict)
    user_data: dict[str, Any] | None = None
    message: str | None = None
    received: datetime | None = None
    # ECS fields the shipper added that are worth keeping (host details, agent, tags, labels).
    extra: dict[str, Any] = field(default_factory=dict)


def windows_basename(path: str) -> str:
    """Last component of a Windows (or POSIX) path: ``C:\\a\\b.exe`` -> ``b.exe``."""
    return re.split(r"[\\/]", path)[-1]


def _dirname(path: str) -> str:
    parts = re.split(r"([\\/])", path)
    if len(parts) < 3:
        return ""
    directory = "".join(parts[:-2])
    if not directory or re.fullmatch(r"[A-Za-z]:", directory):
        return directory + parts[-2]  # the root keeps its separator: "C:\\", "/"
    return directory


def _extension(name: str) -> str | None:
    if "." not in name.strip("."):
        return None
    ext = name.rsplit(".", 1)[1]
    return ext or None


def user_id_for_account(domain_and_name: str) -> str:
    """``user.id`` for a Sysmon ``DOMAIN\\name``: the SID of a well-known account, else the name."""
    return _WELL_KNOWN_SIDS.get(domain_and_name.lower(), domain_and_name)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _stringify(data: dict[str, Any]) -> dict[str, Any]:
    """Event data as Winlogbeat keeps it: every value a string (lists of strings stay lists)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list):
            out[key] = [_text(v) for v in value]
        elif isinstance(value, dict):
            out[key] = value
        else:
            out[key] = _text(value)
    return out


def _scalars(data: dict[str, Any]) -> dict[str, str]:
    """What the mappers read: string and number values as strings; lists, objects and
    nulls (which no mapped field should hold) are left out."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(key, str) and isinstance(value, str | int | float):
            out[key] = _text(value)
    return out


def _present(value: Any) -> bool:
    return value not in (None, "", "-")


_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?"
)


def braced_guid(value: Any, *, upper: bool = False) -> Any:
    """``{guid}`` in one spelling whatever the source wrote (braces or not, any case)."""
    if isinstance(value, str) and (m := _GUID.fullmatch(value.strip())):
        text = m.group(1)
        return "{" + (text.upper() if upper else text.lower()) + "}"
    return value


def _put(target: dict, key: str, value: Any) -> None:
    if _present(value):
        target[key] = value


def _process_block(
    *,
    executable: Any = None,
    command_line: Any = None,
    pid: Any = None,
    entity_id: Any = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {}
    if _present(pid) and (p := number_or_none(pid)) is not None:
        block["pid"] = p
    _put(block, "entity_id", braced_guid(entity_id))
    if _present(executable):
        block["executable"] = executable
        _put(block, "name", windows_basename(executable))
    if _present(command_line):
        block["command_line"] = command_line
        args = split_command_line(command_line)
        block["args"] = args
        block["args_count"] = len(args)
    return block


def _split_account(account: Any) -> dict[str, str]:
    """``DOMAIN\\name`` -> ECS user fields, with a ``user.id`` (see :func:`user_id_for_account`)."""
    if not _present(account):
        return {}
    domain, _, name = account.rpartition("\\")
    user = {"name": name}
    if domain:
        user["domain"] = domain
    user["id"] = user_id_for_account(account)
    return user


_HASH_NAMES = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384"}


def _hashes(text: Any) -> tuple[dict[str, str], str | None]:
    """Sysmon ``SHA1=..,MD5=..,IMPHASH=..`` -> ({algorithm: hex}, imphash)."""
    hashes: dict[str, str] = {}
    imphash = None
    if not isinstance(text, str):
        return hashes, imphash
    for part in text.split(","):
        algo, sep, digest = part.partition("=")
        if not sep or not digest.strip():
            continue
        algo = algo.strip().lower()
        if algo in _HASH_NAMES:
            hashes[_HASH_NAMES[algo]] = digest.strip().lower()
        elif algo == "imphash":
            imphash = digest.strip().lower()
    return hashes, imphash


def _sysmon_user(doc: dict, data: dict) -> None:
    user = _split_account(data.get("User"))
    if user:
        doc["user"] = user


def _sysmon_process_fields(data: dict) -> dict[str, Any]:
    return _process_block(
        executable=data.get("Image"),
        pid=data.get("ProcessId"),
        entity_id=data.get("ProcessGuid"),
    )


def _sysmon_time(ev: WinEvent) -> datetime | None:
    return parse_ingest_timestamp(ev.event_data.get("UtcTime")) or ev.time_created


def _pe_block(data: dict, imphash: Any) -> dict[str, Any]:
    """ECS ``pe.*`` of the image Sysmon describes (events 1 and 7 name them alike)."""
    pe: dict[str, Any] = {}
    _put(pe, "original_file_name", data.get("OriginalFileName"))
    _put(pe, "description", data.get("Description"))
    _put(pe, "product", data.get("Product"))
    _put(pe, "company", data.get("Company"))
    _put(pe, "file_version", data.get("FileVersion"))
    _put(pe, "imphash", imphash)
    return pe


def _map_sysmon_1(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["process"], type=["start"], action="start")
    process = _process_block(
        executable=data.get("Image"),
        command_line=data.get("CommandLine"),
        pid=data.get("ProcessId"),
        entity_id=data.get("ProcessGuid"),
    )
    _put(process, "working_directory", data.get("CurrentDirectory"))
    hashes, imphash = _hashes(data.get("Hashes"))
    if hashes:
        process["hash"] = hashes
    pe = _pe_block(data, imphash)
    if pe:
        process["pe"] = pe
    parent = _process_block(
        executable=data.get("ParentImage"),
        command_line=data.get("ParentCommandLine"),
        pid=data.get("ParentProcessId"),
        entity_id=data.get("ParentProcessGuid"),
    )
    if parent:
        process["parent"] = parent
    doc["process"] = process
    _sysmon_user(doc, data)


def _map_sysmon_3(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    initiated = _text(data.get("Initiated")).lower() == "true"
    doc["event"].update(
        category=["network"],
        type=["start"],
        action="connection_attempted" if initiated else "connection_accepted",
    )
    doc["process"] = _sysmon_process_fields(data)
    for prefix, ecs_name in (("Source", "source"), ("Destination", "destination")):
        endpoint: dict[str, Any] = {}
        _put(endpoint, "ip", data.get(f"{prefix}Ip"))
        port = number_or_none(data.get(f"{prefix}Port"))
        if port is not None:
            endpoint["port"] = port
        _put(endpoint, "domain", data.get(f"{prefix}Hostname"))
        if endpoint:
            doc[ecs_name] = endpoint
    network: dict[str, Any] = {"direction": "egress" if initiated else "ingress"}
    _put(network, "transport", _text(data.get("Protocol")).lower())
    is_v6 = _text(data.get("SourceIsIpv6")).lower()
    if is_v6 in ("true", "false"):
        network["type"] = "ipv6" if is_v6 == "true" else "ipv4"
    doc["network"] = network
    _sysmon_user(doc, data)


def _map_sysmon_5(ev: WinEvent, doc: dict) -> None:
    doc["event"].update(category=["process"], type=["end"], action="end")
    doc["process"] = _sysmon_process_fields(ev.event_data)
    _sysmon_user(doc, ev.event_data)


def _file_block(path: str) -> dict[str, Any]:
    name = windows_basename(path)
    block: dict[str, Any] = {"path": path}
    _put(block, "name", name)
    directory = _dirname(path)
    if directory:
        block["directory"] = directory
    ext = _extension(name)
    if ext:
        block["extension"] = ext
    return block


def _map_sysmon_11(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["file"], type=["creation"], action="creation")
    doc["process"] = _sysmon_process_fields(data)
    target = data.get("TargetFilename")
    if _present(target):
        doc["file"] = _file_block(target)
    _sysmon_user(doc, data)


_ZONE_SUFFIX = ":zone.identifier"
_ZONE_KEYS = re.compile(r"(?:^|\s)(HostUrl|ReferrerUrl|ZoneId)=(\S+)", re.IGNORECASE)


def _map_sysmon_15(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["file"], type=["creation"], action="creation")
    doc["process"] = _sysmon_process_fields(data)
    target = data.get("TargetFilename")
    if _present(target):
        is_zone = target.lower().endswith(_ZONE_SUFFIX)
        path = target[: -len(_ZONE_SUFFIX)] if is_zone else target
        file = _file_block(path)
        hashes, _ = _hashes(data.get("Hash"))
        if hashes and not is_zone:
            file["hash"] = hashes
        contents = data.get("Contents")
        if is_zone and isinstance(contents, str):
            found = {k.lower(): v for k, v in _ZONE_KEYS.findall(contents)}
            _put(file, "origin_url", found.get("hosturl"))
            _put(file, "origin_referrer_url", found.get("referrerurl"))
            zone = number_or_none(found.get("zoneid"))
            if zone is not None:
                file["Ext"] = {"windows": {"zone_identifier": zone}}
        doc["file"] = file
    _sysmon_user(doc, data)


def _map_sysmon_7(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["library"], type=["start"], action="load")
    doc["process"] = _sysmon_process_fields(data)
    loaded = data.get("ImageLoaded")
    if _present(loaded):
        dll: dict[str, Any] = {"path": loaded, "name": windows_basename(loaded)}
        hashes, imphash = _hashes(data.get("Hashes"))
        if hashes:
            dll["hash"] = hashes
        pe = _pe_block(data, imphash)
        if pe:
            dll["pe"] = pe
        signed = data.get("Signed", "").lower()
        if signed in ("true", "false"):
            signature: dict[str, Any] = {"exists": signed == "true"}
            _put(signature, "subject_name", data.get("Signature"))
            _put(signature, "status", data.get("SignatureStatus"))
            if data.get("SignatureStatus", "").lower() == "valid":
                signature["trusted"] = True
            dll["code_signature"] = signature
        doc["dll"] = dll
    _sysmon_user(doc, data)


# Sysmon registry EventType -> (event.type, event.action as Defend names them).
_REGISTRY_TYPES = {
    "createkey": ("creation", "creation"),
    "createvalue": ("creation", "creation"),
    "deletekey": ("deletion", "deletion"),
    "deletevalue": ("deletion", "deletion"),
    "setvalue": ("change", "modification"),
    "renamekey": ("change", "rename"),
}
_KEY_EVENTS = ("createkey", "deletekey", "renamekey")


def _map_sysmon_registry(ev: WinEvent, doc: dict) -> None:
    """Sysmon 12 (key/value create or delete), 13 (value set), 14 (key rename)."""
    data = ev.event_data
    kind = data.get("EventType", "").lower()
    if kind not in _REGISTRY_TYPES:
        kind = {13: "setvalue", 14: "renamekey"}.get(ev.event_id, kind)
    event_type, action = _REGISTRY_TYPES.get(kind, ("change", "modification"))
    doc["event"].update(category=["registry"], type=[event_type], action=action)
    doc["process"] = _sysmon_process_fields(data)
    target = data.get("TargetObject")
    if _present(target):
        registry: dict[str, Any] = {"path": target}
        hive, _, rest = target.partition("\\")
        if rest:
            registry["hive"] = hive
            if kind in _KEY_EVENTS:
                registry["key"] = rest
            else:
                key, _, value = rest.rpartition("\\")
                _put(registry, "key", key)
                _put(registry, "value", value)
        details = data.get("Details")
        if _present(details):
            registry["data"] = {"strings": [details]}
            if details.startswith(("DWORD (", "QWORD (")):
                registry["data"]["type"] = "REG_" + details[:5]
        doc["registry"] = registry
    _sysmon_user(doc, data)


def _resolved_ips(results: str) -> list[str]:
    """IP addresses in Sysmon's ``QueryResults`` (``type: 5 cname;::ffff:1.2.3.4;``)."""
    ips = []
    for item in results.split(";"):
        text = item.strip().removeprefix("::ffff:")
        try:
            ips.append(str(ipaddress.ip_address(text)))
        except ValueError:
            continue
    return ips


def _map_sysmon_22(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["network"], type=["protocol", "info"], action="lookup_result")
    doc["process"] = _sysmon_process_fields(data)
    dns: dict[str, Any] = {}
    name = data.get("QueryName")
    if _present(name):
        dns["question"] = {"name": name}
    ips = _resolved_ips(data.get("QueryResults", ""))
    if ips:
        dns["resolved_ip"] = ips
    status = data.get("QueryStatus")
    if _present(status):
        dns["response_code"] = "NOERROR" if status == "0" else status
    if dns:
        doc["dns"] = dns
    doc["network"] = {"protocol": "dns"}
    _sysmon_user(doc, data)


def _map_security_4688(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["process"], type=["start"], action="start")
    process = _process_block(
        executable=data.get("NewProcessName"),
        command_line=data.get("CommandLine"),
        pid=data.get("NewProcessId"),
    )
    parent = _process_block(executable=data.get("ParentProcessName"), pid=data.get("ProcessId"))
    if parent:
        process["parent"] = parent
    doc["process"] = process
    # The new process runs as the target account when one is given, else as the subject.
    prefix = "Target" if data.get("TargetUserSid") not in _NULL_SIDS else "Subject"
    user: dict[str, Any] = {}
    _put(user, "id", data.get(f"{prefix}UserSid"))
    _put(user, "name", data.get(f"{prefix}UserName"))
    _put(user, "domain", data.get(f"{prefix}DomainName"))
    if user:
        doc["user"] = user


def _map_powershell_4104(ev: WinEvent, doc: dict) -> None:
    data = ev.event_data
    doc["event"].update(category=["process"], type=["info"], action="Execute a Remote Command")
    ps_file: dict[str, Any] = {}
    _put(ps_file, "script_block_text", data.get("ScriptBlockText"))
    _put(ps_file, "script_block_id", data.get("ScriptBlockId"))
    powershell: dict[str, Any] = {"file": ps_file}
    for key, name in (("MessageNumber", "sequence"), ("MessageTotal", "total")):
        number = number_or_none(data.get(key))
        if number is not None:
            powershell[name] = number
    doc["powershell"] = powershell
    path = data.get("Path")
    if _present(path):
        doc["file"] = _file_block(path)
    if ev.process_id is not None:
        doc["process"] = {"pid": ev.process_id}
    if _present(ev.user_sid):
        doc["user"] = {"id": ev.user_sid}


_Mapper = Callable[[WinEvent, dict], None]
_MAPPERS: dict[tuple[str, int], _Mapper] = {
    (SYSMON, 1): _map_sysmon_1,
    (SYSMON, 3): _map_sysmon_3,
    (SYSMON, 5): _map_sysmon_5,
    (SYSMON, 7): _map_sysmon_7,
    (SYSMON, 11): _map_sysmon_11,
    (SYSMON, 12): _map_sysmon_registry,
    (SYSMON, 13): _map_sysmon_registry,
    (SYSMON, 14): _map_sysmon_registry,
    (SYSMON, 15): _map_sysmon_15,
    (SYSMON, 22): _map_sysmon_22,
    (SECURITY, 4688): _map_security_4688,
    (POWERSHELL, 4104): _map_powershell_4104,
}


def _winlog(ev: WinEvent) -> dict[str, Any]:
    winlog: dict[str, Any] = {"event_id": str(ev.event_id)}
    _put(winlog, "channel", ev.channel)
    _put(winlog, "computer_name", ev.computer)
    _put(winlog, "provider_name", ev.provider)
    _put(winlog, "provider_guid", braced_guid(ev.provider_guid, upper=True))
    if ev.record_id is not None:
        winlog["record_id"] = str(ev.record_id)
    if ev.version is not None:
        winlog["version"] = ev.version
    process: dict[str, Any] = {}
    if ev.process_id is not None:
        process["pid"] = ev.process_id
    if ev.thread_id is not None:
        process["thread"] = {"id": ev.thread_id}
    if process:
        winlog["process"] = process
    if _present(ev.user_sid):
        winlog["user"] = {"identifier": ev.user_sid}
    if ev.event_data:
        winlog["event_data"] = _stringify(ev.event_data)
    if ev.user_data:
        winlog["user_data"] = ev.user_data
    return winlog


def _merge_under(base: dict, extra: dict) -> None:
    """Add ``extra``'s fields to ``base`` where ``base`` has none (ours win)."""
    for key, value in extra.items():
        if key not in base:
            base[key] = value
        elif isinstance(base[key], dict) and isinstance(value, dict):
            _merge_under(base[key], value)


def normalise_windows(ev: WinEvent) -> dict[str, Any]:
    """ECS document for one Windows event record (no ``event.id``: the caller assigns it).

    Raises :class:`NormaliseError` when the record has no usable timestamp.
    """
    raw = ev
    ev = replace(ev, event_data=_scalars(ev.event_data))
    mapper = _MAPPERS.get((ev.provider, ev.event_id))
    when = _sysmon_time(ev) if ev.provider == SYSMON else ev.time_created
    if when is None:
        raise NormaliseError("record has no usable time (TimeCreated/EventTime/UtcTime)")
    module, dataset = _DATASETS.get(ev.provider, _GENERIC_DATASET)
    event: dict[str, Any] = {"kind": "event", "code": str(ev.event_id), "module": module}
    event["dataset"] = dataset
    _put(event, "provider", ev.provider)
    if ev.received is not None:
        event["created"] = format_timestamp(ev.received)
    doc: dict[str, Any] = {"@timestamp": format_timestamp(when), "event": event}
    host: dict[str, Any] = {"os": {"type": "windows", "family": "windows"}}
    shipper_host = ev.extra.get("host")
    known_id = shipper_host.get("id") if isinstance(shipper_host, dict) else None
    if _present(ev.computer):
        host["name"] = ev.computer
        # ECS allows any meaningful unique value; the computer name is what the record has.
        host["id"] = known_id if isinstance(known_id, str) and known_id else ev.computer.lower()
    doc["host"] = host
    if mapper is not None:
        mapper(ev, doc)
    if _present(ev.message):
        doc["message"] = ev.message
    doc["winlog"] = _winlog(raw)
    doc["ecs"] = {"version": ECS_VERSION}
    if ev.extra:
        _merge_under(doc, ev.extra)
    return doc
